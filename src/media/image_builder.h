// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// ImageBuilder is what every decoder writes into: it checks the declared size
// against the limits before anything is allocated, drops alpha, tracks whether
// the image is grey, and applies DecodeOptions::sample_to while rows stream in,
// so a 100-megapixel JPEG costs one row buffer plus a 512x512 result.
// Not thread-safe; one per decode.

#ifndef SAFEGUARD_SRC_MEDIA_IMAGE_BUILDER_H_
#define SAFEGUARD_SRC_MEDIA_IMAGE_BUILDER_H_

#include <cstdint>
#include <vector>

#include "safeguard/common/status.h"
#include "safeguard/media/decode.h"
#include "safeguard/media/image.h"

namespace safeguard::media {

/// Layout of one row handed to ImageBuilder::AddRow.
enum class RowLayout : uint8_t { kGrey = 1, kGreyAlpha = 2, kRgb = 3, kRgba = 4 };

class ImageBuilder {
 public:
  ImageBuilder(const DecodeOptions& options, ImageFormat format);

  /// Returns kTooLarge if an image of width x height breaks the limits, and
  /// kCorrupt if a side is zero. Decoders call this on the header's numbers,
  /// before allocating anything sized by them.
  Status CheckSize(uint64_t width, uint64_t height, const char* format_name) const;

  /// Starts an image whose rows will be width x height in `layout`. The
  /// encoded size (before reduced-resolution decoding) is source_width x
  /// source_height; pass 0 for "same as width/height". Calls CheckSize.
  Status Begin(int width, int height, RowLayout layout, const char* format_name, int source_width = 0,
               int source_height = 0);

  /// Adds row y (0 <= y < height), width pixels in the layout given to Begin.
  /// Rows must arrive in increasing order.
  void AddRow(int y, const uint8_t* row);

  /// Number of bytes in one input row (width * layout channels).
  size_t row_bytes() const { return static_cast<size_t>(width_) * static_cast<int>(layout_); }

  /// Moves the finished image into *out. Returns kCorrupt if not every row
  /// was added.
  Status Finish(Image* out);

 private:
  const DecodeOptions& options_;
  ImageFormat format_;
  RowLayout layout_ = RowLayout::kRgb;
  int width_ = 0;
  int height_ = 0;
  int out_width_ = 0;
  int out_height_ = 0;
  int out_channels_ = 0;
  bool sampling_ = false;
  bool all_grey_ = true;
  int rows_added_ = 0;
  int next_row_ = 0;
  std::vector<int> src_col_;  // when sampling: source column of each output column
  Image image_;
};

}  // namespace safeguard::media

#endif  // SAFEGUARD_SRC_MEDIA_IMAGE_BUILDER_H_
