// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.

#include "safeguard/index/flat_scan.h"

#include <algorithm>
#include <bit>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define SAFEGUARD_X86_DISPATCH 1
#endif

namespace safeguard::index {

void ScanRangeReference(const Code256* codes, size_t n, const Code256& query, int radius,
                        std::vector<uint32_t>* rows) {
  for (size_t i = 0; i < n; ++i) {
    if (Distance(codes[i], query) <= radius) rows->push_back(static_cast<uint32_t>(i));
  }
}

void PartnerMasksReference(const uint16_t* partners, size_t n, uint16_t want, int limit, uint32_t* masks) {
  for (size_t j = 0; j * 32 < n; ++j) masks[j] = 0;
  for (size_t i = 0; i < n; ++i) {
    if (std::popcount(static_cast<uint16_t>(partners[i] ^ want)) <= limit)
      masks[i / 32] |= uint32_t{1} << (i % 32);
  }
}

namespace {

#if SAFEGUARD_X86_DISPATCH && !defined(__clang__)
__attribute__((target_clones("popcnt", "default")))
#endif
void MasksScalar(const uint16_t* partners, size_t n, uint16_t want, int limit, uint32_t* masks) {
  for (size_t j = 0; j * 32 < n; ++j) {
    const size_t len = std::min<size_t>(32, n - 32 * j);
    uint32_t mask = 0;
    for (size_t i = 0; i < len; ++i) {
      mask |=
          static_cast<uint32_t>(std::popcount(static_cast<uint32_t>(partners[32 * j + i] ^ want)) <= limit)
          << i;
    }
    masks[j] = mask;
  }
}

// Baseline x86-64 has no popcount instruction and GCC would emit a bit-trick
// sequence; the clone picked at run time uses POPCNT (every x86-64 CPU of the
// last 15 years has it).
// Not with clang 14: its ifunc resolver is instrumented in the sanitizer
// builds and crashes before the runtime starts, and its resolver is emitted
// only in translation units that call the function.
#if SAFEGUARD_X86_DISPATCH && !defined(__clang__)
__attribute__((target_clones("popcnt", "default")))
#endif
void ScanScalar(const Code256* codes, size_t n, const Code256& query, int radius, std::vector<uint32_t>* rows) {
  const uint64_t q0 = query.w[0], q1 = query.w[1], q2 = query.w[2], q3 = query.w[3];
  for (size_t i = 0; i < n; ++i) {
    const Code256& c = codes[i];
    const int d = __builtin_popcountll(c.w[0] ^ q0) + __builtin_popcountll(c.w[1] ^ q1) +
                  __builtin_popcountll(c.w[2] ^ q2) + __builtin_popcountll(c.w[3] ^ q3);
    if (d <= radius) rows->push_back(static_cast<uint32_t>(i));
  }
}

#if SAFEGUARD_X86_DISPATCH
// GCC 12's own intrinsics (_mm512_undefined_epi32 inside the shuffles) trip
// its uninitialised-value warnings; the values are never read.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
// Sums each code's four word counts into all four of its lanes.
__attribute__((target("avx512f"))) inline __m512i FoldCounts(__m512i x) {
  x = _mm512_add_epi64(x, _mm512_shuffle_epi32(x, _MM_PERM_BADC));                  // w0+w1, w2+w3
  return _mm512_add_epi64(x, _mm512_shuffle_i64x2(x, x, _MM_SHUFFLE(2, 3, 0, 1)));  // all four
}

// Two codes per 512-bit register: VPOPCNTQ counts the eight words at once,
// two in-register adds fold each code's four counts into its lanes 0 and 4,
// and one compare yields a bit per code. Matches are rare, so the loop is a
// stream of loads; it runs at memory bandwidth.
__attribute__((target("avx512f,avx512vpopcntdq"))) void ScanAvx512(const Code256* codes, size_t n,
                                                                   const Code256& query, int radius,
                                                                   std::vector<uint32_t>* rows) {
  const __m512i q = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(query.w)));
  const __m512i r = _mm512_set1_epi64(radius);
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const __m512i a = _mm512_loadu_si512(codes + i);
    const __m512i b = _mm512_loadu_si512(codes + i + 2);
    const __m512i da = FoldCounts(_mm512_popcnt_epi64(_mm512_xor_si512(a, q)));
    const __m512i db = FoldCounts(_mm512_popcnt_epi64(_mm512_xor_si512(b, q)));
    const unsigned hits =
        (_mm512_cmple_epu64_mask(da, r) & 0x11) | ((_mm512_cmple_epu64_mask(db, r) & 0x11) << 1);
    if (hits != 0) [[unlikely]] {
      if (hits & 0x01) rows->push_back(static_cast<uint32_t>(i));
      if (hits & 0x10) rows->push_back(static_cast<uint32_t>(i + 1));
      if (hits & 0x02) rows->push_back(static_cast<uint32_t>(i + 2));
      if (hits & 0x20) rows->push_back(static_cast<uint32_t>(i + 3));
    }
  }
  for (; i < n; ++i) {
    if (Distance(codes[i], query) <= radius) rows->push_back(static_cast<uint32_t>(i));
  }
}

