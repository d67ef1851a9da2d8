// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// TMK+PDQF, Meta's video hash (ThreatExchange tmk/cpp), byte-identical with
// the reference's .tmk files for the same frames.
//
// A video is resampled by FFmpeg to 64x64 RGB frames at 15 frames per
// second. Each frame's feature ("PDQF") is the 16x16 float DCT PDQ computes
// before thresholding (pdq::FloatHashLuma). TMK (temporal match kernel)
// folds the sequence of features into a fixed-size signature: the plain
// average of the features, and for each of four periods T and 32 Fourier
// coefficients j the cosine- and sine-weighted sums of the L2-normalised
// features (weights cos and sin of 2 pi j t / T at frame t), each normalised
// and scaled by sqrt(a_j). Two signatures are compared in two levels:
//
//  * level 1: cosine similarity of the average features, in [-1, 1] (cheap;
//    it culls candidates);
//  * level 2: the TMK score, the best alignment of the two videos over all
//    time offsets modulo each period, normalised so that a video scores 1
//    against itself.
//
// A pair matches when level 1 >= kTmkLevel1Threshold and level 2 >=
// kTmkLevel2Threshold (the reference's validated defaults).
//
// The .tmk file (TmkFeatures::Serialize), all little-endian:
//
//   offset 0   "TMK1" "FVEC" "PDQF"         project, file type, frame feature
//   offset 12  int32 frames_per_second      15
//   offset 16  int32 P, int32 C, int32 D    periods, coefficients, dimension
//   offset 28  int32 frame_count            frames hashed (informational)
//   offset 32  int32 periods[P]
//              float32 coefficients[C]
//              float32 pure_average[D]
//              float32 cos_features[P][C][D]
//              float32 sin_features[P][C][D]

#ifndef SAFEGUARD_VIDEO_TMK_H_
#define SAFEGUARD_VIDEO_TMK_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "safeguard/common/status.h"

namespace safeguard::video {

/// Frames are scaled to kTmkFrameDim x kTmkFrameDim RGB before hashing.
inline constexpr int kTmkFrameDim = 64;
/// Frames are resampled to this rate before hashing.
inline constexpr int kTmkFramesPerSecond = 15;
/// Floats per frame feature (PDQF: the 16x16 PDQ DCT).
inline constexpr int kTmkFeatureDim = 256;
/// The reference's periods (in frames) and Fourier coefficient count.
inline constexpr int kTmkPeriodCount = 4;
inline constexpr int kTmkCoefficientCount = 32;

/// The reference's validated TMK+PDQF thresholds (tmk_default_thresholds.h):
/// a pair matches when TmkLevel1Score >= kTmkLevel1Threshold and
/// TmkLevel2Score >= kTmkLevel2Threshold. They are floats, as in the
/// reference's comparisons.
inline constexpr float kTmkLevel1Threshold = 0.7f;
inline constexpr float kTmkLevel2Threshold = 0.7f;

/// Limits Parse enforces so that a hostile header cannot make us allocate
/// much or make scoring slow (level 2 costs the sum of the periods times C).
/// The reference's values are far below them.
inline constexpr int kTmkMaxPeriodCount = 64;
inline constexpr int kTmkMaxCoefficientCount = 1024;
inline constexpr int kTmkMaxPeriod = 1 << 20;

/// The TMK+PDQF signature of one video. A plain value type: thread-compatible.
///
/// A TmkFeatures is well-formed when pure_average has kTmkFeatureDim floats,
/// cos_features and sin_features have periods.size() * coefficients.size() *
/// kTmkFeatureDim floats, and every period is in [1, kTmkMaxPeriod]. Parse and
/// TmkBuilder only produce well-formed values.
struct TmkFeatures {
  int32_t frames_per_second = kTmkFramesPerSecond;
  /// Number of frame features folded in.
  int32_t frame_count = 0;
  /// The periods T, in frames.
  std::vector<int32_t> periods;
  /// The Fourier coefficients a_j (j = 0..C-1).
  std::vector<float> coefficients;
  /// Mean of the (unnormalised) frame features; zero for an empty video.
  std::vector<float> pure_average;
  /// [p][j][k] at (p * C + j) * kTmkFeatureDim + k.
  std::vector<float> cos_features;
  /// As cos_features; the j = 0 vectors are zero in anything TMK computes.
  std::vector<float> sin_features;

