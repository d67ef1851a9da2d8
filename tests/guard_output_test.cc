// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// The output guard: classifiers on generated images, the rules they feed, the
// watermark on what is allowed, and failing closed. Every image is a benign
// photo. The rule paths that need a sexual score are driven by "stand-in"
// classifiers: the same model with a signal mapped to a benign label (its
// "Neutral" score raising output_sexual), so no test needs sexual imagery.

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <thread>

#include "safeguard/bank/bank.h"
#include "safeguard/bank/matcher.h"
#include "safeguard/bank/store.h"
#include "safeguard/guard/face_detector.h"
#include "safeguard/guard/image_classifier.h"
#include "safeguard/guard/output_guard.h"
#include "safeguard/guard/watermark.h"
#include "safeguard/hash/image_hasher.h"
#include "safeguard/media/decode.h"
#include "safeguard/media/encode.h"
#include "test_util.h"

namespace safeguard::guard {
namespace {

namespace fs = std::filesystem;

const char kPortrait[] = "/usr/lib/python3/dist-packages/skimage/data/astronaut.png";

using testing::ReadBytes;
using testing::Span;

media::Image Decode(const std::string& bytes) {
  media::Image image;
  Status s = media::DecodeImage(Span(bytes), media::DecodeOptions(), &image);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return image;
}

std::string Photo(const char* rel) { return testing::SharedPath(std::string("media/photos/") + rel); }

const char* kLandscape = "gcompris-qt-data/categorization_arcDeTriomphe.webp";

const ImageClassifier& Nsfw() {
  static std::unique_ptr<ImageClassifier> c = [] {
    std::unique_ptr<ImageClassifier> out;
    Status s = ImageClassifier::Load(NsfwSpec(NsfwModelPath()), &out);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return out;
  }();
  return *c;
}

// The nsfwjs model with `category` raised by its Neutral score: a benign
// photo then stands in for an image the category would describe.
std::unique_ptr<ImageClassifier> StandIn(const std::string& category) {
  ClassifierSpec spec = NsfwSpec(NsfwModelPath());
  spec.name = "standin_" + category;
  spec.signals = {{category, {"Neutral"}, 0.3f}};
  std::unique_ptr<ImageClassifier> out;
  Status s = ImageClassifier::Load(spec, &out);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return out;
}

// ---- The converted model equals the original -------------------------------

// Runs nsfwjs itself (TensorFlow.js, CPU backend) through
// tools/nsfw/reference.js on the same pixels and returns its five scores per
// image.
std::vector<std::vector<float>> OriginalScores(const std::vector<media::Image>& images) {
  const fs::path dir = fs::temp_directory_path() / ("sg-nsfw-ref-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  {
    std::ofstream in(dir / "in.bin", std::ios::binary);
    for (const media::Image& im : images) {
      const uint32_t h = static_cast<uint32_t>(im.height), w = static_cast<uint32_t>(im.width);
      in.write(reinterpret_cast<const char*>(&h), 4);
      in.write(reinterpret_cast<const char*>(&w), 4);
      for (size_t i = 0; i < static_cast<size_t>(w) * h; ++i) {
        for (int c = 0; c < 3; ++c)
          in.put(static_cast<char>(im.pixels[i * im.channels + (im.channels == 1 ? 0 : c)]));
      }
    }
  }
  const std::string cmd = "node " SAFEGUARD_SOURCE_DIR "/tools/nsfw/reference.js '" +
                          (dir / "in.bin").string() + "' '" + (dir / "out.txt").string() + "'";
  const int rc = std::system(cmd.c_str());
  EXPECT_EQ(rc, 0) << cmd;
  std::vector<std::vector<float>> scores;
  std::ifstream out(dir / "out.txt");
  std::string line;
  while (std::getline(out, line)) {
    std::istringstream ss(line);
    std::vector<float> row;
    float v;
    while (ss >> v) row.push_back(v);
    scores.push_back(row);
  }
  fs::remove_all(dir);
  return scores;
}

TEST(NsfwModelTest, ConvertedScoresEqualTheOriginalNsfwjs) {
  // Photos of several sizes and aspects (scaled by the classifier's own
  // preprocessing), a grey one, and one exactly 224 x 224 (no resize).
  std::vector<media::Image> images;
  for (const char* rel :
       {kLandscape, "gcompris-qt-data/categorization_baseball.webp",
        "gcompris-qt-data/categorization_IndiaGate.webp", "python3-skimage/coffee.png",
        "python3-skimage/moon.png", "python3-skimage/chelsea.png", "opencv-doc/baboon.jpg"}) {
    if (!fs::exists(Photo(rel))) continue;
    images.push_back(Decode(ReadBytes(Photo(rel))));
  }
  images.push_back(Decode(ReadBytes(kPortrait)));
  media::Image square;
  square.width = square.height = 224;
  square.channels = 3;
  for (int y = 0; y < 224; ++y) {
    for (int x = 0; x < 224; ++x) {
      square.pixels.push_back(static_cast<uint8_t>(x));
      square.pixels.push_back(static_cast<uint8_t>(y));
      square.pixels.push_back(static_cast<uint8_t>((x * y) & 255));
    }
  }
  images.push_back(square);
  ASSERT_GE(images.size(), 6u);
  const std::vector<std::vector<float>> original = OriginalScores(images);
  ASSERT_EQ(original.size(), images.size());
  double worst = 0;
  for (size_t i = 0; i < images.size(); ++i) {
    ClassifierResult r;
    ASSERT_TRUE(Nsfw().Classify(images[i], &r).ok());
    ASSERT_EQ(r.scores.size(), 5u);
    ASSERT_EQ(original[i].size(), 5u) << "image " << i;
    double sum = 0;
    for (size_t k = 0; k < 5; ++k) {
      worst = std::max(worst, static_cast<double>(std::fabs(r.scores[k] - original[i][k])));
      EXPECT_NEAR(r.scores[k], original[i][k], 1e-4) << "image " << i << " label " << r.labels[k];
      sum += r.scores[k];
    }
    EXPECT_NEAR(sum, 1.0, 1e-4);
  }
  std::printf("largest score difference from nsfwjs over %zu images: %.2e\n", images.size(), worst);
}

// The published model misfires on a few benign photos (a yellow flower, wood
// grain, an apple: 6 of the 348 shared photos, docs/BENCHMARKS.md). This
// holds the rate on three whole collections below 3%, so a conversion or
// preprocessing error that made benign photos look sexual would fail.
TEST(NsfwModelTest, BenignPhotosRarelyScoreSexual) {
  int checked = 0, sexual = 0;
  for (const char* folder : {"gcompris-qt-data", "python3-skimage", "mate-backgrounds"}) {
    for (const auto& e : fs::directory_iterator(Photo(folder))) {
      const std::string bytes = ReadBytes(e.path().string());
      media::Image image;
      if (!media::DecodeImage(Span(bytes), media::DecodeOptions(), &image).ok()) continue;
      ClassifierResult r;
      ASSERT_TRUE(Nsfw().Classify(image, &r).ok()) << e.path();
      sexual += static_cast<int>(std::count(r.categories.begin(), r.categories.end(), "output_sexual"));
      ++checked;
    }
  }
  EXPECT_GE(checked, 250);
  EXPECT_LE(sexual * 100, 3 * checked) << sexual << " of " << checked;
  std::printf("benign photos scored sexual: %d of %d\n", sexual, checked);
}

TEST(NsfwModelTest, ConcurrentClassificationsAgree) {
  const media::Image photo = Decode(ReadBytes(Photo(kLandscape)));
  ClassifierResult serial;
  ASSERT_TRUE(Nsfw().Classify(photo, &serial).ok());
  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 3; ++i) {
        ClassifierResult r;
        if (!Nsfw().Classify(photo, &r).ok() || r.scores != serial.scores) ++mismatches;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(mismatches.load(), 0);
}

// ---- Preprocessing and specs -----------------------------------------------

// The aligned-corner resize against a direct evaluation of its definition.
TEST(ClassifierTest, AlignCornersResizeMatchesItsDefinition) {
  media::Image im;
  im.width = 37;
  im.height = 23;
  im.channels = 3;
  for (int i = 0; i < im.width * im.height * 3; ++i)
    im.pixels.push_back(static_cast<uint8_t>((i * 37) % 251));
  ClassifierSpec spec = NsfwSpec("");
  std::vector<float> out;
  ASSERT_TRUE(ImageClassifier::Preprocess(im, spec, &out).ok());
  ASSERT_EQ(out.size(), 3u * 224 * 224);
  auto px = [&](int c, int y, int x) {
    return im.pixels[(static_cast<size_t>(y) * im.width + x) * 3 + c] / 255.0;
  };
  for (int c = 0; c < 3; ++c) {
    for (int y = 0; y < 224; y += 7) {
      for (int x = 0; x < 224; x += 5) {
        const double sy = y * (im.height - 1) / 223.0, sx = x * (im.width - 1) / 223.0;
        const int y0 = static_cast<int>(sy), x0 = static_cast<int>(sx);
        const int y1 = std::min(y0 + 1, im.height - 1), x1 = std::min(x0 + 1, im.width - 1);
        const double fy = sy - y0, fx = sx - x0;
        const double want = (px(c, y0, x0) * (1 - fx) + px(c, y0, x1) * fx) * (1 - fy) +
                            (px(c, y1, x0) * (1 - fx) + px(c, y1, x1) * fx) * fy;
        EXPECT_NEAR(out[(static_cast<size_t>(c) * 224 + y) * 224 + x], want, 1e-6)
            << c << " " << y << " " << x;
      }
    }
  }
  // The corners are the image's corners, exactly.
  EXPECT_FLOAT_EQ(out[0], static_cast<float>(px(0, 0, 0)));
  EXPECT_FLOAT_EQ(out[224 * 224 - 1], static_cast<float>(px(0, im.height - 1, im.width - 1)));
  // Grey is repeated into three channels; BGR swaps them; mean/std apply.
  media::Image grey;
  grey.width = grey.height = 224;
  grey.channels = 1;
  grey.pixels.assign(224 * 224, 51);
  spec.mean = {0.1f, 0.2f, 0.3f};
  spec.std = {0.5f, 0.5f, 0.5f};
  ASSERT_TRUE(ImageClassifier::Preprocess(grey, spec, &out).ok());
  EXPECT_NEAR(out[0], (0.2 - 0.1) / 0.5, 1e-6);
  EXPECT_NEAR(out[224 * 224 * 2], (0.2 - 0.3) / 0.5, 1e-6);
  EXPECT_EQ(ImageClassifier::Preprocess(media::Image(), spec, &out).code(), StatusCode::kInvalidArgument);
}

TEST(ClassifierTest, OperatorSpecsParseAndBadOnesNameTheField) {
  ClassifierSpec spec;
  ASSERT_TRUE(ParseClassifierSpec(R"({"name": "age", "model": "/models/age.onnx",
      "input": {"width": 112, "height": 96, "channels": "bgr", "resize": "bilinear", "scale": 1,
                "mean": [104, 117, 123], "std": [1, 1, 1]},
      "softmax": true, "labels": ["minor", "adult"],
      "signals": [{"category": "output_minor", "labels": ["minor"], "threshold": 0.6}]})",
                                  &spec)
                  .ok());
  EXPECT_EQ(spec.name, "age");
  EXPECT_EQ(spec.width, 112);
  EXPECT_EQ(spec.height, 96);
  EXPECT_FALSE(spec.rgb);
  EXPECT_EQ(spec.resize, ClassifierResize::kBilinear);
  EXPECT_TRUE(spec.softmax);
  EXPECT_FLOAT_EQ(spec.mean[2], 123.0f);
  ASSERT_EQ(spec.signals.size(), 1u);
  EXPECT_FLOAT_EQ(spec.signals[0].threshold, 0.6f);

