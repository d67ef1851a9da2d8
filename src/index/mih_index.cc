// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.

#include "safeguard/index/mih_index.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <thread>

#include "safeguard/index/flat_scan.h"

namespace safeguard::index {
namespace {

// A candidate costs a random access to its code; a scan reads codes in
// order. Past roughly this many candidates per code in the index, the scan
// is the faster of the two (measured in bench/index_bench.cc).
constexpr size_t kScanRatio = 16;
constexpr int kMinTables = 10, kMaxTables = 32;
constexpr int kFastTables = 16;  // kFast: 16-bit substrings, whose values fit a uint16
// kFast: lines of a bucket's partner list prefetched, and how many buckets
// ahead (bench/index_bench.cc at 10M codes: 153 entries, 306 bytes a bucket).
constexpr int kFastPrefetchLines = 6;
constexpr size_t kBucketsAhead = 8;

// Dense families (see the header). Below kMinFamilyIndex entries nothing is
// set aside: a whole scan is cheap. A family must hold at least
// max(kMinFamilyRows, n / kFamilyShare) rows: smaller ones cost a query near
// them only a few thousand candidates in the tables. Members are within
// kFamilyRadius of the centre; a random code is 128 +- 8 away, so a query
// far from a family (every query that is not a near-duplicate of it) is
// more than r + kFamilyRadius from its centre and never scans it.
constexpr size_t kMinFamilyIndex = size_t{1} << 16;
constexpr size_t kMinFamilyRows = 4096;
constexpr size_t kFamilyShare = 512;
constexpr int kFamilyRadius = 64;
constexpr size_t kMaxFamilies = 64;
constexpr size_t kMaxFamilyCentres = 128;  // candidates, before counting members
constexpr size_t kBucketsPerRound = 64;
constexpr int kFamilyRounds = 16;
constexpr uint8_t kNoFamily = 0xff;

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

// A bucket to visit: rows[begin, end) of a table, whose substring value is
// `dist` from the query's.
struct Range {
  uint32_t begin, end, dist;
};

uint16_t Word16(const Code256& c, int s) { return static_cast<uint16_t>(c.w[s >> 2] >> (16 * (s & 3))); }

// Finds dense families in codes: returns their centres, largest first, and
// sets family_of[i] to the family of code i (kNoFamily for none).
std::vector<Code256> FindFamilies(std::span<const Code256> codes, std::vector<uint8_t>* family_of) {
  const size_t n = codes.size();
  family_of->assign(n, kNoFamily);
  if (n < kMinFamilyIndex) return {};
  // Centres are found on an evenly spaced sample: a family big enough to
  // keep (n/512 members) has ~2,000 codes in it, and rounds over the sample
  // are cheap. Each round takes the values of the 16 disjoint 16-bit
  // substrings that far more of the not-yet-claimed codes share than chance
  // allows (mean + 8 sd), the bitwise majority of each such bucket as a
  // centre, and claims the codes near the new centres, so the next round
  // sees the next families instead of the same large family again through
  // its many near-centre buckets.
  const size_t sample_size = std::min<size_t>(n, size_t{1} << 20);
  std::vector<Code256> sample(sample_size);
  for (size_t i = 0; i < sample_size; ++i) sample[i] = codes[i * n / sample_size];
  std::vector<uint8_t> claimed(sample_size, 0);
  std::vector<Code256> centres;
  std::vector<uint32_t> hist(16 * 65536);
  std::vector<int16_t> slot(16 * 65536, -1);
  std::vector<uint32_t> hits;
  for (int round = 0; round < kFamilyRounds && centres.size() < kMaxFamilyCentres; ++round) {
    std::fill(hist.begin(), hist.end(), 0);
    size_t free_codes = 0;
    for (size_t i = 0; i < sample_size; ++i) {
      if (claimed[i]) continue;
      ++free_codes;
      for (int s = 0; s < 16; ++s) ++hist[s * 65536 + Word16(sample[i], s)];
    }
    const double mean = static_cast<double>(free_codes) / 65536;
    const double hot = mean + 8 * std::sqrt(mean) + 32;
    std::vector<std::pair<uint32_t, uint32_t>> buckets;  // (count, s * 65536 + value)
    for (uint32_t k = 0; k < hist.size(); ++k) {
      if (hist[k] >= hot) buckets.emplace_back(hist[k], k);
    }
    if (buckets.empty()) break;
    std::sort(buckets.begin(), buckets.end(), std::greater<>());
    if (buckets.size() > kBucketsPerRound) buckets.resize(kBucketsPerRound);
    for (size_t b = 0; b < buckets.size(); ++b) slot[buckets[b].second] = static_cast<int16_t>(b);
    std::vector<std::array<uint32_t, 256>> ones(buckets.size());
    for (auto& o : ones) o.fill(0);
    for (size_t i = 0; i < sample_size; ++i) {
      if (claimed[i]) continue;
      for (int s = 0; s < 16; ++s) {
        const int b = slot[s * 65536 + Word16(sample[i], s)];
        if (b < 0) continue;
        for (int w = 0; w < 4; ++w) {
          for (uint64_t x = sample[i].w[w]; x != 0; x &= x - 1) ++ones[b][w * 64 + __builtin_ctzll(x)];
        }
      }
    }
    for (const auto& bucket : buckets) slot[bucket.second] = -1;
    // One centre per family: a bucket whose centre is near a known one is
    // the same family seen through another substring or a neighbour value.
    const size_t known = centres.size();
    for (size_t b = 0; b < buckets.size() && centres.size() < kMaxFamilyCentres; ++b) {
      Code256 centre;
      for (int k = 0; k < 256; ++k) {
        if (2 * ones[b][k] > buckets[b].first) centre.w[k >> 6] |= uint64_t{1} << (k & 63);
      }
      const bool seen = std::any_of(centres.begin(), centres.end(),
                                    [&](const Code256& c) { return Distance(c, centre) <= kFamilyRadius; });
      if (!seen) centres.push_back(centre);
    }
    if (centres.size() == known) break;
    for (size_t f = known; f < centres.size(); ++f) {
      hits.clear();
      ScanRange(sample.data(), sample_size, centres[f], kFamilyRadius, &hits);
      for (uint32_t h : hits) claimed[h] = 1;
    }
  }
  // Only centres whose share of the sample promises a family worth setting
  // aside (half the threshold, for sampling error) go on to the full pass,
  // which costs a distance per code and centre.
  const size_t min_rows = std::max(kMinFamilyRows, n / kFamilyShare);
  {
    std::vector<uint8_t> sample_family(sample_size, kNoFamily);
    std::vector<size_t> sample_count(centres.size(), 0);
    for (size_t f = 0; f < centres.size(); ++f) {
      hits.clear();
      ScanRange(sample.data(), sample_size, centres[f], kFamilyRadius, &hits);
      for (uint32_t h : hits) {
        if (sample_family[h] == kNoFamily) {
          sample_family[h] = static_cast<uint8_t>(f);
          ++sample_count[f];
        }
      }
    }
    std::vector<size_t> order(centres.size());
    for (size_t f = 0; f < order.size(); ++f) order[f] = f;
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return sample_count[a] > sample_count[b]; });
    std::vector<Code256> promising;
    for (size_t f : order) {
      if (promising.size() == kMaxFamilies + kMaxFamilies / 4) break;
      if (2.0 * static_cast<double>(sample_count[f]) * static_cast<double>(n) /
              static_cast<double>(sample_size) >=
          static_cast<double>(min_rows)) {
        promising.push_back(centres[f]);
      }
    }
    centres.swap(promising);
  }
  if (centres.empty()) return {};
  // Members: codes within kFamilyRadius of a centre (the first such), found
  // block by block so each block is read from memory once.
  constexpr size_t kBlock = 4096;
  for (size_t b0 = 0; b0 < n; b0 += kBlock) {
    const size_t len = std::min(kBlock, n - b0);
    for (size_t f = 0; f < centres.size(); ++f) {
      hits.clear();
      ScanRange(codes.data() + b0, len, centres[f], kFamilyRadius, &hits);
      for (uint32_t h : hits) {
        if ((*family_of)[b0 + h] == kNoFamily) (*family_of)[b0 + h] = static_cast<uint8_t>(f);
      }
    }
  }
  // Keep the largest families that are big enough to matter.
  std::vector<size_t> size(centres.size(), 0);
  for (uint8_t f : *family_of) {
    if (f != kNoFamily) ++size[f];
  }
  std::vector<size_t> order(centres.size());
  for (size_t f = 0; f < order.size(); ++f) order[f] = f;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return size[a] > size[b]; });
  std::vector<uint8_t> renumber(centres.size(), kNoFamily);
  std::vector<Code256> kept;
  for (size_t f : order) {
    if (size[f] < min_rows || kept.size() == kMaxFamilies) break;
    renumber[f] = static_cast<uint8_t>(kept.size());
    kept.push_back(centres[f]);
  }
  for (uint8_t& f : *family_of) {
    if (f != kNoFamily) f = renumber[f];
  }
  return kept;
}

}  // namespace

