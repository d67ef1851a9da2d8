// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.

#include "compare_command.h"

#include <cmath>
#include <fstream>
#include <iterator>
#include <optional>
#include <ostream>

#include "json_output.h"
#include "media_hash.h"

namespace safeguard::cli {
namespace {

// What one side of the comparison holds.
struct Side {
  bool image = false;
  pdq::Hash256 pdq;
  int quality = 0;
  std::optional<std::array<uint8_t, 16>> md5;
  std::vector<video::VpdqFrame> vpdq;  // empty when not known
  bool has_vpdq = false;
  std::optional<video::TmkFeatures> tmk;
};

std::string ReadAll(const std::string& path, size_t limit) {
  std::ifstream in(path, std::ios::binary);
  std::string s;
  s.resize(limit);
  in.read(s.data(), static_cast<std::streamsize>(limit));
  s.resize(static_cast<size_t>(in.gcount()));
  return s;
}

Status Load(const std::string& path, const CompareArgs& args, Side* side) {
  // A hash file (.tmk, or vPDQ text) compares without the video.
  const std::string head = ReadAll(path, 8);
  if (head == "TMK1FVEC") {
    video::TmkFeatures t;
    Status s = video::TmkFeatures::Parse(ReadAll(path, 64 << 20), &t);
    if (!s.ok())
      return s.code() == StatusCode::kCorrupt ? Status::Corrupt(path + ": " + s.message())
                                              : Status::UnsupportedFormat(path + ": " + s.message());
    side->tmk = std::move(t);
    return Status::Ok();
  }
  if (!head.empty() && head[0] >= '0' && head[0] <= '9') {
    std::vector<video::VpdqFrame> frames;
    if (video::ParseVpdqText(ReadAll(path, 64 << 20), &frames).ok() && !frames.empty()) {
      side->vpdq = std::move(frames);
      side->has_vpdq = true;
      return Status::Ok();
    }
  }
  hash::ImageHasher hasher{hash::HashOptions()};
  MediaHashes h;
  Status s = HashMedia(path, &hasher, args.video, &h);
  if (!s.ok()) return s;
  if (!h.is_video) {
    side->image = true;
    side->pdq = h.image.pdq.hash;
    side->quality = h.image.pdq.quality;
    side->md5 = h.image.md5;
    return Status::Ok();
  }
  side->md5 = h.video.md5;
  side->vpdq = std::move(h.video.vpdq);
  side->has_vpdq = args.video.vpdq;
  side->tmk = std::move(h.video.tmk);
  return Status::Ok();
}

// Rounds to `digits` decimals (dividing by a power of ten, so 4.35 prints
// as 4.35, not 4.3500000000000005).
double Round(double x, int digits) {
  const double scale = std::pow(10.0, digits);
  return std::round(x * scale) / scale;
}

}  // namespace

int RunCompareCommand(const CompareArgs& args, std::ostream& out, std::ostream& err) {
  Side a, b;
  for (auto [path, side] : {std::pair{&args.a, &a}, std::pair{&args.b, &b}}) {
    Status s = Load(*path, args, side);
    if (!s.ok()) {
      err << "safeguard compare: " << s.ToString() << "\n";
      return 1;
    }
  }
  Json j;
  j["a"] = args.a;
  j["b"] = args.b;
  if (a.image != b.image) {
    err << "safeguard compare: " << (a.image ? args.a : args.b)
        << " is an image and the other a video; compare two images or two videos\n";
    return 2;
  }
  if (a.md5 && b.md5) j["md5_equal"] = *a.md5 == *b.md5;
  if (a.image) {
    const int d = a.pdq.HammingDistance(b.pdq);
    j["kind"] = "image";
    j["pdq_distance"] = d;
    j["quality_a"] = a.quality;
    j["quality_b"] = b.quality;
    j["pdq_match"] = d <= video::kVpdqMaxDistance && a.quality >= pdq::kMinMatchQuality &&
                     b.quality >= pdq::kMinMatchQuality;
    out << DumpJson(j) << "\n";
    return 0;
  }
  j["kind"] = "video";
  if (a.has_vpdq && b.has_vpdq) {
    const video::VpdqComparison c = video::CompareVpdq(a.vpdq, b.vpdq);
    j["vpdq_frames_a"] = c.query_frames;
    j["vpdq_frames_b"] = c.target_frames;
    j["vpdq_a_in_b_percent"] = Round(c.query_match_percent, 2);
    j["vpdq_b_in_a_percent"] = Round(c.target_match_percent, 2);
    j["vpdq_match"] = c.match;
  }
  if (a.tmk && b.tmk) {
    Status s = video::TmkCompatible(*a.tmk, *b.tmk);
    if (!s.ok()) {
      err << "safeguard compare: the two TMK signatures cannot be scored: " << s.message() << "\n";
      return 1;
    }
    const float l1 = video::TmkLevel1Score(*a.tmk, *b.tmk);
    const float l2 = video::TmkLevel2Score(*a.tmk, *b.tmk);
    j["tmk_level1"] = Round(l1, 6);
    j["tmk_level2"] = Round(l2, 6);
    j["tmk_match"] = l1 >= video::kTmkLevel1Threshold && l2 >= video::kTmkLevel2Threshold;
  }
  out << DumpJson(j) << "\n";
  return 0;
}

}  // namespace safeguard::cli
