// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.

#include "safeguard/guard/input_guard.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "guard/image_checks.h"
#include "safeguard/hash/digest.h"
#include "safeguard/index/hamming.h"
#include "safeguard/media/decode.h"

namespace safeguard::guard {

void AddRule(PromptVerdict* v, const std::string& name, Decision decision,
             std::vector<std::string> categories) {
  RuleHit r;
  r.rule = name;
  r.decision = decision;
  r.categories = std::move(categories);
  v->rules.push_back(std::move(r));
}

void FinishVerdict(PromptVerdict* v) {
  std::stable_sort(v->rules.begin(), v->rules.end(),
                   [](const RuleHit& a, const RuleHit& b) { return a.decision > b.decision; });
  v->decision = v->rules.empty() ? Decision::kAllow : v->rules.front().decision;
}

void AddImageRules(const ImageFacts& facts, const std::string& prefix, const std::string& category,
                   PromptVerdict* v) {
  if (!facts.is_image) {
    AddRule(v, prefix + "_not_an_image", Decision::kBlock, {category});
  } else if (!facts.decoded) {
    AddRule(v, prefix + "_undecodable", Decision::kBlock, {category});
  }
  if (facts.matches.empty()) return;
  const bool csam = std::any_of(facts.matches.begin(), facts.matches.end(),
                                [](const bank::Hit& h) { return h.category == bank::Category::kCsam; });
  AddRule(v, prefix + "_in_bank", csam ? Decision::kBlockReport : Decision::kBlock, {category});
}

void CheckFaces(const FaceDetector& detector, const media::Image& image, PromptContext* context,
                std::vector<FaceBox>* faces, PromptVerdict* v) {
  Status s = detector.Detect(image, faces);
  if (!s.ok()) {
    faces->clear();
    context->input_has_face = true;
    AddRule(v, "face_check_failed", Decision::kBlock, {"photo_edit", "face"});
  } else {
    context->input_has_face = !faces->empty();
  }
}

Status DecodeAndMatch(std::span<const uint8_t> bytes, const media::DecodeLimits& limits,
                      hash::ImageHasher* hasher, const bank::Matcher& matcher, ImageFacts* facts) {
  *facts = ImageFacts();
  bank::MatchQuery query;
  query.md5 = hash::Md5(bytes);
  query.sha256 = hash::Sha256(bytes);
  std::vector<index::Code256> codes;
  facts->is_image = media::DetectFormat(bytes) != media::ImageFormat::kUnknown;
  if (facts->is_image) {
    // One decode serves the PDQ and the pixel checks (HashPixels samples to
    // 512 by the same rule the hasher's own decode uses); the digests are
    // the query's.
    media::DecodeOptions options;
    options.limits = limits;
    Status s = media::DecodeImage(bytes, options, &facts->image);
    hash::PdqResult pdq_result;
    if (s.ok()) s = hasher->HashPixels(facts->image, &pdq_result);
    if (s.ok()) {
      facts->decoded = true;
      char hex[65];
      pdq_result.hash.ToHex(hex);
      facts->pdq.assign(hex, 64);
      facts->pdq_quality = pdq_result.quality;
      if (pdq_result.quality >= pdq::kMinMatchQuality) codes.push_back(index::FromPdq(pdq_result.hash));
    } else {
      facts->image = media::Image();
    }
  }
  query.pdq = codes;
  bank::MatchResult matches;
  Status s = matcher.Match(query, &matches);
  if (!s.ok()) return s;
  facts->matches = std::move(matches.hits);
  return Status::Ok();
}

std::string HitsToJson(const std::vector<bank::Hit>& hits) {
  using json = nlohmann::ordered_json;
  json matches = json::array();
  for (const bank::Hit& h : hits) {
    matches.push_back(json{{"bank", h.bank_name},
                           {"category", std::string(bank::CategoryName(h.category))},
                           {"signal_id", h.signal_id},
                           {"distance", h.distance}});
  }
  return matches.dump(-1, ' ', false, json::error_handler_t::replace);
}

Status CheckInput(std::span<const uint8_t> photo, std::string_view prompt, const InputGuardParts& parts,
                  InputVerdict* out) {
  *out = InputVerdict();
  PromptContext context;
  context.photo_edit = true;
  PromptVerdict scratch;

  // 1. The photo against every bank: digests always, PDQ when it decodes.
  ImageFacts facts;
  Status s = DecodeAndMatch(photo, parts.limits, parts.hasher, *parts.matcher, &facts);
  if (!s.ok()) return s;
  out->decoded = facts.decoded;
  out->pdq = facts.pdq;
  out->pdq_quality = facts.pdq_quality;
  out->matches = facts.matches;
  AddImageRules(facts, "input", "photo_edit", &scratch);

  // 2. Faces. An error counts as a face and refuses the edit (fail closed).
  if (out->decoded) CheckFaces(*parts.faces, facts.image, &context, &out->faces, &scratch);

  // 3. The prompt, in that context; then everything merged.
  out->verdict = parts.prompts->Screen(prompt, context);
  for (RuleHit& r : scratch.rules) out->verdict.rules.push_back(std::move(r));
  FinishVerdict(&out->verdict);
  return Status::Ok();
}

std::string InputVerdictToJson(const InputVerdict& v) {
  using json = nlohmann::ordered_json;
  json j = json::parse(VerdictToJson(v.verdict));
  json faces = json::array();
  for (const FaceBox& f : v.faces) {
    faces.push_back(json{{"x", f.x}, {"y", f.y}, {"width", f.width}, {"height", f.height}, {"kind", f.kind}});
  }
  j["decoded"] = v.decoded;
  if (v.decoded) {
    j["pdq"] = v.pdq;
    j["pdq_quality"] = v.pdq_quality;
  }
  j["faces"] = faces;
  j["input_matches"] = json::parse(HitsToJson(v.matches));
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace safeguard::guard
