// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// TMK+PDQF (src/video/tmk.cc) against the reference's .tmk files in
// ../shared/video-vectors/expected/tmk: the format round-trips byte for byte,
// hostile files are refused before anything large is allocated, the scores
// behave (self ~1, symmetric, the reference's thresholds separate the scenes),
// and the level-2 recurrence agrees with a direct evaluation. Also checks that
// pdq::FloatHashLuma, TMK's frame feature, is the float stage of HashLuma.

#include "safeguard/video/tmk.h"
#include "safeguard/video/video_hasher.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "safeguard/hash/pdq.h"
#include "safeguard/media/decode.h"
#include "test_util.h"

namespace safeguard::video {
namespace {

using safeguard::testing::ListFiles;
using safeguard::testing::SharedPath;
using safeguard::testing::TestDataPath;

std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string ExpectedDir() { return SharedPath("video-vectors/expected/tmk"); }

// The expected files by stem ("chair-19-sd-bar"), parsed.
const std::map<std::string, TmkFeatures>& Expected() {
  static const std::map<std::string, TmkFeatures>* files = [] {
    auto* m = new std::map<std::string, TmkFeatures>;
    for (const std::string& path : ListFiles(ExpectedDir())) {
      TmkFeatures f;
      Status s = TmkFeatures::Parse(ReadBytes(path), &f);
      EXPECT_TRUE(s.ok()) << path << ": " << s.ToString();
      const size_t slash = path.find_last_of('/');
      (*m)[path.substr(slash + 1, path.size() - slash - 1 - 4)] = f;
    }
    return m;
  }();
  return *files;
}

const TmkFeatures& ExpectedFeatures(const std::string& stem) {
  auto it = Expected().find(stem);
  EXPECT_NE(it, Expected().end()) << stem;
  static const TmkFeatures kEmpty;
  return it == Expected().end() ? kEmpty : it->second;
}

void PutI32At(std::string* bytes, size_t offset, int32_t v) {
  for (int i = 0; i < 4; ++i) (*bytes)[offset + i] = static_cast<char>(static_cast<uint32_t>(v) >> (8 * i));
}

void PutFloatAt(std::string* bytes, size_t offset, float f) {
  PutI32At(bytes, offset, static_cast<int32_t>(std::bit_cast<uint32_t>(f)));
}

// A valid file to corrupt: the first expected one.
std::string SampleBytes() {
  const std::vector<std::string> files = ListFiles(ExpectedDir());
  return files.empty() ? std::string() : ReadBytes(files[0]);
}

// Byte offsets in a default-shaped file (P = 4, C = 32, D = 256).
constexpr size_t kPeriodsAt = 32;
constexpr size_t kCoefficientsAt = kPeriodsAt + 4 * 4;
constexpr size_t kAverageAt = kCoefficientsAt + 4 * 32;
constexpr size_t kCosAt = kAverageAt + 4 * 256;
constexpr size_t kSinAt = kCosAt + 4 * 4 * 32 * 256;

// Parses `bytes`, expecting refusal with `code` and a message containing
// `words`; *out must be left as it was.
void ExpectRefused(const std::string& bytes, StatusCode code, const std::string& words) {
  TmkFeatures out;
  out.frame_count = 12345;
  Status s = TmkFeatures::Parse(bytes, &out);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), code) << s.ToString();
  EXPECT_NE(s.message().find(words), std::string::npos) << s.ToString();
  EXPECT_EQ(out.frame_count, 12345);
  EXPECT_TRUE(out.periods.empty());
}

TEST(TmkFormat, ExpectedFilesArePresent) {
  // The five reference outputs the rest of this file relies on.
  EXPECT_EQ(ListFiles(ExpectedDir()).size(), 5u);
}

TEST(TmkFormat, RoundTripIsByteIdentical) {
  for (const std::string& path : ListFiles(ExpectedDir())) {
    const std::string bytes = ReadBytes(path);
    TmkFeatures f;
    ASSERT_TRUE(TmkFeatures::Parse(bytes, &f).ok()) << path;
    EXPECT_TRUE(f.Serialize() == bytes) << path;
  }
}

