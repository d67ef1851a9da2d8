// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// The bank model: a bank is a named list of signals (hashes of known abuse
// imagery, or of known-good images for an allow-list) with a category, a PDQ
// match distance, an enabled flag and a source. A signal is one hash value in
// one bank, with its provenance (external id, source list and version,
// metadata) and its life: added, then possibly withdrawn. Withdrawn signals
// keep their row for the record but no longer match.
//
// This header holds the plain value types and their validation; the Store
// (safeguard/bank/store.h) persists them. Everything here is a value type or
// a pure function: thread-compatible, no locking.
//
// Signal values are raw bytes: 32 for PDQ, 16 for MD5, 32 for SHA-256. The
// bytes of a PDQ value are its 64-digit hex form decoded in text order (byte 0
// is the first two hex digits, i.e. the high byte of word 15; see
// safeguard/hash/pdq.h), so ParseSignalValue and SignalValueHex round-trip the
// text every hash list uses.
//
// Video signals (vpdq, tmk) also carry content: the video hash itself, opaque
// to the bank and up to kMaxSignalContentBytes. Their value is the SHA-256 of
// the content (MakeContentSignal computes it), so the same content added twice
// to a bank is a duplicate and a withdrawal by value names the digest.

#ifndef SAFEGUARD_BANK_BANK_H_
#define SAFEGUARD_BANK_BANK_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "safeguard/common/signal_type.h"
#include "safeguard/common/status.h"

namespace safeguard::bank {

/// What a bank's signals stand for; the policy block maps each category to
/// an action. The names returned by CategoryName are stored in the database
/// and never change meaning.
enum class Category : uint8_t {
  kCsam,       ///< "csam": child sexual abuse material.
  kNcii,       ///< "ncii": non-consensual intimate imagery.
  kTerrorism,  ///< "terrorism": terrorist or violent extremist content.
  kOther,      ///< "other": any other list a platform keeps.
  kAllow,      ///< "allow": an allow-list; a match here suppresses other matches.
};

/// Returns the stable lowercase name of `category`, e.g. "ncii".
std::string_view CategoryName(Category category);
/// Parses a category name (exactly as CategoryName spells it) into *out.
/// Returns kInvalidArgument, naming the accepted values, for anything else.
Status ParseCategory(std::string_view name, Category* out);

/// The kind of hash a signal holds (safeguard/common/signal_type.h).
using safeguard::kAllSignalTypes;
using safeguard::SignalHasContent;
using safeguard::SignalType;
using safeguard::SignalTypeName;
using safeguard::SignalValueSize;

/// Parses a signal type name into *out. Returns kInvalidArgument, naming the
/// supported types, for anything else (including a type a newer Safeguard
/// wrote into the database).
Status ParseSignalType(std::string_view name, SignalType* out);

/// Parses a hex value (either case, no separators) of `type` into raw bytes
/// in *value. Returns kInvalidArgument, leaving *value unspecified, when the
/// text is not exactly 2 * SignalValueSize(type) hex digits.
Status ParseSignalValue(SignalType type, std::string_view hex, std::vector<uint8_t>* value);
/// Returns `value` as lowercase hex, two digits per byte.
std::string SignalValueHex(std::span<const uint8_t> value);

/// Limits on what a bank and its signals hold. Exceeding one is
/// kInvalidArgument (kTooLarge for metadata and checkpoint values).
inline constexpr size_t kMaxBankNameBytes = 64;
inline constexpr size_t kMaxSourceBytes = 64;
inline constexpr int kDefaultPdqDistance = 31;
inline constexpr int kMaxPdqDistance = 63;
inline constexpr size_t kMaxExternalIdBytes = 256;
inline constexpr size_t kMaxSourceListBytes = 256;
inline constexpr size_t kMaxSourceVersionBytes = 256;
inline constexpr size_t kMaxMetadataBytes = 64 * 1024;
inline constexpr size_t kMaxCheckpointKeyBytes = 128;
inline constexpr size_t kMaxCheckpointValueBytes = 1024 * 1024;
/// The largest content of one video signal (a vPDQ frame list is up to about
/// 1 MiB, a .tmk file 263,344 bytes). Exceeding it is kInvalidArgument.
inline constexpr size_t kMaxSignalContentBytes = 4 * 1024 * 1024;

/// What a caller asks for when creating a bank.
struct BankSpec {
  /// Unique among banks that are not deleted: 1..64 of [A-Za-z0-9_.-], not "." or "..".
  std::string name;
  Category category = Category::kOther;
  /// Largest PDQ Hamming distance that counts as a match for this bank, 0..63.
  int pdq_distance = kDefaultPdqDistance;
  /// A disabled bank keeps its signals but its matches are ignored.
  bool enabled = true;
  /// Where the signals come from: 1..64 of [A-Za-z0-9_.-], e.g. "file", "stopncii", "ncmec".
  std::string source = "file";
};

/// A bank as stored.
struct Bank {
  /// Store-assigned, never reused; what signals and changes refer to.
  int64_t id = 0;
  std::string name;
  Category category = Category::kOther;
  int pdq_distance = kDefaultPdqDistance;
  bool enabled = true;
  std::string source;
  /// Unix time in milliseconds (UTC) of creation and of the last change.
  int64_t created_at_ms = 0;
  int64_t updated_at_ms = 0;
  /// Signals of the bank that are live, and ever added (live + withdrawn).
  uint64_t live_signals = 0;
  uint64_t total_signals = 0;
};

/// A change to a bank's settings; fields left empty are kept. The name,
/// category and source of a bank never change (make a new bank instead).
struct BankUpdate {
  std::optional<int> pdq_distance;
  std::optional<bool> enabled;
};

/// A signal to add to a bank.
struct NewSignal {
  SignalType type = SignalType::kPdq;
  /// Raw bytes, exactly SignalValueSize(type) of them (see ParseSignalValue).
  /// For a type with content, the SHA-256 of `content`.
  std::vector<uint8_t> value;
  /// For a type with content (SignalHasContent: vpdq, tmk), the content:
  /// 1..kMaxSignalContentBytes bytes, stored as given. Empty for every other
  /// type. MakeContentSignal fills it together with `value`.
  std::vector<uint8_t> content;
  /// The list owner's id for this entry (NCMEC, StopNCII, ...), used to
  /// withdraw it later; may be empty. At most 256 bytes of UTF-8.
  std::string external_id;
  /// The list it came from and that list's version. At most 256 bytes each.
  std::string source_list;
  std::string source_version;
  /// A JSON document with third-party metadata, or empty. At most 64 KiB.
  std::string metadata_json;
};

/// A signal as stored.
struct Signal {
  /// Store-assigned and never reused (re-adding a withdrawn value makes a
  /// new id); larger than the ids of every earlier write. The id the
  /// in-memory indexes use.
  uint64_t id = 0;
  int64_t bank_id = 0;
  /// The bank's name (filled in by Store::GetSignals and Store::GetSignal).
  std::string bank_name;
  SignalType type = SignalType::kPdq;
  std::vector<uint8_t> value;
  /// The size of the signal's content in bytes (0 for types without content).
  uint64_t content_bytes = 0;
  /// The content itself, filled only by Store::GetSignal (one signal).
  /// Store::GetSignals, which lists signals by the thousand (exports, match
  /// reports), leaves it empty: a TMK signal's content is 263 KB, and none of
  /// those callers reads it. Use content_bytes to tell whether there is any.
  std::vector<uint8_t> content;
  std::string external_id;
  std::string source_list;
  std::string source_version;
  std::string metadata_json;
  /// Unix time in milliseconds (UTC) it was added, and was withdrawn (0 while live).
  int64_t added_at_ms = 0;
  int64_t withdrawn_at_ms = 0;

