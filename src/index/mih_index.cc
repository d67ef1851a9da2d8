// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.

#include "safeguard/index/mih_index.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "safeguard/index/flat_scan.h"

namespace safeguard::index {
namespace {

// A candidate costs a random access to its code; a scan reads codes in
// order. Past roughly this many candidates per code in the index, the scan
// is the faster of the two (measured in bench/index_bench.cc).
constexpr size_t kScanRatio = 16;
constexpr int kMinTables = 10;

// Number of values within Hamming distance r of a `bits`-wide value.
double BallSize(int bits, int r) {
  double total = 0, term = 1;  // C(bits, j)
  for (int j = 0; j <= r && j <= bits; ++j) {
    total += term;
    term = term * (bits - j) / (j + 1);
  }
  return total;
}

// Calls f(v ^ mask) for every mask of up to r set bits among the low `bits`.
template <class F>
void ForEachNeighbour(uint32_t v, int bits, int r, F f) {
  f(v);
  const uint64_t limit = uint64_t{1} << bits;
  for (int k = 1; k <= r && k <= bits; ++k) {
    // Gosper's hack: every `bits`-bit mask with k ones, in increasing order.
    uint64_t mask = (uint64_t{1} << k) - 1;
    while (mask < limit) {
      f(v ^ static_cast<uint32_t>(mask));
      const uint64_t c = mask & (~mask + 1);
      const uint64_t r2 = mask + c;
      mask = (((r2 ^ mask) >> 2) / c) | r2;
    }
  }
}

// A bucket to visit: rows[begin, end) of a table.
struct Range {
  uint32_t begin, end;
  int table;
};

}  // namespace

uint32_t MihIndex::Substring(const Code256& c, int start, int bits) {
  const int word = start >> 6, shift = start & 63;
  uint64_t v = c.w[word] >> shift;
  if (shift + bits > 64) v |= c.w[word + 1] << (64 - shift);
  return static_cast<uint32_t>(v & ((uint64_t{1} << bits) - 1));
}

void MihIndex::Build(std::span<const Code256> codes, std::span<const uint64_t> ids, int num_tables) {
  codes_.assign(codes.begin(), codes.end());
  ids_.assign(ids.begin(), ids.end());
  const size_t n = codes_.size();
  // At least 10 tables: a substring of 26 bits already needs a 256 MiB
  // offsets array.
  int m = num_tables;
  if (m <= 0) {
    const double log2n = std::log2(static_cast<double>(std::max<size_t>(n, 2)));
    m = static_cast<int>(std::ceil(256.0 / log2n));
  }
  m = std::clamp(m, kMinTables, 32);
  tables_.assign(static_cast<size_t>(m), Table());
  int start = 0;
  for (int k = 0; k < m; ++k) {
    Table& t = tables_[k];
    t.start = start;
    t.bits = 256 / m + (k < 256 % m ? 1 : 0);
    start += t.bits;
    // Counting sort of the rows by substring value.
    t.offsets.assign((size_t{1} << t.bits) + 1, 0);
    for (size_t i = 0; i < n; ++i) ++t.offsets[Substring(codes_[i], t.start, t.bits) + 1];
    for (size_t v = 1; v < t.offsets.size(); ++v) t.offsets[v] += t.offsets[v - 1];
    std::vector<uint32_t> next(t.offsets.begin(), t.offsets.end() - 1);
    if (k == 0) {
      // Store the entries themselves in table 0's order: its row list is
      // then the identity and need not be kept (4 bytes a hash saved).
      HugeVector<Code256> sorted_codes(n);
      HugeVector<uint64_t> sorted_ids(n);
      for (size_t i = 0; i < n; ++i) {
        const uint32_t pos = next[Substring(codes_[i], t.start, t.bits)]++;
        sorted_codes[pos] = codes_[i];
        sorted_ids[pos] = ids_[i];
      }
      codes_ = std::move(sorted_codes);
      ids_ = std::move(sorted_ids);
      continue;
    }
    t.rows.resize(n);
    for (size_t i = 0; i < n; ++i) {
      t.rows[next[Substring(codes_[i], t.start, t.bits)]++] = static_cast<uint32_t>(i);
    }
  }
}

size_t MihIndex::MemoryBytes() const {
  size_t bytes = codes_.capacity() * sizeof(Code256) + ids_.capacity() * sizeof(uint64_t);
  for (const Table& t : tables_) bytes += (t.offsets.capacity() + t.rows.capacity()) * sizeof(uint32_t);
  return bytes;
}

void MihIndex::ScanAll(const Code256& query, int radius, std::vector<uint32_t>* rows) const {
  ScanRange(codes_.data(), codes_.size(), query, radius, rows);
}

void MihIndex::RangeSearch(const Code256& query, int radius, std::vector<Match>* out,
                           SearchStats* stats) const {
  out->clear();
  SearchStats local;
  SearchStats& st = stats ? *stats : local;
  st = SearchStats();
  const size_t n = codes_.size();
  if (n == 0 || radius < 0) return;
  const int m = static_cast<int>(tables_.size());
  // Generalised pigeonhole: with r = m*q + a (0 <= a < m), a code within r
  // is within q of the query on one of substrings 0..a, or within q-1 on
  // one of the others.
  const int q = radius / m, a = radius - m * q;
  auto table_radius = [&](int k) { return k <= a ? q : q - 1; };

  // Per-thread scratch: a query allocates nothing once warm.
  thread_local std::vector<uint32_t> probe_values, rows;
  thread_local std::vector<uint8_t> probe_tables;
  thread_local std::vector<Range> ranges;
  rows.clear();
  double ball = 0;
  for (int k = 0; k < m; ++k) {
    if (table_radius(k) >= 0) ball += BallSize(tables_[k].bits, table_radius(k));
  }
  bool scan = ball * 4 > static_cast<double>(n);
  size_t candidates = 0;
  if (!scan) {
    probe_values.clear();
    probe_tables.clear();
    for (int k = 0; k < m; ++k) {
      const int r = table_radius(k);
      if (r < 0) continue;
      const Table& t = tables_[k];
      ForEachNeighbour(Substring(query, t.start, t.bits), t.bits, r, [&](uint32_t v) {
        probe_values.push_back(v);
        probe_tables.push_back(static_cast<uint8_t>(k));
      });
    }
    st.probes = probe_values.size();
    // Each probe reads a random entry of a large offsets array: a cache
    // miss. Prefetching a few probes ahead overlaps those misses.
    constexpr size_t kAhead = 16;
    const size_t np = probe_values.size();
    for (size_t i = 0; i < std::min(kAhead, np); ++i) {
      __builtin_prefetch(&tables_[probe_tables[i]].offsets[probe_values[i]]);
    }
    ranges.clear();
    for (size_t i = 0; i < np; ++i) {
      if (i + kAhead < np)
        __builtin_prefetch(&tables_[probe_tables[i + kAhead]].offsets[probe_values[i + kAhead]]);
      const Table& t = tables_[probe_tables[i]];
      const uint32_t b = t.offsets[probe_values[i]], e = t.offsets[probe_values[i] + 1];
      if (b != e) {
        ranges.push_back(Range{b, e, probe_tables[i]});
        candidates += e - b;
      }
    }
    // A query in a dense family of near-duplicates: the scan is cheaper.
    if (candidates * kScanRatio > n) scan = true;
  }
  if (scan) {
    st.scanned = true;
    st.candidates = n;
    ScanAll(query, radius, &rows);
  } else {
    st.candidates = candidates;
    // Buckets hold a handful of rows each, so prefetching within a bucket
    // never gets ahead. Gather every candidate (row, table) first, with the
    // next buckets' row lists prefetched, then verify the flat list with the
    // codes prefetched well ahead: many misses in flight instead of one.
    thread_local std::vector<uint32_t> cand_rows;
    thread_local std::vector<uint8_t> cand_tables;
    cand_rows.clear();
    cand_tables.clear();
    constexpr size_t kRangesAhead = 8;
    for (size_t ri = 0; ri < ranges.size(); ++ri) {
      if (ri + kRangesAhead < ranges.size()) {
        const Range& ahead = ranges[ri + kRangesAhead];
        if (ahead.table != 0) __builtin_prefetch(&tables_[ahead.table].rows[ahead.begin]);
      }
      const Range& rg = ranges[ri];
      // Table 0 keeps no row list: its rows are the positions themselves.
      const uint32_t* list = rg.table == 0 ? nullptr : tables_[rg.table].rows.data();
      for (uint32_t i = rg.begin; i < rg.end; ++i) {
        cand_rows.push_back(list ? list[i] : i);
        cand_tables.push_back(static_cast<uint8_t>(rg.table));
      }
    }
    constexpr size_t kCodesAhead = 16;
    const size_t nc = cand_rows.size();
    for (size_t i = 0; i < std::min(kCodesAhead, nc); ++i) __builtin_prefetch(&codes_[cand_rows[i]]);
    for (size_t ci = 0; ci < nc; ++ci) {
      if (ci + kCodesAhead < nc) __builtin_prefetch(&codes_[cand_rows[ci + kCodesAhead]]);
      const uint32_t row = cand_rows[ci];
      const Code256& c = codes_[row];
      if (Distance(c, query) > radius) continue;
      // Report each row once: from the first table whose probe finds it.
      bool earlier = false;
      for (int j = 0; j < cand_tables[ci] && !earlier; ++j) {
        const int rj = table_radius(j);
        if (rj < 0) continue;
        const Table& tj = tables_[j];
        earlier =
            __builtin_popcount(Substring(c, tj.start, tj.bits) ^ Substring(query, tj.start, tj.bits)) <= rj;
      }
      if (!earlier) rows.push_back(row);
    }
  }
  out->reserve(rows.size());
  for (uint32_t r : rows) out->push_back(Match{ids_[r], Distance(codes_[r], query)});
  std::sort(out->begin(), out->end(), [](const Match& x, const Match& y) { return x.id < y.id; });
}

}  // namespace safeguard::index