uint32_t MihIndex::Substring(const Code256& c, int start, int bits) {
  const int word = start >> 6, shift = start & 63;
  uint64_t v = c.w[word] >> shift;
  if (shift + bits > 64) v |= c.w[word + 1] << (64 - shift);
  return static_cast<uint32_t>(v & ((uint64_t{1} << bits) - 1));
}

void MihIndex::SetUpTables() {
  row_bits_ = std::max(1, static_cast<int>(std::bit_width(main_rows_ == 0 ? 0u : main_rows_ - 1)));
  const int m = static_cast<int>(tables_.size());
  for (int k = 0; k < m; ++k) {
    Table& t = tables_[k];
    if (layout_ == Layout::kFast) {
      // Pairs 0-1, 2-3, ...; the partner's substring is in `partners`.
      t.partner = (k ^ 1) < m ? (k ^ 1) : -1;
      t.partner_bits = 0;
    } else {
      t.partner = k == 0 ? -1 : (k % 2 == 1 ? (k + 1 < m ? k + 1 : -1) : k - 1);
      t.partner_bits = t.partner < 0 ? 0 : std::min(32 - row_bits_, tables_[t.partner].bits);
    }
    t.masks.clear();
    ForEachNeighbour(0, t.bits, 2, [&](uint32_t mask) { t.masks.push_back(mask); });
  }
}

void MihIndex::BuildLines(const std::vector<uint32_t>& offsets, Table* t) const {
  if (layout_ == Layout::kFast) {
    t->bounds.assign(offsets.begin(), offsets.end());
    return;
  }
  const size_t values = offsets.size() - 1;
  const size_t num_lines = (values + kLineValues - 1) / kLineValues;
  t->lines.resize(num_lines);
  t->wide.clear();
  for (size_t g = 0; g < num_lines; ++g) {
    const size_t first = g * kLineValues;
    auto bound = [&](size_t v) { return offsets[std::min(v, values)]; };
    OffsetLine& line = t->lines[g];
    if (bound(first + kLineValues) - bound(first) <= 255) {
      line.base = bound(first);
      for (uint32_t i = 0; i < kLineValues; ++i)
        line.end[i] = static_cast<uint8_t>(bound(first + i + 1) - line.base);
    } else {
      line.base = kWideLine | static_cast<uint32_t>(t->wide.size());
      std::memset(line.end, 0, sizeof(line.end));
      for (uint32_t i = 0; i <= kLineValues; ++i) t->wide.push_back(bound(first + i));
    }
  }
}

