// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// FlatScan: exact Hamming range search by comparing the query with every
// code. The boring reference every faster index is tested against, and the
// right method for small banks and for queries that fall in a dense region.
// Search is thread-safe once built; Add is not (callers serialise writers).

#ifndef SAFEGUARD_INDEX_FLAT_SCAN_H_
#define SAFEGUARD_INDEX_FLAT_SCAN_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "safeguard/index/hamming.h"

namespace safeguard::index {

/// The loop ScanRange runs. kAuto picks the fastest the CPU has: kAvx512
/// (AVX-512 VPOPCNTDQ, two codes per instruction) or kScalar (POPCNT, or a
/// portable bit count on CPUs without it).
enum class ScanKernel { kAuto, kScalar, kAvx512 };

/// Returns the kernel kAuto picks on this CPU.
ScanKernel ActiveScanKernel();

/// Appends every i in [0, n) with Distance(codes[i], query) <= radius to
/// *rows (in increasing order). A kernel this CPU lacks falls back to
/// kScalar. Thread-safe.
void ScanRange(const Code256* codes, size_t n, const Code256& query, int radius, std::vector<uint32_t>* rows,
               ScanKernel kernel = ScanKernel::kAuto);

/// The same result as ScanRange by the plainest loop (Distance on each code):
/// the reference the kernels are tested against. Thread-safe.
void ScanRangeReference(const Code256* codes, size_t n, const Code256& query, int radius,
                        std::vector<uint32_t>* rows);

/// The loop PartnerMasks runs. kAuto picks kAvx512 (AVX-512 BITALG: 32
/// entries per instruction) where the CPU has it, else kScalar.
enum class FilterKernel { kAuto, kScalar, kAvx512 };

/// Returns the kernel kAuto picks on this CPU.
FilterKernel ActiveFilterKernel();

/// The candidate filter of MihIndex's fast layout: writes (n + 31) / 32
/// masks, bit i of masks[j] set when popcount(partners[32 j + i] ^ want) <=
/// limit (and 32 j + i < n). It reads no more than the n values and its
/// steps do not depend on one another, so many calls' reads overlap. A
/// kernel this CPU lacks falls back to kScalar. Thread-safe.
void PartnerMasks(const uint16_t* partners, size_t n, uint16_t want, int limit, uint32_t* masks,
                  FilterKernel kernel = FilterKernel::kAuto);

/// The same result as PartnerMasks by the plainest loop: the reference the
/// kernels are tested against.
void PartnerMasksReference(const uint16_t* partners, size_t n, uint16_t want, int limit, uint32_t* masks);

class FlatScan {
 public:
  /// Appends codes with their ids. codes.size() must equal ids.size().
  void Add(std::span<const Code256> codes, std::span<const uint64_t> ids);

  /// Stores in *out every entry within `radius` of `query`, sorted by id.
  /// *out is cleared first.
  void RangeSearch(const Code256& query, int radius, std::vector<Match>* out) const;

  /// Number of entries.
  size_t size() const { return codes_.size(); }

 private:
  std::vector<Code256> codes_;
  std::vector<uint64_t> ids_;
};

}  // namespace safeguard::index

#endif  // SAFEGUARD_INDEX_FLAT_SCAN_H_
