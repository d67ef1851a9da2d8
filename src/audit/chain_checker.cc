// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.

#include "audit/chain_checker.h"

#include <utility>

#include "audit/record_format.h"

namespace safeguard::audit::internal {

ChainChecker::ChainChecker(const ExpectedHead* expect) : prev_hash_(ZeroHash()), head_hash_(ZeroHash()) {
  if (expect != nullptr) {
    has_expect_ = true;
    expect_ = *expect;
  }
}

void ChainChecker::Fail(uint64_t seq, std::string problem) {
  if (first_bad_seq_ != 0) return;
  first_bad_seq_ = seq;
  problem_ = std::move(problem);
}

std::string ChainChecker::Damage(const Record& r, bool well_typed) {
  if (!well_typed) return "a column holds a value of the wrong type";
  if (!IsHashHex(r.hash)) return "its hash is not 64 lowercase hex digits";
  if (!IsHashHex(r.prev_hash)) return "its prev_hash is not 64 lowercase hex digits";
  Status s = ValidateEventText(r.event);
  if (!s.ok()) return s.message();
  std::string canonical;
  s = CanonicalDetails(r.event.details_json, &canonical);
  if (!s.ok()) return s.message();
  if (canonical != r.event.details_json) return "its details are not in canonical form";
  return "";
}

void ChainChecker::Add(int64_t seq, const Record& r, bool well_typed) {
  ++records_;
  if (seq >= 1) {
    head_seq_ = static_cast<uint64_t>(seq);
    head_hash_ = r.hash;
  }
  if (first_bad_seq_ != 0) return;  // only the first problem is reported; keep counting
  const std::string n = std::to_string(seq);
  if (seq < 1) {
    Fail(1, "a record numbered " + n + " precedes record 1 (numbers start at 1): it was inserted");
    return;
  }
  const auto useq = static_cast<uint64_t>(seq);
  if (useq != next_seq_) {
    // Rows come in ascending order, so a different number is a gap.
    const std::string missing = std::to_string(next_seq_);
    Fail(next_seq_, next_seq_ == 1
                        ? "record 1 is missing: the log starts at record " + n
                        : "record " + missing + " is missing: the record after " +
                              std::to_string(next_seq_ - 1) + " is " + n + " (records were removed)");
    return;
  }
  const std::string damage = Damage(r, well_typed);
  if (!damage.empty()) {
    Fail(useq, "record " + n + " is damaged: " + damage);
    return;
  }
  if (r.prev_hash != prev_hash_) {
    Fail(useq, useq == 1 ? "record 1's prev_hash is not 64 zeros: records before it were removed, or it was "
                           "replaced"
                         : "record " + n + "'s prev_hash is not record " + std::to_string(useq - 1) +
                               "'s hash: record " + std::to_string(useq - 1) +
                               " was rewritten (its hash recomputed), or a record was inserted or replaced");
    return;
  }
  if (internal::RecordHash(useq, r.time_ms, r.event, r.prev_hash) != r.hash) {
    Fail(useq, "record " + n + " was changed: its stored hash does not match its contents");
    return;
  }
  if (r.time_ms < prev_time_ms_) {
    Fail(useq, "record " + n + "'s time is earlier than record " + std::to_string(useq - 1) +
                   "'s (records were reordered or rewritten)");
    return;
  }
  if (has_expect_ && useq == expect_.seq && r.hash != expect_.hash) {
    Fail(useq, "record " + n + "'s hash is " + r.hash + ", not the expected head's " + expect_.hash +
                   ": the log was rewritten at or before record " + n);
    return;
  }
  next_seq_ = useq + 1;
  prev_hash_ = r.hash;
  prev_time_ms_ = r.time_ms;
}

void ChainChecker::Finish(VerifyResult* result) {
  if (has_expect_ && first_bad_seq_ == 0 && expect_.seq >= next_seq_) {
    const std::string last = std::to_string(next_seq_ - 1);
    Fail(next_seq_, (next_seq_ == 1 ? std::string("the log is empty") : "the log ends at record " + last) +
                        " but the expected head is record " + std::to_string(expect_.seq) + ": records " +
                        std::to_string(next_seq_) + " to " + std::to_string(expect_.seq) +
                        " were removed (the tail was truncated)");
  }
  result->ok = first_bad_seq_ == 0;
  result->records = records_;
  result->first_bad_seq = first_bad_seq_;
  result->problem = problem_;
  result->head_seq = head_seq_;
  result->head_hash = head_hash_;
}

}  // namespace safeguard::audit::internal