namespace safeguard::index {
namespace {

constexpr char kMagic[8] = {'S', 'G', 'M', 'I', 'H', 'X', '0', '1'};
constexpr uint32_t kFormatVersion = 1;

// FNV-1a over 64-bit words: cheap enough to run over a gigabyte at load,
// and catches truncation and torn writes (not an adversary: snapshot files
// are the platform's own).
struct Checksum {
  uint64_t h = 1469598103934665603ull;
  void Add(const void* data, size_t bytes) {
    const auto* p = static_cast<const uint8_t*>(data);
    size_t i = 0;
    for (; i + 8 <= bytes; i += 8) {
      uint64_t w;
      std::memcpy(&w, p + i, 8);
      h = (h ^ w) * 1099511628211ull;
    }
    for (; i < bytes; ++i) h = (h ^ p[i]) * 1099511628211ull;
  }
};

struct File {
  FILE* f = nullptr;
  ~File() {
    if (f) std::fclose(f);
  }
};

bool WriteAll(FILE* f, const void* data, size_t bytes, Checksum* sum) {
  if (bytes == 0) return true;  // an empty vector's data() may be null
  sum->Add(data, bytes);
  return std::fwrite(data, 1, bytes, f) == bytes;
}

bool ReadAll(FILE* f, void* data, size_t bytes, Checksum* sum) {
  if (bytes == 0) return true;  // an empty vector's data() may be null
  if (std::fread(data, 1, bytes, f) != bytes) return false;
  sum->Add(data, bytes);
  return true;
}

}  // namespace

Status MihIndex::Save(const std::string& path) const {
  const std::string tmp = path + ".tmp";
  File out;
  out.f = std::fopen(tmp.c_str(), "wb");
  if (!out.f) return Status::IoError(tmp + ": cannot create: " + std::strerror(errno));
  Checksum sum;
  const uint64_t header[3] = {kFormatVersion, codes_.size(), tables_.size()};
  bool ok = std::fwrite(kMagic, 1, sizeof(kMagic), out.f) == sizeof(kMagic) &&
            WriteAll(out.f, header, sizeof(header), &sum);
  for (const Table& t : tables_) {
    const uint32_t layout[2] = {static_cast<uint32_t>(t.start), static_cast<uint32_t>(t.bits)};
    ok = ok && WriteAll(out.f, layout, sizeof(layout), &sum);
  }
  ok = ok && WriteAll(out.f, codes_.data(), codes_.size() * sizeof(Code256), &sum) &&
       WriteAll(out.f, ids_.data(), ids_.size() * sizeof(uint64_t), &sum);
  for (const Table& t : tables_) {
    ok = ok && WriteAll(out.f, t.offsets.data(), t.offsets.size() * sizeof(uint32_t), &sum) &&
         WriteAll(out.f, t.rows.data(), t.rows.size() * sizeof(uint32_t), &sum);
  }
  ok = ok && std::fwrite(&sum.h, 1, sizeof(sum.h), out.f) == sizeof(sum.h);
  ok = ok && std::fflush(out.f) == 0 && fsync(fileno(out.f)) == 0;
  std::fclose(out.f);
  out.f = nullptr;
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return Status::IoError(path + ": writing the index snapshot failed: " + std::strerror(errno));
  }
  return Status::Ok();
}

