// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// Entry: one line of a hash list, as the exchange formats read and write it
// (docs/formats.md). A plain value type with no dependency on the bank store:
// the reader produces entries, the store decides what to do with them.
//
// The value is kept as raw bytes in a fixed array rather than as hex text: a
// list of 10M PDQ hashes then needs no allocation per entry (a 64-character
// std::string would), entries compare and hash as fixed-size bytes, and the
// bytes go straight to the indexes (DigestIndex takes bytes, the Hamming
// indexes take pdq::Hash256 via PdqHash()). The canonical text form, lowercase
// hex, is recomputed by ValueHex() when writing.
//
// Thread-compatible: const methods may be called concurrently.

#ifndef SAFEGUARD_EXCHANGE_ENTRY_H_
#define SAFEGUARD_EXCHANGE_ENTRY_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "safeguard/common/signal_type.h"
#include "safeguard/hash/pdq.h"

namespace safeguard::exchange {

/// What kind of hash an entry holds (safeguard/common/signal_type.h); its
/// names ("pdq", "md5", "sha256") are the `type` field of every format.
using safeguard::SignalType;
using safeguard::SignalTypeName;
using safeguard::SignalValueSize;

/// Parses a type name, ignoring ASCII case ("PDQ" is kPdq). Accepts only the
/// list types pdq, md5 and sha256: the video types (vpdq, tmk) carry content
/// that no list line can hold. Returns false, leaving *type unchanged, for
/// anything else (no trimming is done).
bool ParseSignalType(std::string_view name, SignalType* type);

/// One hash of a list with the fields every format can carry.
struct Entry {
  /// The kind of hash; decides how many bytes of `value` are used.
  SignalType type = SignalType::kPdq;
  /// The hash: bytes [0, SignalValueSize(type)) in text order (byte i is
  /// hex digits 2i and 2i+1); the remaining bytes are zero, so that
  /// operator== compares values correctly.
  std::array<uint8_t, 32> value{};
  /// PDQ quality 0..100 when the list gave one, otherwise -1. Only PDQ
  /// entries have a quality.
  int quality = -1;
  /// The list owner's identifier for this entry (UTF-8, may be empty).
  std::string external_id;
  /// A JSON object as compact text (nlohmann::json::dump()), or empty when
  /// the entry has no metadata.
  std::string metadata_json;

  /// Returns the used bytes of `value` (a view into this entry).
  std::span<const uint8_t> bytes() const { return {value.data(), SignalValueSize(type)}; }
  /// Returns the value as lowercase hex (64 or 32 digits).
  std::string ValueHex() const;
  /// Returns the value as a PDQ hash (same bits as pdq::Hash256::FromHex on
  /// ValueHex()). Meaningful only when type is kPdq.
  pdq::Hash256 PdqHash() const;
  /// Returns a PDQ entry holding `hash`, with no quality, id or metadata.
  static Entry FromPdq(const pdq::Hash256& hash);

  friend bool operator==(const Entry& a, const Entry& b) = default;
};

}  // namespace safeguard::exchange

#endif  // SAFEGUARD_EXCHANGE_ENTRY_H_
