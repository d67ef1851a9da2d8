// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// safeguard-bench guard-output [--corpus DIR] [--limit N]
//
// The output guard on benign photos (../shared/media/photos by default):
//   - how many the NSFW classifier (nsfwjs MobileNetV2 through OpenCV DNN)
//     scores sexual or suggestive: every such photo is a false block, since
//     the corpus holds no sexual image;
//   - the time of one classification (preprocessing + forward) and of a
//     whole CheckOutput (decode, PDQ, bank match on an empty store,
//     classification, prompt, watermark, PNG encoding), p50 and p99.
// One thread; OpenCV is held to one thread as in the service.

#include "guard_output_bench.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "safeguard/bank/matcher.h"
#include "safeguard/bank/store.h"
#include "safeguard/guard/face_detector.h"
#include "safeguard/guard/image_classifier.h"
#include "safeguard/guard/output_guard.h"
#include "safeguard/guard/prompt_guard.h"
#include "safeguard/hash/image_hasher.h"
#include "safeguard/media/decode.h"

namespace safeguard::bench {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5));
  return v[i];
}

double Ms(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

}  // namespace

int RunGuardOutputBench(int argc, char** argv) {
  std::string corpus = "../shared/media/photos";
  size_t limit = 400;
  for (int i = 0; i < argc; ++i) {
    if (std::strcmp(argv[i], "--corpus") == 0 && i + 1 < argc) {
      corpus = argv[++i];
    } else if (std::strcmp(argv[i], "--limit") == 0 && i + 1 < argc) {
      limit = static_cast<size_t>(std::max(1, std::atoi(argv[++i])));
    } else {
      std::fprintf(stderr, "usage: safeguard-bench guard-output [--corpus DIR] [--limit N]\n");
      return 2;
    }
  }
  auto fail = [](const Status& s) {
    std::fprintf(stderr, "guard-output: %s\n", s.ToString().c_str());
    return 1;
  };
  std::unique_ptr<guard::ImageClassifier> nsfw;
  Status s = guard::ImageClassifier::Load(guard::NsfwSpec(guard::NsfwModelPath()), &nsfw);
  if (!s.ok()) return fail(s);
  std::unique_ptr<guard::PromptGuard> prompts;
  s = guard::PromptGuard::Load(guard::PromptGuard::DefaultDataDir(), guard::GuardPolicy{}, &prompts);
  if (!s.ok()) return fail(s);
  std::unique_ptr<guard::FaceDetector> faces;
  s = guard::FaceDetector::Load(guard::FaceDetector::Options(), &faces);
  if (!s.ok()) return fail(s);
  const fs::path dir = fs::temp_directory_path() / ("sg-bench-output-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::unique_ptr<bank::Store> store;
  s = bank::Store::OpenSqlite(dir.string(), &store);
  std::unique_ptr<bank::Matcher> matcher;
  if (s.ok()) s = bank::Matcher::Open(store.get(), bank::MatcherOptions(), &matcher);
  if (!s.ok()) return fail(s);
  guard::WatermarkKey key;
  key.bytes.fill(0x5a);
  hash::ImageHasher hasher;
  guard::OutputGuardParts parts;
  parts.prompts = prompts.get();
  parts.faces = faces.get();
  parts.matcher = matcher.get();
  parts.hasher = &hasher;
  parts.key = &key;
  parts.classifiers = {nsfw.get()};

  std::vector<std::string> files;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(corpus, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_regular_file()) files.push_back(it->path().string());
  }
  std::sort(files.begin(), files.end());
  if (files.size() > limit) files.resize(limit);

  std::vector<double> classify_ms, check_ms;
  int photos = 0, sexual = 0, suggestive = 0, allowed = 0, top_neutral = 0;
  std::vector<std::pair<double, std::string>> highest;
  std::map<std::string, int> refused_by;
  for (const std::string& f : files) {
    std::ifstream in(f, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const std::span<const uint8_t> span(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    media::Image image;
    if (!media::DecodeImage(span, media::DecodeOptions(), &image).ok()) continue;
    ++photos;
    const auto a = Clock::now();
    guard::ClassifierResult r;
    s = nsfw->Classify(image, &r);
    const auto b = Clock::now();
    if (!s.ok()) return fail(s);
    classify_ms.push_back(Ms(a, b));
    if (std::count(r.categories.begin(), r.categories.end(), "output_sexual")) ++sexual;
    if (std::count(r.categories.begin(), r.categories.end(), "output_suggestive")) ++suggestive;
    if (std::max_element(r.scores.begin(), r.scores.end()) - r.scores.begin() == 2) ++top_neutral;
    highest.push_back({r.scores[1] + r.scores[3], fs::path(f).parent_path().filename().string() + "/" +
                                                      fs::path(f).filename().string()});
    guard::OutputRequest req;
    req.image = span;
    req.prompt = "a photograph";
    req.generation_id = static_cast<uint64_t>(photos);
    guard::OutputVerdict v;
    const auto c = Clock::now();
    s = guard::CheckOutput(req, parts, &v);
    const auto d = Clock::now();
    if (!s.ok()) return fail(s);
    check_ms.push_back(Ms(c, d));
    if (v.verdict.decision == guard::Decision::kAllow) {
      ++allowed;
    } else {
      ++refused_by[v.verdict.rules.empty() ? "?" : v.verdict.rules[0].rule];
    }
  }
  fs::remove_all(dir);
  std::sort(highest.rbegin(), highest.rend());
  std::printf("guard-output: %d benign photos from %s\n", photos, corpus.c_str());
  std::printf(
      "  NSFW (nsfwjs MobileNetV2, OpenCV DNN, 1 thread): %d scored sexual (%.2f%%), %d suggestive "
      "(%.2f%%), %d with Neutral the top class\n",
      sexual, 100.0 * sexual / std::max(1, photos), suggestive, 100.0 * suggestive / std::max(1, photos),
      top_neutral);
  std::printf("  highest Hentai+Porn scores:");
  for (size_t i = 0; i < std::min<size_t>(static_cast<size_t>(std::max(3, sexual)), highest.size()); ++i) {
    std::printf(" %.3f (%s)", highest[i].first, highest[i].second.c_str());
  }
  std::printf("\n  classify: p50 %.1f ms, p99 %.1f ms\n", Percentile(classify_ms, 0.5),
              Percentile(classify_ms, 0.99));
  std::printf(
      "  CheckOutput (decode, PDQ, match, classify, prompt, watermark, encode): p50 %.1f ms, p99 %.1f ms; "
      "%d of %d allowed and marked\n",
      Percentile(check_ms, 0.5), Percentile(check_ms, 0.99), allowed, photos);
  std::printf("  refused, by rule:");
  for (const auto& [rule, n] : refused_by) std::printf(" %s %d", rule.c_str(), n);
  std::printf("\n");
  return 0;
}

}  // namespace safeguard::bench
