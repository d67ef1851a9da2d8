// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// OrderedRun: process the files of a PathWalker on several threads and write
// one line per file in input order. Used by `safeguard hash` and
// `safeguard match`.

#ifndef SAFEGUARD_SRC_CLI_ORDERED_RUN_H_
#define SAFEGUARD_SRC_CLI_ORDERED_RUN_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <map>
#include <mutex>
#include <string>

#include "path_walker.h"
#include "safeguard/hash/image_hasher.h"

namespace safeguard::cli {

/// Turns one path into its output line, using the worker's own hasher.
/// Stores true in *failed when the file could not be processed. Called on
/// worker threads concurrently; must be thread-safe apart from `hasher`.
using FileLineFn =
    std::function<std::string(const std::string& path, hash::ImageHasher* hasher, bool* failed)>;

/// Work distribution with output in input order. Workers take the next path
/// under the lock, process it without the lock, and hand the finished line
/// back; whoever completes the next line due writes every line that is now in
/// order. At most 32 lines per worker wait out of order, so memory is bounded
/// however long the input. Thread-safe: Worker() runs on every worker thread.
class OrderedRun {
 public:
  /// Neither `walker` nor `out` is owned; both must outlive the run.
  OrderedRun(const hash::HashOptions& hash_options, PathWalker* walker, std::ostream& out, int jobs,
             FileLineFn fn);

  /// Processes files until the walker is exhausted.
  void Worker();

  /// Files processed, and of those failed, so far.
  uint64_t done() const { return done_.load(std::memory_order_relaxed); }
  uint64_t failed() const { return failed_.load(std::memory_order_relaxed); }

 private:
  const hash::HashOptions hash_options_;
  PathWalker* walker_;
  std::ostream& out_;
  const uint64_t window_;
  const FileLineFn fn_;
  std::mutex mu_;  // guards walker_, taken_, written_, pending_, out_
  std::condition_variable room_;
  uint64_t taken_ = 0;
  uint64_t written_ = 0;
  std::map<uint64_t, std::string> pending_;
  std::atomic<uint64_t> done_{0};
  std::atomic<uint64_t> failed_{0};
};

/// Runs `jobs` workers (0: one per core) over `run` with the stderr progress
/// line ("VERB: N files, F failed, R files/s") when `progress` is 1, or -1
/// and stderr is a terminal. Returns when every file is done.
void RunWorkers(OrderedRun* run, int jobs, int progress, const char* verb, std::ostream& err);

/// Resolves a --jobs value: `jobs` if positive, else one per core.
int ResolveJobs(int jobs);

}  // namespace safeguard::cli

#endif  // SAFEGUARD_SRC_CLI_ORDERED_RUN_H_
