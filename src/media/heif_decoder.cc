// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// HEIF/HEIC and AVIF through libheif (1.15 on Debian 12, with its HEVC
// decoder libde265 and AV1 decoders dav1d/aom built in). The primary image is
// decoded to interleaved 8-bit RGB with the file's transformations (rotation,
// mirroring, crop) applied: unlike EXIF orientation in JPEG these are part of
// the image's definition, and ImageMagick (so the PDQ reference) applies them
// too. Alpha and higher bit depths are dropped or scaled to 8 bits by libheif.
//
// libheif decodes a whole image at once; its declared size is checked before
// decoding, and libheif's own per-side limit is set from ours.

#include <libheif/heif.h>

#include <algorithm>
#include <climits>
#include <memory>
#include <mutex>
#include <new>
#include <string>

#include "decoders.h"

namespace safeguard::media {
namespace {

// heif_init registers the built-in codecs; it is reference counted and not
// meant to race, so it runs once and is never undone (the process keeps the
// codecs until exit).
void InitLibheifOnce() {
  static std::once_flag once;
  std::call_once(once, [] { heif_init(nullptr); });
}

// Names the codec a file most likely needs, for error messages.
const char* LikelyCodec(Bytes bytes) {
  const int len = static_cast<int>(std::min<size_t>(bytes.size(), 4096));
  if (heif_has_compatible_brand(bytes.data(), len, "avif") == 1 ||
      heif_has_compatible_brand(bytes.data(), len, "avis") == 1) {
    return "AV1";
  }
  return "HEVC";
}

Status FromHeifError(const heif_error& err, Bytes bytes, const char* what) {
  std::string detail = err.message != nullptr ? err.message : "no detail";
  // libheif's messages can end in a newline.
  while (!detail.empty() && (detail.back() == '\n' || detail.back() == ' ')) detail.pop_back();
  if (err.subcode == heif_suberror_End_of_data) {
    return Status::Corrupt(std::string("HEIF data ends early while ") + what +
                           " (truncated file): " + detail);
  }
  if (err.subcode == heif_suberror_Security_limit_exceeded) {
    return Status::TooLarge(std::string("HEIF exceeds a size limit while ") + what + ": " + detail);
  }
  if (err.subcode == heif_suberror_Unsupported_codec) {
    const char* codec = LikelyCodec(bytes);
    return Status::UnsupportedFormat(std::string("HEIF image needs a codec this libheif cannot ") +
                                     "decode (no " + codec + " decoder plugin installed): " + detail);
  }
  switch (err.code) {
    case heif_error_Unsupported_filetype:
    case heif_error_Unsupported_feature:
      return Status::UnsupportedFormat(std::string("HEIF variant not supported while ") + what + ": " +
                                       detail);
    case heif_error_Memory_allocation_error:
      return Status::TooLarge(std::string("HEIF: out of memory while ") + what + ": " + detail);
    default:
      return Status::Corrupt(std::string("HEIF is damaged while ") + what + ": " + detail);
  }
}

struct ContextDeleter {
  void operator()(heif_context* p) const { heif_context_free(p); }
};
struct HandleDeleter {
  void operator()(heif_image_handle* p) const { heif_image_handle_release(p); }
};
struct ImageDeleter {
  void operator()(heif_image* p) const { heif_image_release(p); }
};
struct OptionsDeleter {
  void operator()(heif_decoding_options* p) const { heif_decoding_options_free(p); }
};

Status Decode(Bytes bytes, const DecodeOptions& options, ImageBuilder* builder) {
  std::unique_ptr<heif_context, ContextDeleter> ctx(heif_context_alloc());
  if (!ctx) return Status::Internal("HEIF: cannot allocate a libheif context");
  const int side_limit = static_cast<int>(std::min<uint32_t>(options.limits.max_side, INT_MAX));
  heif_context_set_maximum_image_size_limit(ctx.get(), side_limit);
  // Grid tiles are decoded on the calling thread: callers already decode
  // many images in parallel, one per thread.
  heif_context_set_max_decoding_threads(ctx.get(), 0);
  heif_error err = heif_context_read_from_memory_without_copy(ctx.get(), bytes.data(), bytes.size(), nullptr);
  if (err.code != heif_error_Ok) return FromHeifError(err, bytes, "reading the container");

  heif_image_handle* raw_handle = nullptr;
  err = heif_context_get_primary_image_handle(ctx.get(), &raw_handle);
  std::unique_ptr<heif_image_handle, HandleDeleter> handle(raw_handle);
  if (err.code != heif_error_Ok || !handle) {
    return FromHeifError(err, bytes, "finding the primary image");
  }
  const int declared_w = heif_image_handle_get_width(handle.get());
  const int declared_h = heif_image_handle_get_height(handle.get());
  Status s = builder->CheckSize(static_cast<uint64_t>(std::max(declared_w, 0)),
                                static_cast<uint64_t>(std::max(declared_h, 0)), "HEIF");
  if (!s.ok()) return s;

  std::unique_ptr<heif_decoding_options, OptionsDeleter> decode_options(heif_decoding_options_alloc());
  if (!decode_options) return Status::Internal("HEIF: cannot allocate libheif decoding options");
  decode_options->convert_hdr_to_8bit = 1;
  heif_image* raw_image = nullptr;
  err = heif_decode_image(handle.get(), &raw_image, heif_colorspace_RGB, heif_chroma_interleaved_RGB,
                          decode_options.get());
  std::unique_ptr<heif_image, ImageDeleter> image(raw_image);
  if (err.code != heif_error_Ok || !image) return FromHeifError(err, bytes, "decoding the image");

  const int width = heif_image_get_width(image.get(), heif_channel_interleaved);
  const int height = heif_image_get_height(image.get(), heif_channel_interleaved);
  int stride = 0;
  const uint8_t* plane = heif_image_get_plane_readonly(image.get(), heif_channel_interleaved, &stride);
  if (plane == nullptr || width <= 0 || height <= 0 || stride < width * 3 ||
      heif_image_get_bits_per_pixel_range(image.get(), heif_channel_interleaved) != 8) {
    return Status::Internal("HEIF: libheif returned no 8-bit interleaved RGB plane");
  }
  s = builder->Begin(width, height, RowLayout::kRgb, "HEIF");
  if (!s.ok()) return s;
  for (int y = 0; y < height; ++y) {
    builder->AddRow(y, plane + static_cast<size_t>(y) * static_cast<size_t>(stride));
  }
  return Status::Ok();
}

}  // namespace

Status DecodeHeif(Bytes bytes, const DecodeOptions& options, ImageBuilder* builder) {
  InitLibheifOnce();
  try {
    return Decode(bytes, options, builder);
  } catch (const std::bad_alloc&) {
    return Status::TooLarge("HEIF: out of memory for the decoded image");
  }
}

}  // namespace safeguard::media
