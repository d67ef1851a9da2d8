// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// The scan kernels (AVX-512 VPOPCNTDQ, POPCNT) against the plain reference
// loop: identical rows for every length (the vector loop takes four codes at
// a time, so lengths 0-9 exercise its tail), every radius from -1 to 256,
// codes at every distance from the query, and unaligned arrays. On a CPU
// without AVX-512 the kAvx512 request runs the scalar kernel and the test
// still compares it. The same for the fast index layout's partner filter.

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <random>
#include <vector>

#include "safeguard/index/flat_scan.h"
#include "synthetic_codes.h"

namespace safeguard::index {
namespace {

using testing::Flip;
using testing::RandomCode;

TEST(ScanKernel, EqualsReferenceOnEveryLengthAndRadius) {
  std::mt19937_64 rng(7);
  const Code256 query = RandomCode(rng);
  std::vector<Code256> codes;
  // Distances 0..256 from the query, then random codes.
  for (int d = 0; d <= 256; d += 3) codes.push_back(Flip(query, d, rng));
  for (int i = 0; i < 200; ++i) codes.push_back(RandomCode(rng));
  std::shuffle(codes.begin(), codes.end(), rng);
  size_t hits = 0;
  for (size_t n : {size_t{0}, size_t{1}, size_t{2}, size_t{3}, size_t{4}, size_t{5}, size_t{6}, size_t{7},
                   size_t{8}, size_t{9}, codes.size() - 1, codes.size()}) {
    for (int radius = -1; radius <= 256; ++radius) {
      std::vector<uint32_t> want, got;
      ScanRangeReference(codes.data(), n, query, radius, &want);
      for (ScanKernel k : {ScanKernel::kAuto, ScanKernel::kScalar, ScanKernel::kAvx512}) {
        got = {12345};  // rows are appended, never cleared
        ScanRange(codes.data(), n, query, radius, &got, k);
        ASSERT_EQ(got.front(), 12345u);
        got.erase(got.begin());
        ASSERT_EQ(got, want) << "n=" << n << " radius=" << radius << " kernel=" << static_cast<int>(k);
      }
      hits += want.size();
    }
  }
  EXPECT_GT(hits, 1000u);
}

TEST(ScanKernel, UnalignedArraysAndNearDuplicates) {
  std::mt19937_64 rng(11);
  // A code array starting 8 bytes past a 64-byte boundary.
  std::vector<uint64_t> raw(4 * 1001 + 1);
  auto* codes = reinterpret_cast<Code256*>(raw.data() + 1);
  const Code256 centre = RandomCode(rng);
  for (int i = 0; i < 1000; ++i) codes[i] = Flip(centre, static_cast<int>(rng() % 64), rng);
  for (int trial = 0; trial < 50; ++trial) {
    const Code256 query = Flip(centre, static_cast<int>(rng() % 40), rng);
    for (int radius : {0, 15, 31, 32, 63, 64}) {
      std::vector<uint32_t> want, got;
      ScanRangeReference(codes, 1000, query, radius, &want);
      ScanRange(codes, 1000, query, radius, &got);
      ASSERT_EQ(got, want) << "trial " << trial << " radius " << radius;
    }
  }
}

// The fast layout's filter: every kernel against the reference loop, for
// every length 0..200 (32 entries per vector step, so every tail), limits
// -1..17, partner values at every distance from the wanted one, and starts
// at every offset within a cache line.
TEST(FilterKernel, PartnerMasksEqualReference) {
  std::mt19937_64 rng(17);
  std::vector<uint16_t> raw(300);
  const uint16_t want = static_cast<uint16_t>(rng());
  for (size_t i = 0; i < raw.size(); ++i) {
    uint16_t v = want;
    const int flips = static_cast<int>(rng() % 17);
    for (int f = 0; f < flips; ++f) v ^= static_cast<uint16_t>(1u << (rng() % 16));
    raw[i] = v;
  }
  size_t kept = 0;
  for (size_t offset = 0; offset < 32; offset += 3) {
    for (size_t n = 0; n <= 200; ++n) {
      for (int limit = -1; limit <= 17; ++limit) {
        std::vector<uint32_t> want_masks((n + 31) / 32 + 1, 0xdeadbeef), got((n + 31) / 32 + 1);
        PartnerMasksReference(raw.data() + offset, n, want, limit, want_masks.data());
        ASSERT_EQ(want_masks.back(), 0xdeadbeefu) << "the reference wrote past its masks";
        for (FilterKernel k : {FilterKernel::kAuto, FilterKernel::kScalar, FilterKernel::kAvx512}) {
          std::fill(got.begin(), got.end(), 0xdeadbeef);
          PartnerMasks(raw.data() + offset, n, want, limit, got.data(), k);
          ASSERT_EQ(got, want_masks) << "offset=" << offset << " n=" << n << " limit=" << limit
                                     << " kernel=" << static_cast<int>(k);
        }
        for (size_t j = 0; j + 1 < want_masks.size(); ++j) kept += std::popcount(want_masks[j]);
      }
    }
  }
  EXPECT_GT(kept, 10000u);
}

}  // namespace
}  // namespace safeguard::index
