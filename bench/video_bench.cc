// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// safeguard-bench video [--videos DIR|FILE,FILE...] [--synthetic SECONDS]
//                       [--work DIR] [--photos DIR] [--preset P] [--grain G]
//                       [--runs N]
//
// Workloads, per input video, all on one thread pinned to one core:
//   vpdq-1fps-skip  HashVideoVpdq, one frame a second, skip_unneeded=true
//                   (the path banks and the service use).
//   vpdq-1fps-full  the same with skip_unneeded=false: every frame decoded.
//   vpdq-every      every frame hashed, as the reference's expected files
//                   (the shared videos only).
//   tmk             DecodeTmkFrames, TmkBuilder::AddFrame for every 64x64
//                   frame, Finish.
//   decode-alone    bench/decode_alone.h for each vPDQ workload: the same
//                   decoding straight on FFmpeg, with the RGB conversion timed
//                   apart, to split the library's one "decode" stage.
// Inputs: the shared videos, and synthetic H.264 clips of --synthetic
// seconds at 1920x1080 and 1280x720, 30 fps (bench/synthetic_video.h),
// generated once into --work; --grain adds camera-like noise (a higher,
// more realistic bitrate). One warm-up round, then --runs rounds, each
// running every workload once; each figure is the median over the rounds
// (figures are medians apart, so parts need not add up exactly).

#include "video_bench.h"

#include <sched.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <system_error>
#include <vector>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavutil/avutil.h>
}

#include "decode_alone.h"
#include "safeguard/video/tmk.h"
#include "safeguard/video/video_decoder.h"
#include "safeguard/video/video_hasher.h"
#include "safeguard/video/vpdq.h"
#include "synthetic_video.h"

