// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// pdq_golden_native: the golden files again, through a PDQ built with
// -march=native (FMA, AVX2, AVX-512 where the CPU has them). Floating point
// decides bits, so a compiler that contracted or reassociated anything would
// show here. Prints each mismatch; exits 1 if there is any.

#include <cstdio>

#include "safeguard/hash/image_hasher.h"
#include "test_util.h"

int main() {
  using safeguard::testing::ReadCsv;
  using safeguard::testing::SharedPath;
  safeguard::hash::HashOptions options;
  options.dihedral = true;
  safeguard::hash::ImageHasher hasher(options);
  int checked = 0, bad = 0;
  auto check = [&](const std::string& path, const std::string& expected, int quality, int dihedral_col,
                   const std::vector<std::string>& row) {
    safeguard::hash::FileHashes h;
    safeguard::Status s = hasher.HashFile(path, &h);
    char hex[65];
    h.pdq.hash.ToHex(hex);
    bool ok = s.ok() && expected == hex && h.pdq.quality == quality;
    for (int d = 0; ok && dihedral_col >= 0 && d < 8; ++d) {
      h.pdq.dihedral[d].ToHex(hex);
      ok = row[dihedral_col + d] == hex;
    }
    ++checked;
    if (!ok) {
      ++bad;
      std::printf("MISMATCH %s (%s)\n", path.c_str(), s.ToString().c_str());
    }
  };
  for (const auto& row : ReadCsv(SharedPath("pdq-vectors/expected.csv"))) {
    check(SharedPath("pdq-vectors/" + row[0]), row[2], std::stoi(row[1]), 2, row);
  }
  for (const auto& row : ReadCsv(SharedPath("media/photos.pdq-reference.csv"))) {
    check(SharedPath("media/" + row[2]), row[0], std::stoi(row[1]), -1, row);
  }
  std::printf("%d passed, %d failed\n", checked - bad, bad);
  return bad == 0 && checked > 300 ? 0 : 1;
}
