// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// safeguard-bench watermark [--corpus DIR] [--limit N] [--seed S] [--verbose]
//
// Marks N photos of the corpus (default 100 of ../shared/media/photos, taken
// at an even stride over its sorted file list, skipping the few below
// kWatermarkMinSide), attacks each copy, traces it, and prints (results and
// the command in docs/watermark.md; --verbose adds a line per miss):
//   - per attack, how many marked copies were traced to the right id, how
//     many to a wrong id (must be 0), and the median confidence;
//   - false finds: the N unmarked originals traced under the key, and the N
//     marked copies traced under another key (must be 0 and 0);
//   - median and minimum PSNR of the marked images against the originals
//     (over all channels), median embed time and median time to trace an
//     unattacked marked copy per megapixel, and the median time to trace an
//     unmarked image (which always runs the whole crop search), one thread,
//     after one warm-up embed and trace.
// Attacks: JPEG q90/75/50 (media::EncodeJpeg, then media::DecodeImage);
// brightness +20/-20 on every channel, clamped; contrast x1.1 about mid-grey
// (not a goal: QIM reads absolute coefficient values); bilinear resize to 0.5x,
// 0.75x, 1.5x; centred crops removing 5%, 10%, 25% of the width and of the
// height (half from each edge); a corner crop keeping the top-left 90% x 90%;
// a resize that changes the aspect ratio (0.9x wide, 0.7x high); an uneven
// crop (3% left, 7% right, 5% top, 1% bottom: a shape the trace does not
// search); a 1 degree rotation (not searched either); and two pipelines,
// resize 0.5x then JPEG q75, and centred crop 10% then JPEG q75.

#include "watermark_bench.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "safeguard/guard/watermark.h"
#include "safeguard/media/decode.h"
#include "safeguard/media/encode.h"

