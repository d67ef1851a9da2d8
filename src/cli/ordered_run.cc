// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.

#include "ordered_run.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ostream>
#include <thread>
#include <vector>

namespace safeguard::cli {

OrderedRun::OrderedRun(const hash::HashOptions& hash_options, PathWalker* walker, std::ostream& out, int jobs,
                       FileLineFn fn)
    : hash_options_(hash_options),
      walker_(walker),
      out_(out),
      window_(static_cast<uint64_t>(jobs) * 32),
      fn_(std::move(fn)) {}

void OrderedRun::Worker() {
  hash::ImageHasher hasher(hash_options_);
  std::string path;
  for (;;) {
    uint64_t index;
    {
      std::unique_lock<std::mutex> lock(mu_);
      room_.wait(lock, [&] { return taken_ - written_ < window_; });
      if (!walker_->Next(&path)) return;
      index = taken_++;
    }
    bool failed = false;
    std::string line = fn_(path, &hasher, &failed);
    done_.fetch_add(1, std::memory_order_relaxed);
    if (failed) failed_.fetch_add(1, std::memory_order_relaxed);
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

int ResolveJobs(int jobs) {
  if (jobs > 0) return jobs;
  const int n = static_cast<int>(std::thread::hardware_concurrency());
  return n > 0 ? n : 1;
}

void RunWorkers(OrderedRun* run, int jobs, int progress, const char* verb, std::ostream& err) {
  jobs = ResolveJobs(jobs);
  const bool show = progress == 1 || (progress == -1 && isatty(STDERR_FILENO));
  std::mutex progress_mu;
  std::condition_variable progress_cv;
  bool finished = false;
  std::thread progress_thread;
  if (show) {
    progress_thread = std::thread([&] {
      const auto start = std::chrono::steady_clock::now();
      bool shown = false;
      std::unique_lock<std::mutex> lock(progress_mu);
      while (!progress_cv.wait_for(lock, std::chrono::milliseconds(250), [&] { return finished; })) {
        const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        if (secs < 1.0) continue;  // short batches print nothing
        char line[160];
        std::snprintf(line, sizeof(line), "\r%s: %llu files, %llu failed, %.1f files/s ", verb,
                      static_cast<unsigned long long>(run->done()),
                      static_cast<unsigned long long>(run->failed()), run->done() / secs);
        err << line << std::flush;
        shown = true;
      }
      if (shown) err << "\r\033[K" << std::flush;
    });
  }
  std::vector<std::thread> workers;
  for (int i = 0; i < jobs; ++i) workers.emplace_back([run] { run->Worker(); });
  for (auto& w : workers) w.join();
  if (show) {
    {
      std::lock_guard<std::mutex> lock(progress_mu);
      finished = true;
    }
    progress_cv.notify_all();
    progress_thread.join();
  }
}

}  // namespace safeguard::cli
