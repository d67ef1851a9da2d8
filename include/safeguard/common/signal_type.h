// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// SignalType: the kinds of hash Safeguard matches on, shared by the hash
// list formats (exchange) and the banks (bank), so a value read from a list
// goes into a bank without a conversion. Pure functions; thread-safe.
//
// Every signal has a fixed-size value (SignalValueSize). The video types also
// carry content (SignalHasContent): a variable-size hash, up to megabytes,
// too large for a database index. Their value is the SHA-256 of that content,
// so code that keys, deduplicates or withdraws by value treats them like any
// other type. The hash list formats hold values only, so they accept only the
// types without content.

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
  /// "vpdq": Meta's video PDQ (safeguard/video/vpdq.h). The content is the
  /// video's frame hashes; the value is the SHA-256 of the content, 32 bytes.
  kVpdq,
  /// "tmk": TMK+PDQF video features (safeguard/video/tmk.h). The content is
  /// the .tmk file; the value is the SHA-256 of the content, 32 bytes.
  kTmk,
};

/// Every signal type, in declaration order, for code that must handle each
/// one (parsing a stored name, ordering by name).
inline constexpr SignalType kAllSignalTypes[] = {SignalType::kPdq, SignalType::kMd5, SignalType::kSha256,
                                                 SignalType::kVpdq, SignalType::kTmk};

/// Returns the stable lowercase name of `type`: "pdq", "md5", "sha256",
/// "vpdq" or "tmk".
std::string_view SignalTypeName(SignalType type);

/// Returns the size in bytes of a value of `type`: 16 for md5, 32 for every
/// other type (for vpdq and tmk, the SHA-256 of the content).
size_t SignalValueSize(SignalType type);

/// Returns true for the types whose signals carry content besides their
/// value (vpdq and tmk), false for the others (pdq, md5, sha256).
bool SignalHasContent(SignalType type);

}  // namespace safeguard

#endif  // SAFEGUARD_COMMON_SIGNAL_TYPE_H_