  const std::pair<const char*, const char*> bad[] = {
      {"[]", "not a JSON object"},
      {R"({"model": "m.onnx", "labels": ["a"], "signals": []})", "\"name\""},
      {R"({"name": "x", "labels": ["a"], "signals": [{"category": "output_minor", "labels": ["a"],
          "threshold": 0.5}]})",
       "\"model\""},
      {R"({"name": "x", "model": "m", "labels": ["a"], "signals": []})", "\"signals\""},
      {R"({"name": "x", "model": "m", "labels": ["a"], "input": {"resize": "cubic"},
          "signals": [{"category": "output_minor", "labels": ["a"], "threshold": 0.5}]})",
       "\"resize\""},
      {R"({"name": "x", "model": "m", "labels": ["a"], "input": {"mean": [1, 2]},
          "signals": [{"category": "output_minor", "labels": ["a"], "threshold": 0.5}]})",
       "\"mean\""},
      {R"({"name": "x", "model": "m", "labels": ["a"],
          "signals": [{"category": "output_minor", "labels": ["a"]}]})",
       "\"threshold\""},
  };
  for (const auto& [text, want] : bad) {
    Status s = ParseClassifierSpec(text, &spec);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << text;
    EXPECT_NE(s.message().find(want), std::string::npos) << s.message();
  }
}

