// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// Matcher: every live signal of every bank in memory, following the store.
// PDQ signals go into one LiveIndex (all banks at once: one search per
// image, not one per bank), MD5 and SHA-256 signals into one DigestIndex,
// video signals (vPDQ frames, TMK features) into a video index (see
// src/bank/video_index.h).
//
//   std::unique_ptr<bank::Matcher> matcher;
//   Status s = bank::Matcher::Open(store.get(), options, &matcher);
//   ...
//   s = matcher->Refresh(nullptr);          // apply what the store changed since
//   bank::MatchResult r;
//   s = matcher->Match(query, &r);
//
// Loading: from the index snapshot if one is configured and present (its tag
// is the store's change-log cursor it reflects), else from every live signal
// of the store; then the change log since that cursor is applied. After that
// the matcher follows the store incrementally: Refresh applies adds,
// withdrawals and bank changes from the change log; nothing is rebuilt in
// full. A withdrawal stops matching as soon as Refresh has applied it.
//
// In the indexes an entry's id is (bank id << 48) | signal id, so a hit names
// its bank without a lookup. Bank ids must be below 2^16 (the store numbers
// banks from 1 up) and signal ids below 2^48 (store sequence numbers); Open
// and Refresh refuse others.
//
// Matching rules: a PDQ hit counts when its bank is enabled and the distance
// is within the bank's pdq_distance; digest hits are exact; a vPDQ hit when
// at least 80% of the query's or of the signal's frames match (frames within
// distance 31, as vPDQ defines it); a TMK hit when both scores are >= 0.7. Hits in an
// allow-list bank (category kAllow) suppress every other hit for the query:
// they are the platform's own known-good images that collide with a list.
//
// Thread-safety: Match may be called from any number of threads, also while
// Refresh runs on another; Refresh and SaveSnapshot are serialised with each
// other by an internal mutex.

#ifndef SAFEGUARD_BANK_MATCHER_H_
#define SAFEGUARD_BANK_MATCHER_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <span>
#include <string>
#include <vector>

#include "safeguard/bank/bank.h"
#include "safeguard/bank/store.h"
#include "safeguard/common/status.h"
#include "safeguard/index/digest_index.h"
#include "safeguard/index/hamming.h"
#include "safeguard/index/live_index.h"
#include "safeguard/video/tmk.h"

namespace safeguard::bank {

namespace internal {
class VideoIndex;
}  // namespace internal

/// How a Matcher loads and keeps its indexes.
struct MatcherOptions {
  /// Where the PDQ index snapshot lives; empty: no snapshot (always load
  /// from the store). Open reads it if present; SaveSnapshot writes it.
  std::string snapshot_path;
  /// Passed to the LiveIndex: additions/removals before a background rebuild.
  size_t compact_threshold = 1 << 16;
  /// The PDQ index's layout (index::MihIndex::Layout): kFast by default,
  /// about 2.3x faster PDQ searches for ~40 more bytes per hash (132 against
  /// 92.5 at 10M); kCompact where memory is tighter than time (100M hashes
  /// in 9.3 GB instead of 13.2).
  index::MihIndex::Layout pdq_layout = index::MihIndex::Layout::kFast;
};

/// What one image (or file) is checked with.
struct MatchQuery {
  /// PDQ hashes: the image's own, or its 8 dihedral variants. Empty: no PDQ
  /// check (e.g. the image's quality was too low to match on).
  std::span<const index::Code256> pdq;
  /// Raw digests of the file bytes, if known.
  std::optional<std::array<uint8_t, 16>> md5;
  std::optional<std::array<uint8_t, 32>> sha256;
  /// A video's matchable vPDQ frame hashes (video::VpdqMatchableHashes:
  /// distinct, quality >= 50). Empty: no vPDQ check.
  std::span<const pdq::Hash256> vpdq;
  /// A video's TMK+PDQF features, or null: no TMK check.
  const video::TmkFeatures* tmk = nullptr;
};

/// One signal the query matched.
struct Hit {
  uint64_t signal_id = 0;
  int64_t bank_id = 0;
  std::string bank_name;
  Category category = Category::kOther;
  SignalType type = SignalType::kPdq;
  /// PDQ Hamming distance (0 for digests and video signals).
  int distance = 0;
  /// vPDQ hits: the share (percent) of the query's frames found in the
  /// signal, and of the signal's frames found in the query.
  double vpdq_query_percent = 0;
  double vpdq_target_percent = 0;
  /// TMK hits: the level-1 and level-2 scores.
  float tmk_level1 = 0;
  float tmk_level2 = 0;
};

/// The result of matching one query.
struct MatchResult {
  /// Hits in enabled banks that are not allow-lists, by bank name then
  /// signal id; empty when an allow-list matched.
  std::vector<Hit> hits;
  /// Hits in enabled allow-list banks. When not empty, `hits` is empty and
  /// `suppressed` counts the hits they suppressed.
  std::vector<Hit> allowed;
  size_t suppressed = 0;
};

class Matcher {
 public:
  /// Loads every live signal of `store` (not owned; must outlive the
  /// matcher) as described above, applies the change log that followed
  /// what it loaded, and stores the matcher in *out: it matches the store as
  /// of the call, withdrawals after the snapshot included. Returns the
  /// store's errors, kCorrupt for a damaged snapshot only if reloading from
  /// the store also fails (a damaged snapshot is otherwise ignored and
  /// reported by snapshot_status()), or kInvalidArgument for ids out of range.
  static Status Open(Store* store, const MatcherOptions& options, std::unique_ptr<Matcher>* out);