Status MihIndex::Load(const std::string& path) {
  codes_.clear();
  ids_.clear();
  tables_.clear();
  File in;
  in.f = std::fopen(path.c_str(), "rb");
  if (!in.f) {
    if (errno == ENOENT) return Status::NotFound(path + ": no index snapshot");
    return Status::IoError(path + ": cannot open: " + std::strerror(errno));
  }
  auto corrupt = [&](const std::string& why) {
    codes_.clear();
    ids_.clear();
    tables_.clear();
    return Status::Corrupt(path + ": not a valid index snapshot: " + why);
  };
  char magic[8];
  Checksum sum;
  uint64_t header[3];
  if (std::fread(magic, 1, 8, in.f) != 8 || std::memcmp(magic, kMagic, 8) != 0) return corrupt("bad magic");
  if (!ReadAll(in.f, header, sizeof(header), &sum)) return corrupt("truncated header");
  if (header[0] != kFormatVersion) return corrupt("format version " + std::to_string(header[0]));
  const uint64_t n = header[1], m = header[2];
  if (n >= (uint64_t{1} << 32) || m < 1 || m > 64) return corrupt("impossible sizes");
  // The file must be as long as the header says before anything is allocated.
  struct stat st;
  if (fstat(fileno(in.f), &st) != 0) return Status::IoError(path + ": cannot stat");
  uint64_t expected = 8 + sizeof(header) + m * 8 + n * (sizeof(Code256) + 8) + 8;
  tables_.resize(m);
  int next_start = 0;
  for (uint64_t k = 0; k < m; ++k) {
    uint32_t layout[2];
    if (!ReadAll(in.f, layout, sizeof(layout), &sum)) return corrupt("truncated table layout");
    Table& t = tables_[k];
    t.start = static_cast<int>(layout[0]);
    t.bits = static_cast<int>(layout[1]);
    if (t.start != next_start || t.bits < 1 || t.bits > 26 || t.start + t.bits > 256)
      return corrupt("table layout");
    next_start += t.bits;
    expected += ((uint64_t{1} << t.bits) + 1) * 4 + (k == 0 ? 0 : n * 4);
  }
  if (next_start != 256) return corrupt("tables do not cover 256 bits");
  if (static_cast<uint64_t>(st.st_size) != expected) return corrupt("file size does not match its header");
  codes_.resize(n);
  ids_.resize(n);
  if (!ReadAll(in.f, codes_.data(), n * sizeof(Code256), &sum) || !ReadAll(in.f, ids_.data(), n * 8, &sum)) {
    return corrupt("truncated");
  }
  for (uint64_t k = 0; k < m; ++k) {
    Table& t = tables_[k];
    t.offsets.resize((size_t{1} << t.bits) + 1);
    t.rows.resize(k == 0 ? 0 : n);
    if (!ReadAll(in.f, t.offsets.data(), t.offsets.size() * 4, &sum) ||
        !ReadAll(in.f, t.rows.data(), t.rows.size() * 4, &sum)) {
      return corrupt("truncated");
    }
    // Offsets must be a non-decreasing run from 0 to n and rows in range, or
    // a search could read out of bounds.
    if (t.offsets.front() != 0 || t.offsets.back() != n) return corrupt("offsets");
    for (size_t v = 1; v < t.offsets.size(); ++v) {
      if (t.offsets[v] < t.offsets[v - 1]) return corrupt("offsets");
    }
    for (uint32_t r : t.rows) {
      if (r >= n) return corrupt("rows");
    }
  }
  uint64_t stored;
  if (std::fread(&stored, 1, 8, in.f) != 8 || stored != sum.h) return corrupt("checksum mismatch");
  return Status::Ok();
}

}  // namespace safeguard::index
