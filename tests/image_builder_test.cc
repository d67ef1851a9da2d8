// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// ImageBuilder is shared by every decoder: the reference's nearest-neighbour
// rule, grey detection over the whole image, size limits and truncation.

#include "../src/media/image_builder.h"

#include <gtest/gtest.h>

namespace safeguard::media {
namespace {

TEST(ImageBuilder, SamplesWithTheReferenceNearestNeighbourRule) {
  DecodeOptions o;
  o.sample_to = 4;
  ImageBuilder b(o, ImageFormat::kPng);
  // 10 x 3 grey image (upsampled rows, downsampled columns): pixel = 16*y + x.
  ASSERT_TRUE(b.Begin(10, 3, RowLayout::kGrey, "PNG").ok());
  for (int y = 0; y < 3; ++y) {
    uint8_t row[10];
    for (int x = 0; x < 10; ++x) row[x] = static_cast<uint8_t>(16 * y + x);
    b.AddRow(y, row);
  }
  Image img;
  ASSERT_TRUE(b.Finish(&img).ok());
  ASSERT_EQ(img.width, 4);
  ASSERT_EQ(img.height, 4);
  EXPECT_EQ(img.source_width, 10);
  for (int oy = 0; oy < 4; ++oy) {
    for (int ox = 0; ox < 4; ++ox) {
      const int sy = oy * 3 / 4, sx = ox * 10 / 4;
      EXPECT_EQ(img.pixels[oy * 4 + ox], 16 * sy + sx) << oy << "," << ox;
    }
  }
  EXPECT_TRUE(img.all_grey);
}

TEST(ImageBuilder, GreyDetectionSeesRowsThatSamplingDrops) {
  DecodeOptions o;
  o.sample_to = 2;
  ImageBuilder b(o, ImageFormat::kJpeg);
  ASSERT_TRUE(b.Begin(4, 4, RowLayout::kRgb, "JPEG").ok());
  for (int y = 0; y < 4; ++y) {
    uint8_t row[12];
    for (int i = 0; i < 12; ++i) row[i] = 100;
    if (y == 1) row[4] = 101;  // row 1 is never sampled (rows 0 and 2 are)
    b.AddRow(y, row);
  }
  Image img;
  ASSERT_TRUE(b.Finish(&img).ok());
  EXPECT_FALSE(img.all_grey);
  EXPECT_EQ(img.channels, 3);
}

TEST(ImageBuilder, AlphaIsDropped) {
  DecodeOptions o;
  ImageBuilder b(o, ImageFormat::kPng);
  ASSERT_TRUE(b.Begin(2, 1, RowLayout::kRgba, "PNG").ok());
  const uint8_t row[8] = {1, 2, 3, 0, 4, 5, 6, 255};
  b.AddRow(0, row);
  Image img;
  ASSERT_TRUE(b.Finish(&img).ok());
  EXPECT_EQ(img.pixels, (std::vector<uint8_t>{1, 2, 3, 4, 5, 6}));
}

TEST(ImageBuilder, RefusesHugeAndEmptyBeforeAllocating) {
  DecodeOptions o;
  ImageBuilder b(o, ImageFormat::kPng);
  Status s = b.Begin(65535, 65535, RowLayout::kRgb, "PNG");
  EXPECT_EQ(s.code(), StatusCode::kTooLarge);
  EXPECT_NE(s.message().find("65535x65535"), std::string::npos) << s.message();
  EXPECT_EQ(b.Begin(0, 10, RowLayout::kRgb, "PNG").code(), StatusCode::kCorrupt);
  o.limits.max_side = 100;
  ImageBuilder c(o, ImageFormat::kPng);
  EXPECT_EQ(c.Begin(101, 1, RowLayout::kGrey, "PNG").code(), StatusCode::kTooLarge);
}

TEST(ImageBuilder, MissingRowsAreReportedAsTruncated) {
  DecodeOptions o;
  ImageBuilder b(o, ImageFormat::kGif);
  ASSERT_TRUE(b.Begin(3, 3, RowLayout::kGrey, "GIF").ok());
  const uint8_t row[3] = {0, 0, 0};
  b.AddRow(0, row);
  b.AddRow(2, row);  // out of order: ignored
  Image img;
  Status s = b.Finish(&img);
  EXPECT_EQ(s.code(), StatusCode::kCorrupt);
  EXPECT_NE(s.message().find("truncated"), std::string::npos);
}

}  // namespace
}  // namespace safeguard::media
