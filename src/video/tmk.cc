// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// TMK+PDQF. The .tmk bytes must equal the reference's, so every float is
// produced by the reference's sequence of operations in the reference's types:
// float accumulators, the cos/sin weights in double (so each weighted add is
// done in double and rounded back to float), norms as float sums of squares in
// index order, and no FMA contraction (the build passes -ffp-contract=off).
// The scores follow the reference's float arithmetic too, so that they can be
// compared with its output to the last printed digit.

#include "safeguard/video/tmk.h"

#include <bit>
#include <cmath>
#include <cstring>

#include "safeguard/hash/pdq.h"

namespace safeguard::video {
namespace {

// The reference's literal, not std::numbers::pi: identical double either way,
// but this keeps the expressions visibly the reference's.
constexpr double kPi = 3.14159265358979323846;

constexpr size_t kHeaderBytes = 32;
constexpr char kProjectMagic[4] = {'T', 'M', 'K', '1'};
constexpr char kFileTypeMagic[4] = {'F', 'V', 'E', 'C'};
constexpr char kPdqfMagic[4] = {'P', 'D', 'Q', 'F'};

// Poullot et al.'s periods (frames) and kernel coefficients, as the reference
// tabulates them. The coefficients are double literals rounded to float, as
// the reference's braced initialiser does; writing them as float literals
// could round differently (double rounding).
constexpr int32_t kPoullotPeriods[kTmkPeriodCount] = {2731, 4391, 9767, 14653};
constexpr double kPoullotCoefficients[kTmkCoefficientCount] = {
    0.0708041893112,   0.13937789309,     0.132897260304,    0.122765735552,    0.109878684888,
    0.09529606433,     0.0800986647852,   0.0652590650356,   0.0515478238322,   0.0394851531195,
    0.0293374252025,   0.0211492623679,   0.0147973073245,   0.0100512818746,   0.0066306408014,
    0.00424947117334,  0.0026467615764,   0.00160270959695,  0.000943882629639, 0.000540841638603,
    0.000301633183798, 0.000163800158855, 8.66454753015e-05, 4.46626303151e-05, 2.24429442235e-05,
    1.09982139799e-05, 5.25823487999e-06, 2.45358229988e-06, 1.11781474895e-06, 4.97406489221e-07,
    2.16265487234e-07, 9.19087006565e-08};

// The reference's computeNorm: a float sum of squares in index order.
float Norm(const float* v, int n) {
  float sum = 0.0f;
  for (int i = 0; i < n; ++i) sum += v[i] * v[i];
  return std::sqrt(sum);
}

// The reference's computeDot.
float Dot(const float* u, const float* v, int n) {
  float sum = 0.0f;
  for (int i = 0; i < n; ++i) sum += u[i] * v[i];
  return sum;
}

// The reference's L2NormalizeVector: a zero vector is left as it is.
void L2Normalize(float* v, int n) {
  const float norm = Norm(v, n);
  if (norm > 0.0f) {
    for (int i = 0; i < n; ++i) v[i] /= norm;
  }
}

// a_0 + 2 sum a_j, accumulated as the reference does (each step in double,
// stored back to float): the level-2 score of a video against itself.
float PairScoreNormalizer(const std::vector<float>& coefficients) {
  if (coefficients.empty()) return 1.0f;
  float normalizer = coefficients[0];
  for (size_t j = 1; j < coefficients.size(); ++j) {
    normalizer = static_cast<float>(normalizer + 2.0 * coefficients[j]);
  }
  return normalizer;
}

std::string Printable(const char* magic) {
  std::string s;
  for (int i = 0; i < 4; ++i) {
    const unsigned char c = static_cast<unsigned char>(magic[i]);
    s += (c >= 0x20 && c < 0x7f) ? static_cast<char>(c) : '?';
  }
  return s;
}

void PutU32(uint32_t v, std::string* out) {
  const char b[4] = {static_cast<char>(v), static_cast<char>(v >> 8), static_cast<char>(v >> 16),
                     static_cast<char>(v >> 24)};
  out->append(b, 4);
}

void PutI32(int32_t v, std::string* out) { PutU32(static_cast<uint32_t>(v), out); }

void PutFloats(const std::vector<float>& v, std::string* out) {
  for (float f : v) PutU32(std::bit_cast<uint32_t>(f), out);
}

uint32_t GetU32(const char* p) {
  const auto* b = reinterpret_cast<const unsigned char*>(p);
  return static_cast<uint32_t>(b[0]) | static_cast<uint32_t>(b[1]) << 8 | static_cast<uint32_t>(b[2]) << 16 |
         static_cast<uint32_t>(b[3]) << 24;
}

int32_t GetI32(const char* p) { return static_cast<int32_t>(GetU32(p)); }

// Reads n floats at *p, advancing it; refuses NaN and infinity, which no
// computation of ours produces and which would poison every score.
Status GetFloats(const char** p, size_t n, const char* what, std::vector<float>* out) {
  out->resize(n);
  for (size_t i = 0; i < n; ++i, *p += 4) {
    const float f = std::bit_cast<float>(GetU32(*p));
    if (!std::isfinite(f)) {
      return Status::Corrupt("TMK file has a NaN or infinite value in its " + std::string(what) + " (float " +
                             std::to_string(i) + ")");
    }
    (*out)[i] = f;
  }
  return Status::Ok();
}

// Why `f` is not well-formed (see tmk.h), or empty.
std::string Malformation(const TmkFeatures& f) {
  if (f.pure_average.size() != static_cast<size_t>(kTmkFeatureDim)) {
    return "pure average has " + std::to_string(f.pure_average.size()) + " floats, not " +
           std::to_string(kTmkFeatureDim);
  }
  if (f.periods.size() > static_cast<size_t>(kTmkMaxPeriodCount) ||
      f.coefficients.size() > static_cast<size_t>(kTmkMaxCoefficientCount)) {
    return "too many periods or coefficients";
  }
  const size_t n = f.periods.size() * f.coefficients.size() * kTmkFeatureDim;
  if (f.cos_features.size() != n || f.sin_features.size() != n) {
    return "cos/sin features have " + std::to_string(f.cos_features.size()) + "/" +
           std::to_string(f.sin_features.size()) + " floats, not " + std::to_string(n);
  }
  for (int32_t period : f.periods) {
    if (period < 1 || period > kTmkMaxPeriod) return "period " + std::to_string(period) + " is out of range";
  }
  return std::string();
}

// A score computed from values near the float limits (a hostile list entry:
// Parse accepts any finite float) can overflow to inf or NaN. NaN never
// passes a threshold, but inf would pass every one: both count as 0.
float Finite(float score) { return std::isfinite(score) ? score : 0.0f; }

}  // namespace

std::string TmkFeatures::Serialize() const {
  std::string out;
  const size_t floats = coefficients.size() + pure_average.size() + cos_features.size() + sin_features.size();
  out.reserve(kHeaderBytes + 4 * (periods.size() + floats));
  out.append(kProjectMagic, 4);
  out.append(kFileTypeMagic, 4);
  out.append(kPdqfMagic, 4);
  PutI32(frames_per_second, &out);
  PutI32(static_cast<int32_t>(periods.size()), &out);
  PutI32(static_cast<int32_t>(coefficients.size()), &out);
  PutI32(static_cast<int32_t>(pure_average.size()), &out);
  PutI32(frame_count, &out);
  for (int32_t p : periods) PutI32(p, &out);
  PutFloats(coefficients, &out);
  PutFloats(pure_average, &out);
  PutFloats(cos_features, &out);
  PutFloats(sin_features, &out);
  return out;
}

Status TmkFeatures::Parse(std::string_view bytes, TmkFeatures* out) {
  const char* b = bytes.data();
  if (bytes.size() < 4 || std::memcmp(b, kProjectMagic, 4) != 0) {
    return Status::UnsupportedFormat("not a TMK file: it does not start with \"TMK1\"");
  }
  if (bytes.size() < kHeaderBytes) {
    return Status::Corrupt("TMK file is " + std::to_string(bytes.size()) + " bytes, shorter than its " +
                           std::to_string(kHeaderBytes) + "-byte header (truncated)");
  }
  if (std::memcmp(b + 4, kFileTypeMagic, 4) != 0) {
    return Status::UnsupportedFormat("TMK file of type \"" + Printable(b + 4) +
                                     "\", not a feature-vector file (\"FVEC\", .tmk)");
  }
  if (std::memcmp(b + 8, kPdqfMagic, 4) != 0) {
    return Status::UnsupportedFormat("TMK file uses frame feature \"" + Printable(b + 8) +
                                     "\"; only \"PDQF\" (TMK+PDQF) is supported");
  }
  const int32_t fps = GetI32(b + 12);
  const int32_t num_periods = GetI32(b + 16);
  const int32_t num_coefficients = GetI32(b + 20);
  const int32_t dim = GetI32(b + 24);
  const int32_t frame_count = GetI32(b + 28);
  if (fps <= 0) return Status::Corrupt("TMK header: frames per second is " + std::to_string(fps));
  if (num_periods < 0 || num_periods > kTmkMaxPeriodCount) {
    return Status::Corrupt("TMK header: " + std::to_string(num_periods) + " periods (at most " +
                           std::to_string(kTmkMaxPeriodCount) + " accepted)");
  }
  if (num_coefficients < 0 || num_coefficients > kTmkMaxCoefficientCount) {
    return Status::Corrupt("TMK header: " + std::to_string(num_coefficients) +
                           " Fourier coefficients (at most " + std::to_string(kTmkMaxCoefficientCount) +
                           " accepted)");
  }
  if (dim != kTmkFeatureDim) {
    return Status::Corrupt("TMK header: PDQF features have " + std::to_string(kTmkFeatureDim) +
                           " dimensions, the header says " + std::to_string(dim));
  }
  if (frame_count < 0) return Status::Corrupt("TMK header: frame count is " + std::to_string(frame_count));

  // The limits above keep this far from overflow (at most ~134 MB); the
  // allocations below happen only once the bytes are known to be there.
  const size_t features = static_cast<size_t>(num_periods) * num_coefficients * dim;
  const size_t expected =
      kHeaderBytes + 4 * (static_cast<size_t>(num_periods) + num_coefficients + dim) + 2 * 4 * features;
  if (bytes.size() < expected) {
    return Status::Corrupt("TMK file is " + std::to_string(bytes.size()) + " bytes; its header needs " +
                           std::to_string(expected) + " (truncated)");
  }
  if (bytes.size() > expected) {
    return Status::Corrupt("TMK file is " + std::to_string(bytes.size()) + " bytes; its header needs " +
                           std::to_string(expected) + " (" + std::to_string(bytes.size() - expected) +
                           " trailing bytes)");
  }

  TmkFeatures f;
  f.frames_per_second = fps;
  f.frame_count = frame_count;
  const char* p = b + kHeaderBytes;
  f.periods.resize(num_periods);
  for (int i = 0; i < num_periods; ++i, p += 4) {
    const int32_t period = GetI32(p);
    if (period < 1 || period > kTmkMaxPeriod) {
      return Status::Corrupt("TMK file: period " + std::to_string(i) + " is " + std::to_string(period) +
                             " frames (accepted: 1 to " + std::to_string(kTmkMaxPeriod) + ")");
    }
    f.periods[i] = period;
  }
  Status s = GetFloats(&p, num_coefficients, "Fourier coefficients", &f.coefficients);
  if (!s.ok()) return s;
  for (int j = 0; j < num_coefficients; ++j) {
    // Kernel coefficients are positive; zeros would make the level-2
    // normaliser zero and the score infinite.
    if (!(f.coefficients[j] > 0.0f)) {
      return Status::Corrupt("TMK file: Fourier coefficient " + std::to_string(j) + " is " +
                             std::to_string(f.coefficients[j]) + "; coefficients must be positive");
    }
  }
  s = GetFloats(&p, dim, "pure-average feature", &f.pure_average);
  if (!s.ok()) return s;
  s = GetFloats(&p, features, "cosine features", &f.cos_features);
  if (!s.ok()) return s;
  s = GetFloats(&p, features, "sine features", &f.sin_features);
  if (!s.ok()) return s;
  *out = std::move(f);
  return Status::Ok();
}

Status TmkCompatible(const TmkFeatures& a, const TmkFeatures& b) {
  std::string why = Malformation(a);
  if (!why.empty()) return Status::InvalidArgument("first TMK features are malformed: " + why);
  why = Malformation(b);
  if (!why.empty()) return Status::InvalidArgument("second TMK features are malformed: " + why);
  if (a.frames_per_second != b.frames_per_second) {
    return Status::InvalidArgument("TMK features at " + std::to_string(a.frames_per_second) + " and " +
                                   std::to_string(b.frames_per_second) +
                                   " frames per second cannot be compared");
  }
  if (a.periods.size() != b.periods.size()) {
    return Status::InvalidArgument("TMK features with " + std::to_string(a.periods.size()) + " and " +
                                   std::to_string(b.periods.size()) + " periods cannot be compared");
  }
  for (size_t i = 0; i < a.periods.size(); ++i) {
    if (a.periods[i] != b.periods[i]) {
      return Status::InvalidArgument("TMK period " + std::to_string(i) + " differs (" +
                                     std::to_string(a.periods[i]) + " vs " + std::to_string(b.periods[i]) +
                                     ")");
    }
  }
  if (a.coefficients.size() != b.coefficients.size()) {
    return Status::InvalidArgument("TMK features with " + std::to_string(a.coefficients.size()) + " and " +
                                   std::to_string(b.coefficients.size()) +
                                   " Fourier coefficients cannot be compared");
  }
  for (size_t j = 0; j < a.coefficients.size(); ++j) {
    // The reference's tolerance, evaluated in its float arithmetic.
    const float ca = a.coefficients[j], cb = b.coefficients[j];
    const float m = std::fmax(std::fabs(ca), std::fabs(cb));
    if (m > 0) {
      const float relerr = std::fabs((ca - cb) / m);
      if (relerr > 1e-6) {
        return Status::InvalidArgument("TMK Fourier coefficient " + std::to_string(j) + " differs (" +
                                       std::to_string(ca) + " vs " + std::to_string(cb) + ")");
      }
    }
  }
  // Both have kTmkFeatureDim (well-formed), so dimensions agree.
  return Status::Ok();
}

float TmkLevel1Score(const TmkFeatures& a, const TmkFeatures& b) {
  if (!TmkCompatible(a, b).ok()) return 0.0f;
  const float na = Norm(a.pure_average.data(), kTmkFeatureDim);
  const float nb = Norm(b.pure_average.data(), kTmkFeatureDim);
  if (na == 0.0f || nb == 0.0f) return 0.0f;
  return Finite(Dot(a.pure_average.data(), b.pure_average.data(), kTmkFeatureDim) / (na * nb));
}

float TmkLevel2Score(const TmkFeatures& a, const TmkFeatures& b) {
  if (!TmkCompatible(a, b).ok()) return 0.0f;
  const int num_periods = static_cast<int>(a.periods.size());
  const int num_coefficients = static_cast<int>(a.coefficients.size());
  if (num_periods == 0 || num_coefficients == 0) return 0.0f;

  // Per (period, j): u_c.v_c + u_s.v_s and u_s.v_c - u_c.v_s, each dot a float
  // sum and the combination a float add, as the reference forms them; and
  // u_c.v_c alone for j = 0, where the reference starts K_delta.
  std::vector<float> even(static_cast<size_t>(num_periods) * num_coefficients);
  std::vector<float> odd(even.size());
  std::vector<float> cos_cos0(num_periods);
  for (int i = 0; i < num_periods; ++i) {
    for (int j = 0; j < num_coefficients; ++j) {
      const size_t at = static_cast<size_t>(i) * num_coefficients + j;
      const float* ac = &a.cos_features[at * kTmkFeatureDim];
      const float* as = &a.sin_features[at * kTmkFeatureDim];
      const float* bc = &b.cos_features[at * kTmkFeatureDim];
      const float* bs = &b.sin_features[at * kTmkFeatureDim];
      const float cos_cos = Dot(ac, bc, kTmkFeatureDim);
      const float sin_sin = Dot(as, bs, kTmkFeatureDim);
      const float sin_cos = Dot(as, bc, kTmkFeatureDim);
      const float cos_sin = Dot(ac, bs, kTmkFeatureDim);
      even[at] = cos_cos + sin_sin;
      odd[at] = sin_cos - cos_sin;
      if (j == 0) cos_cos0[i] = cos_cos;
    }
  }

  float best = 0.0f;
  for (int i = 0; i < num_periods; ++i) {
    const float* e = &even[static_cast<size_t>(i) * num_coefficients];
    const float* o = &odd[static_cast<size_t>(i) * num_coefficients];
    const int period = a.periods[i];
    // K_delta at offset 0 is a candidate even when everything is negative;
    // later offsets replace it only when strictly larger (the reference).
    float period_best = 0.0f;
    for (int offset = 0; offset < period; ++offset) {
      const float delta =
          static_cast<float>(2.0 * kPi * static_cast<float>(offset) / static_cast<float>(period));
      // The reference steps cos(j delta), sin(j delta) by the angle-addition
      // recurrence in float (with 1 - cos(delta) as 2 sin^2(delta / 2) for
      // precision). sin() is the double libm function on float arguments,
      // as the unqualified call resolves in the reference.
      const float beta = static_cast<float>(std::sin(static_cast<double>(delta)));
      float alpha = static_cast<float>(std::sin(static_cast<double>(delta / 2)));
      alpha = 2 * alpha * alpha;
      float cos_jd = 1.0f;
      float sin_jd = 0.0f;
      float k_delta = cos_cos0[i];
      for (int j = 1; j < num_coefficients; ++j) {
        const float next_cos = (alpha * cos_jd) + (beta * sin_jd);
        const float next_sin = (alpha * sin_jd) - (beta * cos_jd);
        cos_jd -= next_cos;
        sin_jd -= next_sin;
        k_delta += cos_jd * e[j];
        k_delta += sin_jd * o[j];
      }
      if (offset == 0 || k_delta > period_best) period_best = k_delta;
    }
    if (i == 0 || best < period_best) best = period_best;
  }
  return Finite(best / PairScoreNormalizer(a.coefficients));
}

TmkBuilder::TmkBuilder() { Reset(); }

void TmkBuilder::Reset() {
  frame_count_ = 0;
  periods_.assign(kPoullotPeriods, kPoullotPeriods + kTmkPeriodCount);
  coefficients_.resize(kTmkCoefficientCount);
  for (int j = 0; j < kTmkCoefficientCount; ++j)
    coefficients_[j] = static_cast<float>(kPoullotCoefficients[j]);
  const size_t n = static_cast<size_t>(kTmkPeriodCount) * kTmkCoefficientCount * kTmkFeatureDim;
  sum_.assign(kTmkFeatureDim, 0.0f);
  cos_.assign(n, 0.0f);
  sin_.assign(n, 0.0f);
  luma_.resize(static_cast<size_t>(kTmkFrameDim) * kTmkFrameDim);
  scratch_.resize(pdq::ScratchFloats(kTmkFrameDim, kTmkFrameDim));
}

void TmkBuilder::AddFrame(const uint8_t* rgb) {
  pdq::LumaFromRgb(rgb, kTmkFrameDim, kTmkFrameDim, luma_.data());
  float feature[16][16];
  int quality;
  pdq::FloatHashLuma(luma_.data(), scratch_.data(), kTmkFrameDim, kTmkFrameDim, feature, &quality);
  AddFeature(&feature[0][0]);
}

void TmkBuilder::AddFeature(const float* feature) {
  for (int k = 0; k < kTmkFeatureDim; ++k) sum_[k] += feature[k];
  float unit[kTmkFeatureDim];
  std::memcpy(unit, feature, sizeof(unit));
  L2Normalize(unit, kTmkFeatureDim);

  const int t = frame_count_;
  for (int i = 0; i < kTmkPeriodCount; ++i) {
    const int period = periods_[i];
    float* c0 = &cos_[static_cast<size_t>(i) * kTmkCoefficientCount * kTmkFeatureDim];
    for (int k = 0; k < kTmkFeatureDim; ++k) c0[k] += unit[k];
    for (int j = 1; j < kTmkCoefficientCount; ++j) {
      // The angle is formed left to right in double, as in the reference;
      // each weighted add is then done in double and rounded to float.
      const double arg =
          2.0 * kPi * static_cast<double>(j) * static_cast<double>(t) / static_cast<double>(period);
      const double w_cos = std::cos(arg);
      const double w_sin = std::sin(arg);
      const size_t at = (static_cast<size_t>(i) * kTmkCoefficientCount + j) * kTmkFeatureDim;
      float* c = &cos_[at];
      float* s = &sin_[at];
      for (int k = 0; k < kTmkFeatureDim; ++k) {
        c[k] = static_cast<float>(c[k] + unit[k] * w_cos);
        s[k] = static_cast<float>(s[k] + unit[k] * w_sin);
      }
    }
  }
  ++frame_count_;
}

TmkFeatures TmkBuilder::Finish() {
  TmkFeatures f;
  f.frames_per_second = kTmkFramesPerSecond;
  f.frame_count = frame_count_;
  f.periods = periods_;
  f.coefficients = coefficients_;
  f.pure_average = std::move(sum_);
  f.cos_features = std::move(cos_);
  f.sin_features = std::move(sin_);
  // With no frames the reference writes its zero-initialised accumulators
  // unchanged.
  if (frame_count_ > 0) {
    for (float& v : f.pure_average) v /= static_cast<float>(frame_count_);
    for (int i = 0; i < kTmkPeriodCount; ++i) {
      for (int j = 0; j < kTmkCoefficientCount; ++j) {
        const size_t at = (static_cast<size_t>(i) * kTmkCoefficientCount + j) * kTmkFeatureDim;
        float* c = &f.cos_features[at];
        float* s = &f.sin_features[at];
        L2Normalize(c, kTmkFeatureDim);
        L2Normalize(s, kTmkFeatureDim);
        const float scale = std::sqrt(f.coefficients[j]);
        for (int k = 0; k < kTmkFeatureDim; ++k) c[k] *= scale;
        for (int k = 0; k < kTmkFeatureDim; ++k) s[k] *= scale;
      }
    }
  }
  Reset();
  return f;
}

}  // namespace safeguard::video
