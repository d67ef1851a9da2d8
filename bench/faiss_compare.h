// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// The FAISS baselines of `safeguard-bench index`: the binary indexes Meta's
// Hasher-Matcher-Actioner (HMA) uses for PDQ, run on the same codes and
// queries as Safeguard's indexes. Built only when Debian's libfaiss-dev is
// installed (bench/CMakeLists.txt then defines SAFEGUARD_HAVE_FAISS=1).

#ifndef SAFEGUARD_BENCH_FAISS_COMPARE_H_
#define SAFEGUARD_BENCH_FAISS_COMPARE_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace safeguard::bench {

/// What one method did on one workload.
struct MethodResult {
  std::string name;                     ///< e.g. "faiss-multihash(16x16,nflip=1)", "faiss-flat"
  double build_s = 0;                   ///< seconds to add every code
  double mem_bytes_per_hash = 0;        ///< estimated from the index's own structures (see .cc)
  double rss_bytes_per_hash = 0;        ///< resident-set growth during the build, as a cross-check
  std::vector<double> latencies_us;     ///< one per query, microseconds, in query order
  size_t found = 0;                     ///< results over all queries
  std::vector<size_t> found_per_query;  ///< results for query i
  std::string note;                     ///< e.g. "debian-faiss-no-hw-popcount"; empty if nothing to say
};

/// Runs FAISS IndexBinaryMultiHash(256, 16, 16) with nflip = radius / 16
/// (HMA's rule: 1 at radius 31, and the smallest nflip for which the search
/// is exact) and IndexBinaryFlat on the same codes and queries, one query at
/// a time on one thread (omp_set_num_threads(1), restored afterwards), each
/// query a range search returning every code within Hamming distance
/// `radius` (0..255) inclusive. A few queries are run untimed first.
///
/// codes and queries are 4 x uint64 words per code: bit k of the hash is bit
/// k % 64 of word k / 64, so on a little-endian machine the bytes are the
/// uint8_t[32] FAISS expects. Appends two MethodResults (multihash, then
/// flat) to *results. Returns false and sets *error if FAISS is unavailable
/// or fails (FAISS reports errors by exception; none escapes). Not
/// thread-safe: it changes the process-wide OpenMP thread count while it runs.
bool RunFaiss(const std::vector<std::array<uint64_t, 4>>& codes,
              const std::vector<std::array<uint64_t, 4>>& queries, int radius,
              std::vector<MethodResult>* results, std::string* error);

}  // namespace safeguard::bench

#endif  // SAFEGUARD_BENCH_FAISS_COMPARE_H_
