// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// The input guard: a photo to edit and a prompt. The portrait is a public
// domain NASA photograph shipped by Debian's python3-skimage; bank entries
// are benign photos standing in for list entries. The refused prompts are
// single list words, not requests for anything.

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <thread>

#include <unistd.h>

#include "safeguard/bank/bank.h"
#include "safeguard/bank/matcher.h"
#include "safeguard/bank/store.h"
#include "safeguard/guard/face_detector.h"
#include "safeguard/guard/input_guard.h"
#include "safeguard/hash/image_hasher.h"
#include "safeguard/media/decode.h"
#include "test_util.h"

namespace safeguard::guard {
namespace {

namespace fs = std::filesystem;

const char kPortrait[] = "/usr/lib/python3/dist-packages/skimage/data/astronaut.png";

using testing::ReadBytes;
using testing::Span;

media::Image DecodeFile(const std::string& path) {
  media::Image image;
  const std::string bytes = ReadBytes(path);
  Status s = media::DecodeImage(Span(bytes), media::DecodeOptions(), &image);
  EXPECT_TRUE(s.ok()) << path << ": " << s.ToString();
  return image;
}

const FaceDetector& Faces() {
  static std::unique_ptr<FaceDetector> f = [] {
    std::unique_ptr<FaceDetector> out;
    Status s = FaceDetector::Load(FaceDetector::Options(), &out);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return out;
  }();
  return *f;
}

TEST(FaceDetectorTest, FindsThePortraitsFace) {
  std::vector<FaceBox> faces;
  ASSERT_TRUE(Faces().Detect(DecodeFile(kPortrait), &faces).ok());
  ASSERT_GE(faces.size(), 1u);
  // The astronaut's face is in the upper middle of the 512x512 picture.
  bool centred = false;
  for (const FaceBox& f : faces) {
    const int cx = f.x + f.width / 2, cy = f.y + f.height / 2;
    centred = centred || (cx > 150 && cx < 300 && cy > 50 && cy < 250 && f.kind == "frontal");
  }
  EXPECT_TRUE(centred);
}

TEST(FaceDetectorTest, LandscapesHaveNoFaceAndBadInputIsAnError) {
  for (const char* rel : {"photos/gcompris-qt-data/categorization_baseball.webp",
                          "photos/gcompris-qt-data/categorization_arcDeTriomphe.webp"}) {
    std::vector<FaceBox> faces;
    ASSERT_TRUE(Faces().Detect(DecodeFile(testing::SharedPath(std::string("media/") + rel)), &faces).ok());
    EXPECT_TRUE(faces.empty()) << rel;
  }
  std::vector<FaceBox> faces;
  EXPECT_EQ(Faces().Detect(media::Image(), &faces).code(), StatusCode::kInvalidArgument);
  std::unique_ptr<FaceDetector> none;
  FaceDetector::Options o;
  o.cascade_dir = "/nonexistent";
  Status s = FaceDetector::Load(o, &none);
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_NE(s.message().find("opencv-data"), std::string::npos) << s.message();
}

// Concurrent detections give the serial answer (the classifiers are pooled).
TEST(FaceDetectorTest, ConcurrentDetectionsAgree) {
  const media::Image portrait = DecodeFile(kPortrait);
  std::vector<FaceBox> serial;
  ASSERT_TRUE(Faces().Detect(portrait, &serial).ok());
  std::vector<std::thread> threads;
  std::atomic<int> mismatches{0};
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 3; ++i) {
        std::vector<FaceBox> f;
        if (!Faces().Detect(portrait, &f).ok() || f.size() != serial.size()) ++mismatches;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(mismatches.load(), 0);
}

class InputGuardTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("sg-input-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    ASSERT_TRUE(bank::Store::OpenSqlite(dir_.string(), &store_).ok());
    ASSERT_TRUE(PromptGuard::Load(PromptGuard::DefaultDataDir(), GuardPolicy{}, &prompts_).ok());
  }
  void TearDown() override {
    matcher_.reset();
    store_.reset();
    fs::remove_all(dir_);
  }
  // A bank of `category` holding the PDQ of the photo at `path`.
  void Bank(const std::string& name, bank::Category category, const std::string& path) {
    bank::BankSpec spec;
    spec.name = name;
    spec.category = category;
    ASSERT_TRUE(store_->CreateBank(spec, nullptr).ok());
    hash::ImageHasher hasher;
    hash::FileHashes fh;
    ASSERT_TRUE(hasher.HashFile(path, &fh).ok());
    char hex[65];
    fh.pdq.hash.ToHex(hex);
    bank::NewSignal sig;
    sig.type = bank::SignalType::kPdq;
    ASSERT_TRUE(bank::ParseSignalValue(sig.type, std::string(hex, 64), &sig.value).ok());
    ASSERT_TRUE(store_->Import(name, std::vector<bank::NewSignal>{sig}, nullptr).ok());
  }
  InputVerdict Check(const std::string& photo_bytes, const std::string& prompt) {
    if (!matcher_) {
      EXPECT_TRUE(bank::Matcher::Open(store_.get(), bank::MatcherOptions(), &matcher_).ok());
    }
    InputGuardParts parts{prompts_.get(), &Faces(), matcher_.get(), &hasher_, media::DecodeLimits()};
    InputVerdict v;
    Status s = CheckInput(Span(photo_bytes), prompt, parts, &v);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return v;
  }
  std::string FirstRule(const InputVerdict& v) {
    return v.verdict.rules.empty() ? "" : v.verdict.rules[0].rule;
  }

