// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// Internal to the bank block: the Matcher's index of video signals.
//
// vPDQ: every frame hash of every vPDQ signal is an entry of one LiveIndex
// (entry ids are a counter; a map names each entry's signal), so a query
// video costs one radius-31 search per distinct frame, not a pass over the
// bank. Per signal it then counts the query frames that found one of its
// frames (query match percent) and its frames that some query frame found
// (target match percent), exactly as video::CompareVpdq does pair by pair;
// tests compare the two.
//
// TMK: the signals' features in memory (~257 KiB each), scanned: level 1
// (one 256-float dot product) for every signal, level 2 only where level 1
// passes.
//
// Thread-safety: Match may run on any number of threads, also while Add and
// Remove run (one writer at a time: the Matcher's refresh mutex). mu_ guards
// the maps only; searches and scores run outside it (see Match), so a writer
// never waits behind a scan. A signal's frames count only once its owners
// are published (AddVpdq) and stop counting when they are erased (Remove),
// both under mu_, and a scan leaves out signals published after it started
// searching: it sees a signal whole or not at all.

#ifndef SAFEGUARD_BANK_VIDEO_INDEX_H_
#define SAFEGUARD_BANK_VIDEO_INDEX_H_

#include <cstdint>
#include <memory>
#include <shared_mutex>
#include <span>
#include <unordered_map>
#include <vector>

#include "safeguard/common/signal_type.h"
#include "safeguard/common/status.h"
#include "safeguard/hash/pdq.h"
#include "safeguard/index/live_index.h"
#include "safeguard/video/tmk.h"

namespace safeguard::bank::internal {

/// One video signal a query matched, before bank rules apply.
struct VideoHit {
  uint64_t key = 0;  ///< The Matcher's index id: (bank id << 48) | signal id.
  SignalType type = SignalType::kVpdq;
  double query_percent = 0;   ///< vPDQ: share of the query's frames found in the signal.
  double target_percent = 0;  ///< vPDQ: share of the signal's frames found in the query.
  float level1 = 0;           ///< TMK scores.
  float level2 = 0;
};

class VideoIndex {
 public:
  VideoIndex();

  /// Adds a vPDQ signal with its matchable frame hashes (distinct, quality
  /// >= 50). A key already present is left as it is (replays are no-ops).
  void AddVpdq(uint64_t key, const std::vector<pdq::Hash256>& frames);
  /// Adds a TMK signal. A key already present is left as it is.
  void AddTmk(uint64_t key, video::TmkFeatures features);
  /// Removes a signal of either kind; unknown keys are ignored.
  void Remove(uint64_t key);

  /// Matches a query video: `vpdq` its matchable frame hashes (may be
  /// empty), `tmk` its features (may be null). Appends every signal with a
  /// vPDQ share >= match_percent either way, or TMK scores at or above both
  /// thresholds, to *hits.
  void Match(std::span<const pdq::Hash256> vpdq, const video::TmkFeatures* tmk, double match_percent,
             std::vector<VideoHit>* hits) const;

  /// Signals held, by kind.
  size_t vpdq_signals() const;
  size_t tmk_signals() const;

 private:
  struct VpdqSignal {
    std::vector<uint64_t> entries;  // frame entry ids in frames_
    uint64_t published_at = 0;      // version_ when its owners were published
  };

  mutable std::shared_mutex mu_;
  std::unique_ptr<index::LiveIndex> frames_;            // frame entries; ids from next_entry_
  std::unordered_map<uint64_t, uint64_t> entry_owner_;  // frame entry id -> signal key
  std::unordered_map<uint64_t, VpdqSignal> vpdq_;       // signal key -> its entries
  std::unordered_map<uint64_t, std::shared_ptr<const video::TmkFeatures>> tmk_;
  uint64_t next_entry_ = 1;
  uint64_t version_ = 0;  // counts publications; a scan leaves out signals newer than its start
};

}  // namespace safeguard::bank::internal

#endif  // SAFEGUARD_BANK_VIDEO_INDEX_H_
