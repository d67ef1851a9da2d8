// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// PDQ, Meta's 256-bit perceptual image hash, bit-exact with the reference C++
// implementation (hash and quality) for the same pixels.
//
// This is the dependency-free core: it takes pixels, not files. No decoder,
// no I/O, no exceptions, no allocation, no global state — so the same source
// compiles to WebAssembly for on-device hashing by victims (docs/pdq.md).
// Every function is thread-safe; callers own every buffer.

#ifndef SAFEGUARD_HASH_PDQ_H_
#define SAFEGUARD_HASH_PDQ_H_

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace safeguard::pdq {

/// A 256-bit PDQ hash. Bit k (0..255) is set when DCT coefficient
/// (row k / 16, column k % 16) is above the median; it lives in word k / 16 at
/// bit k % 16. The text form is 64 lowercase hex digits, word 15 first (the
/// reference's "%04hx" order), which every hash list uses.
struct Hash256 {
  uint16_t w[16] = {};

  /// Returns bit k (0 <= k < 256).
  bool Bit(int k) const { return (w[k >> 4] >> (k & 15)) & 1; }
  /// Sets bit k (0 <= k < 256).
  void SetBit(int k) { w[k >> 4] = static_cast<uint16_t>(w[k >> 4] | (1u << (k & 15))); }
  /// Writes the 64-digit hex form and a terminating NUL into out[0..64].
  void ToHex(char out[65]) const;
  /// Parses 64 hex digits (either case) into *hash. Returns false, leaving
  /// *hash unchanged, on any other input.
  static bool FromHex(std::string_view hex, Hash256* hash);
  /// Returns the number of differing bits (0..256).
  int HammingDistance(const Hash256& other) const;

  friend bool operator==(const Hash256& a, const Hash256& b) {
    for (int i = 0; i < 16; ++i) {
      if (a.w[i] != b.w[i]) return false;
    }
    return true;
  }
};

/// The eight dihedral transforms, in the order the reference and
/// `safeguard hash --dihedral` list them.
enum class Dihedral : int {
  kOriginal = 0,
  kRotate90,
  kRotate180,
  kRotate270,
  kFlipX,
  kFlipY,
  kFlipPlus1,
  kFlipMinus1,
};

/// Images narrower or shorter than this hash to all zeros with quality 0,
/// as in the reference.
inline constexpr int kMinHashableDim = 5;
/// The reference resizes images wider or taller than this to exactly
/// kResizeDim x kResizeDim by nearest neighbour before hashing.
inline constexpr int kResizeDim = 512;
/// Hashes below this quality are not used for matching (convention of every
/// PDQ deployment; enforced by the matching layer, not here).
inline constexpr int kMinMatchQuality = 50;

/// Floats HashLuma needs for an image of `rows` x `cols`: the caller passes
/// a scratch buffer of at least this many floats.
size_t ScratchFloats(int rows, int cols);

/// Fills luma[rows * cols] from tightly packed RGB pixels with the reference's
/// weights (0.299 R + 0.587 G + 0.114 B in float, evaluated left to right).
void LumaFromRgb(const uint8_t* rgb, int rows, int cols, float* luma);

/// Fills luma[rows * cols] from grey pixels: luma is the grey value itself.
/// The reference does this whenever the decoded image is grey (ImageMagick
/// writes a PGM for it), which differs from the RGB weights in the last bit.
void LumaFromGrey(const uint8_t* grey, int rows, int cols, float* luma);

/// Computes the PDQ hash and quality (0..100) of a luma image of rows x cols
/// floats, row-major. `luma` is clobbered; `scratch` holds ScratchFloats().
/// When dihedral is non-null, dihedral[0..7] receive the hashes of the eight
/// transforms (Dihedral order) computed from one DCT, as the reference's
/// dihedral path does. Images with a side below kMinHashableDim give zero
/// hashes and quality 0.
void HashLuma(float* luma, float* scratch, int rows, int cols, Hash256* hash, int* quality,
              Hash256* dihedral);

/// Computes the 16x16 DCT coefficients that PDQ thresholds into a hash, and
/// the quality (0..100), of a luma image of rows x cols floats, row-major
/// (rows, cols >= 1). The result is float-identical with the reference's
/// pdqFloat256FromFloatLuma: out[i][j] is coefficient (row i, column j), the
/// one hash bit 16 i + j is about, before comparison with the median. These
/// 256 floats are the frame feature of TMK+PDQF (safeguard/video/tmk.h).
///
/// As in the reference, a 64x64 image is taken as already downsampled and is
/// not blurred (`luma` is then left unchanged); any other size is blurred and
/// decimated to 64x64 first (`luma` is clobbered). Unlike HashLuma, sides
/// below kMinHashableDim get no special treatment, because the reference's
/// float path has none. `scratch` holds ScratchFloats(rows, cols).
void FloatHashLuma(float* luma, float* scratch, int rows, int cols, float out[16][16], int* quality);

}  // namespace safeguard::pdq

#endif  // SAFEGUARD_HASH_PDQ_H_
