// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// The rules of a valid chain (docs/audit.md, "Verifying"), applied to one
// record at a time so that Verify streams the table in constant memory.
// Internal to the audit block.

#ifndef SAFEGUARD_SRC_AUDIT_CHAIN_CHECKER_H_
#define SAFEGUARD_SRC_AUDIT_CHAIN_CHECKER_H_

#include <cstdint>
#include <string>

#include "safeguard/audit/audit_log.h"

namespace safeguard::audit::internal {

/// Checks records fed in ascending seq order and remembers the first
/// problem. Not thread-safe; one checker per verification.
class ChainChecker {
 public:
  /// `expect`, if not null, is a head saved earlier that the log must still
  /// hold; it is copied.
  explicit ChainChecker(const ExpectedHead* expect);

  /// Feeds the next stored row. `seq` is the raw stored number (it may be out
  /// of range in a damaged table); `r.seq` is ignored. `well_typed` says
  /// whether every column had its declared type.
  void Add(int64_t seq, const Record& r, bool well_typed);

  /// Stores the outcome in *result (all fields are set).
  void Finish(VerifyResult* result);

 private:
  void Fail(uint64_t seq, std::string problem);
  // Returns the reason `r` could not have been written by Append, or "".
  static std::string Damage(const Record& r, bool well_typed);

  bool has_expect_ = false;
  ExpectedHead expect_;
  uint64_t records_ = 0;
  uint64_t next_seq_ = 1;  // the seq the next record must have
  std::string prev_hash_;  // the hash the next record must link to
  int64_t prev_time_ms_ = INT64_MIN;
  uint64_t head_seq_ = 0;
  std::string head_hash_;
  uint64_t first_bad_seq_ = 0;
  std::string problem_;
};

}  // namespace safeguard::audit::internal

#endif  // SAFEGUARD_SRC_AUDIT_CHAIN_CHECKER_H_