void MihIndex::Build(std::span<const Code256> codes, std::span<const uint64_t> ids,
                     const BuildOptions& options) {
  const size_t n = codes.size();
  std::vector<uint8_t> family_of;
  std::vector<Code256> centres;
  if (options.families)
    centres = FindFamilies(codes, &family_of);
  else
    family_of.assign(n, kNoFamily);
  size_t main = 0;
  std::vector<size_t> family_size(centres.size(), 0);
  for (uint8_t f : family_of) {
    if (f == kNoFamily)
      ++main;
    else
      ++family_size[f];
  }
  main_rows_ = static_cast<uint32_t>(main);
  layout_ = options.layout;
  int m = layout_ == Layout::kFast ? kFastTables : options.num_tables;
  if (m <= 0) {
    const double log2n = std::log2(static_cast<double>(std::max<size_t>(main, 2)));
    m = static_cast<int>(std::lround(256.0 / log2n));
  }
  m = std::clamp(m, kMinTables, kMaxTables);
  tables_.assign(static_cast<size_t>(m), Table());
  int start = 0;
  for (int k = 0; k < m; ++k) {
    tables_[k].start = start;
    tables_[k].bits = 256 / m + (k < 256 % m ? 1 : 0);
    start += tables_[k].bits;
  }
  SetUpTables();

  // Row order: table rows counting-sorted by table 0's substring (so that
  // table needs no row list), then the families one after another.
  families_.assign(centres.size(), Family());
  uint32_t next_row = main_rows_;
  for (size_t f = 0; f < centres.size(); ++f) {
    families_[f].centre = centres[f];
    families_[f].begin = next_row;
    next_row += static_cast<uint32_t>(family_size[f]);
    families_[f].end = next_row;
  }
  std::vector<uint32_t> offsets;
  {
    const Table& t0 = tables_[0];
    offsets.assign((size_t{1} << t0.bits) + 1, 0);
    for (size_t i = 0; i < n; ++i) {
      if (family_of[i] == kNoFamily) ++offsets[Substring(codes[i], t0.start, t0.bits) + 1];
    }
    for (size_t v = 1; v < offsets.size(); ++v) offsets[v] += offsets[v - 1];
    std::vector<uint32_t> next(offsets.begin(), offsets.end() - 1);
    std::vector<uint32_t> family_next(families_.size());
    for (size_t f = 0; f < families_.size(); ++f) family_next[f] = families_[f].begin;
    codes_.resize(n);
    ids_.resize(n);
    for (size_t i = 0; i < n; ++i) {
      const uint8_t f = family_of[i];
      const uint32_t row = f == kNoFamily ? next[Substring(codes[i], t0.start, t0.bits)]++ : family_next[f]++;
      codes_[row] = codes[i];
      ids_[row] = ids[i];
      if (f != kNoFamily) {
        families_[f].radius = std::max<uint32_t>(families_[f].radius, Distance(codes[i], centres[f]));
      }
    }
    BuildLines(offsets, &tables_[0]);
    if (layout_ == Layout::kFast) {
      const Table& p = tables_[tables_[0].partner];
      tables_[0].partners.resize(main_rows_);
      for (uint32_t i = 0; i < main_rows_; ++i)
        tables_[0].partners[i] = static_cast<uint16_t>(Substring(codes_[i], p.start, p.bits));
    }
  }
  // The other tables only read the rows: build them in parallel (each is a
  // counting sort over every row, memory-bound; two cores nearly halve a
  // 10M rebuild).
  std::atomic<int> next_table{1};
  auto build_tables = [&] {
    std::vector<uint32_t> off, next;
    for (int k = next_table++; k < m; k = next_table++) {
      Table& t = tables_[k];
      off.assign((size_t{1} << t.bits) + 1, 0);
      for (uint32_t i = 0; i < main_rows_; ++i) ++off[Substring(codes_[i], t.start, t.bits) + 1];
      for (size_t v = 1; v < off.size(); ++v) off[v] += off[v - 1];
      next.assign(off.begin(), off.end() - 1);
      t.rows.resize(main_rows_);
      // The last table has no partner when m is even: its entries are row numbers only.
      const int p_start = t.partner < 0 ? 0 : tables_[t.partner].start;
      const int p_bits = t.partner < 0 ? 1 : tables_[t.partner].bits;
      const uint32_t keep = (uint32_t{1} << t.partner_bits) - 1;
      if (layout_ == Layout::kFast) {
        t.partners.resize(main_rows_);
        for (uint32_t i = 0; i < main_rows_; ++i) {
          const uint32_t pos = next[Substring(codes_[i], t.start, t.bits)]++;
          t.rows[pos] = i;
          t.partners[pos] = static_cast<uint16_t>(Substring(codes_[i], p_start, p_bits));
        }
      } else {
        for (uint32_t i = 0; i < main_rows_; ++i) {
          const uint32_t partner = t.partner_bits == 0 ? 0 : Substring(codes_[i], p_start, p_bits) & keep;
          t.rows[next[Substring(codes_[i], t.start, t.bits)]++] = i | partner << row_bits_;
        }
      }
      BuildLines(off, &t);
    }
  };
  const unsigned workers = std::clamp(std::thread::hardware_concurrency(), 1u, 4u);
  std::vector<std::thread> threads;
  for (unsigned w = 1; w < workers; ++w) threads.emplace_back(build_tables);
  build_tables();
  for (std::thread& t : threads) t.join();
}

