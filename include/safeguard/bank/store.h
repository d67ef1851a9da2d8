// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// Store: where banks and their signals live — SQLite for one machine,
// PostgreSQL when several matcher nodes share one source of truth. Both
// implement the same interface and pass the same tests (tests/bank_store_test.cc).
//
//   std::unique_ptr<bank::Store> store;
//   Status s = bank::Store::OpenSqlite("/var/lib/safeguard", &store);
//   if (!s.ok()) return s;
//   bank::ApplyResult r;
//   s = store->Import("ncii-stopncii", signals, &r);  // one transaction
//
// Semantics every backend keeps:
//  - Every write is one transaction: all of it is applied or none of it,
//    also when the process is killed half-way (tests/bank_store_crash_test.cc).
//  - Every add, every withdrawal and every bank change takes the next number
//    of one sequence. A signal's id is the sequence number of its add, so ids
//    are never reused and every id of a write is larger than every id of an
//    earlier write. Within one write the store picks the order (it inserts
//    in index order, for speed), and ids may have gaps. Sequence order is
//    commit order, also with concurrent writers (they are serialised), so a
//    reader that follows the change log from a saved cursor (ChangesSince)
//    never skips a change that committed late.
//  - Inside one bank, adding a value whose (type, value) is already live is a
//    duplicate: it is skipped (its external id and metadata are dropped) and
//    counted in ApplyResult::duplicates. The same goes for the second of two
//    equal values in one batch. A withdrawn value may be added again and
//    gets a new id.
//  - Withdrawn signals keep their row (added and withdrawn times) for the
//    record; they stop being live.
//  - A video signal (vpdq, tmk) is keyed by its value, the SHA-256 of its
//    content, like any other: the same content twice in a bank is a
//    duplicate, and withdrawal by value takes the digest. The content is
//    stored beside it and comes back from ForEachLiveSignal, ChangesSince
//    (adds) and GetSignal; GetSignals reports only its size.
//
// Thread-safety: a Store may be used from any number of threads at once.
// Each read borrows a database connection from a small pool inside the store
// (opening another if none is idle), so reads run in parallel with each
// other and with a write (SQLite writes use one writer connection under a
// mutex; PostgreSQL writes borrow from the pool too). Writes are serialised: SQLite allows one writer at
// a time per database file; PostgreSQL writers queue on the row that holds
// the sequence counter. Several processes may open the same database.

#ifndef SAFEGUARD_BANK_STORE_H_
#define SAFEGUARD_BANK_STORE_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "safeguard/bank/bank.h"
#include "safeguard/common/status.h"

namespace safeguard::bank {

/// Settings for opening a store.
struct StoreOptions {
  /// Returns the current Unix time in milliseconds; stamps created, updated,
  /// added and withdrawn times. Empty: the system clock. Called from any
  /// thread that uses the store.
  std::function<int64_t()> clock;
  /// SQLite page cache per connection, in MiB. Imports into a large bank
  /// touch every page of the duplicate-check index; a cache that holds it
  /// keeps a 10M-row import fast.
  int sqlite_cache_mib = 512;
  /// How many idle connections the store keeps open for reuse.
  int max_idle_connections = 4;
};

/// Which signals of a bank to withdraw. An entry that matches no live signal
/// of the bank is ignored (withdrawing twice is harmless).
struct WithdrawSpec {
  /// Every live signal carrying one of these external ids (not empty).
  std::vector<std::string> external_ids;
  /// These signals, if they belong to the bank and are live.
  std::vector<uint64_t> signal_ids;
  /// The live signal with this type and raw value, if any.
  struct Value {
    SignalType type = SignalType::kPdq;
    std::vector<uint8_t> value;
  };
  std::vector<Value> values;