TEST(TmkFormat, HeaderMatchesTheReferenceParameters) {
  // Frame counts of the 15 fps streams the reference hashed.
  const std::map<std::string, int> frames = {{"chair-19-sd-bar", 284},
                                             {"chair-22-sd-grey-bar", 338},
                                             {"chair-orig-22-sd-bar", 338},
                                             {"doorknob-hd-no-bar", 62},
                                             {"pattern-sd-grey-bar", 105}};
  // An empty builder carries our periods and coefficients: they must be the
  // reference's to the bit, or no score could be compatible.
  TmkBuilder builder;
  const TmkFeatures ours = builder.Finish();
  for (const auto& [stem, count] : frames) {
    const TmkFeatures& f = ExpectedFeatures(stem);
    EXPECT_EQ(f.frames_per_second, kTmkFramesPerSecond) << stem;
    EXPECT_EQ(f.frame_count, count) << stem;
    EXPECT_EQ(f.periods, ours.periods) << stem;
    ASSERT_EQ(f.coefficients.size(), ours.coefficients.size()) << stem;
    EXPECT_EQ(0, std::memcmp(f.coefficients.data(), ours.coefficients.data(), 4 * f.coefficients.size()))
        << stem;
    EXPECT_TRUE(TmkCompatible(f, ours).ok()) << stem;
  }
  EXPECT_EQ(ours.periods, (std::vector<int32_t>{2731, 4391, 9767, 14653}));
}

TEST(TmkFormat, RefusesTruncatedFiles) {
  const std::string bytes = SampleBytes();
  ASSERT_EQ(bytes.size(), kSinAt + 4 * 4 * 32 * 256);
  for (size_t n : {size_t{0}, size_t{3}}) {
    ExpectRefused(bytes.substr(0, n), StatusCode::kUnsupportedFormat, "not a TMK file");
  }
  for (size_t n : {size_t{4}, size_t{31}}) {
    ExpectRefused(bytes.substr(0, n), StatusCode::kCorrupt, "header (truncated)");
  }
  for (size_t n : {size_t{32}, kCoefficientsAt + 1, kCosAt, kSinAt + 100, bytes.size() - 1}) {
    ExpectRefused(bytes.substr(0, n), StatusCode::kCorrupt, "(truncated)");
  }
}

TEST(TmkFormat, RefusesTrailingBytes) {
  ExpectRefused(SampleBytes() + std::string(4, '\0'), StatusCode::kCorrupt, "4 trailing bytes");
}

TEST(TmkFormat, RefusesOtherFilesAndFrameFeatures) {
  std::string bytes = SampleBytes();
  ExpectRefused("\x89PNG\r\n\x1a\n" + bytes.substr(8), StatusCode::kUnsupportedFormat, "not a TMK file");
  std::string feat = bytes;
  feat.replace(4, 4, "FEAT");
  ExpectRefused(feat, StatusCode::kUnsupportedFormat, "\"FEAT\"");
  std::string algorithm = bytes;
  algorithm.replace(8, 4, std::string("PD\x01Q", 4));
  ExpectRefused(algorithm, StatusCode::kUnsupportedFormat, "\"PD?Q\"; only \"PDQF\"");
}

TEST(TmkFormat, RefusesHostileHeadersWithoutAllocating) {
  // Counts that would ask for gigabytes (or negative sizes) are refused from
  // the header alone; run under ASan this also shows nothing is read past the
  // end.
  const std::string bytes = SampleBytes();
  struct Case {
    size_t offset;
    int32_t value;
    const char* words;
  };
  const Case cases[] = {
      {12, 0, "frames per second is 0"},
      {12, -15, "frames per second is -15"},
      {16, std::numeric_limits<int32_t>::max(), "2147483647 periods"},
      {16, -1, "-1 periods"},
      {20, 1 << 30, "1073741824 Fourier coefficients"},
      {20, std::numeric_limits<int32_t>::min(), "-2147483648 Fourier coefficients"},
      {24, 255, "the header says 255"},
      {24, std::numeric_limits<int32_t>::max(), "the header says 2147483647"},
      {28, -1, "frame count is -1"},
      // Consistent-looking counts whose data is not there.
      {16, 64, "(truncated)"},
      {20, 1024, "(truncated)"},
      {16, 3, "trailing bytes"},
      // Periods scoring would loop over for ever.
      {kPeriodsAt, 0, "period 0 is 0 frames"},
      {kPeriodsAt + 12, -14653, "period 3 is -14653 frames"},
      {kPeriodsAt + 4, std::numeric_limits<int32_t>::max(), "period 1 is 2147483647 frames"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.words);
    std::string hostile = bytes;
    PutI32At(&hostile, c.offset, c.value);
    ExpectRefused(hostile, StatusCode::kCorrupt, c.words);
  }
}

