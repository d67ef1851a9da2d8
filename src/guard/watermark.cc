// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// The DWT-DCT watermark of docs/watermark.md. In short: the image's luma is
// resampled to a canonical 256x256 grid (area averaging), a one-level Haar
// DWT takes its 128x128 LL band, the band is cut into 4x4 blocks, and in each
// block a few low/mid-frequency DCT coefficients carry one bit each by
// dithered quantisation index modulation (QIM). The 96-bit payload is spread
// over all of them (key-seeded permutation, dither and whitening) and read
// back by soft voting. The change wanted on the canonical grid is carried to
// the image's own resolution by bilinear interpolation and added to R, G and
// B alike, which changes Y by exactly that much and leaves Cb and Cr alone.
//
// Why a canonical grid: the mark then does not care how large the image is,
// and a resized copy resamples to (nearly) the same canonical luma. Why QIM:
// the decoder needs no copy of the original, and a brightness shift moves
// only DC terms, which carry nothing.

#include "safeguard/guard/watermark.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace safeguard::guard {
namespace {

// ---- Geometry and strength ---------------------------------------------------

constexpr int kCanon = 256;                   // side of the canonical grid
constexpr int kLL = kCanon / 2;               // side of the Haar LL band
constexpr int kBlock = 4;                     // DCT block side in LL
constexpr int kBlocksPerSide = kLL / kBlock;  // 32
constexpr int kNumBlocks = kBlocksPerSide * kBlocksPerSide;
// The work image a trace resamples from: area-reduced to at most this many
// samples per side, so that trying several alignments costs the same for a
// 20-megapixel image as for a small one. Twice the canonical side keeps every
// frequency the mark uses.
constexpr int kWorkMax = 2 * kCanon;

// DCT coefficients (row frequency u, column frequency v) of each LL block
// that carry bits. Low frequencies: JPEG quantises them gently, resampling
// barely attenuates them, and a small misalignment changes them least.
struct Frequency {
  int u, v;
};
constexpr std::array<Frequency, 3> kFrequencies = {{{0, 1}, {1, 0}, {1, 1}}};
constexpr int kSlots = kNumBlocks * static_cast<int>(kFrequencies.size());
// QIM step on the (orthonormal) coefficients. The embedding error per slot is
// uniform on +-kStep/2, so the luma MSE is about
// kFrequencies.size() * kStep^2 / 12 / 64 (64 canonical pixels per block).
constexpr double kStep = 30.0;

constexpr int kIdBits = 64;
constexpr int kTagBits = 32;
constexpr int kPayloadBits = kIdBits + kTagBits;
// The payload goes through the rate-1/2, constraint-length-7 convolutional
// code (generators 171 and 133 octal, the NASA/CCSDS code) and six zero tail
// bits; the slots repeat the 204 coded bits about 15 times each. Against
// pure repetition the code buys several dB: copies whose slots are a third
// wrong still decode, where a single wrong payload bit would sink the tag.
constexpr int kConstraint = 7;
constexpr int kTail = kConstraint - 1;
constexpr int kStates = 1 << kTail;
constexpr unsigned kGenerator[2] = {0171, 0133};
constexpr int kCodedBits = 2 * (kPayloadBits + kTail);
static_assert(kCodedBits <= 256, "Layout::bit is a uint8_t");

// ---- Keyed layout --------------------------------------------------------------

constexpr char kLayoutLabel[] = "safeguard watermark v1 layout";
constexpr char kTagLabel[] = "safeguard watermark v1 tag";

void HmacSha256(const WatermarkKey& key, const uint8_t* data, size_t size, uint8_t out[32]) {
  unsigned int len = 32;
  HMAC(EVP_sha256(), key.bytes.data(), static_cast<int>(key.bytes.size()), data, size, out, &len);
}

// The 32-bit tag of `id`: the first four bytes of HMAC-SHA256(key, label ||
// id as 8 big-endian bytes), the label without its terminating NUL.
uint32_t Tag(const WatermarkKey& key, uint64_t id) {
  constexpr size_t kLabelSize = sizeof(kTagLabel) - 1;
  uint8_t message[kLabelSize + 8];
  std::copy(kTagLabel, kTagLabel + kLabelSize, message);
  for (int i = 0; i < 8; ++i) {
    message[kLabelSize + i] = static_cast<uint8_t>(id >> (56 - 8 * i));
  }
  uint8_t mac[32];
  HmacSha256(key, message, sizeof(message), mac);
  return (uint32_t{mac[0]} << 24) | (uint32_t{mac[1]} << 16) | (uint32_t{mac[2]} << 8) | mac[3];
}

// xoshiro256**: a small generator whose output is fixed by its definition, so
// layouts are the same on every platform (std distributions are not).
class Xoshiro {
 public:
  explicit Xoshiro(const uint8_t seed[32]) {
    for (int i = 0; i < 4; ++i) {
      s_[i] = 0;
      for (int b = 0; b < 8; ++b) {
        s_[i] = (s_[i] << 8) | seed[8 * i + b];
      }
    }
    if ((s_[0] | s_[1] | s_[2] | s_[3]) == 0) {
      s_[0] = 1;
    }
  }
  uint64_t Next() {
    const uint64_t result = Rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = Rotl(s_[3], 45);
    return result;
  }
  // Uniform on [0, n) by rejection, without modulo bias.
  uint32_t Below(uint32_t n) {
    const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do {
      x = Next();
    } while (x >= limit);
    return static_cast<uint32_t>(x % n);
  }
  // Uniform on [0, 1).
  double Unit() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }

