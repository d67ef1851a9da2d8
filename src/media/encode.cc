// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// PNG through libpng's simplified write API, JPEG through libjpeg(-turbo).
//
// libjpeg reports fatal errors through longjmp. The frame that calls setjmp
// (RunJpeg) holds no object with a destructor and changes no local after it;
// the output buffer is owned by EncodeJpeg's frame, which libjpeg never
// leaves by longjmp. jpeg_mem_dest is not used: when libjpeg fails after the
// buffer it mallocs has grown, that buffer leaks and the pointer handed back
// dangles (libjpeg-turbo 2.1 jdatadst.c), so output goes through a small
// destination manager of ours that writes into a std::string instead.

#include "safeguard/media/encode.h"

#include <algorithm>
#include <csetjmp>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <new>
#include <string>

// jpeglib.h needs size_t and FILE declared first.
#include <jerror.h>
#include <jpeglib.h>
#include <png.h>

namespace safeguard::media {
namespace {

// JPEG's own limit on a side (JPEG_MAX_DIMENSION in libjpeg).
constexpr int kMaxJpegSide = 65500;

Status CheckImage(const Image& image, const char* format) {
  const std::string what = std::string("cannot encode ") + format + ": ";
  if (image.width <= 0 || image.height <= 0) {
    return Status::InvalidArgument(what + "the image is empty (" + std::to_string(image.width) + "x" +
                                   std::to_string(image.height) + " pixels)");
  }
  if (image.channels != 1 && image.channels != 3) {
    return Status::InvalidArgument(what + "the image has " + std::to_string(image.channels) +
                                   " channels; only 1 (grey) and 3 (RGB) are supported");
  }
  const uint64_t expected =
      static_cast<uint64_t>(image.width) * static_cast<uint64_t>(image.height) * image.channels;
  if (image.pixels.size() != expected) {
    return Status::InvalidArgument(what + "the pixel buffer holds " + std::to_string(image.pixels.size()) +
                                   " bytes but " + std::to_string(image.width) + "x" +
                                   std::to_string(image.height) + "x" + std::to_string(image.channels) +
                                   " needs " + std::to_string(expected));
  }
  return Status::Ok();
}

// ---- JPEG --------------------------------------------------------------------

struct ErrorManager {
  jpeg_error_mgr pub;
  jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

void OnError(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<ErrorManager*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  longjmp(err->jump, 1);
}

// Warnings (and trace messages) would go to stderr by default; an encoder of
// in-memory pixels has nothing useful to say there.
void OnMessage(j_common_ptr, int) {}

// Writes into *out, growing it by doubling. `used` counts the bytes written.
struct StringDestination {
  jpeg_destination_mgr pub;
  std::string* out;
  size_t used;
};

void InitDestination(j_compress_ptr cinfo) {
  auto* dest = reinterpret_cast<StringDestination*>(cinfo->dest);
  dest->pub.next_output_byte = reinterpret_cast<JOCTET*>(dest->out->data());
  dest->pub.free_in_buffer = dest->out->size();
  dest->used = 0;
}

boolean EmptyOutputBuffer(j_compress_ptr cinfo) {
  auto* dest = reinterpret_cast<StringDestination*>(cinfo->dest);
  // libjpeg calls this only when the whole buffer is full.
  dest->used = dest->out->size();
  bool grown = true;
  try {
    dest->out->resize(dest->out->size() * 2);
  } catch (const std::bad_alloc&) {
    grown = false;
  }
  // No C++ exception may unwind through libjpeg's C frames: turn it into
  // libjpeg's own error exit, outside the handler.
  if (!grown) {
    ERREXIT1(cinfo, JERR_OUT_OF_MEMORY, 0);
  }
  dest->pub.next_output_byte = reinterpret_cast<JOCTET*>(dest->out->data()) + dest->used;
  dest->pub.free_in_buffer = dest->out->size() - dest->used;
  return TRUE;
}

void TermDestination(j_compress_ptr cinfo) {
  auto* dest = reinterpret_cast<StringDestination*>(cinfo->dest);
  dest->used = dest->out->size() - dest->pub.free_in_buffer;
}

struct JpegRequest {
  const Image* image;
  int quality;
  StringDestination* dest;
};

// The encode proper; libjpeg may longjmp out of it to RunJpeg.
__attribute__((noinline)) void JpegBody(jpeg_compress_struct* cinfo, const JpegRequest& req) {
  const Image& image = *req.image;
  cinfo->dest = &req.dest->pub;
  cinfo->image_width = static_cast<JDIMENSION>(image.width);
  cinfo->image_height = static_cast<JDIMENSION>(image.height);
  cinfo->input_components = image.channels;
  cinfo->in_color_space = image.channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_set_defaults(cinfo);
  jpeg_set_quality(cinfo, req.quality, TRUE);
  jpeg_start_compress(cinfo, TRUE);
  const size_t stride = static_cast<size_t>(image.width) * image.channels;
  while (cinfo->next_scanline < cinfo->image_height) {
    // libjpeg does not write through the row pointer.
    JSAMPROW row = const_cast<JSAMPLE*>(image.pixels.data() + stride * cinfo->next_scanline);
    jpeg_write_scanlines(cinfo, &row, 1);
  }
  jpeg_finish_compress(cinfo);
}

// Returns true on success; on failure copies libjpeg's message to `message`.
bool RunJpeg(const JpegRequest& req, char* message) {
  jpeg_compress_struct cinfo;
  ErrorManager err;
  cinfo.err = jpeg_std_error(&err.pub);
  err.pub.error_exit = &OnError;
  err.pub.emit_message = &OnMessage;
  err.message[0] = '\0';
  if (setjmp(err.jump)) {
    jpeg_destroy_compress(&cinfo);
    std::snprintf(message, JMSG_LENGTH_MAX, "%s", err.message);
    return false;
  }
  jpeg_create_compress(&cinfo);
  JpegBody(&cinfo, req);
  jpeg_destroy_compress(&cinfo);
  return true;
}

}  // namespace

Status EncodePng(const Image& image, std::string* out) {
  out->clear();
  Status s = CheckImage(image, "PNG");
  if (!s.ok()) {
    return s;
  }
  if (static_cast<uint64_t>(image.width) * image.channels >
      static_cast<uint64_t>(std::numeric_limits<png_int_32>::max())) {
    return Status::InvalidArgument("cannot encode PNG: a row of " + std::to_string(image.width) +
                                   " pixels is longer than libpng accepts");
  }

  png_image png;
  std::memset(&png, 0, sizeof(png));
  png.version = PNG_IMAGE_VERSION;
  png.width = static_cast<png_uint_32>(image.width);
  png.height = static_cast<png_uint_32>(image.height);
  png.format = image.channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;

  // One pass into a buffer of the worst-case size, then trimmed: asking for
  // the size first would compress the image twice.
  std::string buffer;
  png_alloc_size_t size = PNG_IMAGE_PNG_SIZE_MAX(png);
  try {
    buffer.resize(size);
  } catch (const std::bad_alloc&) {
    return Status::TooLarge("cannot encode PNG: no memory for a " + std::to_string(size) + "-byte buffer");
  }
  const int ok = png_image_write_to_memory(&png, buffer.data(), &size, /*convert_to_8_bit=*/0,
                                           image.pixels.data(), /*row_stride=*/0, /*colormap=*/nullptr);
  const std::string message = png.message;
  png_image_free(&png);
  if (!ok) {
    return Status::Internal("libpng could not encode the image: " + message);
  }
  buffer.resize(size);
  *out = std::move(buffer);
  return Status::Ok();
}

Status EncodeJpeg(const Image& image, int quality, std::string* out) {
  out->clear();
  Status s = CheckImage(image, "JPEG");
  if (!s.ok()) {
    return s;
  }
  if (quality < 1 || quality > 100) {
    return Status::InvalidArgument("JPEG quality " + std::to_string(quality) + " is outside 1..100");
  }
  if (image.width > kMaxJpegSide || image.height > kMaxJpegSide) {
    return Status::InvalidArgument("cannot encode JPEG: " + std::to_string(image.width) + "x" +
                                   std::to_string(image.height) + " pixels exceeds JPEG's limit of " +
                                   std::to_string(kMaxJpegSide) + " per side");
  }

  // A first guess that photos at ordinary qualities rarely outgrow.
  std::string buffer;
  buffer.resize(std::max<size_t>(
      4096, static_cast<size_t>(image.width) * static_cast<size_t>(image.height) * image.channels / 4));
  StringDestination dest;
  dest.pub.init_destination = &InitDestination;
  dest.pub.empty_output_buffer = &EmptyOutputBuffer;
  dest.pub.term_destination = &TermDestination;
  dest.out = &buffer;
  dest.used = 0;

  const JpegRequest req{&image, quality, &dest};
  char message[JMSG_LENGTH_MAX];
  if (!RunJpeg(req, message)) {
    return Status::Internal(std::string("libjpeg could not encode the image: ") + message);
  }
  buffer.resize(dest.used);
  *out = std::move(buffer);
  return Status::Ok();
}

}  // namespace safeguard::media
