// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.

#include "safeguard/policy/scan.h"

#include <algorithm>
#include <string_view>
#include <utility>

#include "safeguard/hash/digest.h"
#include "safeguard/index/hamming.h"
#include "safeguard/video/vpdq.h"

namespace safeguard::policy {

std::vector<index::Code256> ScanCodes(const hash::PdqResult& pdq, bool dihedral) {
  std::vector<index::Code256> codes;
  if (dihedral) {
    for (const pdq::Hash256& d : pdq.dihedral) codes.push_back(index::FromPdq(d));
  } else {
    codes.push_back(index::FromPdq(pdq.hash));
  }
  return codes;
}

namespace {

// The matched signals' records, for the report.
Status FetchSignals(bank::Store* store, ScanResult* result) {
  if (store == nullptr) return Status::Ok();
  std::vector<uint64_t> ids;
  for (const bank::Hit& h : result->matches.hits) ids.push_back(h.signal_id);
  for (const bank::Hit& h : result->matches.allowed) ids.push_back(h.signal_id);
  if (ids.empty()) return Status::Ok();
  return store->GetSignals(ids, &result->signals);
}

Status ScanVideo(std::span<const uint8_t> bytes, const bank::Matcher& matcher, bank::Store* store,
                 const Policy& policy, const video::VideoHashOptions& options, ScanResult* result) {
  const std::string_view view(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  result->decode_status = video::HashVideo(video::VideoInput::Memory(view), options, &result->video);
  const bool decoded = result->decode_status.ok();
  result->is_video = decoded;
  if (result->decode_status.code() == StatusCode::kUnsupportedFormat) {
    result->decode_status =
        Status::UnsupportedFormat("neither an image Safeguard decodes nor a video FFmpeg reads");
  }
  // Digests always, also of what did not decode.
  result->hashes.md5 = decoded ? result->video.md5 : hash::Md5(bytes);
  result->hashes.sha256 = decoded ? result->video.sha256 : hash::Sha256(bytes);
  std::vector<pdq::Hash256> frames;
  if (decoded) frames = video::VpdqMatchableHashes(result->video.vpdq, policy.min_quality);
  bank::MatchQuery q;
  q.md5 = result->hashes.md5;
  q.sha256 = result->hashes.sha256;
  q.vpdq = frames;
  q.tmk = decoded && result->video.tmk ? &*result->video.tmk : nullptr;
  Status s = matcher.Match(q, &result->matches);
  if (!s.ok()) return s;
  s = FetchSignals(store, result);
  if (!s.ok()) return s;
  // A video with no frame good enough for vPDQ is "low quality" as an image
  // below min_quality is (TMK and the digests still matched).
  result->decision =
      Decide(policy,
             ScanFacts{.decoded = decoded, .quality = frames.empty() ? 0 : 100, .matches = &result->matches});
  return Status::Ok();
}

}  // namespace

Status ScanBytes(std::span<const uint8_t> bytes, hash::ImageHasher* hasher, const bank::Matcher& matcher,
                 bank::Store* store, const Policy& policy, ScanResult* result,
                 const video::VideoHashOptions& video_options) {
  *result = ScanResult();
  if (!bytes.empty() && !video::LooksLikeImage(bytes.subspan(0, std::min<size_t>(bytes.size(), 64)))) {
    return ScanVideo(bytes, matcher, store, policy, video_options, result);
  }
  result->decode_status = hasher->HashBytes(bytes, &result->hashes);
  const bool decoded = result->decode_status.ok();
  if (!decoded) {
    // The hasher stops at the failure; the digests are of the bytes alone.
    result->hashes = hash::FileHashes();
    result->hashes.md5 = hash::Md5(bytes);
    result->hashes.sha256 = hash::Sha256(bytes);
  }
  std::vector<index::Code256> codes;
  result->pdq_matched = decoded && result->hashes.pdq.quality >= policy.min_quality;
  if (result->pdq_matched) {
    codes = ScanCodes(result->hashes.pdq, policy.dihedral && hasher->options().dihedral);
  }
  bank::MatchQuery q;
  q.pdq = codes;
  q.md5 = result->hashes.md5;
  q.sha256 = result->hashes.sha256;
  Status s = matcher.Match(q, &result->matches);
  if (!s.ok()) return s;
  s = FetchSignals(store, result);
  if (!s.ok()) return s;
  result->decision = Decide(policy, ScanFacts{.decoded = decoded,
                                              .quality = decoded ? result->hashes.pdq.quality : 0,
                                              .matches = &result->matches});
  return Status::Ok();
}

}  // namespace safeguard::policy
