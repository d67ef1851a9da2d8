// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// Pieces the SQLite and PostgreSQL stores share: the schema version, input
// validation, the clock, the change kinds as stored, and a connection pool.
// Internal to src/bank.

#ifndef SAFEGUARD_SRC_BANK_STORE_INTERNAL_H_
#define SAFEGUARD_SRC_BANK_STORE_INTERNAL_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "safeguard/bank/store.h"
#include "safeguard/common/status.h"

namespace safeguard::bank::internal {

/// The schema version this build writes and understands, in both backends
/// (docs/store.md lists what each version added).
inline constexpr int kSchemaVersion = 2;

/// change_log.kind values as stored. kAdd is never stored: adds are the
/// signals rows themselves (a signal's id is the seq of its add).
inline constexpr int kStoredWithdraw = static_cast<int>(Change::Kind::kWithdraw);
inline constexpr int kStoredBank = static_cast<int>(Change::Kind::kBank);

/// How often SignalBatch::progress is called, in signals.
inline constexpr size_t kProgressInterval = 65536;

/// The most signals one batch may add (positions are 32-bit).
inline constexpr size_t kMaxBatchSignals = size_t{1} << 31;

/// Returns the positions in `signals` of the first occurrence of each
/// distinct (type, value), ordered by type name and then value bytes: the
/// order of the live-value index in both backends, so that inserting in it
/// appends to the index instead of touching a random page per row. Stores in
/// *repeats how many positions were left out as repeats of an earlier one.
std::vector<uint32_t> InsertionOrder(std::span<const NewSignal> signals, uint64_t* repeats);

/// Returns options.clock() or, if unset, the system clock in Unix milliseconds.
int64_t NowMs(const StoreOptions& options);

/// Validates everything in `batch` before a transaction starts: each signal
/// (the message names its position), the withdraw spec and the checkpoint.
Status ValidateBatch(const SignalBatch& batch);

/// Returns an error for a schema version newer than kSchemaVersion, naming
/// `where` (a path or "the PostgreSQL database").
Status NewerSchemaError(const std::string& where, int64_t version);

/// A pool of open connections of type Conn. Acquire hands out an idle one or
/// opens a new one with the factory; Release keeps up to max_idle of them.
/// Thread-safe.
template <typename Conn>
class ConnectionPool {
 public:
  using Factory = std::function<Status(std::unique_ptr<Conn>*)>;

  ConnectionPool(Factory factory, size_t max_idle) : factory_(std::move(factory)), max_idle_(max_idle) {}

  /// Stores an open connection in *conn (the caller owns it until Release).
  Status Acquire(std::unique_ptr<Conn>* conn) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!idle_.empty()) {
        *conn = std::move(idle_.back());
        idle_.pop_back();
        return Status::Ok();
      }
    }
    return factory_(conn);
  }

  /// Returns a connection to the pool, or closes it when the pool is full or
  /// `healthy` is false (a broken connection must not be handed out again).
  void Release(std::unique_ptr<Conn> conn, bool healthy) {
    if (!conn || !healthy) return;
    std::lock_guard<std::mutex> lock(mu_);
    if (idle_.size() < max_idle_) idle_.push_back(std::move(conn));
  }

 private:
  const Factory factory_;
  const size_t max_idle_;
  std::mutex mu_;
  std::vector<std::unique_ptr<Conn>> idle_;  // guarded by mu_
};

}  // namespace safeguard::bank::internal

#endif  // SAFEGUARD_SRC_BANK_STORE_INTERNAL_H_
