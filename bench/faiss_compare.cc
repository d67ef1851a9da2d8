// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.

#include "faiss_compare.h"

#include <faiss/IndexBinaryFlat.h>
#include <faiss/IndexBinaryHash.h>
#include <faiss/impl/AuxIndexStructures.h>
#include <malloc.h>
#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <exception>
#include <fstream>
#include <memory>
#include <utility>

namespace safeguard::bench {
namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kCodeBytes = 32;
constexpr int kBits = 256;
// HMA's configuration: 16 maps of 16-bit substrings.
constexpr int kNumHashes = 16;
constexpr int kHashBits = 16;
constexpr size_t kWarmupQueries = 10;

// Debian builds FAISS for baseline x86-64, so its Hamming kernels call
// libgcc's table-driven __popcountdi2 instead of the POPCNT instruction
// (bench/CMakeLists.txt looks for that symbol in libfaiss.a). Figures from
// a FAISS built with -mpopcnt/-mavx2 would be better, the flat scan most.
#if SAFEGUARD_FAISS_SOFT_POPCOUNT
constexpr const char* kNote = "debian-faiss-no-hw-popcount";
#else
constexpr const char* kNote = "";
#endif

// IndexBinaryMultiHash reads each 16-bit substring with an unaligned uint64
// load at the substring's byte offset, so the last substring of a code (at
// byte 30) reads 6 bytes past the code, and for the last code past the
// caller's buffer. The copy carries 8 bytes of padding to keep those reads
// inside our allocation. It is made before any clock starts.
std::vector<uint8_t> PaddedBytes(const std::vector<std::array<uint64_t, 4>>& codes) {
  static_assert(sizeof(std::array<uint64_t, 4>) == kCodeBytes);
  std::vector<uint8_t> bytes(codes.size() * kCodeBytes + 8, 0);
  if (!codes.empty()) std::memcpy(bytes.data(), codes.data(), codes.size() * kCodeBytes);
  return bytes;
}

size_t ResidentBytes() {
  std::ifstream statm("/proc/self/statm");
  size_t size = 0, resident = 0;
  if (!(statm >> size >> resident)) return 0;
  return resident * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

// glibc malloc: an 8-byte header, 16-byte granularity, 32-byte minimum.
size_t BlockBytes(size_t payload) { return std::max<size_t>(32, (payload + 8 + 15) & ~size_t{15}); }

// Bytes held by an IndexBinaryMultiHash, counted from its structures rather
// than from RSS (which also moves with the allocator's caching): the stored
// codes, then per map its bucket array, one heap node per non-empty bucket
// (libstdc++ keeps the next pointer and the key/value pair, and caches no
// hash for std::hash<int64_t>) and each bucket's id vector at its real
// capacity. Every code appears once in each of the 16 maps as an 8-byte
// id, so the id vectors alone cost at least 128 bytes per code.
size_t MultiHashBytes(const faiss::IndexBinaryMultiHash& index) {
  using Map = faiss::IndexBinaryMultiHash::Map;
  size_t bytes = index.storage->xb.capacity();
  for (const Map& map : index.maps) {
    bytes += map.bucket_count() * sizeof(void*);
    for (const auto& [hash, ids] : map) {
      bytes += BlockBytes(sizeof(void*) + sizeof(Map::value_type));
      if (ids.capacity() > 0) bytes += BlockBytes(ids.capacity() * sizeof(ids[0]));
    }
  }
  return bytes;
}

// glibc defers merging freed small blocks until a large request arrives, so
// the next build would pay (0.2 s at 100k codes) for the 16 hash maps freed
// before it. Settling the heap outside the clocks keeps each build's time
// and RSS its own.
void SettleHeap() {
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
}

// Sets OpenMP to one thread for the lifetime of the object, so each query
// is measured single-threaded like Safeguard's, then restores the setting.
class OneOmpThread {
 public:
  OneOmpThread() : saved_(omp_get_max_threads()) { omp_set_num_threads(1); }
  ~OneOmpThread() { omp_set_num_threads(saved_); }
  OneOmpThread(const OneOmpThread&) = delete;
  OneOmpThread& operator=(const OneOmpThread&) = delete;

 private:
  int saved_;
};

void RunQueries(const faiss::IndexBinary& index, const std::vector<uint8_t>& queries, size_t nq, int radius,
                MethodResult* r) {
  // FAISS's binary range search keeps distances strictly below its radius
  // argument (dis < radius), so "within radius" is radius + 1 there; HMA
  // passes threshold + 1 for the same reason.
  const int faiss_radius = radius + 1;
  for (size_t i = 0; i < std::min(nq, kWarmupQueries); ++i) {
    faiss::RangeSearchResult res(1);
    index.range_search(1, queries.data() + i * kCodeBytes, faiss_radius, &res);
  }
  r->latencies_us.reserve(nq);
  r->found_per_query.reserve(nq);
  for (size_t i = 0; i < nq; ++i) {
    // The result holder is set up outside the clock; FAISS allocates the
    // result buffers inside range_search, which is part of the cost.
    faiss::RangeSearchResult res(1);
    const auto t0 = Clock::now();
    index.range_search(1, queries.data() + i * kCodeBytes, faiss_radius, &res);
    r->latencies_us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
    const size_t count = res.lims[1] - res.lims[0];
    r->found_per_query.push_back(count);
    r->found += count;
  }
}

}  // namespace

bool RunFaiss(const std::vector<std::array<uint64_t, 4>>& codes,
              const std::vector<std::array<uint64_t, 4>>& queries, int radius,
              std::vector<MethodResult>* results, std::string* error) {
  if (radius < 0 || radius >= kBits) {
    *error = "radius must be in 0..255, got " + std::to_string(radius);
    return false;
  }
  const std::vector<uint8_t> code_bytes = PaddedBytes(codes);
  const std::vector<uint8_t> query_bytes = PaddedBytes(queries);
  const auto n = static_cast<faiss::IndexBinary::idx_t>(codes.size());
  const double per_hash = codes.empty() ? 1.0 : static_cast<double>(codes.size());
  OneOmpThread one_thread;
  try {
    {
      MethodResult r;
      // The smallest nflip that makes the search exact: a code within the
      // radius differs from the query by at most radius / 16 bits on some
      // substring (pigeonhole), and that substring is probed.
      const int nflip = radius / kNumHashes;
      r.name = "faiss-multihash(" + std::to_string(kNumHashes) + "x" + std::to_string(kHashBits) +
               ",nflip=" + std::to_string(nflip) + ")";
      r.note = kNote;
      SettleHeap();
      const size_t rss0 = ResidentBytes();
      const auto t0 = Clock::now();
      auto index = std::make_unique<faiss::IndexBinaryMultiHash>(kBits, kNumHashes, kHashBits);
      index->nflip = nflip;
      index->add(n, code_bytes.data());
      r.build_s = std::chrono::duration<double>(Clock::now() - t0).count();
      const size_t rss1 = ResidentBytes();
      r.rss_bytes_per_hash = static_cast<double>(rss1 > rss0 ? rss1 - rss0 : 0) / per_hash;
      r.mem_bytes_per_hash = static_cast<double>(MultiHashBytes(*index)) / per_hash;
      RunQueries(*index, query_bytes, queries.size(), radius, &r);
      results->push_back(std::move(r));
    }
    {
      MethodResult r;
      r.name = "faiss-flat";
      r.note = kNote;
      SettleHeap();
      const size_t rss0 = ResidentBytes();
      const auto t0 = Clock::now();
      auto index = std::make_unique<faiss::IndexBinaryFlat>(kBits);
      index->add(n, code_bytes.data());
      r.build_s = std::chrono::duration<double>(Clock::now() - t0).count();
      const size_t rss1 = ResidentBytes();
      r.rss_bytes_per_hash = static_cast<double>(rss1 > rss0 ? rss1 - rss0 : 0) / per_hash;
      r.mem_bytes_per_hash = static_cast<double>(index->xb.capacity()) / per_hash;
      RunQueries(*index, query_bytes, queries.size(), radius, &r);
      results->push_back(std::move(r));
    }
  } catch (const std::exception& e) {
    *error = std::string("FAISS failed: ") + e.what();
    return false;
  }
  return true;
}

}  // namespace safeguard::bench