 private:
  static uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4];
};

// Which coded bit each slot carries, its QIM dither and its whitening sign.
// Every coded bit gets kSlots / kCodedBits slots (give or take one),
// scattered over the image so that damage to one region costs each bit only
// a little.
struct Layout {
  std::vector<uint8_t> bit;
  std::vector<double> dither;
  std::vector<uint8_t> flip;
};

Layout MakeLayout(const WatermarkKey& key) {
  uint8_t seed[32];
  HmacSha256(key, reinterpret_cast<const uint8_t*>(kLayoutLabel), sizeof(kLayoutLabel) - 1, seed);
  Xoshiro rng(seed);
  Layout layout;
  layout.bit.resize(kSlots);
  layout.dither.resize(kSlots);
  layout.flip.resize(kSlots);
  for (int s = 0; s < kSlots; ++s) {
    layout.bit[s] = static_cast<uint8_t>(s % kCodedBits);
  }
  for (int s = kSlots - 1; s > 0; --s) {
    std::swap(layout.bit[s], layout.bit[rng.Below(s + 1)]);
  }
  for (int s = 0; s < kSlots; ++s) {
    layout.dither[s] = rng.Unit() * kStep;
    layout.flip[s] = static_cast<uint8_t>(rng.Next() >> 63);
  }
  return layout;
}

using Payload = std::array<uint8_t, kPayloadBits>;
using Codeword = std::array<uint8_t, kCodedBits>;

Payload MakePayload(uint64_t id, uint32_t tag) {
  Payload p;
  for (int i = 0; i < kIdBits; ++i) {
    p[i] = static_cast<uint8_t>((id >> (kIdBits - 1 - i)) & 1);
  }
  for (int i = 0; i < kTagBits; ++i) {
    p[kIdBits + i] = static_cast<uint8_t>((tag >> (kTagBits - 1 - i)) & 1);
  }
  return p;
}

int Parity(unsigned x) { return __builtin_parity(x); }

Codeword Encode(const Payload& payload) {
  Codeword out;
  unsigned reg = 0;
  for (int t = 0; t < kPayloadBits + kTail; ++t) {
    const unsigned bit = t < kPayloadBits ? payload[t] : 0;
    reg = ((reg << 1) | bit) & ((1u << kConstraint) - 1);
    const size_t i = 2 * static_cast<size_t>(t);
    out[i] = static_cast<uint8_t>(Parity(reg & kGenerator[0]));
    out[i + 1] = static_cast<uint8_t>(Parity(reg & kGenerator[1]));
  }
  return out;
}

// Soft-decision Viterbi decoding. llr[i] > 0 favours coded bit i == 0; the
// path metric is the correlation of the path's +-1 bits with llr, maximised.
Payload Decode(const std::array<double, kCodedBits>& llr) {
  constexpr int kSteps = kPayloadBits + kTail;
  std::array<double, kStates> metric, next;
  metric.fill(-1e300);
  metric[0] = 0;
  std::vector<std::array<uint8_t, kStates>> from(kSteps);  // predecessor's dropped bit
  for (int t = 0; t < kSteps; ++t) {
    next.fill(-1e300);
    std::array<uint8_t, kStates> choice{};
    const int max_bit = t < kPayloadBits ? 1 : 0;
    for (int state = 0; state < kStates; ++state) {
      if (metric[state] <= -1e299) {
        continue;
      }
      for (int bit = 0; bit <= max_bit; ++bit) {
        const unsigned reg = (static_cast<unsigned>(state) << 1) | bit;
        const int to = static_cast<int>(reg & (kStates - 1));
        const size_t i = 2 * static_cast<size_t>(t);
        const double m = metric[state] + (Parity(reg & kGenerator[0]) ? -llr[i] : llr[i]) +
                         (Parity(reg & kGenerator[1]) ? -llr[i + 1] : llr[i + 1]);
        if (m > next[to]) {
          next[to] = m;
          choice[to] = static_cast<uint8_t>(state >> (kTail - 1));  // the bit shifted out
        }
      }
    }
    from[t] = choice;
    metric = next;
  }
  // The tail brings the encoder back to state 0; trace back from there.
  Payload payload{};
  int state = 0;
  for (int t = kSteps - 1; t >= 0; --t) {
    const int bit = state & 1;
    if (t < kPayloadBits) {
      payload[t] = static_cast<uint8_t>(bit);
    }
    state = (state >> 1) | (from[t][state] << (kTail - 1));
  }
  return payload;
}

// ---- QIM -----------------------------------------------------------------------

// The point nearest `x` of the lattice kStep * Z + dither + bit * kStep / 2.
double Quantize(double x, double dither, int bit) {
  const double offset = dither + bit * (kStep / 2);
  return std::nearbyint((x - offset) / kStep) * kStep + offset;
}

// +1 on the bit-0 lattice, -1 on the bit-1 lattice, linear in between.
double Soft(double x, double dither) {
  double f = (x - dither) / kStep;
  f -= std::floor(f);
  return 1.0 - 4.0 * std::min(f, 1.0 - f);
}

// ---- Separable resampling -----------------------------------------------------

// One axis of a separable linear map: out[i] = sum over t < count[i] of
// weight[offset[i] + t] * in[first[i] + t]. valid[i] is false where out[i]
// would need samples outside the input (a cropped-away region).
struct AxisMap {
  int in_size = 0;
  int out_size = 0;
  std::vector<int> first, count, offset;
  std::vector<float> weight;
  std::vector<uint8_t> valid;

