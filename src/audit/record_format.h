// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// Audit record format v1 (docs/audit.md): what a valid event is, the
// canonical form of its details, and the record hash that links the chain.
// Internal to the audit block.

#ifndef SAFEGUARD_SRC_AUDIT_RECORD_FORMAT_H_
#define SAFEGUARD_SRC_AUDIT_RECORD_FORMAT_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "safeguard/audit/audit_log.h"
#include "safeguard/common/status.h"

namespace safeguard::audit::internal {

/// The prev_hash of the first record: 64 zeros.
inline const std::string& ZeroHash() {
  static const std::string zeros(64, '0');
  return zeros;
}

/// Returns true if `s` is 64 lowercase hex digits.
bool IsHashHex(std::string_view s);

/// Stores in *canonical the canonical form of `json` (keys sorted by their
/// UTF-8 bytes, no whitespace, strings escaped minimally). Returns
/// kInvalidArgument if `json` is not a JSON object, holds a fractional or
/// out-of-range number or nests deeper than 32 levels; kTooLarge if it or its
/// canonical form is longer than kMaxDetailsBytes.
Status CanonicalDetails(std::string_view json, std::string* canonical);

/// Checks `e`'s actor, action and subject (UTF-8 without NUL, actor and
/// action not empty, at most kMaxFieldBytes each); does not look at details.
Status ValidateEventText(const Event& e);

/// Returns the v1 record hash (64 lowercase hex digits) of a record with
/// these fields; `e.details_json` must already be canonical.
std::string RecordHash(uint64_t seq, int64_t time_ms, const Event& e, std::string_view prev_hash);

}  // namespace safeguard::audit::internal

#endif  // SAFEGUARD_SRC_AUDIT_RECORD_FORMAT_H_
