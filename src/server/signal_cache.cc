// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.

#include "signal_cache.h"

namespace safeguard::server {

size_t SignalCache::Footprint(const bank::Signal& s) {
  // The record, its heap parts, and the hash map's node and bucket.
  return sizeof(bank::Signal) + 64 + s.bank_name.capacity() + s.value.capacity() + s.content.capacity() +
         s.external_id.capacity() + s.source_list.capacity() + s.source_version.capacity() +
         s.metadata_json.capacity();
}

Status SignalCache::Get(bank::Store* store, const void* matcher, uint64_t cursor,
                        std::span<const uint64_t> ids, std::vector<bank::Signal>* out) {
  out->clear();
  if (budget_ == 0) return store->GetSignals(ids, out);
  // Records held are copied into *out under the lock (the cache may be
  // cleared while the store is read); the others leave a gap to fill.
  std::vector<uint64_t> missing;
  std::vector<size_t> gaps;  // gaps[k]: where missing[k]'s record goes in *out
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (matcher != matcher_ || cursor != cursor_) {
      records_.clear();
      bytes_ = 0;
      matcher_ = matcher;
      cursor_ = cursor;
    }
    for (uint64_t id : ids) {
      auto c = records_.find(id);
      if (c != records_.end()) {
        out->push_back(c->second);
      } else {
        gaps.push_back(out->size());
        out->emplace_back();
        missing.push_back(id);
      }
    }
    hits_ += ids.size() - missing.size();
    misses_ += missing.size();
  }
  if (missing.empty()) return Status::Ok();
  // The store outside the lock: other lookups carry on meanwhile.
  std::vector<bank::Signal> read;
  Status s = store->GetSignals(missing, &read);
  if (!s.ok()) {
    out->clear();
    return s;
  }
  std::unordered_map<uint64_t, const bank::Signal*> fresh;
  for (const bank::Signal& sig : read) fresh.emplace(sig.id, &sig);
  // Fill the gaps; an id the store does not have leaves none (as GetSignals).
  std::vector<bool> absent(out->size(), false);
  for (size_t k = 0; k < gaps.size(); ++k) {
    auto f = fresh.find(missing[k]);
    if (f != fresh.end())
      (*out)[gaps[k]] = *f->second;
    else
      absent[gaps[k]] = true;
  }
  size_t kept = 0;
  for (size_t i = 0; i < out->size(); ++i) {
    if (absent[i]) continue;
    if (kept != i) (*out)[kept] = std::move((*out)[i]);
    ++kept;
  }
  out->resize(kept);
  if (read.empty()) return Status::Ok();
  // Keep what was read, if the generation is still the one it was read for.
  std::lock_guard<std::mutex> lock(mu_);
  if (matcher != matcher_ || cursor != cursor_) return Status::Ok();
  for (bank::Signal& sig : read) {
    const size_t b = Footprint(sig);
    if (bytes_ + b > budget_) {
      records_.clear();
      bytes_ = 0;
      if (b > budget_) continue;
    }
    if (records_.emplace(sig.id, std::move(sig)).second) bytes_ += b;
  }
  return Status::Ok();
}

uint64_t SignalCache::hits() const {
  std::lock_guard<std::mutex> lock(mu_);
  return hits_;
}

uint64_t SignalCache::misses() const {
  std::lock_guard<std::mutex> lock(mu_);
  return misses_;
}

size_t SignalCache::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return records_.size();
}

size_t SignalCache::bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return bytes_;
}

}  // namespace safeguard::server
