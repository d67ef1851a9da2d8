// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.

#include "safeguard/bank/matcher.h"

#include <algorithm>
#include <atomic>
#include <cstdio>

#include "bank/video_index.h"
#include "safeguard/hash/pdq.h"
#include "safeguard/video/vpdq.h"

namespace safeguard::bank {
namespace {

constexpr int kBankShift = 48;
constexpr uint64_t kSignalMask = (uint64_t{1} << kBankShift) - 1;
constexpr size_t kChangeBatch = 65536;

uint64_t IndexId(int64_t bank_id, uint64_t signal_id) {
  return (static_cast<uint64_t>(bank_id) << kBankShift) | signal_id;
}

Status CheckIds(int64_t bank_id, uint64_t signal_id) {
  if (bank_id < 0 || bank_id >= (int64_t{1} << (64 - kBankShift)) || signal_id > kSignalMask) {
    return Status::InvalidArgument("signal " + std::to_string(signal_id) + " of bank " +
                                   std::to_string(bank_id) +
                                   ": ids out of the range the in-memory index supports (bank < 65536, "
                                   "signal < 2^48)");
  }
  return Status::Ok();
}

bool SameBankThenSignal(const Hit& a, const Hit& b) {
  return a.bank_name != b.bank_name ? a.bank_name < b.bank_name : a.signal_id < b.signal_id;
}

}  // namespace

index::Code256 CodeFromPdqValue(std::span<const uint8_t> value) {
  // Bytes are the hex text in order: word 15 first, high byte first.
  pdq::Hash256 h;
  for (int k = 0; k < 16; ++k) {
    h.w[15 - k] = static_cast<uint16_t>((uint16_t{value[2 * k]} << 8) | value[2 * k + 1]);
  }
  return index::FromPdq(h);
}

Matcher::Matcher(Store* store, const MatcherOptions& options)
    : store_(store),
      options_(options),
      pdq_(NewPdqIndex()),
      video_(std::make_unique<internal::VideoIndex>()) {}

Matcher::~Matcher() = default;

size_t Matcher::vpdq_signals() const { return video_->vpdq_signals(); }
size_t Matcher::tmk_signals() const { return video_->tmk_signals(); }

std::unique_ptr<index::LiveIndex> Matcher::NewPdqIndex() const {
  index::LiveIndex::Options o;
  o.compact_threshold = options_.compact_threshold;
  o.layout = options_.pdq_layout;
  return std::make_unique<index::LiveIndex>(o);
}

Status Matcher::Open(Store* store, const MatcherOptions& options, std::unique_ptr<Matcher>* out) {
  out->reset();
  std::unique_ptr<Matcher> m(new Matcher(store, options));
  Status s = m->LoadBanks();
  if (!s.ok()) return s;
  std::unique_lock<std::mutex> lock(m->refresh_mu_);
  bool from_snapshot = false;
  uint64_t snapshot_cursor = 0;
  if (!options.snapshot_path.empty()) {
    s = m->pdq_->LoadSnapshot(options.snapshot_path, &snapshot_cursor);
    if (s.ok()) {
      from_snapshot = true;
      m->load_source_ = "snapshot";
    } else if (s.code() == StatusCode::kNotFound) {
      m->load_source_ = "store";
    } else {
      // A damaged snapshot is a cache miss, not an outage: load from the store.
      m->load_source_ = "store (snapshot not used: " + s.ToString() + ")";
    }
  } else {
    m->load_source_ = "store";
  }
  // Digests always, and PDQ unless the snapshot has them, from one
  // consistent read of the store.
  std::vector<index::Code256> codes;
  std::vector<uint64_t> ids;
  uint64_t store_cursor = 0;
  s = store->ForEachLiveSignal(
      [&](const LiveSignal& sig) -> Status {
        if (sig.type == SignalType::kPdq && from_snapshot) return Status::Ok();
        return m->AddSignal(sig.id, sig.bank_id, sig.type, sig.value, sig.content, &codes, &ids);
      },
      &store_cursor);
  if (s.ok()) s = m->FlushPdq(&codes, &ids);
  if (!s.ok()) return s;
  if (from_snapshot && snapshot_cursor > store_cursor) {
    // A snapshot from the future is from another database: start over
    // from the store alone.
    m->load_source_ = "store (snapshot not used: it reflects change " + std::to_string(snapshot_cursor) +
                      " but the store has only reached " + std::to_string(store_cursor) + ")";
    m->pdq_ = m->NewPdqIndex();
    s = store->ForEachLiveSignal(
        [&](const LiveSignal& sig) -> Status {
          if (sig.type != SignalType::kPdq) return Status::Ok();
          return m->AddSignal(sig.id, sig.bank_id, sig.type, sig.value, sig.content, &codes, &ids);
        },
        &store_cursor);
    if (s.ok()) s = m->FlushPdq(&codes, &ids);
    if (!s.ok()) return s;
    from_snapshot = false;
  }
  // The snapshot reflects an older cursor than the digests: replaying from
  // it is harmless for digests (adding or removing twice is a no-op).
  m->cursor_ = from_snapshot ? snapshot_cursor : store_cursor;
  lock.unlock();
  // What changed after the snapshot (withdrawals above all) must apply
  // before the first match, not at the caller's first Refresh.
  s = m->Refresh(&m->replayed_at_open_);
  if (!s.ok()) return s;
  // Warm: the first queries must not pay for memory written a minute ago
  // (docs/BENCHMARKS.md, the 100M first pass). A load from the store may
  // still be folding its last additions into the base in the background
  // (WaitForCompaction waits for that).
  m->Prefault();
  *out = std::move(m);
  return Status::Ok();
}

void Matcher::WaitForCompaction() const { pdq_->WaitForCompaction(); }

void Matcher::Prefault() const {
  static std::atomic<uint64_t> sink{0};  // keeps the reads from being optimised away
  sink.fetch_add(pdq_->Prefault(), std::memory_order_relaxed);
}

Status Matcher::LoadBanks() {
  std::vector<Bank> banks;
  Status s = store_->ListBanks(&banks);
  if (!s.ok()) return s;
  std::unique_lock<std::shared_mutex> lock(banks_mu_);
  banks_.clear();
  max_distance_ = -1;
  for (const Bank& b : banks) {
    banks_[b.id] = b;
    if (b.enabled) max_distance_ = std::max(max_distance_, b.pdq_distance);
  }
  return Status::Ok();
}

Status Matcher::AddSignal(uint64_t signal_id, int64_t bank_id, SignalType type,
                          std::span<const uint8_t> value, std::span<const uint8_t> content,
                          std::vector<index::Code256>* codes, std::vector<uint64_t>* ids) {
  Status s = CheckIds(bank_id, signal_id);
  if (!s.ok()) return s;
  const uint64_t id = IndexId(bank_id, signal_id);
  switch (type) {
    case SignalType::kPdq:
      if (value.size() != 32)
        return Status::Corrupt("signal " + std::to_string(signal_id) + ": PDQ value size");
      codes->push_back(CodeFromPdqValue(value));
      ids->push_back(id);
      if (codes->size() >= kChangeBatch) return FlushPdq(codes, ids);
      return Status::Ok();
    case SignalType::kMd5:
      return digests_.Add(index::DigestType::kMd5, value, id);
    case SignalType::kSha256:
      return digests_.Add(index::DigestType::kSha256, value, id);
    case SignalType::kVpdq: {
      std::vector<video::VpdqFrame> frames;
      const std::string_view text(reinterpret_cast<const char*>(content.data()), content.size());
      if (!video::ParseVpdqText(text, &frames).ok()) {
        // The bank API accepts only content that parses; a row that does
        // not was written by something else. Skipping it keeps every other
        // signal matching; the count is reported (metrics, readyz).
        ++unreadable_video_;
        return Status::Ok();
      }
      video_->AddVpdq(id, video::VpdqMatchableHashes(frames));
      return Status::Ok();
    }
    case SignalType::kTmk: {
      video::TmkFeatures features;
      const std::string_view bytes(reinterpret_cast<const char*>(content.data()), content.size());
      if (!video::TmkFeatures::Parse(bytes, &features).ok()) {
        ++unreadable_video_;
        return Status::Ok();
      }
      video_->AddTmk(id, std::move(features));
      return Status::Ok();
    }
  }
  return Status::Ok();
}

Status Matcher::FlushPdq(std::vector<index::Code256>* codes, std::vector<uint64_t>* ids) {
  if (codes->empty()) return Status::Ok();
  // Replaying an add the index already holds (a snapshot newer than the
  // cursor, a restart) is a no-op: ids are never reused.
  size_t keep = 0;
  for (size_t i = 0; i < ids->size(); ++i) {
    if (pdq_->Contains((*ids)[i])) continue;
    (*codes)[keep] = (*codes)[i];
    (*ids)[keep] = (*ids)[i];
    ++keep;
  }
  codes->resize(keep);
  ids->resize(keep);
  Status s = pdq_->Add(*codes, *ids);
  codes->clear();
  ids->clear();
  return s;
}

Status Matcher::Refresh(size_t* applied) {
  std::lock_guard<std::mutex> lock(refresh_mu_);
  size_t total = 0;
  std::vector<Change> changes;
  std::vector<index::Code256> codes;
  std::vector<uint64_t> ids;
  bool banks_changed = false;
  for (;;) {
    uint64_t next = cursor_;
    Status s = store_->ChangesSince(cursor_.load(), kChangeBatch, &changes, &next);
    if (!s.ok()) return s;
    for (const Change& c : changes) {
      switch (c.kind) {
        case Change::Kind::kAdd:
          s = AddSignal(c.signal_id, c.bank_id, c.type, c.value, c.content, &codes, &ids);
          break;
        case Change::Kind::kWithdraw: {
          // Pending adds first, so an add and its withdrawal in one batch
          // end withdrawn.
          s = FlushPdq(&codes, &ids);
          if (!s.ok()) break;
          s = CheckIds(c.bank_id, c.signal_id);
          if (!s.ok()) break;
          const uint64_t id = IndexId(c.bank_id, c.signal_id);
          const uint64_t one[1] = {id};
          if (c.type == SignalType::kPdq) {
            pdq_->Remove(one);
          } else if (SignalHasContent(c.type)) {
            video_->Remove(id);
          } else {
            digests_.Remove(id);
          }
          break;
        }
        case Change::Kind::kBank:
          banks_changed = true;
          break;
      }
      if (!s.ok()) return s;
    }
    s = FlushPdq(&codes, &ids);
    if (!s.ok()) return s;
    total += changes.size();
    cursor_ = next;
    // A short page is not the end: the store ends a page early when its
    // video content passes kChangesContentBudget. Only an empty one is.
    if (changes.empty()) break;
  }
  if (banks_changed) {
    Status s = LoadBanks();
    if (!s.ok()) return s;
  }
  if (applied) *applied = total;
  return Status::Ok();
}

Status Matcher::Match(const MatchQuery& query, MatchResult* result) const {
  result->hits.clear();
  result->allowed.clear();
  result->suppressed = 0;
  // Video matching needs no bank settings and can take tens of milliseconds
  // (TMK level 2): it runs before the banks' shared lock, so that a bank
  // change (LoadBanks, a writer) never waits behind it.
  std::vector<internal::VideoHit> video_hits;
  if (!query.vpdq.empty() || query.tmk != nullptr) {
    video_->Match(query.vpdq, query.tmk, video::kVpdqMatchPercent, &video_hits);
  }
  std::shared_lock<std::shared_mutex> lock(banks_mu_);
  std::vector<Hit> all;
  auto bank_of = [&](uint64_t id) -> const Bank* {
    auto it = banks_.find(static_cast<int64_t>(id >> kBankShift));
    return it == banks_.end() || !it->second.enabled ? nullptr : &it->second;
  };
  auto add = [&](uint64_t id, SignalType type, int distance) {
    const Bank* b = bank_of(id);
    if (b == nullptr) return;
    if (type == SignalType::kPdq && distance > b->pdq_distance) return;
    Hit h;
    h.signal_id = id & kSignalMask;
    h.bank_id = b->id;
    h.bank_name = b->name;
    h.category = b->category;
    h.type = type;
    h.distance = distance;
    all.push_back(std::move(h));
  };
  if (!query.pdq.empty() && max_distance_ >= 0) {
    std::vector<index::Match> matches;
    pdq_->RangeSearchAny(query.pdq, max_distance_, &matches);
    for (const index::Match& m : matches) add(m.id, SignalType::kPdq, m.distance);
  }
  for (const internal::VideoHit& v : video_hits) {
    const size_t before = all.size();
    add(v.key, v.type, 0);
    if (all.size() == before) continue;
    all.back().vpdq_query_percent = v.query_percent;
    all.back().vpdq_target_percent = v.target_percent;
    all.back().tmk_level1 = v.level1;
    all.back().tmk_level2 = v.level2;
  }
  std::vector<uint64_t> ids;
  if (query.md5) {
    digests_.Lookup(index::DigestType::kMd5, *query.md5, &ids);
    for (uint64_t id : ids) add(id, SignalType::kMd5, 0);
  }
  if (query.sha256) {
    digests_.Lookup(index::DigestType::kSha256, *query.sha256, &ids);
    for (uint64_t id : ids) add(id, SignalType::kSha256, 0);
  }
  for (Hit& h : all) {
    (h.category == Category::kAllow ? result->allowed : result->hits).push_back(std::move(h));
  }
  if (!result->allowed.empty()) {
    result->suppressed = result->hits.size();
    result->hits.clear();
  }
  std::sort(result->hits.begin(), result->hits.end(), SameBankThenSignal);
  std::sort(result->allowed.begin(), result->allowed.end(), SameBankThenSignal);
  return Status::Ok();
}

Status Matcher::SaveSnapshot() {
  if (options_.snapshot_path.empty()) return Status::InvalidArgument("no index snapshot path is configured");
  std::lock_guard<std::mutex> lock(refresh_mu_);
  return pdq_->SaveSnapshot(options_.snapshot_path, cursor_.load());
}

uint64_t Matcher::cursor() const { return cursor_.load(); }

}  // namespace safeguard::bank
