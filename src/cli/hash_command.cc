// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.

#include "hash_command.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <ostream>
#include <thread>

#include "path_walker.h"
#include "safeguard/hash/digest.h"

namespace safeguard::cli {
namespace {

using Json = nlohmann::ordered_json;

std::string PdqHex(const pdq::Hash256& h) {
  char buf[65];
  h.ToHex(buf);
  return buf;
}

// Paths are bytes; JSON is UTF-8. Invalid sequences become U+FFFD rather
// than failing the whole record (documented in docs/cli.md).
std::string DumpJson(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

std::string CsvField(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

const char* kDihedralNames[8] = {"pdq",   "rot90", "rot180",    "rot270",
                                 "flipx", "flipy", "flipplus1", "flipminus1"};

std::string CsvHeader(bool dihedral) {
  std::string h = "path,pdq,quality,md5,sha256,width,height";
  if (dihedral) {
    for (int d = 1; d < 8; ++d) h += std::string(",") + kDihedralNames[d];
  }
  return h + ",error_code,error_message";
}

std::string FormatRecord(const std::string& path, const Status& status, const hash::FileHashes& h,
                         const HashCommandOptions& options) {
  const bool csv = options.format == "csv";
  const bool dihedral = options.hash.dihedral;
  if (!status.ok()) {
    if (csv) {
      std::string line = CsvField(path) + ",,,,,,";
      if (dihedral) line += ",,,,,,,";
      return line + "," + std::string(StatusCodeName(status.code())) + "," + CsvField(status.message());
    }
    Json j;
    j["path"] = path;
    j["error"] = {{"code", std::string(StatusCodeName(status.code()))}, {"message", status.message()}};
    return DumpJson(j);
  }
  if (csv) {
    std::string line = CsvField(path) + "," + PdqHex(h.pdq.hash) + "," + std::to_string(h.pdq.quality) + "," +
                       hash::ToHex(h.md5) + "," + hash::ToHex(h.sha256) + "," + std::to_string(h.width) +
                       "," + std::to_string(h.height);
    if (dihedral) {
      for (int d = 1; d < 8; ++d) line += "," + PdqHex(h.pdq.dihedral[d]);
    }
    return line + ",,";
  }
  Json j;
  j["path"] = path;
  j["pdq"] = PdqHex(h.pdq.hash);
  j["quality"] = h.pdq.quality;
  j["md5"] = hash::ToHex(h.md5);
  j["sha256"] = hash::ToHex(h.sha256);
  j["width"] = h.width;
  j["height"] = h.height;
  if (dihedral) {
    Json list = Json::array();
    for (int d = 0; d < 8; ++d) list.push_back(PdqHex(h.pdq.dihedral[d]));
    j["dihedral"] = std::move(list);
  }
  return DumpJson(j);
}

// Work distribution with output in input order. Workers take the next path
// under the lock, hash without it, and hand the finished line back; whoever
// completes the next line due writes every line that is now in order. At
// most `window` lines wait out of order, so memory is bounded however long
// the input.
class OrderedRun {
 public:
  OrderedRun(const HashCommandOptions& options, PathWalker* walker, std::ostream& out, int jobs)
      : options_(options), walker_(walker), out_(out), window_(static_cast<uint64_t>(jobs) * 32) {}

  void Worker() {
    hash::ImageHasher hasher(options_.hash);
    std::string path;
    for (;;) {
      uint64_t index;
      {
        std::unique_lock<std::mutex> lock(mu_);
        room_.wait(lock, [&] { return taken_ - written_ < window_; });
        if (!walker_->Next(&path)) return;
        index = taken_++;
      }
      hash::FileHashes h;
      const Status s = hasher.HashFile(path, &h);
      std::string line = FormatRecord(path, s, h, options_);
      done_.fetch_add(1, std::memory_order_relaxed);
      if (!s.ok()) failed_.fetch_add(1, std::memory_order_relaxed);
      std::lock_guard<std::mutex> lock(mu_);
      pending_.emplace(index, std::move(line));
      bool wrote = false;
      for (auto it = pending_.find(written_); it != pending_.end(); it = pending_.find(written_)) {
        out_ << it->second << '\n';
        pending_.erase(it);
        ++written_;
        wrote = true;
      }
      if (wrote) room_.notify_all();
    }
  }

  uint64_t done() const { return done_.load(std::memory_order_relaxed); }
  uint64_t failed() const { return failed_.load(std::memory_order_relaxed); }

 private:
  const HashCommandOptions& options_;
  PathWalker* walker_;
  std::ostream& out_;
  const uint64_t window_;
  std::mutex mu_;  // guards walker_, taken_, written_, pending_, out_
  std::condition_variable room_;
  uint64_t taken_ = 0;
  uint64_t written_ = 0;
  std::map<uint64_t, std::string> pending_;
  std::atomic<uint64_t> done_{0};
  std::atomic<uint64_t> failed_{0};
};

}  // namespace

int RunHashCommand(const HashCommandOptions& options, std::istream& in, std::ostream& out,
                   std::ostream& err) {
  int jobs = options.jobs > 0 ? options.jobs : static_cast<int>(std::thread::hardware_concurrency());
  if (jobs <= 0) jobs = 1;
  PathWalker walker(options.paths, &in);
  if (options.format == "csv") out << CsvHeader(options.hash.dihedral) << '\n';
  OrderedRun run(options, &walker, out, jobs);

  const bool progress = options.progress == 1 || (options.progress == -1 && isatty(STDERR_FILENO));
  std::mutex progress_mu;
  std::condition_variable progress_cv;
  bool finished = false;
  std::thread progress_thread;
  if (progress) {
    progress_thread = std::thread([&] {
      const auto start = std::chrono::steady_clock::now();
      bool shown = false;
      std::unique_lock<std::mutex> lock(progress_mu);
      while (!progress_cv.wait_for(lock, std::chrono::milliseconds(250), [&] { return finished; })) {
        const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        if (secs < 1.0) continue;  // short batches print nothing
        char line[160];
        std::snprintf(line, sizeof(line), "\rhashing: %llu files, %llu failed, %.1f files/s ",
                      static_cast<unsigned long long>(run.done()),
                      static_cast<unsigned long long>(run.failed()), run.done() / secs);
        err << line << std::flush;
        shown = true;
      }
      if (shown) err << "\r\033[K" << std::flush;
    });
  }

  std::vector<std::thread> workers;
  for (int i = 0; i < jobs; ++i) workers.emplace_back([&run] { run.Worker(); });
  for (auto& w : workers) w.join();
  if (progress) {
    {
      std::lock_guard<std::mutex> lock(progress_mu);
      finished = true;
    }
    progress_cv.notify_all();
    progress_thread.join();
  }
  out.flush();
  return run.failed() == 0 ? 0 : 1;
}

}  // namespace safeguard::cli
