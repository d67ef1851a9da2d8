// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.

#include "safeguard/index/flat_scan.h"

#include <algorithm>

namespace safeguard::index {

// Baseline x86-64 has no popcount instruction and GCC would emit a bit-trick
// sequence; the clone picked at run time uses POPCNT (every x86-64 CPU of the
// last 15 years has it). The scan is memory-bound once POPCNT is used.
#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target_clones("popcnt", "default")))
#endif
void ScanRange(const Code256* codes, size_t n, const Code256& query, int radius, std::vector<uint32_t>* rows) {
  const uint64_t q0 = query.w[0], q1 = query.w[1], q2 = query.w[2], q3 = query.w[3];
  for (size_t i = 0; i < n; ++i) {
    const Code256& c = codes[i];
    const int d = __builtin_popcountll(c.w[0] ^ q0) + __builtin_popcountll(c.w[1] ^ q1) +
                  __builtin_popcountll(c.w[2] ^ q2) + __builtin_popcountll(c.w[3] ^ q3);
    if (d <= radius) rows->push_back(static_cast<uint32_t>(i));
  }
}

void FlatScan::Add(std::span<const Code256> codes, std::span<const uint64_t> ids) {
  codes_.insert(codes_.end(), codes.begin(), codes.end());
  ids_.insert(ids_.end(), ids.begin(), ids.end());
}

void FlatScan::RangeSearch(const Code256& query, int radius, std::vector<Match>* out) const {
  out->clear();
  std::vector<uint32_t> rows;
  ScanRange(codes_.data(), codes_.size(), query, radius, &rows);
  out->reserve(rows.size());
  for (uint32_t r : rows) out->push_back(Match{ids_[r], Distance(codes_[r], query)});
  std::sort(out->begin(), out->end(), [](const Match& a, const Match& b) { return a.id < b.id; });
}

}  // namespace safeguard::index
