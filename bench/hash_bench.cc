// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// Workloads:
//   filter-dct  PDQ filter + DCT on a 512x512 luma input (the part of the
//               hash that is ours, without decoding).
//   jpeg-1mp, jpeg-4mp, jpeg-12mp
//               synthetic JPEGs made from the largest benign photos: libjpeg-
//               turbo decode alone vs exact hash vs fast hash, single thread,
//               interleaved rounds, median ms per image; then images/s on all
//               cores.
//   corpus      every image in --corpus: exact and fast images/s on 1 thread
//               and all cores.
//   fast-distance
//               Hamming distance between fast and exact hashes over
//               --full-corpus (mean, p99, max).
//   memory      peak RSS after hashing 12 MP images on every core.

#include "hash_bench.h"

#include <sys/resource.h>

#include <cstddef>
#include <cstdio>
// jpeglib.h needs size_t and FILE declared first.
#include <jpeglib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <numeric>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "safeguard/hash/digest.h"
#include "safeguard/hash/image_hasher.h"
#include "safeguard/hash/pdq.h"
#include "safeguard/media/decode.h"

namespace safeguard::bench {
namespace {

using Clock = std::chrono::steady_clock;
using Bytes = std::vector<uint8_t>;

double Ms(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

// Baselines straight on libjpeg-turbo, default settings. Full: every row to
// RGB, the decode the exact hash cannot avoid (the baseline for "hashing adds
// at most 15%"). Entropy only: coefficients with no IDCT and no colour, the
// floor under any reduced-resolution decode and so the ceiling on --fast.
void DecodeBaseline(const Bytes& jpeg, bool entropy_only) {
  jpeg_decompress_struct cinfo;
  jpeg_error_mgr err;
  cinfo.err = jpeg_std_error(&err);
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, jpeg.data(), jpeg.size());
  jpeg_read_header(&cinfo, TRUE);
  if (entropy_only) {
    jpeg_read_coefficients(&cinfo);
  } else {
    cinfo.out_color_space = JCS_RGB;
    jpeg_start_decompress(&cinfo);
    std::vector<uint8_t> row(static_cast<size_t>(cinfo.output_width) * cinfo.output_components);
    JSAMPROW rows[1] = {row.data()};
    while (cinfo.output_scanline < cinfo.output_height) jpeg_read_scanlines(&cinfo, rows, 1);
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
}

Bytes EncodeJpeg(const std::vector<uint8_t>& rgb, int w, int h, int quality) {
  jpeg_compress_struct cinfo;
  jpeg_error_mgr err;
  cinfo.err = jpeg_std_error(&err);
  jpeg_create_compress(&cinfo);
  unsigned char* buf = nullptr;
  unsigned long size = 0;
  jpeg_mem_dest(&cinfo, &buf, &size);
  cinfo.image_width = w;
  cinfo.image_height = h;
  cinfo.input_components = 3;
  cinfo.in_color_space = JCS_RGB;
  jpeg_set_defaults(&cinfo);
  jpeg_set_quality(&cinfo, quality, TRUE);
  jpeg_start_compress(&cinfo, TRUE);
  while (cinfo.next_scanline < cinfo.image_height) {
    JSAMPROW row = const_cast<uint8_t*>(&rgb[static_cast<size_t>(cinfo.next_scanline) * w * 3]);
    jpeg_write_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_compress(&cinfo);
  Bytes out(buf, buf + size);
  free(buf);
  jpeg_destroy_compress(&cinfo);
  return out;
}

// Bilinear resize of an RGB image: only to make benchmark inputs.
std::vector<uint8_t> Resize(const media::Image& src, int w, int h) {
  std::vector<uint8_t> out(static_cast<size_t>(w) * h * 3);
  for (int y = 0; y < h; ++y) {
    const double fy = (y + 0.5) * src.height / h - 0.5;
    const int y0 = std::clamp(static_cast<int>(std::floor(fy)), 0, src.height - 1);
    const int y1 = std::min(y0 + 1, src.height - 1);
    const double wy = std::clamp(fy - y0, 0.0, 1.0);
    for (int x = 0; x < w; ++x) {
      const double fx = (x + 0.5) * src.width / w - 0.5;
      const int x0 = std::clamp(static_cast<int>(std::floor(fx)), 0, src.width - 1);
      const int x1 = std::min(x0 + 1, src.width - 1);
      const double wx = std::clamp(fx - x0, 0.0, 1.0);
      for (int c = 0; c < 3; ++c) {
        auto at = [&](int yy, int xx) {
          const size_t i = (static_cast<size_t>(yy) * src.width + xx) * src.channels;
          return static_cast<double>(src.pixels[i + (src.channels == 3 ? c : 0)]);
        };
        const double v = (1 - wy) * ((1 - wx) * at(y0, x0) + wx * at(y0, x1)) +
                         wy * ((1 - wx) * at(y1, x0) + wx * at(y1, x1));
        out[(static_cast<size_t>(y) * w + x) * 3 + c] =
            static_cast<uint8_t>(std::lround(std::clamp(v, 0.0, 255.0)));
      }
    }
  }
  return out;
}

std::vector<std::string> ListImages(const std::string& dir) {
  std::vector<std::string> out;
  if (dir.empty() || !std::filesystem::is_directory(dir)) return out;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<Bytes> LoadAll(const std::vector<std::string>& paths) {
  std::vector<Bytes> out;
  for (const auto& p : paths) {
    Bytes b;
    if (media::ReadFileBytes(p, 200u << 20, &b).ok()) out.push_back(std::move(b));
  }
  return out;
}

// Images per second hashing `files` on `threads` threads (each its own
// hasher), files taken from a shared counter.
double Throughput(const std::vector<Bytes>& files, int threads, bool fast, int repeat) {
  std::atomic<size_t> next{0};
  const size_t total = files.size() * repeat;
  const auto t0 = Clock::now();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      hash::HashOptions o;
      o.fast = fast;
      hash::ImageHasher hasher(o);
      hash::FileHashes h;
      for (size_t i = next++; i < total; i = next++) (void)hasher.HashBytes(files[i % files.size()], &h);
    });
  }
  for (auto& th : pool) th.join();
  return total / (Ms(t0, Clock::now()) / 1000.0);
}

long PeakRssKiB() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss;
}

struct Args {
  std::string corpus = "../shared/media/photos";
  std::string full_corpus;
  int rounds = 7;
  bool quick = false;
};

void BenchFilterDct(const Args& a) {
  std::mt19937 rng(1);
  std::vector<float> luma(512 * 512), work(512 * 512), scratch(pdq::ScratchFloats(512, 512));
  for (auto& v : luma) v = static_cast<float>(rng() % 256);
  pdq::Hash256 h;
  int q;
  std::vector<double> t;
  for (int r = 0; r < 200; ++r) {
    work = luma;
    const auto t0 = Clock::now();
    pdq::HashLuma(work.data(), scratch.data(), 512, 512, &h, &q, nullptr);
    t.push_back(Ms(t0, Clock::now()));
  }
  std::printf("workload=filter-dct input=512x512 p50_ms=%.3f min_ms=%.3f\n", Median(t),
              *std::min_element(t.begin(), t.end()));
}

void BenchJpegSizes(const Args& a, const std::vector<std::string>& sources) {
  // The four largest JPEGs of the corpus, resampled to each size.
  std::vector<std::pair<size_t, std::string>> bysize;
  for (const auto& p : sources) {
    std::error_code ec;
    Bytes head;
    if (!media::ReadFileBytes(p, 200u << 20, &head).ok() ||
        media::DetectFormat(head) != media::ImageFormat::kJpeg)
      continue;
    bysize.emplace_back(std::filesystem::file_size(p, ec), p);
  }
  std::sort(bysize.rbegin(), bysize.rend());
  if (bysize.size() > 4) bysize.resize(4);
  std::vector<media::Image> srcs;
  for (const auto& [size, p] : bysize) {
    Bytes b;
    media::Image img;
    if (media::ReadFileBytes(p, 200u << 20, &b).ok() &&
        media::DecodeImage(b, media::DecodeOptions(), &img).ok())
      srcs.push_back(std::move(img));
  }
  if (srcs.empty()) {
    std::printf("workload=jpeg-* skipped: no JPEG in the corpus\n");
    return;
  }
  const int hw = static_cast<int>(std::thread::hardware_concurrency());
  struct Size {
    const char* name;
    int w, h;
  };
  for (const Size& s :
       {Size{"jpeg-1mp", 1224, 816}, Size{"jpeg-4mp", 2448, 1632}, Size{"jpeg-12mp", 4240, 2832}}) {
    std::vector<Bytes> files;
    for (const auto& src : srcs) files.push_back(EncodeJpeg(Resize(src, s.w, s.h), s.w, s.h, 90));
    hash::HashOptions exact_o, fast_o;
    fast_o.fast = true;
    hash::ImageHasher exact(exact_o), fast(fast_o);
    hash::FileHashes h;
    std::vector<double> t_dec, t_exact, t_fast, t_entropy, t_digest;
    for (int r = -1; r < a.rounds; ++r) {  // round -1 is the warm-up
      for (const auto& f : files) {
        auto t0 = Clock::now();
        DecodeBaseline(f, /*entropy_only=*/false);
        auto t1 = Clock::now();
        (void)exact.HashBytes(f, &h);
        auto t2 = Clock::now();
        (void)fast.HashBytes(f, &h);
        auto t3 = Clock::now();
        DecodeBaseline(f, /*entropy_only=*/true);
        auto t4 = Clock::now();
        const auto md5 = hash::Md5(f);
        const auto sha = hash::Sha256(f);
        auto t5 = Clock::now();
        if (md5[0] == 0x100 || sha[0] == 0x100) std::printf("unreachable\n");
        if (r >= 0) {
          t_dec.push_back(Ms(t0, t1));
          t_exact.push_back(Ms(t1, t2));
          t_fast.push_back(Ms(t2, t3));
          t_entropy.push_back(Ms(t3, t4));
          t_digest.push_back(Ms(t4, t5));
        }
      }
    }
    const double dec = Median(t_dec), ex = Median(t_exact), fa = Median(t_fast), en = Median(t_entropy),
                 dg = Median(t_digest);
    // exact_ms and fast_ms are whole records (PDQ + MD5 + SHA-256); the PDQ
    // cost over decoding is reported without the digests.
    std::printf(
        "workload=%s size=%dx%d files=%zu rounds=%d decode_only_ms=%.2f exact_ms=%.2f fast_ms=%.2f "
        "digests_ms=%.2f entropy_only_ms=%.2f pdq_over_decode=%+.1f%% fast_speedup_vs_exact=%.2fx "
        "ceiling_exact_over_entropy=%.2fx\n",
        s.name, s.w, s.h, files.size(), a.rounds, dec, ex, fa, dg, en, 100.0 * (ex - dg - dec) / dec, ex / fa,
        ex / en);
    const int rep = s.w > 3000 ? 3 : 10;
    std::printf("workload=%s threads=1 exact_images_per_s=%.1f fast_images_per_s=%.1f\n", s.name,
                Throughput(files, 1, false, rep), Throughput(files, 1, true, rep));
    std::printf("workload=%s threads=%d exact_images_per_s=%.1f fast_images_per_s=%.1f\n", s.name, hw,
                Throughput(files, hw, false, rep), Throughput(files, hw, true, rep));
  }
  // Memory: the hashers above have run on 12 MP inputs on every core.
  std::printf(
      "workload=memory peak_rss_mib=%.1f (after 12 MP on %d threads; per-worker buffers are bounded by "
      "512x512 "
      "plus one row and the file)\n",
      PeakRssKiB() / 1024.0, hw);
}

void BenchCorpus(const Args& a, const std::vector<std::string>& paths, const char* name) {
  std::vector<Bytes> files = LoadAll(paths);
  if (files.empty()) return;
  const int hw = static_cast<int>(std::thread::hardware_concurrency());
  const int rep = a.quick ? 1 : 3;
  for (bool fast : {false, true}) {
    std::vector<double> one, all;
    for (int r = 0; r < (a.quick ? 1 : 3); ++r) {
      one.push_back(Throughput(files, 1, fast, rep));
      all.push_back(Throughput(files, hw, fast, rep));
    }
    std::printf("workload=%s files=%zu mode=%s threads=1 images_per_s=%.1f threads=%d images_per_s=%.1f\n",
                name, files.size(), fast ? "fast" : "exact", Median(one), hw, Median(all));
  }
}

void BenchFastDistance(const std::vector<std::string>& paths, const char* name) {
  hash::HashOptions fo;
  fo.fast = true;
  hash::ImageHasher exact, fast(fo);
  std::vector<int> all, jpeg;
  for (const auto& p : paths) {
    hash::FileHashes a, b;
    if (!exact.HashFile(p, &a).ok() || !fast.HashFile(p, &b).ok()) continue;
    const int d = a.pdq.hash.HammingDistance(b.pdq.hash);
    all.push_back(d);
    if (a.format == media::ImageFormat::kJpeg) jpeg.push_back(d);
  }
  for (auto* v : {&all, &jpeg}) {
    if (v->empty()) continue;
    std::sort(v->begin(), v->end());
    const double mean = std::accumulate(v->begin(), v->end(), 0.0) / v->size();
    const int p99 = (*v)[std::min(v->size() - 1, static_cast<size_t>(std::ceil(0.99 * v->size())) - 1)];
    std::printf("workload=fast-distance corpus=%s images=%s n=%zu mean_bits=%.2f p99_bits=%d max_bits=%d\n",
                name, v == &all ? "all" : "jpeg", v->size(), mean, p99, v->back());
  }
}

}  // namespace

int RunHashBench(int argc, char** argv) {
  Args a;
  for (int i = 0; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--corpus" && i + 1 < argc) {
      a.corpus = argv[++i];
    } else if (arg == "--full-corpus" && i + 1 < argc) {
      a.full_corpus = argv[++i];
    } else if (arg == "--rounds" && i + 1 < argc) {
      a.rounds = std::max(1, std::atoi(argv[++i]));
    } else if (arg == "--quick") {
      a.quick = true;
      a.rounds = 2;
    } else {
      std::fprintf(stderr, "safeguard-bench hash: unknown argument %s\n", arg.c_str());
      return 2;
    }
  }
  std::printf("# safeguard-bench hash: cores=%u rounds=%d\n", std::thread::hardware_concurrency(), a.rounds);
  BenchFilterDct(a);
  const auto corpus = ListImages(a.corpus);
  BenchJpegSizes(a, corpus);
  BenchCorpus(a, corpus, "corpus");
  BenchFastDistance(corpus, "shared-photos");
  if (!a.full_corpus.empty()) {
    const auto full = ListImages(a.full_corpus);
    BenchCorpus(a, full, "full-corpus");
    BenchFastDistance(full, "full-corpus");
  }
  return 0;
}

}  // namespace safeguard::bench
