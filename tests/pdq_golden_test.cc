// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// Golden files: every line of ../shared/pdq-vectors/expected.csv (hash,
// quality and the 8 dihedral hashes) and ../shared/media/photos.pdq-reference.csv
// (hash, quality) as the PDQ reference computed them must reproduce bit for
// bit. New vectors are new CSV lines; no C++ needed.

#include <gtest/gtest.h>

#include "safeguard/hash/image_hasher.h"
#include "test_util.h"

namespace safeguard {
namespace {

using testing::ReadCsv;
using testing::SharedPath;

std::string Hex(const pdq::Hash256& h) {
  char buf[65];
  h.ToHex(buf);
  return buf;
}

int Distance(const std::string& a, const pdq::Hash256& b) {
  pdq::Hash256 ha;
  if (!pdq::Hash256::FromHex(a, &ha)) return -1;
  return ha.HammingDistance(b);
}

TEST(PdqGolden, ReferenceVectorsWithDihedral) {
  const auto rows = ReadCsv(SharedPath("pdq-vectors/expected.csv"));
  ASSERT_EQ(rows.size(), 38u) << "expected.csv not found or changed";
  hash::HashOptions options;
  options.dihedral = true;
  hash::ImageHasher hasher(options);
  int exact = 0;
  for (const auto& row : rows) {
    ASSERT_EQ(row.size(), 10u);  // path, quality, then pdq and 7 more: the 8 dihedral hashes
    const std::string path = SharedPath("pdq-vectors/" + row[0]);
    hash::FileHashes h;
    Status s = hasher.HashFile(path, &h);
    ASSERT_TRUE(s.ok()) << row[0] << ": " << s.ToString();
    EXPECT_EQ(Hex(h.pdq.hash), row[2]) << row[0] << " distance " << Distance(row[2], h.pdq.hash);
    EXPECT_EQ(h.pdq.quality, std::stoi(row[1])) << row[0];
    static const char* kNames[] = {"pdq",   "rot90", "rot180",    "rot270",
                                   "flipx", "flipy", "flipplus1", "flipminus1"};
    bool all = Hex(h.pdq.hash) == row[2] && h.pdq.quality == std::stoi(row[1]);
    for (int d = 0; d < 8; ++d) {
      EXPECT_EQ(Hex(h.pdq.dihedral[d]), row[2 + d]) << row[0] << " " << kNames[d];
      all = all && Hex(h.pdq.dihedral[d]) == row[2 + d];
    }
    exact += all;
  }
  EXPECT_EQ(exact, 38);
}

TEST(PdqGolden, PhotoCorpusReference) {
  const auto rows = ReadCsv(SharedPath("media/photos.pdq-reference.csv"));
  ASSERT_GE(rows.size(), 300u) << "photos.pdq-reference.csv not found";
  hash::ImageHasher hasher;
  int exact = 0;
  for (const auto& row : rows) {
    ASSERT_EQ(row.size(), 3u);
    const std::string path = SharedPath("media/" + row[2]);
    hash::FileHashes h;
    Status s = hasher.HashFile(path, &h);
    ASSERT_TRUE(s.ok()) << row[2] << ": " << s.ToString();
    EXPECT_EQ(Hex(h.pdq.hash), row[0]) << row[2] << " distance " << Distance(row[0], h.pdq.hash);
    EXPECT_EQ(h.pdq.quality, std::stoi(row[1])) << row[2];
    exact += Hex(h.pdq.hash) == row[0] && h.pdq.quality == std::stoi(row[1]);
  }
  EXPECT_EQ(exact, static_cast<int>(rows.size()));
}

}  // namespace
}  // namespace safeguard