  void Add(int in_first, const std::vector<double>& w, bool ok) {
    // Trim zero weights at both ends so that bands stay narrow.
    size_t b = 0, e = w.size();
    while (b < e && w[b] == 0) {
      ++b;
    }
    while (e > b && w[e - 1] == 0) {
      --e;
    }
    first.push_back(in_first + static_cast<int>(b));
    count.push_back(static_cast<int>(e - b));
    offset.push_back(static_cast<int>(weight.size()));
    for (size_t i = b; i < e; ++i) {
      weight.push_back(static_cast<float>(w[i]));
    }
    valid.push_back(ok ? 1 : 0);
    ++out_size;
  }
};

// Averages the piecewise-constant input over [a, b) (0 <= a < b <= n).
void AreaWeights(double a, double b, int n, int* first, std::vector<double>* w) {
  const int k0 = std::clamp(static_cast<int>(std::floor(a)), 0, n - 1);
  const int k1 = std::clamp(static_cast<int>(std::ceil(b)), k0 + 1, n);
  w->assign(k1 - k0, 0.0);
  for (int k = k0; k < k1; ++k) {
    const double overlap = std::min(b, k + 1.0) - std::max(a, static_cast<double>(k));
    (*w)[k - k0] = std::max(overlap, 0.0) / (b - a);
  }
  *first = k0;
}

// Keys' cubic convolution (a = -0.5) at position c (pixel centres at k).
void CubicWeights(double c, int n, int* first, std::vector<double>* w) {
  const int base = static_cast<int>(std::floor(c));
  std::array<double, 4> taps;
  for (int t = 0; t < 4; ++t) {
    const double d = std::fabs(c - (base - 1 + t));
    taps[t] = d < 1 ? (1.5 * d - 2.5) * d * d + 1 : d < 2 ? ((-0.5 * d + 2.5) * d - 4) * d + 2 : 0;
  }
  // Fold taps that fall outside the input onto the edge samples.
  const int k0 = std::clamp(base - 1, 0, n - 1);
  const int k1 = std::clamp(base + 2, 0, n - 1);
  w->assign(k1 - k0 + 1, 0.0);
  for (int t = 0; t < 4; ++t) {
    (*w)[std::clamp(base - 1 + t, 0, n - 1) - k0] += taps[t];
  }
  *first = k0;
}

// Area reduction of n samples to m <= n samples.
AxisMap AreaReduce(int n, int m) {
  AxisMap map;
  map.in_size = n;
  std::vector<double> w;
  int first;
  for (int i = 0; i < m; ++i) {
    AreaWeights(static_cast<double>(i) * n / m, static_cast<double>(i + 1) * n / m, n, &first, &w);
    map.Add(first, w, true);
  }
  return map;
}

// From a work axis of n samples showing the part [lo, hi] of the original
// axis (fractions of its length) to the kCanon samples of the whole original
// axis. Canonical samples wider than an input sample are area averages;
// narrower ones (upsampling) are cubic interpolations.
AxisMap ToCanonical(int n, double lo, double hi) {
  AxisMap map;
  map.in_size = n;
  const double scale = n / (hi - lo);
  std::vector<double> w;
  int first;
  for (int i = 0; i < kCanon; ++i) {
    double a = (static_cast<double>(i) / kCanon - lo) * scale;
    double b = (static_cast<double>(i + 1) / kCanon - lo) * scale;
    // Allow a quarter of a canonical sample of overhang (rounding in a
    // crop); more means the sample was cropped away.
    const double slack = 0.25 * (b - a);
    const bool ok = a >= -slack && b <= n + slack;
    a = std::clamp(a, 0.0, static_cast<double>(n));
    b = std::clamp(b, 0.0, static_cast<double>(n));
    if (b - a >= 1.0) {
      AreaWeights(a, b, n, &first, &w);
    } else {
      CubicWeights(std::clamp((a + b) / 2 - 0.5, 0.0, n - 1.0), n, &first, &w);
    }
    map.Add(first, w, ok);
  }
  return map;
}

// Bilinear interpolation of the kCanon canonical samples onto n samples.
AxisMap FromCanonical(int n) {
  AxisMap map;
  map.in_size = kCanon;
  std::vector<double> w(2);
  for (int k = 0; k < n; ++k) {
    const double c = std::clamp((k + 0.5) * kCanon / n - 0.5, 0.0, kCanon - 1.0);
    const int i0 = std::min(static_cast<int>(c), kCanon - 2);
    w[1] = c - i0;
    w[0] = 1 - w[1];
    map.Add(i0, w, true);
  }
  return map;
}

// A binomial low-pass on the canonical axis, applied to the change before it
// is interpolated up. Each 8x8 block's change is independent of its
// neighbours', so unsmoothed it steps at every block edge: a grid of faint
// squares in flat areas such as sky. The carrier frequencies lose a few
// percent, which the Richardson steps put back.
AxisMap Smooth() {
  constexpr std::array<double, 5> kTaps = {1 / 16.0, 4 / 16.0, 6 / 16.0, 4 / 16.0, 1 / 16.0};
  AxisMap map;
  map.in_size = kCanon;
  std::vector<double> w;
  for (int i = 0; i < kCanon; ++i) {
    const int lo = std::max(0, i - 2), hi = std::min(kCanon - 1, i + 2);
    w.assign(hi - lo + 1, 0.0);
    double sum = 0;
    for (int k = lo; k <= hi; ++k) {
      sum += kTaps[k - i + 2];
    }
    for (int k = lo; k <= hi; ++k) {
      w[k - lo] = kTaps[k - i + 2] / sum;  // renormalised at the edges
    }
    map.Add(lo, w, true);
  }
  return map;
}