namespace safeguard::bench {
namespace {

using Clock = std::chrono::steady_clock;

double Ms(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

double Median(std::vector<double> v) {
  if (v.empty()) {
    return 0;
  }
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

struct Args {
  std::string corpus = "../shared/media/photos";
  int limit = 100;
  uint64_t seed = 1;
  bool verbose = false;
};

std::vector<std::string> ListFiles(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    return out;
  }
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_regular_file(ec)) {
      out.push_back(it->path().string());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

double Psnr(const media::Image& a, const media::Image& b) {
  double se = 0;
  for (size_t i = 0; i < a.pixels.size(); ++i) {
    const double d = static_cast<double>(a.pixels[i]) - b.pixels[i];
    se += d * d;
  }
  const double mse = se / a.pixels.size();
  return mse == 0 ? 99.0 : 10 * std::log10(255.0 * 255.0 / mse);
}

media::Image Blank(int w, int h, int channels) {
  media::Image img;
  img.width = img.source_width = w;
  img.height = img.source_height = h;
  img.channels = channels;
  img.pixels.assign(static_cast<size_t>(w) * h * channels, 0);
  return img;
}

// Bilinear resampling to round(fx * width) x round(fy * height), sample
// centres aligned, no prefilter: what a simple resize in an upload pipeline
// does.
media::Image ResizeBilinear(const media::Image& in, double fx, double fy) {
  const int w = std::max(1, static_cast<int>(std::lround(in.width * fx)));
  const int h = std::max(1, static_cast<int>(std::lround(in.height * fy)));
  media::Image out = Blank(w, h, in.channels);
  const int c = in.channels;
  for (int y = 0; y < h; ++y) {
    const double sy = std::clamp((y + 0.5) * in.height / h - 0.5, 0.0, in.height - 1.0);
    const int y0 = std::min(static_cast<int>(sy), in.height - 1), y1 = std::min(y0 + 1, in.height - 1);
    const double wy = sy - y0;
    for (int x = 0; x < w; ++x) {
      const double sx = std::clamp((x + 0.5) * in.width / w - 0.5, 0.0, in.width - 1.0);
      const int x0 = std::min(static_cast<int>(sx), in.width - 1), x1 = std::min(x0 + 1, in.width - 1);
      const double wx = sx - x0;
      for (int k = 0; k < c; ++k) {
        auto at = [&](int yy, int xx) {
          return static_cast<double>(in.pixels[(static_cast<size_t>(yy) * in.width + xx) * c + k]);
        };
        const double v = (1 - wy) * ((1 - wx) * at(y0, x0) + wx * at(y0, x1)) +
                         wy * ((1 - wx) * at(y1, x0) + wx * at(y1, x1));
        out.pixels[(static_cast<size_t>(y) * w + x) * c + k] =
            static_cast<uint8_t>(std::clamp(std::lround(v), 0L, 255L));
      }
    }
  }
  return out;
}

// Keeps the rectangle [x0, x0 + w) x [y0, y0 + h).
media::Image Crop(const media::Image& in, int x0, int y0, int w, int h) {
  media::Image out = Blank(w, h, in.channels);
  const size_t row = static_cast<size_t>(w) * in.channels;
  for (int y = 0; y < h; ++y) {
    const uint8_t* src = in.pixels.data() + (static_cast<size_t>(y0 + y) * in.width + x0) * in.channels;
    std::copy(src, src + row, out.pixels.data() + static_cast<size_t>(y) * row);
  }
  return out;
}

// Removes `p` of the width and of the height, half from each edge.
media::Image CropCentre(const media::Image& in, double p) {
  const int w = static_cast<int>(std::lround(in.width * (1 - p)));
  const int h = static_cast<int>(std::lround(in.height * (1 - p)));
  return Crop(in, (in.width - w) / 2, (in.height - h) / 2, w, h);
}

media::Image CropCorner(const media::Image& in, double keep) {
  return Crop(in, 0, 0, static_cast<int>(std::lround(in.width * keep)),
              static_cast<int>(std::lround(in.height * keep)));
}

// Removes different amounts from each edge (fractions of the side): a crop
// shape the trace does not search.
media::Image CropUneven(const media::Image& in, double left, double right, double top, double bottom) {
  const int x0 = static_cast<int>(std::lround(in.width * left));
  const int y0 = static_cast<int>(std::lround(in.height * top));
  const int x1 = static_cast<int>(std::lround(in.width * (1 - right)));
  const int y1 = static_cast<int>(std::lround(in.height * (1 - bottom)));
  return Crop(in, x0, y0, x1 - x0, y1 - y0);
}

// Rotates by `degrees` about the centre (bilinear, same size, corners filled
// with the nearest edge pixel).
media::Image Rotate(const media::Image& in, double degrees) {
  media::Image out = Blank(in.width, in.height, in.channels);
  const double r = degrees * M_PI / 180, cs = std::cos(r), sn = std::sin(r);
  const double cx = in.width / 2.0, cy = in.height / 2.0;
  const int c = in.channels;
  for (int y = 0; y < in.height; ++y) {
    for (int x = 0; x < in.width; ++x) {
      const double dx = x + 0.5 - cx, dy = y + 0.5 - cy;
      const double sx = std::clamp(cs * dx + sn * dy + cx - 0.5, 0.0, in.width - 1.0);
      const double sy = std::clamp(-sn * dx + cs * dy + cy - 0.5, 0.0, in.height - 1.0);
      const int x0 = std::min(static_cast<int>(sx), in.width - 2 < 0 ? 0 : in.width - 2);
      const int y0 = std::min(static_cast<int>(sy), in.height - 2 < 0 ? 0 : in.height - 2);
      const double fx = sx - x0, fy = sy - y0;
      for (int k = 0; k < c; ++k) {
        auto at = [&](int yy, int xx) {
          return static_cast<double>(in.pixels[(static_cast<size_t>(yy) * in.width + xx) * c + k]);
        };
        const double v = (1 - fy) * ((1 - fx) * at(y0, x0) + fx * at(y0, x0 + 1)) +
                         fy * ((1 - fx) * at(y0 + 1, x0) + fx * at(y0 + 1, x0 + 1));
        out.pixels[(static_cast<size_t>(y) * in.width + x) * c + k] =
            static_cast<uint8_t>(std::clamp(std::lround(v), 0L, 255L));
      }
    }
  }
  return out;
}

media::Image Brightness(const media::Image& in, int delta) {
  media::Image out = in;
  for (auto& p : out.pixels) {
    p = static_cast<uint8_t>(std::clamp(p + delta, 0, 255));
  }
  return out;
}

// Scales every channel by `factor` about mid-grey (128), clamped.
media::Image Contrast(const media::Image& in, double factor) {
  media::Image out = in;
  for (auto& p : out.pixels) {
    p = static_cast<uint8_t>(std::clamp(std::lround(128 + (p - 128) * factor), 0L, 255L));
  }
  return out;
}

// JPEG through our encoder and decoder. An empty image on failure.
media::Image Jpeg(const media::Image& in, int quality) {
  std::string bytes;
  media::Image out;
  if (!media::EncodeJpeg(in, quality, &bytes).ok()) {
    return out;
  }
  const auto* p = reinterpret_cast<const uint8_t*>(bytes.data());
  if (!media::DecodeImage(std::span<const uint8_t>(p, bytes.size()), media::DecodeOptions(), &out).ok()) {
    return media::Image();
  }
  return out;
}

struct Attack {
  const char* name;
  std::function<media::Image(const media::Image&)> apply;
};

std::vector<Attack> Attacks() {
  return {
      {"none", [](const media::Image& m) { return m; }},
      {"jpeg-q90", [](const media::Image& m) { return Jpeg(m, 90); }},
      {"jpeg-q75", [](const media::Image& m) { return Jpeg(m, 75); }},
      {"jpeg-q50", [](const media::Image& m) { return Jpeg(m, 50); }},
      {"brightness+20", [](const media::Image& m) { return Brightness(m, 20); }},
      {"brightness-20", [](const media::Image& m) { return Brightness(m, -20); }},
      {"contrast-1.1x", [](const media::Image& m) { return Contrast(m, 1.1); }},
      {"resize-0.5x", [](const media::Image& m) { return ResizeBilinear(m, 0.5, 0.5); }},
      {"resize-0.75x", [](const media::Image& m) { return ResizeBilinear(m, 0.75, 0.75); }},
      {"resize-1.5x", [](const media::Image& m) { return ResizeBilinear(m, 1.5, 1.5); }},
      {"crop-centre-5%", [](const media::Image& m) { return CropCentre(m, 0.05); }},
      {"crop-centre-10%", [](const media::Image& m) { return CropCentre(m, 0.10); }},
      {"crop-centre-25%", [](const media::Image& m) { return CropCentre(m, 0.25); }},
      {"crop-corner-10%", [](const media::Image& m) { return CropCorner(m, 0.90); }},
      {"resize-0.9x0.7", [](const media::Image& m) { return ResizeBilinear(m, 0.9, 0.7); }},
      {"crop-uneven", [](const media::Image& m) { return CropUneven(m, 0.03, 0.07, 0.05, 0.01); }},
      {"rotate-1deg", [](const media::Image& m) { return Rotate(m, 1.0); }},
      {"resize-0.5x+jpeg-q75", [](const media::Image& m) { return Jpeg(ResizeBilinear(m, 0.5, 0.5), 75); }},
      {"crop-centre-10%+jpeg-q75", [](const media::Image& m) { return Jpeg(CropCentre(m, 0.10), 75); }},
  };
}

guard::WatermarkKey KeyFrom(uint64_t seed) {
  guard::WatermarkKey key;
  uint64_t x = seed;
  for (auto& b : key.bytes) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;  // Knuth's MMIX LCG
    b = static_cast<uint8_t>(x >> 56);
  }
  return key;
}

}  // namespace

int RunWatermarkBench(int argc, char** argv) {
  Args a;
  for (int i = 0; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--corpus" && i + 1 < argc) {
      a.corpus = argv[++i];
    } else if (arg == "--limit" && i + 1 < argc) {
      a.limit = static_cast<int>(std::strtol(argv[++i], nullptr, 10));
    } else if (arg == "--verbose") {
      a.verbose = true;
    } else if (arg == "--seed" && i + 1 < argc) {
      a.seed = std::strtoull(argv[++i], nullptr, 10);
    } else {
      std::fprintf(stderr,
                   "usage: safeguard-bench watermark [--corpus DIR] [--limit N] [--seed S] [--verbose]\n");
      return 2;
    }
  }
  const std::vector<std::string> files = ListFiles(a.corpus);
  if (files.empty() || a.limit <= 0) {
    std::fprintf(stderr, "watermark: no files under %s (or --limit < 1)\n", a.corpus.c_str());
    return 1;
  }
  const guard::WatermarkKey key = KeyFrom(a.seed), other_key = KeyFrom(a.seed + 1000);
  const std::vector<Attack> attacks = Attacks();

