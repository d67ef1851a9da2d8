// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// PBM, PGM and PPM (P1-P6), hand-written: the format is a text header and
// raw or decimal samples, Debian has no small library for it, and a parser
// this size is easier to audit than a dependency. Every read is bounds-checked
// against the input; nothing is allocated before the header's size has
// passed the limits and the input has been found long enough to hold it.
//
// Samples are scaled to 8 bits with rounding, v8 = (v*255 + maxval/2) /
// maxval; samples above maxval (invalid) are clamped to it. In bitmaps
// (P1, P4) 1 is black. Only the first image of a multi-image file is read.

#include <algorithm>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "decoders.h"

namespace safeguard::media {
namespace {

constexpr uint32_t kMaxMaxval = 65535;

bool IsSpace(uint8_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

bool IsDigit(uint8_t c) { return c >= '0' && c <= '9'; }

Status Truncated() { return Status::Corrupt("PNM data ends before the last sample (truncated file)"); }

// A cursor over the input that never reads past its end.
class Reader {
 public:
  explicit Reader(Bytes bytes) : bytes_(bytes) {}

  size_t pos() const { return pos_; }
  size_t remaining() const { return bytes_.size() - pos_; }
  bool at_end() const { return pos_ >= bytes_.size(); }
  const uint8_t* here() const { return bytes_.data() + pos_; }
  uint8_t peek() const { return bytes_[pos_]; }
  void Skip(size_t n) { pos_ += std::min(n, remaining()); }

  // Skips whitespace and '#' comments (to the end of the line).
  void SkipSpaceAndComments() {
    while (!at_end()) {
      if (IsSpace(peek())) {
        ++pos_;
      } else if (peek() == '#') {
        SkipComment();
      } else {
        break;
      }
    }
  }

  // Skips a comment up to and including its line end.
  void SkipComment() {
    while (!at_end() && peek() != '\n' && peek() != '\r') ++pos_;
    if (!at_end()) ++pos_;
  }

  // Reads an unsigned decimal number at the cursor, saturating at 2^32-1
  // (which every limit refuses). Returns false if there is no digit.
  bool ReadNumber(uint32_t* out) {
    if (at_end() || !IsDigit(peek())) return false;
    uint64_t v = 0;
    while (!at_end() && IsDigit(peek())) {
      v = std::min<uint64_t>(v * 10 + (peek() - '0'), 0xFFFFFFFFu);
      ++pos_;
    }
    *out = static_cast<uint32_t>(v);
    return true;
  }

 private:
  Bytes bytes_;
  size_t pos_ = 0;
};

struct Header {
  char kind = 0;  // '1'..'6'
  uint32_t width = 0;
  uint32_t height = 0;
  uint32_t maxval = 1;
};

// Reads the header up to the first sample.
Status ReadHeader(Reader* r, Header* h) {
  if (r->remaining() < 2 || r->peek() != 'P') return Status::Corrupt("PNM is damaged: no magic");
  r->Skip(1);
  h->kind = static_cast<char>(r->peek());
  if (h->kind < '1' || h->kind > '6') return Status::Corrupt("PNM is damaged: unknown kind");
  r->Skip(1);
  const bool bitmap = h->kind == '1' || h->kind == '4';
  uint32_t* fields[3] = {&h->width, &h->height, &h->maxval};
  const int count = bitmap ? 2 : 3;
  static const char* kNames[3] = {"width", "height", "maxval"};
  for (int i = 0; i < count; ++i) {
    r->SkipSpaceAndComments();
    if (r->at_end()) return Status::Corrupt("PNM data ends inside the header (truncated file)");
    if (!r->ReadNumber(fields[i])) {
      return Status::Corrupt(std::string("PNM is damaged: the header has no valid ") + kNames[i]);
    }
  }
  if (!bitmap && (h->maxval < 1 || h->maxval > kMaxMaxval)) {
    return Status::Corrupt("PNM is damaged: maxval " + std::to_string(h->maxval) + " is outside 1..65535");
  }
  // Exactly one whitespace character (or a comment, as Netpbm allows) ends
  // the header; in the raw formats the next byte is already a sample.
  if (r->at_end()) return Truncated();
  if (r->peek() == '#') {
    r->SkipComment();
  } else if (IsSpace(r->peek())) {
    r->Skip(1);
  } else {
    return Status::Corrupt("PNM is damaged: no whitespace after the header");
  }
  return Status::Ok();
}

// Fewest input bytes that can hold the samples the header declares, so a
// short file is refused before the image is allocated. Exact for the raw
// kinds; a lower bound for the plain (ASCII) ones.
uint64_t MinimumDataBytes(const Header& h) {
  const uint64_t w = h.width, n = static_cast<uint64_t>(h.width) * h.height;
  switch (h.kind) {
    case '1':
      return n;  // one digit per pixel, separators optional
    case '2':
      return 2 * n - 1;  // a digit and a separator per sample
    case '3':
      return 6 * n - 1;
    case '4':
      return (w + 7) / 8 * h.height;
    case '5':
      return n * (h.maxval < 256 ? 1 : 2);
    default:
      return 3 * n * (h.maxval < 256 ? 1 : 2);
  }
}

// Maps each sample value 0..maxval to 8 bits.
std::vector<uint8_t> ScaleTable(uint32_t maxval) {
  std::vector<uint8_t> table(maxval + 1);
  for (uint32_t v = 0; v <= maxval; ++v) table[v] = static_cast<uint8_t>((v * 255 + maxval / 2) / maxval);
  return table;
}

// Decodes the samples of a plain (ASCII) PBM, PGM or PPM.
Status DecodePlain(Reader* r, const Header& h, ImageBuilder* builder) {
  const int width = static_cast<int>(h.width);
  const int channels = h.kind == '3' ? 3 : 1;
  const std::vector<uint8_t> scale = h.kind == '1' ? std::vector<uint8_t>() : ScaleTable(h.maxval);
  std::vector<uint8_t> row(static_cast<size_t>(width) * channels);
  for (int y = 0; y < static_cast<int>(h.height); ++y) {
    for (size_t i = 0; i < row.size(); ++i) {
      r->SkipSpaceAndComments();
      if (r->at_end()) return Truncated();
      if (h.kind == '1') {
        // Each pixel is one character; "0101" needs no separators.
        const uint8_t c = r->peek();
        if (c != '0' && c != '1') return Status::Corrupt("PNM is damaged: a PBM pixel is not 0 or 1");
        row[i] = c == '1' ? 0 : 255;
        r->Skip(1);
        continue;
      }
      uint32_t v = 0;
      if (!r->ReadNumber(&v)) return Status::Corrupt("PNM is damaged: a sample is not a number");
      row[i] = scale[std::min(v, h.maxval)];
    }
    builder->AddRow(y, row.data());
  }
  return Status::Ok();
}

// Decodes the samples of a raw (binary) PBM, PGM or PPM; the caller checked
// that the input holds all of them.
void DecodeRaw(Reader* r, const Header& h, ImageBuilder* builder) {
  const int width = static_cast<int>(h.width);
  const int height = static_cast<int>(h.height);
  if (h.kind == '4') {
    const size_t in_bytes = (static_cast<size_t>(width) + 7) / 8;
    std::vector<uint8_t> row(static_cast<size_t>(width));
    for (int y = 0; y < height; ++y) {
      const uint8_t* p = r->here();
      for (int x = 0; x < width; ++x) row[x] = (p[x >> 3] >> (7 - (x & 7))) & 1 ? 0 : 255;
      builder->AddRow(y, row.data());
      r->Skip(in_bytes);
    }
    return;
  }
  const size_t samples = static_cast<size_t>(width) * (h.kind == '6' ? 3 : 1);
  if (h.maxval == 255) {  // the common case: rows are usable as they are
    for (int y = 0; y < height; ++y) {
      builder->AddRow(y, r->here());
      r->Skip(samples);
    }
    return;
  }
  const std::vector<uint8_t> scale = ScaleTable(h.maxval);
  std::vector<uint8_t> row(samples);
  const bool wide = h.maxval > 255;  // two bytes per sample, big-endian
  for (int y = 0; y < height; ++y) {
    const uint8_t* p = r->here();
    for (size_t i = 0; i < samples; ++i) {
      const uint32_t v = wide ? (uint32_t{p[2 * i]} << 8) | p[2 * i + 1] : p[i];
      row[i] = scale[std::min(v, h.maxval)];
    }
    builder->AddRow(y, row.data());
    r->Skip(samples * (wide ? 2 : 1));
  }
}

}  // namespace

Status DecodePnm(Bytes bytes, const DecodeOptions& options, ImageBuilder* builder) {
  Reader r(bytes);
  Header h;
  Status s = ReadHeader(&r, &h);
  if (!s.ok()) return s;
  s = builder->CheckSize(h.width, h.height, "PNM");
  if (!s.ok()) return s;
  if (r.remaining() < MinimumDataBytes(h)) return Truncated();

  const bool colour = h.kind == '3' || h.kind == '6';
  s = builder->Begin(static_cast<int>(h.width), static_cast<int>(h.height),
                     colour ? RowLayout::kRgb : RowLayout::kGrey, "PNM");
  if (!s.ok()) return s;
  try {
    if (h.kind <= '3') return DecodePlain(&r, h, builder);
    DecodeRaw(&r, h, builder);
  } catch (const std::bad_alloc&) {
    return Status::TooLarge("PNM: out of memory for the decoded image");
  }
  return Status::Ok();
}

}  // namespace safeguard::media