// 32 entries per step: VPOPCNTW counts 32 partner values at once and one
// compare yields their mask. The masked load of the last step reads
// nothing past n.
__attribute__((target("avx512f,avx512bw,avx512bitalg"))) void MasksAvx512(const uint16_t* partners, size_t n,
                                                                          uint16_t want, int limit,
                                                                          uint32_t* masks) {
  const __m512i q = _mm512_set1_epi16(static_cast<short>(want));
  const __m512i lim = _mm512_set1_epi16(static_cast<short>(std::clamp(limit, -1, 16)));
  for (size_t i = 0; i < n; i += 32) {
    const __mmask32 live = n - i >= 32 ? ~__mmask32{0} : static_cast<__mmask32>((uint32_t{1} << (n - i)) - 1);
    const __m512i p = _mm512_maskz_loadu_epi16(live, partners + i);
    // Signed compare: a limit of -1 keeps nothing.
    masks[i / 32] = _mm512_mask_cmple_epi16_mask(live, _mm512_popcnt_epi16(_mm512_xor_si512(p, q)), lim);
  }
}

#pragma GCC diagnostic pop

bool HaveAvx512Bitalg() {
  static const bool have = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                           __builtin_cpu_supports("avx512bitalg");
  return have;
}

bool HaveAvx512Popcount() {
  static const bool have = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vpopcntdq");
  return have;
}
#endif

}  // namespace

ScanKernel ActiveScanKernel() {
#if SAFEGUARD_X86_DISPATCH
  if (HaveAvx512Popcount()) return ScanKernel::kAvx512;
#endif
  return ScanKernel::kScalar;
}

void ScanRange(const Code256* codes, size_t n, const Code256& query, int radius, std::vector<uint32_t>* rows,
               ScanKernel kernel) {
  if (radius < 0) return;
#if SAFEGUARD_X86_DISPATCH
  if (kernel == ScanKernel::kAuto) kernel = ActiveScanKernel();
  if (kernel == ScanKernel::kAvx512 && HaveAvx512Popcount()) {
    ScanAvx512(codes, n, query, radius, rows);
    return;
  }
#endif
  ScanScalar(codes, n, query, radius, rows);
}

FilterKernel ActiveFilterKernel() {
#if SAFEGUARD_X86_DISPATCH
  if (HaveAvx512Bitalg()) return FilterKernel::kAvx512;
#endif
  return FilterKernel::kScalar;
}

void PartnerMasks(const uint16_t* partners, size_t n, uint16_t want, int limit, uint32_t* masks,
                  FilterKernel kernel) {
#if SAFEGUARD_X86_DISPATCH
  if (kernel == FilterKernel::kAuto) kernel = ActiveFilterKernel();
  if (kernel == FilterKernel::kAvx512 && HaveAvx512Bitalg()) {
    MasksAvx512(partners, n, want, limit, masks);
    return;
  }
#endif
  MasksScalar(partners, n, want, limit, masks);
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
