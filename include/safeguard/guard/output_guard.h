// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// The guard for a generated image, after generation and before anyone sees it
// (POST /v1/guard/output, `safeguard guard output`). Checks, and the most
// severe decision wins:
//
//   1. the image against every bank (output_in_bank: block_report for CSAM,
//      block otherwise);
//   2. the NSFW classifier and the operator's classifiers (ImageClassifier),
//      whose signals become the rule categories output_sexual,
//      output_suggestive, output_minor and output_csam;
//   3. when the image is an edit, faces in the photo that was edited;
//   4. the prompt, screened with all of that as context, so rules.txt
//      decides: sexual output with a minor term in the prompt or an age
//      classifier's minor signal -> block_report; sexual output from an edit
//      of a photo with a face -> block; sexual output alone -> the operator's
//      policy (refuse by default).
//
// An allowed image is returned watermarked with its generation id
// (watermark.h). The guard fails closed: an image that does not decode, a
// classifier or face check that errors or runs past the time limit, and an
// allowed image that cannot carry the watermark are all refused
// (output_undecodable, output_check_failed, output_not_marked, ...).

#ifndef SAFEGUARD_GUARD_OUTPUT_GUARD_H_
#define SAFEGUARD_GUARD_OUTPUT_GUARD_H_

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "safeguard/bank/matcher.h"
#include "safeguard/common/status.h"
#include "safeguard/guard/face_detector.h"
#include "safeguard/guard/image_classifier.h"
#include "safeguard/guard/prompt_guard.h"
#include "safeguard/guard/watermark.h"
#include "safeguard/hash/image_hasher.h"
#include "safeguard/media/decode.h"

namespace safeguard::guard {

/// What CheckOutput needs; all must outlive the call.
struct OutputGuardParts {
  const PromptGuard* prompts = nullptr;
  const FaceDetector* faces = nullptr;
  const bank::Matcher* matcher = nullptr;
  /// Builds the PDQ; one per thread.
  hash::ImageHasher* hasher = nullptr;
  /// The classifiers to run: the NSFW model and any of the operator's. At
  /// least one is required (an output nobody classified is not released).
  std::vector<const ImageClassifier*> classifiers;
  /// The key allowed images are watermarked under.
  const WatermarkKey* key = nullptr;
  /// What the images may be (the service's own limits).
  media::DecodeLimits limits;
  /// The most the image checks (classifiers and faces together) may take;
  /// a verdict that took longer refuses the image (output_check_failed).
  std::chrono::milliseconds check_timeout{5000};
};

/// One generated image to check.
struct OutputRequest {
  /// The generated image's bytes.
  std::span<const uint8_t> image;
  /// The prompt it was generated from ("" if none).
  std::string_view prompt;
  /// The photo that was edited, for an edit; empty for text-to-image.
  std::span<const uint8_t> input_photo;
  /// The generation id to embed; 0 picks a random one.
  uint64_t generation_id = 0;
};

/// The verdict on a generated image.
struct OutputVerdict {
  /// The prompt's verdict with every image rule merged in.
  PromptVerdict verdict;
  /// Whether the output decoded, and its PDQ (hex) and quality if so.
  bool decoded = false;
  std::string pdq;
  int pdq_quality = 0;
  /// Bank signals the output matched.
  std::vector<bank::Hit> matches;
  /// Each classifier's scores and the categories it raised.
  std::vector<ClassifierResult> classifications;
  /// Whether the request was an edit, and the faces in the edited photo.
  bool photo_edit = false;
  std::vector<FaceBox> input_faces;
  /// The generation id (the caller's, or the random one picked).
  uint64_t generation_id = 0;
  /// How long the image checks took, in milliseconds.
  double check_ms = 0;
  /// For an allowed image: the watermarked image, encoded as the output was
  /// (JPEG stays JPEG at quality 95; anything else becomes PNG), and its
  /// format name ("png" or "jpeg"). Empty when refused.
  std::string marked;
  std::string marked_format;
};

/// Runs the checks on `request`. Returns an error only for a broken call
/// (missing parts) or a failed bank match; the caller must then refuse.
Status CheckOutput(const OutputRequest& request, const OutputGuardParts& parts, OutputVerdict* out);

/// `verdict` as VerdictToJson, plus "generation_id" (a decimal string),
/// "decoded", "pdq", "output_matches", "classifiers" (name, scores by label,
/// categories), "photo_edit", "input_faces", "check_ms" and "marked" (true
/// when a watermarked image was produced). The image itself is not included.
std::string OutputVerdictToJson(const OutputVerdict& verdict);

}  // namespace safeguard::guard

#endif  // SAFEGUARD_GUARD_OUTPUT_GUARD_H_
