// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// PNG through libpng 1.6's full API. The simplified API (png_image_*) cannot
// scale 16-bit samples without gamma processing, read row by row, or take
// per-call limits, so it is not enough here.
//
// Pixels are what the file stores: no gamma, sBIT or colour-profile
// conversion, alpha dropped (never composed over a background). 16-bit samples
// are scaled to 8 bits with rounding (png_set_scale_16); the PDQ reference
// truncates them (png_set_strip_16 behaviour), a documented defect we do not
// copy.
//
// libpng reports fatal errors through longjmp. The frame that calls setjmp
// (RunDecode) holds no object with a destructor, and no C++ code that can
// throw runs inside a libpng callback; buffers live in DecodePng's frame.

#include <png.h>

#include <algorithm>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <limits>
#include <new>
#include <string>
#include <vector>

#include "decoders.h"

namespace safeguard::media {
namespace {

// Largest ancillary chunk libpng will buffer. All ancillary chunks except
// tRNS are skipped anyway, so this only bounds the worst case.
constexpr png_alloc_size_t kMaxChunkBytes = 16u << 20;
constexpr size_t kSignatureBytes = 8;

struct ReadState {
  Bytes bytes;
  size_t pos;
  bool truncated;
  char message[256];
};

struct Request {
  const DecodeOptions* options;
  ImageBuilder* builder;
  Status* status;                // set when the builder refuses the size
  std::vector<uint8_t>* pixels;  // one row, or the whole image when interlaced
};

// The custom read function makes running out of data a libpng error, so a
// truncated file stops the decode instead of producing invented rows.
void ReadFromMemory(png_structp png, png_bytep out, size_t length) {
  auto* state = static_cast<ReadState*>(png_get_io_ptr(png));
  if (length > state->bytes.size() - state->pos) {
    state->truncated = true;
    png_error(png, "PNG data ends before the image is complete (truncated file)");
  }
  std::memcpy(out, state->bytes.data() + state->pos, length);
  state->pos += length;
}

void OnError(png_structp png, png_const_charp message) {
  auto* state = static_cast<ReadState*>(png_get_error_ptr(png));
  std::snprintf(state->message, sizeof(state->message), "%s", message);
  png_longjmp(png, 1);
}

void OnWarning(png_structp, png_const_charp) {}

// Reads a big-endian 32-bit value; the caller checked the bounds.
uint32_t ReadU32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

// Checks the IHDR size before libpng is involved, so a declared 65535x65535
// image is refused as kTooLarge (libpng's own user limits are a backstop and
// would only give a generic "Invalid IHDR data").
Status PrecheckHeader(Bytes bytes, const ImageBuilder& builder) {
  if (bytes.size() < kSignatureBytes + 8 + 13) {
    return Status::Corrupt("PNG data ends inside the header (truncated file)");
  }
  const uint8_t* ihdr = bytes.data() + kSignatureBytes;
  if (std::memcmp(ihdr + 4, "IHDR", 4) != 0) {
    return Status::Corrupt("PNG is damaged: the first chunk is not IHDR");
  }
  return builder.CheckSize(ReadU32(ihdr + 8), ReadU32(ihdr + 12), "PNG");
}

RowLayout LayoutForChannels(int channels) {
  switch (channels) {
    case 1:
      return RowLayout::kGrey;
    case 2:
      return RowLayout::kGreyAlpha;
    case 3:
      return RowLayout::kRgb;
    default:
      return RowLayout::kRgba;
  }
}

// The builder calls return Status objects (std::string inside). Kept out of
// line so that no string temporaries live in RunDecode's frame, the one that
// longjmp returns to (GCC's -Wclobbered otherwise warns, rightly in general).
[[gnu::noinline]] bool SizeAccepted(const Request& req, uint32_t width, uint32_t height) {
  *req.status = req.builder->CheckSize(width, height, "PNG");
  return req.status->ok();
}

[[gnu::noinline]] bool BeginAccepted(const Request& req, uint32_t width, uint32_t height, int channels) {
  *req.status = req.builder->Begin(static_cast<int>(width), static_cast<int>(height),
                                   LayoutForChannels(channels), "PNG");
  return req.status->ok();
}

// Returns 0 on success, 1 when libpng failed (message in state), 2 when the
// builder refused (status in req.status).
int RunDecode(png_structp png, png_infop info, ReadState* state, const Request& req) {
  if (setjmp(png_jmpbuf(png))) return 1;
  const uint32_t side_limit = std::min<uint32_t>(req.options->limits.max_side, PNG_UINT_31_MAX);
  png_set_user_limits(png, side_limit, side_limit);
  png_set_chunk_malloc_max(png, kMaxChunkBytes);
  // Skip every ancillary chunk but tRNS (which we then ignore): nothing in
  // them changes the stored samples, and not inflating zTXt/iCCP saves time.
  png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, nullptr, -1);
  png_set_read_fn(png, state, &ReadFromMemory);
  png_read_info(png, info);