// The product a * b of two axis maps (a applied after b).
AxisMap Compose(const AxisMap& a, const AxisMap& b) {
  AxisMap map;
  map.in_size = b.in_size;
  std::vector<double> row(b.in_size);
  for (int i = 0; i < a.out_size; ++i) {
    std::fill(row.begin(), row.end(), 0.0);
    int lo = b.in_size, hi = 0;
    for (int t = 0; t < a.count[i]; ++t) {
      const int j = a.first[i] + t;
      const double wa = a.weight[a.offset[i] + t];
      for (int u = 0; u < b.count[j]; ++u) {
        row[b.first[j] + u] += wa * b.weight[b.offset[j] + u];
      }
      lo = std::min(lo, b.first[j]);
      hi = std::max(hi, b.first[j] + b.count[j]);
    }
    if (hi <= lo) {
      lo = hi = 0;
    }
    map.Add(lo, std::vector<double>(row.begin() + lo, row.begin() + hi), a.valid[i] != 0);
  }
  return map;
}

// A float raster, row-major.
struct Plane {
  int width = 0;
  int height = 0;
  std::vector<float> v;
  Plane() = default;
  Plane(int w, int h) : width(w), height(h), v(static_cast<size_t>(w) * h, 0.0f) {}
  float* Row(int y) { return v.data() + static_cast<size_t>(y) * width; }
  const float* Row(int y) const { return v.data() + static_cast<size_t>(y) * width; }
};

// out = in * xmap^T: resamples every row.
Plane ApplyRows(const Plane& in, const AxisMap& xmap) {
  Plane rows(xmap.out_size, in.height);
  for (int y = 0; y < in.height; ++y) {
    const float* src = in.Row(y);
    float* dst = rows.Row(y);
    for (int i = 0; i < xmap.out_size; ++i) {
      const float* w = xmap.weight.data() + xmap.offset[i];
      const float* s = src + xmap.first[i];
      float acc = 0;
      for (int t = 0; t < xmap.count[i]; ++t) {
        acc += w[t] * s[t];
      }
      dst[i] = acc;
    }
  }
  return rows;
}

// out = ymap * in: resamples every column.
Plane ApplyColumns(const Plane& in, const AxisMap& ymap) {
  Plane out(in.width, ymap.out_size);
  for (int j = 0; j < ymap.out_size; ++j) {
    float* dst = out.Row(j);
    for (int t = 0; t < ymap.count[j]; ++t) {
      const float w = ymap.weight[ymap.offset[j] + t];
      const float* src = in.Row(ymap.first[j] + t);
      for (int i = 0; i < out.width; ++i) {
        dst[i] += w * src[i];
      }
    }
  }
  return out;
}

// out = ymap * in * xmap^T.
Plane ApplySeparable(const Plane& in, const AxisMap& xmap, const AxisMap& ymap) {
  return ApplyColumns(ApplyRows(in, xmap), ymap);
}

// The luma of row y: grey as is, RGB through the BT.601 weights (Y of YCbCr).
void LumaRow(const media::Image& image, int y, float* out) {
  const uint8_t* p = image.pixels.data() + static_cast<size_t>(y) * image.width * image.channels;
  if (image.channels == 1) {
    for (int x = 0; x < image.width; ++x) {
      out[x] = p[x];
    }
  } else {
    for (int x = 0; x < image.width; ++x, p += 3) {
      out[x] = 0.299f * p[0] + 0.587f * p[1] + 0.114f * p[2];
    }
  }
}

// The work image: the luma area-reduced to at most kWorkMax samples per side,
// one source row at a time (a full-size float copy of a 100-megapixel image
// would cost 400 MB).
struct WorkMaps {
  AxisMap x, y;
};

WorkMaps MakeWorkMaps(int width, int height) {
  return {AreaReduce(width, std::min(width, kWorkMax)), AreaReduce(height, std::min(height, kWorkMax))};
}

Plane ReduceLuma(const media::Image& image, const WorkMaps& maps) {
  Plane work(maps.x.out_size, maps.y.out_size);
  std::vector<float> luma(image.width), reduced(maps.x.out_size);
  int have = -1;  // the source row `reduced` holds
  for (int j = 0; j < maps.y.out_size; ++j) {
    float* dst = work.Row(j);
    for (int t = 0; t < maps.y.count[j]; ++t) {
      const int k = maps.y.first[j] + t;
      if (k != have) {
        LumaRow(image, k, luma.data());
        for (int i = 0; i < maps.x.out_size; ++i) {
          float acc = 0;
          for (int u = 0; u < maps.x.count[i]; ++u) {
            acc += maps.x.weight[maps.x.offset[i] + u] * luma[maps.x.first[i] + u];
          }
          reduced[i] = acc;
        }
        have = k;
      }
      const float w = maps.y.weight[maps.y.offset[j] + t];
      for (int i = 0; i < work.width; ++i) {
        dst[i] += w * reduced[i];
      }
    }
  }
  return work;
}

// ---- DWT-DCT -------------------------------------------------------------------

// The orthonormal 4-point DCT-II, kDct[u][n] = c(u) cos(pi (2n + 1) u / 8)
// with c(0) = 1/2 and c(u) = sqrt(1/2) otherwise, as the doubles glibc's cos
// gives for them.
constexpr double kDct[kBlock][kBlock] = {
    {0.5, 0.5, 0.5, 0.5},
    {0.6532814824381883, 0.27059805007309856, -0.2705980500730985, -0.6532814824381883},
    {0.5000000000000001, -0.5, -0.5000000000000001, 0.4999999999999999},
    {0.27059805007309856, -0.6532814824381884, 0.6532814824381882, -0.2705980500730986},
};

