// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// FaceDetector finds faces in a photo a user asks to edit. The guard does not
// need to know who the person is: a face plus an undressing or sexual request
// is refused (docs/guard.md). OpenCV's Haar cascades from Debian's
// opencv-data (frontal, and profile both ways) do the work; OpenCV is
// confined to src/guard/face_detector.cc.
//
//   std::unique_ptr<FaceDetector> faces;
//   Status s = FaceDetector::Load(FaceDetector::Options(), &faces);
//   std::vector<FaceBox> found;
//   s = faces->Detect(image, &found);

#ifndef SAFEGUARD_GUARD_FACE_DETECTOR_H_
#define SAFEGUARD_GUARD_FACE_DETECTOR_H_

#include <memory>
#include <string>
#include <vector>

#include "safeguard/common/status.h"
#include "safeguard/media/image.h"

namespace safeguard::guard {

/// A face, in the pixel coordinates of the image given to Detect.
struct FaceBox {
  int x = 0;
  int y = 0;
  int width = 0;
  int height = 0;
  /// "frontal" or "profile".
  std::string kind;
};

/// Detects faces. Load once; Detect is thread-safe.
class FaceDetector {
 public:
  /// Where the cascades are and how hard to look.
  struct Options {
    /// Folder of Debian's opencv-data Haar cascades.
    std::string cascade_dir = "/usr/share/opencv4/haarcascades";
    /// Images are scaled down to this longer side before detection.
    int max_side = 640;
    /// The smallest face looked for, in pixels of the scaled image.
    int min_face = 24;
    /// Neighbours a detection needs (higher: fewer false faces; at 8, 2 of
    /// the first 120 shared benign photos show a false face, at 5, 8 do).
    int min_neighbors = 8;
  };

  /// Loads the cascades; kNotFound naming the file if one is missing
  /// (install opencv-data).
  static Status Load(const Options& options, std::unique_ptr<FaceDetector>* out);

  ~FaceDetector();
  FaceDetector(const FaceDetector&) = delete;
  FaceDetector& operator=(const FaceDetector&) = delete;

  /// Finds faces in `image` (grey or RGB). kInvalidArgument for an empty
  /// image; kInternal if OpenCV fails (a caller fails closed).
  Status Detect(const media::Image& image, std::vector<FaceBox>* faces) const;

  /// Implementation; public only so the .cc file can define it.
  struct Impl;

 private:
  explicit FaceDetector(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace safeguard::guard

#endif  // SAFEGUARD_GUARD_FACE_DETECTOR_H_
