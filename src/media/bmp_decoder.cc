// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// BMP through stb_image (Debian's libstb-dev). BMP looks simple but has many
// header versions, bit depths (1/4/8 palette, 16 with bit fields, 24, 32),
// bottom-up and top-down row orders and padding rules; a widely fuzzed
// decoder is a safer choice than a new hand-written parser. stb_image is
// compiled into this file only, restricted to BMP, with its symbols kept
// static so nothing else in the program can reach it.
//
// stb_image cannot stream rows: it decodes the whole image, so the size is
// checked (stbi_info_from_memory) before that allocation. RLE-compressed BMPs
// are not supported by stb_image and are reported as kUnsupportedFormat.
//
// stb_image reads zeros past the end of its input instead of failing, so a
// truncated file would decode with black rows; the pixel array's extent is
// checked against the file size here first.

#include <climits>
#include <cstring>
#include <string>

#include "decoders.h"

// Our DecodeLimits are checked before stb_image allocates; this compile-time
// cap is only a backstop against overflow in its size arithmetic.
#define STBI_MAX_DIMENSIONS (1 << 20)
#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_STATIC
#define STBI_ONLY_BMP
#define STBI_NO_STDIO
#define STBI_NO_LINEAR
#define STBI_NO_HDR
#define STBI_FAILURE_USERMSG
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#endif
#include <stb/stb_image.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

namespace safeguard::media {
namespace {

// stb_image's failure reason is a thread-local static string.
std::string FailureReason() {
  const char* reason = stbi_failure_reason();
  return reason != nullptr ? reason : "unknown error";
}

// stb_image has no error codes, only messages; sort them into our codes.
Status FromFailure(const char* what) {
  const std::string reason = FailureReason();
  if (reason.find("not supported") != std::string::npos || reason.find("unsupported") != std::string::npos ||
      reason == "BMP RLE") {
    return Status::UnsupportedFormat("BMP variant stb_image cannot decode: " + reason);
  }
  if (reason.find("Out of memory") != std::string::npos || reason.find("outofmem") != std::string::npos) {
    return Status::TooLarge(std::string("BMP: out of memory while ") + what);
  }
  if (reason.find("Corrupt") != std::string::npos || reason.find("corrupt") != std::string::npos) {
    return Status::Corrupt(std::string("BMP is damaged or truncated while ") + what + ": " + reason);
  }
  return Status::Corrupt(std::string("BMP is damaged while ") + what + ": " + reason);
}

uint32_t ReadU16(const uint8_t* p) { return uint32_t{p[0]} | (uint32_t{p[1]} << 8); }
uint32_t ReadU32(const uint8_t* p) { return ReadU16(p) | (ReadU16(p + 2) << 16); }

// Returns kCorrupt when the file is too short to hold the rows its header
// declares. Only uncompressed and bit-field BMPs have a size known up front;
// the compressed kinds stb_image refuses anyway. `width` and `height` are the
// (already limit-checked) sizes stb_image parsed.
Status CheckPixelArrayFits(Bytes bytes, int width, int height) {
  // BITMAPFILEHEADER (14 bytes), then the info header starting with its size.
  if (bytes.size() < 18) return Status::Corrupt("BMP data ends inside the header (truncated file)");
  const uint64_t offset = ReadU32(bytes.data() + 10);
  const uint32_t header_size = ReadU32(bytes.data() + 14);
  uint32_t bpp = 0;
  uint32_t compression = 0;
  if (header_size == 12) {  // OS/2 BITMAPCOREHEADER: 16-bit sizes, no compression field
    if (bytes.size() < 26) return Status::Corrupt("BMP data ends inside the header (truncated file)");
    bpp = ReadU16(bytes.data() + 24);
  } else {
    if (bytes.size() < 34) return Status::Corrupt("BMP data ends inside the header (truncated file)");
    bpp = ReadU16(bytes.data() + 28);
    compression = ReadU32(bytes.data() + 30);
  }
  if (compression != 0 && compression != 3) return Status::Ok();
  const uint64_t stride = (static_cast<uint64_t>(width) * bpp + 31) / 32 * 4;
  const uint64_t last_row = (static_cast<uint64_t>(width) * bpp + 7) / 8;
  // Some writers leave out the padding of the last row; accept that.
  const uint64_t needed = offset + stride * (static_cast<uint64_t>(height) - 1) + last_row;
  if (bytes.size() < needed) {
    return Status::Corrupt(
        "BMP data ends before the last row (truncated file): " + std::to_string(bytes.size()) +
        " bytes, the header needs " + std::to_string(needed));
  }
  return Status::Ok();
}

}  // namespace

Status DecodeBmp(Bytes bytes, const DecodeOptions& options, ImageBuilder* builder) {
  if (bytes.size() > static_cast<size_t>(INT_MAX)) {
    return Status::TooLarge("BMP file is above 2 GiB, the most stb_image can read");
  }
  const auto* data = reinterpret_cast<const stbi_uc*>(bytes.data());
  const int len = static_cast<int>(bytes.size());
  int width = 0, height = 0, channels = 0;
  if (!stbi_info_from_memory(data, len, &width, &height, &channels)) {
    // stbi_info replaces the header parser's reason (say "BMP RLE") with a
    // generic one. The loader fails in the same header parser, before it
    // allocates anything, and keeps the specific reason.
    stbi_uc* pixels = stbi_load_from_memory(data, len, &width, &height, &channels, 3);
    if (pixels != nullptr) {
      stbi_image_free(pixels);
      return Status::Corrupt("BMP header is inconsistent (stb_image can load but not inspect it)");
    }
    return FromFailure("reading the header");
  }
  Status s = builder->CheckSize(static_cast<uint64_t>(width < 0 ? 0 : width),
                                static_cast<uint64_t>(height < 0 ? 0 : height), "BMP");
  if (!s.ok()) return s;
  s = CheckPixelArrayFits(bytes, width, height);
  if (!s.ok()) return s;

  int w = 0, h = 0;
  stbi_uc* pixels = stbi_load_from_memory(data, len, &w, &h, &channels, 3);
  if (pixels == nullptr) return FromFailure("decoding the pixels");
  if (w != width || h != height) {
    stbi_image_free(pixels);
    return Status::Internal("BMP: stb_image decoded a size other than the header's");
  }
  s = builder->Begin(w, h, RowLayout::kRgb, "BMP");
  if (s.ok()) {
    const size_t stride = static_cast<size_t>(w) * 3;
    for (int y = 0; y < h; ++y) builder->AddRow(y, pixels + stride * y);
  }
  stbi_image_free(pixels);
  return s;
}

}  // namespace safeguard::media
