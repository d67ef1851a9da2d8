// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// MihIndex against the brute-force FlatScan: identical results (ids and
// distances) for every query, on uniform, clustered and Zipf-skewed sets, at
// radii from 0 to 63, including queries that force the scan fallback, in
// both layouts (compact and fast). A missed match of known abuse material is
// a failure, so any difference fails.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <random>

#include "safeguard/index/flat_scan.h"
#include "safeguard/index/mih_index.h"
#include "synthetic_codes.h"

namespace safeguard::index {
namespace {

using testing::Flip;
using testing::RandomCode;

enum class Dist { kUniform, kClustered, kZipf };

std::vector<Code256> MakeSet(Dist dist, size_t n, std::mt19937_64& rng) {
  std::vector<Code256> codes;
  std::vector<Code256> centres(200);
  for (auto& c : centres) c = RandomCode(rng);
  std::vector<double> weights(centres.size());
  for (size_t j = 0; j < weights.size(); ++j) weights[j] = 1.0 / (j + 1);
  std::discrete_distribution<size_t> zipf(weights.begin(), weights.end());
  for (size_t i = 0; i < n; ++i) {
    switch (dist) {
      case Dist::kUniform:
        codes.push_back(RandomCode(rng));
        break;
      case Dist::kClustered:
        codes.push_back(Flip(centres[rng() % centres.size()], 20 + static_cast<int>(rng() % 41), rng));
        break;
      case Dist::kZipf:
        codes.push_back(Flip(centres[zipf(rng)], 20 + static_cast<int>(rng() % 41), rng));
        break;
    }
  }
  return codes;
}

void CompareOnQueries(const std::vector<Code256>& codes, std::mt19937_64& rng, const char* name,
                      MihIndex::Layout layout);

constexpr MihIndex::Layout kLayouts[] = {MihIndex::Layout::kCompact, MihIndex::Layout::kFast};

const char* LayoutName(MihIndex::Layout l) { return l == MihIndex::Layout::kFast ? "fast" : "compact"; }

MihIndex::BuildOptions With(MihIndex::Layout layout, int num_tables = 0) {
  MihIndex::BuildOptions o;
  o.layout = layout;
  o.num_tables = num_tables;
  return o;
}

void CompareOnQueries(const std::vector<Code256>& codes, std::mt19937_64& rng, const char* name) {
  for (MihIndex::Layout layout : kLayouts) {
    SCOPED_TRACE(LayoutName(layout));
    CompareOnQueries(codes, rng, name, layout);
  }
}

void CompareOnQueries(const std::vector<Code256>& codes, std::mt19937_64& rng, const char* name,
                      MihIndex::Layout layout) {
  std::vector<uint64_t> ids(codes.size());
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = 1000003ull * i + 7;  // not the row number
  MihIndex mih;
  mih.Build(codes, ids, With(layout));
  ASSERT_EQ(mih.layout(), layout);
  FlatScan scan;
  scan.Add(codes, ids);
  std::vector<Match> a, b;
  size_t matches = 0, scanned = 0;
  for (int radius : {0, 1, 7, 16, 31, 32, 45, 63}) {
    for (int i = 0; i < 60; ++i) {
      // Bank entries with 0..radius+4 flipped bits, and unrelated codes.
      const Code256 query =
          (i % 4 == 3) ? RandomCode(rng)
                       : Flip(codes[rng() % codes.size()], static_cast<int>(rng() % (radius + 5)), rng);
      SearchStats st;
      mih.RangeSearch(query, radius, &a, &st);
      scan.RangeSearch(query, radius, &b);
      ASSERT_EQ(a, b) << name << " radius " << radius << " query " << i << " (scanned=" << st.scanned << ")";
      matches += a.size();
      scanned += st.scanned;
    }
  }
  EXPECT_GT(matches, 0u) << name;
  ::testing::Test::RecordProperty(std::string(name) + "_" + LayoutName(layout) + "_scanned",
                                  static_cast<int>(scanned));
}

TEST(MihIndex, EqualsScanOnUniformSets) {
  std::mt19937_64 rng(1);
  CompareOnQueries(MakeSet(Dist::kUniform, 50000, rng), rng, "uniform");
}

TEST(MihIndex, EqualsScanOnClusteredSets) {
  std::mt19937_64 rng(2);
  CompareOnQueries(MakeSet(Dist::kClustered, 50000, rng), rng, "clustered");
}

TEST(MihIndex, EqualsScanOnZipfSets) {
  std::mt19937_64 rng(3);
  CompareOnQueries(MakeSet(Dist::kZipf, 50000, rng), rng, "zipf");
}

TEST(MihIndex, EveryTableCountAndTinySets) {
  // m from 12 to 32 changes every substring boundary (m = 10 or 11 is
  // legal but allocates 0.13-0.7 GB of bucket bounds, too much for a unit
  // test); sets of 1..3 codes exercise empty buckets and the smallest tables.
  std::mt19937_64 rng(4);
  for (size_t n : {1, 2, 3, 1000}) {
    auto codes = MakeSet(Dist::kClustered, n, rng);
    std::vector<uint64_t> ids(n);
    for (size_t i = 0; i < n; ++i) ids[i] = i;
    FlatScan scan;
    scan.Add(codes, ids);
    for (int m : {12, 13, 16, 21, 32, -1}) {  // -1: the fast layout (16 tables)
      MihIndex mih;
      if (m < 0)
        mih.Build(codes, ids, With(MihIndex::Layout::kFast));
      else
        mih.Build(codes, ids, m);
      std::vector<Match> a, b;
      for (int i = 0; i < 50; ++i) {
        const Code256 q = Flip(codes[i % n], static_cast<int>(rng() % 40), rng);
        const int radius = static_cast<int>(rng() % 64);
        mih.RangeSearch(q, radius, &a);
        scan.RangeSearch(q, radius, &b);
        ASSERT_EQ(a, b) << "n=" << n << " m=" << m << " radius=" << radius;
      }
    }
  }
}

TEST(MihIndex, DuplicatesAndExactHits) {
  std::mt19937_64 rng(5);
  const Code256 c = RandomCode(rng);
  std::vector<Code256> codes(100, c);
  std::vector<uint64_t> ids(100);
  for (size_t i = 0; i < 100; ++i) ids[i] = i;
  for (MihIndex::Layout layout : kLayouts) {
    MihIndex mih;
    mih.Build(codes, ids, With(layout));
    std::vector<Match> out;
    mih.RangeSearch(c, 0, &out);
    ASSERT_EQ(out.size(), 100u) << LayoutName(layout);
    for (const Match& m : out) EXPECT_EQ(m.distance, 0);
    mih.RangeSearch(Flip(c, 1, rng), 0, &out);
    EXPECT_TRUE(out.empty()) << LayoutName(layout);
  }
}

// Queries built to sit exactly on the pigeonhole's edge: every group of
// substrings (compact: table 0 alone, then the pairs 1-2, 3-4, ...; fast:
// the pairs 0-1, 2-3, ...) but one is one flip past its threshold, and that
// one is exactly at it, so the entry is at distance r and only one table's
// probe can find it. In a compact pair the flips on the partner substring
// go in its low bits, the ones a row entry keeps (the fast layout keeps all
// 16, so any), and the pair bound is met with equality. The layout is
// recomputed here from the header's description (substrings of 256/m bits,
// the first 256 % m one bit wider; radii q+1... as RangeSearch assigns them).
TEST(MihIndex, PairBoundIsExactAtItsEdge) {
  std::mt19937_64 rng(11);
  const size_t n = 3000;
  std::vector<Code256> codes(n);
  for (auto& c : codes) c = RandomCode(rng);
  std::vector<uint64_t> ids(n);
  for (size_t i = 0; i < n; ++i) ids[i] = 5 * i + 2;
  FlatScan scan;
  scan.Add(codes, ids);
  size_t filtered = 0, edge_matches = 0;
  for (int config : {12, 13, 16, 23, -16}) {  // -16: the fast layout
    const bool fast = config < 0;
    const int m = fast ? 16 : config;
    MihIndex mih;
    mih.Build(codes, ids, With(fast ? MihIndex::Layout::kFast : MihIndex::Layout::kCompact, m));
    ASSERT_EQ(mih.num_tables(), m);
    std::vector<int> start(m), bits(m);
    for (int k = 0, at = 0; k < m; ++k) {
      bits[k] = 256 / m + (k < 256 % m ? 1 : 0);
      start[k] = at;
      at += bits[k];
    }
    // Flips `count` bits of substring k of c: its lowest bits, or random ones.
    auto flip = [&](Code256* c, int k, int count, bool low) {
      std::vector<int> pos(bits[k]);
      for (int i = 0; i < bits[k]; ++i) pos[i] = i;
      if (!low) std::shuffle(pos.begin(), pos.end(), rng);
      for (int i = 0; i < count; ++i) {
        const int b = start[k] + pos[i];
        c->w[b >> 6] ^= uint64_t{1} << (b & 63);
      }
    };
    for (int radius : {7, 16, 31, 45, 63}) {
      const int q = radius / m, a = radius - m * q;
      auto t = [&](int k) { return k <= a ? q : q - 1; };
      // Groups: {0}, {1, 2}, {3, 4}, ..., and {m - 1} alone when m is even;
      // fast: {0, 1}, {2, 3}, ..., {14, 15}.
      std::vector<std::vector<int>> groups;
      if (!fast) groups.push_back({0});
      for (int k = fast ? 0 : 1; k < m; k += 2)
        groups.push_back(k + 1 < m ? std::vector<int>{k, k + 1} : std::vector<int>{k});
      for (size_t g = 0; g < groups.size(); ++g) {
        for (int side = 0; side < 2; ++side) {
          if (groups[g].size() == 1 && side == 1) continue;
          const Code256 entry = codes[rng() % n];
          Code256 query = entry, past = entry;
          bool possible = true;
          for (size_t h = 0; h < groups.size(); ++h) {
            const std::vector<int>& grp = groups[h];
            if (h != g) {
              // One past the group's threshold: t_k + 1 on each substring.
              for (int k : grp) {
                flip(&query, k, t(k) + 1, false);
                flip(&past, k, t(k) + 1, false);
              }
              continue;
            }
            if (grp.size() == 1) {
              possible = t(grp[0]) >= 0;
              if (!possible) break;
              flip(&query, grp[0], t(grp[0]), false);
              flip(&past, grp[0], t(grp[0]) + 1, false);
              continue;
            }
            // A pair at its bound t_a + t_b + 1: the probed side at t, the
            // partner at t + 1 in its low (kept) bits.
            const int found = grp[side], partner = grp[1 - side];
            possible = t(found) >= 0 && t(partner) + 1 <= bits[partner];
            if (!possible) break;
            flip(&query, found, t(found), false);
            flip(&query, partner, t(partner) + 1, !fast);
            flip(&past, found, t(found) + 1, false);
            flip(&past, partner, t(partner) + 1, !fast);
          }
          if (!possible) continue;
          ASSERT_EQ(Distance(query, entry), radius);
          ASSERT_EQ(Distance(past, entry), radius + 1);
          std::vector<Match> got, want;
          SearchStats st;
          for (const Code256& qc : {query, past}) {
            mih.RangeSearch(qc, radius, &got, &st);
            scan.RangeSearch(qc, radius, &want);
            ASSERT_EQ(got, want) << "m=" << m << (fast ? " fast" : "") << " radius=" << radius
                                 << " group=" << g << " side=" << side;
            filtered += st.filtered;
          }
          mih.RangeSearch(query, radius, &got);
          const bool has_entry =
              std::any_of(got.begin(), got.end(), [&](const Match& x) { return x.distance == radius; });
          EXPECT_TRUE(has_entry) << "m=" << m << " radius=" << radius << " group=" << g;
          edge_matches += has_entry;
        }
      }
    }
  }
  EXPECT_GT(edge_matches, 100u);
  EXPECT_GT(filtered, 0u) << "the pair bound never ruled a row out";
}

class MihSnapshot : public ::testing::TestWithParam<MihIndex::Layout> {};

INSTANTIATE_TEST_SUITE_P(Layouts, MihSnapshot, ::testing::ValuesIn(kLayouts),
                         [](const auto& info) { return std::string(LayoutName(info.param)); });

TEST_P(MihSnapshot, RoundTripAndDamage) {
  std::mt19937_64 rng(6);
  auto codes = MakeSet(Dist::kClustered, 20000, rng);
  std::vector<uint64_t> ids(codes.size());
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = 3 * i + 1;
  MihIndex built;
  built.Build(codes, ids, With(GetParam()));
  // One file per layout: ctest runs the two instances at once.
  const std::string path =
      ::testing::TempDir() + "/safeguard_mih_snapshot_" + LayoutName(GetParam()) + ".bin";
  ASSERT_TRUE(built.Save(path).ok());
  MihIndex loaded;
  ASSERT_TRUE(loaded.Load(path).ok());
  ASSERT_EQ(loaded.size(), built.size());
  EXPECT_EQ(loaded.layout(), GetParam());
  EXPECT_EQ(loaded.num_tables(), built.num_tables());
  EXPECT_EQ(loaded.MemoryBytes(), built.MemoryBytes());
  std::vector<Match> a, b;
  for (int i = 0; i < 200; ++i) {
    const Code256 q = Flip(codes[rng() % codes.size()], static_cast<int>(rng() % 35), rng);
    built.RangeSearch(q, 31, &a);
    loaded.RangeSearch(q, 31, &b);
    ASSERT_EQ(a, b);
  }
  // Damage: one flipped byte in the middle, then a truncated file.
  std::string bytes;
  {
    std::FILE* f = std::fopen(path.c_str(), "rb");
    char buf[65536];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) bytes.append(buf, n);
    std::fclose(f);
  }
  auto write = [&](const std::string& data) {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    std::fwrite(data.data(), 1, data.size(), f);
    std::fclose(f);
  };
  std::string flipped = bytes;
  flipped[flipped.size() / 2] ^= 0x40;
  write(flipped);
  Status s = loaded.Load(path);
  EXPECT_EQ(s.code(), StatusCode::kCorrupt) << s.ToString();
  EXPECT_EQ(loaded.size(), 0u);
  write(bytes.substr(0, bytes.size() - 100));
  EXPECT_EQ(loaded.Load(path).code(), StatusCode::kCorrupt);
  write("not an index");
  EXPECT_EQ(loaded.Load(path).code(), StatusCode::kCorrupt);
  std::remove(path.c_str());
  EXPECT_EQ(loaded.Load(path).code(), StatusCode::kNotFound);
}

// A bank where three families of near-duplicates hold most entries (as real
// lists do), over a uniform background. Returns the family centres.
std::vector<Code256> MakeFamilies(size_t n, std::mt19937_64& rng, std::vector<Code256>* codes) {
  std::vector<Code256> centres(3);
  for (auto& c : centres) c = RandomCode(rng);
  codes->clear();
  for (size_t i = 0; i < n; ++i) {
    const size_t pick = rng() % 10;  // 40%, 20%, 10% in families, 30% uniform
    if (pick < 4)
      codes->push_back(Flip(centres[0], 20 + static_cast<int>(rng() % 41), rng));
    else if (pick < 6)
      codes->push_back(Flip(centres[1], 20 + static_cast<int>(rng() % 41), rng));
    else if (pick < 7)
      codes->push_back(Flip(centres[2], static_cast<int>(rng() % 25), rng));
    else
      codes->push_back(RandomCode(rng));
  }
  return centres;
}

TEST(MihIndex, DenseFamiliesAreSetAsideAndSearchedExactly) {
  // Large enough (>= 2^16 entries) for Build to look for families.
  std::mt19937_64 rng(8);
  std::vector<Code256> codes;
  const std::vector<Code256> centres = MakeFamilies(120000, rng, &codes);
  std::vector<uint64_t> ids(codes.size());
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = 7 * i + 3;
  MihIndex with, without, fast;
  with.Build(codes, ids);
  MihIndex::BuildOptions plain;
  plain.families = false;
  without.Build(codes, ids, plain);
  fast.Build(codes, ids, With(MihIndex::Layout::kFast));
  EXPECT_EQ(with.num_families(), 3u);
  EXPECT_EQ(fast.num_families(), 3u);
  EXPECT_GT(with.family_rows(), codes.size() / 2);
  EXPECT_EQ(without.num_families(), 0u);
  FlatScan scan;
  scan.Add(codes, ids);
  std::vector<Match> a, b, c, d;
  size_t family_scans = 0, matches = 0;
  for (int radius : {0, 8, 31, 47, 63}) {
    for (int i = 0; i < 90; ++i) {
      Code256 q;
      switch (i % 3) {
        case 0:  // a fresh near-duplicate of a family centre
          q = Flip(centres[i % centres.size()], static_cast<int>(rng() % 61), rng);
          break;
        case 1:  // a bank entry, slightly altered
          q = Flip(codes[rng() % codes.size()], static_cast<int>(rng() % (radius + 5)), rng);
          break;
        default:
          q = RandomCode(rng);
          break;
      }
      SearchStats st;
      with.RangeSearch(q, radius, &a, &st);
      scan.RangeSearch(q, radius, &b);
      without.RangeSearch(q, radius, &c);
      fast.RangeSearch(q, radius, &d);
      ASSERT_EQ(a, b) << "radius " << radius << " query " << i;
      ASSERT_EQ(c, b) << "radius " << radius << " query " << i;
      ASSERT_EQ(d, b) << "fast, radius " << radius << " query " << i;
      if (i % 3 == 2 && radius <= 31) EXPECT_EQ(st.families_scanned, 0u) << "a random query scanned a family";
      family_scans += st.families_scanned;
      matches += a.size();
    }
  }
  EXPECT_GT(family_scans, 0u);
  EXPECT_GT(matches, 0u);

  // The families survive a snapshot.
  const std::string path = ::testing::TempDir() + "/safeguard_mih_families.bin";
  ASSERT_TRUE(with.Save(path).ok());
  MihIndex loaded;
  ASSERT_TRUE(loaded.Load(path).ok());
  EXPECT_EQ(loaded.num_families(), with.num_families());
  for (int i = 0; i < 60; ++i) {
    const Code256 q = Flip(centres[i % 3], static_cast<int>(rng() % 61), rng);
    with.RangeSearch(q, 31, &a);
    loaded.RangeSearch(q, 31, &b);
    ASSERT_EQ(a, b);
  }
  std::remove(path.c_str());
}

TEST(Code256, FromPdqKeepsBitNumbering) {
  pdq::Hash256 h;
  h.SetBit(0);
  h.SetBit(77);
  h.SetBit(255);
  const Code256 c = FromPdq(h);
  EXPECT_EQ(c.w[0], 1u);
  EXPECT_EQ(c.w[1], uint64_t{1} << 13);
  EXPECT_EQ(c.w[3], uint64_t{1} << 63);
  EXPECT_EQ(Distance(c, Code256()), 3);
}

}  // namespace
}  // namespace safeguard::index
