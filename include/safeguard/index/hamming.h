// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// 256-bit codes (PDQ hashes) for Hamming-distance search, and what a search
// returns. Header-only value types; thread-compatible.

#ifndef SAFEGUARD_INDEX_HAMMING_H_
#define SAFEGUARD_INDEX_HAMMING_H_

#include <cstdint>

#include "safeguard/hash/pdq.h"

namespace safeguard::index {

/// A 256-bit code as four 64-bit words. Word i holds PDQ words 4i..4i+3,
/// PDQ word 4i in the low 16 bits, so bit k of the PDQ hash is bit k here.
struct Code256 {
  uint64_t w[4] = {};

  friend bool operator==(const Code256& a, const Code256& b) {
    return a.w[0] == b.w[0] && a.w[1] == b.w[1] && a.w[2] == b.w[2] && a.w[3] == b.w[3];
  }
};

/// Returns the code of a PDQ hash (same bits).
inline Code256 FromPdq(const pdq::Hash256& h) {
  Code256 c;
  for (int i = 0; i < 4; ++i) {
    c.w[i] = uint64_t{h.w[4 * i]} | (uint64_t{h.w[4 * i + 1]} << 16) | (uint64_t{h.w[4 * i + 2]} << 32) |
             (uint64_t{h.w[4 * i + 3]} << 48);
  }
  return c;
}

/// Returns the Hamming distance between a and b (0..256).
inline int Distance(const Code256& a, const Code256& b) {
  return __builtin_popcountll(a.w[0] ^ b.w[0]) + __builtin_popcountll(a.w[1] ^ b.w[1]) +
         __builtin_popcountll(a.w[2] ^ b.w[2]) + __builtin_popcountll(a.w[3] ^ b.w[3]);
}

/// One search result: the caller's 64-bit id and its distance to the query.
struct Match {
  uint64_t id = 0;
  int distance = 0;

  friend bool operator==(const Match& a, const Match& b) { return a.id == b.id && a.distance == b.distance; }
};

}  // namespace safeguard::index

#endif  // SAFEGUARD_INDEX_HAMMING_H_
