// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// One function per format, each in its own file (jpeg_decoder.cc, ...). Each
// validates the declared size through builder->Begin() before allocating
// anything sized by the file, streams rows into the builder, and returns
// kCorrupt / kTooLarge / kUnsupportedFormat with a message naming the format.
// All are thread-safe: the libraries are used only through per-call state.

#ifndef SAFEGUARD_SRC_MEDIA_DECODERS_H_
#define SAFEGUARD_SRC_MEDIA_DECODERS_H_

#include <cstdint>
#include <span>

#include "image_builder.h"
#include "safeguard/common/status.h"
#include "safeguard/media/decode.h"

namespace safeguard::media {

using Bytes = std::span<const uint8_t>;

Status DecodeJpeg(Bytes bytes, const DecodeOptions& options, ImageBuilder* builder);
Status DecodePng(Bytes bytes, const DecodeOptions& options, ImageBuilder* builder);
Status DecodeWebp(Bytes bytes, const DecodeOptions& options, ImageBuilder* builder);
Status DecodeGif(Bytes bytes, const DecodeOptions& options, ImageBuilder* builder);
Status DecodeBmp(Bytes bytes, const DecodeOptions& options, ImageBuilder* builder);
Status DecodeTiff(Bytes bytes, const DecodeOptions& options, ImageBuilder* builder);
Status DecodePnm(Bytes bytes, const DecodeOptions& options, ImageBuilder* builder);
Status DecodeHeif(Bytes bytes, const DecodeOptions& options, ImageBuilder* builder);

}  // namespace safeguard::media

#endif  // SAFEGUARD_SRC_MEDIA_DECODERS_H_
