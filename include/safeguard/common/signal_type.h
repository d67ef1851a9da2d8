// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// SignalType: the kinds of hash Safeguard matches on, shared by the hash
// list formats (exchange) and the banks (bank), so a value read from a list
// goes into a bank without a conversion. Pure functions; thread-safe.

#ifndef SAFEGUARD_COMMON_SIGNAL_TYPE_H_
#define SAFEGUARD_COMMON_SIGNAL_TYPE_H_

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace safeguard {

/// The kind of hash a signal holds. New kinds (vpdq, tmk, url) are added as
/// new enumerators with a new name; the database and the list formats store
/// the name, so the numeric values are not persisted and may be reordered.
enum class SignalType : uint8_t {
  kPdq,     ///< "pdq": 256-bit PDQ perceptual hash, 32 bytes, 64 hex digits.
  kMd5,     ///< "md5": MD5 of the file bytes, 16 bytes, 32 hex digits.
  kSha256,  ///< "sha256": SHA-256 of the file bytes, 32 bytes, 64 hex digits.
};

/// Returns the stable lowercase name of `type`: "pdq", "md5" or "sha256".
std::string_view SignalTypeName(SignalType type);

/// Returns the size in bytes of a value of `type`: 32, 16 or 32.
size_t SignalValueSize(SignalType type);

}  // namespace safeguard

#endif  // SAFEGUARD_COMMON_SIGNAL_TYPE_H_