TEST(ClassifierTest, LoadRefusesMissingModelsAndInconsistentSpecs) {
  std::unique_ptr<ImageClassifier> c;
  ClassifierSpec spec = NsfwSpec("/nonexistent/model.onnx");
  EXPECT_EQ(ImageClassifier::Load(spec, &c).code(), StatusCode::kNotFound);
  spec = NsfwSpec(NsfwModelPath());
  spec.labels = {"a", "b"};  // the model gives five scores
  spec.signals = {{"output_minor", {"a"}, 0.5f}};
  Status s = ImageClassifier::Load(spec, &c);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("5 scores"), std::string::npos) << s.message();
  spec = NsfwSpec(NsfwModelPath());
  spec.signals = {{"output_nice", {"Neutral"}, 0.5f}};
  EXPECT_EQ(ImageClassifier::Load(spec, &c).code(), StatusCode::kInvalidArgument);
  spec = NsfwSpec(NsfwModelPath());
  spec.signals = {{"output_minor", {"Teen"}, 0.5f}};
  EXPECT_EQ(ImageClassifier::Load(spec, &c).code(), StatusCode::kInvalidArgument);
  // Not a model: bytes OpenCV cannot read.
  const fs::path junk = fs::temp_directory_path() / ("sg-junk-" + std::to_string(::getpid()) + ".onnx");
  std::ofstream(junk) << "not an onnx model";
  spec = NsfwSpec(junk.string());
  s = ImageClassifier::Load(spec, &c);
  EXPECT_EQ(s.code(), StatusCode::kCorrupt) << s.ToString();
  fs::remove(junk);
}

