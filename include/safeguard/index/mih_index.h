// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// MihIndex: exact Hamming range search by multi-index hashing (Norouzi,
// Punjani, Fleet, "Fast search in Hamming space with multi-index hashing").
// The 256 bits are cut into m substrings; each has a table from substring
// value to the rows holding it, stored flat (counting-sorted uint32 rows and
// an offsets array, no per-bucket containers). By the generalised pigeonhole
// principle every code within radius r of the query is within r/m of it on
// some substring, so probing the few values near the query's substrings finds
// every match: the search is exact, never approximate.
//
// Real hash lists hold large families of near-duplicates, where a probe can
// land in a huge bucket. Before touching any candidate the search adds up the
// bucket sizes it is about to visit; when that is a sizeable fraction of the
// index it scans all codes instead, so the worst query costs about one scan.
//
// Immutable once built from a batch (Build) or loaded (Load); LiveIndex
// layers additions and removals on top of it. RangeSearch is thread-safe
// once built.

#ifndef SAFEGUARD_INDEX_MIH_INDEX_H_
#define SAFEGUARD_INDEX_MIH_INDEX_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "safeguard/common/status.h"
#include "safeguard/index/hamming.h"
#include "safeguard/index/huge_page_allocator.h"

namespace safeguard::index {

/// What one search did; for benchmarks and tests.
struct SearchStats {
  size_t probes = 0;      ///< substring values looked up
  size_t candidates = 0;  ///< rows whose full distance was computed
  bool scanned = false;   ///< the search fell back to a full scan
};

class MihIndex {
 public:
  /// Builds the index over copies of codes and ids (codes.size() ==
  /// ids.size() < 2^32). num_tables 0 picks m = ceil(256 / log2 n); m is
  /// kept within [10, 32] (substrings of 8 to 26 bits, so an offsets array is
  /// at most 256 MiB).
  void Build(std::span<const Code256> codes, std::span<const uint64_t> ids, int num_tables = 0);

  /// Stores in *out every entry within `radius` (0..256) of `query`, sorted
  /// by id. *out is cleared first. stats may be null.
  void RangeSearch(const Code256& query, int radius, std::vector<Match>* out,
                   SearchStats* stats = nullptr) const;

  /// Writes the built index to `path` (format in docs/index_format.md), via
  /// a temporary file renamed into place, so a crash leaves the old file.
  /// Returns kIoError on failure.
  Status Save(const std::string& path) const;

  /// Replaces this index with the one saved at `path`. Returns kNotFound,
  /// kIoError, or kCorrupt (bad magic, version, sizes or checksum) and leaves
  /// the index empty on failure. The loaded arrays are read into memory, so
  /// the index is warm (every page touched) when Load returns.
  Status Load(const std::string& path);

  /// Number of entries.
  size_t size() const { return codes_.size(); }
  /// Number of substring tables.
  int num_tables() const { return static_cast<int>(tables_.size()); }
  /// Bytes held: codes, ids, offsets and row lists.
  size_t MemoryBytes() const;
  /// The codes and ids, in row order (sorted by the first substring, not in
  /// build order).
  std::span<const Code256> codes() const { return codes_; }
  std::span<const uint64_t> ids() const { return ids_; }

 private:
  struct Table {
    int start = 0;                 // first bit of the substring
    int bits = 0;                  // width of the substring
    HugeVector<uint32_t> offsets;  // 2^bits + 1: rows of value v are rows[offsets[v], offsets[v+1])
    HugeVector<uint32_t> rows;     // every row, sorted by substring value (empty for table 0,
                                   // whose order the entries themselves are stored in)
  };

  static uint32_t Substring(const Code256& c, int start, int bits);
  void ScanAll(const Code256& query, int radius, std::vector<uint32_t>* rows) const;

  HugeVector<Code256> codes_;
  HugeVector<uint64_t> ids_;
  std::vector<Table> tables_;
};

}  // namespace safeguard::index

#endif  // SAFEGUARD_INDEX_MIH_INDEX_H_