  const uint32_t width = png_get_image_width(png, info);
  const uint32_t height = png_get_image_height(png, info);
  if (!SizeAccepted(req, width, height)) return 2;

  const int color_type = png_get_color_type(png, info);
  const int bit_depth = png_get_bit_depth(png, info);
  // Deliberately not png_set_expand / png_set_tRNS_to_alpha: alpha is never
  // used, and expanding tRNS would only add a channel for the builder to drop.
  if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (color_type == PNG_COLOR_TYPE_GRAY && bit_depth < 8) png_set_expand_gray_1_2_4_to_8(png);
  if (bit_depth == 16) png_set_scale_16(png);
  const int passes = png_set_interlace_handling(png);
  png_read_update_info(png, info);

  const int channels = png_get_channels(png, info);
  const size_t row_bytes = png_get_rowbytes(png, info);
  if (png_get_bit_depth(png, info) != 8 || channels < 1 || channels > 4 ||
      row_bytes != static_cast<size_t>(width) * channels) {
    std::snprintf(state->message, sizeof(state->message),
                  "unexpected row format after conversion (%d channels, %zu bytes per row)", channels,
                  row_bytes);
    return 1;
  }
  if (!BeginAccepted(req, width, height, channels)) return 2;

  if (passes == 1) {
    req.pixels->resize(row_bytes);
    for (uint32_t y = 0; y < height; ++y) {
      png_read_row(png, req.pixels->data(), nullptr);
      req.builder->AddRow(static_cast<int>(y), req.pixels->data());
    }
  } else {
    // Adam7 fills every row a little on each pass, so the rows are only
    // final once the whole image has been read.
    req.pixels->resize(row_bytes * height);
    for (int pass = 0; pass < passes; ++pass) {
      for (uint32_t y = 0; y < height; ++y) {
        png_read_row(png, req.pixels->data() + row_bytes * y, nullptr);
      }
    }
    for (uint32_t y = 0; y < height; ++y) {
      req.builder->AddRow(static_cast<int>(y), req.pixels->data() + row_bytes * y);
    }
  }
  // No png_read_end: every pixel is in, and chunks after the image data
  // (text, IEND) cannot change them, so a missing IEND is not worth refusing.
  return 0;
}

}  // namespace

Status DecodePng(Bytes bytes, const DecodeOptions& options, ImageBuilder* builder) {
  Status status = PrecheckHeader(bytes, *builder);
  if (!status.ok()) return status;

  ReadState state{bytes, kSignatureBytes, false, {0}};
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &state, &OnError, &OnWarning);
  if (png == nullptr) return Status::Internal("PNG: cannot create the libpng read struct");
  png_infop info = png_create_info_struct(png);
  if (info == nullptr) {
    png_destroy_read_struct(&png, nullptr, nullptr);
    return Status::Internal("PNG: cannot create the libpng info struct");
  }
  png_set_sig_bytes(png, static_cast<int>(kSignatureBytes));  // DetectFormat checked them

  std::vector<uint8_t> pixels;
  const Request req{&options, builder, &status, &pixels};
  int rc;
  try {
    rc = RunDecode(png, info, &state, req);
  } catch (const std::bad_alloc&) {
    png_destroy_read_struct(&png, &info, nullptr);
    return Status::TooLarge("PNG: out of memory for the decoded image");
  }
  png_destroy_read_struct(&png, &info, nullptr);
  if (rc == 2) return status;
  if (rc == 1) {
    if (state.truncated) {
      return Status::Corrupt("PNG data ends before the image is complete (truncated file)");
    }
    return Status::Corrupt(std::string("PNG is damaged: ") + state.message);
  }
  return Status::Ok();
}

}  // namespace safeguard::media