  ~Matcher();

  /// Applies the store's change log since the last call. Stores the number
  /// of changes applied in *applied (if not null).
  Status Refresh(size_t* applied);

  /// Matches one query against every enabled bank. Thread-safe.
  Status Match(const MatchQuery& query, MatchResult* result) const;

  /// Writes the PDQ index to MatcherOptions::snapshot_path, tagged with the
  /// cursor it reflects. Returns kInvalidArgument if no path is configured.
  Status SaveSnapshot();

  /// Touches every page of the PDQ index (see MihIndex::Prefault), so
  /// memory left idle and reclaimed below the process (a virtual machine's
  /// host does that) is back before queries need it. Open calls it before
  /// returning; a server may call it periodically. Thread-safe.
  void Prefault() const;

  /// Blocks until the PDQ index has folded every addition into its base.
  /// After a load from the store (not from a snapshot) Open returns while
  /// the last additions are still being folded in, seconds at 10M; matches
  /// are exact meanwhile, only slower (the remainder is scanned). The
  /// server waits for this before it reports ready. Thread-safe.
  void WaitForCompaction() const;

  /// The change-log cursor the indexes reflect. Thread-safe; does not wait
  /// for a running Refresh.
  uint64_t cursor() const;
  /// Live PDQ entries and digest entries held.
  size_t pdq_entries() const { return pdq_->size(); }
  size_t digest_entries() const { return digests_.size(); }
  /// Live vPDQ and TMK signals held.
  size_t vpdq_signals() const;
  size_t tmk_signals() const;
  /// Video signals skipped because their content did not parse (a database
  /// written by something other than Safeguard's bank API).
  size_t unreadable_video_signals() const { return unreadable_video_.load(); }
  /// How the load went: "snapshot" (loaded from the snapshot), "store" (no
  /// snapshot configured or present), or why the snapshot was not used.
  const std::string& load_source() const { return load_source_; }
  /// How many change-log entries Open applied after loading (those that
  /// followed the snapshot, or that committed during the load).
  size_t changes_replayed_at_open() const { return replayed_at_open_; }

 private:
  Matcher(Store* store, const MatcherOptions& options);
  Status LoadBanks();
  Status AddSignal(uint64_t signal_id, int64_t bank_id, SignalType type, std::span<const uint8_t> value,
                   std::span<const uint8_t> content, std::vector<index::Code256>* codes,
                   std::vector<uint64_t>* ids);
  Status FlushPdq(std::vector<index::Code256>* codes, std::vector<uint64_t>* ids);
  std::unique_ptr<index::LiveIndex> NewPdqIndex() const;

  Store* const store_;
  const MatcherOptions options_;
  std::unique_ptr<index::LiveIndex> pdq_;  // replaced only inside Open
  index::DigestIndex digests_;
  std::unique_ptr<internal::VideoIndex> video_;
  std::atomic<size_t> unreadable_video_{0};

  mutable std::shared_mutex banks_mu_;
  std::map<int64_t, Bank> banks_;  // guarded by banks_mu_
  int max_distance_ = -1;          // largest pdq_distance of an enabled bank; guarded by banks_mu_

  mutable std::mutex refresh_mu_;  // serialises Refresh and SaveSnapshot
  // Written under refresh_mu_; cursor() reads it without waiting for a
  // Refresh (a lookup asks for it on every match).
  std::atomic<uint64_t> cursor_{0};
  std::string load_source_;
  size_t replayed_at_open_ = 0;
};

/// Returns the index code of a PDQ signal value (32 bytes in hex text order,
/// see bank.h).
index::Code256 CodeFromPdqValue(std::span<const uint8_t> value);

}  // namespace safeguard::bank

#endif  // SAFEGUARD_BANK_MATCHER_H_