namespace {

// Sums one byte of every 4 KiB page of [data, data + bytes).
uint64_t TouchPages(const void* data, size_t bytes) {
  constexpr size_t kPage = 4096;
  const auto* p = static_cast<const volatile uint8_t*>(data);
  uint64_t sum = 0;
  for (size_t i = 0; i < bytes; i += kPage) sum += p[i];
  return sum;
}

}  // namespace

uint64_t MihIndex::Prefault() const {
  uint64_t sum = TouchPages(codes_.data(), codes_.size() * sizeof(Code256));
  sum += TouchPages(ids_.data(), ids_.size() * sizeof(uint64_t));
  for (const Table& t : tables_) {
    sum += TouchPages(t.lines.data(), t.lines.size() * sizeof(OffsetLine));
    sum += TouchPages(t.wide.data(), t.wide.size() * sizeof(uint32_t));
    sum += TouchPages(t.bounds.data(), t.bounds.size() * sizeof(uint32_t));
    sum += TouchPages(t.rows.data(), t.rows.size() * sizeof(uint32_t));
    sum += TouchPages(t.partners.data(), t.partners.size() * sizeof(uint16_t));
  }
  return sum;
}

size_t MihIndex::MemoryBytes() const {
  size_t bytes = codes_.capacity() * sizeof(Code256) + ids_.capacity() * sizeof(uint64_t) +
                 families_.capacity() * sizeof(Family);
  for (const Table& t : tables_) {
    bytes += t.lines.capacity() * sizeof(OffsetLine) +
             (t.wide.capacity() + t.bounds.capacity() + t.rows.capacity()) * sizeof(uint32_t) +
             t.partners.capacity() * sizeof(uint16_t);
  }
  return bytes;
}

