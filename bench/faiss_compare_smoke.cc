// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// faiss-smoke [--n N] [--queries Q] [--radius R]
//
// Checks that the FAISS baselines of `safeguard-bench index` answer the
// question we ask them: N random codes, Q queries (half random, half bank
// codes with 0..20 distinct bits flipped) plus four boundary queries (a bank
// code with radius-1, radius, radius+1 and radius+2 bits flipped, which
// catch an off-by-one in FAISS's strict `distance < radius`). Every FAISS
// method must return, for every query, exactly as many codes as a plain
// popcount loop finds within the radius. Prints one line per method with
// its figures; exits 1 on any difference, 2 on a usage error.

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "faiss_compare.h"

namespace {

using Code = std::array<uint64_t, 4>;

Code RandomCode(std::mt19937_64& rng) { return Code{rng(), rng(), rng(), rng()}; }

// Flips exactly `bits` distinct bits, so the distance to the original is
// exactly `bits`.
Code FlipDistinct(Code c, int bits, std::mt19937_64& rng) {
  std::array<int, 256> order;
  for (int i = 0; i < 256; ++i) order[i] = i;
  for (int i = 0; i < bits; ++i) {
    std::swap(order[i], order[i + rng() % (256 - i)]);
    c[order[i] >> 6] ^= uint64_t{1} << (order[i] & 63);
  }
  return c;
}

int Distance(const Code& a, const Code& b) {
  return __builtin_popcountll(a[0] ^ b[0]) + __builtin_popcountll(a[1] ^ b[1]) +
         __builtin_popcountll(a[2] ^ b[2]) + __builtin_popcountll(a[3] ^ b[3]);
}

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
}

}  // namespace

int main(int argc, char** argv) {
  size_t n = 100'000, nq = 100;
  int radius = 31;
  for (int i = 1; i < argc; i += 2) {
    const std::string k = argv[i];
    if (i + 1 >= argc) {
      std::fprintf(stderr, "faiss-smoke: %s needs a value\n", k.c_str());
      return 2;
    }
    const char* v = argv[i + 1];
    if (k == "--n") {
      n = std::strtoull(v, nullptr, 10);
    } else if (k == "--queries") {
      nq = std::strtoull(v, nullptr, 10);
    } else if (k == "--radius") {
      radius = std::atoi(v);
    } else {
      std::fprintf(stderr, "usage: faiss-smoke [--n N] [--queries Q] [--radius R]\n");
      return 2;
    }
  }
  if (n == 0 || radius < 0 || radius > 253) {
    std::fprintf(stderr, "faiss-smoke: --n must be positive and --radius in 0..253\n");
    return 2;
  }

  std::mt19937_64 rng(7);
  std::vector<Code> codes(n);
  for (auto& c : codes) c = RandomCode(rng);
  std::vector<Code> queries;
  for (size_t i = 0; i < nq; ++i) {
    queries.push_back(i % 2 ? RandomCode(rng)
                            : FlipDistinct(codes[rng() % n], static_cast<int>(rng() % 21), rng));
  }
  for (int d : {radius - 1, radius, radius + 1, radius + 2}) {
    queries.push_back(FlipDistinct(codes[rng() % n], std::max(d, 0), rng));
  }

  std::vector<size_t> truth(queries.size(), 0);
  size_t expected = 0;
  for (size_t q = 0; q < queries.size(); ++q) {
    for (const Code& c : codes) truth[q] += Distance(c, queries[q]) <= radius;
    expected += truth[q];
  }

  std::vector<safeguard::bench::MethodResult> results;
  std::string error;
  if (!safeguard::bench::RunFaiss(codes, queries, radius, &results, &error)) {
    std::fprintf(stderr, "faiss-smoke: %s\n", error.c_str());
    return 1;
  }
  int status = 0;
  for (const auto& r : results) {
    size_t wrong = 0;
    for (size_t q = 0; q < queries.size(); ++q) {
      if (r.found_per_query[q] != truth[q]) {
        if (wrong++ < 5) {
          std::fprintf(stderr, "faiss-smoke: %s query %zu: %zu results, brute force %zu\n", r.name.c_str(), q,
                       r.found_per_query[q], truth[q]);
        }
      }
    }
    std::printf(
        "method=%s n=%zu queries=%zu radius=%d build_s=%.3f mem_bytes_per_hash=%.1f rss_bytes_per_hash=%.1f "
        "p50_us=%.1f p99_us=%.1f max_us=%.1f found=%zu expected=%zu wrong_queries=%zu note=%s\n",
        r.name.c_str(), n, queries.size(), radius, r.build_s, r.mem_bytes_per_hash, r.rss_bytes_per_hash,
        Percentile(r.latencies_us, 0.5), Percentile(r.latencies_us, 0.99), Percentile(r.latencies_us, 1.0),
        r.found, expected, wrong, r.note.empty() ? "-" : r.note.c_str());
    if (wrong != 0) status = 1;
  }
  std::printf("faiss-smoke: %s\n", status == 0 ? "OK, every count equals the brute-force count" : "MISMATCH");
  return status;
}
