// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.

#include "safeguard/video/vpdq.h"

#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <unordered_set>

namespace safeguard::video {
namespace {

constexpr double kMaxTimestamp = 1e9;

struct HashKey {
  size_t operator()(const pdq::Hash256& h) const {
    uint64_t x = 0;
    for (int i = 0; i < 16; ++i) x = x * 0x100000001b3ULL ^ h.w[i];
    return static_cast<size_t>(x);
  }
};

// Share (percent) of `from` with a hash within max_distance in `to`.
double MatchPercent(const std::vector<pdq::Hash256>& from, const std::vector<pdq::Hash256>& to,
                    int max_distance) {
  if (from.empty()) return 0;
  size_t matched = 0;
  for (const pdq::Hash256& a : from) {
    for (const pdq::Hash256& b : to) {
      if (a.HammingDistance(b) <= max_distance) {
        ++matched;
        break;
      }
    }
  }
  return 100.0 * static_cast<double>(matched) / static_cast<double>(from.size());
}

}  // namespace

std::string VpdqToText(const std::vector<VpdqFrame>& frames) {
  std::string out;
  out.reserve(frames.size() * 90);
  char hex[65];
  // Index (<= 19 digits), quality, 64 hex digits, timestamp (<= 14 digits).
  char line[160];
  for (const VpdqFrame& f : frames) {
    f.hash.ToHex(hex);
    std::snprintf(line, sizeof(line), "%" PRId64 ",%d,%s,%.3f\n", f.index, f.quality, hex, f.timestamp);
    out += line;
  }
  return out;
}

Status ParseVpdqText(std::string_view text, std::vector<VpdqFrame>* frames) {
  frames->clear();
  size_t line_no = 0;
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) continue;
    auto bad = [&](const char* why) {
      return Status::InvalidArgument("vPDQ line " + std::to_string(line_no) + ": " + why +
                                     " (expected frame,quality,pdq,timestamp)");
    };
    std::string_view parts[4];
    for (int i = 0; i < 4; ++i) {
      const size_t comma = line.find(',');
      if (i < 3 && comma == std::string_view::npos) return bad("too few fields");
      parts[i] = line.substr(0, comma);
      line = comma == std::string_view::npos ? std::string_view() : line.substr(comma + 1);
    }
    if (!line.empty()) return bad("too many fields");
    VpdqFrame f;
    const std::string index(parts[0]), quality(parts[1]), ts(parts[3]);
    char* end = nullptr;
    const long long idx = std::strtoll(index.c_str(), &end, 10);
    if (index.empty() || *end != '\0' || idx < 0) return bad("frame is not a non-negative integer");
    const long q = std::strtol(quality.c_str(), &end, 10);
    if (quality.empty() || *end != '\0' || q < 0 || q > 100) return bad("quality is not an integer 0..100");
    if (!pdq::Hash256::FromHex(parts[2], &f.hash)) return bad("pdq is not 64 hex digits");
    const double t = std::strtod(ts.c_str(), &end);
    // A bound keeps the text form short (it prints with %.3f): no video
    // lasts 30 years.
    if (ts.empty() || *end != '\0' || !std::isfinite(t) || t < 0 || t > kMaxTimestamp) {
      return bad("timestamp is not a number of seconds from 0 to 1e9");
    }
    f.index = idx;
    f.quality = static_cast<int>(q);
    f.timestamp = t;
    frames->push_back(f);
  }
  return Status::Ok();
}

std::vector<pdq::Hash256> VpdqMatchableHashes(const std::vector<VpdqFrame>& frames, int min_quality) {
  std::vector<pdq::Hash256> out;
  std::unordered_set<pdq::Hash256, HashKey> seen;
  for (const VpdqFrame& f : frames) {
    if (f.quality < min_quality) continue;
    if (seen.insert(f.hash).second) out.push_back(f.hash);
  }
  return out;
}

VpdqComparison CompareVpdq(const std::vector<VpdqFrame>& query, const std::vector<VpdqFrame>& target,
                           int max_distance, int min_quality, double match_percent) {
  VpdqComparison c;
  const std::vector<pdq::Hash256> q = VpdqMatchableHashes(query, min_quality);
  const std::vector<pdq::Hash256> t = VpdqMatchableHashes(target, min_quality);
  c.query_frames = static_cast<int>(q.size());
  c.target_frames = static_cast<int>(t.size());
  if (q.empty() || t.empty()) return c;
  c.query_match_percent = MatchPercent(q, t, max_distance);
  c.target_match_percent = MatchPercent(t, q, max_distance);
  c.match = c.query_match_percent >= match_percent || c.target_match_percent >= match_percent;
  return c;
}

}  // namespace safeguard::video
