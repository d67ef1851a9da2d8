// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// The only translation unit that includes OpenCV's DNN module. A cv::dnn::Net
// keeps per-run buffers and is not safe to run from two threads, so idle
// networks are kept in a pool and each Classify takes one (read again from
// the model bytes kept in memory when the pool is empty).

#include "safeguard/guard/image_classifier.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <mutex>
#include <opencv2/core.hpp>
#include <opencv2/dnn.hpp>
#include <opencv2/imgproc.hpp>

namespace safeguard::guard {
namespace {

bool WellFormed(const media::Image& image) {
  return image.width > 0 && image.height > 0 && (image.channels == 1 || image.channels == 3) &&
         image.pixels.size() >= static_cast<size_t>(image.width) * static_cast<size_t>(image.height) *
                                    static_cast<size_t>(image.channels);
}

// TensorFlow's resize_bilinear with align_corners=True and half_pixel_centers
// False, as TensorFlow.js's CPU kernel computes it (nsfwjs's preprocessing):
// source = dest * (in - 1) / (out - 1), interpolating top, then bottom, then
// between them. `plane` is one channel, already scaled to floats.
void ResizeAlignCorners(const std::vector<float>& plane, int in_w, int in_h, int out_w, int out_h,
                        float* out) {
  const double sy =
      out_h > 1 ? static_cast<double>(in_h - 1) / (out_h - 1) : static_cast<double>(in_h) / out_h;
  const double sx =
      out_w > 1 ? static_cast<double>(in_w - 1) / (out_w - 1) : static_cast<double>(in_w) / out_w;
  for (int r = 0; r < out_h; ++r) {
    const double fy = sy * r;
    const int y0 = std::max(0, static_cast<int>(std::floor(fy)));
    const int y1 = std::min(in_h - 1, static_cast<int>(std::ceil(fy)));
    const double dy = fy - y0;
    for (int c = 0; c < out_w; ++c) {
      const double fx = sx * c;
      const int x0 = std::max(0, static_cast<int>(std::floor(fx)));
      const int x1 = std::min(in_w - 1, static_cast<int>(std::ceil(fx)));
      const double dx = fx - x0;
      const double tl = plane[static_cast<size_t>(y0) * in_w + x0];
      const double tr = plane[static_cast<size_t>(y0) * in_w + x1];
      const double bl = plane[static_cast<size_t>(y1) * in_w + x0];
      const double br = plane[static_cast<size_t>(y1) * in_w + x1];
      const double top = tl + (tr - tl) * dx;
      const double bottom = bl + (br - bl) * dx;
      out[static_cast<size_t>(r) * out_w + c] = static_cast<float>(top + (bottom - top) * dy);
    }
  }
}

Status CheckSpec(const ClassifierSpec& spec) {
  const std::string who = "classifier \"" + spec.name + "\": ";
  if (spec.name.empty()) return Status::InvalidArgument("classifier: a name is required");
  if (spec.width < 8 || spec.height < 8 || spec.width > 4096 || spec.height > 4096) {
    return Status::InvalidArgument(who + "input width and height must be 8 to 4096");
  }
  for (float s : spec.std) {
    if (!(s != 0.0f) || !std::isfinite(s)) return Status::InvalidArgument(who + "input std must not be 0");
  }
  if (spec.labels.empty()) return Status::InvalidArgument(who + "no labels");
  for (const ClassifierSignal& sig : spec.signals) {
    static const char* kKnown[] = {"output_sexual", "output_suggestive", "output_minor", "output_csam"};
    if (std::find_if(std::begin(kKnown), std::end(kKnown),
                     [&](const char* k) { return sig.category == k; }) == std::end(kKnown)) {
      return Status::InvalidArgument(
          who + "signal category \"" + sig.category +
          "\" is not one of output_sexual, output_suggestive, output_minor, output_csam");
    }
    if (sig.labels.empty())
      return Status::InvalidArgument(who + "signal " + sig.category + " names no label");
    for (const std::string& l : sig.labels) {
      if (std::find(spec.labels.begin(), spec.labels.end(), l) == spec.labels.end()) {
        return Status::InvalidArgument(who + "signal " + sig.category + " names \"" + l +
                                       "\", which is not one of its labels");
      }
    }
    if (!std::isfinite(sig.threshold))
      return Status::InvalidArgument(who + "signal threshold is not a number");
  }
  return Status::Ok();
}

}  // namespace

ClassifierSpec NsfwSpec(const std::string& model_path) {
  ClassifierSpec spec;
  spec.name = "nsfw";
  spec.model_path = model_path;
  spec.labels = {"Drawing", "Hentai", "Neutral", "Porn", "Sexy"};
  spec.signals = {{"output_sexual", {"Hentai", "Porn"}, 0.5f}, {"output_suggestive", {"Sexy"}, 0.7f}};
  return spec;
}

std::string NsfwModelPath() {
  if (const char* env = std::getenv("SAFEGUARD_NSFW_MODEL"); env != nullptr && *env != '\0') return env;
#ifdef SAFEGUARD_NSFW_MODEL_PATH
  return SAFEGUARD_NSFW_MODEL_PATH;
#else
  return "nsfw_mobilenet_v2.onnx";
#endif
}

struct ImageClassifier::Impl {
  ClassifierSpec spec;
  std::vector<uchar> model;  // the .onnx bytes, to read more networks from
  std::mutex mu;
  std::vector<std::unique_ptr<cv::dnn::Net>> idle;

