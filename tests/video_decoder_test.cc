// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// The video decoder on the shared test videos and on hostile input: every
// bad file is refused with a message, never a crash or a hang.

#include "safeguard/video/video_decoder.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "test_util.h"

namespace safeguard::video {
namespace {

std::string VideoPath(const std::string& name) { return testing::SharedPath("video-vectors/videos/" + name); }

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Decodes every frame and returns their count (and the status).
Status CountFrames(const VideoInput& input, const VideoLimits& limits, int64_t* frames,
                   VideoInfo* info = nullptr) {
  *frames = 0;
  FrameSampling every;
  every.seconds_between_frames = 0;
  return DecodeFrames(
      input, every, limits,
      [&](const RgbFrame& f) {
        EXPECT_GE(f.stride, 3 * f.width);
        ++*frames;
        return Status::Ok();
      },
      info);
}

TEST(VideoDecoder, DecodesEveryFrameOfEverySharedVideo) {
  // Frame counts from ffprobe -count_frames on the same files.
  const std::pair<const char*, int64_t> kVideos[] = {{"chair-19-sd-bar.mp4", 564},
                                                     {"chair-22-sd-grey-bar.mp4", 673},
                                                     {"doorknob-hd-no-bar.mp4", 120},
                                                     {"pattern-hd-no-bar.mp4", 206},
                                                     {"test-padded-dimensions.mp4", 150}};
  for (const auto& [name, want] : kVideos) {
    int64_t frames = 0;
    VideoInfo info;
    Status s = CountFrames(VideoInput::File(VideoPath(name)), VideoLimits(), &frames, &info);
    ASSERT_TRUE(s.ok()) << name << ": " << s.ToString();
    EXPECT_EQ(frames, want) << name;
    EXPECT_EQ(info.frames_decoded, want) << name;
    EXPECT_EQ(info.codec, "h264");
    EXPECT_NEAR(info.frame_rate, 30.0, 1e-9);
    EXPECT_GT(info.width, 0);
    EXPECT_NEAR(info.duration_seconds, static_cast<double>(want) / 30.0, 0.05) << name;
  }
}

TEST(VideoDecoder, MemoryInputGivesTheSameFramesAsTheFile) {
  const std::string path = VideoPath("doorknob-hd-no-bar.mp4");
  const std::string bytes = ReadAll(path);
  auto collect = [](const VideoInput& in, std::vector<uint8_t>* pixels, std::vector<double>* times) {
    FrameSampling every;
    every.seconds_between_frames = 0;
    every.width = 32;
    every.height = 18;
    return DecodeFrames(
        in, every, VideoLimits(),
        [&](const RgbFrame& f) {
          for (int r = 0; r < f.height; ++r)
            pixels->insert(pixels->end(), f.rgb + r * f.stride, f.rgb + r * f.stride + 3 * f.width);
          times->push_back(f.timestamp);
          return Status::Ok();
        },
        nullptr);
  };
  std::vector<uint8_t> a, b;
  std::vector<double> ta, tb;
  ASSERT_TRUE(collect(VideoInput::File(path), &a, &ta).ok());
  ASSERT_TRUE(collect(VideoInput::Memory(bytes), &b, &tb).ok());
  EXPECT_EQ(ta.size(), 120u);
  EXPECT_EQ(a, b);
  EXPECT_EQ(ta, tb);
}

// The fast path (skipping frames nothing refers to between sampling times)
// against the exact one (decode everything, keep the first frame at or after
// each sampling time): the same frames, pixel for pixel.
TEST(VideoDecoder, SkippingDecodeSamplesTheSameFramesAsFullDecode) {
  for (const std::string& name : testing::ListFiles(testing::SharedPath("video-vectors/videos"))) {
    for (double step : {1.0, 0.5, 2.0 / 3.0}) {
      auto sample = [&](bool skip, std::vector<double>* times, std::vector<uint8_t>* pixels,
                        VideoInfo* info) {
        FrameSampling s;
        s.seconds_between_frames = step;
        s.skip_unneeded = skip;
        s.width = 48;
        s.height = 48;
        return DecodeFrames(
            VideoInput::File(name), s, VideoLimits(),
            [&](const RgbFrame& f) {
              times->push_back(f.timestamp);
              for (int r = 0; r < f.height; ++r)
                pixels->insert(pixels->end(), f.rgb + r * f.stride, f.rgb + r * f.stride + 3 * f.width);
              return Status::Ok();
            },
            info);
      };
      std::vector<double> t_fast, t_full;
      std::vector<uint8_t> p_fast, p_full;
      VideoInfo fast, full;
      ASSERT_TRUE(sample(true, &t_fast, &p_fast, &fast).ok()) << name;
      ASSERT_TRUE(sample(false, &t_full, &p_full, &full).ok()) << name;
      EXPECT_EQ(t_fast, t_full) << name << " every " << step << " s";
      EXPECT_TRUE(p_fast == p_full) << name << " every " << step << " s";
      EXPECT_LE(fast.frames_decoded, full.frames_decoded) << name;
      // Sampling times: one frame per step, the first at 0.
      ASSERT_FALSE(t_full.empty());
      EXPECT_NEAR(t_full[0], 0.0, 1e-9);
      EXPECT_NEAR(static_cast<double>(t_full.size()), std::ceil(full.duration_seconds / step - 1e-9), 1.0)
          << name;
    }
  }
}

TEST(VideoDecoder, RefusesBytesThatAreNotVideo) {
  for (const std::string& bytes : {std::string(), std::string("hello, this is plain text and not a video\n"),
                                   std::string(4096, '\0'), std::string(10000, '\x7f')}) {
    int64_t frames = 0;
    Status s = CountFrames(VideoInput::Memory(bytes), VideoLimits(), &frames);
    EXPECT_FALSE(s.ok());
    EXPECT_FALSE(s.message().empty());
    EXPECT_EQ(frames, 0);
  }
  int64_t frames = 0;
  Status s = CountFrames(VideoInput::File("/nonexistent/video.mp4"), VideoLimits(), &frames);
  EXPECT_EQ(s.code(), StatusCode::kNotFound) << s.ToString();
}

// A playlist or concat list names other files; FFmpeg would open them. The
// decoder must never read anything but the bytes it was given.
TEST(VideoDecoder, RefusesPlaylistsThatNameOtherFiles) {
  const std::string target = VideoPath("doorknob-hd-no-bar.mp4");
  const std::string lists[] = {
      "#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:4.0,\nfile://" + target + "\n#EXT-X-ENDLIST\n",
      "ffconcat version 1.0\nfile '" + target + "'\n",
  };
  for (const std::string& list : lists) {
    int64_t frames = 0;
    Status s = CountFrames(VideoInput::Memory(list), VideoLimits(), &frames);
    EXPECT_FALSE(s.ok()) << list;
    EXPECT_EQ(frames, 0) << list;
  }
}

TEST(VideoDecoder, TruncatedFilesKeepTheFramesBeforeTheBreakOrFailCleanly) {
  // Two layouts: chair-19 has its index (moov) first, so a cut keeps the
  // frames before it; files without the index fail with a message.
  for (const char* name : {"chair-19-sd-bar.mp4", "doorknob-hd-no-bar.mp4", "test-padded-dimensions.mp4"}) {
    const std::string bytes = ReadAll(VideoPath(name));
    int64_t all = 0;
    ASSERT_TRUE(CountFrames(VideoInput::Memory(bytes), VideoLimits(), &all).ok());
    for (double cut : {0.01, 0.1, 0.5, 0.9, 0.99}) {
      const std::string part = bytes.substr(0, static_cast<size_t>(static_cast<double>(bytes.size()) * cut));
      int64_t frames = 0;
      Status s = CountFrames(VideoInput::Memory(part), VideoLimits(), &frames);
      if (s.ok()) {
        EXPECT_GT(frames, 0) << name << " cut at " << cut;
        EXPECT_LE(frames, all) << name << " cut at " << cut;
      } else {
        EXPECT_FALSE(s.message().empty());
      }
    }
  }
}

TEST(VideoDecoder, GarbledPayloadGivesNoFramesAndAClearError) {
  // Every byte after the first 64 KiB (the index, in this file) overwritten:
  // the container still parses, no frame decodes.
  std::string bytes = ReadAll(VideoPath("chair-19-sd-bar.mp4"));
  ASSERT_GT(bytes.size(), 100000u);
  uint32_t x = 12345;
  for (size_t i = 65536; i < bytes.size(); ++i) {
    x = x * 1103515245u + 12345u;
    bytes[i] = static_cast<char>(x >> 24);
  }
  int64_t frames = 0;
  Status s = CountFrames(VideoInput::Memory(bytes), VideoLimits(), &frames);
  if (!s.ok()) {
    EXPECT_FALSE(s.message().empty());
  } else {
    // The decoder may conceal damage into some frames; it must not invent more.
    EXPECT_LE(frames, 564);
  }
}

TEST(VideoDecoder, LimitsRefuseOversizedLongAndSlowVideos) {
  const VideoInput in = VideoInput::File(VideoPath("chair-19-sd-bar.mp4"));  // 480x720, 564 frames, 18.8 s
  int64_t frames = 0;
  VideoLimits small;
  small.max_width = 400;
  Status s = CountFrames(in, small, &frames);
  EXPECT_EQ(s.code(), StatusCode::kTooLarge) << s.ToString();
  EXPECT_NE(s.message().find("480x720"), std::string::npos) << s.message();
  EXPECT_EQ(frames, 0);

  VideoLimits few;
  few.max_frames = 100;
  s = CountFrames(in, few, &frames);
  EXPECT_EQ(s.code(), StatusCode::kTooLarge) << s.ToString();
  EXPECT_NE(s.message().find("frame limit"), std::string::npos) << s.message();
  EXPECT_EQ(frames, 100);

  VideoLimits brief;
  brief.max_duration_seconds = 5;
  s = CountFrames(in, brief, &frames);
  EXPECT_EQ(s.code(), StatusCode::kTooLarge) << s.ToString();
  EXPECT_NE(s.message().find("duration limit"), std::string::npos) << s.message();

  VideoLimits hurried;
  hurried.max_decode_seconds = 0;
  s = CountFrames(in, hurried, &frames);
  EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s.ToString();
  EXPECT_NE(s.message().find("time limit"), std::string::npos) << s.message();
}

TEST(VideoDecoder, CallbackErrorStopsDecoding) {
  int calls = 0;
  FrameSampling every;
  every.seconds_between_frames = 0;
  Status s = DecodeFrames(
      VideoInput::File(VideoPath("doorknob-hd-no-bar.mp4")), every, VideoLimits(),
      [&](const RgbFrame&) { return ++calls == 3 ? Status::Internal("stop here") : Status::Ok(); }, nullptr);
  EXPECT_EQ(s.message(), "stop here");
  EXPECT_EQ(calls, 3);
}

TEST(VideoDecoder, TmkStreamHasTheReferenceFrameCount) {
  // frameFeatureCount in the reference's .tmk headers: the ffmpeg tool's
  // 15 fps output of these files.
  const std::pair<const char*, int64_t> kVideos[] = {{"chair-19-sd-bar.mp4", 284},
                                                     {"chair-22-sd-grey-bar.mp4", 338},
                                                     {"doorknob-hd-no-bar.mp4", 62},
                                                     {"pattern-sd-grey-bar.mp4", 105}};
  for (const auto& [name, want] : kVideos) {
    int64_t frames = 0;
    VideoInfo info;
    Status s = DecodeTmkFrames(
        VideoInput::File(VideoPath(name)), VideoLimits(),
        [&](const uint8_t* rgb) {
          ++frames;
          return Status::Ok();
        },
        &info);
    ASSERT_TRUE(s.ok()) << s.ToString();
    EXPECT_EQ(frames, want) << name;
    EXPECT_EQ(info.frames_output, want) << name;
  }
}

}  // namespace
}  // namespace safeguard::video