  fs::path dir_;
  std::unique_ptr<bank::Store> store_;
  std::unique_ptr<bank::Matcher> matcher_;
  std::unique_ptr<PromptGuard> prompts_;
  hash::ImageHasher hasher_;
};

TEST_F(InputGuardTest, AFaceAndAnUndressingOrSexualWordIsRefused) {
  const std::string portrait = ReadBytes(kPortrait);
  InputVerdict v = Check(portrait, "make the background a beach at sunset");
  EXPECT_EQ(v.verdict.decision, Decision::kAllow) << InputVerdictToJson(v);
  EXPECT_TRUE(v.decoded);
  EXPECT_GE(v.faces.size(), 1u);
  EXPECT_EQ(v.pdq.size(), 64u);

  v = Check(portrait, "undress");
  EXPECT_EQ(v.verdict.decision, Decision::kBlock) << InputVerdictToJson(v);
  EXPECT_EQ(FirstRule(v), "face_undress");
  v = Check(portrait, "swimsuit");
  EXPECT_EQ(v.verdict.decision, Decision::kBlock);
  EXPECT_EQ(FirstRule(v), "face_suggestive");
  // Without a face, an edit with such a word is still refused (edit_*).
  const std::string landscape =
      ReadBytes(testing::SharedPath("media/photos/gcompris-qt-data/categorization_arcDeTriomphe.webp"));
  v = Check(landscape, "n4ked");
  EXPECT_EQ(v.verdict.decision, Decision::kBlock);
  EXPECT_EQ(FirstRule(v), "edit_sexual");
  EXPECT_TRUE(v.faces.empty());
}

TEST_F(InputGuardTest, APhotoInABankCanNeverBeEdited) {
  const std::string csam_standin =
      testing::SharedPath("media/photos/gcompris-qt-data/categorization_IndiaGate.webp");
  const std::string ncii_standin =
      testing::SharedPath("media/photos/gcompris-qt-data/categorization_arcDeTriomphe.webp");
  Bank("csam-standin", bank::Category::kCsam, csam_standin);
  Bank("ncii-standin", bank::Category::kNcii, ncii_standin);
  InputVerdict v = Check(ReadBytes(csam_standin), "make the sky blue");
  EXPECT_EQ(v.verdict.decision, Decision::kBlockReport) << InputVerdictToJson(v);
  EXPECT_EQ(FirstRule(v), "input_in_bank");
  ASSERT_EQ(v.matches.size(), 1u);
  EXPECT_EQ(v.matches[0].bank_name, "csam-standin");
  v = Check(ReadBytes(ncii_standin), "make the sky blue");
  EXPECT_EQ(v.verdict.decision, Decision::kBlock);
  EXPECT_EQ(FirstRule(v), "input_in_bank");
  // A photo in no bank, with a harmless prompt, is allowed.
  v = Check(ReadBytes(kPortrait), "make the sky blue");
  EXPECT_EQ(v.verdict.decision, Decision::kAllow);
  EXPECT_TRUE(v.matches.empty());
}

TEST_F(InputGuardTest, WhatCannotBeCheckedIsRefused) {
  InputVerdict v = Check("this is not an image at all", "make the sky blue");
  EXPECT_EQ(v.verdict.decision, Decision::kBlock);
  EXPECT_EQ(FirstRule(v), "input_not_an_image");
  std::string truncated = ReadBytes(kPortrait).substr(0, 60);  // a PNG signature and little else
  v = Check(truncated, "make the sky blue");
  EXPECT_EQ(v.verdict.decision, Decision::kBlock);
  EXPECT_EQ(FirstRule(v), "input_undecodable");
  EXPECT_FALSE(v.decoded);
  const std::string json = InputVerdictToJson(v);
  EXPECT_NE(json.find("\"decoded\":false"), std::string::npos) << json;
}

}  // namespace
}  // namespace safeguard::guard