namespace safeguard::bench {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using video::VideoInfo;
using video::VideoInput;

double Since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

struct Options {
  std::string videos = "../shared/video-vectors/videos";
  int synthetic_seconds = 120;
  std::string work = "/tmp/safeguard-video-bench";
  std::string photos = "../shared/media/photos";
  std::string preset = "medium";
  int grain = 0;
  int runs = 3;
};

struct Input {
  std::string name;
  std::string path;
  bool synthetic = false;
  std::string note;  // how a synthetic clip was made
};

// Medians per named figure over the measured rounds.
struct Figures {
  std::map<std::string, std::vector<double>> values;
  void Add(const std::string& key, double v) { values[key].push_back(v); }
  double Med(const std::string& key) const {
    auto it = values.find(key);
    return it == values.end() ? 0 : Median(it->second);
  }
};

// Counts are the same in every round; the last round's are kept.
struct Counts {
  VideoInfo skip, full, every, tmk;
  DecodeAloneResult alone_skip, alone_full, alone_every;
  int64_t tmk_frames = 0;
  // vpdq-1fps-skip against vpdq-1fps-full, per one-second slot.
  int fidelity_slots = 0;
  int fidelity_missing = 0;
  int fidelity_other_frame = 0;
  int fidelity_max_distance = 0;
};

struct Result {
  Input input;
  Figures f;
  Counts c;
  long long bytes = 0;
};

std::vector<Input> ListVideos(const std::string& arg) {
  std::vector<Input> out;
  if (arg.empty()) return out;
  std::error_code ec;
  std::vector<std::string> paths;
  if (fs::is_directory(arg, ec)) {
    for (const auto& e : fs::directory_iterator(arg, ec)) {
      const std::string ext = e.path().extension().string();
      if (e.is_regular_file() && (ext == ".mp4" || ext == ".mov" || ext == ".mkv" || ext == ".webm")) {
        paths.push_back(e.path().string());
      }
    }
    std::sort(paths.begin(), paths.end());
  } else {
    size_t start = 0;
    while (start <= arg.size()) {
      const size_t comma = arg.find(',', start);
      const std::string p = arg.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      if (!p.empty()) paths.push_back(p);
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }
  for (const std::string& p : paths) out.push_back(Input{fs::path(p).filename().string(), p, false, ""});
  return out;
}

// The benchmark only prints failures, so the code is not kept.
Status Fail(const Input& in, const char* workload, const Status& s) {
  return Status::Internal(in.name + " " + workload + ": " + s.ToString());
}

// Compares the fast path's samples with the full decode's, slot by slot
// (slot = the whole second the sample stands for).
void CompareFastWithFull(const std::vector<video::VpdqFrame>& fast, const std::vector<video::VpdqFrame>& full,
                         Counts* c) {
  std::map<long long, const video::VpdqFrame*> by_slot;
  for (const video::VpdqFrame& f : full) by_slot.emplace(std::llround(std::floor(f.timestamp + 1e-6)), &f);
  c->fidelity_slots = static_cast<int>(full.size());
  c->fidelity_missing = c->fidelity_other_frame = c->fidelity_max_distance = 0;
  int found = 0;
  for (const video::VpdqFrame& f : fast) {
    auto it = by_slot.find(std::llround(std::floor(f.timestamp + 1e-6)));
    if (it == by_slot.end()) continue;
    ++found;
    if (it->second->index != f.index) ++c->fidelity_other_frame;
    c->fidelity_max_distance = std::max(c->fidelity_max_distance, f.hash.HammingDistance(it->second->hash));
  }
  c->fidelity_missing = c->fidelity_slots - found;
}

Status RunVpdq(const Input& in, double step, bool skip, const char* key, Figures* f, VideoInfo* info,
               std::vector<video::VpdqFrame>* frames) {
  video::VpdqOptions o;
  o.seconds_between_frames = step;
  o.skip_unneeded = skip;
  video::VpdqTimings t;
  const Clock::time_point t0 = Clock::now();
  Status s = video::HashVideoVpdq(VideoInput::File(in.path), o, video::VideoLimits(), frames, info, &t);
  const double wall = Since(t0);
  if (!s.ok()) return Fail(in, key, s);
  const std::string k = key;
  f->Add(k + ".wall", wall);
  f->Add(k + ".decode", t.decode);
  f->Add(k + ".hash", t.hash);
  return Status::Ok();
}

Status RunAlone(const Input& in, double step, bool skip, const char* key, Figures* f, DecodeAloneResult* r) {
  Status s = DecodeAlone(in.path, step, skip, /*convert=*/true, r);
  if (!s.ok()) return Fail(in, key, s);
  const std::string k = key;
  f->Add(k + ".decode", r->decode_seconds);
  f->Add(k + ".convert", r->convert_seconds);
  return Status::Ok();
}

Status RunTmk(const Input& in, Figures* f, Counts* c) {
  video::TmkBuilder builder;
  double feature = 0;
  const Clock::time_point t0 = Clock::now();
  Status s = video::DecodeTmkFrames(
      VideoInput::File(in.path), video::VideoLimits(),
      [&](const uint8_t* rgb) {
        const Clock::time_point a = Clock::now();
        builder.AddFrame(rgb);
        feature += Since(a);
        return Status::Ok();
      },
      &c->tmk);
  if (!s.ok()) return Fail(in, "tmk", s);
  const Clock::time_point a = Clock::now();
  const video::TmkFeatures features = builder.Finish();
  feature += Since(a);
  const double wall = Since(t0);
  c->tmk_frames = features.frame_count;
  f->Add("tmk.wall", wall);
  f->Add("tmk.feature", feature);
  f->Add("tmk.decode_scale", wall - feature);
  return Status::Ok();
}

Status RunRound(const Input& in, bool record, Result* r) {
  Figures scratch;
  Figures* f = record ? &r->f : &scratch;
  Counts& c = r->c;
  std::vector<video::VpdqFrame> fast, full, every;
  Status s = RunVpdq(in, 1.0, true, "skip", f, &c.skip, &fast);
  if (s.ok()) s = RunAlone(in, 1.0, true, "alone_skip", f, &c.alone_skip);
  if (s.ok()) s = RunVpdq(in, 1.0, false, "full", f, &c.full, &full);
  if (s.ok()) s = RunAlone(in, 1.0, false, "alone_full", f, &c.alone_full);
  if (s.ok() && !in.synthetic) s = RunVpdq(in, 0, false, "every", f, &c.every, &every);
  if (s.ok() && !in.synthetic) s = RunAlone(in, 0, false, "alone_every", f, &c.alone_every);
  if (s.ok()) s = RunTmk(in, f, &c);
  if (!s.ok()) return s;
  CompareFastWithFull(fast, full, &c);
  return Status::Ok();
}

double Duration(const Result& r) { return r.c.full.duration_seconds; }

std::string Size(const VideoInfo& i) { return std::to_string(i.width) + "x" + std::to_string(i.height); }

std::string Label(const Result& r) { return r.input.synthetic ? "**" + r.input.name + "**" : r.input.name; }

// Sums of medians over the shared videos, printed as one more row.
struct Totals {
  int count = 0;
  double duration = 0;
  int64_t frames = 0, decoded = 0, tmk_frames = 0;
  std::map<std::string, double> sums;
  void Add(const Result& r) {
    ++count;
    duration += Duration(r);
    frames += r.c.full.frames_decoded;
    tmk_frames += r.c.tmk_frames;
    for (const auto& [k, v] : r.f.values) sums[k] += Median(v);
  }
  double Get(const std::string& k) const {
    auto it = sums.find(k);
    return it == sums.end() ? 0 : it->second;
  }
};

void PrintVpdqRow(const std::string& label, const std::string& size, double duration, const char* path,
                  int64_t decoded, int64_t frames, int64_t hashed, double alone_decode, double alone_convert,
                  double lib_decode, double hash, double wall) {
  std::printf(
      "| %s | %s | %.1f | %s | %lld / %lld (%.0f%%) | %lld | %.3f | %.3f | %.3f | %.3f | %.3f | **%.1fx** "
      "|\n",
      label.c_str(), size.c_str(), duration, path, static_cast<long long>(decoded),
      static_cast<long long>(frames), frames > 0 ? 100.0 * decoded / frames : 0.0,
      static_cast<long long>(hashed), alone_decode, alone_convert, lib_decode, hash, wall,
      wall > 0 ? duration / wall : 0.0);
}

void PrintTables(const std::vector<Result>& results) {
  Totals shared;
  for (const Result& r : results) {
    if (!r.input.synthetic) shared.Add(r);
  }
  const std::string shared_label = "all " + std::to_string(shared.count) + " shared videos";

  std::printf("\n### Inputs\n\n");
  std::printf("| video | codec | size | fps | duration s | frames | I / P / B | MB | Mbit/s |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|\n");
  for (const Result& r : results) {
    const VideoInfo& i = r.c.full;
    const DecodeAloneResult& a = r.c.alone_full;
    std::printf("| %s | %s | %s | %.2f | %.2f | %lld | %lld / %lld / %lld | %.1f | %.2f |\n",
                Label(r).c_str(), i.codec.c_str(), Size(i).c_str(), i.frame_rate, Duration(r),
                static_cast<long long>(i.frames_decoded), static_cast<long long>(a.i_frames),
                static_cast<long long>(a.p_frames), static_cast<long long>(a.b_frames), r.bytes / 1e6,
                Duration(r) > 0 ? r.bytes * 8 / 1e6 / Duration(r) : 0.0);
  }
  for (const Result& r : results) {
    if (r.input.synthetic && !r.input.note.empty())
      std::printf("\n%s: %s\n", r.input.name.c_str(), r.input.note.c_str());
  }

  std::printf("\n### vPDQ, one frame a second (median seconds per video)\n\n");
  std::printf(
      "| video | size | duration s | path | frames decoded / in video | frames hashed | decode alone | "
      "convert to RGB | library decode stage | hash | **wall** | **x real time** |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  for (int pass = 0; pass < 2; ++pass) {
    const bool skip = pass == 0;
    const char* k = skip ? "skip" : "full";
    const std::string a = skip ? "alone_skip" : "alone_full";
    const char* path = skip ? "skip" : "full";
    for (const Result& r : results) {
      const VideoInfo& i = skip ? r.c.skip : r.c.full;
      PrintVpdqRow(Label(r), Size(i), Duration(r), path, i.frames_decoded, r.c.full.frames_decoded,
                   i.frames_output, r.f.Med(a + ".decode"), r.f.Med(a + ".convert"),
                   r.f.Med(std::string(k) + ".decode"), r.f.Med(std::string(k) + ".hash"),
                   r.f.Med(std::string(k) + ".wall"));
    }
    if (shared.count > 0) {
      int64_t decoded = 0, hashed = 0;
      for (const Result& r : results) {
        if (r.input.synthetic) continue;
        decoded += (skip ? r.c.skip : r.c.full).frames_decoded;
        hashed += (skip ? r.c.skip : r.c.full).frames_output;
      }
      PrintVpdqRow(shared_label, "-", shared.duration, path, decoded, shared.frames, hashed,
                   shared.Get(a + ".decode"), shared.Get(a + ".convert"),
                   shared.Get(std::string(k) + ".decode"), shared.Get(std::string(k) + ".hash"),
                   shared.Get(std::string(k) + ".wall"));
    }
  }

  if (shared.count > 0) {
    std::printf("\n### vPDQ, every frame (shared videos; median seconds per video)\n\n");
    std::printf(
        "| video | size | duration s | path | frames decoded / in video | frames hashed | decode alone | "
        "convert to RGB | library decode stage | hash | **wall** | **x real time** |\n");
    std::printf("|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for (const Result& r : results) {
      if (r.input.synthetic) continue;
      const VideoInfo& i = r.c.every;
      PrintVpdqRow(Label(r), Size(i), Duration(r), "every", i.frames_decoded, r.c.full.frames_decoded,
                   i.frames_output, r.f.Med("alone_every.decode"), r.f.Med("alone_every.convert"),
                   r.f.Med("every.decode"), r.f.Med("every.hash"), r.f.Med("every.wall"));
    }
    int64_t hashed = 0;
    for (const Result& r : results) {
      if (!r.input.synthetic) hashed += r.c.every.frames_output;
    }
    PrintVpdqRow(shared_label, "-", shared.duration, "every", shared.frames, shared.frames, hashed,
                 shared.Get("alone_every.decode"), shared.Get("alone_every.convert"),
                 shared.Get("every.decode"), shared.Get("every.hash"), shared.Get("every.wall"));
  }

  std::printf("\n### TMK+PDQF (median seconds per video)\n\n");
  std::printf(
      "| video | duration s | frames in video | 64x64 frames (15 fps) | decode alone | scale + resample "
      "(difference) | library decode+scale | features (AddFrame + Finish) | **wall** | **x real time** |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|---|\n");
  auto tmk_row = [](const std::string& label, double duration, int64_t frames, int64_t tmk_frames,
                    double alone, double decode_scale, double feature, double wall) {
    std::printf("| %s | %.1f | %lld | %lld | %.3f | %.3f | %.3f | %.3f | %.3f | **%.1fx** |\n", label.c_str(),
                duration, static_cast<long long>(frames), static_cast<long long>(tmk_frames), alone,
                decode_scale - alone, decode_scale, feature, wall, wall > 0 ? duration / wall : 0.0);
  };
  for (const Result& r : results) {
    // decode-alone-full's decode figure excludes its conversions, so it is
    // decoding every frame and nothing else.
    tmk_row(Label(r), Duration(r), r.c.full.frames_decoded, r.c.tmk_frames, r.f.Med("alone_full.decode"),
            r.f.Med("tmk.decode_scale"), r.f.Med("tmk.feature"), r.f.Med("tmk.wall"));
  }
  if (shared.count > 0) {
    tmk_row(shared_label, shared.duration, shared.frames, shared.tmk_frames, shared.Get("alone_full.decode"),
            shared.Get("tmk.decode_scale"), shared.Get("tmk.feature"), shared.Get("tmk.wall"));
  }

  std::printf("\n### Fast path vs full decode (vPDQ, one frame a second)\n\n");
  std::printf(
      "| video | seconds sampled (full) | missing in fast path | another frame than full decode | max "
      "Hamming "
      "distance | decode-alone frames = library frames |\n");
  std::printf("|---|---|---|---|---|---|\n");
  for (const Result& r : results) {
    const Counts& c = r.c;
    const bool same = c.alone_skip.frames_decoded == c.skip.frames_decoded &&
                      c.alone_full.frames_decoded == c.full.frames_decoded &&
                      (r.input.synthetic || c.alone_every.frames_decoded == c.every.frames_decoded);
    std::printf("| %s | %d | %d | %d | %d | %s |\n", Label(r).c_str(), c.fidelity_slots, c.fidelity_missing,
                c.fidelity_other_frame, c.fidelity_max_distance,
                same ? "yes"
                     : ("NO (" + std::to_string(c.alone_skip.frames_decoded) + " vs " +
                        std::to_string(c.skip.frames_decoded) + ")")
                           .c_str());
  }
}

bool ParseArgs(int argc, char** argv, Options* o) {
  for (int i = 0; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) {
      std::fprintf(stderr, "video: %s needs a value\n", a.c_str());
      return false;
    }
    const std::string v = argv[++i];
    if (a == "--videos") {
      o->videos = v;
    } else if (a == "--synthetic") {
      o->synthetic_seconds = std::atoi(v.c_str());
    } else if (a == "--work") {
      o->work = v;
    } else if (a == "--photos") {
      o->photos = v;
    } else if (a == "--preset") {
      o->preset = v;
    } else if (a == "--grain") {
      o->grain = std::max(0, std::atoi(v.c_str()));
    } else if (a == "--runs") {
      o->runs = std::max(1, std::atoi(v.c_str()));
    } else {
      std::fprintf(stderr, "video: unknown option %s\n", a.c_str());
      return false;
    }
  }
  return true;
}

}  // namespace

