// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// vPDQ against the reference's outputs in ../shared/video-vectors/expected/vpdq.
// Those depend on the FFmpeg that decoded them, so frames are compared with a
// tolerance and the distribution of distances is printed.

#include "safeguard/video/vpdq.h"
#include "safeguard/video/video_hasher.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "test_util.h"

namespace safeguard::video {
namespace {

std::string VideoPath(const std::string& name) {
  return testing::SharedPath("video-vectors/videos/" + name + ".mp4");
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::vector<VpdqFrame> Expected(const std::string& file) {
  std::vector<VpdqFrame> frames;
  Status s = ParseVpdqText(ReadAll(testing::SharedPath("video-vectors/expected/vpdq/" + file)), &frames);
  EXPECT_TRUE(s.ok()) << file << ": " << s.ToString();
  return frames;
}

std::vector<VpdqFrame> Hash(const std::string& name, double step, int side = 0) {
  VpdqOptions o;
  o.seconds_between_frames = step;
  o.width = o.height = side;
  std::vector<VpdqFrame> frames;
  Status s = HashVideoVpdq(VideoInput::File(VideoPath(name)), o, VideoLimits(), &frames, nullptr);
  EXPECT_TRUE(s.ok()) << name << ": " << s.ToString();
  return frames;
}

TEST(Vpdq, MatchesTheReferenceFrameByFrame) {
  for (const std::string& path : testing::ListFiles(testing::SharedPath("video-vectors/expected/vpdq"))) {
    const std::string file = path.substr(path.rfind('/') + 1);
    const bool small = file.find("-128x128") != std::string::npos;
    const std::string name = file.substr(0, file.size() - 4 - (small ? 8 : 0));
    const std::vector<VpdqFrame> want = Expected(file);
    const std::vector<VpdqFrame> got = Hash(name, 0, small ? 128 : 0);
    ASSERT_EQ(got.size(), want.size()) << file;
    std::vector<int> d;
    int quality_differs = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(got[i].index, want[i].index) << file << " frame " << i;
      EXPECT_NEAR(got[i].timestamp, want[i].timestamp, 0.0015) << file << " frame " << i;
      quality_differs += got[i].quality != want[i].quality;
      EXPECT_NEAR(got[i].quality, want[i].quality, 30) << file << " frame " << i;
      if (want[i].quality >= kVpdqMinQuality) {
        d.push_back(got[i].hash.HammingDistance(want[i].hash));
        // Different FFmpeg builds decode a little differently; a frame the
        // reference can match must still match its own hash.
        EXPECT_LE(d.back(), kVpdqMaxDistance) << file << " frame " << i;
      }
    }
    ASSERT_FALSE(d.empty()) << file;
    std::sort(d.begin(), d.end());
    const int p50 = d[d.size() / 2], p90 = d[d.size() * 9 / 10], max = d.back();
    std::printf(
        "  %-36s frames %4zu (quality>=50: %4zu)  distance p50 %2d p90 %2d max %2d  quality differs on %d\n",
        file.c_str(), got.size(), d.size(), p50, p90, max, quality_differs);
    EXPECT_LE(p50, 4) << file;
    EXPECT_LE(p90, 12) << file;
    // And as vPDQ matching sees it: the two hash lists are the same video.
    const VpdqComparison c = CompareVpdq(got, want);
    EXPECT_TRUE(c.match) << file;
    // Frames whose quality is near 50 fall on different sides of the cut.
    EXPECT_GE(c.query_match_percent, 95.0) << file;
    EXPECT_GE(c.target_match_percent, 95.0) << file;
  }
}

// One frame a second is the first frame at or after each whole second of the
// every-frame hashing: the same hashes.
TEST(Vpdq, OneFrameASecondIsASubsetOfEveryFrame) {
  for (const char* name : {"chair-19-sd-bar", "doorknob-hd-no-bar", "pattern-longer-no-bar"}) {
    const std::vector<VpdqFrame> all = Hash(name, 0);
    const std::vector<VpdqFrame> sampled = Hash(name, 1.0);
    ASSERT_FALSE(sampled.empty());
    size_t j = 0;
    double next = 0;
    for (const VpdqFrame& f : all) {
      if (f.timestamp + 1e-6 < next) continue;
      next = std::floor(f.timestamp + 1e-6) + 1;
      ASSERT_LT(j, sampled.size()) << name;
      EXPECT_EQ(sampled[j].index, f.index) << name;
      EXPECT_EQ(sampled[j].hash, f.hash) << name << " at " << f.timestamp;
      EXPECT_EQ(sampled[j].quality, f.quality) << name;
      ++j;
    }
    EXPECT_EQ(j, sampled.size()) << name;
  }
}

TEST(Vpdq, TextRoundTripsAndRefusesBadLines) {
  const std::vector<VpdqFrame> want = Expected("pattern-sd-grey-bar.txt");
  const std::string text = VpdqToText(want);
  EXPECT_EQ(text, ReadAll(testing::SharedPath("video-vectors/expected/vpdq/pattern-sd-grey-bar.txt")));
  std::vector<VpdqFrame> back;
  ASSERT_TRUE(ParseVpdqText(text, &back).ok());
  ASSERT_EQ(back.size(), want.size());
  for (size_t i = 0; i < back.size(); ++i) EXPECT_EQ(back[i].hash, want[i].hash);

  const char* bad[] = {
      "0,100,abc,0.000\n",
      "0,100\n",
      "x,100,e271017837246aaccddea259648fb7d62f435c89d9e99b2497763e216c8d055c,0.000\n",
      "0,101,e271017837246aaccddea259648fb7d62f435c89d9e99b2497763e216c8d055c,0.000\n",
      "0,100,e271017837246aaccddea259648fb7d62f435c89d9e99b2497763e216c8d055c,nan\n",
      "0,100,e271017837246aaccddea259648fb7d62f435c89d9e99b2497763e216c8d055c,5.e167\n",
      "0,100,e271017837246aaccddea259648fb7d62f435c89d9e99b2497763e216c8d055c,0.000,extra\n",
  };
  for (const char* line : bad) {
    Status s = ParseVpdqText(line, &back);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << line;
    EXPECT_NE(s.message().find("line 1"), std::string::npos) << s.message();
  }
  ASSERT_TRUE(ParseVpdqText("\n\r\n", &back).ok());
  EXPECT_TRUE(back.empty());
}

TEST(Vpdq, MatchableHashesDropLowQualityAndDuplicates) {
  std::vector<VpdqFrame> frames(4);
  pdq::Hash256::FromHex("e271017837246aaccddea259648fb7d62f435c89d9e99b2497763e216c8d055c", &frames[0].hash);
  frames[0].quality = 100;
  frames[1] = frames[0];
  frames[2] = frames[0];
  frames[2].hash.w[0] ^= 1;
  frames[2].quality = 49;
  frames[3] = frames[0];
  frames[3].hash.w[3] ^= 0xff;
  frames[3].quality = 50;
  const std::vector<pdq::Hash256> m = VpdqMatchableHashes(frames);
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0], frames[0].hash);
  EXPECT_EQ(m[1], frames[3].hash);
}