TEST(TmkFormat, RefusesNonFiniteAndNonPositiveValues) {
  const std::string bytes = SampleBytes();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  struct Case {
    size_t offset;
    float value;
    const char* words;
  };
  const Case cases[] = {
      {kCoefficientsAt + 4 * 5, nan, "NaN or infinite value in its Fourier coefficients (float 5)"},
      {kAverageAt + 4 * 7, inf, "pure-average feature (float 7)"},
      {kCosAt + 4 * 1000, -inf, "cosine features (float 1000)"},
      {bytes.size() - 4, nan, "sine features (float 32767)"},
      {kCoefficientsAt, 0.0f, "Fourier coefficient 0 is 0"},
      {kCoefficientsAt + 4 * 31, -1.0f, "coefficient 31 is -1"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.words);
    std::string bad = bytes;
    PutFloatAt(&bad, c.offset, c.value);
    ExpectRefused(bad, StatusCode::kCorrupt, c.words);
  }
}

TEST(TmkScore, SelfScoresAreOne) {
  for (const auto& [stem, f] : Expected()) {
    EXPECT_NEAR(TmkLevel1Score(f, f), 1.0f, 1e-5) << stem;
    EXPECT_NEAR(TmkLevel2Score(f, f), 1.0f, 1e-4) << stem;
  }
}

TEST(TmkScore, ScoresAreSymmetric) {
  // Level 2 is symmetric only up to rounding: swapping the videos negates
  // the sine terms, which the float recurrence evaluates in another order.
  for (const auto& [sa, a] : Expected()) {
    for (const auto& [sb, b] : Expected()) {
      EXPECT_EQ(TmkLevel1Score(a, b), TmkLevel1Score(b, a)) << sa << " " << sb;
      EXPECT_NEAR(TmkLevel2Score(a, b), TmkLevel2Score(b, a), 1e-5) << sa << " " << sb;
    }
  }
}

TEST(TmkScore, ReferenceThresholdsSeparateTheScenes) {
  const char* chairs[] = {"chair-19-sd-bar", "chair-22-sd-grey-bar", "chair-orig-22-sd-bar"};
  for (const char* x : chairs) {
    for (const char* y : chairs) {
      const TmkFeatures& a = ExpectedFeatures(x);
      const TmkFeatures& b = ExpectedFeatures(y);
      EXPECT_GE(TmkLevel1Score(a, b), kTmkLevel1Threshold) << x << " " << y;
      EXPECT_GE(TmkLevel2Score(a, b), kTmkLevel2Threshold) << x << " " << y;
    }
  }
  const char* scenes[] = {"chair-19-sd-bar", "doorknob-hd-no-bar", "pattern-sd-grey-bar"};
  for (const char* x : scenes) {
    for (const char* y : scenes) {
      if (x == y) continue;
      const TmkFeatures& a = ExpectedFeatures(x);
      const TmkFeatures& b = ExpectedFeatures(y);
      // Both levels fail on their own, with a wide margin (all below 0.3).
      EXPECT_LT(TmkLevel1Score(a, b), 0.3f) << x << " " << y;
      EXPECT_LT(TmkLevel2Score(a, b), 0.3f) << x << " " << y;
    }
  }
  // Re-encodings of one clip (grey vs colour) are nearly identical.
  EXPECT_GT(
      TmkLevel2Score(ExpectedFeatures("chair-22-sd-grey-bar"), ExpectedFeatures("chair-orig-22-sd-bar")),
      0.999f);
}

