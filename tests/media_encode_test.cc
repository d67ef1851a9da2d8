// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// Encoder tests (issue 7 needs them to hand marked images back): PNG is
// lossless through our own decoder, JPEG comes back close, and malformed
// images or arguments yield a Status, never a crash or an exit() from inside
// libjpeg. Run under ASan/UBSan (SAFEGUARD_SANITIZE) to catch leaks on the
// error paths.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "safeguard/media/decode.h"
#include "safeguard/media/encode.h"
#include "test_util.h"

namespace safeguard::media {
namespace {

Image Synthetic(int width, int height, int channels) {
  Image img;
  img.width = img.source_width = width;
  img.height = img.source_height = height;
  img.channels = channels;
  img.pixels.resize(static_cast<size_t>(width) * height * channels);
  // Smooth gradients plus a little texture, like a photo: JPEG keeps it well.
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      for (int c = 0; c < channels; ++c) {
        const double v =
            128 + 60 * std::sin(x * 0.05 + c) + 40 * std::cos(y * 0.07 - c) + ((x * 7 + y * 3) % 5);
        img.pixels[(static_cast<size_t>(y) * width + x) * channels + c] =
            static_cast<uint8_t>(std::lround(std::clamp(v, 0.0, 255.0)));
      }
    }
  }
  return img;
}

Status DecodeString(const std::string& bytes, Image* out) {
  return DecodeImage(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()),
                     DecodeOptions(), out);
}

double MeanAbsDiff(const Image& a, const Image& b) {
  double sum = 0;
  for (size_t i = 0; i < a.pixels.size(); ++i) {
    sum += std::abs(int{a.pixels[i]} - int{b.pixels[i]});
  }
  return sum / a.pixels.size();
}

TEST(MediaEncodeTest, PngRoundTripIsLossless) {
  for (int channels : {1, 3}) {
    const Image img = Synthetic(67, 45, channels);  // odd sizes: no row padding may creep in
    std::string png;
    ASSERT_TRUE(EncodePng(img, &png).ok());
    Image back;
    ASSERT_TRUE(DecodeString(png, &back).ok());
    EXPECT_EQ(back.format, ImageFormat::kPng);
    EXPECT_EQ(back.width, img.width);
    EXPECT_EQ(back.height, img.height);
    EXPECT_EQ(back.channels, channels);
    EXPECT_EQ(back.pixels, img.pixels) << channels << " channels";
  }
}

TEST(MediaEncodeTest, PngRoundTripIsLosslessOnSharedPhotos) {
  const auto files = testing::ListFiles(testing::SharedPath("media/photos"));
  ASSERT_FALSE(files.empty());
  int checked = 0;
  for (size_t i = 0; i < files.size() && checked < 12; i += 29) {
    std::vector<uint8_t> bytes;
    Image img;
    ASSERT_TRUE(ReadFileBytes(files[i], 200u << 20, &bytes).ok());
    if (!DecodeImage(bytes, DecodeOptions(), &img).ok()) {
      continue;
    }
    std::string png;
    ASSERT_TRUE(EncodePng(img, &png).ok()) << files[i];
    Image back;
    ASSERT_TRUE(DecodeString(png, &back).ok()) << files[i];
    EXPECT_EQ(back.pixels, img.pixels) << files[i];
    ++checked;
  }
  EXPECT_GE(checked, 10);
}

TEST(MediaEncodeTest, JpegDecodesToClosePixels) {
  for (int channels : {1, 3}) {
    const Image img = Synthetic(131, 77, channels);
    std::string jpeg;
    ASSERT_TRUE(EncodeJpeg(img, 90, &jpeg).ok());
    Image back;
    ASSERT_TRUE(DecodeString(jpeg, &back).ok());
    EXPECT_EQ(back.format, ImageFormat::kJpeg);
    EXPECT_EQ(back.width, img.width);
    EXPECT_EQ(back.height, img.height);
    EXPECT_EQ(back.channels, channels);
    EXPECT_LT(MeanAbsDiff(img, back), 3.0) << channels << " channels";
  }
}

TEST(MediaEncodeTest, LowerQualityIsSmallerAndFurther) {
  const Image img = Synthetic(200, 150, 3);
  std::string q95, q30;
  ASSERT_TRUE(EncodeJpeg(img, 95, &q95).ok());
  ASSERT_TRUE(EncodeJpeg(img, 30, &q30).ok());
  EXPECT_LT(q30.size(), q95.size());
  Image b95, b30;
  ASSERT_TRUE(DecodeString(q95, &b95).ok());
  ASSERT_TRUE(DecodeString(q30, &b30).ok());
  EXPECT_LT(MeanAbsDiff(img, b95), MeanAbsDiff(img, b30));
}

// Incompressible noise at quality 100 outgrows the first output buffer
// guess, so the destination manager must grow it and keep what it wrote.
// Grey, so that no chroma subsampling blurs the comparison.
TEST(MediaEncodeTest, JpegOutputBufferGrows) {
  Image img = Synthetic(300, 200, 1);
  uint32_t x = 12345;
  for (auto& p : img.pixels) {
    x = x * 1664525u + 1013904223u;
    p = static_cast<uint8_t>(x >> 24);
  }
  std::string jpeg;
  ASSERT_TRUE(EncodeJpeg(img, 100, &jpeg).ok());
  EXPECT_GT(jpeg.size(), img.pixels.size() / 4);  // the first guess
  Image back;
  ASSERT_TRUE(DecodeString(jpeg, &back).ok());
  EXPECT_EQ(back.width, 300);
  EXPECT_LT(MeanAbsDiff(img, back), 1.5);
}

TEST(MediaEncodeTest, BadImagesAreRefused) {
  Image empty;
  Image two = Synthetic(8, 8, 1);
  two.channels = 2;
  two.pixels.resize(size_t{8} * 8 * 2);
  Image four = Synthetic(8, 8, 1);
  four.channels = 4;
  four.pixels.resize(size_t{8} * 8 * 4);
  Image short_buffer = Synthetic(8, 8, 3);
  short_buffer.pixels.pop_back();
  for (const Image* img : {&empty, &two, &four, &short_buffer}) {
    std::string out = "stale";
    Status s = EncodePng(*img, &out);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
    EXPECT_TRUE(out.empty());
    out = "stale";
    s = EncodeJpeg(*img, 90, &out);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
    EXPECT_TRUE(out.empty());
  }
}

TEST(MediaEncodeTest, BadJpegArgumentsAreRefused) {
  const Image img = Synthetic(16, 16, 3);
  std::string out;
  for (int quality : {0, -5, 101}) {
    Status s = EncodeJpeg(img, quality, &out);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << quality;
    EXPECT_NE(s.message().find("quality"), std::string::npos) << s.message();
  }
  // Wider than JPEG can describe: refused before libjpeg sees it.
  Image wide;
  wide.width = 65501;
  wide.height = 1;
  wide.channels = 1;
  wide.pixels.assign(65501, 128);
  Status s = EncodeJpeg(wide, 90, &out);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("65500"), std::string::npos) << s.message();
  // PNG has no such limit.
  EXPECT_TRUE(EncodePng(wide, &out).ok());
}

}  // namespace
}  // namespace safeguard::media
