// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// LiveIndex: the Hamming index a matcher serves from while banks change.
//
// Readers never wait for writers' work: a search copies the pointer to one
// immutable State (under state_mu_, which anyone holds only for that copy or
// swap of a shared_ptr, nanoseconds) and answers from it, so it sees either
// all of a change or none of it. A State is a multi-index-hashing base (MihIndex), a short delta of
// recent additions (scanned; immutable chunks shared between States) and the
// sorted ids removed since the base was built (filtered out of results).
// Add and Remove publish a new State in time proportional to the change (plus
// copying the removed-id list and the chunk pointers), not to the index: a
// withdrawal stops matching as soon as Remove returns. When the delta or the
// removed list grows past a threshold, a background thread builds a new base
// from the current entries and installs it, carrying over whatever changed
// meanwhile; searches go on against the old State throughout.
//
// Ids are the caller's (e.g. bank signal ids) and must be unique among live
// entries. Which ids are live is known from the base's ids kept sorted (8
// bytes an entry, binary-searched), a small set of ids added since, and the
// removed list. Thread-safety: every method may be called from any thread;
// writers are serialised by one mutex (writer_mu_).

#ifndef SAFEGUARD_INDEX_LIVE_INDEX_H_
#define SAFEGUARD_INDEX_LIVE_INDEX_H_

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "safeguard/common/status.h"
#include "safeguard/index/hamming.h"
#include "safeguard/index/mih_index.h"

namespace safeguard::index {

class LiveIndex {
 public:
  struct Options {
    /// Start a background rebuild of the base when the delta holds more
    /// entries than this, or more ids are pending removal.
    size_t compact_threshold = 1 << 16;
    /// Tables for the base (0: chosen from its size, see MihIndex::Build).
    int num_tables = 0;
    /// The base's layout (MihIndex::Layout): kFast searches about 2.3
    /// times faster at radius 31 for 40 more bytes per entry.
    MihIndex::Layout layout = MihIndex::Layout::kCompact;
  };

  LiveIndex();
  explicit LiveIndex(const Options& options);
  /// Waits for a running background rebuild to finish.
  ~LiveIndex();

  LiveIndex(const LiveIndex&) = delete;
  LiveIndex& operator=(const LiveIndex&) = delete;

  /// Adds entries. Returns kInvalidArgument, adding nothing, if the spans
  /// differ in length or an id is already present (or was removed and the
  /// removal is not yet compacted: signal ids are never reused).
  Status Add(std::span<const Code256> codes, std::span<const uint64_t> ids);

  /// Removes the entries with these ids; unknown ids are ignored. Returns how
  /// many were removed. They stop matching before this returns.
  size_t Remove(std::span<const uint64_t> ids);

  /// Stores in *out every live entry within `radius` of `query` (order
  /// unspecified). *out is cleared first.
  void RangeSearch(const Code256& query, int radius, std::vector<Match>* out) const;

  /// For the dihedral hashes of one image: every live entry within `radius`
  /// of any of `queries`, each id once with its smallest distance, sorted by
  /// id. All queries are answered from the same State.
  void RangeSearchAny(std::span<const Code256> queries, int radius, std::vector<Match>* out) const;

  /// Number of live entries.
  size_t size() const;

  /// Entries added since the current base was built (searched by a scan
  /// until the next rebuild; at most about compact_threshold once
  /// WaitForCompaction returns). Thread-safe.
  size_t delta_size() const;

  /// Returns true if `id` is live (added and not removed).
  bool Contains(uint64_t id) const;

  /// Writes the live entries to `path` as one MihIndex snapshot
  /// (docs/index_format.md) with `tag` (e.g. the store's change-log
  /// position they reflect). Additions and removals not yet compacted are
  /// folded in, so this may build a base (seconds at 10M); readers and
  /// writers carry on meanwhile. Returns kIoError on failure.
  Status SaveSnapshot(const std::string& path, uint64_t tag) const;

  /// Replaces every entry with those of the snapshot at `path` and stores its
  /// tag in *tag (if not null). Readers see the old entries until the new
  /// ones are complete, never a mixture. Returns kNotFound, kIoError or
  /// kCorrupt (a damaged file, or an id present twice) and leaves the index
  /// unchanged on failure. A snapshot in another layout than
  /// Options::layout is refused with kInvalidArgument (rebuild it).
  Status LoadSnapshot(const std::string& path, uint64_t* tag);

  /// Bytes held by the current base, its sorted ids and the delta (not the
  /// writer's small bookkeeping).
  size_t MemoryBytes() const;

  /// Touches every page of the current base and delta (MihIndex::Prefault)
  /// and returns the sum of the bytes read. Thread-safe; readers and writers
  /// carry on meanwhile.
  uint64_t Prefault() const;

  /// Blocks until no background rebuild is running (tests, benchmarks).
  void WaitForCompaction();

 private:
  struct Chunk {
    std::vector<Code256> codes;
    std::vector<uint64_t> ids;
  };
  struct State {
    std::shared_ptr<const MihIndex> base;
    std::shared_ptr<const std::vector<uint64_t>> base_ids;  // the base's ids, sorted
    std::vector<std::shared_ptr<const Chunk>> delta;        // append-only between rebuilds
    size_t delta_size = 0;
    std::shared_ptr<const std::vector<uint64_t>> removed;  // sorted; ids removed since `base` was built
    size_t live = 0;
  };

  std::shared_ptr<const State> Load() const {
    std::lock_guard<std::mutex> lock(state_mu_);
    return state_;
  }
  void Publish(std::shared_ptr<const State> s) {
    std::lock_guard<std::mutex> lock(state_mu_);
    state_.swap(s);
  }  // the old State is released here, outside the lock
  void SearchState(const State& s, const Code256& query, int radius, std::vector<Match>* out) const;
  bool IsLiveLocked(const State& s, uint64_t id) const;
  // The live entries of s: the base's minus removed ids, then the delta's.
  static void LiveEntries(const State& s, std::vector<Code256>* codes, std::vector<uint64_t>* ids);
  static std::shared_ptr<const std::vector<uint64_t>> SortedIds(const MihIndex& base);
  // How a base is built: Options::layout and num_tables.
  MihIndex::BuildOptions BaseOptions() const {
    MihIndex::BuildOptions o;
    o.layout = options_.layout;
    o.num_tables = options_.num_tables;
    return o;
  }
  void MaybeCompactLocked(const std::shared_ptr<const State>& s);
  void Compact(std::shared_ptr<const State> snapshot);

  const Options options_;
  // A plain mutex rather than std::atomic<std::shared_ptr>: libstdc++ 12
  // implements that with an internal spin bit that ThreadSanitizer cannot
  // see, and the cost is the same (one uncontended lock per search).
  mutable std::mutex state_mu_;
  std::shared_ptr<const State> state_;  // guarded by state_mu_

  mutable std::mutex writer_mu_;            // serialises writers and the rebuild's install
  std::unordered_set<uint64_t> delta_ids_;  // ids added since the base was built; guarded by writer_mu_
  bool compacting_ = false;                 // guarded by writer_mu_
  std::condition_variable compact_done_;    // signalled with writer_mu_ when compacting_ clears
  std::thread compactor_;                   // guarded by writer_mu_
};

}  // namespace safeguard::index

#endif  // SAFEGUARD_INDEX_LIVE_INDEX_H_
