// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// `safeguard hash` and `safeguard compare` on videos, through the binary.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <string>

#include "cli_util.h"
#include "test_util.h"

namespace safeguard {
namespace {

using testing::CliResult;
using testing::JsonLines;
using testing::RunCli;
using testing::SharedPath;
using testing::ShellQuote;

std::string Video(const std::string& name) { return SharedPath("video-vectors/videos/" + name + ".mp4"); }

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

class CliVideo : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("sg-cli-video-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
};

TEST_F(CliVideo, HashWritesTmkFilesIdenticalWithTheReference) {
  const std::string tmk = (dir_ / "tmk").string(), vpdq = (dir_ / "vpdq").string();
  std::filesystem::create_directories(tmk);
  std::filesystem::create_directories(vpdq);
  CliResult r =
      RunCli("hash --tmk-dir " + ShellQuote(tmk) + " --vpdq-dir " + ShellQuote(vpdq) + " " +
             ShellQuote(Video("doorknob-hd-no-bar")) + " " + ShellQuote(Video("pattern-sd-grey-bar")) + " " +
             ShellQuote(SharedPath("media/photos/python3-sklearn/china.jpg")));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto lines = JsonLines(r.out);
  ASSERT_EQ(lines.size(), 3u);
  for (int i = 0; i < 2; ++i) {
    const auto& j = lines[i];
    EXPECT_EQ(j["media"], "video");
    EXPECT_EQ(j["md5"].get<std::string>().size(), 32u);
    EXPECT_EQ(j["sha256"].get<std::string>().size(), 64u);
    EXPECT_EQ(j["codec"], "h264");
    EXPECT_GT(j["vpdq"]["frames"].get<int>(), 0);
    const std::string stem = i == 0 ? "doorknob-hd-no-bar" : "pattern-sd-grey-bar";
    EXPECT_EQ(j["tmk"]["file"], tmk + "/" + stem + ".tmk");
    EXPECT_TRUE(ReadAll(tmk + "/" + stem + ".tmk") ==
                ReadAll(SharedPath("video-vectors/expected/tmk/" + stem + ".tmk")))
        << stem;
    EXPECT_TRUE(std::filesystem::exists(vpdq + "/" + stem + ".vpdq"));
  }
  EXPECT_EQ(lines[0]["duration"], 4.0);
  // Images keep their record.
  EXPECT_EQ(lines[2]["quality"], 100);
  EXPECT_FALSE(lines[2].contains("media"));
}

TEST_F(CliVideo, HashEmbedsTmkInBase64AndReportsFilesThatAreNeither) {
  const std::string junk = (dir_ / "notes.txt").string();
  std::ofstream(junk) << "not a picture, not a film\n";
  CliResult r = RunCli("hash --tmk-base64 --vpdq-seconds 0 " + ShellQuote(Video("doorknob-hd-no-bar")) + " " +
                       ShellQuote(junk));
  EXPECT_EQ(r.exit_code, 1);
  const auto lines = JsonLines(r.out);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0]["vpdq"]["frames"], 120);  // every frame
  EXPECT_EQ(lines[0]["tmk"]["base64"].get<std::string>().size(), 4 * ((263344 + 2) / 3));
  EXPECT_EQ(lines[1]["error"]["code"], "unsupported_format");
  EXPECT_NE(lines[1]["error"]["message"].get<std::string>().find("neither an image"), std::string::npos);
}

