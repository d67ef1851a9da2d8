// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.

#include "bank/video_index.h"

#include <algorithm>
#include <mutex>
#include <unordered_set>

#include "safeguard/index/hamming.h"
#include "safeguard/video/vpdq.h"

namespace safeguard::bank::internal {

VideoIndex::VideoIndex() {
  index::LiveIndex::Options o;
  // vPDQ banks are far smaller than PDQ banks; rebuild sooner.
  o.compact_threshold = 1 << 14;
  frames_ = std::make_unique<index::LiveIndex>(o);
}

void VideoIndex::AddVpdq(uint64_t key, const std::vector<pdq::Hash256>& frames) {
  // Frames go into the index first and become the signal's only when the
  // owners are published, under the lock, all at once: a scan running
  // meanwhile (searches run outside the lock) sees none of the signal's
  // frames or all of them, never a share that could read as a lower percent.
  std::vector<uint64_t> entries;
  {
    std::unique_lock<std::shared_mutex> lock(mu_);
    if (vpdq_.count(key) != 0) return;
    for (size_t i = 0; i < frames.size(); ++i) entries.push_back(next_entry_++);
  }
  std::vector<index::Code256> codes;
  codes.reserve(frames.size());
  for (const pdq::Hash256& h : frames) codes.push_back(index::FromPdq(h));
  // Ids are fresh, codes are plain values: Add cannot refuse them.
  (void)frames_->Add(codes, entries);
  std::unique_lock<std::shared_mutex> lock(mu_);
  for (uint64_t e : entries) entry_owner_[e] = key;
  VpdqSignal& sig = vpdq_[key];
  sig.entries = std::move(entries);
  sig.published_at = ++version_;
}

void VideoIndex::AddTmk(uint64_t key, video::TmkFeatures features) {
  std::unique_lock<std::shared_mutex> lock(mu_);
  tmk_.emplace(key, std::make_shared<const video::TmkFeatures>(std::move(features)));
}

void VideoIndex::Remove(uint64_t key) {
  // The owners go first, under the lock: from then on no scan counts the
  // signal; its frames leave the index after.
  std::vector<uint64_t> entries;
  {
    std::unique_lock<std::shared_mutex> lock(mu_);
    auto it = vpdq_.find(key);
    if (it != vpdq_.end()) {
      entries = std::move(it->second.entries);
      for (uint64_t e : entries) entry_owner_.erase(e);
      vpdq_.erase(it);
    }
    tmk_.erase(key);
  }
  if (!entries.empty()) frames_->Remove(entries);
}

void VideoIndex::Match(std::span<const pdq::Hash256> vpdq, const video::TmkFeatures* tmk,
                       double match_percent, std::vector<VideoHit>* hits) const {
  // The searches and the scores run without the mutex: a TMK level-2 score
  // is ~20 ms, and readers that hold a shared lock back to back would starve
  // Add and Remove (glibc's rwlock prefers readers). Only the maps are read
  // under it, briefly. The LiveIndex is safe to search while it changes; an
  // entry whose signal was removed meanwhile has no owner and is skipped.
  if (!vpdq.empty()) {
    // Signals published after this point were not whole in the index for
    // every search below: they are left out of this scan.
    uint64_t seen_version;
    {
      std::shared_lock<std::shared_mutex> lock(mu_);
      seen_version = version_;
    }
    std::vector<std::vector<uint64_t>> found(vpdq.size());
    std::vector<index::Match> matches;
    for (size_t i = 0; i < vpdq.size(); ++i) {
      frames_->RangeSearch(index::FromPdq(vpdq[i]), video::kVpdqMaxDistance, &matches);
      for (const index::Match& m : matches) found[i].push_back(m.id);
    }
    // Per signal: query frames that found it, and its entries found.
    std::unordered_map<uint64_t, size_t> query_found;
    std::unordered_map<uint64_t, std::unordered_set<uint64_t>> entries_found;
    std::unordered_map<uint64_t, size_t> entries_of;
    std::unordered_set<uint64_t> signals_of_frame;
    {
      std::shared_lock<std::shared_mutex> lock(mu_);
      for (const std::vector<uint64_t>& ids : found) {
        signals_of_frame.clear();
        for (uint64_t id : ids) {
          auto owner = entry_owner_.find(id);
          if (owner == entry_owner_.end() || vpdq_.at(owner->second).published_at > seen_version) continue;
          signals_of_frame.insert(owner->second);
          entries_found[owner->second].insert(id);
        }
        for (uint64_t key : signals_of_frame) ++query_found[key];
      }
      for (const auto& [key, count] : query_found) entries_of[key] = vpdq_.at(key).entries.size();
    }
    for (const auto& [key, count] : query_found) {
      VideoHit h;
      h.key = key;
      h.type = SignalType::kVpdq;
      h.query_percent = 100.0 * static_cast<double>(count) / static_cast<double>(vpdq.size());
      h.target_percent =
          100.0 * static_cast<double>(entries_found[key].size()) / static_cast<double>(entries_of[key]);
      if (h.query_percent >= match_percent || h.target_percent >= match_percent) hits->push_back(h);
    }
  }
  if (tmk != nullptr) {
    std::vector<std::pair<uint64_t, std::shared_ptr<const video::TmkFeatures>>> signals;
    {
      std::shared_lock<std::shared_mutex> lock(mu_);
      signals.assign(tmk_.begin(), tmk_.end());
    }
    for (const auto& [key, features] : signals) {
      if (!video::TmkCompatible(*tmk, *features).ok()) continue;
      const float l1 = video::TmkLevel1Score(*tmk, *features);
      if (l1 < video::kTmkLevel1Threshold) continue;
      const float l2 = video::TmkLevel2Score(*tmk, *features);
      if (l2 < video::kTmkLevel2Threshold) continue;
      VideoHit h;
      h.key = key;
      h.type = SignalType::kTmk;
      h.level1 = l1;
      h.level2 = l2;
      hits->push_back(h);
    }
  }
}

size_t VideoIndex::vpdq_signals() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  return vpdq_.size();
}

size_t VideoIndex::tmk_signals() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  return tmk_.size();
}

}  // namespace safeguard::bank::internal
