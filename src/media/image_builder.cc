// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.

#include "image_builder.h"

#include <cstring>
#include <string>

namespace safeguard::media {

ImageBuilder::ImageBuilder(const DecodeOptions& options, ImageFormat format)
    : options_(options), format_(format) {}

Status ImageBuilder::CheckSize(uint64_t width, uint64_t height, const char* format_name) const {
  if (width == 0 || height == 0) {
    return Status::Corrupt(std::string(format_name) + " declares an empty image (" + std::to_string(width) +
                           "x" + std::to_string(height) + " pixels)");
  }
  const DecodeLimits& lim = options_.limits;
  if (width > lim.max_side || height > lim.max_side) {
    return Status::TooLarge(std::string(format_name) + " declares " + std::to_string(width) + "x" +
                            std::to_string(height) + " pixels; a side above the limit of " +
                            std::to_string(lim.max_side) + " is refused");
  }
  if (width * height > lim.max_pixels) {
    return Status::TooLarge(std::string(format_name) + " declares " + std::to_string(width) + "x" +
                            std::to_string(height) + " pixels, above the limit of " +
                            std::to_string(lim.max_pixels) +
                            " pixels; raise the pixel limit if such images are expected");
  }
  return Status::Ok();
}

Status ImageBuilder::Begin(int width, int height, RowLayout layout, const char* format_name, int source_width,
                           int source_height) {
  if (width < 0 || height < 0) return Status::Corrupt(std::string(format_name) + " declares a negative size");
  Status s = CheckSize(static_cast<uint64_t>(width), static_cast<uint64_t>(height), format_name);
  if (!s.ok()) return s;
  width_ = width;
  height_ = height;
  layout_ = layout;
  out_channels_ = (layout == RowLayout::kGrey || layout == RowLayout::kGreyAlpha) ? 1 : 3;
  all_grey_ = true;
  const int n = options_.sample_to;
  sampling_ = n > 0 && (width > n || height > n);
  out_width_ = sampling_ ? n : width;
  out_height_ = sampling_ ? n : height;
  if (sampling_) {
    src_col_.resize(static_cast<size_t>(n));
    for (int x = 0; x < n; ++x) {
      src_col_[x] = static_cast<int>(static_cast<int64_t>(x) * width / n);
    }
  }
  image_ = Image();
  image_.width = out_width_;
  image_.height = out_height_;
  image_.channels = out_channels_;
  image_.format = format_;
  image_.source_width = source_width > 0 ? source_width : width;
  image_.source_height = source_height > 0 ? source_height : height;
  image_.pixels.resize(static_cast<size_t>(out_width_) * out_height_ * out_channels_);
  rows_added_ = 0;
  next_row_ = 0;
  return Status::Ok();
}

void ImageBuilder::AddRow(int y, const uint8_t* row) {
  if (y != next_row_ || y >= height_) return;  // out of order: Finish reports the gap
  ++next_row_;
  ++rows_added_;
  const int in_ch = static_cast<int>(layout_);
  if (out_channels_ == 3 && all_grey_) {
    const int w = width_;
    bool grey = true;
    for (int x = 0; x < w && grey; ++x) {
      const uint8_t* p = row + static_cast<size_t>(x) * in_ch;
      grey = p[0] == p[1] && p[1] == p[2];
    }
    all_grey_ = grey;
  }
  if (!sampling_) {
    uint8_t* dst = image_.pixels.data() + static_cast<size_t>(y) * width_ * out_channels_;
    if (in_ch == out_channels_) {
      std::memcpy(dst, row, static_cast<size_t>(width_) * in_ch);
    } else {
      for (int x = 0; x < width_; ++x) {
        for (int c = 0; c < out_channels_; ++c) dst[x * out_channels_ + c] = row[x * in_ch + c];
      }
    }
    return;
  }
  // Output rows oy with floor(oy * H / n) == y are [ceil(y*n/H), ceil((y+1)*n/H)).
  const int64_t n = options_.sample_to;
  const int64_t lo = (static_cast<int64_t>(y) * n + height_ - 1) / height_;
  const int64_t hi = (static_cast<int64_t>(y + 1) * n + height_ - 1) / height_;
  if (lo >= hi) return;
  // Locals, not members, in the loop: stores through uint8_t* may alias
  // anything, which would force the compiler to reload every member.
  const int out_w = out_width_;
  const int out_ch = out_channels_;
  const int* cols = src_col_.data();
  const size_t out_row_bytes = static_cast<size_t>(out_w) * out_ch;
  uint8_t* first = image_.pixels.data() + static_cast<size_t>(lo) * out_row_bytes;
  if (out_ch == 3) {
    for (int x = 0; x < out_w; ++x) {
      const uint8_t* p = row + static_cast<size_t>(cols[x]) * in_ch;
      first[3 * x] = p[0];
      first[3 * x + 1] = p[1];
      first[3 * x + 2] = p[2];
    }
  } else {
    for (int x = 0; x < out_w; ++x) first[x] = row[static_cast<size_t>(cols[x]) * in_ch];
  }
  for (int64_t oy = lo + 1; oy < hi; ++oy) {
    std::memcpy(first + static_cast<size_t>(oy - lo) * out_row_bytes, first, out_row_bytes);
  }
}

Status ImageBuilder::Finish(Image* out) {
  if (rows_added_ != height_) {
    return Status::Corrupt(std::string(ImageFormatName(format_)) + " data ends after " +
                           std::to_string(rows_added_) + " of " + std::to_string(height_) +
                           " rows (truncated or damaged file)");
  }
  image_.all_grey = out_channels_ == 1 || all_grey_;
  *out = std::move(image_);
  image_ = Image();
  return Status::Ok();
}

}  // namespace safeguard::media