  /// Returns true if the spec names nothing.
  bool empty() const { return external_ids.empty() && signal_ids.empty() && values.empty(); }
};

/// One atomic write to a bank's signals (Store::Apply): withdrawals first,
/// then additions, then the checkpoint, in one transaction.
struct SignalBatch {
  WithdrawSpec withdraw;
  /// Signals to add. Not owned: the viewed array must outlive the Apply call.
  std::span<const NewSignal> add;
  /// If not empty, sets this checkpoint of the bank in the same transaction,
  /// so an exchange sync records how far it got exactly when the data lands.
  std::string checkpoint_key;
  std::string checkpoint_value;
  /// If set, called on the calling thread with (signals processed so far,
  /// add.size()) every 65,536 signals and once with (add.size(), add.size())
  /// when all have been handed to the database, before the transaction
  /// commits. It must not call into the store.
  std::function<void(size_t done, size_t total)> progress;
};

/// What a write did.
struct ApplyResult {
  uint64_t added = 0;       ///< New live signals.
  uint64_t duplicates = 0;  ///< Additions skipped as already live in the bank (or earlier in the batch).
  uint64_t withdrawn = 0;   ///< Live signals that became withdrawn.
};

/// A live signal as seen by ForEachLiveSignal: only what an index needs.
struct LiveSignal {
  uint64_t id = 0;
  int64_t bank_id = 0;
  SignalType type = SignalType::kPdq;
  /// Raw bytes; valid only during the callback.
  std::span<const uint8_t> value;
  /// The content of a video signal (SignalHasContent), empty for the other
  /// types; valid only during the callback.
  std::span<const uint8_t> content;
};

/// ChangesSince ends a page early, with fewer than `limit` changes, once the
/// content of the video signals it holds reaches this many bytes (always at
/// least one change): a page of 65,536 TMK additions would otherwise hold 17
/// GB. A reader loops until a page comes back empty.
inline constexpr uint64_t kChangesContentBudget = uint64_t{64} << 20;

/// One entry of the change log.
///
/// To follow the store, a reader loads every live signal with
/// ForEachLiveSignal (which returns the cursor its snapshot corresponds to),
/// then repeatedly calls ChangesSince(cursor) and applies each change:
/// kAdd inserts (signal_id, type, value, content), kWithdraw removes signal_id, kBank
/// re-reads the bank's settings (created, distance or enabled changed, or
/// deleted). Applying a change is idempotent: signal ids are never reused,
/// so adding an id that is already there or removing one that is gone can be
/// ignored, and a reader that crashes may replay from an older cursor.
struct Change {
  enum class Kind : uint8_t {
    kAdd = 1,       ///< A signal was added.
    kWithdraw = 2,  ///< A signal was withdrawn (including by DeleteBank).
    kBank = 3,      ///< A bank was created, updated or deleted.
  };
  uint64_t seq = 0;
  Kind kind = Kind::kAdd;
  /// The signal added or withdrawn; 0 for kBank. Equal to seq for kAdd.
  uint64_t signal_id = 0;
  int64_t bank_id = 0;
  /// The signal's type and raw value, for kAdd and kWithdraw.
  SignalType type = SignalType::kPdq;
  std::vector<uint8_t> value;
  /// The content of an added video signal (SignalHasContent); empty for
  /// other types and for kWithdraw and kBank, which need only the id.
  std::vector<uint8_t> content;
};

class Store {
 public:
  virtual ~Store() = default;
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  /// Opens (creating if missing) the SQLite store in DATA_DIR/safeguard.db,
  /// creating `data_dir` if needed, and brings its schema up to date. On
  /// success stores the store in *store; on error stores nullptr and returns
  /// kIoError (cannot create or open), kCorrupt (not a database, or damaged),
  /// or kUnsupportedFormat (another application's database, or a schema
  /// written by a newer Safeguard). The caller owns *store.
  static Status OpenSqlite(const std::string& data_dir, const StoreOptions& options,
                           std::unique_ptr<Store>* store);
  /// As above with default options.
  static Status OpenSqlite(const std::string& data_dir, std::unique_ptr<Store>* store);

  /// Connects to PostgreSQL with a libpq connection string ("host=... dbname=..."
  /// or a postgresql:// URI) and creates or upgrades the schema in the
  /// connection's first search_path schema (choose one with
  /// "options='-csearch_path=NAME'"). On success stores the store in *store;
  /// on error stores nullptr and returns kIoError (cannot connect) or
  /// kUnsupportedFormat (schema written by a newer Safeguard). The caller
  /// owns *store.
  static Status OpenPostgres(const std::string& conninfo, const StoreOptions& options,
                             std::unique_ptr<Store>* store);
  /// As above with default options.
  static Status OpenPostgres(const std::string& conninfo, std::unique_ptr<Store>* store);

  // ---- banks ---------------------------------------------------------------

