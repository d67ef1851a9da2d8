// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// MihIndex: exact Hamming range search by multi-index hashing (Norouzi,
// Punjani, Fleet, "Fast search in Hamming space with multi-index hashing").
// The 256 bits are cut into m substrings; each has a table from substring
// value to the rows holding it, stored flat (counting-sorted uint32 rows, and
// the bucket bounds of 60 consecutive values packed into one cache line: a
// base and 60 byte-sized increments, with a full uint32 form for the rare
// dense line). By the generalised pigeonhole principle every code within
// radius r of the query is within r/m of it on some substring, so probing the
// few values near the query's substrings finds every match: the search is
// exact, never approximate.
//
// Real hash lists hold large families of near-duplicates. A query near one
// of them would find a large share of the family in its buckets and pay a
// random memory access for each. So Build looks for the largest families
// (values of 16-bit substrings that far more codes share than chance
// allows; a family's centre is the bitwise majority of such a bucket) and
// stores each as a contiguous run of rows with its centre and radius R (the
// farthest member). A query scans a family only when it is within r + R of
// the centre (otherwise, by the triangle inequality, no member is within r),
// and that scan reads memory in order. The rest go in the tables; where a
// query's buckets still hold a sizeable fraction of them it scans those rows
// instead, so the worst query costs about one scan.
//
// Tables 1 and 2, 3 and 4, ... are pairs. A code within r of the query is
// within t_a + t_b + 1 of it on the two substrings of some pair (or within
// t_0 on table 0), where t_k is table k's probe radius; so a row a probe of
// table a finds at distance d_a can match only if its distance on the
// partner substring b is at most t_a + t_b + 1 - d_a. Each row-list entry
// keeps a few bits of the partner substring in the bits its row number does
// not use (8 at 10M rows), and rows that fail that bound on them are dropped
// before their code is read: most of the random reads a search would pay.
//
// The fast layout (BuildOptions::layout = kFast) trades memory for speed:
// 16 tables of 16-bit substrings, paired 0-1, 2-3, ..., each row-list entry
// with the whole 16-bit partner substring beside it (a uint16 array next to
// the row numbers). At radius 31 a table is probed at radius 1 (17 buckets
// of n/65536 rows each) and the bound leaves about one entry in 350:
// the search reads the short bucket bounds (they stay in cache), filters
// the bucket entries in order, 32 per instruction, and pays a random access
// only for the few that pass. At 10M codes: p50 32 us against 74 us for
// the compact layout, for 40 more bytes per code (132 against 92.5).
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
  size_t probes = 0;            ///< substring values looked up
  size_t candidates = 0;        ///< table rows whose full distance was computed
  size_t filtered = 0;          ///< table rows the partner bits ruled out before their code was read
  bool scanned = false;         ///< the search scanned every table row instead of probing
  size_t families_scanned = 0;  ///< dense families close enough to the query to be scanned
  size_t family_rows = 0;       ///< rows those family scans read
};

class MihIndex {
 public:
  /// The two layouts (see above): kCompact keeps each row-list entry in 4
  /// bytes; kFast keeps 6 and searches at radius 31 about 2.3 times faster.
  enum class Layout { kCompact, kFast };

  /// How Build lays the index out; the defaults are what the benchmarks chose.
  struct BuildOptions {
    Layout layout = Layout::kCompact;
    /// Substring tables; 0 picks m = round(256 / log2 n), so each bucket
    /// holds about one row. Kept within [10, 32] (substrings of 8 to 26 bits).
    /// kFast always has 16.
    int num_tables = 0;
    /// Set aside dense families of near-duplicates (see above).
    bool families = true;
  };

  /// Builds the index over copies of codes and ids (codes.size() ==
  /// ids.size() < 2^31; both are copied). Ids need not be unique.
  void Build(std::span<const Code256> codes, std::span<const uint64_t> ids, const BuildOptions& options);
  /// Build with default options except the number of tables (0: automatic).
  void Build(std::span<const Code256> codes, std::span<const uint64_t> ids, int num_tables = 0) {
    BuildOptions o;
    o.num_tables = num_tables;
    Build(codes, ids, o);
  }

  /// Stores in *out every entry within `radius` (0..256) of `query`, sorted
  /// by id. *out is cleared first. stats may be null.
  void RangeSearch(const Code256& query, int radius, std::vector<Match>* out,
                   SearchStats* stats = nullptr) const;

  /// Writes the built index to `path` (format in docs/index_format.md), via
  /// a temporary file renamed into place, so a crash leaves the old file.
  /// `tag` is stored with it for the caller (e.g. the store's change-log
  /// position the snapshot reflects). Returns kIoError on failure.
  Status Save(const std::string& path, uint64_t tag = 0) const;

