// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// Encoding an Image to PNG or JPEG bytes in memory: what the generation guard
// hands back to an AI service after it has watermarked an image, and what the
// watermark benchmark uses to re-encode marked images as an attacker would.
//
// Example:
//   std::string png;
//   Status s = EncodePng(image, &png);
//   if (!s.ok()) return s;
//
// Both functions are thread-safe (no shared mutable state) and never throw:
// libpng and libjpeg failures come back as a Status.

#ifndef SAFEGUARD_MEDIA_ENCODE_H_
#define SAFEGUARD_MEDIA_ENCODE_H_

#include <string>

#include "safeguard/common/status.h"
#include "safeguard/media/image.h"

namespace safeguard::media {

/// Encodes `image` (1 or 3 channels, 8 bits, tightly packed) as an 8-bit grey
/// or RGB PNG into *out, replacing its contents. Lossless: decoding the result
/// gives back the same pixels. Returns kInvalidArgument (and leaves *out
/// empty) when the image is empty, has another channel count, or its pixel
/// buffer does not hold width * height * channels bytes; kInternal when
/// libpng fails.
Status EncodePng(const Image& image, std::string* out);

/// Encodes `image` as a baseline JPEG (grey, or YCbCr with 4:2:0 chroma, the
/// libjpeg defaults) at `quality` (1..100, the IJG scale) into *out, replacing
/// its contents. Lossy. Returns kInvalidArgument (and leaves *out empty) for
/// the cases EncodePng refuses, for a quality outside 1..100, and for a side
/// longer than 65500 pixels (JPEG's limit); kInternal when libjpeg fails.
Status EncodeJpeg(const Image& image, int quality, std::string* out);

}  // namespace safeguard::media

#endif  // SAFEGUARD_MEDIA_ENCODE_H_
