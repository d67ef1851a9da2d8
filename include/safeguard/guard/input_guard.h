// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// The guard for an edit request: a photo to be edited and the prompt that
// says how (POST /v1/guard/input, `safeguard guard input`). Three checks,
// and the most severe decision wins:
//
//   1. the photo against every bank (PDQ and digests, as /v1/scan): a photo
//      in a CSAM or NCII bank can never be edited (input_in_bank:
//      block_report for CSAM, block otherwise);
//   2. faces in the photo (FaceDetector);
//   3. the prompt, screened with the context "edits a photo" and "has a
//      face" (PromptGuard; rules.txt's edit_* and face_* rules).
//
// It fails closed: bytes that are not an image, an image that does not
// decode, and a face check that errors are refused (input_not_an_image,
// input_undecodable, face_check_failed).

#ifndef SAFEGUARD_GUARD_INPUT_GUARD_H_
#define SAFEGUARD_GUARD_INPUT_GUARD_H_

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "safeguard/bank/matcher.h"
#include "safeguard/common/status.h"
#include "safeguard/guard/face_detector.h"
#include "safeguard/guard/prompt_guard.h"
#include "safeguard/hash/image_hasher.h"
#include "safeguard/media/decode.h"

namespace safeguard::guard {

/// What CheckInput needs; all must outlive the call.
struct InputGuardParts {
  const PromptGuard* prompts = nullptr;
  const FaceDetector* faces = nullptr;
  const bank::Matcher* matcher = nullptr;
  /// Builds the PDQ; one per thread.
  hash::ImageHasher* hasher = nullptr;
  /// What the photo may be (the service's own limits, as for /v1/scan).
  media::DecodeLimits limits;
};

/// The verdict on an edit request.
struct InputVerdict {
  /// The prompt's verdict, with the input checks' rules merged in:
  /// decision is the most severe of all.
  PromptVerdict verdict;
  /// Whether the photo decoded, and its PDQ (hex) and quality if so.
  bool decoded = false;
  std::string pdq;
  int pdq_quality = 0;
  /// Faces found (empty when the check failed: see the rules).
  std::vector<FaceBox> faces;
  /// Bank signals the photo matched.
  std::vector<bank::Hit> matches;
};

/// Runs the three checks on `photo` and `prompt`. Returns an error only if
/// matching itself failed (the caller must then refuse the request).
Status CheckInput(std::span<const uint8_t> photo, std::string_view prompt, const InputGuardParts& parts,
                  InputVerdict* out);

/// `verdict` as VerdictToJson, plus "faces", "decoded", "pdq" and
/// "input_matches" (bank, category, distance).
std::string InputVerdictToJson(const InputVerdict& verdict);

}  // namespace safeguard::guard

#endif  // SAFEGUARD_GUARD_INPUT_GUARD_H_