  /// Replaces this index with the one saved at `path` and stores its tag in
  /// *tag (if not null). Returns kNotFound, kIoError, or kCorrupt (bad
  /// magic, version, sizes, bounds or checksum) and leaves the index empty on
  /// failure. The arrays are read into memory, so the index is warm (every
  /// page touched) when Load returns.
  Status Load(const std::string& path, uint64_t* tag = nullptr);

  /// Reads one byte of every 4 KiB page the index holds and returns the sum
  /// (so the reads cannot be optimised away). Build and Load leave every
  /// page written, but memory written long ago may no longer be at hand
  /// (on a virtual machine the host may reclaim it); a caller about to
  /// report ready calls this so the first queries do not pay for that.
  uint64_t Prefault() const;

  /// Number of entries.
  size_t size() const { return codes_.size(); }
  /// The layout it was built or loaded with.
  Layout layout() const { return layout_; }
  /// Number of substring tables.
  int num_tables() const { return static_cast<int>(tables_.size()); }
  /// Number of dense families set aside, and the rows they hold.
  size_t num_families() const { return families_.size(); }
  size_t family_rows() const { return codes_.size() - main_rows_; }
  /// Bytes held: codes, ids, offsets and row lists.
  size_t MemoryBytes() const;
  /// The codes and ids, in row order (table rows sorted by the first
  /// substring, then each family's rows; not in build order).
  std::span<const Code256> codes() const { return codes_; }
  std::span<const uint64_t> ids() const { return ids_; }

 private:
  static constexpr uint32_t kLineValues = 60;
  static constexpr uint32_t kWideLine = 0x80000000u;

  // The bucket bounds of values [60 g, 60 g + 60) in one cache line: rows
  // of value 60 g + i are [base + end[i-1], base + end[i]) (end[-1] = 0).
  // A line whose values hold more than 255 rows has kWideLine set in base;
  // its low bits index 61 uint32 bounds in Table::wide.
  struct alignas(64) OffsetLine {
    uint32_t base;
    uint8_t end[kLineValues];
  };
  struct Table {
    int start = 0;                  // first bit of the substring
    int bits = 0;                   // width of the substring
    int partner = -1;               // the other table of its pair, or -1 (table 0, an unpaired last table)
    int partner_bits = 0;           // low bits of the partner's substring kept in each row entry
                                    // (kCompact; kFast keeps them in `partners` instead)
    HugeVector<OffsetLine> lines;   // kCompact: ceil(2^bits / 60) lines
    HugeVector<uint32_t> wide;      // kCompact: 61 bounds per wide line
    HugeVector<uint32_t> bounds;    // kFast: rows of value v are [bounds[v], bounds[v + 1])
    HugeVector<uint32_t> rows;      // table rows sorted by substring value, each entry the row
                                    // number (low row_bits_ bits) and the partner bits above it;
                                    // empty for table 0, whose order the entries are stored in
    HugeVector<uint16_t> partners;  // kFast: the partner's substring of each entry of `rows`
                                    // (table 0: of each row)
    std::vector<uint32_t> masks;    // every bits-wide mask of up to two ones, by weight
  };
  // A dense family: rows [begin, end), every one within `radius` of centre.
  struct Family {
    Code256 centre;
    uint32_t radius = 0, begin = 0, end = 0;
  };

  static uint32_t Substring(const Code256& c, int start, int bits);
  // Sets every table's partner, partner_bits and masks, and row_bits_, from
  // layout_, the tables' layout and main_rows_ (so a loaded index needs no
  // more).
  void SetUpTables();
  // Stores the bucket bounds `offsets` (2^bits + 1 of them) in t: as lines
  // (kCompact) or as they are (kFast).
  void BuildLines(const std::vector<uint32_t>& offsets, Table* t) const;
  // Returns an empty string if t's lines (or bounds) describe a non-decreasing run of
  // bounds from 0 to rows, else what is wrong.
  static std::string CheckLines(const Table& t, uint32_t rows);

  HugeVector<Code256> codes_;
  HugeVector<uint64_t> ids_;
  Layout layout_ = Layout::kCompact;
  uint32_t main_rows_ = 0;  // rows [0, main_rows_) are in the tables; the rest in families_
  int row_bits_ = 1;        // bits of a row-list entry that hold the row number
  std::vector<Table> tables_;
  std::vector<Family> families_;
};

}  // namespace safeguard::index

#endif  // SAFEGUARD_INDEX_MIH_INDEX_H_