// The distance checks are most of a search's instructions: without POPCNT
// (absent from baseline x86-64) each would be a dozen bit-trick steps.
// Not with clang 14: it emits the ifunc resolver only in translation units
// that call the function, so callers elsewhere fail to link, and under TSan
// the resolver is instrumented and crashes before the runtime starts.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("popcnt", "default")))
#endif
void MihIndex::RangeSearch(const Code256& query, int radius, std::vector<Match>* out,
                           SearchStats* stats) const {
  out->clear();
  SearchStats local;
  SearchStats& st = stats ? *stats : local;
  st = SearchStats();
  if (codes_.empty() || radius < 0) return;
  // Per-thread scratch: a query allocates nothing once warm.
  thread_local std::vector<uint32_t> probes, rows, cand_rows;
  thread_local std::vector<const void*> probe_lines;  // each probe's line (kFast: its bounds)
  thread_local std::vector<Range> ranges;
  thread_local std::vector<const void*> range_rows;
  thread_local std::vector<const uint32_t*> entries;  // kFast: kept entries of tables 1..m-1
  thread_local std::vector<uint32_t> masks;           // kFast: a bit per bucket entry
  rows.clear();

  // Families: skipped whole unless the query is within radius + R of the
  // centre (triangle inequality), else scanned in order.
  for (const Family& f : families_) {
    if (Distance(query, f.centre) > radius + static_cast<int>(f.radius)) continue;
    ++st.families_scanned;
    st.family_rows += f.end - f.begin;
    const size_t before = rows.size();
    ScanRange(codes_.data() + f.begin, f.end - f.begin, query, radius, &rows);
    for (size_t i = before; i < rows.size(); ++i) rows[i] += f.begin;
  }

  const size_t n = main_rows_;
  const int m = static_cast<int>(tables_.size());
  // Generalised pigeonhole: with r = m*q + a (0 <= a < m), a code within r
  // is within q of the query on one of substrings 0..a, or within q-1 on
  // one of the others (the radii t_k sum, each plus one, to r + 1).
  const int q = radius / m, a = radius - m * q;
  auto table_radius = [&](int k) { return k <= a ? q : q - 1; };
  double ball = 0;
  for (int k = 0; k < m; ++k) {
    if (table_radius(k) >= 0) ball += BallSize(tables_[k].bits, table_radius(k));
  }
  bool scan = n != 0 && ball * 4 > static_cast<double>(n);
  size_t candidates = 0;
  uint32_t query_sub[kMaxTables];
  for (int k = 0; k < m; ++k) query_sub[k] = Substring(query, tables_[k].start, tables_[k].bits);
  // Per table: the first probe and the first range (tables without probes
  // have empty spans), then the end of both.
  size_t probe_start[kMaxTables + 1] = {}, range_start[kMaxTables + 1] = {};
  if (n != 0 && !scan) {
    // Every substring value within t_k of the query's, table by table:
    // the query's value XOR each mask of up to t_k ones, with the line
    // that holds its bucket bounds.
    probes.clear();
    probe_lines.clear();
    for (int k = 0; k < m; ++k) {
      probe_start[k] = probes.size();
      const int r = table_radius(k);
      if (r < 0) continue;
      const Table& t = tables_[k];
      const uint32_t v = query_sub[k];
      if (r <= 2) {
        const size_t count = static_cast<size_t>(BallSize(t.bits, r));
        for (size_t j = 0; j < count; ++j) probes.push_back(v ^ t.masks[j]);
      } else {
        ForEachNeighbour(v, t.bits, r, [&](uint32_t x) { probes.push_back(x); });
      }
      if (layout_ == Layout::kFast) {
        for (size_t i = probe_start[k]; i < probes.size(); ++i) probe_lines.push_back(&t.bounds[probes[i]]);
      } else {
        for (size_t i = probe_start[k]; i < probes.size(); ++i)
          probe_lines.push_back(&t.lines[probes[i] / kLineValues]);
      }
    }
    probe_start[m] = probes.size();
    const size_t np = probes.size();
    st.probes = np;
    // Each probe reads a random line of a large array: a cache miss.
    // Prefetching a few probes ahead overlaps those misses. The writes are
    // without branches on the bucket's size: a third of the buckets are
    // empty, at random, and mispredictions would cost more than the writes.
    // Each range keeps where its bucket's rows are (table 0: its codes) for
    // the next loop to prefetch.
    constexpr size_t kAhead = 64;
    for (size_t i = 0; i < std::min(kAhead, np); ++i) __builtin_prefetch(probe_lines[i]);
    ranges.resize(np);
    range_rows.resize(np);
    size_t nr = 0;
    for (int k = 0; k < m; ++k) {
      range_start[k] = nr;
      const Table& t = tables_[k];
      const uint32_t v0 = query_sub[k];
      const bool fast = layout_ == Layout::kFast;
      for (size_t i = probe_start[k]; i < probe_start[k + 1]; ++i) {
        if (i + kAhead < np) __builtin_prefetch(probe_lines[i + kAhead]);
        const uint32_t v = probes[i], slot = v % kLineValues;
        uint32_t b, e;
        if (fast) {
          const uint32_t* bound = static_cast<const uint32_t*>(probe_lines[i]);
          b = bound[0];
          e = bound[1];
        } else {
          const OffsetLine& line = *static_cast<const OffsetLine*>(probe_lines[i]);
          if (line.base & kWideLine) [[unlikely]] {
            const uint32_t* w = t.wide.data() + (line.base & ~kWideLine);
            b = w[slot];
            e = w[slot + 1];
          } else {
            b = line.base + (slot == 0 ? 0u : line.end[slot - 1]);
            e = line.base + line.end[slot];
          }
        }
        ranges[nr] = Range{b, e, static_cast<uint32_t>(std::popcount(v ^ v0))};
        range_rows[nr] = fast     ? static_cast<const void*>(t.partners.data() + b)
                         : k == 0 ? static_cast<const void*>(codes_.data() + b)
                                  : t.rows.data() + b;
        nr += b != e;
        candidates += e - b;
      }
    }
    range_start[m] = nr;
    // A query in a dense region of the tables: the scan is cheaper.
    if (candidates * kScanRatio > n) scan = true;
  }
  if (scan) {
    st.scanned = true;
    st.candidates = n;
    ScanRange(codes_.data(), n, query, radius, &rows);
  } else if (n != 0) {
    // Compact buckets hold a row or two each, so prefetching within a
    // bucket never gets ahead. Gather every candidate row first, with the
    // next buckets' row lists prefetched, then verify the flat list with the
    // codes prefetched well ahead: many misses in flight instead of one.
    // Grown, never shrunk: resizing would zero what a query is about to overwrite.
    if (cand_rows.size() < candidates) cand_rows.resize(candidates);
    size_t nc = 0, ne = 0;
    const uint32_t row_mask = (uint32_t{1} << row_bits_) - 1;  // row_bits_ <= 31: fewer than 2^31 rows
    const size_t nr = range_start[m];
    auto limit_of = [&](int k) { return table_radius(k) + table_radius(tables_[k].partner) + 1; };
    if (layout_ == Layout::kFast) {
      // The pair bound on the whole partner substring (see the header),
      // in two passes. First a mask per 32 entries of every bucket, whose
      // steps do not wait on one another, so the reads of many buckets
      // are in flight at once; then the few kept entries.
      const size_t max_masks = candidates / 32 + nr;
      // A bucket's first lines (about all of them at 10M codes: the
      // hardware prefetcher would start too late on lists this short), a
      // few buckets ahead. Written out in the loop: through a lambda (that
      // GCC 12 does not inline here) the same prefetches left the search
      // half again as slow.
      const void* const* lists = range_rows.data();
      for (size_t ri = 0; ri < std::min(kBucketsAhead, nr); ++ri) {
        const char* next = static_cast<const char*>(lists[ri]);
        for (int l = 0; l < kFastPrefetchLines; ++l) __builtin_prefetch(next + 64 * l);
      }
      if (masks.size() < max_masks) masks.resize(max_masks);
      size_t nm = 0;
      for (int k = 0; k < m; ++k) {
        const Table& t = tables_[k];
        const uint16_t want = static_cast<uint16_t>(query_sub[t.partner]);
        const int limit = limit_of(k);
        for (size_t ri = range_start[k]; ri < range_start[k + 1]; ++ri) {
          const Range& rg = ranges[ri];
          const uint16_t* start = t.partners.data() + rg.begin;
          if (ri + kBucketsAhead < nr) {
            const char* next = static_cast<const char*>(lists[ri + kBucketsAhead]);
            for (int l = 0; l < kFastPrefetchLines; ++l) __builtin_prefetch(next + 64 * l);
          }
          PartnerMasks(start, rg.end - rg.begin, want, limit - static_cast<int>(rg.dist), masks.data() + nm);
          nm += (rg.end - rg.begin + 31) / 32;
        }
      }
      // Table 0's entries are the rows themselves; the others' rows are
      // read after this loop.
      if (entries.size() < candidates) entries.resize(candidates);
      nm = 0;
      for (int k = 0; k < m; ++k) {
        const uint32_t* list = tables_[k].rows.data();
        for (size_t ri = range_start[k]; ri < range_start[k + 1]; ++ri) {
          const Range& rg = ranges[ri];
          for (uint32_t base = rg.begin; base < rg.end; base += 32) {
            for (uint32_t bits = masks[nm++]; bits != 0; bits &= bits - 1) {
              const uint32_t i = base + static_cast<uint32_t>(std::countr_zero(bits));
              if (k == 0)
                cand_rows[nc++] = i;
              else
                entries[ne++] = list + i;
            }
          }
        }
      }
    } else {
      constexpr size_t kRangesAhead = 32;
      for (size_t ri = 0; ri < std::min(kRangesAhead, nr); ++ri) __builtin_prefetch(range_rows[ri]);
      for (int k = 0; k < m; ++k) {
        const Table& t = tables_[k];
        const uint32_t* list = t.rows.data();
        // The pair bound: distance on the partner's kept bits at most
        // t_a + t_b + 1 - d_a (see the header); table 0 keeps no row list
        // (its rows are the positions themselves) and no partner bits.
        const bool filter = t.partner_bits != 0;
        const int limit = filter ? limit_of(k) : 0;
        const uint32_t want = filter ? query_sub[t.partner] & ((uint32_t{1} << t.partner_bits) - 1) : 0;
        for (size_t ri = range_start[k]; ri < range_start[k + 1]; ++ri) {
          if (ri + kRangesAhead < nr) __builtin_prefetch(range_rows[ri + kRangesAhead]);
          const Range& rg = ranges[ri];
          if (k == 0) {
            for (uint32_t i = rg.begin; i < rg.end; ++i) cand_rows[nc++] = i;
          } else if (!filter) {
            for (uint32_t i = rg.begin; i < rg.end; ++i) cand_rows[nc++] = list[i] & row_mask;
          } else {
            // Kept without a branch: the test passes at random.
            const int left = limit - static_cast<int>(rg.dist);
            for (uint32_t i = rg.begin; i < rg.end; ++i) {
              const uint32_t entry = list[i];
              cand_rows[nc] = entry & row_mask;
              nc += std::popcount((entry >> row_bits_) ^ want) <= left;
            }
          }
        }
      }
    }
    // kFast: the kept entries' row numbers, a random read each, prefetched ahead.
    constexpr size_t kEntriesAhead = 32;
    for (size_t j = 0; j < std::min(kEntriesAhead, ne); ++j) __builtin_prefetch(entries[j]);
    for (size_t j = 0; j < ne; ++j) {
      if (j + kEntriesAhead < ne) __builtin_prefetch(entries[j + kEntriesAhead]);
      cand_rows[nc++] = *entries[j];
    }
    st.candidates = nc;
    st.filtered = candidates - nc;
    constexpr size_t kCodesAhead = 64;
    for (size_t i = 0; i < std::min(kCodesAhead, nc); ++i) __builtin_prefetch(&codes_[cand_rows[i]]);
    for (size_t ci = 0; ci < nc; ++ci) {
      if (ci + kCodesAhead < nc) __builtin_prefetch(&codes_[cand_rows[ci + kCodesAhead]]);
      const uint32_t row = cand_rows[ci];
      if (Distance(codes_[row], query) <= radius) rows.push_back(row);
    }
    // A row near the query on several substrings is found by several
    // probes: report it once.
    std::sort(rows.begin(), rows.end());
    rows.erase(std::unique(rows.begin(), rows.end()), rows.end());
  }
  out->reserve(rows.size());
  for (uint32_t r : rows) out->push_back(Match{ids_[r], Distance(codes_[r], query)});
  std::sort(out->begin(), out->end(), [](const Match& x, const Match& y) { return x.id < y.id; });
}

}  // namespace safeguard::index