// ---- The output guard ------------------------------------------------------

class OutputGuardTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("sg-output-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    ASSERT_TRUE(bank::Store::OpenSqlite(dir_.string(), &store_).ok());
    ASSERT_TRUE(PromptGuard::Load(PromptGuard::DefaultDataDir(), GuardPolicy{}, &prompts_).ok());
    ASSERT_TRUE(FaceDetector::Load(FaceDetector::Options(), &faces_).ok());
    ASSERT_TRUE(ParseWatermarkKey(std::string(64, 'a'), &key_).ok());
  }
  void TearDown() override {
    matcher_.reset();
    store_.reset();
    fs::remove_all(dir_);
  }
  OutputGuardParts Parts(std::vector<const ImageClassifier*> extra = {}) {
    if (!matcher_) {
      EXPECT_TRUE(bank::Matcher::Open(store_.get(), bank::MatcherOptions(), &matcher_).ok());
    }
    OutputGuardParts p;
    p.prompts = prompts_.get();
    p.faces = faces_.get();
    p.matcher = matcher_.get();
    p.hasher = &hasher_;
    p.key = &key_;
    p.classifiers.push_back(&Nsfw());
    for (const ImageClassifier* c : extra) p.classifiers.push_back(c);
    return p;
  }
  OutputVerdict Check(const std::string& image, const std::string& prompt, const OutputGuardParts& parts,
                      const std::string& input_photo = "") {
    OutputRequest r;
    r.image = Span(image);
    r.prompt = prompt;
    r.input_photo = Span(input_photo);
    r.generation_id = 0x1234567890abcdefULL;
    OutputVerdict v;
    Status s = CheckOutput(r, parts, &v);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return v;
  }
  static std::string FirstRule(const OutputVerdict& v) {
    return v.verdict.rules.empty() ? "" : v.verdict.rules[0].rule;
  }

  fs::path dir_;
  std::unique_ptr<bank::Store> store_;
  std::unique_ptr<bank::Matcher> matcher_;
  std::unique_ptr<PromptGuard> prompts_;
  std::unique_ptr<FaceDetector> faces_;
  hash::ImageHasher hasher_;
  WatermarkKey key_;
};