// The LL band of a one-level orthonormal Haar DWT: (a + b + c + d) / 2.
Plane HaarLL(const Plane& canon) {
  Plane ll(kLL, kLL);
  for (int y = 0; y < kLL; ++y) {
    const float* r0 = canon.Row(2 * y);
    const float* r1 = canon.Row(2 * y + 1);
    float* dst = ll.Row(y);
    for (size_t x = 0; x < kLL; ++x) {
      dst[x] = 0.5f * (r0[2 * x] + r0[2 * x + 1] + r1[2 * x] + r1[2 * x + 1]);
    }
  }
  return ll;
}

// The DCT coefficients of every slot, in slot order (block-major).
std::vector<double> Project(const Plane& canon) {
  const Plane ll = HaarLL(canon);
  const auto& dct = kDct;
  std::vector<double> values(kSlots);
  for (int b = 0; b < kNumBlocks; ++b) {
    const int by = (b / kBlocksPerSide) * kBlock, bx = (b % kBlocksPerSide) * kBlock;
    for (size_t f = 0; f < kFrequencies.size(); ++f) {
      const int u = kFrequencies[f].u, v = kFrequencies[f].v;
      double acc = 0;
      for (int i = 0; i < kBlock; ++i) {
        const float* row = ll.Row(by + i);
        double r = 0;
        for (int j = 0; j < kBlock; ++j) {
          r += dct[v][j] * row[bx + j];
        }
        acc += dct[u][i] * r;
      }
      values[b * kFrequencies.size() + f] = acc;
    }
  }
  return values;
}

// Adds to `canon` the canonical-grid change that moves each slot's
// coefficient by delta[slot] and nothing else: the inverse DCT puts it in LL,
// and the inverse Haar with unchanged detail bands spreads each LL change e
// as e / 2 over its 2x2 pixels.
void Synthesize(const std::vector<double>& delta, Plane* canon) {
  const auto& dct = kDct;
  for (int b = 0; b < kNumBlocks; ++b) {
    const int by = (b / kBlocksPerSide) * kBlock, bx = (b % kBlocksPerSide) * kBlock;
    double block[kBlock][kBlock] = {};
    for (size_t f = 0; f < kFrequencies.size(); ++f) {
      const double d = delta[b * kFrequencies.size() + f];
      if (d == 0) {
        continue;
      }
      const int u = kFrequencies[f].u, v = kFrequencies[f].v;
      for (int i = 0; i < kBlock; ++i) {
        for (int j = 0; j < kBlock; ++j) {
          block[i][j] += d * dct[u][i] * dct[v][j];
        }
      }
    }
    for (int i = 0; i < kBlock; ++i) {
      for (int j = 0; j < kBlock; ++j) {
        const float e = static_cast<float>(0.5 * block[i][j]);
        for (int dy = 0; dy < 2; ++dy) {
          float* row = canon->Row(2 * (by + i) + dy);
          const size_t x = 2 * static_cast<size_t>(bx + j);
          row[x] += e;
          row[x + 1] += e;
        }
      }
    }
  }
}

// ---- Crop hypotheses -------------------------------------------------------------

// Crops are searched on a grid of this step (fraction of a side): about one
// canonical pixel, within the reach of the local refinement.
constexpr double kCropStep = 1.0 / kCanon;
constexpr double kMaxCentreCrop = 0.15;  // per side, so 30% of each dimension
constexpr double kMaxEdgeCrop = 0.20;
// Alignments that see fewer slots than this are not decoded.
constexpr int kMinSeen = kSlots / 8;
// How many of the best-ranked crop hypotheses are refined and checked: with
// the identity read, kWatermarkMaxCandidates tag checks at most, which is
// what bounds the false-find rate.
constexpr int kRefined = kWatermarkMaxCandidates - 1;

// ---- Reading ---------------------------------------------------------------------

// Where the observed image sits in the original: the fractions [x0, x1] of
// the original width and [y0, y1] of its height that it shows. The identity
// (0, 1, 0, 1) covers the untouched image and any resize of it.
struct Alignment {
  double x0 = 0, x1 = 1, y0 = 0, y1 = 1;
};

// One crop hypothesis and the direction its family moves in as the crop
// grows (per unit of crop fraction, for x0, x1, y0, y1).
struct Hypothesis {
  Alignment a;
  std::array<double, 4> direction;
};

// The crops a trace considers, beside the identity: centred crops that keep
// the aspect ratio, crops that keep one corner (and the aspect ratio), and
// crops of a single edge. Crops of other shapes are not searched
// (docs/watermark.md).
std::vector<Hypothesis> CropHypotheses() {
  // Grouped by x mapping, which the Observer reuses between neighbours.
  std::vector<Hypothesis> out;
  for (int k = 1; k * kCropStep <= kMaxCentreCrop + 1e-9; ++k) {
    const double c = k * kCropStep;
    out.push_back({{c, 1 - c, c, 1 - c}, {1, -1, 1, -1}});
  }
  for (int k = 1; k * kCropStep <= kMaxEdgeCrop + 1e-9; ++k) {
    const double c = k * kCropStep;
    out.push_back({{0, 1, 0, 1 - c}, {0, 0, 0, -1}});  // bottom edge
    out.push_back({{0, 1, c, 1}, {0, 0, 1, 0}});       // top edge
  }
  for (int k = 1; k * kCropStep <= kMaxEdgeCrop + 1e-9; ++k) {
    const double c = k * kCropStep;
    for (const double side : {0.0, 1.0}) {  // right edge kept, left edge kept
      const double x0 = side * c, x1 = 1 - (1 - side) * c, dx0 = side, dx1 = side - 1;
      out.push_back({{x0, x1, 0, 1}, {dx0, dx1, 0, 0}});       // left or right edge
      out.push_back({{x0, x1, 0, 1 - c}, {dx0, dx1, 0, -1}});  // corners
      out.push_back({{x0, x1, c, 1}, {dx0, dx1, 1, 0}});
    }
  }
  return out;
}

