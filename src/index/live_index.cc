// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.

#include "safeguard/index/live_index.h"

#include <algorithm>

#include "safeguard/index/flat_scan.h"

namespace safeguard::index {
namespace {

// Small chunks: an Add copies at most one partial chunk, so single-entry
// adds stay cheap; the delta is short-lived anyway.
constexpr size_t kChunkEntries = 256;

bool SortedContains(const std::vector<uint64_t>& sorted, uint64_t id) {
  return std::binary_search(sorted.begin(), sorted.end(), id);
}

}  // namespace

LiveIndex::LiveIndex() : LiveIndex(Options()) {}

LiveIndex::LiveIndex(const Options& options) : options_(options) {
  auto s = std::make_shared<State>();
  s->removed = std::make_shared<const std::vector<uint64_t>>();
  s->base_ids = std::make_shared<const std::vector<uint64_t>>();
  Publish(std::move(s));
}

LiveIndex::~LiveIndex() {
  std::unique_lock<std::mutex> lock(writer_mu_);
  compact_done_.wait(lock, [&] { return !compacting_; });
  std::thread t = std::move(compactor_);
  lock.unlock();
  if (t.joinable()) t.join();
}

Status LiveIndex::Add(std::span<const Code256> codes, std::span<const uint64_t> ids) {
  if (codes.size() != ids.size()) {
    return Status::InvalidArgument("LiveIndex::Add: " + std::to_string(codes.size()) + " codes but " +
                                   std::to_string(ids.size()) + " ids");
  }
  if (codes.empty()) return Status::Ok();
  std::lock_guard<std::mutex> lock(writer_mu_);
  const std::shared_ptr<const State> cur = Load();
  std::unordered_set<uint64_t> batch;
  for (uint64_t id : ids) {
    if (IsLiveLocked(*cur, id) || !batch.insert(id).second) {
      return Status::InvalidArgument("LiveIndex::Add: id " + std::to_string(id) + " is already in the index");
    }
    if (SortedContains(*cur->removed, id)) {
      return Status::InvalidArgument("LiveIndex::Add: id " + std::to_string(id) +
                                     " was removed and may not be reused before the index is compacted");
    }
  }
  auto next = std::make_shared<State>(*cur);
  size_t i = 0;
  while (i < codes.size()) {
    std::shared_ptr<Chunk> chunk;
    if (!next->delta.empty() && next->delta.back()->ids.size() < kChunkEntries) {
      chunk = std::make_shared<Chunk>(*next->delta.back());  // copy-on-write: readers keep the old one
      next->delta.pop_back();
    } else {
      chunk = std::make_shared<Chunk>();
      chunk->codes.reserve(kChunkEntries);
      chunk->ids.reserve(kChunkEntries);
    }
    const size_t take = std::min(kChunkEntries - chunk->ids.size(), codes.size() - i);
    chunk->codes.insert(chunk->codes.end(), codes.begin() + i, codes.begin() + i + take);
    chunk->ids.insert(chunk->ids.end(), ids.begin() + i, ids.begin() + i + take);
    next->delta.push_back(std::move(chunk));
    i += take;
  }
  next->delta_size += codes.size();
  next->live += codes.size();
  delta_ids_.insert(ids.begin(), ids.end());
  std::shared_ptr<const State> published = std::move(next);
  Publish(published);
  MaybeCompactLocked(published);
  return Status::Ok();
}

size_t LiveIndex::Remove(std::span<const uint64_t> ids) {
  std::lock_guard<std::mutex> lock(writer_mu_);
  const std::shared_ptr<const State> cur = Load();
  std::vector<uint64_t> gone;
  for (uint64_t id : ids) {
    if (IsLiveLocked(*cur, id)) gone.push_back(id);
  }
  std::sort(gone.begin(), gone.end());
  gone.erase(std::unique(gone.begin(), gone.end()), gone.end());
  if (gone.empty()) return 0;
  for (uint64_t id : gone) delta_ids_.erase(id);
  auto removed = std::make_shared<std::vector<uint64_t>>();
  removed->reserve(cur->removed->size() + gone.size());
  std::merge(cur->removed->begin(), cur->removed->end(), gone.begin(), gone.end(),
             std::back_inserter(*removed));
  auto next = std::make_shared<State>(*cur);
  next->removed = std::move(removed);
  next->live -= gone.size();
  std::shared_ptr<const State> published = std::move(next);
  Publish(published);
  MaybeCompactLocked(published);
  return gone.size();
}

size_t LiveIndex::size() const { return Load()->live; }

bool LiveIndex::Contains(uint64_t id) const {
  std::lock_guard<std::mutex> lock(writer_mu_);
  return IsLiveLocked(*Load(), id);
}

bool LiveIndex::IsLiveLocked(const State& s, uint64_t id) const {
  if (SortedContains(*s.removed, id)) return false;
  return delta_ids_.count(id) != 0 || SortedContains(*s.base_ids, id);
}

std::shared_ptr<const std::vector<uint64_t>> LiveIndex::SortedIds(const MihIndex& base) {
  // LSD radix sort, 16 bits a pass, only as many passes as the largest id
  // needs (store ids are small: two passes below 2^32): a quarter of
  // std::sort's time at 10M, which is most of LoadSnapshot after the read.
  auto sorted = std::make_shared<std::vector<uint64_t>>(base.ids().begin(), base.ids().end());
  std::vector<uint64_t>& a = *sorted;
  uint64_t max_id = 0;
  for (uint64_t id : a) max_id = std::max(max_id, id);
  std::vector<uint64_t> tmp(a.size());
  std::vector<uint32_t> count(65536);
  for (int shift = 0; shift < 64 && (max_id >> shift) != 0; shift += 16) {
    std::fill(count.begin(), count.end(), 0);
    for (uint64_t id : a) ++count[(id >> shift) & 0xffff];
    uint32_t sum = 0;
    for (uint32_t& c : count) {
      const uint32_t here = c;
      c = sum;
      sum += here;
    }
    for (uint64_t id : a) tmp[count[(id >> shift) & 0xffff]++] = id;
    a.swap(tmp);
  }
  return sorted;
}

void LiveIndex::LiveEntries(const State& s, std::vector<Code256>* codes, std::vector<uint64_t>* ids) {
  codes->reserve(s.live);
  ids->reserve(s.live);
  const std::vector<uint64_t>& removed = *s.removed;
  if (s.base) {
    const auto bc = s.base->codes();
    const auto bi = s.base->ids();
    for (size_t i = 0; i < bi.size(); ++i) {
      if (!SortedContains(removed, bi[i])) {
        codes->push_back(bc[i]);
        ids->push_back(bi[i]);
      }
    }
  }
  for (const auto& chunk : s.delta) {
    for (size_t i = 0; i < chunk->ids.size(); ++i) {
      if (!SortedContains(removed, chunk->ids[i])) {
        codes->push_back(chunk->codes[i]);
        ids->push_back(chunk->ids[i]);
      }
    }
  }
}

Status LiveIndex::SaveSnapshot(const std::string& path, uint64_t tag) const {
  const std::shared_ptr<const State> s = Load();
  if (s->base && s->delta.empty() && s->removed->empty()) return s->base->Save(path, tag);
  std::vector<Code256> codes;
  std::vector<uint64_t> ids;
  LiveEntries(*s, &codes, &ids);
  MihIndex folded;
  folded.Build(codes, ids, BaseOptions());
  return folded.Save(path, tag);
}

Status LiveIndex::LoadSnapshot(const std::string& path, uint64_t* tag) {
  // Read and check outside the writer lock: searches and writers carry on
  // against the current entries until the new ones are complete.
  auto base = std::make_shared<MihIndex>();
  uint64_t loaded_tag = 0;
  Status s = base->Load(path, &loaded_tag);
  if (!s.ok()) return s;
  if (base->layout() != options_.layout) {
    auto name = [](MihIndex::Layout l) { return l == MihIndex::Layout::kFast ? "fast" : "compact"; };
    return Status::InvalidArgument(path + ": index snapshot is in the " + std::string(name(base->layout())) +
                                   " layout, but the index is set to the " + name(options_.layout) +
                                   " layout; rebuild it from the store");
  }
  std::shared_ptr<const std::vector<uint64_t>> sorted = SortedIds(*base);
  const auto dup = std::adjacent_find(sorted->begin(), sorted->end());
  if (dup != sorted->end()) {
    return Status::Corrupt(path + ": index snapshot holds id " + std::to_string(*dup) +
                           " twice; rebuild it from the store");
  }
  std::unique_lock<std::mutex> lock(writer_mu_);
  compact_done_.wait(lock, [&] { return !compacting_; });
  auto next = std::make_shared<State>();
  next->live = base->size();
  next->base = std::move(base);
  next->base_ids = std::move(sorted);
  next->removed = std::make_shared<const std::vector<uint64_t>>();
  delta_ids_.clear();
  Publish(std::move(next));
  if (tag) *tag = loaded_tag;
  return Status::Ok();
}

size_t LiveIndex::MemoryBytes() const {
  const std::shared_ptr<const State> s = Load();
  size_t bytes = s->base ? s->base->MemoryBytes() : 0;
  bytes += s->base_ids->capacity() * sizeof(uint64_t) + s->removed->capacity() * sizeof(uint64_t);
  for (const auto& chunk : s->delta) {
    bytes += chunk->codes.capacity() * sizeof(Code256) + chunk->ids.capacity() * sizeof(uint64_t);
  }
  return bytes;
}

uint64_t LiveIndex::Prefault() const {
  const std::shared_ptr<const State> s = Load();
  uint64_t sum = s->base ? s->base->Prefault() : 0;
  for (uint64_t id : *s->base_ids) sum += id & 1;  // sequential: one pass reads every page
  for (const auto& chunk : s->delta) {
    for (const Code256& c : chunk->codes) sum += c.w[0] & 1;
  }
  return sum;
}

void LiveIndex::SearchState(const State& s, const Code256& query, int radius, std::vector<Match>* out) const {
  if (s.base) {
    s.base->RangeSearch(query, radius, out);
  } else {
    out->clear();
  }
  thread_local std::vector<uint32_t> rows;
  for (const auto& chunk : s.delta) {
    rows.clear();
    ScanRange(chunk->codes.data(), chunk->codes.size(), query, radius, &rows);
    for (uint32_t r : rows) out->push_back(Match{chunk->ids[r], Distance(chunk->codes[r], query)});
  }
  if (!s.removed->empty()) {
    std::erase_if(*out, [&](const Match& m) { return SortedContains(*s.removed, m.id); });
  }
}

void LiveIndex::RangeSearch(const Code256& query, int radius, std::vector<Match>* out) const {
  const std::shared_ptr<const State> s = Load();
  SearchState(*s, query, radius, out);
}

void LiveIndex::RangeSearchAny(std::span<const Code256> queries, int radius, std::vector<Match>* out) const {
  out->clear();
  const std::shared_ptr<const State> s = Load();
  std::vector<Match> one;
  for (const Code256& q : queries) {
    SearchState(*s, q, radius, &one);
    out->insert(out->end(), one.begin(), one.end());
  }
  std::sort(out->begin(), out->end(), [](const Match& a, const Match& b) {
    return a.id != b.id ? a.id < b.id : a.distance < b.distance;
  });
  out->erase(
      std::unique(out->begin(), out->end(), [](const Match& a, const Match& b) { return a.id == b.id; }),
      out->end());
}

void LiveIndex::MaybeCompactLocked(const std::shared_ptr<const State>& s) {
  if (compacting_) return;
  if (s->delta_size <= options_.compact_threshold && s->removed->size() <= options_.compact_threshold) return;
  compacting_ = true;
  if (compactor_.joinable()) compactor_.join();  // the previous one has finished its work
  compactor_ = std::thread(&LiveIndex::Compact, this, s);
}

void LiveIndex::Compact(std::shared_ptr<const State> snapshot) {
  for (;;) {
    // Build the new base from the snapshot's live entries, without any
    // lock: writers and readers carry on meanwhile.
    std::vector<Code256> codes;
    std::vector<uint64_t> ids;
    LiveEntries(*snapshot, &codes, &ids);
    const std::vector<uint64_t>& removed = *snapshot->removed;
    auto base = std::make_shared<MihIndex>();
    base->Build(codes, ids, BaseOptions());
    std::shared_ptr<const std::vector<uint64_t>> base_ids = SortedIds(*base);
    codes = {};
    ids = {};

    // Install: keep what changed since the snapshot (later additions, later
    // removals), drop what the new base already reflects.
    std::lock_guard<std::mutex> lock(writer_mu_);
    const std::shared_ptr<const State> cur = Load();
    auto next = std::make_shared<State>();
    next->base = std::move(base);
    next->base_ids = std::move(base_ids);
    size_t seen = 0;
    std::shared_ptr<Chunk> chunk;
    for (const auto& c : cur->delta) {
      for (size_t i = 0; i < c->ids.size(); ++i, ++seen) {
        if (seen < snapshot->delta_size) continue;
        if (!chunk || chunk->ids.size() == kChunkEntries) {
          if (chunk) next->delta.push_back(std::move(chunk));
          chunk = std::make_shared<Chunk>();
        }
        chunk->codes.push_back(c->codes[i]);
        chunk->ids.push_back(c->ids[i]);
      }
    }
    if (chunk) next->delta.push_back(std::move(chunk));
    next->delta_size = cur->delta_size - snapshot->delta_size;
    // The ids added since the snapshot are the delta's; the rest are the base's.
    delta_ids_.clear();
    for (const auto& c : next->delta) delta_ids_.insert(c->ids.begin(), c->ids.end());
    auto later_removed = std::make_shared<std::vector<uint64_t>>();
    std::set_difference(cur->removed->begin(), cur->removed->end(), removed.begin(), removed.end(),
                        std::back_inserter(*later_removed));
    next->removed = std::move(later_removed);
    next->live = cur->live;
    const bool again =
        next->delta_size > options_.compact_threshold || next->removed->size() > options_.compact_threshold;
    std::shared_ptr<const State> published = next;
    Publish(std::move(next));
    // What arrived during the build (a bulk load adds faster than a base
    // builds) may itself be over the threshold; no later Add may come to
    // start another rebuild, and readers would scan that delta for ever.
    if (again) {
      snapshot = std::move(published);
      continue;
    }
    compacting_ = false;
    compact_done_.notify_all();
    return;
  }
}

size_t LiveIndex::delta_size() const { return Load()->delta_size; }

void LiveIndex::WaitForCompaction() {
  std::unique_lock<std::mutex> lock(writer_mu_);
  compact_done_.wait(lock, [&] { return !compacting_; });
}

}  // namespace safeguard::index