// K_delta by direct evaluation in double: the formula of the reference's
// tmkfv.h, with cos(j delta) and sin(j delta) from libm at every step.
double DirectLevel2Score(const TmkFeatures& a, const TmkFeatures& b) {
  const int num_periods = static_cast<int>(a.periods.size());
  const int num_coefficients = static_cast<int>(a.coefficients.size());
  auto dot = [](const float* u, const float* v) {
    double s = 0;
    for (int k = 0; k < kTmkFeatureDim; ++k) s += static_cast<double>(u[k]) * v[k];
    return s;
  };
  double best = -1e300;
  for (int i = 0; i < num_periods; ++i) {
    std::vector<double> even(num_coefficients), odd(num_coefficients);
    for (int j = 0; j < num_coefficients; ++j) {
      const size_t at = (static_cast<size_t>(i) * num_coefficients + j) * kTmkFeatureDim;
      const float* ac = &a.cos_features[at];
      const float* as = &a.sin_features[at];
      const float* bc = &b.cos_features[at];
      const float* bs = &b.sin_features[at];
      even[j] = dot(ac, bc) + dot(as, bs);
      odd[j] = dot(as, bc) - dot(ac, bs);
    }
    for (int offset = 0; offset < a.periods[i]; ++offset) {
      const double delta = 2 * M_PI * offset / a.periods[i];
      double k = even[0];
      for (int j = 1; j < num_coefficients; ++j)
        k += std::cos(j * delta) * even[j] + std::sin(j * delta) * odd[j];
      best = std::max(best, k);
    }
  }
  double normalizer = a.coefficients[0];
  for (int j = 1; j < num_coefficients; ++j) normalizer += 2.0 * a.coefficients[j];
  return best / normalizer;
}

TEST(TmkScore, Level2AgreesWithDirectEvaluation) {
  // The recurrence (float, incremental angles) against the formula, for
  // every pair; ~2 M libm calls a pair.
  double worst = 0;
  for (const auto& [sa, a] : Expected()) {
    for (const auto& [sb, b] : Expected()) {
      const double diff = std::fabs(TmkLevel2Score(a, b) - DirectLevel2Score(a, b));
      EXPECT_LT(diff, 2e-6) << sa << " " << sb;
      worst = std::max(worst, diff);
    }
  }
  std::printf("largest |recurrence - direct| = %.3g\n", worst);
}

TEST(TmkScore, IncompatibleFeaturesAreRefused) {
  const TmkFeatures& good = ExpectedFeatures("chair-19-sd-bar");
  TmkFeatures other_period = good;
  other_period.periods[2] = 9768;
  Status s = TmkCompatible(good, other_period);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("period 2 differs (9767 vs 9768)"), std::string::npos) << s.ToString();
  EXPECT_EQ(TmkLevel1Score(good, other_period), 0.0f);
  EXPECT_EQ(TmkLevel2Score(good, other_period), 0.0f);

  TmkFeatures other_fps = good;
  other_fps.frames_per_second = 30;
  EXPECT_EQ(TmkCompatible(good, other_fps).code(), StatusCode::kInvalidArgument);

  // The reference tolerates a relative 1e-6 in the coefficients.
  TmkFeatures near = good;
  near.coefficients[3] = std::nextafter(near.coefficients[3], 1.0f);
  EXPECT_TRUE(TmkCompatible(good, near).ok());
  TmkFeatures far = good;
  far.coefficients[3] *= 1.001f;
  EXPECT_EQ(TmkCompatible(good, far).code(), StatusCode::kInvalidArgument);

  // Hand-built values with inconsistent sizes are caller mistakes: refused,
  // never read out of bounds.
  TmkFeatures malformed = good;
  malformed.sin_features.pop_back();
  s = TmkCompatible(malformed, good);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("first TMK features are malformed"), std::string::npos) << s.ToString();
  EXPECT_EQ(TmkLevel2Score(good, malformed), 0.0f);
  TmkFeatures zero_period = good;
  zero_period.periods[0] = 0;
  EXPECT_EQ(TmkCompatible(zero_period, zero_period).code(), StatusCode::kInvalidArgument);
}

// A 64x64 RGB frame of a moving pattern, frame t of a synthetic clip.
std::vector<uint8_t> SyntheticFrame(int t, uint32_t seed) {
  std::vector<uint8_t> rgb(kTmkFrameDim * kTmkFrameDim * 3);
  for (int y = 0; y < kTmkFrameDim; ++y) {
    for (int x = 0; x < kTmkFrameDim; ++x) {
      const double v =
          128 + 60 * std::sin((x + 2 * t + seed % 17) * 0.2) + 50 * std::cos((y - t) * 0.15 + seed);
      for (int c = 0; c < 3; ++c) {
        rgb[(y * kTmkFrameDim + x) * 3 + c] = static_cast<uint8_t>(std::clamp(v + 10 * c, 0.0, 255.0));
      }
    }
  }
  return rgb;
}