  struct Tally {
    int right = 0, wrong = 0, tried = 0;
    std::vector<double> confidence;
  };
  std::vector<Tally> tally(attacks.size());
  std::vector<double> psnr, embed_ms_per_mp, trace_ms_per_mp, unmarked_ms;
  bool warmed_up = false;
  int unmarked_finds = 0, other_key_finds = 0, marked = 0, too_small = 0, undecodable = 0;
  int max_tags = 0;

  // An even stride over the sorted list, so every package is represented.
  // Skipped files are replaced by the next files not yet taken.
  const size_t n = files.size();
  const size_t want = std::min<size_t>(n, a.limit);
  std::vector<size_t> order;
  std::vector<uint8_t> taken(n, 0);
  for (size_t i = 0; i < want; ++i) {
    order.push_back(i * n / want);
    taken[i * n / want] = 1;
  }
  for (size_t i = 0; i < n; ++i) {
    if (!taken[i]) {
      order.push_back(i);
    }
  }
  for (size_t index : order) {
    if (static_cast<size_t>(marked) >= want) {
      break;
    }
    std::vector<uint8_t> bytes;
    media::Image original;
    if (!media::ReadFileBytes(files[index], 200u << 20, &bytes).ok() ||
        !media::DecodeImage(bytes, media::DecodeOptions(), &original).ok()) {
      ++undecodable;
      continue;
    }
    if (original.width < guard::kWatermarkMinSide || original.height < guard::kWatermarkMinSide) {
      ++too_small;
      continue;
    }
    const uint64_t id = 0x5afe000000000000ULL + 7919ULL * index;
    const double mp = original.width * static_cast<double>(original.height) / 1e6;

    media::Image copy;
    guard::WatermarkTrace trace;
    if (!warmed_up) {  // page in code and tables before anything is timed
      (void)guard::EmbedWatermark(original, id, key, &copy);
      (void)guard::TraceWatermark(original, key, &trace);
      warmed_up = true;
    }
    auto t0 = Clock::now();
    if (!guard::EmbedWatermark(original, id, key, &copy).ok()) {
      std::fprintf(stderr, "watermark: embedding failed for %s\n", files[index].c_str());
      return 1;
    }
    auto t1 = Clock::now();
    embed_ms_per_mp.push_back(Ms(t0, t1) / mp);
    psnr.push_back(Psnr(original, copy));
    ++marked;

    t0 = Clock::now();
    (void)guard::TraceWatermark(original, key, &trace);
    unmarked_ms.push_back(Ms(t0, Clock::now()));
    unmarked_finds += trace.found;
    max_tags = std::max(max_tags, trace.tags_checked);
    (void)guard::TraceWatermark(copy, other_key, &trace);
    other_key_finds += trace.found;
    max_tags = std::max(max_tags, trace.tags_checked);

    for (size_t j = 0; j < attacks.size(); ++j) {
      const media::Image attacked = attacks[j].apply(copy);
      if (attacked.pixels.empty()) {
        continue;
      }
      t0 = Clock::now();
      (void)guard::TraceWatermark(attacked, key, &trace);
      t1 = Clock::now();
      if (j == 0) {
        trace_ms_per_mp.push_back(Ms(t0, t1) / mp);
      }
      ++tally[j].tried;
      if (trace.found && trace.generation_id == id) {
        ++tally[j].right;
      }
      if (trace.found && trace.generation_id != id) {
        ++tally[j].wrong;
      }
      tally[j].confidence.push_back(trace.confidence);
      if (a.verbose && !(trace.found && trace.generation_id == id)) {
        std::printf("missed attack=%s file=%s size=%dx%d confidence=%.3f\n", attacks[j].name,
                    files[index].c_str(), original.width, original.height, trace.confidence);
      }
      max_tags = std::max(max_tags, trace.tags_checked);
    }
  }