TEST_F(OutputGuardTest, AnAllowedImageComesBackWatermarked) {
  const std::string png = ReadBytes(kPortrait);
  OutputVerdict v = Check(png, "an astronaut in front of a flag", Parts());
  ASSERT_EQ(v.verdict.decision, Decision::kAllow) << OutputVerdictToJson(v);
  EXPECT_EQ(v.generation_id, 0x1234567890abcdefULL);
  ASSERT_EQ(v.classifications.size(), 1u);
  EXPECT_EQ(v.classifications[0].name, "nsfw");
  EXPECT_EQ(v.marked_format, "png");
  const media::Image marked = Decode(v.marked);
  const media::Image original = Decode(png);
  EXPECT_EQ(marked.width, original.width);
  EXPECT_EQ(marked.height, original.height);
  WatermarkTrace trace;
  ASSERT_TRUE(TraceWatermark(marked, key_, &trace).ok());
  EXPECT_TRUE(trace.found);
  EXPECT_EQ(trace.generation_id, 0x1234567890abcdefULL);
  // The JSON names the id as a decimal string and says the image was marked.
  const std::string json = OutputVerdictToJson(v);
  EXPECT_NE(json.find("\"generation_id\":\"1311768467294899695\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"marked\":true"), std::string::npos) << json;
  EXPECT_NE(json.find("\"Neutral\""), std::string::npos) << json;

  // A JPEG stays a JPEG, still carrying the mark; no id picks a random one.
  std::string jpeg;
  ASSERT_TRUE(media::EncodeJpeg(original, 92, &jpeg).ok());
  OutputRequest r;
  r.image = Span(jpeg);
  OutputVerdict w;
  ASSERT_TRUE(CheckOutput(r, Parts(), &w).ok());
  ASSERT_EQ(w.verdict.decision, Decision::kAllow) << OutputVerdictToJson(w);
  EXPECT_NE(w.generation_id, 0u);
  EXPECT_EQ(w.marked_format, "jpeg");
  ASSERT_TRUE(TraceWatermark(Decode(w.marked), key_, &trace).ok());
  EXPECT_TRUE(trace.found);
  EXPECT_EQ(trace.generation_id, w.generation_id);
}

TEST_F(OutputGuardTest, SexualOutputRulesFollowThePromptAndTheEdit) {
  // The stand-in raises output_sexual on these benign photos.
  std::unique_ptr<ImageClassifier> sexual = StandIn("output_sexual");
  const OutputGuardParts parts = Parts({sexual.get()});
  const std::string landscape = ReadBytes(Photo(kLandscape));
  const std::string portrait = ReadBytes(kPortrait);

  // Alone: the operator's policy (refuse by default); nothing is marked.
  OutputVerdict v = Check(landscape, "a monument at noon", parts);
  EXPECT_EQ(v.verdict.decision, Decision::kBlock) << OutputVerdictToJson(v);
  EXPECT_EQ(FirstRule(v), "output_sexual");
  EXPECT_TRUE(v.marked.empty());
  // With a minor term in the prompt: a report candidate.
  v = Check(landscape, "a child at the monument", parts);
  EXPECT_EQ(v.verdict.decision, Decision::kBlockReport) << OutputVerdictToJson(v);
  EXPECT_EQ(FirstRule(v), "output_minor_sexual");
  // An edit of a photo with a face.
  v = Check(landscape, "make the sky blue", parts, portrait);
  EXPECT_EQ(v.verdict.decision, Decision::kBlock) << OutputVerdictToJson(v);
  EXPECT_TRUE(v.photo_edit);
  EXPECT_GE(v.input_faces.size(), 1u);
  bool face_rule = false;
  for (const RuleHit& r : v.verdict.rules) face_rule = face_rule || r.rule == "output_face_sexual";
  EXPECT_TRUE(face_rule) << OutputVerdictToJson(v);

  // An adult service allows sexual output alone, and marks it.
  std::unique_ptr<PromptGuard> adult;
  GuardPolicy policy;
  policy.sexual_content = Decision::kAllow;
  ASSERT_TRUE(PromptGuard::Load(PromptGuard::DefaultDataDir(), policy, &adult).ok());
  OutputGuardParts adult_parts = parts;
  adult_parts.prompts = adult.get();
  v = Check(landscape, "a monument at noon", adult_parts);
  EXPECT_EQ(v.verdict.decision, Decision::kAllow) << OutputVerdictToJson(v);
  EXPECT_FALSE(v.marked.empty());
  // ... but never with a minor indicator, nor an edit of a face.
  v = Check(landscape, "a child at the monument", adult_parts);
  EXPECT_EQ(v.verdict.decision, Decision::kBlockReport);
  v = Check(landscape, "make the sky blue", adult_parts, portrait);
  EXPECT_EQ(v.verdict.decision, Decision::kBlock);
}

