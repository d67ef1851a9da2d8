// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.

#include "safeguard/guard/input_guard.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "safeguard/hash/digest.h"
#include "safeguard/index/hamming.h"
#include "safeguard/media/decode.h"

namespace safeguard::guard {
namespace {

void AddRule(PromptVerdict* v, const std::string& name, Decision decision,
             std::vector<std::string> categories) {
  RuleHit r;
  r.rule = name;
  r.decision = decision;
  r.categories = std::move(categories);
  v->rules.push_back(std::move(r));
}

void Finish(PromptVerdict* v) {
  std::stable_sort(v->rules.begin(), v->rules.end(),
                   [](const RuleHit& a, const RuleHit& b) { return a.decision > b.decision; });
  v->decision = v->rules.empty() ? Decision::kAllow : v->rules.front().decision;
}

}  // namespace

Status CheckInput(std::span<const uint8_t> photo, std::string_view prompt, const InputGuardParts& parts,
                  InputVerdict* out) {
  *out = InputVerdict();
  PromptContext context;
  context.photo_edit = true;
  std::vector<RuleHit> input_rules;
  PromptVerdict scratch;

  // 1. The photo against every bank: digests always, PDQ when it decodes.
  bank::MatchQuery query;
  query.md5 = hash::Md5(photo);
  query.sha256 = hash::Sha256(photo);
  std::vector<index::Code256> codes;
  media::Image image;
  const bool is_image = media::DetectFormat(photo) != media::ImageFormat::kUnknown;
  if (!is_image) {
    AddRule(&scratch, "input_not_an_image", Decision::kBlock, {"photo_edit"});
  } else {
    // One decode serves both the PDQ and the face check (HashPixels samples
    // to 512 by the same rule the hasher's own decode uses); the digests
    // are the query's.
    media::DecodeOptions options;
    options.limits = parts.limits;
    Status s = media::DecodeImage(photo, options, &image);
    hash::PdqResult pdq_result;
    if (s.ok()) s = parts.hasher->HashPixels(image, &pdq_result);
    if (s.ok()) {
      out->decoded = true;
      char hex[65];
      pdq_result.hash.ToHex(hex);
      out->pdq.assign(hex, 64);
      out->pdq_quality = pdq_result.quality;
      if (pdq_result.quality >= pdq::kMinMatchQuality) codes.push_back(index::FromPdq(pdq_result.hash));
    }
    if (!s.ok()) {
      out->decoded = false;
      AddRule(&scratch, "input_undecodable", Decision::kBlock, {"photo_edit"});
    }
  }
  query.pdq = codes;
  bank::MatchResult matches;
  Status s = parts.matcher->Match(query, &matches);
  if (!s.ok()) return s;
  out->matches = matches.hits;
  if (!matches.hits.empty()) {
    const bool csam = std::any_of(matches.hits.begin(), matches.hits.end(),
                                  [](const bank::Hit& h) { return h.category == bank::Category::kCsam; });
    AddRule(&scratch, "input_in_bank", csam ? Decision::kBlockReport : Decision::kBlock, {"photo_edit"});
  }

  // 2. Faces. An error counts as a face and refuses the edit (fail closed).
  if (out->decoded) {
    s = parts.faces->Detect(image, &out->faces);
    if (!s.ok()) {
      out->faces.clear();
      context.input_has_face = true;
      AddRule(&scratch, "face_check_failed", Decision::kBlock, {"photo_edit", "face"});
    } else {
      context.input_has_face = !out->faces.empty();
    }
  }

  // 3. The prompt, in that context; then everything merged.
  out->verdict = parts.prompts->Screen(prompt, context);
  for (RuleHit& r : scratch.rules) out->verdict.rules.push_back(std::move(r));
  Finish(&out->verdict);
  return Status::Ok();
}

std::string InputVerdictToJson(const InputVerdict& v) {
  using json = nlohmann::ordered_json;
  json j = json::parse(VerdictToJson(v.verdict));
  json faces = json::array();
  for (const FaceBox& f : v.faces) {
    faces.push_back(json{{"x", f.x}, {"y", f.y}, {"width", f.width}, {"height", f.height}, {"kind", f.kind}});
  }
  json matches = json::array();
  for (const bank::Hit& h : v.matches) {
    matches.push_back(json{{"bank", h.bank_name},
                           {"category", std::string(bank::CategoryName(h.category))},
                           {"signal_id", h.signal_id},
                           {"distance", h.distance}});
  }
  j["decoded"] = v.decoded;
  if (v.decoded) {
    j["pdq"] = v.pdq;
    j["pdq_quality"] = v.pdq_quality;
  }
  j["faces"] = faces;
  j["input_matches"] = matches;
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace safeguard::guard