// The slot coefficients read at one alignment. seen[s] is false for slots
// whose block lies (partly) outside the observed image, and for blocks that
// are flat: a region clipped to black or white (brightness pushed past the
// end of the range) has lost its mark and would only add noise to the vote.
struct Observation {
  std::vector<double> values;
  std::vector<uint8_t> seen;
  int seen_count = 0;
};

// Reads observations from one work image. The horizontal half of the
// resampling depends only on the x mapping, and the crop search visits many
// alignments that share one, so the last one is kept. Not thread-safe; one
// per trace.
class Observer {
 public:
  explicit Observer(const Plane* work) : work_(work) {}
  Observation Observe(const Alignment& a);

 private:
  const Plane* work_;
  double x0_ = -1, x1_ = -1;
  AxisMap dx_;
  Plane rows_;
};

Observation Observer::Observe(const Alignment& a) {
  if (a.x0 != x0_ || a.x1 != x1_) {
    x0_ = a.x0;
    x1_ = a.x1;
    dx_ = ToCanonical(work_->width, a.x0, a.x1);
    rows_ = ApplyRows(*work_, dx_);
  }
  const AxisMap dy = ToCanonical(work_->height, a.y0, a.y1);
  const Plane canon = ApplyColumns(rows_, dy);
  const AxisMap& dx = dx_;
  Observation o;
  o.values = Project(canon);
  o.seen.assign(kSlots, 0);
  constexpr int kSpan = 2 * kBlock;  // canonical pixels per block side
  for (int b = 0; b < kNumBlocks; ++b) {
    const int by = (b / kBlocksPerSide) * kSpan, bx = (b % kBlocksPerSide) * kSpan;
    bool inside = true;
    for (int i = 0; i < kSpan; ++i) {
      inside = inside && dx.valid[bx + i] && dy.valid[by + i];
    }
    if (!inside) {
      continue;
    }
    float lo = canon.Row(by)[bx], hi = lo;
    for (int i = 0; i < kSpan; ++i) {
      const float* row = canon.Row(by + i) + bx;
      for (int j = 0; j < kSpan; ++j) {
        lo = std::min(lo, row[j]);
        hi = std::max(hi, row[j]);
      }
    }
    if (hi - lo < 0.5f) {
      continue;
    }
    for (size_t f = 0; f < kFrequencies.size(); ++f) {
      o.seen[b * kFrequencies.size() + f] = 1;
    }
    o.seen_count += static_cast<int>(kFrequencies.size());
  }
  return o;
}

// How well the seen slots sit on the key's lattices, whatever bits they
// carry: the mean |Soft|, about 0.5 for an unmarked or misaligned image and
// near 1 for a marked one read at the right alignment. Used to rank
// alignments before any payload is decoded.
double LatticeScore(const Observation& o, const Layout& layout) {
  if (o.seen_count == 0) {
    return 0;
  }
  double sum = 0;
  for (int s = 0; s < kSlots; ++s) {
    if (o.seen[s]) {
      sum += std::fabs(Soft(o.values[s], layout.dither[s]));
    }
  }
  return sum / o.seen_count;
}

// The payload decoded at one alignment, and the fraction of seen slots whose
// hard bit agrees with its re-encoding.
struct Reading {
  Payload bits{};
  double agreement = 0;
};

Reading Read(const Observation& o, const Layout& layout) {
  std::array<double, kCodedBits> llr{};
  std::vector<double> soft(kSlots, 0.0);
  for (int s = 0; s < kSlots; ++s) {
    if (!o.seen[s]) {
      continue;
    }
    const double x = Soft(o.values[s], layout.dither[s]);
    soft[s] = layout.flip[s] ? -x : x;
    llr[layout.bit[s]] += soft[s];
  }
  Reading r;
  r.bits = Decode(llr);
  if (o.seen_count == 0) {
    return r;
  }
  const Codeword code = Encode(r.bits);
  int agree = 0;
  for (int s = 0; s < kSlots; ++s) {
    if (o.seen[s]) {
      agree += (code[layout.bit[s]] ? -soft[s] : soft[s]) > 0;
    }
  }
  r.agreement = static_cast<double>(agree) / o.seen_count;
  return r;
}

// True when the payload's tag verifies; *id is its generation id.
bool Verify(const Payload& bits, const WatermarkKey& key, uint64_t* id) {
  uint64_t v = 0;
  for (int i = 0; i < kIdBits; ++i) {
    v = (v << 1) | bits[i];
  }
  uint32_t tag = 0;
  for (int i = 0; i < kTagBits; ++i) {
    tag = (tag << 1) | bits[kIdBits + i];
  }
  const uint32_t want = Tag(key, v);
  uint8_t a[4], b[4];
  for (int i = 0; i < 4; ++i) {
    a[i] = static_cast<uint8_t>(tag >> (24 - 8 * i));
    b[i] = static_cast<uint8_t>(want >> (24 - 8 * i));
  }
  if (CRYPTO_memcmp(a, b, 4) != 0) {
    return false;
  }
  *id = v;
  return true;
}

