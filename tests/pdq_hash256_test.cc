// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
#include <gtest/gtest.h>

#include "safeguard/hash/digest.h"
#include "safeguard/hash/pdq.h"

namespace safeguard {
namespace {

TEST(Hash256, HexRoundTripKeepsWord15First) {
  const std::string hex = "d8f8f0cee0f4a84f0637022a078f67f0b36e2ed596621e1d33e6339c4e9c9b22";
  pdq::Hash256 h;
  ASSERT_TRUE(pdq::Hash256::FromHex(hex, &h));
  EXPECT_EQ(h.w[15], 0xd8f8);
  EXPECT_EQ(h.w[0], 0x9b22);
  char out[65];
  h.ToHex(out);
  EXPECT_EQ(std::string(out), hex);
  pdq::Hash256 upper;
  ASSERT_TRUE(
      pdq::Hash256::FromHex("D8F8F0CEE0F4A84F0637022A078F67F0B36E2ED596621E1D33E6339C4E9C9B22", &upper));
  EXPECT_TRUE(upper == h);
}

TEST(Hash256, RejectsMalformedHex) {
  pdq::Hash256 h;
  h.w[0] = 7;
  EXPECT_FALSE(pdq::Hash256::FromHex("", &h));
  EXPECT_FALSE(pdq::Hash256::FromHex(std::string(63, 'a'), &h));
  EXPECT_FALSE(pdq::Hash256::FromHex(std::string(65, 'a'), &h));
  EXPECT_FALSE(pdq::Hash256::FromHex(std::string(63, 'a') + "g", &h));
  EXPECT_EQ(h.w[0], 7) << "a failed parse must leave the hash unchanged";
}

TEST(Hash256, BitsAndDistance) {
  pdq::Hash256 a, b;
  b.SetBit(0);
  b.SetBit(17);
  b.SetBit(255);
  EXPECT_TRUE(b.Bit(17));
  EXPECT_FALSE(b.Bit(16));
  EXPECT_EQ(a.HammingDistance(b), 3);
  for (int k = 0; k < 256; ++k) a.SetBit(k);
  EXPECT_EQ(a.HammingDistance(pdq::Hash256()), 256);
}

TEST(Digest, KnownAnswers) {
  const std::string abc = "abc";
  std::span<const uint8_t> bytes(reinterpret_cast<const uint8_t*>(abc.data()), abc.size());
  EXPECT_EQ(hash::ToHex(hash::Md5(bytes)), "900150983cd24fb0d6963f7d28e17f72");
  EXPECT_EQ(hash::ToHex(hash::Sha256(bytes)),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(hash::ToHex(hash::Md5({})), "d41d8cd98f00b204e9800998ecf8427e");
}

}  // namespace
}  // namespace safeguard