  /// Returns true while the signal has not been withdrawn.
  bool live() const { return withdrawn_at_ms == 0; }
};

/// Returns kInvalidArgument, with a message naming the field and the rule,
/// if `name` is not a valid bank name.
Status ValidateBankName(std::string_view name);
/// Returns kInvalidArgument unless 0 <= distance <= kMaxPdqDistance.
Status ValidatePdqDistance(int distance);
/// Returns kInvalidArgument if any field of `spec` breaks the rules above.
Status ValidateBankSpec(const BankSpec& spec);
/// Returns kInvalidArgument (kTooLarge for oversized metadata) if `signal`
/// breaks the rules above: value size; for vpdq and tmk, 1 to
/// kMaxSignalContentBytes bytes of content whose SHA-256 is the value, and
/// for the other types no content; text fields valid UTF-8 without NUL and
/// within their limits; metadata empty or one JSON value. Returns kInternal in the
/// unlikely case that OpenSSL cannot compute a SHA-256.
Status ValidateNewSignal(const NewSignal& signal);
/// Makes *out a signal of `type` holding `content`: sets out->type,
/// out->content and out->value (the SHA-256 of the content), leaving its
/// other fields as they were. Returns kInvalidArgument, leaving *out
/// unchanged, if `type` has no content (pdq, md5, sha256) or the content is
/// empty or larger than kMaxSignalContentBytes (kInternal if OpenSSL cannot
/// compute the SHA-256).
Status MakeContentSignal(SignalType type, std::vector<uint8_t> content, NewSignal* out);
/// Returns kInvalidArgument (kTooLarge for an oversized value) unless the
/// checkpoint key is 1..128 bytes and both are valid UTF-8 without NUL.
Status ValidateCheckpoint(std::string_view key, std::string_view value);

}  // namespace safeguard::bank

#endif  // SAFEGUARD_BANK_BANK_H_
