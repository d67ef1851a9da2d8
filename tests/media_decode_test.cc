// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// Decoder tests for every format: valid files decode to the expected size,
// lossless encodings of one picture decode to identical pixels, and hostile
// input (empty, truncated, garbage, absurd declared sizes) yields a Status,
// never a crash, a hang or a huge allocation. The files in tests/data are
// small benign images made by tests/data/make-test-images.sh (see README.md).
// Run these under ASan/UBSan (SAFEGUARD_SANITIZE) to catch memory errors.

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "safeguard/media/decode.h"

namespace safeguard::media {
namespace {

std::string DataPath(const std::string& name) { return std::string(SAFEGUARD_TEST_DATA_DIR) + "/" + name; }

std::vector<uint8_t> ReadData(const std::string& path) {
  std::vector<uint8_t> bytes;
  Status s = ReadFileBytes(path, 64ull << 20, &bytes);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return bytes;
}

Status Decode(const std::vector<uint8_t>& bytes, Image* image,
              const DecodeOptions& options = DecodeOptions()) {
  return DecodeImage(std::span<const uint8_t>(bytes.data(), bytes.size()), options, image);
}

struct ValidCase {
  const char* file;  // under tests/data, or under the shared dir when it starts with '/'
  ImageFormat format;
  int width;
  int height;
  int channels;
};

const ValidCase kValid[] = {
    {"/pdq-vectors/images/bridge-mods/square-128x128.jpg", ImageFormat::kJpeg, 128, 128, 3},
    {"bridge.png", ImageFormat::kPng, 64, 48, 3},
    {"bridge-interlaced.png", ImageFormat::kPng, 64, 48, 3},
    {"bridge-palette.png", ImageFormat::kPng, 64, 48, 3},
    {"bridge-16bit.png", ImageFormat::kPng, 64, 48, 3},
    {"bridge-16bit-as-8bit.png", ImageFormat::kPng, 64, 48, 3},
    {"grey16-scale.png", ImageFormat::kPng, 4, 1, 1},
    {"bridge.webp", ImageFormat::kWebp, 64, 48, 3},
    {"bridge-lossless.webp", ImageFormat::kWebp, 64, 48, 3},
    {"bridge.gif", ImageFormat::kGif, 64, 48, 3},
    {"bridge-interlaced.gif", ImageFormat::kGif, 64, 48, 3},
    {"bridge.bmp", ImageFormat::kBmp, 64, 48, 3},
    {"bridge-8bit.bmp", ImageFormat::kBmp, 64, 48, 3},
    {"bridge.tif", ImageFormat::kTiff, 64, 48, 3},
    {"bridge-alpha.tif", ImageFormat::kTiff, 64, 48, 3},
    {"bridge.pgm", ImageFormat::kPnm, 64, 48, 1},
    {"bridge.ppm", ImageFormat::kPnm, 64, 48, 3},
    {"bridge16.ppm", ImageFormat::kPnm, 64, 48, 3},
    {"bridge-plain.ppm", ImageFormat::kPnm, 16, 12, 3},
    {"bridge.pbm", ImageFormat::kPnm, 64, 48, 1},
    {"bridge-plain.pbm", ImageFormat::kPnm, 64, 48, 1},
    {"bridge.heic", ImageFormat::kHeif, 64, 48, 3},
    {"bridge.avif", ImageFormat::kHeif, 64, 48, 3},
};

std::string PathOf(const ValidCase& c) {
  if (c.file[0] == '/') return std::string(SAFEGUARD_SHARED_DIR) + c.file;
  return DataPath(c.file);
}

class ValidFileTest : public ::testing::TestWithParam<ValidCase> {};

TEST_P(ValidFileTest, DecodesToDeclaredSize) {
  const ValidCase& c = GetParam();
  const std::vector<uint8_t> bytes = ReadData(PathOf(c));
  EXPECT_EQ(DetectFormat(bytes), c.format);
  Image image;
  Status s = Decode(bytes, &image);
  ASSERT_TRUE(s.ok()) << c.file << ": " << s.ToString();
  EXPECT_EQ(image.format, c.format);
  EXPECT_EQ(image.width, c.width);
  EXPECT_EQ(image.height, c.height);
  EXPECT_EQ(image.channels, c.channels);
  EXPECT_EQ(image.source_width, c.width);
  EXPECT_EQ(image.source_height, c.height);
  EXPECT_EQ(image.pixels.size(), static_cast<size_t>(c.width) * c.height * c.channels);
  if (c.channels == 1) {
    EXPECT_TRUE(image.all_grey);
  }
}

// Every decoder must stream its rows through the builder's sampling.
TEST_P(ValidFileTest, SamplesToRequestedSize) {
  const ValidCase& c = GetParam();
  DecodeOptions options;
  options.sample_to = 8;
  Image image;
  Status s = Decode(ReadData(PathOf(c)), &image, options);
  ASSERT_TRUE(s.ok()) << c.file << ": " << s.ToString();
  const bool sampled = c.width > 8 || c.height > 8;  // smaller images are kept whole
  EXPECT_EQ(image.width, sampled ? 8 : c.width);
  EXPECT_EQ(image.height, sampled ? 8 : c.height);
  EXPECT_EQ(image.source_width, c.width);
  EXPECT_EQ(image.source_height, c.height);
}

// The size check happens before pixels are decoded, for every format.
TEST_P(ValidFileTest, PixelLimitGivesTooLarge) {
  const ValidCase& c = GetParam();
  DecodeOptions options;
  options.limits.max_pixels = static_cast<uint64_t>(c.width) * c.height - 1;
  Image image;
  Status s = Decode(ReadData(PathOf(c)), &image, options);
  EXPECT_EQ(s.code(), StatusCode::kTooLarge) << c.file << ": " << s.ToString();
  EXPECT_TRUE(image.pixels.empty());
}

TEST_P(ValidFileTest, TruncatedToHalfIsCorrupt) {
  const ValidCase& c = GetParam();
  std::vector<uint8_t> bytes = ReadData(PathOf(c));
  bytes.resize(bytes.size() / 2);
  Image image;
  Status s = Decode(bytes, &image);
  EXPECT_EQ(s.code(), StatusCode::kCorrupt) << c.file << ": " << s.ToString();
  EXPECT_TRUE(image.pixels.empty());
}

// Cuts at many points, including inside headers: any error code will do
// (a cut inside the signature is no longer recognised), but never success
// and never a crash. The last 64 bytes are spared: there they hold only
// what decoders rightly do without (PNG's IEND, GIF's ';', the values of
// metadata tags ImageMagick writes at the end of a TIFF).
TEST_P(ValidFileTest, EveryPrefixFailsCleanly) {
  const ValidCase& c = GetParam();
  const std::vector<uint8_t> bytes = ReadData(PathOf(c));
  const size_t step = std::max<size_t>(1, bytes.size() / 97);
  for (size_t n = 0; n + 64 < bytes.size(); n += (n < 64 ? 1 : step)) {
    std::vector<uint8_t> prefix(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(n));
    Image image;
    Status s = Decode(prefix, &image);
    EXPECT_FALSE(s.ok()) << c.file << " cut to " << n << " bytes decoded";
    EXPECT_FALSE(s.message().empty());
  }
}

// The signature (so dispatch picks the decoder) followed by noise. PNM keeps
// only "Pn": after a complete raw PNM header any bytes are valid samples.
TEST_P(ValidFileTest, GarbageAfterMagicIsAnError) {
  const ValidCase& c = GetParam();
  const std::vector<uint8_t> bytes = ReadData(PathOf(c));
  const size_t magic = c.format == ImageFormat::kHeif ? 32 : c.format == ImageFormat::kPnm ? 2 : 8;
  uint32_t state = 12345;
  for (int trial = 0; trial < 20; ++trial) {
    std::vector<uint8_t> input(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(magic));
    const size_t extra = 16 + static_cast<size_t>(trial) * 200;
    for (size_t i = 0; i < extra; ++i) {
      state = state * 1103515245u + 12345u;  // deterministic noise
      input.push_back(static_cast<uint8_t>(state >> 16));
    }
    Image image;
    Status s = Decode(input, &image);
    EXPECT_FALSE(s.ok()) << c.file << " trial " << trial;
  }
}

// A valid header, then noise: the decoder may or may not notice (noise can
// be valid compressed data), but a result must be self-consistent.
TEST_P(ValidFileTest, GarbageAfterHeaderIsSafe) {
  const ValidCase& c = GetParam();
  const std::vector<uint8_t> bytes = ReadData(PathOf(c));
  uint32_t state = 777;
  for (size_t keep : {size_t{40}, size_t{100}, bytes.size() / 3}) {
    std::vector<uint8_t> input(bytes.begin(),
                               bytes.begin() + static_cast<std::ptrdiff_t>(std::min(keep, bytes.size())));
    for (size_t i = 0; i < bytes.size(); ++i) {
      state = state * 1103515245u + 12345u;
      input.push_back(static_cast<uint8_t>(state >> 16));
    }
    Image image;
    Status s = Decode(input, &image);
    if (s.ok()) {
      EXPECT_EQ(image.pixels.size(), static_cast<size_t>(image.width) * image.height * image.channels);
    } else {
      EXPECT_FALSE(s.message().empty());
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllFormats, ValidFileTest, ::testing::ValuesIn(kValid),
                         [](const ::testing::TestParamInfo<ValidCase>& info) {
                           std::string name = info.param.file;
                           const size_t slash = name.rfind('/');
                           if (slash != std::string::npos) name = name.substr(slash + 1);
                           for (char& ch : name) {
                             if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           }
                           return name;
                         });

Image MustDecode(const std::string& name) {
  Image image;
  Status s = Decode(ReadData(DataPath(name)), &image);
  EXPECT_TRUE(s.ok()) << name << ": " << s.ToString();
  return image;
}

// One picture stored losslessly in six formats (and PNG's two row orders)
// must decode to the same pixels; this pins alpha handling (the TIFF has
// unassociated 50% alpha, which must not premultiply the colours).
// Found by fuzz_decode_heif (2 KB): the primary item is a 'dimg' derived
// image of itself, and libheif 1.15 recursed until the stack overflowed. It
// must be refused as corrupt before libheif decodes it.
TEST(MediaDecodeTest, HeifDerivedFromItselfIsCorruptNotAStackOverflow) {
  Image image;
  Status s = Decode(ReadData(DataPath("heif-dimg-self-reference.heic")), &image);
  EXPECT_EQ(s.code(), StatusCode::kCorrupt) << s.ToString();
  EXPECT_NE(s.message().find("cycle"), std::string::npos) << s.message();
  // A real HEIC still decodes.
  s = Decode(ReadData(DataPath("bridge.heic")), &image);
  EXPECT_TRUE(s.ok()) << s.ToString();
}

// Found by fuzz_decode_heif in CI: the 'dimg' reference inside 'iref'
// declares a size of 6 bytes (less than its own header). A reader that
// trusts the sizes sees no reference; libheif ignores the size, reads "item 2
// is derived from item 2" and recursed until the stack overflowed.
TEST(MediaDecodeTest, HeifReferenceWithAWrongSizeIsReadAsLibheifReadsIt) {
  Image image;
  Status s = Decode(ReadData(DataPath("heif-iref-short-reference.heic")), &image);
  EXPECT_EQ(s.code(), StatusCode::kCorrupt) << s.ToString();
  EXPECT_NE(s.message().find("cycle"), std::string::npos) << s.message();
}

// An alpha plane ('auxl') is decoded with its master image, so an image that
// is its own auxiliary image is a cycle too.
TEST(MediaDecodeTest, HeifImageThatIsItsOwnAuxiliaryImageIsCorrupt) {
  Image image;
  Status s = Decode(ReadData(DataPath("heif-auxl-self-reference.heic")), &image);
  EXPECT_EQ(s.code(), StatusCode::kCorrupt) << s.ToString();
  EXPECT_NE(s.message().find("cycle"), std::string::npos) << s.message();
}

TEST(MediaDecodeTest, LosslessFormatsAgree) {
  const Image reference = MustDecode("bridge.png");
  for (const char* name : {"bridge-interlaced.png", "bridge.bmp", "bridge.tif", "bridge-alpha.tif",
                           "bridge.ppm", "bridge-lossless.webp"}) {
    const Image image = MustDecode(name);
    EXPECT_EQ(image.width, reference.width) << name;
    EXPECT_EQ(image.height, reference.height) << name;
    EXPECT_TRUE(image.pixels == reference.pixels) << name << " decodes to other pixels than bridge.png";
  }
}

TEST(MediaDecodeTest, InterlacedGifMatchesSequential) {
  EXPECT_TRUE(MustDecode("bridge-interlaced.gif").pixels == MustDecode("bridge.gif").pixels);
}

TEST(MediaDecodeTest, PlainAndRawPbmAgree) {
  const Image raw = MustDecode("bridge.pbm");
  EXPECT_TRUE(MustDecode("bridge-plain.pbm").pixels == raw.pixels);
  for (uint8_t v : raw.pixels) ASSERT_TRUE(v == 0 || v == 255);
}

// The PDQ reference truncates 16-bit samples (v >> 8); we round (v / 257).
// These four samples tell the two apart.
TEST(MediaDecodeTest, SixteenBitPngIsScaledNotTruncated) {
  const Image image = MustDecode("grey16-scale.png");
  ASSERT_EQ(image.pixels.size(), 4u);
  EXPECT_EQ(image.pixels[0], 1);    // 0x00FF; truncation gives 0
  EXPECT_EQ(image.pixels[1], 254);  // 0xFF00; truncation gives 255
  EXPECT_EQ(image.pixels[2], 19);   // 0x12A0; truncation gives 18
  EXPECT_EQ(image.pixels[3], 18);   // 0x1290
}

// bridge-16bit-as-8bit.png is ImageMagick 6.9's 8-bit reduction of the 16-bit
// file, which computes floor(v / 257): ours must be equal or one above.
void ExpectRoundedAgainstFloor(const char* sixteen, const char* eight) {
  const Image ours = MustDecode(sixteen);
  const Image floor8 = MustDecode(eight);
  ASSERT_EQ(ours.pixels.size(), floor8.pixels.size());
  int above = 0;
  for (size_t i = 0; i < ours.pixels.size(); ++i) {
    const int d = ours.pixels[i] - floor8.pixels[i];
    ASSERT_TRUE(d == 0 || d == 1) << sixteen << " sample " << i << " differs by " << d;
    above += d;
  }
  EXPECT_GT(above, 0) << "no sample rounded up: was the 16-bit file made with distinct low bytes?";
}

TEST(MediaDecodeTest, SixteenBitPngWithinOneOfEightBit) {
  ExpectRoundedAgainstFloor("bridge-16bit.png", "bridge-16bit-as-8bit.png");
}

TEST(MediaDecodeTest, SixteenBitPpmMatchesSixteenBitPng) {
  // bridge16.ppm holds the same 16-bit samples as bridge-16bit.png.
  EXPECT_TRUE(MustDecode("bridge16.ppm").pixels == MustDecode("bridge-16bit.png").pixels);
}

TEST(MediaDecodeTest, RleBmpIsUnsupported) {
  Image image;
  Status s = Decode(ReadData(DataPath("bridge-rle8.bmp")), &image);
  EXPECT_EQ(s.code(), StatusCode::kUnsupportedFormat) << s.ToString();
  EXPECT_NE(s.message().find("BMP"), std::string::npos);
}

TEST(MediaDecodeTest, EmptyInputIsCorrupt) {
  Image image;
  EXPECT_EQ(Decode({}, &image).code(), StatusCode::kCorrupt);
}

// ---- Headers declaring 65535 x 65535 pixels: kTooLarge before allocation ----

void AppendBe32(std::vector<uint8_t>* v, uint32_t x) {
  for (int s = 24; s >= 0; s -= 8) v->push_back(static_cast<uint8_t>(x >> s));
}
void AppendLe16(std::vector<uint8_t>* v, uint32_t x) {
  v->push_back(static_cast<uint8_t>(x));
  v->push_back(static_cast<uint8_t>(x >> 8));
}
void AppendLe32(std::vector<uint8_t>* v, uint32_t x) {
  AppendLe16(v, x & 0xFFFF);
  AppendLe16(v, x >> 16);
}
void AppendString(std::vector<uint8_t>* v, const char* s) { v->insert(v->end(), s, s + std::strlen(s)); }

uint32_t Crc32(const uint8_t* p, size_t n) {
  uint32_t crc = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; ++i) {
    crc ^= p[i];
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

void AppendPngChunk(std::vector<uint8_t>* v, const char* type, const std::vector<uint8_t>& data) {
  AppendBe32(v, static_cast<uint32_t>(data.size()));
  const size_t start = v->size();
  AppendString(v, type);
  v->insert(v->end(), data.begin(), data.end());
  AppendBe32(v, Crc32(v->data() + start, v->size() - start));
}

std::vector<uint8_t> PngDeclaring(uint32_t side) {
  std::vector<uint8_t> v;
  AppendString(&v, "\x89PNG\r\n\x1a\n");
  std::vector<uint8_t> ihdr;
  AppendBe32(&ihdr, side);
  AppendBe32(&ihdr, side);
  for (uint8_t b : {8, 2, 0, 0, 0}) ihdr.push_back(b);  // 8-bit RGB
  AppendPngChunk(&v, "IHDR", ihdr);
  AppendPngChunk(&v, "IDAT", {0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01});
  AppendPngChunk(&v, "IEND", {});
  return v;
}

std::vector<uint8_t> GifDeclaring(uint32_t side) {
  std::vector<uint8_t> v;
  AppendString(&v, "GIF89a");
  AppendLe16(&v, side);
  AppendLe16(&v, side);
  for (uint8_t b : {0x80, 0, 0}) v.push_back(b);  // 2-entry global map
  for (uint8_t b : {0, 0, 0, 255, 255, 255}) v.push_back(b);
  v.push_back(0x2C);  // image descriptor
  AppendLe16(&v, 0);
  AppendLe16(&v, 0);
  AppendLe16(&v, side);
  AppendLe16(&v, side);
  for (uint8_t b : {0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3B}) v.push_back(b);
  return v;
}

std::vector<uint8_t> BmpDeclaring(uint32_t side) {
  std::vector<uint8_t> v;
  AppendString(&v, "BM");
  AppendLe32(&v, 54 + 16);
  AppendLe32(&v, 0);
  AppendLe32(&v, 54);  // pixel data offset
  AppendLe32(&v, 40);  // BITMAPINFOHEADER
  AppendLe32(&v, side);
  AppendLe32(&v, side);
  AppendLe16(&v, 1);   // planes
  AppendLe16(&v, 24);  // bits per pixel
  for (int i = 0; i < 6; ++i) AppendLe32(&v, 0);
  v.resize(v.size() + 16, 0x80);
  return v;
}

std::vector<uint8_t> TiffDeclaring(uint32_t side) {
  std::vector<uint8_t> v;
  AppendString(&v, "II");
  AppendLe16(&v, 42);
  AppendLe32(&v, 8);
  struct Entry {
    uint16_t tag, type;
    uint32_t value;
  };
  const Entry entries[] = {
      {256, 4, side}, {257, 4, side}, {258, 3, 8},    {259, 3, 1},           {262, 3, 1},
      {273, 4, 200},  {277, 3, 1},    {278, 4, side}, {279, 4, side * side},
  };
  AppendLe16(&v, sizeof(entries) / sizeof(entries[0]));
  for (const Entry& e : entries) {
    AppendLe16(&v, e.tag);
    AppendLe16(&v, e.type);
    AppendLe32(&v, 1);
    AppendLe32(&v, e.value);  // SHORT values sit in the low bytes (little-endian)
  }
  AppendLe32(&v, 0);
  v.resize(256, 0x80);
  return v;
}

std::vector<uint8_t> WebpDeclaring(uint32_t side) {
  // VP8L stores 14-bit sizes, so at most 16384 x 16384 (268 megapixels).
  side = std::min<uint32_t>(side, 16384);
  std::vector<uint8_t> v;
  AppendString(&v, "RIFF");
  AppendLe32(&v, 4 + 8 + 6);
  AppendString(&v, "WEBPVP8L");
  AppendLe32(&v, 6);
  v.push_back(0x2F);
  AppendLe32(&v, (side - 1) | ((side - 1) << 14));
  v.push_back(0);
  return v;
}

std::vector<uint8_t> PnmDeclaring(uint32_t side) {
  std::vector<uint8_t> v;
  AppendString(&v, ("P6\n# big\n" + std::to_string(side) + " " + std::to_string(side) + "\n255\n").c_str());
  v.resize(v.size() + 64, 0x80);
  return v;
}

// Overwrites the two big-endian 32-bit values `offset` bytes after every
// occurrence of `marker` with `side`.
std::vector<uint8_t> PatchSizes(std::vector<uint8_t> v, const char* marker, size_t offset, uint32_t side) {
  int patched = 0;
  for (size_t i = 0; i + offset + 8 <= v.size(); ++i) {
    if (std::memcmp(v.data() + i, marker, 4) != 0) continue;
    for (size_t k = 0; k < 8; k += 4) {
      for (int b = 0; b < 4; ++b) v[i + offset + k + b] = static_cast<uint8_t>(side >> (24 - 8 * b));
    }
    ++patched;
  }
  EXPECT_GT(patched, 0) << marker << " not found";
  return v;
}

std::vector<uint8_t> HeifDeclaring(uint32_t side) {
  // ispe box: marker, 4 bytes version/flags, then width and height.
  return PatchSizes(ReadData(DataPath("bridge.heic")), "ispe", 8, side);
}

std::vector<uint8_t> JpegDeclaring(uint32_t side) {
  std::vector<uint8_t> v =
      ReadData(std::string(SAFEGUARD_SHARED_DIR) + "/pdq-vectors/images/bridge-mods/square-128x128.jpg");
  for (size_t i = 2; i + 9 < v.size(); ++i) {
    if (v[i] == 0xFF && (v[i + 1] == 0xC0 || v[i + 1] == 0xC2)) {  // SOF0 / SOF2
      for (size_t k = 5; k < 9; k += 2) {                          // height, width
        v[i + k] = static_cast<uint8_t>(side >> 8);
        v[i + k + 1] = static_cast<uint8_t>(side);
      }
      return v;
    }
  }
  ADD_FAILURE() << "no SOF marker";
  return v;
}

struct Declaring {
  const char* name;
  std::vector<uint8_t> (*make)(uint32_t side);
  ImageFormat format;
};

const Declaring kDeclaring[] = {
    {"png", PngDeclaring, ImageFormat::kPng},    {"gif", GifDeclaring, ImageFormat::kGif},
    {"bmp", BmpDeclaring, ImageFormat::kBmp},    {"tiff", TiffDeclaring, ImageFormat::kTiff},
    {"webp", WebpDeclaring, ImageFormat::kWebp}, {"pnm", PnmDeclaring, ImageFormat::kPnm},
    {"heif", HeifDeclaring, ImageFormat::kHeif}, {"jpeg", JpegDeclaring, ImageFormat::kJpeg},
};

TEST(MediaDecodeTest, HugeDeclaredSizesAreRefusedBeforeAllocation) {
  for (const Declaring& d : kDeclaring) {
    // libjpeg itself refuses sides above 65500 (JERR_IMAGE_TOO_BIG), which
    // the JPEG decoder maps to kTooLarge like every other limit.
    const uint32_t side = 65535;
    const std::vector<uint8_t> bytes = d.make(side);
    EXPECT_EQ(DetectFormat(bytes), d.format) << d.name;
    Image image;
    Status s = Decode(bytes, &image);
    EXPECT_EQ(s.code(), StatusCode::kTooLarge) << d.name << ": " << s.ToString();
    EXPECT_TRUE(image.pixels.empty());
  }
}

// Within the limits, a header whose data is missing is simply damaged.
TEST(MediaDecodeTest, DeclaredSizeWithoutDataIsAnError) {
  for (const Declaring& d : kDeclaring) {
    Image image;
    Status s = Decode(d.make(2000), &image);
    if (d.format == ImageFormat::kHeif && s.ok()) {
      // The patched ispe box is only metadata: libheif decodes the real
      // 64x48 stream, and the result must be consistent with it.
      EXPECT_EQ(image.width, 64);
      EXPECT_EQ(image.pixels.size(), static_cast<size_t>(image.width) * image.height * image.channels);
      continue;
    }
    EXPECT_FALSE(s.ok()) << d.name;
    EXPECT_FALSE(s.message().empty()) << d.name;
  }
}

// ---- Format-specific rules ----

std::vector<uint8_t> Bytes(const std::string& s) { return std::vector<uint8_t>(s.begin(), s.end()); }

TEST(GifDecodeTest, OutOfRangeIndexUsesFirstColour) {
  // 1x1 image, 2-entry global map, LZW code size 8, pixel index 200.
  std::vector<uint8_t> v;
  AppendString(&v, "GIF89a");
  AppendLe16(&v, 1);
  AppendLe16(&v, 1);
  for (uint8_t b : {0x80, 0, 0, 10, 20, 30, 40, 50, 60, 0x2C}) v.push_back(b);
  for (int i = 0; i < 2; ++i) AppendLe16(&v, 0);
  AppendLe16(&v, 1);
  AppendLe16(&v, 1);
  // flags, code size 8, one 4-byte block: codes clear(256), 200, end(257)
  for (uint8_t b : {0x00, 0x08, 0x04, 0x00, 0x91, 0x05, 0x04, 0x00, 0x3B}) v.push_back(b);
  Image image;
  Status s = Decode(v, &image);
  ASSERT_TRUE(s.ok()) << s.ToString();
  ASSERT_EQ(image.pixels.size(), 3u);
  EXPECT_EQ(image.pixels[0], 10);
  EXPECT_EQ(image.pixels[1], 20);
  EXPECT_EQ(image.pixels[2], 30);
}

TEST(GifDecodeTest, NoColourMapIsCorrupt) {
  std::vector<uint8_t> v;
  AppendString(&v, "GIF89a");
  AppendLe16(&v, 1);
  AppendLe16(&v, 1);
  for (uint8_t b : {0x00, 0, 0, 0x2C}) v.push_back(b);
  for (int i = 0; i < 2; ++i) AppendLe16(&v, 0);
  AppendLe16(&v, 1);
  AppendLe16(&v, 1);
  for (uint8_t b : {0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3B}) v.push_back(b);
  Image image;
  Status s = Decode(v, &image);
  EXPECT_EQ(s.code(), StatusCode::kCorrupt) << s.ToString();
  EXPECT_NE(s.message().find("colour map"), std::string::npos) << s.message();
}

TEST(GifDecodeTest, NoImageIsCorrupt) {
  Image image;
  Status s = Decode(Bytes(std::string("GIF89a\x01\x00\x01\x00\x00\x00\x00\x3B", 14)), &image);
  EXPECT_EQ(s.code(), StatusCode::kCorrupt) << s.ToString();
}

TEST(PnmDecodeTest, HeaderCommentsAndScaling) {
  Image image;
  // maxval 1000: 0 -> 0, 500 -> 128 (127.5 rounds up), 1000 -> 255, 1200 clamps.
  Status s = Decode(Bytes("P2 # comment\n# another\n4 1 # here too\n1000\n0 500 1000 1200\n"), &image);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(image.channels, 1);
  EXPECT_EQ(image.pixels, (std::vector<uint8_t>{0, 128, 255, 255}));
}

TEST(PnmDecodeTest, SixteenBitRawIsBigEndian) {
  Image image;
  Status s = Decode(Bytes(std::string("P5\n2 1\n65535\n\x00\xFF\xFF\x00", 17)), &image);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(image.pixels, (std::vector<uint8_t>{1, 254}));
}

TEST(PnmDecodeTest, PlainBitmapNeedsNoSeparators) {
  Image image;
  Status s = Decode(Bytes("P1\n4 2\n0101\n1 0 1 0"), &image);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(image.pixels, (std::vector<uint8_t>{255, 0, 255, 0, 0, 255, 0, 255}));
}

TEST(PnmDecodeTest, RawBitmapRowsArePadded) {
  Image image;
  // 9 pixels wide: two bytes per row, 1 = black.
  Status s = Decode(Bytes(std::string("P4\n9 1\n\x80\x80", 9)), &image);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(image.pixels, (std::vector<uint8_t>{0, 255, 255, 255, 255, 255, 255, 255, 0}));
}

TEST(PnmDecodeTest, BadHeadersAreCorrupt) {
  for (const char* text :
       {"P5\n2 1\n0\n\x01\x01", "P5\n2 1\n65536\n\x01\x01", "P6\nx 1\n255\n", "P2\n2 2\n255\n1 2 3",
        "P3\n1 1\n255\n1 2 x", "P1\n2 1\n0 2", "P5 2 1 255", "P6\n1 1\n255\nab"}) {
    Image image;
    Status s = Decode(Bytes(text), &image);
    EXPECT_EQ(s.code(), StatusCode::kCorrupt) << text << ": " << s.ToString();
    EXPECT_NE(s.message().find("PNM"), std::string::npos) << s.message();
  }
}

TEST(PnmDecodeTest, ShortRawDataIsTruncated) {
  Image image;
  Status s = Decode(Bytes("P6\n100 100\n255\nabc"), &image);
  EXPECT_EQ(s.code(), StatusCode::kCorrupt);
  EXPECT_NE(s.message().find("truncated"), std::string::npos) << s.message();
}

// ---- Concurrency: decoders share no mutable state ----

TEST(MediaDecodeTest, ConcurrentDecodesAgree) {
  std::vector<std::vector<uint8_t>> inputs;
  std::vector<Image> expected;
  for (const ValidCase& c : kValid) {
    inputs.push_back(ReadData(PathOf(c)));
    expected.emplace_back();
    ASSERT_TRUE(Decode(inputs.back(), &expected.back()).ok()) << c.file;
  }
  std::vector<std::thread> threads;
  threads.reserve(4);
  std::array<int, 4> mismatches{};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 3; ++round) {
        for (size_t i = 0; i < inputs.size(); ++i) {
          const size_t k = (i + static_cast<size_t>(t) * 5) % inputs.size();
          Image image;
          std::vector<uint8_t> half(inputs[k].begin(),
                                    inputs[k].begin() + static_cast<std::ptrdiff_t>(inputs[k].size() / 2));
          Decode(half, &image);  // error paths concurrently too
          if (!Decode(inputs[k], &image).ok() || image.pixels != expected[k].pixels) {
            ++mismatches[static_cast<size_t>(t)];
          }
        }
      }
    });
  }
  for (std::thread& th : threads) th.join();
  for (int m : mismatches) EXPECT_EQ(m, 0);
}

}  // namespace
}  // namespace safeguard::media