  /// Creates a bank. Returns kInvalidArgument if the spec is invalid or a bank
  /// of that name exists. On success stores the new bank in *bank (if not null).
  virtual Status CreateBank(const BankSpec& spec, Bank* bank) = 0;
  /// Stores the bank called `name` in *bank. Returns kNotFound if there is none.
  virtual Status GetBank(const std::string& name, Bank* bank) = 0;
  /// Stores every bank in *banks (cleared first), ordered by name.
  virtual Status ListBanks(std::vector<Bank>* banks) = 0;
  /// Changes a bank's distance and/or enabled flag. Returns kNotFound or
  /// kInvalidArgument (bad distance). On success stores the bank as it is now
  /// in *bank (if not null). Records a kBank change.
  virtual Status UpdateBank(const std::string& name, const BankUpdate& update, Bank* bank) = 0;
  /// Deletes a bank: withdraws every live signal of it (a kWithdraw change
  /// each), then removes the bank from GetBank and ListBanks (a kBank
  /// change), in one transaction. Its rows stay for the record and its name
  /// may be used again. Stores the number withdrawn in *withdrawn (if not
  /// null). Returns kNotFound if there is no such bank.
  virtual Status DeleteBank(const std::string& name, uint64_t* withdrawn) = 0;

  // ---- signals ---------------------------------------------------------------

  /// Applies `batch` to bank `bank` in one transaction: all of it or, on any
  /// error, none of it. Every NewSignal and the checkpoint are validated
  /// before anything is written; an invalid one is kInvalidArgument naming
  /// its position. Returns kNotFound if the bank does not exist. Stores the
  /// counts in *result (if not null; zeros on error).
  virtual Status Apply(const std::string& bank, const SignalBatch& batch, ApplyResult* result) = 0;
  /// Adds `signals` to `bank` in one transaction; see Apply.
  Status Import(const std::string& bank, std::span<const NewSignal> signals, ApplyResult* result);
  /// Withdraws the signals of `bank` named by `spec` in one transaction and
  /// stores how many became withdrawn in *withdrawn (if not null); see Apply.
  Status Withdraw(const std::string& bank, const WithdrawSpec& spec, uint64_t* withdrawn);

  /// Calls fn for every live signal of every bank (deleted banks have none;
  /// disabled banks are included: the caller decides), in no particular
  /// order, from one consistent snapshot, and stores in *cursor the change-log
  /// position of that snapshot: ChangesSince(*cursor) returns exactly what
  /// happened afterwards. Stops and returns fn's status if fn returns non-OK.
  /// fn runs on the calling thread and must not call into the store.
  virtual Status ForEachLiveSignal(const std::function<Status(const LiveSignal&)>& fn, uint64_t* cursor) = 0;

  /// Stores in *changes (cleared first) up to `limit` changes with sequence
  /// number greater than `cursor`, in sequence order, and in *next_cursor the
  /// cursor to pass next time (the last change's seq, or `cursor` if there
  /// were none). Changes committed by concurrent writers are never skipped.
  /// The adds of video signals carry their content, so a page of `limit`
  /// changes may hold up to limit * kMaxSignalContentBytes bytes of it: a
  /// caller following banks of video signals should choose `limit` with that
  /// in mind.
  virtual Status ChangesSince(uint64_t cursor, size_t limit, std::vector<Change>* changes,
                              uint64_t* next_cursor) = 0;

  /// Stores in *signals (cleared first) the signals with these ids, live or
  /// withdrawn, in the order of `ids`; ids the store does not hold are
  /// skipped. For turning index hits into bank, category and external id,
  /// and for listing a bank. Leaves Signal::content empty and sets only
  /// Signal::content_bytes: a listing of thousands of TMK signals would
  /// otherwise read 263 KB per row that nobody looks at (use GetSignal).
  virtual Status GetSignals(std::span<const uint64_t> ids, std::vector<Signal>* signals) = 0;

  /// Stores in *signal the signal with this id, live or withdrawn, with its
  /// content (Signal::content) if it has any. Returns kNotFound if the store
  /// holds no signal with this id.
  virtual Status GetSignal(uint64_t id, Signal* signal) = 0;

  /// Stores in *count the number of signals of `bank`: live ones only, or
  /// all ever added. Returns kNotFound if there is no such bank.
  /// (The same figures as Bank::live_signals and Bank::total_signals.)
  Status CountSignals(const std::string& bank, bool live_only, uint64_t* count);

  // ---- checkpoints -------------------------------------------------------------

  /// Stores in *value the checkpoint `key` of `bank` (how far an exchange
  /// sync got). Returns kNotFound if the bank or the checkpoint does not exist.
  virtual Status GetCheckpoint(const std::string& bank, const std::string& key, std::string* value) = 0;
  /// Sets checkpoint `key` of `bank` to `value`, durably. Returns kNotFound
  /// for an unknown bank, kInvalidArgument/kTooLarge for a bad key or value.
  Status SetCheckpoint(const std::string& bank, const std::string& key, const std::string& value);

 protected:
  Store() = default;
};

}  // namespace safeguard::bank

#endif  // SAFEGUARD_BANK_STORE_H_
