// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// The optimised PDQ (src/hash/pdq.cc) against the plain transcription
// (tests/reference/pdq_reference.cc): identical hash, quality and dihedral
// hashes on many random images of awkward sizes and on every real photo.
// Any difference, even one bit, is a failure: the fast path may only be
// faster, never different.

#include <gtest/gtest.h>

#include <random>

#include "reference/pdq_reference.h"
#include "safeguard/hash/image_hasher.h"
#include "safeguard/media/decode.h"
#include "test_util.h"

namespace safeguard {
namespace {

media::Image RandomImage(std::mt19937& rng, int width, int height, int channels, int kind) {
  media::Image img;
  img.width = width;
  img.height = height;
  img.channels = channels;
  img.source_width = width;
  img.source_height = height;
  img.pixels.resize(static_cast<size_t>(width) * height * channels);
  std::uniform_int_distribution<int> byte(0, 255);
  const int bx = 1 + byte(rng) % 40, by = 1 + byte(rng) % 40;
  const int base[3] = {byte(rng), byte(rng), byte(rng)};
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      for (int c = 0; c < channels; ++c) {
        int v;
        switch (kind) {
          case 0:  // noise
            v = byte(rng);
            break;
          case 1:  // gradient with a little noise
            v = (x * 255 / width + y * 128 / height + base[c] + byte(rng) % 8) & 255;
            break;
          case 2:  // blocks
            v = ((x / bx + y / by) & 1) ? base[c] : 255 - base[c];
            break;
          default:  // flat: many equal DCT coefficients, a median edge case
            v = base[c];
            break;
        }
        img.pixels[(static_cast<size_t>(y) * width + x) * channels + c] = static_cast<uint8_t>(v);
      }
    }
  }
  img.all_grey = channels == 1;
  return img;
}

void ExpectSame(const media::Image& img, const std::string& what) {
  hash::HashOptions options;
  options.dihedral = true;
  hash::ImageHasher hasher(options);
  hash::PdqResult fast;
  ASSERT_TRUE(hasher.HashPixels(img, &fast).ok()) << what;
  pdq::Hash256 ref_hash, ref_dihedral[8];
  int ref_quality = -1;
  reference::PdqFromPixels(img.pixels.data(), img.width, img.height, img.channels, img.all_grey, &ref_hash,
                           &ref_quality, ref_dihedral);
  EXPECT_TRUE(fast.hash == ref_hash) << what << " distance " << fast.hash.HammingDistance(ref_hash);
  EXPECT_EQ(fast.quality, ref_quality) << what;
  for (int d = 0; d < 8; ++d) {
    EXPECT_TRUE(fast.dihedral[d] == ref_dihedral[d]) << what << " dihedral " << d;
  }
}

TEST(PdqEquivalence, AwkwardSizes) {
  // Sizes around every boundary: below the minimum, the box window steps
  // (multiples of 128), the 64x64 shortcut, and the 512 resize threshold.
  const int sizes[] = {1, 4, 5, 6, 17, 63, 64, 65, 127, 128, 129, 255, 256, 257, 511, 512, 513, 700};
  std::mt19937 rng(7);
  for (int w : sizes) {
    for (int h : {5, 64, 129, 512, 513}) {
      for (int ch : {1, 3}) {
        ExpectSame(RandomImage(rng, w, h, ch, (w + h) % 4),
                   std::to_string(w) + "x" + std::to_string(h) + "x" + std::to_string(ch));
      }
    }
  }
}

TEST(PdqEquivalence, ManyRandomImages) {
  std::mt19937 rng(2026);
  std::uniform_int_distribution<int> side(1, 1100);
  for (int i = 0; i < 300; ++i) {
    const int w = side(rng), h = side(rng), ch = (i % 3) ? 3 : 1, kind = i % 4;
    ExpectSame(RandomImage(rng, w, h, ch, kind),
               "random #" + std::to_string(i) + " " + std::to_string(w) + "x" + std::to_string(h));
  }
}

TEST(PdqEquivalence, RealPhotosDecodedInFull) {
  // Full-resolution decode (no sampling in the decoder), so the hasher's own
  // resize is exercised too.
  media::DecodeOptions options;
  int n = 0;
  for (const auto& path : testing::ListFiles(testing::SharedPath("media/photos"))) {
    std::vector<uint8_t> bytes;
    ASSERT_TRUE(media::ReadFileBytes(path, options.limits.max_file_bytes, &bytes).ok());
    media::Image img;
    if (!media::DecodeImage(bytes, options, &img).ok()) continue;
    ExpectSame(img, path);
    ++n;
  }
  EXPECT_GT(n, 300);
}

}  // namespace
}  // namespace safeguard