  std::printf("workload=watermark corpus=%s images=%d skipped_small=%d undecodable=%d\n", a.corpus.c_str(),
              marked, too_small, undecodable);
  std::printf("%-22s %9s %8s %6s %10s\n", "attack", "traced", "rate", "wrong", "median_conf");
  for (size_t j = 0; j < attacks.size(); ++j) {
    const Tally& t = tally[j];
    std::printf("%-22s %4d/%-4d %7.1f%% %6d %10.3f\n", attacks[j].name, t.right, t.tried,
                t.tried ? 100.0 * t.right / t.tried : 0.0, t.wrong, Median(t.confidence));
  }
  std::printf("false_finds unmarked=%d/%d other_key=%d/%d max_tags_checked=%d\n", unmarked_finds, marked,
              other_key_finds, marked, max_tags);
  std::printf("psnr_db median=%.2f min=%.2f\n", Median(psnr),
              psnr.empty() ? 0.0 : *std::min_element(psnr.begin(), psnr.end()));
  std::printf("ms_per_megapixel embed_median=%.1f trace_marked_median=%.1f (one thread)\n",
              Median(embed_ms_per_mp), Median(trace_ms_per_mp));
  std::printf("ms_per_image trace_unmarked_median=%.1f (full crop search, one thread)\n",
              Median(unmarked_ms));
  return 0;
}

}  // namespace safeguard::bench