Status CheckImage(const media::Image& image, const char* what) {
  if (image.width <= 0 || image.height <= 0) {
    return Status::InvalidArgument(std::string("cannot ") + what + " an empty image");
  }
  if (image.channels != 1 && image.channels != 3) {
    return Status::InvalidArgument(std::string("cannot ") + what + " an image with " +
                                   std::to_string(image.channels) + " channels; only grey and RGB");
  }
  if (image.pixels.size() != static_cast<uint64_t>(image.width) * image.height * image.channels) {
    return Status::InvalidArgument(std::string("cannot ") + what + ": the pixel buffer of a " +
                                   std::to_string(image.width) + "x" + std::to_string(image.height) +
                                   " image holds " + std::to_string(image.pixels.size()) + " bytes");
  }
  return Status::Ok();
}

// Writes in + up(delta) into *out's pixels, rounded and clamped, one row at a
// time. Adding the same change to R, G and B changes Y by exactly that
// change (the weights sum to 1) and leaves Cb and Cr as they were.
void ApplyDelta(const media::Image& in, const Plane& delta, const AxisMap& up_x, const AxisMap& up_y,
                media::Image* out) {
  std::vector<float> mid(kCanon), row(in.width);
  for (int y = 0; y < in.height; ++y) {
    std::fill(mid.begin(), mid.end(), 0.0f);
    for (int t = 0; t < up_y.count[y]; ++t) {
      const float w = up_y.weight[up_y.offset[y] + t];
      const float* src = delta.Row(up_y.first[y] + t);
      for (int i = 0; i < kCanon; ++i) {
        mid[i] += w * src[i];
      }
    }
    for (int x = 0; x < in.width; ++x) {
      float acc = 0;
      for (int t = 0; t < up_x.count[x]; ++t) {
        acc += up_x.weight[up_x.offset[x] + t] * mid[up_x.first[x] + t];
      }
      row[x] = acc;
    }
    const size_t base = static_cast<size_t>(y) * in.width * in.channels;
    for (int x = 0; x < in.width; ++x) {
      for (int c = 0; c < in.channels; ++c) {
        const size_t i = base + static_cast<size_t>(x) * in.channels + c;
        // Clamped first, so adding 0.5 and truncating rounds (and needs no
        // libm call per sample).
        const float v = std::clamp(in.pixels[i] + row[x], 0.0f, 255.0f);
        out->pixels[i] = static_cast<uint8_t>(v + 0.5f);  // NOLINT(bugprone-incorrect-roundings): v >= 0
      }
    }
  }
}

}  // namespace

Status ParseWatermarkKey(std::string_view hex, WatermarkKey* key) {
  if (hex.size() != 64) {
    return Status::InvalidArgument("a watermark key is 64 hexadecimal digits (32 bytes); got " +
                                   std::to_string(hex.size()) + " characters");
  }
  WatermarkKey parsed;
  for (size_t i = 0; i < 64; ++i) {
    const char c = hex[i];
    int v;
    if (c >= '0' && c <= '9') {
      v = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      v = c - 'a' + 10;
    } else if (c >= 'A' && c <= 'F') {
      v = c - 'A' + 10;
    } else {
      return Status::InvalidArgument("a watermark key is 64 hexadecimal digits; character " +
                                     std::to_string(i + 1) + " is not one");
    }
    parsed.bytes[i / 2] = static_cast<uint8_t>(parsed.bytes[i / 2] << 4 | v);
  }
  *key = parsed;
  return Status::Ok();
}

