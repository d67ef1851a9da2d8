// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// The optimised PDQ. Bit-exactness rests on one rule: every output value is
// produced by the same sequence of IEEE float operations as in the reference
// (same operands, same order, no contraction into FMA — the build passes
// -ffp-contract=off). Speed comes only from doing those sequences for many
// values at once and from skipping work whose result is never read:
//
//  * The reference's box filter walks each row and each column with a running
//    sum. Walking down columns is done here for all columns at once (one
//    running sum per column, vectorisable); the passes along rows run down
//    the columns of 8-row bands transposed into an L1-sized tile.
//  * Decimation reads only 64 x 64 values of the last filter output, so the
//    second pair of passes divides and stores only where a value is read
//    (the running sums are still advanced through every element, because the
//    rounding of a running sum depends on its whole history).
//  * The DCT accumulates in the reference's k order, vectorised across j.
//
// tests/reference/pdq_reference.cc is the plain transcription this is checked
// against on many random and real images (tests/pdq_equivalence_test.cc).

#include "safeguard/hash/pdq.h"

#include <algorithm>
#include <cstring>

namespace safeguard::pdq {
namespace {

#include "pdq_dct_table.inc"

// kDctT[k][j] = kDct[j][k], so the second DCT product runs along rows.
struct TransposedDct {
  alignas(64) float m[64][16];
  constexpr TransposedDct() : m() {
    for (int j = 0; j < 16; ++j) {
      for (int k = 0; k < 64; ++k) m[k][j] = kDct[j][k];
    }
  }
};
constexpr TransposedDct kDctT;

// The reference's constants: double literals stored as float.
constexpr float kLumaR = 0.299;
constexpr float kLumaG = 0.587;
constexpr float kLumaB = 0.114;

int JaroszWindow(int old_dim, int new_dim) { return (old_dim + 2 * new_dim - 1) / (2 * new_dim); }

// Source index the reference's decimateFloat reads for output index i.
int DecimateIndex(int i, int in_dim) { return static_cast<int>(((i + 0.5) * in_dim) / 64); }

// The reference's box1DFloat run down every column of `in` (rows x cols) at
// once: sums[j] is column j's running sum. For output index o (0..rows-1),
// emit(o, count) may read sums[0..cols-1]; the phases and the order of adds
// and subtracts are exactly the reference's.
template <class Emit>
inline void BoxDown(const float* in, int rows, int cols, int window, float* sums, Emit emit) {
  const int half = (window + 2) / 2;
  const int phase1 = half - 1;
  const int phase2 = window - half + 1;
  const int phase3 = rows - window;
  const int phase4 = half - 1;
  std::fill(sums, sums + cols, 0.0f);
  int ri = 0, li = 0, o = 0, count = 0;
  for (int i = 0; i < phase1; ++i, ++ri, ++count) {
    const float* a = in + static_cast<size_t>(ri) * cols;
    for (int j = 0; j < cols; ++j) sums[j] += a[j];
  }
  for (int i = 0; i < phase2; ++i, ++ri, ++o) {
    const float* a = in + static_cast<size_t>(ri) * cols;
    for (int j = 0; j < cols; ++j) sums[j] += a[j];
    emit(o, ++count);
  }
  for (int i = 0; i < phase3; ++i, ++ri, ++li, ++o) {
    const float* a = in + static_cast<size_t>(ri) * cols;
    const float* s = in + static_cast<size_t>(li) * cols;
    for (int j = 0; j < cols; ++j) sums[j] = (sums[j] + a[j]) - s[j];
    emit(o, count);
  }
  for (int i = 0; i < phase4; ++i, ++li, ++o) {
    const float* s = in + static_cast<size_t>(li) * cols;
    for (int j = 0; j < cols; ++j) sums[j] -= s[j];
    emit(o, --count);
  }
}

// Box filter down the columns, every output stored: out is rows x cols.
inline void BoxDownAll(const float* in, int rows, int cols, int window, float* sums, float* out) {
  BoxDown(in, rows, cols, window, sums, [&](int o, int count) {
    float* dst = out + static_cast<size_t>(o) * cols;
    const float n = static_cast<float>(count);
    for (int j = 0; j < cols; ++j) dst[j] = sums[j] / n;
  });
}

// Box filter down the columns, storing only output rows sel[0..63] (sorted,
// possibly repeated): out is 64 x cols, row p holding output row sel[p].
inline void BoxDownSelected(const float* in, int rows, int cols, int window, float* sums, const int sel[64],
                            float* out) {
  int p = 0;
  BoxDown(in, rows, cols, window, sums, [&](int o, int count) {
    if (p >= 64 || sel[p] != o) return;
    float* dst = out + static_cast<size_t>(p) * cols;
    const float n = static_cast<float>(count);
    for (int j = 0; j < cols; ++j) dst[j] = sums[j] / n;
    for (++p; p < 64 && sel[p] == o; ++p) {
      std::memcpy(out + static_cast<size_t>(p) * cols, dst, sizeof(float) * cols);
    }
  });
}

// Rows are processed in bands of kBand: a band is copied transposed into a
// small tile (it stays in L1), filtered down the tile's columns with all
// kBand running sums advancing together, and copied back. This keeps the
// division vectorised without transposing the whole image.
constexpr int kBand = 8;

// Box filter along every row of in (rows x cols, window `window`). When sel is
// null, out is rows x cols. Otherwise only output columns sel[0..63] are
// kept and out is rows x 64 (out[r][p] = filtered in[r][sel[p]]).
inline void BoxAlongRows(const float* in, int rows, int cols, int window, const int* sel, float* tile_in,
                         float* tile_out, float* sums, float* out) {
  for (int r0 = 0; r0 < rows; r0 += kBand) {
    const int band = std::min(kBand, rows - r0);
    for (int c = 0; c < cols; ++c) {
      for (int k = 0; k < band; ++k) tile_in[c * band + k] = in[static_cast<size_t>(r0 + k) * cols + c];
    }
    if (sel == nullptr) {
      BoxDownAll(tile_in, cols, band, window, sums, tile_out);
      for (int k = 0; k < band; ++k) {
        float* dst = out + static_cast<size_t>(r0 + k) * cols;
        for (int c = 0; c < cols; ++c) dst[c] = tile_out[c * band + k];
      }
    } else {
      BoxDownSelected(tile_in, cols, band, window, sums, sel, tile_out);
      for (int k = 0; k < band; ++k) {
        float* dst = out + static_cast<size_t>(r0 + k) * 64;
        for (int p = 0; p < 64; ++p) dst[p] = tile_out[p * band + k];
      }
    }
  }
}

// Floats of scratch FilterAndDecimate uses, laid out as below.
size_t FilterScratch(int rows, int cols) {
  const size_t n = static_cast<size_t>(rows) * cols;
  const size_t tile = static_cast<size_t>(kBand) * std::max(cols, 64);
  return n + 2 * tile + static_cast<size_t>(rows) * 64 + static_cast<size_t>(std::max(rows, cols)) + 64;
}

// Two Jarosz passes (rows then columns, twice) followed by decimation to
// 64 x 64, as the reference's jaroszFilterFloat + decimateFloat. `luma` is
// clobbered.
void FilterAndDecimate(float* luma, float* scratch, int rows, int cols, float out[64][64]) {
  const int win_rows = JaroszWindow(cols, 64);  // window along each row
  const int win_cols = JaroszWindow(rows, 64);  // window along each column
  const size_t n = static_cast<size_t>(rows) * cols;
  const size_t tile = static_cast<size_t>(kBand) * std::max(cols, 64);
  float* full = scratch;             // rows x cols
  float* tile_in = full + n;         // tile floats
  float* tile_out = tile_in + tile;  // tile floats
  float* kept = tile_out + tile;     // rows x 64
  float* sums = kept + static_cast<size_t>(rows) * 64;
  int sel_rows[64], sel_cols[64];
  for (int i = 0; i < 64; ++i) {
    sel_rows[i] = DecimateIndex(i, rows);
    sel_cols[i] = DecimateIndex(i, cols);
  }
  BoxAlongRows(luma, rows, cols, win_rows, nullptr, tile_in, tile_out, sums, full);  // pass 1
  BoxDownAll(full, rows, cols, win_cols, sums, luma);                                // pass 2
  // Pass 3 stores only the 64 columns decimation reads; pass 4 runs down
  // those 64 columns and stores only the 64 rows read.
  BoxAlongRows(luma, rows, cols, win_rows, sel_cols, tile_in, tile_out, sums, kept);
  BoxDownSelected(kept, rows, 64, win_cols, sums, sel_rows, &out[0][0]);
}

int QualityMetric(const float a[64][64]) {
  int gradient_sum = 0;
  for (int i = 0; i < 63; ++i) {
    for (int j = 0; j < 64; ++j) {
      const int d = static_cast<int>(((a[i][j] - a[i + 1][j]) * 100) / 255);
      gradient_sum += d < 0 ? -d : d;
    }
  }
  for (int i = 0; i < 64; ++i) {
    for (int j = 0; j < 63; ++j) {
      const int d = static_cast<int>(((a[i][j] - a[i][j + 1]) * 100) / 255);
      gradient_sum += d < 0 ? -d : d;
    }
  }
  const int quality = gradient_sum / 90;
  return quality > 100 ? 100 : quality;
}

void Dct64To16(const float a[64][64], float b[16][16]) {
  alignas(64) float t[16][64];
  for (int i = 0; i < 16; ++i) {
    float acc[64] = {};
    for (int k = 0; k < 64; ++k) {
      const float d = kDct[i][k];
      for (int j = 0; j < 64; ++j) acc[j] += d * a[k][j];
    }
    std::memcpy(t[i], acc, sizeof(acc));
  }
  for (int i = 0; i < 16; ++i) {
    float acc[16] = {};
    for (int k = 0; k < 64; ++k) {
      const float x = t[i][k];
      for (int j = 0; j < 16; ++j) acc[j] += x * kDctT.m[k][j];
    }
    std::memcpy(b[i], acc, sizeof(acc));
  }
}

// Bits above the median; the reference's Torben median of 256 values is the
// 128th smallest (index 127), which nth_element finds directly.
void ToBits(const float b[16][16], Hash256* hash) {
  float sorted[256];
  std::memcpy(sorted, b, sizeof(sorted));
  std::nth_element(sorted, sorted + 127, sorted + 256);
  const float median = sorted[127];
  *hash = Hash256();
  for (int k = 0; k < 256; ++k) {
    if (b[k >> 4][k & 15] > median) hash->SetBit(k);
  }
}

// The reference's dct16OriginalTo* transforms: signs and a transpose of the
// coefficients give the DCT of the rotated or flipped image.
void DihedralCoefficients(const float a[16][16], Dihedral d, float out[16][16]) {
  for (int i = 0; i < 16; ++i) {
    for (int j = 0; j < 16; ++j) {
      const float v = a[i][j];
      switch (d) {
        case Dihedral::kOriginal:
          out[i][j] = v;
          break;
        case Dihedral::kRotate90:
          out[j][i] = (j & 1) ? v : -v;
          break;
        case Dihedral::kRotate180:
          out[i][j] = ((i + j) & 1) ? -v : v;
          break;
        case Dihedral::kRotate270:
          out[j][i] = (i & 1) ? v : -v;
          break;
        case Dihedral::kFlipX:
          out[i][j] = (i & 1) ? v : -v;
          break;
        case Dihedral::kFlipY:
          out[i][j] = (j & 1) ? v : -v;
          break;
        case Dihedral::kFlipPlus1:
          out[j][i] = v;
          break;
        case Dihedral::kFlipMinus1:
          out[j][i] = ((i + j) & 1) ? -v : v;
          break;
      }
    }
  }
}

}  // namespace

void Hash256::ToHex(char out[65]) const {
  static const char kDigits[] = "0123456789abcdef";
  for (int i = 0; i < 16; ++i) {
    const uint16_t v = w[15 - i];
    out[4 * i + 0] = kDigits[(v >> 12) & 15];
    out[4 * i + 1] = kDigits[(v >> 8) & 15];
    out[4 * i + 2] = kDigits[(v >> 4) & 15];
    out[4 * i + 3] = kDigits[v & 15];
  }
  out[64] = '\0';
}

bool Hash256::FromHex(std::string_view hex, Hash256* hash) {
  if (hex.size() != 64) return false;
  Hash256 h;
  for (int i = 0; i < 64; ++i) {
    const char c = hex[i];
    int v;
    if (c >= '0' && c <= '9') {
      v = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      v = c - 'a' + 10;
    } else if (c >= 'A' && c <= 'F') {
      v = c - 'A' + 10;
    } else {
      return false;
    }
    const int word = 15 - i / 4;
    h.w[word] = static_cast<uint16_t>((h.w[word] << 4) | v);
  }
  *hash = h;
  return true;
}

int Hash256::HammingDistance(const Hash256& other) const {
  int d = 0;
  for (int i = 0; i < 16; ++i) d += __builtin_popcount(static_cast<unsigned>(w[i] ^ other.w[i]));
  return d;
}

size_t ScratchFloats(int rows, int cols) { return FilterScratch(rows, cols); }

void LumaFromRgb(const uint8_t* rgb, int rows, int cols, float* luma) {
  // Each product takes one of 256 values: a table holds exactly the float the
  // multiplication would give, and the two additions stay in the reference's
  // order, so the result is bit-identical and avoids int-to-float
  // conversions on the stride-3 data the compiler cannot vectorise.
  float tr[256], tg[256], tb[256];
  for (int v = 0; v < 256; ++v) {
    tr[v] = kLumaR * v;
    tg[v] = kLumaG * v;
    tb[v] = kLumaB * v;
  }
  const size_t n = static_cast<size_t>(rows) * cols;
  for (size_t i = 0; i < n; ++i) luma[i] = tr[rgb[3 * i]] + tg[rgb[3 * i + 1]] + tb[rgb[3 * i + 2]];
}

void LumaFromGrey(const uint8_t* grey, int rows, int cols, float* luma) {
  const size_t n = static_cast<size_t>(rows) * cols;
  for (size_t i = 0; i < n; ++i) luma[i] = static_cast<float>(grey[i]);
}

void FloatHashLuma(float* luma, float* scratch, int rows, int cols, float out[16][16], int* quality) {
  alignas(64) float a64[64][64];
  if (rows == 64 && cols == 64) {
    // The reference assumes a 64x64 input was already downsampled (by
    // FFmpeg, for video frames) and skips the blur. Skipping matters: the
    // 64-to-64 blur has window 1, yet its running sum, (s + next) - previous,
    // rounds, so it changes the low bits of fractional luma.
    std::memcpy(a64, luma, sizeof(a64));
  } else {
    FilterAndDecimate(luma, scratch, rows, cols, a64);
  }
  *quality = QualityMetric(a64);
  Dct64To16(a64, out);
}

void HashLuma(float* luma, float* scratch, int rows, int cols, Hash256* hash, int* quality,
              Hash256* dihedral) {
  if (rows < kMinHashableDim || cols < kMinHashableDim) {
    *hash = Hash256();
    *quality = 0;
    if (dihedral != nullptr) {
      for (int d = 0; d < 8; ++d) dihedral[d] = Hash256();
    }
    return;
  }
  alignas(64) float b16[16][16];
  FloatHashLuma(luma, scratch, rows, cols, b16, quality);
  ToBits(b16, hash);
  if (dihedral == nullptr) return;
  if (rows == 64 && cols == 64) {
    // The reference's dihedral path blurs a 64x64 image like any other size
    // (its plain path does not), so its dihedral hashes come from a second
    // DCT. FloatHashLuma left `luma` intact for this.
    alignas(64) float a64[64][64];
    FilterAndDecimate(luma, scratch, rows, cols, a64);
    Dct64To16(a64, b16);
  }
  float t[16][16];
  for (int d = 0; d < 8; ++d) {
    DihedralCoefficients(b16, static_cast<Dihedral>(d), t);
    ToBits(t, &dihedral[d]);
  }
}

}  // namespace safeguard::pdq