namespace safeguard::index {
namespace {

constexpr char kMagic[8] = {'S', 'G', 'M', 'I', 'H', 'X', '0', '1'};
// Version 4 added the fast layout; a version 3 file is a compact one.
constexpr uint32_t kFormatVersion = 4;

// FNV-1a over 64-bit words in four interleaved lanes (so the multiplies
// overlap): cheap enough to run over a gigabyte at load, and catches
// truncation and torn writes (not an adversary: snapshot files are the
// platform's own).
struct Checksum {
  uint64_t h[4] = {1469598103934665603ull, 1469598103934665603ull ^ 1, 1469598103934665603ull ^ 2,
                   1469598103934665603ull ^ 3};
  size_t lane = 0;
  void Add(const void* data, size_t bytes) {
    const auto* p = static_cast<const uint8_t*>(data);
    size_t i = 0;
    for (; i + 32 <= bytes && lane == 0; i += 32) {
      uint64_t w[4];
      std::memcpy(w, p + i, 32);
      for (int k = 0; k < 4; ++k) h[k] = (h[k] ^ w[k]) * 1099511628211ull;
    }
    for (; i + 8 <= bytes; i += 8) {
      uint64_t w;
      std::memcpy(&w, p + i, 8);
      h[lane] = (h[lane] ^ w) * 1099511628211ull;
      lane = (lane + 1) & 3;
    }
    for (; i < bytes; ++i) h[lane] = (h[lane] ^ p[i]) * 1099511628211ull;
  }
  uint64_t Value() const { return h[0] ^ (h[1] * 3) ^ (h[2] * 5) ^ (h[3] * 7); }
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
  // In slices, so each is summed while it is still in cache: summing a
  // gigabyte after reading it all would read it from memory a second time.
  constexpr size_t kSlice = size_t{1} << 20;
  auto* p = static_cast<uint8_t*>(data);  // an empty vector's data() may be null: never touched then
  for (size_t done = 0; done < bytes;) {
    const size_t n = std::min(kSlice, bytes - done);
    if (std::fread(p + done, 1, n, f) != n) return false;
    sum->Add(p + done, n);
    done += n;
  }
  return true;
}

// On disk a family is 48 bytes: the centre, then radius, begin, end, zero.
struct FamilyRecord {
  uint64_t centre[4];
  uint32_t radius, begin, end, reserved;
};
static_assert(sizeof(FamilyRecord) == 48);

}  // namespace

std::string MihIndex::CheckLines(const Table& t, uint32_t rows) {
  const size_t values = size_t{1} << t.bits;
  if (!t.bounds.empty()) {
    if (t.bounds.size() != values + 1 || t.bounds[0] != 0) return "bucket bounds";
    for (size_t v = 0; v < values; ++v) {
      if (t.bounds[v + 1] < t.bounds[v]) return "bucket bounds decrease";
    }
    if (t.bounds[values] != rows) return "bucket bounds do not end at the row count";
    return "";
  }
  if (t.lines.size() != (values + kLineValues - 1) / kLineValues) return "line count";
  uint32_t prev = 0;
  for (const OffsetLine& line : t.lines) {
    uint32_t bounds[kLineValues + 1];
    if (line.base & kWideLine) {
      const size_t w = line.base & ~kWideLine;
      if (w + kLineValues + 1 > t.wide.size()) return "wide line index";
      std::memcpy(bounds, t.wide.data() + w, sizeof(bounds));
    } else {
      bounds[0] = line.base;
      for (uint32_t i = 0; i < kLineValues; ++i) bounds[i + 1] = line.base + line.end[i];
    }
    if (bounds[0] != prev) return "bucket bounds are not contiguous";
    for (uint32_t i = 0; i < kLineValues; ++i) {
      if (bounds[i + 1] < bounds[i]) return "bucket bounds decrease";
    }
    prev = bounds[kLineValues];
  }
  if (prev != rows) return "bucket bounds do not end at the row count";
  return "";
}

Status MihIndex::Save(const std::string& path, uint64_t tag) const {
  const std::string tmp = path + ".tmp";
  File out;
  out.f = std::fopen(tmp.c_str(), "wb");
  if (!out.f) return Status::IoError(tmp + ": cannot create: " + std::strerror(errno));
  Checksum sum;
  const uint64_t header[6] = {kFormatVersion, codes_.size(),    tables_.size(),
                              main_rows_,     families_.size(), tag};
  bool ok = std::fwrite(kMagic, 1, sizeof(kMagic), out.f) == sizeof(kMagic) &&
            WriteAll(out.f, header, sizeof(header), &sum);
  for (const Table& t : tables_) {
    const uint32_t layout[4] = {static_cast<uint32_t>(t.start), static_cast<uint32_t>(t.bits),
                                static_cast<uint32_t>(t.wide.size()), layout_ == Layout::kFast ? 1u : 0u};
    ok = ok && WriteAll(out.f, layout, sizeof(layout), &sum);
  }
  for (const Family& f : families_) {
    FamilyRecord rec;
    std::memcpy(rec.centre, f.centre.w, 32);
    rec.radius = f.radius;
    rec.begin = f.begin;
    rec.end = f.end;
    rec.reserved = 0;
    ok = ok && WriteAll(out.f, &rec, sizeof(rec), &sum);
  }
  ok = ok && WriteAll(out.f, codes_.data(), codes_.size() * sizeof(Code256), &sum) &&
       WriteAll(out.f, ids_.data(), ids_.size() * sizeof(uint64_t), &sum);
  for (const Table& t : tables_) {
    ok = ok && WriteAll(out.f, t.lines.data(), t.lines.size() * sizeof(OffsetLine), &sum) &&
         WriteAll(out.f, t.wide.data(), t.wide.size() * sizeof(uint32_t), &sum) &&
         WriteAll(out.f, t.bounds.data(), t.bounds.size() * sizeof(uint32_t), &sum) &&
         WriteAll(out.f, t.rows.data(), t.rows.size() * sizeof(uint32_t), &sum) &&
         WriteAll(out.f, t.partners.data(), t.partners.size() * sizeof(uint16_t), &sum);
  }
  const uint64_t check = sum.Value();
  ok = ok && std::fwrite(&check, 1, sizeof(check), out.f) == sizeof(check);
  ok = ok && std::fflush(out.f) == 0 && fsync(fileno(out.f)) == 0;
  std::fclose(out.f);
  out.f = nullptr;
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return Status::IoError(path + ": writing the index snapshot failed: " + std::strerror(errno));
  }
  return Status::Ok();
}