TEST(TmkBuilder, AddFrameIsLumaThenFloatHashThenAddFeature) {
  TmkBuilder by_frame, by_feature;
  std::vector<float> luma(kTmkFrameDim * kTmkFrameDim);
  std::vector<float> scratch(pdq::ScratchFloats(kTmkFrameDim, kTmkFrameDim));
  for (int t = 0; t < 40; ++t) {
    const std::vector<uint8_t> rgb = SyntheticFrame(t, 1);
    by_frame.AddFrame(rgb.data());
    pdq::LumaFromRgb(rgb.data(), kTmkFrameDim, kTmkFrameDim, luma.data());
    float feature[16][16];
    int quality;
    pdq::FloatHashLuma(luma.data(), scratch.data(), kTmkFrameDim, kTmkFrameDim, feature, &quality);
    by_feature.AddFeature(&feature[0][0]);
  }
  EXPECT_EQ(by_frame.frame_count(), 40);
  EXPECT_TRUE(by_frame.Finish().Serialize() == by_feature.Finish().Serialize());
}

TEST(TmkBuilder, FinishResetsForTheNextVideo) {
  TmkBuilder builder;
  std::string first;
  for (int round = 0; round < 2; ++round) {
    for (int t = 0; t < 25; ++t) builder.AddFrame(SyntheticFrame(t, 2).data());
    const std::string bytes = builder.Finish().Serialize();
    if (round == 0) {
      first = bytes;
    } else {
      EXPECT_TRUE(bytes == first);
    }
    EXPECT_EQ(builder.frame_count(), 0);
  }
}

TEST(TmkBuilder, EmptyVideoIsAValidFileThatMatchesNothing) {
  TmkBuilder builder;
  const TmkFeatures empty = builder.Finish();
  EXPECT_EQ(empty.frame_count, 0);
  const std::string bytes = empty.Serialize();
  EXPECT_EQ(bytes.size(), kSinAt + 4 * 4 * 32 * 256);
  TmkFeatures parsed;
  ASSERT_TRUE(TmkFeatures::Parse(bytes, &parsed).ok());
  EXPECT_TRUE(parsed.Serialize() == bytes);
  const TmkFeatures& chair = ExpectedFeatures("chair-19-sd-bar");
  EXPECT_EQ(TmkLevel1Score(empty, chair), 0.0f);
  EXPECT_EQ(TmkLevel1Score(empty, empty), 0.0f);
  EXPECT_LT(TmkLevel2Score(empty, chair), kTmkLevel2Threshold);
}

TEST(TmkBuilder, SyntheticClipsScoreAsExpected) {
  TmkBuilder builder;
  for (int t = 0; t < 90; ++t) builder.AddFrame(SyntheticFrame(t, 3).data());
  const TmkFeatures a = builder.Finish();
  // The same clip with its first second cut: the best time offset recovers
  // the alignment.
  for (int t = 15; t < 90; ++t) builder.AddFrame(SyntheticFrame(t, 3).data());
  const TmkFeatures cut = builder.Finish();
  EXPECT_NEAR(TmkLevel2Score(a, a), 1.0f, 1e-4);
  EXPECT_GE(TmkLevel2Score(a, cut), kTmkLevel2Threshold);
  EXPECT_GE(TmkLevel1Score(a, cut), kTmkLevel1Threshold);
  // A round trip through the file format changes nothing.
  TmkFeatures parsed;
  ASSERT_TRUE(TmkFeatures::Parse(a.Serialize(), &parsed).ok());
  EXPECT_EQ(TmkLevel2Score(parsed, cut), TmkLevel2Score(a, cut));
}

// PDQ's bits from FloatHashLuma's output: above the median (the 128th
// smallest of the 256 values), as the reference's pdqBuffer16x16ToBits.
pdq::Hash256 ThresholdAtMedian(const float b[16][16]) {
  float sorted[256];
  std::memcpy(sorted, b, sizeof(sorted));
  std::sort(sorted, sorted + 256);
  pdq::Hash256 hash;
  for (int k = 0; k < 256; ++k) {
    if (b[k / 16][k % 16] > sorted[127]) hash.SetBit(k);
  }
  return hash;
}

void ExpectFloatHashGivesHashLuma(const std::vector<float>& luma, int rows, int cols) {
  SCOPED_TRACE(std::to_string(rows) + "x" + std::to_string(cols));
  std::vector<float> scratch(pdq::ScratchFloats(rows, cols));
  std::vector<float> work = luma;
  float b[16][16];
  int float_quality;
  pdq::FloatHashLuma(work.data(), scratch.data(), rows, cols, b, &float_quality);
  if (rows == 64 && cols == 64) {
    EXPECT_TRUE(work == luma) << "a 64x64 image must not be clobbered";
  }
  work = luma;
  pdq::Hash256 hash;
  int quality;
  pdq::HashLuma(work.data(), scratch.data(), rows, cols, &hash, &quality, nullptr);
  EXPECT_TRUE(ThresholdAtMedian(b) == hash);
  EXPECT_EQ(float_quality, quality);
}