TEST_F(CliVideo, CompareVideosImagesAndHashFiles) {
  CliResult r = RunCli("compare --vpdq-seconds 0 " + ShellQuote(Video("chair-22-sd-grey-bar")) + " " +
                       ShellQuote(Video("chair-orig-22-sd-bar")));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["kind"], "video");
  EXPECT_EQ(j["vpdq_match"], true);
  EXPECT_GE(j["vpdq_a_in_b_percent"].get<double>(), 80.0);
  EXPECT_EQ(j["tmk_match"], true);
  EXPECT_GT(j["tmk_level1"].get<double>(), 0.99);
  EXPECT_GT(j["tmk_level2"].get<double>(), 0.99);

  r = RunCli("compare " + ShellQuote(Video("chair-19-sd-bar")) + " " +
             ShellQuote(Video("doorknob-hd-no-bar")));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["vpdq_match"], false);
  EXPECT_EQ(j["tmk_match"], false);

  // The reference's own files compare without the videos.
  const std::string e = SharedPath("video-vectors/expected/");
  r = RunCli("compare " + ShellQuote(e + "tmk/chair-19-sd-bar.tmk") + " " +
             ShellQuote(e + "tmk/chair-orig-22-sd-bar.tmk"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["tmk_match"], true);
  EXPECT_FALSE(j.contains("vpdq_match"));
  r = RunCli("compare " + ShellQuote(e + "vpdq/chair-19-sd-bar.txt") + " " +
             ShellQuote(e + "vpdq/chair-orig-22-sd-bar.txt"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["vpdq_match"], true);

  r = RunCli("compare " + ShellQuote(SharedPath("media/photos/python3-sklearn/china.jpg")) + " " +
             ShellQuote(SharedPath("media/photos/python3-sklearn/china.jpg")));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["kind"], "image");
  EXPECT_EQ(j["pdq_distance"], 0);
  EXPECT_EQ(j["pdq_match"], true);

  r = RunCli("compare " + ShellQuote(SharedPath("media/photos/python3-sklearn/china.jpg")) + " " +
             ShellQuote(Video("doorknob-hd-no-bar")));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("is an image and the other a video"), std::string::npos) << r.err;
}

// A bank of videos: add-video stores MD5, SHA-256, vPDQ (every frame) and
// TMK; match finds a trimmed cut by vPDQ and TMK, a cropped copy by TMK
// alone, and nothing once the videos are withdrawn.
TEST_F(CliVideo, AddVideoThenMatchThenWithdraw) {
  const std::string data = " --data " + ShellQuote((dir_ / "data").string());
  ASSERT_EQ(RunCli("bank create stand-in --category csam" + data).exit_code, 0);
  CliResult r =
      RunCli("bank add-video stand-in --external-id case-7 " + ShellQuote(Video("chair-orig-22-sd-bar")) +
             " " + ShellQuote(Video("pattern-sd-grey-bar")) + data);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto lines = JsonLines(r.out);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0]["added"], 4);
  EXPECT_GT(lines[0]["vpdq_frames"].get<int>(), 600);  // every frame, not one a second
  r = RunCli("bank add-video stand-in " + ShellQuote(Video("chair-orig-22-sd-bar")) + data);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(JsonLines(r.out)[0]["duplicates"], 4);

  r = RunCli("match " + ShellQuote(Video("chair-orig-22-sd-bar")) + " " +
             ShellQuote(Video("chair-19-sd-bar")) + " " + ShellQuote(Video("pattern-hd-no-bar")) + " " +
             ShellQuote(Video("doorknob-hd-no-bar")) + data);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  lines = JsonLines(r.out);
  ASSERT_EQ(lines.size(), 4u);
  auto types = [](const nlohmann::json& line) {
    std::set<std::string> t;
    for (const auto& m : line["matches"]) t.insert(m["type"].get<std::string>());
    return t;
  };
  // The listed file itself: every signal.
  EXPECT_EQ(types(lines[0]), (std::set<std::string>{"md5", "sha256", "vpdq", "tmk"}));
  // A trimmed cut, scanned at one frame a second: vPDQ and TMK.
  EXPECT_EQ(types(lines[1]), (std::set<std::string>{"vpdq", "tmk"}));
  for (const auto& m : lines[1]["matches"]) {
    EXPECT_EQ(m["external_id"], "case-7");
    if (m["type"] == "vpdq") EXPECT_EQ(m["vpdq_query_percent"], 100.0);
  }
  // The HD crop of the pattern scene: TMK only (vPDQ misses crops).
  EXPECT_EQ(types(lines[2]), (std::set<std::string>{"tmk"}));
  // Another scene: nothing.
  EXPECT_TRUE(lines[3]["matches"].empty());

  r = RunCli("bank withdraw stand-in case-7" + data);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = RunCli("match " + ShellQuote(Video("chair-19-sd-bar")) + data);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(JsonLines(r.out)[0]["matches"].empty());
}

}  // namespace
}  // namespace safeguard
