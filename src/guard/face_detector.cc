// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// The only translation unit that includes OpenCV (it is heavy to compile).
// cv::CascadeClassifier::detectMultiScale is not safe to call on one object
// from two threads, so idle classifiers are kept in a pool and each Detect
// takes one (cloned from the loaded files when the pool is empty).

#include "safeguard/guard/face_detector.h"

#include <algorithm>
#include <filesystem>
#include <mutex>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/objdetect.hpp>

namespace safeguard::guard {
namespace {

constexpr const char* kFrontal = "haarcascade_frontalface_default.xml";
constexpr const char* kProfile = "haarcascade_profileface.xml";

struct Cascades {
  cv::CascadeClassifier frontal;
  cv::CascadeClassifier profile;
};

}  // namespace

struct FaceDetector::Impl {
  Options options;
  std::mutex mu;
  std::vector<std::unique_ptr<Cascades>> idle;

  Status LoadOne(std::unique_ptr<Cascades>* out) const {
    auto c = std::make_unique<Cascades>();
    const std::string frontal = options.cascade_dir + "/" + kFrontal;
    const std::string profile = options.cascade_dir + "/" + kProfile;
    for (const std::string& f : {frontal, profile}) {
      std::error_code ec;
      if (!std::filesystem::is_regular_file(f, ec)) {
        return Status::NotFound("face detection: " + f + " not found (Debian's opencv-data installs it)");
      }
    }
    try {
      if (!c->frontal.load(frontal) || !c->profile.load(profile)) {
        return Status::Internal("face detection: OpenCV cannot read the cascades in " + options.cascade_dir);
      }
    } catch (const cv::Exception& e) {
      return Status::Internal(std::string("face detection: OpenCV: ") + e.what());
    }
    *out = std::move(c);
    return Status::Ok();
  }
};

FaceDetector::FaceDetector(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
FaceDetector::~FaceDetector() = default;

Status FaceDetector::Load(const Options& options, std::unique_ptr<FaceDetector>* out) {
  // One detection per calling thread: callers already run requests in
  // parallel, and OpenCV's own pool would only oversubscribe the cores.
  cv::setNumThreads(1);
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  std::unique_ptr<Cascades> first;
  Status s = impl->LoadOne(&first);
  if (!s.ok()) return s;
  impl->idle.push_back(std::move(first));
  *out = std::unique_ptr<FaceDetector>(new FaceDetector(std::move(impl)));
  return Status::Ok();
}

Status FaceDetector::Detect(const media::Image& image, std::vector<FaceBox>* faces) const {
  faces->clear();
  if (image.width <= 0 || image.height <= 0 || (image.channels != 1 && image.channels != 3) ||
      image.pixels.size() < static_cast<size_t>(image.width) * static_cast<size_t>(image.height) *
                                static_cast<size_t>(image.channels)) {
    return Status::InvalidArgument("face detection: an empty or malformed image");
  }
  std::unique_ptr<Cascades> c;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    if (!impl_->idle.empty()) {
      c = std::move(impl_->idle.back());
      impl_->idle.pop_back();
    }
  }
  if (!c) {
    Status s = impl_->LoadOne(&c);
    if (!s.ok()) return s;
  }
  Status result = Status::Ok();
  try {
    cv::Mat src(image.height, image.width, image.channels == 3 ? CV_8UC3 : CV_8UC1,
                const_cast<uint8_t*>(image.pixels.data()));
    cv::Mat grey;
    if (image.channels == 3) {
      cv::cvtColor(src, grey, cv::COLOR_RGB2GRAY);
    } else {
      grey = src;
    }
    const int longer = std::max(image.width, image.height);
    double scale = 1.0;
    if (longer > impl_->options.max_side) {
      scale = static_cast<double>(impl_->options.max_side) / longer;
      cv::Mat small;
      cv::resize(grey, small, cv::Size(), scale, scale, cv::INTER_AREA);
      grey = small;
    }
    cv::Mat eq;
    cv::equalizeHist(grey, eq);
    const cv::Size min_size(impl_->options.min_face, impl_->options.min_face);
    auto add = [&](const std::vector<cv::Rect>& rects, const char* kind, bool mirrored) {
      for (const cv::Rect& r : rects) {
        FaceBox b;
        const int x = mirrored ? eq.cols - r.x - r.width : r.x;
        b.x = static_cast<int>(x / scale);
        b.y = static_cast<int>(r.y / scale);
        b.width = static_cast<int>(r.width / scale);
        b.height = static_cast<int>(r.height / scale);
        b.kind = kind;
        faces->push_back(b);
      }
    };
    std::vector<cv::Rect> found;
    c->frontal.detectMultiScale(eq, found, 1.1, impl_->options.min_neighbors, 0, min_size);
    add(found, "frontal", false);
    c->profile.detectMultiScale(eq, found, 1.1, impl_->options.min_neighbors, 0, min_size);
    add(found, "profile", false);
    cv::Mat flipped;
    cv::flip(eq, flipped, 1);
    c->profile.detectMultiScale(flipped, found, 1.1, impl_->options.min_neighbors, 0, min_size);
    add(found, "profile", true);
  } catch (const cv::Exception& e) {
    result = Status::Internal(std::string("face detection: OpenCV: ") + e.what());
  }
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->idle.push_back(std::move(c));
  }
  return result;
}

}  // namespace safeguard::guard