TEST_F(OutputGuardTest, OperatorClassifiersRaiseMinorAndCsam) {
  std::unique_ptr<ImageClassifier> sexual = StandIn("output_sexual");
  std::unique_ptr<ImageClassifier> minor = StandIn("output_minor");
  std::unique_ptr<ImageClassifier> csam = StandIn("output_csam");
  const std::string landscape = ReadBytes(Photo(kLandscape));
  // An age classifier's minor signal with sexual output: a report candidate,
  // with no minor word in the prompt.
  OutputVerdict v = Check(landscape, "a monument at noon", Parts({sexual.get(), minor.get()}));
  EXPECT_EQ(v.verdict.decision, Decision::kBlockReport) << OutputVerdictToJson(v);
  EXPECT_EQ(FirstRule(v), "output_minor_age");
  // A minor signal alone is no reason to refuse.
  v = Check(landscape, "a monument at noon", Parts({minor.get()}));
  EXPECT_EQ(v.verdict.decision, Decision::kAllow) << OutputVerdictToJson(v);
  // A licensed CSAM classifier's signal is a report candidate by itself.
  v = Check(landscape, "a monument at noon", Parts({csam.get()}));
  EXPECT_EQ(v.verdict.decision, Decision::kBlockReport) << OutputVerdictToJson(v);
  EXPECT_EQ(FirstRule(v), "output_csam");
  ASSERT_EQ(v.classifications.size(), 2u);
  EXPECT_EQ(v.classifications[1].name, "standin_output_csam");
}

TEST_F(OutputGuardTest, AnOutputInABankIsRefused) {
  const std::string standin = Photo("gcompris-qt-data/categorization_IndiaGate.webp");
  bank::BankSpec spec;
  spec.name = "csam-standin";
  spec.category = bank::Category::kCsam;
  ASSERT_TRUE(store_->CreateBank(spec, nullptr).ok());
  hash::FileHashes fh;
  ASSERT_TRUE(hasher_.HashFile(standin, &fh).ok());
  char hex[65];
  fh.pdq.hash.ToHex(hex);
  bank::NewSignal sig;
  sig.type = bank::SignalType::kPdq;
  ASSERT_TRUE(bank::ParseSignalValue(sig.type, std::string(hex, 64), &sig.value).ok());
  ASSERT_TRUE(store_->Import("csam-standin", std::vector<bank::NewSignal>{sig}, nullptr).ok());
  OutputVerdict v = Check(ReadBytes(standin), "a gate", Parts());
  EXPECT_EQ(v.verdict.decision, Decision::kBlockReport) << OutputVerdictToJson(v);
  EXPECT_EQ(FirstRule(v), "output_in_bank");
  ASSERT_EQ(v.matches.size(), 1u);
  EXPECT_TRUE(v.marked.empty());
}

TEST_F(OutputGuardTest, ItFailsClosed) {
  const std::string landscape = ReadBytes(Photo(kLandscape));
  // Not an image, and an image that does not decode.
  OutputVerdict v = Check("plain text, not an image", "", Parts());
  EXPECT_EQ(v.verdict.decision, Decision::kBlock);
  EXPECT_EQ(FirstRule(v), "output_not_an_image");
  v = Check(landscape.substr(0, 200), "", Parts());
  EXPECT_EQ(v.verdict.decision, Decision::kBlock);
  EXPECT_EQ(FirstRule(v), "output_undecodable");
  // Checks that run past the time limit.
  OutputGuardParts slow = Parts();
  slow.check_timeout = std::chrono::milliseconds(0);
  v = Check(landscape, "a monument", slow);
  EXPECT_EQ(v.verdict.decision, Decision::kBlock);
  EXPECT_EQ(FirstRule(v), "output_check_failed");
  EXPECT_TRUE(v.marked.empty());
  // An edited photo that does not decode.
  v = Check(landscape, "a monument", Parts(), "GIF89a broken");
  EXPECT_EQ(v.verdict.decision, Decision::kBlock);
  EXPECT_EQ(FirstRule(v), "input_undecodable");
  // An image too small to carry the mark is not released unmarked.
  media::Image tiny;
  tiny.width = tiny.height = 64;
  tiny.channels = 3;
  tiny.pixels.assign(64 * 64 * 3, 120);
  std::string tiny_png;
  ASSERT_TRUE(media::EncodePng(tiny, &tiny_png).ok());
  v = Check(tiny_png, "a grey square", Parts());
  EXPECT_EQ(v.verdict.decision, Decision::kBlock) << OutputVerdictToJson(v);
  EXPECT_EQ(FirstRule(v), "output_not_marked");
  // Missing parts are a broken call, not a verdict.
  OutputGuardParts none = Parts();
  none.classifiers.clear();
  OutputRequest r;
  r.image = Span(landscape);
  EXPECT_EQ(CheckOutput(r, none, &v).code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace safeguard::guard