int RunVideoBench(int argc, char** argv) {
  Options opt;
  if (!ParseArgs(argc, argv, &opt)) {
    std::fprintf(
        stderr,
        "usage: safeguard-bench video [--videos DIR|FILE,FILE...] [--synthetic SECONDS (0: none)]\n"
        "                             [--work DIR] [--photos DIR] [--preset medium] [--grain LEVELS]\n"
        "                             [--runs N]\n");
    return 2;
  }
  // "One core" made literal: the process stays on the CPU it started on
  // (FFmpeg's decoder and filter graph are one-threaded in the library).
  const int cpu = sched_getcpu();
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  const bool pinned = cpu >= 0 && sched_setaffinity(0, sizeof(set), &set) == 0;
  std::printf(
      "safeguard-bench video: %s; FFmpeg %s (libavcodec %d.%d.%d); runs %d after 1 warm-up\n",
      pinned ? ("pinned to CPU " + std::to_string(cpu)).c_str() : "NOT pinned (sched_setaffinity failed)",
      av_version_info(), LIBAVCODEC_VERSION_MAJOR, LIBAVCODEC_VERSION_MINOR, LIBAVCODEC_VERSION_MICRO,
      opt.runs);

  std::vector<Input> inputs = ListVideos(opt.videos);
  if (opt.synthetic_seconds > 0) {
    for (const auto& [w, h] : {std::pair{1920, 1080}, std::pair{1280, 720}}) {
      SyntheticClipSpec spec;
      spec.width = w;
      spec.height = h;
      spec.seconds = opt.synthetic_seconds;
      spec.preset = opt.preset;
      spec.grain = opt.grain;
      Input in;
      in.synthetic = true;
      in.name = "synthetic " + std::to_string(h) + "p " + std::to_string(spec.seconds) + " s" +
                (spec.grain > 0 ? " grain " + std::to_string(spec.grain) : "");
      const Clock::time_point t0 = Clock::now();
      Status s = EnsureSyntheticClip(spec, opt.photos, opt.work, &in.path, &in.note);
      if (!s.ok()) {
        std::fprintf(stderr, "video: cannot make the synthetic clip: %s\n", s.ToString().c_str());
        return 1;
      }
      std::fprintf(stderr, "%s: %s (%.0f s)\n", in.name.c_str(), in.path.c_str(), Since(t0));
      inputs.push_back(std::move(in));
    }
  }
  if (inputs.empty()) {
    std::fprintf(stderr, "video: no input videos\n");
    return 2;
  }

  std::vector<Result> results;
  for (const Input& in : inputs) {
    Result r;
    r.input = in;
    std::error_code ec;
    r.bytes = static_cast<long long>(fs::file_size(in.path, ec));
    const Clock::time_point t0 = Clock::now();
    for (int round = 0; round <= opt.runs; ++round) {
      Status s = RunRound(in, /*record=*/round > 0, &r);
      if (!s.ok()) {
        std::fprintf(stderr, "video: %s\n", s.ToString().c_str());
        return 1;
      }
    }
    std::fprintf(stderr, "%s: %.1f s of video, vPDQ 1 fps skip %.1fx, full %.1fx, TMK %.1fx (%.0f s)\n",
                 in.name.c_str(), Duration(r), Duration(r) / r.f.Med("skip.wall"),
                 Duration(r) / r.f.Med("full.wall"), Duration(r) / r.f.Med("tmk.wall"), Since(t0));
    results.push_back(std::move(r));
  }
  PrintTables(results);
  return 0;
}

}  // namespace safeguard::bench
