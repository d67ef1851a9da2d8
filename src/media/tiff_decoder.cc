// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// TIFF through libtiff, first directory (page) only. TIFF has dozens of
// photometric, bit-depth, planar and compression combinations; libtiff's
// RGBA interface (TIFFReadRGBAImageOriented) turns all the common ones into
// 8-bit RGBA, 16-bit samples scaled with rounding. It decodes the whole page
// at once, so the size is checked before its buffer is allocated.
//
// libtiff's default error and warning handlers print to stderr; they are
// silenced once per process and each open file gets its own handlers (4.5's
// TIFFOpenOptions) that keep the first error for the Status.
//
// Pixels are as stored, the same rules as the other formats:
//  - the Orientation tag is ignored (it is the EXIF orientation, which the
//    PDQ reference ignores for JPEG too): we request the file's own
//    orientation, which makes libtiff copy rows without flipping;
//  - unassociated alpha is declared associated before decoding, because
//    libtiff would otherwise premultiply the colour samples by alpha;
//  - 16-bit colour maps are rounded to 8 bits, not truncated (RoundColormap).

#include <tiffio.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <limits>
#include <mutex>
#include <new>
#include <string>
#include <vector>

#include "decoders.h"

namespace safeguard::media {
namespace {

// Slack above 4 bytes per pixel for libtiff's own single allocations
// (strip/tile buffers, tag arrays) when the limit is small.
constexpr uint64_t kAllocSlack = 64ull << 20;

struct MemoryFile {
  Bytes bytes;
  uint64_t pos;
  char error[512];
  bool has_error;
  bool over_alloc_limit;
};

tmsize_t Read(thandle_t handle, void* out, tmsize_t size) {
  auto* f = static_cast<MemoryFile*>(handle);
  if (size <= 0 || f->pos >= f->bytes.size()) return 0;
  const uint64_t n = std::min<uint64_t>(static_cast<uint64_t>(size), f->bytes.size() - f->pos);
  std::memcpy(out, f->bytes.data() + f->pos, static_cast<size_t>(n));
  f->pos += n;
  return static_cast<tmsize_t>(n);
}

tmsize_t Write(thandle_t, void*, tmsize_t) { return -1; }

toff_t Seek(thandle_t handle, toff_t offset, int whence) {
  auto* f = static_cast<MemoryFile*>(handle);
  uint64_t base = 0;
  switch (whence) {
    case SEEK_SET:
      base = 0;
      break;
    case SEEK_CUR:
      base = f->pos;
      break;
    case SEEK_END:
      base = f->bytes.size();
      break;
    default:
      return static_cast<toff_t>(-1);
  }
  // Seeking past the end is allowed, as with a file; reads there return 0.
  if (offset > std::numeric_limits<uint64_t>::max() - base) return static_cast<toff_t>(-1);
  f->pos = base + offset;
  return f->pos;
}

int Close(thandle_t) { return 0; }

toff_t Size(thandle_t handle) { return static_cast<MemoryFile*>(handle)->bytes.size(); }

// No memory mapping: libtiff would then decode straight from our const
// buffer, and we would rather not rely on no codec ever writing to it.
int Map(thandle_t, void**, toff_t*) { return 0; }

void Unmap(thandle_t, void*, toff_t) {}

int OnError(TIFF*, void* user_data, const char* module, const char* fmt, va_list ap) {
  auto* f = static_cast<MemoryFile*>(user_data);
  if (!f->has_error) {
    f->has_error = true;
    char text[400];
    std::vsnprintf(text, sizeof(text), fmt, ap);
    std::snprintf(f->error, sizeof(f->error), "%s%s%s", module != nullptr ? module : "",
                  module != nullptr ? ": " : "", text);
    // Raised by _TIFFmallocExt when a request exceeds the open option.
    if (std::strstr(text, "beyond the") != nullptr) f->over_alloc_limit = true;
  }
  return 1;  // handled: do not call the global handlers
}

int OnWarning(TIFF*, void*, const char*, const char*, va_list) { return 1; }

// libtiff reports some errors before a TIFF* exists, through the global
// handlers, which by default print to stderr.
void SilenceGlobalHandlers() {
  static std::once_flag once;
  std::call_once(once, [] {
    TIFFSetErrorHandler(nullptr);
    TIFFSetWarningHandler(nullptr);
  });
}

// Declares an unassociated alpha channel as associated, so that the RGBA
// interface copies the stored colour samples instead of premultiplying them.
void TreatAlphaAsAssociated(TIFF* tif) {
  uint16_t count = 0;
  uint16_t* types = nullptr;
  if (!TIFFGetField(tif, TIFFTAG_EXTRASAMPLES, &count, &types) || count == 0 || types == nullptr) {
    return;
  }
  if (types[0] != EXTRASAMPLE_UNASSALPHA) return;
  std::vector<uint16_t> copy(types, types + count);
  copy[0] = EXTRASAMPLE_ASSOCALPHA;
  TIFFSetField(tif, TIFFTAG_EXTRASAMPLES, count, copy.data());
}

// libtiff converts 16-bit colour-map entries to 8 bits by truncation
// (v >> 8). Rounding each entry to the nearest multiple of 257 first makes
// that conversion exact, (round(v / 257) * 257) >> 8 == round(v / 257), the
// same rounding as every other 16-bit sample. A map with no entry above 255
// is an old-style 8-bit map, which libtiff uses as it is: leave it alone.
void RoundColormap(TIFF* tif) {
  uint16_t photometric = 0, bits = 0;
  if (!TIFFGetField(tif, TIFFTAG_PHOTOMETRIC, &photometric) || photometric != PHOTOMETRIC_PALETTE) {
    return;
  }
  TIFFGetFieldDefaulted(tif, TIFFTAG_BITSPERSAMPLE, &bits);
  uint16_t* map[3] = {nullptr, nullptr, nullptr};
  if (bits == 0 || bits > 16 || !TIFFGetField(tif, TIFFTAG_COLORMAP, &map[0], &map[1], &map[2]) ||
      map[0] == nullptr || map[1] == nullptr || map[2] == nullptr) {
    return;
  }
  const size_t n = size_t{1} << bits;  // libtiff only accepts maps of exactly this size
  bool sixteen_bit = false;
  for (const uint16_t* channel : map) {
    for (size_t i = 0; i < n && !sixteen_bit; ++i) sixteen_bit = channel[i] >= 256;
  }
  if (!sixteen_bit) return;
  for (uint16_t* channel : map) {
    for (size_t i = 0; i < n; ++i) channel[i] = static_cast<uint16_t>((channel[i] + 128u) / 257u * 257u);
  }
}

Status Damaged(const MemoryFile& file, const char* what) {
  if (file.over_alloc_limit) {
    return Status::TooLarge(std::string("TIFF needs a buffer above the memory limit while ") + what + ": " +
                            file.error);
  }
  return Status::Corrupt(std::string("TIFF is damaged or truncated while ") + what + ": " +
                         (file.has_error ? file.error : "libtiff gave no reason"));
}

Status DecodeFirstPage(TIFF* tif, MemoryFile* file, ImageBuilder* builder) {
  uint32_t width = 0, height = 0;
  if (!TIFFGetField(tif, TIFFTAG_IMAGEWIDTH, &width) || !TIFFGetField(tif, TIFFTAG_IMAGELENGTH, &height)) {
    return Status::Corrupt("TIFF is damaged: the first page has no ImageWidth/ImageLength");
  }
  Status s = builder->CheckSize(width, height, "TIFF");
  if (!s.ok()) return s;

  char why[1024] = "";
  if (!TIFFRGBAImageOK(tif, why)) {
    return Status::UnsupportedFormat(std::string("TIFF variant not supported: ") + why);
  }
  uint16_t orientation = ORIENTATION_TOPLEFT;
  TIFFGetFieldDefaulted(tif, TIFFTAG_ORIENTATION, &orientation);
  if (orientation < ORIENTATION_TOPLEFT || orientation > ORIENTATION_LEFTBOT) {
    orientation = ORIENTATION_TOPLEFT;
  }
  TreatAlphaAsAssociated(tif);
  RoundColormap(tif);

  std::vector<uint32_t> raster(static_cast<size_t>(width) * height);
  if (!TIFFReadRGBAImageOriented(tif, width, height, raster.data(), orientation,
                                 /*stop_on_error=*/1)) {
    return Damaged(*file, "decoding the pixels");
  }
  s = builder->Begin(static_cast<int>(width), static_cast<int>(height), RowLayout::kRgb, "TIFF");
  if (!s.ok()) return s;
  std::vector<uint8_t> row(static_cast<size_t>(width) * 3);
  for (uint32_t y = 0; y < height; ++y) {
    const uint32_t* src = raster.data() + static_cast<size_t>(y) * width;
    uint8_t* dst = row.data();
    for (uint32_t x = 0; x < width; ++x, dst += 3) {
      dst[0] = static_cast<uint8_t>(TIFFGetR(src[x]));
      dst[1] = static_cast<uint8_t>(TIFFGetG(src[x]));
      dst[2] = static_cast<uint8_t>(TIFFGetB(src[x]));
    }
    builder->AddRow(static_cast<int>(y), row.data());
  }
  return Status::Ok();
}

}  // namespace

Status DecodeTiff(Bytes bytes, const DecodeOptions& options, ImageBuilder* builder) {
  SilenceGlobalHandlers();
  MemoryFile file{bytes, 0, {0}, false, false};

  TIFFOpenOptions* opts = TIFFOpenOptionsAlloc();
  if (opts == nullptr) return Status::Internal("TIFF: cannot allocate libtiff open options");
  const uint64_t max_pixels = std::min<uint64_t>(options.limits.max_pixels, 1ull << 40);
  const uint64_t max_alloc = std::min<uint64_t>(max_pixels * 4 + kAllocSlack,
                                                static_cast<uint64_t>(std::numeric_limits<tmsize_t>::max()));
  TIFFOpenOptionsSetMaxSingleMemAlloc(opts, static_cast<tmsize_t>(max_alloc));
  TIFFOpenOptionsSetErrorHandlerExtR(opts, &OnError, &file);
  TIFFOpenOptionsSetWarningHandlerExtR(opts, &OnWarning, nullptr);
  // "m": no memory mapping (see Map).
  TIFF* tif =
      TIFFClientOpenExt("input", "rm", &file, &Read, &Write, &Seek, &Close, &Size, &Map, &Unmap, opts);
  TIFFOpenOptionsFree(opts);
  if (tif == nullptr) return Damaged(file, "reading the header");

  Status s;
  try {
    s = DecodeFirstPage(tif, &file, builder);
  } catch (const std::bad_alloc&) {
    s = Status::TooLarge("TIFF: out of memory for the decoded image");
  }
  TIFFClose(tif);
  return s;
}

}  // namespace safeguard::media
