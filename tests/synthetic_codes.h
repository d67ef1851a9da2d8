// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// Synthetic 256-bit codes for the index tests and benchmarks: uniformly
// random codes and near-duplicates (a code with bits flipped). Header-only.

#ifndef SAFEGUARD_TESTS_SYNTHETIC_CODES_H_
#define SAFEGUARD_TESTS_SYNTHETIC_CODES_H_

#include <cstdint>
#include <random>

#include "safeguard/index/hamming.h"

namespace safeguard::testing {

/// SplitMix64's output function: a well-mixed 64-bit value from any seed, so
/// tests derive distinct, reproducible values from small integers.
inline uint64_t SplitMix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

/// Returns a code with every bit drawn at random.
inline index::Code256 RandomCode(std::mt19937_64& rng) {
  index::Code256 c;
  for (auto& w : c.w) w = rng();
  return c;
}

/// Returns c with `bits` random bit positions flipped (a position drawn twice
/// flips back, so the distance is at most `bits`).
inline index::Code256 Flip(index::Code256 c, int bits, std::mt19937_64& rng) {
  for (int i = 0; i < bits; ++i) {
    const int b = static_cast<int>(rng() % 256);
    c.w[b >> 6] ^= uint64_t{1} << (b & 63);
  }
  return c;
}

}  // namespace safeguard::testing

#endif  // SAFEGUARD_TESTS_SYNTHETIC_CODES_H_