TEST(PdqFloatHashLuma, ThresholdAtMedianIsHashLuma) {
  std::mt19937 rng(11);
  const int sizes[][2] = {{64, 64}, {64, 65}, {37, 100}, {128, 128}, {300, 211}, {5, 9}};
  for (const auto& size : sizes) {
    const int rows = size[0], cols = size[1];
    std::vector<float> luma(static_cast<size_t>(rows) * cols);
    for (int y = 0; y < rows; ++y) {
      for (int x = 0; x < cols; ++x) {
        luma[static_cast<size_t>(y) * cols + x] =
            static_cast<float>(128 + 90 * std::sin(x * 0.11 + y * 0.05) + rng() % 40);
      }
    }
    ExpectFloatHashGivesHashLuma(luma, rows, cols);
  }
  // A photo, as PDQ sees it.
  std::vector<uint8_t> file;
  ASSERT_TRUE(media::ReadFileBytes(TestDataPath("bridge.ppm"), 1 << 26, &file).ok());
  media::Image image;
  ASSERT_TRUE(media::DecodeImage(file, media::DecodeOptions(), &image).ok());
  ASSERT_EQ(image.channels, 3);
  std::vector<float> luma(static_cast<size_t>(image.width) * image.height);
  pdq::LumaFromRgb(image.pixels.data(), image.height, image.width, luma.data());
  ExpectFloatHashGivesHashLuma(luma, image.height, image.width);
}

// Found by fuzz_video_signals: a list entry with averages near the float
// limit overflows the cosine to NaN (inf would pass every threshold). Scores
// that are not finite count as 0.
TEST(TmkScore, ScoresOfValuesNearTheFloatLimitAreZeroNotNan) {
  TmkFeatures a = ExpectedFeatures("chair-19-sd-bar");
  for (float& v : a.pure_average) v = 3e38f;
  for (float& v : a.cos_features) v = 3e38f;
  TmkFeatures parsed;
  ASSERT_TRUE(TmkFeatures::Parse(a.Serialize(), &parsed).ok());  // finite values parse
  EXPECT_EQ(TmkLevel1Score(parsed, parsed), 0.0f);
  EXPECT_TRUE(std::isfinite(TmkLevel2Score(parsed, ExpectedFeatures("chair-19-sd-bar"))));
}

// The whole path: video file -> our FFmpeg-library frame stream -> PDQF ->
// TMK -> .tmk bytes, equal to the reference's (which piped the ffmpeg tool)
// byte for byte, from a file and from bytes in memory.
TEST(TmkEndToEnd, VideoToTmkIsByteIdenticalWithTheReference) {
  for (const auto& [stem, expected] : Expected()) {
    const std::string video = SharedPath("video-vectors/videos/" + stem + ".mp4");
    const std::string want = ReadBytes(ExpectedDir() + "/" + stem + ".tmk");
    VideoHashOptions options;
    options.vpdq = false;
    VideoHashes from_file, from_memory;
    Status s = HashVideo(VideoInput::File(video), options, &from_file);
    ASSERT_TRUE(s.ok()) << stem << ": " << s.ToString();
    ASSERT_TRUE(from_file.tmk.has_value());
    EXPECT_EQ(from_file.tmk->frame_count, expected.frame_count) << stem;
    const std::string got = from_file.tmk->Serialize();
    ASSERT_EQ(got.size(), want.size()) << stem;
    EXPECT_TRUE(got == want) << stem << ": .tmk bytes differ from the reference";
    const std::string bytes = ReadBytes(video);
    s = HashVideo(VideoInput::Memory(bytes), options, &from_memory);
    ASSERT_TRUE(s.ok()) << stem << ": " << s.ToString();
    EXPECT_TRUE(from_memory.tmk->Serialize() == want) << stem << " (from memory)";
    EXPECT_EQ(from_file.md5, from_memory.md5);
    EXPECT_EQ(from_file.sha256, from_memory.sha256);
    EXPECT_EQ(from_file.file_bytes, bytes.size());
  }
}

}  // namespace
}  // namespace safeguard::video
