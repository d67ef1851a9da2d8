// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.

#include "safeguard/media/decode.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "decoders.h"

namespace safeguard::media {
namespace {

bool StartsWith(std::span<const uint8_t> b, size_t offset, const char* magic, size_t n) {
  return b.size() >= offset + n && std::memcmp(b.data() + offset, magic, n) == 0;
}

bool IsHeifBrand(std::span<const uint8_t> b) {
  // ISO-BMFF: [size]["ftyp"][major brand][minor version][compatible brands...]
  if (!StartsWith(b, 4, "ftyp", 4)) return false;
  static const char* kBrands[] = {"heic", "heix", "heim", "heis", "hevc", "hevx",
                                  "mif1", "msf1", "avif", "avis", "mif2", "miaf"};
  uint64_t box = (uint64_t{b[0]} << 24) | (uint64_t{b[1]} << 16) | (uint64_t{b[2]} << 8) | b[3];
  if (box < 16) return false;
  const size_t end = static_cast<size_t>(std::min<uint64_t>(box, b.size()));
  for (size_t off = 8; off + 4 <= end; off += 4) {
    if (off == 12) continue;  // minor version
    for (const char* brand : kBrands) {
      if (std::memcmp(b.data() + off, brand, 4) == 0) return true;
    }
  }
  return false;
}

}  // namespace

ImageFormat DetectFormat(std::span<const uint8_t> b) {
  if (StartsWith(b, 0, "\xFF\xD8\xFF", 3)) return ImageFormat::kJpeg;
  if (StartsWith(b, 0, "\x89PNG\r\n\x1A\n", 8)) return ImageFormat::kPng;
  if (StartsWith(b, 0, "RIFF", 4) && StartsWith(b, 8, "WEBP", 4)) return ImageFormat::kWebp;
  if (StartsWith(b, 0, "GIF87a", 6) || StartsWith(b, 0, "GIF89a", 6)) return ImageFormat::kGif;
  if (StartsWith(b, 0, "BM", 2) && b.size() >= 26) return ImageFormat::kBmp;
  if (StartsWith(b, 0, "II*\0", 4) || StartsWith(b, 0, "MM\0*", 4)) return ImageFormat::kTiff;
  if (b.size() >= 3 && b[0] == 'P' && b[1] >= '1' && b[1] <= '6' &&
      (b[2] == ' ' || b[2] == '\t' || b[2] == '\n' || b[2] == '\r' || b[2] == '#')) {
    return ImageFormat::kPnm;
  }
  if (IsHeifBrand(b)) return ImageFormat::kHeif;
  return ImageFormat::kUnknown;
}

std::string_view ImageFormatName(ImageFormat format) {
  switch (format) {
    case ImageFormat::kJpeg:
      return "JPEG";
    case ImageFormat::kPng:
      return "PNG";
    case ImageFormat::kWebp:
      return "WebP";
    case ImageFormat::kGif:
      return "GIF";
    case ImageFormat::kBmp:
      return "BMP";
    case ImageFormat::kTiff:
      return "TIFF";
    case ImageFormat::kPnm:
      return "PNM";
    case ImageFormat::kHeif:
      return "HEIF";
    case ImageFormat::kUnknown:
      break;
  }
  return "unknown";
}

Status DecodeImage(std::span<const uint8_t> bytes, const DecodeOptions& options, Image* out) {
  *out = Image();
  if (bytes.empty()) return Status::Corrupt("the file is empty (0 bytes)");
  if (bytes.size() > options.limits.max_file_bytes) {
    return Status::TooLarge("the file is " + std::to_string(bytes.size()) + " bytes, above the limit of " +
                            std::to_string(options.limits.max_file_bytes) + " bytes");
  }
  const ImageFormat format = DetectFormat(bytes);
  ImageBuilder builder(options, format);
  Status s;
  switch (format) {
    case ImageFormat::kJpeg:
      s = DecodeJpeg(bytes, options, &builder);
      break;
    case ImageFormat::kPng:
      s = DecodePng(bytes, options, &builder);
      break;
    case ImageFormat::kWebp:
      s = DecodeWebp(bytes, options, &builder);
      break;
    case ImageFormat::kGif:
      s = DecodeGif(bytes, options, &builder);
      break;
    case ImageFormat::kBmp:
      s = DecodeBmp(bytes, options, &builder);
      break;
    case ImageFormat::kTiff:
      s = DecodeTiff(bytes, options, &builder);
      break;
    case ImageFormat::kPnm:
      s = DecodePnm(bytes, options, &builder);
      break;
    case ImageFormat::kHeif:
      s = DecodeHeif(bytes, options, &builder);
      break;
    case ImageFormat::kUnknown:
      return Status::UnsupportedFormat(
          "not a recognised image: the leading bytes match none of JPEG, PNG, WebP, GIF, BMP, "
          "TIFF, PNM, HEIF/AVIF");
  }
  if (!s.ok()) return s;
  return builder.Finish(out);
}

Status ReadFileBytes(const std::string& path, uint64_t max_bytes, std::vector<uint8_t>* out) {
  out->clear();
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) {
    const int err = errno;
    if (err == ENOENT) return Status::NotFound(path + ": no such file");
    return Status::IoError(path + ": cannot open: " + std::strerror(err));
  }
  struct stat st;
  if (fstat(fileno(f.get()), &st) != 0) {
    return Status::IoError(path + ": cannot stat: " + std::strerror(errno));
  }
  if (S_ISDIR(st.st_mode)) return Status::InvalidArgument(path + ": is a directory");
  if (S_ISREG(st.st_mode) && static_cast<uint64_t>(st.st_size) > max_bytes) {
    return Status::TooLarge(path + ": the file is " + std::to_string(st.st_size) +
                            " bytes, above the limit of " + std::to_string(max_bytes) + " bytes");
  }
  if (S_ISREG(st.st_mode)) out->reserve(static_cast<size_t>(st.st_size));
  uint8_t buf[1 << 16];
  for (;;) {
    const size_t n = std::fread(buf, 1, sizeof(buf), f.get());
    if (n > 0) {
      if (out->size() + n > max_bytes) {
        out->clear();
        return Status::TooLarge(path + ": the stream is above the limit of " + std::to_string(max_bytes) +
                                " bytes");
      }
      out->insert(out->end(), buf, buf + n);
    }
    if (n < sizeof(buf)) {
      if (std::ferror(f.get())) return Status::IoError(path + ": read failed");
      break;
    }
  }
  return Status::Ok();
}

}  // namespace safeguard::media
