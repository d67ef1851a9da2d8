// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// SignalCache: the store's records of recently matched signals, kept in
// memory for GET /v1/lookup, so a repeated match does not read the
// database (a read transaction, B-tree pages, file locks: about a sixth of
// a matched lookup's time at 10M signals).
//
// It is exactly as current as the index: every entry belongs to one
// generation, the matcher and the change-log cursor it had applied when the
// entry was read, and the whole cache is dropped when either changes. Signals
// change only through the change log (withdrawals, bank updates, which also
// change a signal's bank name), and the server applies its own changes to
// the matcher before answering them, so a lookup never sees a record older
// than the index it matched against. Bounded by bytes: when an addition
// would pass the budget the cache starts empty again (no per-entry LRU
// bookkeeping on the hot path). Thread-safe.

#ifndef SAFEGUARD_SERVER_SIGNAL_CACHE_H_
#define SAFEGUARD_SERVER_SIGNAL_CACHE_H_

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <span>
#include <unordered_map>
#include <vector>

#include "safeguard/bank/bank.h"
#include "safeguard/bank/store.h"
#include "safeguard/common/status.h"

namespace safeguard::server {

class SignalCache {
 public:
  /// Holds at most about `budget_bytes` of records; 0 turns the cache off
  /// (every Get reads the store).
  explicit SignalCache(size_t budget_bytes) : budget_(budget_bytes) {}

  /// Stores in *out the signals of `ids` that the store has, in the order of
  /// `ids`, as Store::GetSignals does: from the cache where it holds them for
  /// `generation` (the matcher's identity and cursor), the rest from `store`
  /// in one call. Returns the store's error.
  Status Get(bank::Store* store, const void* matcher, uint64_t cursor, std::span<const uint64_t> ids,
             std::vector<bank::Signal>* out);

  /// Lookups answered from memory and from the store, since the start.
  uint64_t hits() const;
  uint64_t misses() const;
  /// Records held and their estimated bytes.
  size_t size() const;
  size_t bytes() const;

 private:
  static size_t Footprint(const bank::Signal& s);

  const size_t budget_;
  mutable std::mutex mu_;
  const void* matcher_ = nullptr;                       // guarded by mu_
  uint64_t cursor_ = 0;                                 // guarded by mu_
  std::unordered_map<uint64_t, bank::Signal> records_;  // guarded by mu_
  size_t bytes_ = 0;                                    // guarded by mu_
  uint64_t hits_ = 0, misses_ = 0;                      // guarded by mu_
};

}  // namespace safeguard::server

#endif  // SAFEGUARD_SERVER_SIGNAL_CACHE_H_
