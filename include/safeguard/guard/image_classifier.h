// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// ImageClassifier runs an ONNX image classifier on a generated image and
// turns its scores into rule categories for the output guard
// (docs/guard.md, "Output checks"). Two kinds use the same class:
//
//   - the built-in NSFW classifier: the MobileNetV2 model of the npm package
//     nsfwjs (MIT), converted to ONNX at build time (tools/nsfw/) and checked
//     against the original's scores; NsfwSpec() describes it;
//   - an operator's own models (age estimation, a licensed CSAM classifier),
//     each described by a ClassifierSpec, usually read from JSON with
//     ParseClassifierSpec.
//
// OpenCV's DNN module runs the models; it is confined to
// src/guard/image_classifier.cc.
//
//   std::unique_ptr<ImageClassifier> nsfw;
//   Status s = ImageClassifier::Load(NsfwSpec(NsfwModelPath()), &nsfw);
//   ClassifierResult r;
//   if (s.ok()) s = nsfw->Classify(image, &r);
//   // r.scores: Drawing, Hentai, Neutral, Porn, Sexy; r.categories: e.g. {"output_sexual"}

#ifndef SAFEGUARD_GUARD_IMAGE_CLASSIFIER_H_
#define SAFEGUARD_GUARD_IMAGE_CLASSIFIER_H_

#include <array>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "safeguard/common/status.h"
#include "safeguard/media/image.h"

namespace safeguard::guard {

/// How an image is scaled to the model's input size.
enum class ClassifierResize {
  /// Bilinear with corners aligned (source = dest * (in - 1) / (out - 1)):
  /// TensorFlow's resize_bilinear(align_corners=True), which nsfwjs uses.
  kBilinearAlignCorners,
  /// Bilinear with half-pixel centres (OpenCV's and PyTorch's default).
  kBilinear,
};

/// When a classifier raises a rule category: the sum of the scores of
/// `labels` is at least `threshold`.
struct ClassifierSignal {
  /// The rule category raised (output_sexual, output_suggestive,
  /// output_minor or output_csam; see data/guard/rules.txt).
  std::string category;
  /// Output labels whose scores are added up.
  std::vector<std::string> labels;
  /// Raised when the sum is >= this.
  float threshold = 0.5f;
};

/// Everything needed to run one ONNX classifier.
struct ClassifierSpec {
  /// Short name, reported in verdicts ("nsfw", "age").
  std::string name;
  /// The .onnx file. Its first input takes a float NCHW [1, 3, height,
  /// width] tensor; its first output has one score per label.
  std::string model_path;
  /// The model's input size.
  int width = 224;
  int height = 224;
  /// Channel order of the input: true RGB, false BGR.
  bool rgb = true;
  /// How the image is scaled to width x height.
  ClassifierResize resize = ClassifierResize::kBilinearAlignCorners;
  /// Each input value is (pixel * scale - mean[c]) / std[c].
  float scale = 1.0f / 255.0f;
  std::array<float, 3> mean{0, 0, 0};
  std::array<float, 3> std{1, 1, 1};
  /// Apply a softmax to the output (for a model that ends in logits).
  bool softmax = false;
  /// One name per output score, in order.
  std::vector<std::string> labels;
  /// The categories the scores can raise.
  std::vector<ClassifierSignal> signals;
};

/// What Classify found.
struct ClassifierResult {
  /// The spec's name.
  std::string name;
  /// The spec's labels, and one score per label in the same order.
  std::vector<std::string> labels;
  std::vector<float> scores;
  /// The categories raised, in the spec's order of signals.
  std::vector<std::string> categories;
};

/// The nsfwjs MobileNetV2 model at `model_path`: labels Drawing, Hentai,
/// Neutral, Porn, Sexy; Hentai + Porn >= 0.5 raises output_sexual, Sexy >=
/// 0.7 raises output_suggestive; preprocessing as nsfwjs's own (RGB / 255,
/// bilinear with aligned corners to 224 x 224).
ClassifierSpec NsfwSpec(const std::string& model_path);

/// Where the build put the converted nsfwjs model ($SAFEGUARD_NSFW_MODEL
/// overrides).
std::string NsfwModelPath();

/// Parses one operator classifier from JSON:
///   {"name": "age", "model": "/etc/safeguard/age.onnx",
///    "input": {"width": 224, "height": 224, "channels": "rgb",
///              "resize": "bilinear", "scale": 0.00392156862,
///              "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]},
///    "softmax": true, "labels": ["minor", "adult"],
///    "signals": [{"category": "output_minor", "labels": ["minor"], "threshold": 0.6}]}
/// Only "name", "model", "labels" and "signals" are required; "input"
/// defaults to NsfwSpec's preprocessing. kInvalidArgument names the field
/// that is wrong; the model file itself is read by ImageClassifier::Load.
Status ParseClassifierSpec(std::string_view json, ClassifierSpec* out);

/// Runs one ONNX classifier. Load once; Classify is thread-safe (each call
/// takes a network from a pool, so concurrent calls do not wait on each
/// other).
class ImageClassifier {
 public:
  /// Loads and checks the model: kNotFound if the file is missing,
  /// kInvalidArgument if the spec is inconsistent or the model's output
  /// does not have one score per label (checked by running it once on a
  /// grey image), kCorrupt if OpenCV cannot read the model.
  static Status Load(const ClassifierSpec& spec, std::unique_ptr<ImageClassifier>* out);

  ~ImageClassifier();
  ImageClassifier(const ImageClassifier&) = delete;
  ImageClassifier& operator=(const ImageClassifier&) = delete;

  /// The spec it was loaded with.
  const ClassifierSpec& spec() const;

  /// Classifies `image` (grey or RGB; grey is repeated into three channels).
  /// kInvalidArgument for an empty image; kInternal if OpenCV fails (a
  /// caller fails closed).
  Status Classify(const media::Image& image, ClassifierResult* out) const;

  /// The model's input for `image` under `spec`: float NCHW, 3 x height x
  /// width. Public so tests can compare it with nsfwjs's own preprocessing.
  static Status Preprocess(const media::Image& image, const ClassifierSpec& spec, std::vector<float>* out);

  /// Implementation; public only so the .cc file can define it.
  struct Impl;

 private:
  explicit ImageClassifier(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace safeguard::guard

#endif  // SAFEGUARD_GUARD_IMAGE_CLASSIFIER_H_
