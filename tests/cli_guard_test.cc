// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// `safeguard guard prompt`, run as a user would. The one refused prompt is
// a single list word, not a request for anything.

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "cli_util.h"
#include "safeguard/guard/image_classifier.h"
#include "safeguard/guard/watermark.h"
#include "safeguard/media/decode.h"
#include "safeguard/media/encode.h"
#include "test_util.h"

#include <unistd.h>

namespace safeguard::testing {
namespace {

TEST(CliGuardTest, PromptPrintsOneVerdictAndExitsByDecision) {
  CliResult r = RunCli("guard prompt 'a red fox in the snow'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto lines = JsonLines(r.out);
  ASSERT_EQ(lines.size(), 1u) << r.out;
  EXPECT_EQ(lines[0]["decision"], "allow");
  EXPECT_TRUE(lines[0]["rules"].empty());

  r = RunCli("guard prompt 'N4K3D'");
  EXPECT_EQ(r.exit_code, 3) << r.err;
  lines = JsonLines(r.out);
  ASSERT_EQ(lines.size(), 1u) << r.out;
  EXPECT_EQ(lines[0]["decision"], "block");
  EXPECT_EQ(lines[0]["rules"][0]["rule"], "sexual_content");
  EXPECT_EQ(lines[0]["rules"][0]["spans"][0]["text"], "naked");

  // The operator's policy, and the prompt from standard input.
  r = RunCli("guard prompt --sexual-content allow - <<'EOF'\nN4K3D\nEOF");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  // An edit of a photo with a face changes the answer for a suggestive word.
  EXPECT_EQ(RunCli("guard prompt 'a swimsuit'").exit_code, 0);
  EXPECT_EQ(RunCli("guard prompt --photo-edit --face 'a swimsuit'").exit_code, 3);
}

TEST(CliGuardTest, BadListsAndUsageAreRefusedClearly) {
  CliResult r = RunCli("guard prompt --guard-data /nonexistent/guard 'a fox'");
  EXPECT_EQ(r.exit_code, 2) << r.err;
  const std::string dir =
      std::filesystem::temp_directory_path() / ("sg-cli-guard-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir + "/terms");
  std::ofstream(dir + "/VERSION") << "t1\n";
  std::ofstream(dir + "/terms/x.txt") << "en fine\nen not.fine\n";
  std::ofstream(dir + "/rules.txt") << "r block x\n";
  r = RunCli("guard prompt --guard-data '" + dir + "' 'a fox'");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("terms/x.txt:2"), std::string::npos) << r.err;
  EXPECT_TRUE(r.out.empty());
  std::filesystem::remove_all(dir);
  EXPECT_EQ(RunCli("guard").exit_code, 2);
}

// `guard input`: the portrait (public domain, NASA, Debian's python3-skimage)
// with a harmless and a refused edit, and a photo in a bank (a benign photo
// standing in for a list entry) that can never be edited.
TEST(CliGuardTest, InputChecksTheBanksTheFacesAndThePrompt) {
  const std::string dir =
      std::filesystem::temp_directory_path() / ("sg-cli-input-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string portrait = "/usr/lib/python3/dist-packages/skimage/data/astronaut.png";
  CliResult r = RunCli("guard input --data '" + dir + "' '" + portrait + "' --prompt 'make the sky blue'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto lines = JsonLines(r.out);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0]["decision"], "allow");
  EXPECT_GE(lines[0]["faces"].size(), 1u);
  r = RunCli("guard input --data '" + dir + "' '" + portrait + "' --prompt 'und-ress'");
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_EQ(JsonLines(r.out)[0]["rules"][0]["rule"], "face_undress");

  const std::string standin = SharedPath("media/photos/gcompris-qt-data/categorization_arcDeTriomphe.webp");
  r = RunCli("hash '" + standin + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string pdq = JsonLines(r.out)[0]["pdq"];
  std::ofstream(dir + "/list.csv") << "type,value,external_id\npdq," << pdq << ",standin-1\n";
  ASSERT_EQ(RunCli("bank create standin --category csam --data '" + dir + "'").exit_code, 0);
  ASSERT_EQ(RunCli("bank import standin '" + dir + "/list.csv' --data '" + dir + "'").exit_code, 0);
  r = RunCli("guard input --data '" + dir + "' '" + standin + "' --prompt 'make the sky blue'");
  EXPECT_EQ(r.exit_code, 3) << r.err;
  lines = JsonLines(r.out);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0]["decision"], "block_report");
  EXPECT_EQ(lines[0]["rules"][0]["rule"], "input_in_bank");
  std::filesystem::remove_all(dir);
}

// `guard trace`: a portrait marked through the library, as a PNG and as a
// JPEG at quality 75, reads back; the original and a wrong key do not.
TEST(CliGuardTest, TraceReadsTheGenerationIdBack) {
  const std::string dir =
      std::filesystem::temp_directory_path() / ("sg-cli-trace-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string key_hex = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
  std::ofstream(dir + "/key.hex") << key_hex << "\n";
  std::ofstream(dir + "/other.hex") << std::string(64, '7') << "\n";
  std::ofstream(dir + "/bad.hex") << "not a key\n";
  const std::string portrait = "/usr/lib/python3/dist-packages/skimage/data/astronaut.png";
  std::ifstream in(portrait, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  media::Image image;
  ASSERT_TRUE(media::DecodeImage(
                  std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()),
                  media::DecodeOptions(), &image)
                  .ok());
  guard::WatermarkKey key;
  ASSERT_TRUE(guard::ParseWatermarkKey(key_hex, &key).ok());
  media::Image marked;
  const uint64_t id = 0x8000000000000001ULL;  // beyond what a double holds exactly
  ASSERT_TRUE(guard::EmbedWatermark(image, id, key, &marked).ok());
  std::string png, jpeg;
  ASSERT_TRUE(media::EncodePng(marked, &png).ok());
  ASSERT_TRUE(media::EncodeJpeg(marked, 75, &jpeg).ok());
  std::ofstream(dir + "/marked.png", std::ios::binary) << png;
  std::ofstream(dir + "/marked.jpg", std::ios::binary) << jpeg;

  for (const char* name : {"marked.png", "marked.jpg"}) {
    CliResult r = RunCli("guard trace --key-file '" + dir + "/key.hex' '" + dir + "/" + name + "'");
    ASSERT_EQ(r.exit_code, 0) << name << " " << r.err << r.out;
    auto lines = JsonLines(r.out);
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_EQ(lines[0]["found"], true);
    EXPECT_EQ(lines[0]["generation_id"], std::to_string(id));
  }
  CliResult r = RunCli("guard trace --key-file '" + dir + "/key.hex' '" + portrait + "'");
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(JsonLines(r.out)[0]["found"], false);
  EXPECT_FALSE(JsonLines(r.out)[0].contains("generation_id"));
  EXPECT_EQ(RunCli("guard trace --key-file '" + dir + "/other.hex' '" + dir + "/marked.png'").exit_code, 3);
  r = RunCli("guard trace --key-file '" + dir + "/bad.hex' '" + dir + "/marked.png'");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("bad.hex"), std::string::npos) << r.err;
  std::filesystem::remove_all(dir);
}

// `guard output`: the generated image is checked, written watermarked to
// --out when allowed, and `guard trace` reads the id back. An operator's
// stand-in classifier (the nsfwjs model, its Neutral score raising
// output_sexual) refuses the same benign image.
TEST(CliGuardTest, OutputChecksMarksAndTraces) {
  const std::string dir =
      std::filesystem::temp_directory_path() / ("sg-cli-output-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/key.hex") << std::string(64, 'c') << "\n";
  const std::string portrait = "/usr/lib/python3/dist-packages/skimage/data/astronaut.png";
  const std::string common = "guard output --data '" + dir + "' --key-file '" + dir + "/key.hex' ";
  CliResult r = RunCli(common + "'" + portrait + "' --prompt 'an astronaut' --generation-id 42 --out '" +
                       dir + "/marked.png'");
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  auto lines = JsonLines(r.out);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0]["decision"], "allow");
  EXPECT_EQ(lines[0]["generation_id"], "42");
  EXPECT_EQ(lines[0]["marked"], true);
  EXPECT_EQ(lines[0]["classifiers"][0]["name"], "nsfw");
  r = RunCli("guard trace --key-file '" + dir + "/key.hex' '" + dir + "/marked.png'");
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  EXPECT_EQ(JsonLines(r.out)[0]["generation_id"], "42");

  std::ofstream(dir + "/standin.json") << R"({"name": "standin", "model": ")" << guard::NsfwModelPath()
                                       << R"(", "labels": ["Drawing", "Hentai", "Neutral", "Porn", "Sexy"],
      "signals": [{"category": "output_sexual", "labels": ["Neutral"], "threshold": 0.0}]})";
  r = RunCli(common + "'" + portrait + "' --classifier '" + dir + "/standin.json' --edit-of '" + portrait +
             "' --out '" + dir + "/refused.png'");
  EXPECT_EQ(r.exit_code, 3) << r.err << r.out;
  lines = JsonLines(r.out);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0]["decision"], "block");
  EXPECT_EQ(lines[0]["marked"], false);
  EXPECT_EQ(lines[0]["photo_edit"], true);
  EXPECT_FALSE(std::filesystem::exists(dir + "/refused.png"));
  // Usage errors and bad specs say what is wrong.
  r = RunCli(common + "'" + portrait + "' --generation-id -3");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--generation-id"), std::string::npos) << r.err;
  std::ofstream(dir + "/bad.json") << R"({"name": "x"})";
  r = RunCli(common + "'" + portrait + "' --classifier '" + dir + "/bad.json'");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("bad.json"), std::string::npos) << r.err;
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace safeguard::testing