// The matrix of docs/video.md, pinned: which variants vPDQ at one frame a
// second calls the same video. Different scenes never match.
TEST(Vpdq, SameSceneVariantsMatchAndDifferentScenesNever) {
  std::map<std::string, std::vector<VpdqFrame>> h;
  for (const std::string& path : testing::ListFiles(testing::SharedPath("video-vectors/videos"))) {
    std::string name = path.substr(path.rfind('/') + 1);
    name = name.substr(0, name.size() - 4);
    h[name] = Hash(name, 1.0);
  }
  auto scene = [](const std::string& n) { return n.substr(0, n.find('-')); };
  int same_pairs = 0, same_matched = 0;
  for (const auto& [a, ha] : h) {
    for (const auto& [b, hb] : h) {
      if (a >= b) continue;
      const VpdqComparison c = CompareVpdq(ha, hb);
      const VpdqComparison r = CompareVpdq(hb, ha);
      EXPECT_DOUBLE_EQ(c.query_match_percent, r.target_match_percent) << a << " " << b;
      EXPECT_EQ(c.match, r.match);
      if (scene(a) != scene(b)) {
        EXPECT_FALSE(c.match) << a << " vs " << b << ": " << c.query_match_percent << "% / "
                              << c.target_match_percent << "%";
      } else {
        ++same_pairs;
        same_matched += c.match;
      }
    }
  }
  std::printf("  vPDQ at 1 fps: %d of %d same-scene pairs match\n", same_matched, same_pairs);
  // The plain re-encodes and colour changes of one scene match.
  EXPECT_TRUE(CompareVpdq(h["chair-22-sd-grey-bar"], h["chair-orig-22-sd-bar"]).match);
  EXPECT_TRUE(CompareVpdq(h["chair-22-sd-sepia-bar"], h["chair-orig-22-sd-bar"]).match);
  EXPECT_TRUE(CompareVpdq(h["chair-22-with-small-logo-bar"], h["chair-orig-22-sd-bar"]).match);
  EXPECT_TRUE(CompareVpdq(h["pattern-sd-grey-bar"], h["pattern-sd-with-small-logo-bar"]).match);
}

}  // namespace
}  // namespace safeguard::video