Status MihIndex::Load(const std::string& path, uint64_t* tag) {
  auto clear = [&] {
    codes_.clear();
    ids_.clear();
    tables_.clear();
    families_.clear();
    main_rows_ = 0;
    layout_ = Layout::kCompact;
  };
  clear();
  File in;
  in.f = std::fopen(path.c_str(), "rb");
  if (!in.f) {
    if (errno == ENOENT) return Status::NotFound(path + ": no index snapshot");
    return Status::IoError(path + ": cannot open: " + std::strerror(errno));
  }
  auto corrupt = [&](const std::string& why) {
    clear();
    return Status::Corrupt(path + ": not a valid index snapshot (" + why + "); rebuild it from the store");
  };
  char magic[8];
  Checksum sum;
  uint64_t header[6];
  if (std::fread(magic, 1, 8, in.f) != 8 || std::memcmp(magic, kMagic, 8) != 0) return corrupt("bad magic");
  if (!ReadAll(in.f, header, sizeof(header), &sum)) return corrupt("truncated header");
  if (header[0] != kFormatVersion && header[0] != 3)
    return corrupt("format version " + std::to_string(header[0]));
  const uint64_t n = header[1], m = header[2], main_rows = header[3], num_families = header[4];
  if (n >= (uint64_t{1} << 31) || m < 1 || m > kMaxTables || main_rows > n || num_families > 1024) {
    return corrupt("impossible sizes");
  }
  // The file must be as long as the header says before anything large is
  // allocated.
  struct stat st;
  if (fstat(fileno(in.f), &st) != 0) return Status::IoError(path + ": cannot stat");
  uint64_t expected =
      8 + sizeof(header) + m * 16 + num_families * sizeof(FamilyRecord) + n * (sizeof(Code256) + 8) + 8;
  tables_.resize(m);
  int next_start = 0;
  for (uint64_t k = 0; k < m; ++k) {
    uint32_t layout[4];
    if (!ReadAll(in.f, layout, sizeof(layout), &sum)) return corrupt("truncated table layout");
    Table& t = tables_[k];
    t.start = static_cast<int>(layout[0]);
    t.bits = static_cast<int>(layout[1]);
    // layout[3]: 1 in every table of a kFast index (version 4 only), else 0.
    if (k == 0 && layout[3] == 1 && header[0] >= 4) layout_ = Layout::kFast;
    const bool fast = layout_ == Layout::kFast;
    if (t.start != next_start || t.bits < 1 || t.bits > 26 || t.start + t.bits > 256 ||
        layout[3] != (fast ? 1u : 0u) || (fast && (m != kFastTables || t.bits != 16)))
      return corrupt("table layout");
    next_start += t.bits;
    if (fast) {
      // Bounds (2^16 + 1), the row list (not table 0), the partners.
      if (layout[2] != 0) return corrupt("table layout");
      expected += ((uint64_t{1} << t.bits) + 1) * 4 + (k == 0 ? 0 : main_rows * 4) + main_rows * 2;
      continue;
    }
    const uint64_t lines = ((uint64_t{1} << t.bits) + kLineValues - 1) / kLineValues;
    if (layout[2] > lines * (kLineValues + 1)) return corrupt("table layout");
    t.wide.resize(layout[2]);
    expected += lines * sizeof(OffsetLine) + uint64_t{layout[2]} * 4 + (k == 0 ? 0 : main_rows * 4);
  }
  if (next_start != 256) return corrupt("tables do not cover 256 bits");
  if (static_cast<uint64_t>(st.st_size) != expected) return corrupt("file size does not match its header");
  families_.resize(num_families);
  uint64_t next_row = main_rows;
  for (Family& f : families_) {
    FamilyRecord rec;
    if (!ReadAll(in.f, &rec, sizeof(rec), &sum)) return corrupt("truncated");
    std::memcpy(f.centre.w, rec.centre, 32);
    f.radius = rec.radius;
    f.begin = rec.begin;
    f.end = rec.end;
    if (rec.begin != next_row || rec.end < rec.begin || rec.end > n || rec.radius > 256 || rec.reserved != 0)
      return corrupt("family layout");
    next_row = rec.end;
  }
  if (next_row != n) return corrupt("families do not end at the entry count");
  main_rows_ = static_cast<uint32_t>(main_rows);
  SetUpTables();
  codes_.resize(n);
  ids_.resize(n);
  if (!ReadAll(in.f, codes_.data(), n * sizeof(Code256), &sum) || !ReadAll(in.f, ids_.data(), n * 8, &sum)) {
    return corrupt("truncated");
  }
  for (uint64_t k = 0; k < m; ++k) {
    Table& t = tables_[k];
    const bool fast = layout_ == Layout::kFast;
    t.lines.resize(fast ? 0 : ((size_t{1} << t.bits) + kLineValues - 1) / kLineValues);
    t.bounds.resize(fast ? (size_t{1} << t.bits) + 1 : 0);
    t.rows.resize(k == 0 ? 0 : main_rows);
    t.partners.resize(fast ? main_rows : 0);
    if (!ReadAll(in.f, t.lines.data(), t.lines.size() * sizeof(OffsetLine), &sum) ||
        !ReadAll(in.f, t.wide.data(), t.wide.size() * 4, &sum) ||
        !ReadAll(in.f, t.bounds.data(), t.bounds.size() * 4, &sum) ||
        !ReadAll(in.f, t.rows.data(), t.rows.size() * 4, &sum) ||
        !ReadAll(in.f, t.partners.data(), t.partners.size() * 2, &sum)) {
      return corrupt("truncated");
    }
    // Bounds must be a non-decreasing run from 0 to the row count and rows
    // in range, or a search could read out of bounds.
    const std::string bad = CheckLines(t, main_rows_);
    if (!bad.empty()) return corrupt("table " + std::to_string(k) + ": " + bad);
    // Entries: a row number, and nothing above the partner bits.
    const uint64_t row_mask = (uint64_t{1} << row_bits_) - 1,
                   used = uint64_t{1} << (row_bits_ + t.partner_bits);
    uint32_t max_row = 0, any_above = 0;
    for (uint32_t r : t.rows) {
      max_row = std::max(max_row, static_cast<uint32_t>(r & row_mask));
      any_above |= static_cast<uint32_t>(r >= used);
    }
    if (!t.rows.empty() && (max_row >= main_rows_ || any_above)) return corrupt("rows");
  }
  // Every family member must be within its radius: the search skips a
  // family on that promise.
  for (const Family& f : families_) {
    for (uint32_t r = f.begin; r < f.end; ++r) {
      if (Distance(codes_[r], f.centre) > static_cast<int>(f.radius)) return corrupt("family radius");
    }
  }
  uint64_t stored;
  if (std::fread(&stored, 1, 8, in.f) != 8 || stored != sum.Value()) return corrupt("checksum mismatch");
  if (tag) *tag = header[5];
  return Status::Ok();
}

}  // namespace safeguard::index
