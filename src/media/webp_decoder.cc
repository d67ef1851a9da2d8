// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// WebP through libwebp, lossy and lossless, still and animated. libwebp
// decodes a whole frame at a time, so the frame goes into one RGB buffer and
// is then streamed into the builder row by row.
//
// Alpha is ignored by asking for MODE_RGB: libwebp then returns the colour
// samples as stored, never premultiplied or composed over a background.
//
// An animated WebP yields its first frame, at that frame's own size and
// without compositing onto the canvas, the same rule as GIF.

#include <webp/decode.h>
#include <webp/demux.h>

#include <algorithm>
#include <new>
#include <string>
#include <vector>

#include "decoders.h"

namespace safeguard::media {
namespace {

// Maps a libwebp status to ours. `what` says which step failed.
Status FromVp8Status(VP8StatusCode code, const char* what) {
  switch (code) {
    case VP8_STATUS_OK:
      return Status::Ok();
    case VP8_STATUS_NOT_ENOUGH_DATA:
      return Status::Corrupt(std::string("WebP data ends early while ") + what + " (truncated file)");
    case VP8_STATUS_UNSUPPORTED_FEATURE:
      return Status::UnsupportedFormat(std::string("WebP uses a feature libwebp cannot decode (") + what +
                                       ")");
    case VP8_STATUS_OUT_OF_MEMORY:
      return Status::TooLarge(std::string("WebP: out of memory while ") + what);
    default:
      return Status::Corrupt(std::string("WebP is damaged: bitstream error while ") + what);
  }
}

// Decodes one still WebP bitstream (a whole file or an animation frame) as
// RGB and streams it into the builder.
Status DecodeStill(const uint8_t* data, size_t size, ImageBuilder* builder) {
  WebPDecoderConfig config;
  if (!WebPInitDecoderConfig(&config)) return Status::Internal("WebP: libwebp version mismatch");
  Status s = FromVp8Status(WebPGetFeatures(data, size, &config.input), "reading the header");
  if (!s.ok()) return s;
  const int width = config.input.width;
  const int height = config.input.height;
  s = builder->CheckSize(static_cast<uint64_t>(std::max(width, 0)),
                         static_cast<uint64_t>(std::max(height, 0)), "WebP");
  if (!s.ok()) return s;

  const size_t stride = static_cast<size_t>(width) * 3;
  std::vector<uint8_t> rgb;
  rgb.resize(stride * static_cast<size_t>(height));
  config.output.colorspace = MODE_RGB;
  config.output.is_external_memory = 1;
  config.output.u.RGBA.rgba = rgb.data();
  config.output.u.RGBA.stride = static_cast<int>(stride);
  config.output.u.RGBA.size = rgb.size();
  // WebPDecode only reads `data`; it never owns or frees it.
  const VP8StatusCode code = WebPDecode(data, size, &config);
  WebPFreeDecBuffer(&config.output);  // frees nothing with external memory, but is the contract
  s = FromVp8Status(code, "decoding the pixels");
  if (!s.ok()) return s;

  s = builder->Begin(width, height, RowLayout::kRgb, "WebP");
  if (!s.ok()) return s;
  for (int y = 0; y < height; ++y) builder->AddRow(y, rgb.data() + stride * y);
  return Status::Ok();
}

// Decodes the first frame of an animated WebP.
Status DecodeFirstFrame(Bytes bytes, ImageBuilder* builder) {
  WebPData data{bytes.data(), bytes.size()};
  WebPDemuxer* demux = WebPDemux(&data);
  if (demux == nullptr) {
    return Status::Corrupt("WebP animation is damaged or truncated (the container cannot be parsed)");
  }
  WebPIterator iter;
  Status s;
  if (!WebPDemuxGetFrame(demux, 1, &iter)) {
    s = Status::Corrupt("WebP animation has no frame");
  } else {
    if (!iter.complete) {
      s = Status::Corrupt("WebP data ends inside the first frame (truncated file)");
    } else {
      s = DecodeStill(iter.fragment.bytes, iter.fragment.size, builder);
    }
    WebPDemuxReleaseIterator(&iter);
  }
  WebPDemuxDelete(demux);
  return s;
}

}  // namespace

Status DecodeWebp(Bytes bytes, const DecodeOptions& options, ImageBuilder* builder) {
  WebPBitstreamFeatures features;
  Status s = FromVp8Status(WebPGetFeatures(bytes.data(), bytes.size(), &features), "reading the header");
  if (!s.ok()) return s;
  // For an animation this is the canvas, which bounds every frame.
  s = builder->CheckSize(static_cast<uint64_t>(std::max(features.width, 0)),
                         static_cast<uint64_t>(std::max(features.height, 0)), "WebP");
  if (!s.ok()) return s;
  try {
    if (features.has_animation) return DecodeFirstFrame(bytes, builder);
    return DecodeStill(bytes.data(), bytes.size(), builder);
  } catch (const std::bad_alloc&) {
    return Status::TooLarge("WebP: out of memory for the decoded image");
  }
}

}  // namespace safeguard::media