  /// Returns the .tmk bytes (layout above), byte-identical with the
  /// reference's output for the same features. Requires well-formedness.
  std::string Serialize() const;

  /// Parses a .tmk file. Returns kUnsupportedFormat when the bytes are not a
  /// TMK feature-vector file or use another frame feature than PDQF, and
  /// kCorrupt when the header is inconsistent or absurd (counts beyond the
  /// kTmkMax* limits, a dimension other than kTmkFeatureDim), the size does
  /// not match the header (truncated or trailing bytes), a period is outside
  /// [1, kTmkMaxPeriod], a coefficient is not positive, or a value is NaN or
  /// infinite; the message says which. Allocates only after the size has been
  /// checked, so at most about bytes.size(). On error *out is unchanged.
  static Status Parse(std::string_view bytes, TmkFeatures* out);
};

/// Returns OK when a and b can be scored against each other (the reference's
/// areCompatible): same frame rate, same periods, coefficients equal within a
/// relative 1e-6, same feature dimension. Otherwise kInvalidArgument naming
/// the first difference, or naming the argument that is not well-formed.
Status TmkCompatible(const TmkFeatures& a, const TmkFeatures& b);

/// Returns the level-1 score, the cosine similarity of the pure-average
/// features in float as the reference computes it, in [-1, 1]. 0 when either
/// average is zero (the reference gives 0 when both are and NaN when only one
/// is; NaN never passes a threshold, so classification is the same).
/// Requires TmkCompatible(a, b).ok(); returns 0 otherwise, and 0 for a score
/// that overflows to inf or NaN (values near the float limits). Thread-safe.
float TmkLevel1Score(const TmkFeatures& a, const TmkFeatures& b);

/// Returns the level-2 (TMK) score, the reference's computeLevel2Score: for
/// each period, the best K_delta over the offsets 0..T-1, evaluated with the
/// reference's incremental cos/sin recurrence in float; the maximum over
/// periods divided by a_0 + 2 sum_{j>=1} a_j (so ~1 for a video against
/// itself). Requires TmkCompatible(a, b).ok(); returns 0 otherwise. Costs
/// about sum(periods) * C steps (~1 M for the defaults). Thread-safe.
float TmkLevel2Score(const TmkFeatures& a, const TmkFeatures& b);

/// Computes TMK+PDQF features from a stream of frames, as the reference's
/// hasher does with the Poullot periods and coefficients. Feed the frames in
/// order (frame t of the 15 fps stream is the t-th call), then call Finish.
/// Owns its buffers (~300 KiB): adding a frame allocates nothing. Not
/// thread-safe; use one builder per video.
class TmkBuilder {
 public:
  TmkBuilder();

  TmkBuilder(const TmkBuilder&) = delete;
  TmkBuilder& operator=(const TmkBuilder&) = delete;

  /// Adds one frame: kTmkFrameDim x kTmkFrameDim RGB pixels, tightly packed
  /// (rows of 3 * kTmkFrameDim bytes, R G B order). Does not keep `rgb`.
  void AddFrame(const uint8_t* rgb);

  /// Adds one frame feature of kTmkFeatureDim floats (a PDQF feature, or any
  /// other feature of that dimension), all finite. Does not keep `feature`.
  void AddFeature(const float* feature);

  /// Returns the number of frames added so far.
  int frame_count() const { return frame_count_; }

  /// Returns the features of the frames added so far and resets the builder
  /// for another video.
  TmkFeatures Finish();

 private:
  void Reset();

  int frame_count_ = 0;
  std::vector<int32_t> periods_;
  std::vector<float> coefficients_;
  std::vector<float> sum_;      // kTmkFeatureDim: the raw feature sum
  std::vector<float> cos_;      // P * C * kTmkFeatureDim
  std::vector<float> sin_;      // P * C * kTmkFeatureDim
  std::vector<float> luma_;     // kTmkFrameDim^2
  std::vector<float> scratch_;  // pdq::ScratchFloats for one frame
};

}  // namespace safeguard::video

#endif  // SAFEGUARD_VIDEO_TMK_H_
