// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.

#include "reference/pdq_reference.h"

#include <cmath>
#include <cstdlib>

namespace safeguard::reference {
namespace {

// The DCT matrix, computed here with libm as the reference does; the
// optimised code uses a constant table (tools/gen_dct_table.cc) and the
// equivalence tests confirm the two agree.
std::vector<float> DctMatrix() {
  const double pi = 3.14159265358979323846;
  const float scale = std::sqrt(2.0 / 64.0);
  std::vector<float> d(16 * 64);
  for (int i = 0; i < 16; i++) {
    for (int j = 0; j < 64; j++) d[i * 64 + j] = scale * std::cos((pi / 2.0 / 64.0) * (i + 1) * (2 * j + 1));
  }
  return d;
}

void Box1D(const float* in, float* out, int length, int stride, int window) {
  int half = (window + 2) / 2;
  int p1 = half - 1, p2 = window - half + 1, p3 = length - window, p4 = half - 1;
  int li = 0, ri = 0, oi = 0;
  float sum = 0.0;
  int size = 0;
  for (int i = 0; i < p1; i++) {
    sum += in[ri];
    size++;
    ri += stride;
  }
  for (int i = 0; i < p2; i++) {
    sum += in[ri];
    size++;
    out[oi] = sum / size;
    ri += stride;
    oi += stride;
  }
  for (int i = 0; i < p3; i++) {
    sum += in[ri];
    sum -= in[li];
    out[oi] = sum / size;
    li += stride;
    ri += stride;
    oi += stride;
  }
  for (int i = 0; i < p4; i++) {
    sum -= in[li];
    size--;
    out[oi] = sum / size;
    li += stride;
    oi += stride;
  }
}

int Window(int old_dim) { return (old_dim + 2 * 64 - 1) / (2 * 64); }

void Filter(std::vector<float>& a, int rows, int cols) {
  std::vector<float> b(a.size());
  for (int rep = 0; rep < 2; rep++) {
    for (int i = 0; i < rows; i++) Box1D(&a[i * cols], &b[i * cols], cols, 1, Window(cols));
    for (int j = 0; j < cols; j++) Box1D(&b[j], &a[j], rows, cols, Window(rows));
  }
}

int Quality(const float a[64][64]) {
  int sum = 0;
  for (int i = 0; i < 63; i++) {
    for (int j = 0; j < 64; j++) {
      int d = ((a[i][j] - a[i + 1][j]) * 100) / 255;
      sum += std::abs(d);
    }
  }
  for (int i = 0; i < 64; i++) {
    for (int j = 0; j < 63; j++) {
      int d = ((a[i][j] - a[i][j + 1]) * 100) / 255;
      sum += std::abs(d);
    }
  }
  int q = sum / 90;
  return q > 100 ? 100 : q;
}

void Dct(const float a[64][64], float b[16][16]) {
  static const std::vector<float> d = DctMatrix();
  float t[16][64];
  for (int i = 0; i < 16; i++) {
    for (int j = 0; j < 64; j++) {
      float s = 0.0;
      for (int k = 0; k < 64; k++) s += d[i * 64 + k] * a[k][j];
      t[i][j] = s;
    }
  }
  for (int i = 0; i < 16; i++) {
    for (int j = 0; j < 16; j++) {
      float s = 0.0;
      for (int k = 0; k < 64; k++) s += t[i][k] * d[j * 64 + k];
      b[i][j] = s;
    }
  }
}

// Torben Mogensen's median, as the reference uses it.
float Torben(const float* m, int n) {
  float min = m[0], max = m[0];
  for (int i = 1; i < n; i++) {
    if (m[i] < min) min = m[i];
    if (m[i] > max) max = m[i];
  }
  int less, greater, equal;
  float guess, maxlt, mingt;
  while (true) {
    guess = (min + max) / 2;
    less = greater = equal = 0;
    maxlt = min;
    mingt = max;
    for (int i = 0; i < n; i++) {
      if (m[i] < guess) {
        less++;
        if (m[i] > maxlt) maxlt = m[i];
      } else if (m[i] > guess) {
        greater++;
        if (m[i] < mingt) mingt = m[i];
      } else {
        equal++;
      }
    }
    if (less <= (n + 1) / 2 && greater <= (n + 1) / 2) break;
    if (less > greater) {
      max = maxlt;
    } else {
      min = mingt;
    }
  }
  if (less >= (n + 1) / 2) return maxlt;
  if (less + equal >= (n + 1) / 2) return guess;
  return mingt;
}

pdq::Hash256 Bits(const float b[16][16]) {
  float median = Torben(&b[0][0], 256);
  pdq::Hash256 h;
  for (int i = 0; i < 16; i++) {
    for (int j = 0; j < 16; j++) {
      if (b[i][j] > median) h.SetBit(i * 16 + j);
    }
  }
  return h;
}

void Transform(const float a[16][16], int which, float b[16][16]) {
  for (int i = 0; i < 16; i++) {
    for (int j = 0; j < 16; j++) {
      float v = a[i][j];
      switch (which) {
        case 0:
          b[i][j] = v;
          break;
        case 1:
          b[j][i] = (j & 1) ? v : -v;
          break;
        case 2:
          b[i][j] = ((i + j) & 1) ? -v : v;
          break;
        case 3:
          b[j][i] = (i & 1) ? v : -v;
          break;
        case 4:
          b[i][j] = (i & 1) ? v : -v;
          break;
        case 5:
          b[i][j] = (j & 1) ? v : -v;
          break;
        case 6:
          b[j][i] = v;
          break;
        default:
          b[j][i] = ((i + j) & 1) ? -v : v;
          break;
      }
    }
  }
}

void Downsample(std::vector<float> luma, int rows, int cols, float out[64][64]) {
  Filter(luma, rows, cols);
  for (int i = 0; i < 64; i++) {
    int ini = (int)(((i + 0.5) * rows) / 64);
    for (int j = 0; j < 64; j++) {
      int inj = (int)(((j + 0.5) * cols) / 64);
      out[i][j] = luma[ini * cols + inj];
    }
  }
}

}  // namespace

void PdqFromLuma(std::vector<float> luma, int rows, int cols, pdq::Hash256* hash, int* quality,
                 pdq::Hash256* dihedral) {
  if (rows < 5 || cols < 5) {
    *hash = pdq::Hash256();
    *quality = 0;
    if (dihedral) {
      for (int d = 0; d < 8; d++) dihedral[d] = pdq::Hash256();
    }
    return;
  }
  float a[64][64], b[16][16];
  if (rows == 64 && cols == 64) {
    for (int i = 0; i < 64; i++) {
      for (int j = 0; j < 64; j++) a[i][j] = luma[i * 64 + j];
    }
  } else {
    Downsample(luma, rows, cols, a);
  }
  *quality = Quality(a);
  Dct(a, b);
  *hash = Bits(b);
  if (dihedral) {
    Downsample(luma, rows, cols, a);
    Dct(a, b);
    for (int d = 0; d < 8; d++) {
      float t[16][16];
      Transform(b, d, t);
      dihedral[d] = Bits(t);
    }
  }
}

void PdqFromPixels(const uint8_t* pixels, int width, int height, int channels, bool all_grey,
                   pdq::Hash256* hash, int* quality, pdq::Hash256* dihedral) {
  int rows = height, cols = width;
  std::vector<uint8_t> resized;
  if (rows > 512 || cols > 512) {
    resized.resize(512 * 512 * channels);
    for (int y = 0; y < 512; y++) {
      for (int x = 0; x < 512; x++) {
        long sy = (long)y * height / 512, sx = (long)x * width / 512;
        for (int c = 0; c < channels; c++) {
          resized[(y * 512 + x) * channels + c] = pixels[(sy * width + sx) * channels + c];
        }
      }
    }
    pixels = resized.data();
    rows = cols = 512;
  }
  std::vector<float> luma(rows * cols);
  for (int i = 0; i < rows * cols; i++) {
    const uint8_t* p = &pixels[i * channels];
    if (channels == 1 || all_grey) {
      luma[i] = (float)p[0];
    } else {
      const float r = 0.299, g = 0.587, b = 0.114;
      luma[i] = r * p[0] + g * p[1] + b * p[2];
    }
  }
  PdqFromLuma(luma, rows, cols, hash, quality, dihedral);
}

}  // namespace safeguard::reference