Status EmbedWatermark(const media::Image& in, uint64_t generation_id, const WatermarkKey& key,
                      media::Image* out) {
  Status s = CheckImage(in, "watermark");
  if (!s.ok()) {
    return s;
  }
  if (in.width < kWatermarkMinSide || in.height < kWatermarkMinSide) {
    return Status::InvalidArgument("cannot watermark a " + std::to_string(in.width) + "x" +
                                   std::to_string(in.height) + " image: both sides must be at least " +
                                   std::to_string(kWatermarkMinSide) + " pixels to carry the payload");
  }

  const Layout layout = MakeLayout(key);
  const Codeword code = Encode(MakePayload(generation_id, Tag(key, generation_id)));

  // The canonical grid as a trace sees it (work image, then canonical).
  const WorkMaps work_maps = MakeWorkMaps(in.width, in.height);
  const AxisMap down_x = ToCanonical(work_maps.x.out_size, 0, 1);
  const AxisMap down_y = ToCanonical(work_maps.y.out_size, 0, 1);
  const std::vector<double> base = Project(ApplySeparable(ReduceLuma(in, work_maps), down_x, down_y));

  std::vector<double> target(kSlots);
  for (int i = 0; i < kSlots; ++i) {
    const int bit = code[layout.bit[i]] ^ layout.flip[i];
    target[i] = Quantize(base[i], layout.dither[i], bit);
  }

  // The change is made on the canonical grid and interpolated up to the
  // image; reading it back goes down again. down(up(x)) is close to x but
  // not equal (interpolation, then averaging, blurs a little), so solve
  // down(up(x)) = wanted for the slots by a few Richardson steps, each
  // measured through the exact composed maps rather than assumed.
  const AxisMap up_x = Compose(FromCanonical(in.width), Smooth());
  const AxisMap up_y = Compose(FromCanonical(in.height), Smooth());
  const AxisMap round_x = Compose(down_x, Compose(work_maps.x, up_x));
  const AxisMap round_y = Compose(down_y, Compose(work_maps.y, up_y));
  Plane delta(kCanon, kCanon);
  std::vector<double> reached = base, step(kSlots);
  for (int iteration = 0; iteration < 4; ++iteration) {
    for (int i = 0; i < kSlots; ++i) {
      step[i] = target[i] - reached[i];
    }
    Synthesize(step, &delta);
    const std::vector<double> moved = Project(ApplySeparable(delta, round_x, round_y));
    for (int i = 0; i < kSlots; ++i) {
      reached[i] = base[i] + moved[i];
    }
  }

  media::Image marked;
  marked.width = in.width;
  marked.height = in.height;
  marked.channels = in.channels;
  marked.pixels.resize(in.pixels.size());
  marked.all_grey = in.all_grey;
  marked.source_width = in.width;
  marked.source_height = in.height;
  marked.format = in.format;
  ApplyDelta(in, delta, up_x, up_y, &marked);

  // Rounding to 8 bits and clipping at 0 and 255 move some slots off their
  // targets; one correction from the pixels actually written puts most of
  // them back (clipped ones cannot be, and soft voting absorbs them).
  const std::vector<double> got = Project(ApplySeparable(ReduceLuma(marked, work_maps), down_x, down_y));
  for (int i = 0; i < kSlots; ++i) {
    step[i] = target[i] - got[i];
  }
  Synthesize(step, &delta);
  ApplyDelta(in, delta, up_x, up_y, &marked);

  // Read the result back exactly as TraceWatermark first does, so that an
  // OK here promises a trace of the untouched output finds the id. It can
  // fail only for an image that is nearly all pure black or white (or flat):
  // there is no room there to move the luma.
  const Plane work = ReduceLuma(marked, work_maps);
  Observer observer(&work);
  const Observation check = observer.Observe(Alignment());
  uint64_t read_id = 0;
  if (check.seen_count < kMinSeen || !Verify(Read(check, layout).bits, key, &read_id) ||
      read_id != generation_id) {
    return Status::InvalidArgument(
        "cannot watermark this image: it is too flat, or too much of it is pure black or white, for the "
        "mark to be read back");
  }
  *out = std::move(marked);
  return Status::Ok();
}

Status TraceWatermark(const media::Image& image, const WatermarkKey& key, WatermarkTrace* out) {
  Status s = CheckImage(image, "trace");
  if (!s.ok()) {
    return s;
  }
  *out = WatermarkTrace();
  const Layout layout = MakeLayout(key);
  const Plane work = ReduceLuma(image, MakeWorkMaps(image.width, image.height));
  Observer observer(&work);

  auto attempt = [&](const Alignment& a, const Observation& o) {
    // Too little of the mark left to be worth a tag check (a flat image, or
    // one almost entirely clipped).
    if (o.seen_count < kMinSeen) {
      return false;
    }
    const Reading r = Read(o, layout);
    ++out->tags_checked;
    uint64_t id;
    if (!Verify(r.bits, key, &id)) {
      return false;
    }
    out->found = true;
    out->generation_id = id;
    out->confidence = r.agreement;
    out->left = a.x0;
    out->right = a.x1;
    out->top = a.y0;
    out->bottom = a.y1;
    return true;
  };

  // The image as it is: untouched, re-encoded, recoloured or resized.
  const Alignment identity;
  const Observation whole = observer.Observe(identity);
  out->confidence = Read(whole, layout).agreement;
  if (attempt(identity, whole)) {
    return Status::Ok();
  }

  // Crops. Rank every hypothesis by lattice score (no tag check), refine the
  // best few locally, and check only those: the number of tags checked, not
  // the number of alignments looked at, bounds the false-find rate.
  struct Candidate {
    double score;
    Hypothesis h;
  };
  std::vector<Candidate> ranked;
  for (const Hypothesis& h : CropHypotheses()) {
    ranked.push_back({LatticeScore(observer.Observe(h.a), layout), h});
  }
  const size_t keep = std::min<size_t>(kRefined, ranked.size());
  std::partial_sort(ranked.begin(), ranked.begin() + keep, ranked.end(),
                    [](const Candidate& p, const Candidate& q) { return p.score > q.score; });
  // A textured image reads right only within about a quarter of a canonical
  // pixel of the true alignment, finer than the grid: refine first along the
  // hypothesis' own family (the crop's size), then each side on its own.
  constexpr double kFine = kCropStep / 8;
  for (size_t i = 0; i < keep; ++i) {
    const Hypothesis& h = ranked[i].h;
    Alignment best = h.a;
    double best_score = ranked[i].score;
    auto consider = [&](const Alignment& a) {
      const double score = LatticeScore(observer.Observe(a), layout);
      if (score > best_score) {
        best_score = score;
        best = a;
      }
    };
    for (int j = -4; j <= 4; ++j) {
      if (j == 0) {
        continue;
      }
      const double d = j * kFine;
      consider({h.a.x0 + d * h.direction[0], h.a.x1 + d * h.direction[1], h.a.y0 + d * h.direction[2],
                h.a.y1 + d * h.direction[3]});
    }
    for (int round = 0; round < 2; ++round) {
      for (int param = 0; param < 4; ++param) {
        for (const double d : {-kFine, kFine}) {
          Alignment a = best;
          (param == 0 ? a.x0 : param == 1 ? a.x1 : param == 2 ? a.y0 : a.y1) += d;
          consider(a);
        }
      }
    }
    if (attempt(best, observer.Observe(best))) {
      return Status::Ok();
    }
  }
  return Status::Ok();
}

}  // namespace safeguard::guard