  Status NewNet(std::unique_ptr<cv::dnn::Net>* out) const {
    try {
      auto net = std::make_unique<cv::dnn::Net>(cv::dnn::readNetFromONNX(model));
      if (net->empty())
        return Status::Corrupt("classifier \"" + spec.name + "\": OpenCV read an empty network");
      net->setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
      net->setPreferableTarget(cv::dnn::DNN_TARGET_CPU);
      *out = std::move(net);
    } catch (const cv::Exception& e) {
      return Status::Corrupt("classifier \"" + spec.name + "\": OpenCV cannot read " + spec.model_path +
                             ": " + e.what());
    }
    return Status::Ok();
  }

  // Runs one network on a preprocessed NCHW input.
  Status Run(const std::vector<float>& input, std::vector<float>* scores) {
    std::unique_ptr<cv::dnn::Net> net;
    {
      std::lock_guard<std::mutex> lock(mu);
      if (!idle.empty()) {
        net = std::move(idle.back());
        idle.pop_back();
      }
    }
    if (!net) {
      Status s = NewNet(&net);
      if (!s.ok()) return s;
    }
    try {
      const int dims[4] = {1, 3, spec.height, spec.width};
      cv::Mat blob(4, dims, CV_32F, const_cast<float*>(input.data()));
      net->setInput(blob);
      cv::Mat out = net->forward();
      if (!out.isContinuous() || out.depth() != CV_32F) out = out.clone();
      const float* p = out.ptr<float>();
      scores->assign(p, p + out.total());
    } catch (const cv::Exception& e) {
      return Status::Internal("classifier \"" + spec.name + "\": OpenCV: " + e.what());
    }
    std::lock_guard<std::mutex> lock(mu);
    idle.push_back(std::move(net));
    return Status::Ok();
  }
};

ImageClassifier::ImageClassifier(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ImageClassifier::~ImageClassifier() = default;

const ClassifierSpec& ImageClassifier::spec() const { return impl_->spec; }

Status ImageClassifier::Load(const ClassifierSpec& spec, std::unique_ptr<ImageClassifier>* out) {
  Status s = CheckSpec(spec);
  if (!s.ok()) return s;
  std::error_code ec;
  if (!std::filesystem::is_regular_file(spec.model_path, ec)) {
    return Status::NotFound("classifier \"" + spec.name + "\": model " + spec.model_path + " not found" +
                            (spec.name == "nsfw" ? " (the build converts it: tools/nsfw/README.md)" : ""));
  }
  auto impl = std::make_unique<Impl>();
  impl->spec = spec;
  std::ifstream in(spec.model_path, std::ios::binary);
  impl->model.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  if (!in.good() && !in.eof()) return Status::IoError("classifier: cannot read " + spec.model_path);
  // One run on a mid-grey image proves the model reads and has one score
  // per label; the network goes to the pool.
  cv::setNumThreads(1);  // callers run requests in parallel; see face_detector.cc
  media::Image grey;
  grey.width = spec.width;
  grey.height = spec.height;
  grey.channels = 1;
  grey.pixels.assign(static_cast<size_t>(spec.width) * spec.height, 128);
  std::vector<float> input;
  s = Preprocess(grey, spec, &input);
  std::vector<float> scores;
  if (s.ok()) s = impl->Run(input, &scores);
  if (!s.ok()) return s;
  if (scores.size() != spec.labels.size()) {
    return Status::InvalidArgument("classifier \"" + spec.name + "\": the model gives " +
                                   std::to_string(scores.size()) + " scores but the spec names " +
                                   std::to_string(spec.labels.size()) + " labels");
  }
  *out = std::unique_ptr<ImageClassifier>(new ImageClassifier(std::move(impl)));
  return Status::Ok();
}

Status ImageClassifier::Preprocess(const media::Image& image, const ClassifierSpec& spec,
                                   std::vector<float>* out) {
  out->clear();
  if (!WellFormed(image)) return Status::InvalidArgument("classifier: an empty or malformed image");
  const size_t in_plane = static_cast<size_t>(image.width) * image.height;
  const size_t out_plane = static_cast<size_t>(spec.width) * spec.height;
  out->resize(3 * out_plane);
  std::vector<float> plane(in_plane);
  for (int c = 0; c < 3; ++c) {
    // Input channel c of the model is image channel `src` (grey repeats).
    const int src = image.channels == 1 ? 0 : (spec.rgb ? c : 2 - c);
    for (size_t i = 0; i < in_plane; ++i) {
      const double p = image.pixels[i * image.channels + src];
      // 1/255 is the common case (nsfwjs): divide, as TensorFlow.js does,
      // so the input is the original's to the last bit.
      const double v = spec.scale == 1.0f / 255.0f ? p / 255.0 : p * static_cast<double>(spec.scale);
      plane[i] = static_cast<float>((v - spec.mean[c]) / spec.std[c]);
    }
    float* dst = out->data() + c * out_plane;
    if (image.width == spec.width && image.height == spec.height) {
      std::copy(plane.begin(), plane.end(), dst);
    } else if (spec.resize == ClassifierResize::kBilinearAlignCorners) {
      ResizeAlignCorners(plane, image.width, image.height, spec.width, spec.height, dst);
    } else {
      try {
        cv::Mat src_mat(image.height, image.width, CV_32F, plane.data());
        cv::Mat dst_mat(spec.height, spec.width, CV_32F, dst);
        cv::resize(src_mat, dst_mat, dst_mat.size(), 0, 0, cv::INTER_LINEAR);
      } catch (const cv::Exception& e) {
        return Status::Internal(std::string("classifier: OpenCV resize: ") + e.what());
      }
    }
  }
  return Status::Ok();
}

Status ImageClassifier::Classify(const media::Image& image, ClassifierResult* out) const {
  *out = ClassifierResult();
  out->name = impl_->spec.name;
  out->labels = impl_->spec.labels;
  std::vector<float> input;
  Status s = Preprocess(image, impl_->spec, &input);
  if (!s.ok()) return s;
  s = impl_->Run(input, &out->scores);
  if (!s.ok()) return s;
  const ClassifierSpec& spec = impl_->spec;
  if (out->scores.size() != spec.labels.size()) {
    return Status::Internal("classifier \"" + spec.name + "\": wrong number of scores");
  }
  if (spec.softmax) {
    const float top = *std::max_element(out->scores.begin(), out->scores.end());
    double sum = 0;
    for (float& v : out->scores) sum += (v = std::exp(v - top));
    for (float& v : out->scores) v = static_cast<float>(v / sum);
  }
  for (float v : out->scores) {
    if (!std::isfinite(v))
      return Status::Internal("classifier \"" + spec.name + "\": a score is not a number");
  }
  for (const ClassifierSignal& sig : spec.signals) {
    double sum = 0;
    for (const std::string& l : sig.labels) {
      const size_t k = std::find(spec.labels.begin(), spec.labels.end(), l) - spec.labels.begin();
      sum += out->scores[k];
    }
    if (sum >= sig.threshold &&
        std::find(out->categories.begin(), out->categories.end(), sig.category) == out->categories.end()) {
      out->categories.push_back(sig.category);
    }
  }
  return Status::Ok();
}

}  // namespace safeguard::guard
