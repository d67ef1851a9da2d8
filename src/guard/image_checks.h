// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// The checks the input guard (a photo to edit) and the output guard (a
// generated image) share: decode once, hash, match every bank.

#ifndef SAFEGUARD_GUARD_IMAGE_CHECKS_H_
#define SAFEGUARD_GUARD_IMAGE_CHECKS_H_

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "safeguard/bank/matcher.h"
#include "safeguard/common/status.h"
#include "safeguard/guard/face_detector.h"
#include "safeguard/guard/prompt_guard.h"
#include "safeguard/hash/image_hasher.h"
#include "safeguard/media/decode.h"

namespace safeguard::guard {

/// What DecodeAndMatch found about one image.
struct ImageFacts {
  /// The bytes' signature is an image format.
  bool is_image = false;
  /// It decoded (and hashed); `image` holds the pixels.
  bool decoded = false;
  media::Image image;
  /// PDQ (hex) and quality, when decoded.
  std::string pdq;
  int pdq_quality = 0;
  /// Bank signals matched (digests always; PDQ when decoded with quality).
  std::vector<bank::Hit> matches;
};

/// Decodes `bytes` within `limits` (once: the PDQ samples the same pixels),
/// hashes and matches them against every bank. An undecodable image is not
/// an error (facts->decoded is false); only a failed match is.
Status DecodeAndMatch(std::span<const uint8_t> bytes, const media::DecodeLimits& limits,
                      hash::ImageHasher* hasher, const bank::Matcher& matcher, ImageFacts* facts);

/// Adds the rules an image's facts call for, named after `prefix` ("input",
/// "output"): PREFIX_not_an_image or PREFIX_undecodable (block), and
/// PREFIX_in_bank (block_report if a CSAM bank matched, block otherwise).
void AddImageRules(const ImageFacts& facts, const std::string& prefix, const std::string& category,
                   PromptVerdict* v);

/// Finds faces in `image` (an edited photo) into *faces and sets
/// context->input_has_face. An error counts as a face and adds
/// face_check_failed (block) to `v`: the guard fails closed.
void CheckFaces(const FaceDetector& detector, const media::Image& image, PromptContext* context,
                std::vector<FaceBox>* faces, PromptVerdict* v);

/// Appends a rule hit (no spans) to `v`.
void AddRule(PromptVerdict* v, const std::string& name, Decision decision,
             std::vector<std::string> categories);

/// Sorts v's rules most severe first (stable) and sets its decision.
void FinishVerdict(PromptVerdict* v);

/// Bank hits as JSON objects (bank, category, signal_id, distance), for
/// the "input_matches" and "output_matches" of a verdict.
std::string HitsToJson(const std::vector<bank::Hit>& hits);

}  // namespace safeguard::guard

#endif  // SAFEGUARD_GUARD_IMAGE_CHECKS_H_
