// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.

#include "safeguard/guard/output_guard.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <random>

#include "guard/image_checks.h"
#include "safeguard/media/encode.h"

namespace safeguard::guard {
namespace {

uint64_t RandomGenerationId() {
  std::random_device rd;
  uint64_t id = 0;
  while (id == 0) id = (static_cast<uint64_t>(rd()) << 32) ^ rd();
  return id;
}

// The watermarked image, encoded. A JPEG output stays JPEG when the mark
// survives the encoding (read back to be sure); otherwise PNG, lossless.
Status EncodeMarked(const media::Image& marked, media::ImageFormat original, uint64_t id,
                    const WatermarkKey& key, std::string* bytes, std::string* format) {
  if (original == media::ImageFormat::kJpeg) {
    std::string jpeg;
    Status s = media::EncodeJpeg(marked, 95, &jpeg);
    media::Image back;
    if (s.ok()) {
      s = media::DecodeImage(
          std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(jpeg.data()), jpeg.size()),
          media::DecodeOptions(), &back);
    }
    WatermarkTrace trace;
    if (s.ok()) s = TraceWatermark(back, key, &trace);
    if (s.ok() && trace.found && trace.generation_id == id) {
      *bytes = std::move(jpeg);
      *format = "jpeg";
      return Status::Ok();
    }
  }
  *format = "png";
  return media::EncodePng(marked, bytes);
}

}  // namespace

Status CheckOutput(const OutputRequest& request, const OutputGuardParts& parts, OutputVerdict* out) {
  *out = OutputVerdict();
  if (parts.prompts == nullptr || parts.faces == nullptr || parts.matcher == nullptr ||
      parts.hasher == nullptr || parts.key == nullptr || parts.classifiers.empty()) {
    return Status::InvalidArgument(
        "output guard: prompts, faces, matcher, hasher, key and a classifier are required");
  }
  out->generation_id = request.generation_id != 0 ? request.generation_id : RandomGenerationId();
  PromptContext context;
  PromptVerdict scratch;

  // 1. The output against every bank.
  ImageFacts facts;
  Status s = DecodeAndMatch(request.image, parts.limits, parts.hasher, *parts.matcher, &facts);
  if (!s.ok()) return s;
  out->decoded = facts.decoded;
  out->pdq = facts.pdq;
  out->pdq_quality = facts.pdq_quality;
  out->matches = facts.matches;
  AddImageRules(facts, "output", "output", &scratch);

  // 2. The classifiers, and 3. the edited photo's faces, within the time
  // limit. Any error or lateness refuses the image.
  const auto start = std::chrono::steady_clock::now();
  bool failed = false;
  if (facts.decoded) {
    for (const ImageClassifier* c : parts.classifiers) {
      ClassifierResult r;
      s = c->Classify(facts.image, &r);
      if (!s.ok()) {
        failed = true;
        r = ClassifierResult();
        r.name = c->spec().name;
      }
      for (const std::string& cat : r.categories) {
        if (std::find(context.output_categories.begin(), context.output_categories.end(), cat) ==
            context.output_categories.end()) {
          context.output_categories.push_back(cat);
        }
      }
      out->classifications.push_back(std::move(r));
    }
  }
  if (!request.input_photo.empty()) {
    out->photo_edit = context.photo_edit = true;
    media::DecodeOptions options;
    options.limits = parts.limits;
    media::Image photo;
    s = media::DecodeImage(request.input_photo, options, &photo);
    if (!s.ok()) {
      AddRule(&scratch, "input_undecodable", Decision::kBlock, {"photo_edit"});
    } else {
      CheckFaces(*parts.faces, photo, &context, &out->input_faces, &scratch);
    }
  }
  const auto elapsed = std::chrono::steady_clock::now() - start;
  out->check_ms = std::chrono::duration<double, std::milli>(elapsed).count();
  if (elapsed > parts.check_timeout) failed = true;
  if (failed) AddRule(&scratch, "output_check_failed", Decision::kBlock, {"output"});

  // 4. The prompt, with all of that as context; then everything merged.
  out->verdict = parts.prompts->Screen(request.prompt, context);
  for (RuleHit& r : scratch.rules) out->verdict.rules.push_back(std::move(r));
  FinishVerdict(&out->verdict);

  // An allowed image leaves only with its mark.
  if (out->verdict.decision == Decision::kAllow) {
    media::Image marked;
    s = EmbedWatermark(facts.image, out->generation_id, *parts.key, &marked);
    if (s.ok())
      s = EncodeMarked(marked, facts.image.format, out->generation_id, *parts.key, &out->marked,
                       &out->marked_format);
    if (!s.ok()) {
      out->marked.clear();
      out->marked_format.clear();
      AddRule(&out->verdict, "output_not_marked", Decision::kBlock, {"output"});
      FinishVerdict(&out->verdict);
    }
  }
  return Status::Ok();
}

std::string OutputVerdictToJson(const OutputVerdict& v) {
  using json = nlohmann::ordered_json;
  json j = json::parse(VerdictToJson(v.verdict));
  // A decimal string, as `guard trace` prints it: 64-bit ids do not survive
  // JavaScript numbers.
  j["generation_id"] = std::to_string(v.generation_id);
  j["marked"] = !v.marked.empty();
  if (!v.marked.empty()) j["marked_format"] = v.marked_format;
  j["decoded"] = v.decoded;
  if (v.decoded) {
    j["pdq"] = v.pdq;
    j["pdq_quality"] = v.pdq_quality;
  }
  j["output_matches"] = json::parse(HitsToJson(v.matches));
  json classifiers = json::array();
  for (const ClassifierResult& r : v.classifications) {
    json scores = json::object();
    // Labels come from the classifier's spec; a failed run has no scores.
    for (size_t i = 0; i < r.scores.size() && i < r.labels.size(); ++i) scores[r.labels[i]] = r.scores[i];
    classifiers.push_back(json{{"name", r.name}, {"scores", scores}, {"categories", r.categories}});
  }
  j["classifiers"] = classifiers;
  j["photo_edit"] = v.photo_edit;
  if (v.photo_edit) {
    json faces = json::array();
    for (const FaceBox& f : v.input_faces) {
      faces.push_back(
          json{{"x", f.x}, {"y", f.y}, {"width", f.width}, {"height", f.height}, {"kind", f.kind}});
    }
    j["input_faces"] = faces;
  }
  j["check_ms"] = std::round(v.check_ms * 100) / 100;
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace safeguard::guard
