// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// The SQLite store (docs/store.md has the schema and the reasons for it).
//
// One writer connection, used under write_mu_, and a pool of read-only
// connections. In WAL mode readers work from a snapshot and never wait for
// the writer, so a match that looks up signals (GetSignals) is not held up
// for the minute a 10M-row import takes. SQLite itself allows one writer per
// file; write_mu_ queues this process's writers on a mutex instead of on
// SQLite's sleep-and-retry busy handler, which still covers other processes.

#include <sqlite3.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "common/sqlite.h"
#include "safeguard/bank/store.h"
#include "store_internal.h"

namespace safeguard::bank {
namespace {

using internal::ConnectionPool;
using internal::kSchemaVersion;
using sqlite::Conn;
using sqlite::QueryInt;
using sqlite::Stmt;

// PRAGMA application_id, so that a Safeguard database is recognisable
// (`file` prints it) and another program's database is refused, not altered.
constexpr int32_t kApplicationId = 0x53474253;  // "SGBS"

// Imports of at least this many rows that also at least double the table
// rebuild the external-id index instead of updating it (see Apply).
constexpr uint64_t kBulkLoadMinRows = 100000;

// The external-id index exactly as the latest migration defines it; Apply
// drops and recreates it for bulk loads. Change both together.
constexpr char kCreateExternalIdIndex[] =
    "CREATE INDEX signals_external_id ON signals (bank_id, external_id) WHERE external_id <> ''";

// Schema migrations: kMigrations[v - 1] takes a database from version v - 1
// to v. Never edit a released entry; append a new one.
//
// No FOREIGN KEY clauses: SQLite does not enforce them unless asked, and
// asking costs a lookup per inserted signal; the store writes bank_id only
// from a bank it has just read inside the same transaction, and never
// deletes bank rows.
const char* const kMigrations[] = {
    // Version 1.
    R"sql(
CREATE TABLE counters (
  id       INTEGER PRIMARY KEY CHECK (id = 1),
  next_seq INTEGER NOT NULL
);
INSERT INTO counters (id, next_seq) VALUES (1, 1);

CREATE TABLE banks (
  id           INTEGER PRIMARY KEY,
  name         TEXT NOT NULL,
  category     TEXT NOT NULL,
  pdq_distance INTEGER NOT NULL,
  enabled      INTEGER NOT NULL,
  source       TEXT NOT NULL,
  created_at   INTEGER NOT NULL,
  updated_at   INTEGER NOT NULL,
  deleted_at   INTEGER,
  live_count   INTEGER NOT NULL DEFAULT 0,
  total_count  INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX banks_name ON banks (name) WHERE deleted_at IS NULL;

CREATE TABLE signals (
  id             INTEGER PRIMARY KEY,
  bank_id        INTEGER NOT NULL,
  type           TEXT NOT NULL,
  value          BLOB NOT NULL,
  external_id    TEXT NOT NULL,
  source_list    TEXT NOT NULL,
  source_version TEXT NOT NULL,
  metadata       TEXT NOT NULL,
  added_at       INTEGER NOT NULL,
  withdrawn_at   INTEGER
);
CREATE UNIQUE INDEX signals_live_value ON signals (bank_id, type, value) WHERE withdrawn_at IS NULL;
CREATE INDEX signals_external_id ON signals (bank_id, external_id) WHERE external_id <> '';

CREATE TABLE change_log (
  seq       INTEGER PRIMARY KEY,
  kind      INTEGER NOT NULL,
  signal_id INTEGER,
  bank_id   INTEGER NOT NULL
);

CREATE TABLE checkpoints (
  bank_id    INTEGER NOT NULL,
  key        TEXT NOT NULL,
  value      TEXT NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (bank_id, key)
);
)sql",
    // Version 2: the content of video signals (vpdq, tmk), NULL for the other
    // types. Their value is the content's SHA-256, so the live-value index
    // and everything keyed by value stay as they are. Adding a nullable
    // column rewrites nothing: rows written before it read as NULL.
    R"sql(
ALTER TABLE signals ADD COLUMN content BLOB;
)sql",
};
static_assert(std::size(kMigrations) == kSchemaVersion, "one migration per schema version");

// ---- row decoding --------------------------------------------------------------

constexpr char kBankColumns[] =
    "id, name, category, pdq_distance, enabled, source, created_at, updated_at, live_count, total_count";

Status ReadBank(const Stmt& stmt, Bank* bank) {
  bank->id = stmt.ColumnInt(0);
  bank->name = stmt.ColumnText(1);
  Status s = ParseCategory(stmt.ColumnText(2), &bank->category);
  if (!s.ok()) return Status::UnsupportedFormat("bank '" + bank->name + "': " + s.message());
  bank->pdq_distance = static_cast<int>(stmt.ColumnInt(3));
  bank->enabled = stmt.ColumnInt(4) != 0;
  bank->source = stmt.ColumnText(5);
  bank->created_at_ms = stmt.ColumnInt(6);
  bank->updated_at_ms = stmt.ColumnInt(7);
  bank->live_signals = static_cast<uint64_t>(stmt.ColumnInt(8));
  bank->total_signals = static_cast<uint64_t>(stmt.ColumnInt(9));
  return Status::Ok();
}

// Parses a stored type name, remembering the last one: a scan over millions
// of rows sees the same few names again and again.
class TypeCache {
 public:
  Status Parse(std::string_view name, SignalType* type) {
    if (name != last_name_) {
      Status s = ParseSignalType(name, &last_type_);
      if (!s.ok()) return Status::UnsupportedFormat("the database holds a signal " + s.message());
      last_name_ = name;
    }
    *type = last_type_;
    return Status::Ok();
  }

 private:
  std::string last_name_;
  SignalType last_type_ = SignalType::kPdq;
};

// The columns ReadSignal decodes, from signals s joined to banks b.
// length() of a BLOB is its size from the record header: SQLite does not
// read the content's overflow pages for it.
constexpr char kSignalColumns[] =
    "s.id, s.bank_id, b.name, s.type, s.value, s.external_id, s.source_list, s.source_version,"
    " s.metadata, s.added_at, s.withdrawn_at, length(s.content)";

Status ReadSignal(const Stmt& stmt, TypeCache* types, Signal* sig) {
  sig->id = static_cast<uint64_t>(stmt.ColumnInt(0));
  sig->bank_id = stmt.ColumnInt(1);
  sig->bank_name = stmt.ColumnText(2);
  Status s = types->Parse(stmt.ColumnText(3), &sig->type);
  if (!s.ok()) return s;
  auto v = stmt.ColumnBlob(4);
  sig->value.assign(v.begin(), v.end());
  sig->external_id = stmt.ColumnText(5);
  sig->source_list = stmt.ColumnText(6);
  sig->source_version = stmt.ColumnText(7);
  sig->metadata_json = stmt.ColumnText(8);
  sig->added_at_ms = stmt.ColumnInt(9);
  sig->withdrawn_at_ms = stmt.ColumnIsNull(10) ? 0 : stmt.ColumnInt(10);
  sig->content_bytes = stmt.ColumnIsNull(11) ? 0 : static_cast<uint64_t>(stmt.ColumnInt(11));
  sig->content.clear();
  return Status::Ok();
}

// ---- the store -------------------------------------------------------------------

class SqliteStore final : public Store {
 public:
  static Status Open(const std::string& data_dir, const StoreOptions& options, std::unique_ptr<Store>* out);

  Status CreateBank(const BankSpec& spec, Bank* bank) override;
  Status GetBank(const std::string& name, Bank* bank) override;
  Status ListBanks(std::vector<Bank>* banks) override;
  Status UpdateBank(const std::string& name, const BankUpdate& update, Bank* bank) override;
  Status DeleteBank(const std::string& name, uint64_t* withdrawn) override;
  Status Apply(const std::string& bank, const SignalBatch& batch, ApplyResult* result) override;
  Status ForEachLiveSignal(const std::function<Status(const LiveSignal&)>& fn, uint64_t* cursor) override;
  Status ChangesSince(uint64_t cursor, size_t limit, std::vector<Change>* changes,
                      uint64_t* next_cursor) override;
  Status GetSignals(std::span<const uint64_t> ids, std::vector<Signal>* signals) override;
  Status GetSignal(uint64_t id, Signal* signal) override;
  Status GetCheckpoint(const std::string& bank, const std::string& key, std::string* value) override;

 private:
  SqliteStore(std::string path, const StoreOptions& options, std::unique_ptr<Conn> writer)
      : path_(std::move(path)),
        options_(options),
        writer_(std::move(writer)),
        readers_(
            [this](std::unique_ptr<Conn>* conn) {
              // Readers scan or look up; a big cache would only duplicate
              // the operating system's page cache per connection.
              Status s = Conn::Open(path_, /*create=*/false, /*cache_mib=*/16, conn);
              if (s.ok()) s = (*conn)->Exec("PRAGMA query_only = 1");
              return s;
            },
            static_cast<size_t>(std::max(1, options.max_idle_connections))) {}

  // Runs fn(writer) inside BEGIN IMMEDIATE ... COMMIT, rolling back if fn or
  // the commit fails.
  template <typename Fn>
  Status Write(Fn&& fn);
  // Runs fn(reader) inside one read transaction (one snapshot).
  template <typename Fn>
  Status Read(Fn&& fn);

  // Stores the live (not deleted) bank `name` in *bank, or returns kNotFound.
  Status FindBank(Conn* conn, const std::string& name, Bank* bank);
  // Appends a change_log row with the next sequence number.
  Status LogChange(Conn* conn, uint64_t* seq, int kind, uint64_t signal_id, int64_t bank_id);

  const std::string path_;
  const StoreOptions options_;
  std::mutex write_mu_;
  const std::unique_ptr<Conn> writer_;  // used only with write_mu_ held
  ConnectionPool<Conn> readers_;
};

template <typename Fn>
Status SqliteStore::Write(Fn&& fn) {
  std::lock_guard<std::mutex> lock(write_mu_);
  // IMMEDIATE takes the write lock now, so the counter read inside cannot be
  // made stale by another process committing before we do.
  Status s = writer_->Exec("BEGIN IMMEDIATE");
  if (!s.ok()) return s;
  s = fn(writer_.get());
  if (s.ok()) s = writer_->Exec("COMMIT");
  if (!s.ok() && !sqlite3_get_autocommit(writer_->db())) writer_->Exec("ROLLBACK");
  return s;
}

template <typename Fn>
Status SqliteStore::Read(Fn&& fn) {
  std::unique_ptr<Conn> conn;
  Status s = readers_.Acquire(&conn);
  if (!s.ok()) return s;
  s = conn->Exec("BEGIN");
  if (s.ok()) {
    s = fn(conn.get());
    // A read transaction has nothing to commit; ending it releases the snapshot.
    if (!sqlite3_get_autocommit(conn->db())) {
      Status end = conn->Exec(s.ok() ? "COMMIT" : "ROLLBACK");
      if (s.ok()) s = end;
    }
  }
  readers_.Release(std::move(conn), true);
  return s;
}

Status SqliteStore::FindBank(Conn* conn, const std::string& name, Bank* bank) {
  static const std::string sql =
      std::string("SELECT ") + kBankColumns + " FROM banks WHERE name = ?1 AND deleted_at IS NULL";
  Stmt stmt(conn, sql.c_str());
  stmt.Text(1, name);
  bool row;
  Status s = stmt.Step(&row);
  if (!s.ok()) return s;
  if (!row) {
    Status v = ValidateBankName(name);
    if (!v.ok()) return v;
    return Status::NotFound("no bank named '" + name + "'");
  }
  return ReadBank(stmt, bank);
}

Status SqliteStore::LogChange(Conn* conn, uint64_t* seq, int kind, uint64_t signal_id, int64_t bank_id) {
  Stmt stmt(conn, "INSERT INTO change_log (seq, kind, signal_id, bank_id) VALUES (?1, ?2, ?3, ?4)");
  stmt.Int(1, static_cast<int64_t>((*seq)++));
  stmt.Int(2, kind);
  if (signal_id != 0) {
    stmt.Int(3, static_cast<int64_t>(signal_id));
  } else {
    stmt.Null(3);
  }
  stmt.Int(4, bank_id);
  return stmt.Run();
}

Status ReadNextSeq(Conn* conn, uint64_t* seq) {
  int64_t v;
  Status s = QueryInt(conn, "SELECT next_seq FROM counters WHERE id = 1", &v);
  if (s.ok() && v < 1) return Status::Corrupt("the sequence counter is missing or damaged");
  *seq = static_cast<uint64_t>(v);
  return s;
}

Status WriteNextSeq(Conn* conn, uint64_t seq) {
  Stmt stmt(conn, "UPDATE counters SET next_seq = ?1 WHERE id = 1");
  stmt.Int(1, static_cast<int64_t>(seq));
  return stmt.Run();
}

Status SqliteStore::Open(const std::string& data_dir, const StoreOptions& options,
                         std::unique_ptr<Store>* out) {
  out->reset();
  std::error_code ec;
  std::filesystem::create_directories(data_dir, ec);
  if (ec) return Status::IoError("cannot create data directory '" + data_dir + "': " + ec.message());
  const std::string path = (std::filesystem::path(data_dir) / "safeguard.db").string();

  std::unique_ptr<Conn> conn;
  Status s = Conn::Open(path, /*create=*/true, options.sqlite_cache_mib, &conn);
  if (!s.ok()) return s;

  // Identify the file before changing anything in it: another program's
  // database must be left exactly as it was.
  int64_t app_id = 0, version = 0, tables = 0;
  s = QueryInt(conn.get(), "PRAGMA application_id", &app_id);
  if (s.ok()) s = QueryInt(conn.get(), "PRAGMA user_version", &version);
  if (s.ok()) s = QueryInt(conn.get(), "SELECT count(*) FROM sqlite_master", &tables);
  if (!s.ok()) return s;
  const bool fresh = app_id == 0 && version == 0 && tables == 0;
  if (!fresh && app_id != kApplicationId) {
    return Status::UnsupportedFormat(
        "SQLite database " + path + " was not created by Safeguard (application_id " +
        std::to_string(app_id) + "); move it away or choose another data directory");
  }
  if (version > kSchemaVersion) return internal::NewerSchemaError("SQLite database " + path, version);

  // WAL: readers keep a snapshot while the writer appends, and a commit is
  // one sequential write. synchronous=FULL syncs the WAL at every commit, so
  // an acknowledged import or withdrawal survives a power cut, not only a
  // crash; commits are whole batches, so the one fsync each costs little.
  Stmt wal(conn.get(), "PRAGMA journal_mode = WAL");
  bool row;
  s = wal.Step(&row);
  if (!s.ok()) return s;
  if (!row || wal.ColumnText(0) != "wal") {
    return Status::IoError("SQLite database " + path + ": cannot switch to WAL mode (journal mode is '" +
                           std::string(row ? wal.ColumnText(0) : "") + "')");
  }
  wal.Reset();
  s = conn->Exec("PRAGMA synchronous = FULL");
  // Without a limit the WAL keeps the size of the largest import (GBs) on disk.
  if (s.ok()) s = conn->Exec("PRAGMA journal_size_limit = 67108864");
  if (!s.ok()) return s;

  if (version < kSchemaVersion) {
    s = conn->Exec("BEGIN IMMEDIATE");
    if (!s.ok()) return s;
    // Another process may have migrated while we waited for the lock.
    s = QueryInt(conn.get(), "PRAGMA user_version", &version);
    if (s.ok() && version > kSchemaVersion)
      s = internal::NewerSchemaError("SQLite database " + path, version);
    for (int64_t v = version + 1; s.ok() && v <= kSchemaVersion; ++v) s = conn->Exec(kMigrations[v - 1]);
    if (s.ok() && version < kSchemaVersion) {
      s = conn->Exec("PRAGMA application_id = " + std::to_string(kApplicationId));
      if (s.ok()) s = conn->Exec("PRAGMA user_version = " + std::to_string(kSchemaVersion));
    }
    if (s.ok()) s = conn->Exec("COMMIT");
    if (!s.ok()) {
      if (!sqlite3_get_autocommit(conn->db())) conn->Exec("ROLLBACK");
      return s;
    }
  }
  out->reset(new SqliteStore(path, options, std::move(conn)));
  return Status::Ok();
}

// ---- banks -------------------------------------------------------------------------

Status SqliteStore::CreateBank(const BankSpec& spec, Bank* bank) {
  Status s = ValidateBankSpec(spec);
  if (!s.ok()) return s;
  const int64_t now = internal::NowMs(options_);
  Bank created;
  s = Write([&](Conn* conn) -> Status {
    Bank existing;
    Status s = FindBank(conn, spec.name, &existing);
    if (s.ok()) return Status::InvalidArgument("a bank named '" + spec.name + "' already exists");
    if (s.code() != StatusCode::kNotFound) return s;
    Stmt insert(conn,
                "INSERT INTO banks (name, category, pdq_distance, enabled, source, created_at, updated_at) "
                "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)");
    insert.Text(1, spec.name);
    insert.Text(2, CategoryName(spec.category));
    insert.Int(3, spec.pdq_distance);
    insert.Int(4, spec.enabled ? 1 : 0);
    insert.Text(5, spec.source);
    insert.Int(6, now);
    s = insert.Run();
    if (!s.ok()) return s;
    uint64_t seq;
    s = ReadNextSeq(conn, &seq);
    if (s.ok()) s = LogChange(conn, &seq, internal::kStoredBank, 0, sqlite3_last_insert_rowid(conn->db()));
    if (s.ok()) s = WriteNextSeq(conn, seq);
    if (s.ok()) s = FindBank(conn, spec.name, &created);
    return s;
  });
  if (s.ok() && bank != nullptr) *bank = created;
  return s;
}

Status SqliteStore::GetBank(const std::string& name, Bank* bank) {
  return Read([&](Conn* conn) { return FindBank(conn, name, bank); });
}

Status SqliteStore::ListBanks(std::vector<Bank>* banks) {
  banks->clear();
  return Read([&](Conn* conn) -> Status {
    static const std::string sql =
        std::string("SELECT ") + kBankColumns + " FROM banks WHERE deleted_at IS NULL ORDER BY name";
    Stmt stmt(conn, sql.c_str());
    bool row;
    Status s;
    while ((s = stmt.Step(&row)).ok() && row) {
      banks->emplace_back();
      s = ReadBank(stmt, &banks->back());
      if (!s.ok()) return s;
    }
    return s;
  });
}

Status SqliteStore::UpdateBank(const std::string& name, const BankUpdate& update, Bank* bank) {
  if (update.pdq_distance) {
    Status s = ValidatePdqDistance(*update.pdq_distance);
    if (!s.ok()) return s;
  }
  const int64_t now = internal::NowMs(options_);
  Bank updated;
  Status s = Write([&](Conn* conn) -> Status {
    Status s = FindBank(conn, name, &updated);
    if (!s.ok()) return s;
    Stmt stmt(conn, "UPDATE banks SET pdq_distance = ?1, enabled = ?2, updated_at = ?3 WHERE id = ?4");
    stmt.Int(1, update.pdq_distance.value_or(updated.pdq_distance));
    stmt.Int(2, update.enabled.value_or(updated.enabled) ? 1 : 0);
    stmt.Int(3, now);
    stmt.Int(4, updated.id);
    s = stmt.Run();
    uint64_t seq;
    if (s.ok()) s = ReadNextSeq(conn, &seq);
    if (s.ok()) s = LogChange(conn, &seq, internal::kStoredBank, 0, updated.id);
    if (s.ok()) s = WriteNextSeq(conn, seq);
    if (s.ok()) s = FindBank(conn, name, &updated);
    return s;
  });
  if (s.ok() && bank != nullptr) *bank = updated;
  return s;
}

Status SqliteStore::DeleteBank(const std::string& name, uint64_t* withdrawn) {
  const int64_t now = internal::NowMs(options_);
  uint64_t count = 0;
  Status s = Write([&](Conn* conn) -> Status {
    count = 0;
    Bank bank;
    Status s = FindBank(conn, name, &bank);
    if (!s.ok()) return s;
    std::vector<uint64_t> ids;
    {
      Stmt stmt(
          conn,
          "UPDATE signals SET withdrawn_at = ?1 WHERE bank_id = ?2 AND withdrawn_at IS NULL RETURNING id");
      stmt.Int(1, now);
      stmt.Int(2, bank.id);
      bool row;
      while ((s = stmt.Step(&row)).ok() && row) ids.push_back(static_cast<uint64_t>(stmt.ColumnInt(0)));
      if (!s.ok()) return s;
    }
    // RETURNING order is unspecified; the log lists them by id.
    std::sort(ids.begin(), ids.end());
    uint64_t seq;
    s = ReadNextSeq(conn, &seq);
    for (size_t i = 0; s.ok() && i < ids.size(); ++i) {
      s = LogChange(conn, &seq, internal::kStoredWithdraw, ids[i], bank.id);
    }
    if (!s.ok()) return s;
    Stmt mark(conn, "UPDATE banks SET deleted_at = ?1, updated_at = ?1, live_count = 0 WHERE id = ?2");
    mark.Int(1, now);
    mark.Int(2, bank.id);
    s = mark.Run();
    if (s.ok()) s = LogChange(conn, &seq, internal::kStoredBank, 0, bank.id);
    if (s.ok()) s = WriteNextSeq(conn, seq);
    count = ids.size();
    return s;
  });
  if (withdrawn != nullptr) *withdrawn = s.ok() ? count : 0;
  return s;
}

// ---- signals -----------------------------------------------------------------------

Status SqliteStore::Apply(const std::string& bank_name, const SignalBatch& batch, ApplyResult* result) {
  if (result != nullptr) *result = ApplyResult();
  Status s = internal::ValidateBatch(batch);
  if (!s.ok()) return s;
  const int64_t now = internal::NowMs(options_);
  ApplyResult r;
  s = Write([&](Conn* conn) -> Status {
    r = ApplyResult();
    Bank bank;
    Status s = FindBank(conn, bank_name, &bank);
    if (!s.ok()) return s;
    uint64_t seq;
    s = ReadNextSeq(conn, &seq);
    if (!s.ok()) return s;

    // Withdrawals first, so that a batch may replace an entry (withdraw its
    // old value, add the new one under the same external id).
    std::vector<uint64_t> withdrawn;
    auto collect = [&](Stmt& stmt) -> Status {
      bool row;
      Status s;
      while ((s = stmt.Step(&row)).ok() && row) withdrawn.push_back(static_cast<uint64_t>(stmt.ColumnInt(0)));
      stmt.Reset();
      return s;
    };
    if (!batch.withdraw.external_ids.empty()) {
      // "external_id <> ''" lets SQLite use the partial index.
      Stmt stmt(conn,
                "UPDATE signals SET withdrawn_at = ?1 WHERE bank_id = ?2 AND external_id = ?3 "
                "AND external_id <> '' AND withdrawn_at IS NULL RETURNING id");
      stmt.Int(1, now);
      stmt.Int(2, bank.id);
      for (const std::string& id : batch.withdraw.external_ids) {
        stmt.Text(3, id);
        s = collect(stmt);
        if (!s.ok()) return s;
      }
    }
    if (!batch.withdraw.signal_ids.empty()) {
      Stmt stmt(
          conn,
          "UPDATE signals SET withdrawn_at = ?1 WHERE id = ?3 AND bank_id = ?2 AND withdrawn_at IS NULL "
          "RETURNING id");
      stmt.Int(1, now);
      stmt.Int(2, bank.id);
      for (uint64_t id : batch.withdraw.signal_ids) {
        stmt.Int(3, static_cast<int64_t>(id));
        s = collect(stmt);
        if (!s.ok()) return s;
      }
    }
    if (!batch.withdraw.values.empty()) {
      Stmt stmt(conn,
                "UPDATE signals SET withdrawn_at = ?1 WHERE bank_id = ?2 AND type = ?3 AND value = ?4 "
                "AND withdrawn_at IS NULL RETURNING id");
      stmt.Int(1, now);
      stmt.Int(2, bank.id);
      for (const WithdrawSpec::Value& v : batch.withdraw.values) {
        stmt.Text(3, SignalTypeName(v.type));
        stmt.Blob(4, v.value);
        s = collect(stmt);
        if (!s.ok()) return s;
      }
    }
    for (uint64_t id : withdrawn) {
      s = LogChange(conn, &seq, internal::kStoredWithdraw, id, bank.id);
      if (!s.ok()) return s;
    }
    r.withdrawn = withdrawn.size();

    if (!batch.add.empty()) {
      const size_t n = batch.add.size();
      // Rows go in in the live-value index's order (repeats within the batch
      // dropped), so the index grows at its end; in random order a 10M-row
      // import spends most of its time on index pages. Ids follow that order.
      uint64_t repeats = 0;
      const std::vector<uint32_t> order = internal::InsertionOrder(batch.add, &repeats);
      r.duplicates = repeats;
      // An external-id index entry goes to a random place whatever the order.
      // When the batch at least doubles the table, dropping the index and
      // building it again afterwards (a sort) is much cheaper; inside the
      // transaction, so a crash leaves the old index, and readers keep their
      // snapshot, index included.
      int64_t rows_before = 0;
      s = QueryInt(conn, "SELECT coalesce(sum(total_count), 0) FROM banks", &rows_before);
      if (!s.ok()) return s;
      const bool rebuild_external_index = n >= kBulkLoadMinRows && n >= static_cast<uint64_t>(rows_before);
      if (rebuild_external_index) {
        s = conn->Exec("DROP INDEX signals_external_id");
        if (!s.ok()) return s;
      }
      // ON CONFLICT DO NOTHING makes the live-value unique index the check
      // against signals already live in the bank: no lookup before each insert.
      // A skipped row takes no sequence number, so ids stay dense.
      Stmt insert(conn,
                  "INSERT INTO signals (id, bank_id, type, value, external_id, source_list, source_version, "
                  "metadata, added_at, content) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) "
                  "ON CONFLICT DO NOTHING");
      insert.Int(2, bank.id);
      insert.Int(9, now);
      for (size_t i = 0; i < order.size(); ++i) {
        const NewSignal& sig = batch.add[order[i]];
        insert.Int(1, static_cast<int64_t>(seq));
        insert.Text(3, SignalTypeName(sig.type));
        insert.Blob(4, sig.value);
        insert.Text(5, sig.external_id);
        insert.Text(6, sig.source_list);
        insert.Text(7, sig.source_version);
        insert.Text(8, sig.metadata_json);
        // NULL, not an empty blob, for types without content: nothing to
        // store, and "content IS NULL" then tells the two kinds apart.
        if (sig.content.empty()) {
          insert.Null(10);
        } else {
          insert.Blob(10, sig.content);
        }
        s = insert.Run();
        if (!s.ok()) return s;
        if (sqlite3_changes(conn->db()) == 1) {
          ++seq;
          ++r.added;
        } else {
          ++r.duplicates;
        }
        insert.Reset();
        if (batch.progress && (i + 1) % internal::kProgressInterval == 0) batch.progress(i + 1 + repeats, n);
      }
      if (rebuild_external_index) {
        s = conn->Exec(kCreateExternalIdIndex);
        if (!s.ok()) return s;
      }
      if (batch.progress) batch.progress(n, n);
    }

    if (!batch.checkpoint_key.empty()) {
      Stmt stmt(conn,
                "INSERT INTO checkpoints (bank_id, key, value, updated_at) VALUES (?1, ?2, ?3, ?4) "
                "ON CONFLICT (bank_id, key) DO UPDATE SET value = excluded.value, updated_at = "
                "excluded.updated_at");
      stmt.Int(1, bank.id);
      stmt.Text(2, batch.checkpoint_key);
      stmt.Text(3, batch.checkpoint_value);
      stmt.Int(4, now);
      s = stmt.Run();
      if (!s.ok()) return s;
    }
    if (r.added != 0 || r.withdrawn != 0) {
      Stmt counts(
          conn,
          "UPDATE banks SET live_count = live_count + ?1 - ?2, total_count = total_count + ?1 WHERE id = ?3");
      counts.Int(1, static_cast<int64_t>(r.added));
      counts.Int(2, static_cast<int64_t>(r.withdrawn));
      counts.Int(3, bank.id);
      s = counts.Run();
      if (s.ok()) s = WriteNextSeq(conn, seq);
    }
    return s;
  });
  if (s.ok() && batch.add.size() >= kBulkLoadMinRows) {
    // A bulk load leaves a WAL as large as the rows it wrote. Copying it
    // into the database and truncating it here, while the importer waits
    // anyway, keeps that cost (hundreds of ms at 10M rows) off the next
    // small write: a withdrawal must become visible in milliseconds. Busy
    // readers only make it partial, which is harmless.
    std::lock_guard<std::mutex> lock(write_mu_);
    writer_->Exec("PRAGMA wal_checkpoint(TRUNCATE)");
  }
  if (s.ok() && result != nullptr) *result = r;
  return s;
}

Status SqliteStore::ForEachLiveSignal(const std::function<Status(const LiveSignal&)>& fn, uint64_t* cursor) {
  return Read([&](Conn* conn) -> Status {
    uint64_t next;
    Status s = ReadNextSeq(conn, &next);
    if (!s.ok()) return s;
    *cursor = next - 1;
    // SQLite steps row by row and reads a content only when it is asked
    // for, so one scan serves both kinds; a NULL content costs nothing.
    Stmt stmt(conn, "SELECT id, bank_id, type, value, content FROM signals WHERE withdrawn_at IS NULL");
    TypeCache types;
    LiveSignal live;
    bool row;
    while ((s = stmt.Step(&row)).ok() && row) {
      live.id = static_cast<uint64_t>(stmt.ColumnInt(0));
      live.bank_id = stmt.ColumnInt(1);
      s = types.Parse(stmt.ColumnText(2), &live.type);
      if (!s.ok()) return s;
      live.value = stmt.ColumnBlob(3);
      live.content = stmt.ColumnBlob(4);
      s = fn(live);
      if (!s.ok()) return s;
    }
    return s;
  });
}

Status SqliteStore::ChangesSince(uint64_t cursor, size_t limit, std::vector<Change>* changes,
                                 uint64_t* next_cursor) {
  changes->clear();
  *next_cursor = cursor;
  if (limit == 0) return Status::Ok();
  // Adds are the signals rows (id = seq of the add); withdrawals and bank
  // changes are change_log rows. Each side is limited before the merge so
  // both are index range scans.
  return Read([&](Conn* conn) -> Status {
    Stmt stmt(
        conn,
        "SELECT seq, kind, signal_id, bank_id, type, value FROM ("
        "  SELECT * FROM (SELECT id AS seq, 1 AS kind, id AS signal_id, bank_id, type, value FROM signals"
        "                 WHERE id > ?1 ORDER BY id LIMIT ?2)"
        "  UNION ALL"
        "  SELECT * FROM (SELECT c.seq, c.kind, c.signal_id, c.bank_id, s.type, s.value"
        "                 FROM change_log c LEFT JOIN signals s ON s.id = c.signal_id"
        "                 WHERE c.seq > ?1 ORDER BY c.seq LIMIT ?2)"
        ") ORDER BY seq LIMIT ?2");
    stmt.Int(1, static_cast<int64_t>(cursor));
    stmt.Int(2, static_cast<int64_t>(std::min<size_t>(limit, INT64_MAX)));
    // Contents are read afterwards, by id, for the adds returned only: in
    // the query above they would be copied through the merge's sorter, also
    // for rows the final LIMIT drops. Same transaction, same snapshot.
    Stmt content(conn, "SELECT content FROM signals WHERE id = ?1");
    TypeCache types;
    bool row;
    Status s;
    uint64_t content_bytes = 0;
    while ((s = stmt.Step(&row)).ok() && row) {
      Change c;
      c.seq = static_cast<uint64_t>(stmt.ColumnInt(0));
      c.kind = static_cast<Change::Kind>(stmt.ColumnInt(1));
      c.signal_id = stmt.ColumnIsNull(2) ? 0 : static_cast<uint64_t>(stmt.ColumnInt(2));
      c.bank_id = stmt.ColumnInt(3);
      if (c.kind != Change::Kind::kBank) {
        s = types.Parse(stmt.ColumnText(4), &c.type);
        if (!s.ok()) return s;
        auto v = stmt.ColumnBlob(5);
        c.value.assign(v.begin(), v.end());
      }
      if (c.kind == Change::Kind::kAdd && SignalHasContent(c.type)) {
        content.Int(1, static_cast<int64_t>(c.signal_id));
        bool found;
        s = content.Step(&found);
        if (!s.ok()) return s;
        if (found) {
          auto b = content.ColumnBlob(0);
          c.content.assign(b.begin(), b.end());
        }
        content.Reset();
      }
      content_bytes += c.content.size();
      changes->push_back(std::move(c));
      // The page ends early rather than hold more content than the budget.
      if (content_bytes >= kChangesContentBudget) break;
    }
    if (s.ok() && !changes->empty()) *next_cursor = changes->back().seq;
    return s;
  });
}

Status SqliteStore::GetSignals(std::span<const uint64_t> ids, std::vector<Signal>* signals) {
  signals->clear();
  return Read([&](Conn* conn) -> Status {
    static const std::string sql = std::string("SELECT ") + kSignalColumns +
                                   " FROM signals s JOIN banks b ON b.id = s.bank_id WHERE s.id = ?1";
    Stmt stmt(conn, sql.c_str());
    TypeCache types;
    for (uint64_t id : ids) {
      stmt.Int(1, static_cast<int64_t>(id));
      bool row;
      Status s = stmt.Step(&row);
      if (!s.ok()) return s;
      if (row) {
        Signal sig;
        s = ReadSignal(stmt, &types, &sig);
        if (!s.ok()) return s;
        signals->push_back(std::move(sig));
      }
      stmt.Reset();
    }
    return Status::Ok();
  });
}

Status SqliteStore::GetSignal(uint64_t id, Signal* signal) {
  return Read([&](Conn* conn) -> Status {
    static const std::string sql =
        std::string("SELECT ") + kSignalColumns +
        ", s.content FROM signals s JOIN banks b ON b.id = s.bank_id WHERE s.id = ?1";
    Stmt stmt(conn, sql.c_str());
    stmt.Int(1, static_cast<int64_t>(id));
    bool row;
    Status s = stmt.Step(&row);
    if (!s.ok()) return s;
    if (!row) return Status::NotFound("no signal with id " + std::to_string(id));
    TypeCache types;
    s = ReadSignal(stmt, &types, signal);
    if (!s.ok()) return s;
    auto c = stmt.ColumnBlob(12);
    signal->content.assign(c.begin(), c.end());
    return Status::Ok();
  });
}

Status SqliteStore::GetCheckpoint(const std::string& bank_name, const std::string& key, std::string* value) {
  return Read([&](Conn* conn) -> Status {
    Bank bank;
    Status s = FindBank(conn, bank_name, &bank);
    if (!s.ok()) return s;
    s = ValidateCheckpoint(key, "");
    if (!s.ok()) return s;
    Stmt stmt(conn, "SELECT value FROM checkpoints WHERE bank_id = ?1 AND key = ?2");
    stmt.Int(1, bank.id);
    stmt.Text(2, key);
    bool row;
    s = stmt.Step(&row);
    if (!s.ok()) return s;
    if (!row) return Status::NotFound("bank '" + bank_name + "' has no checkpoint '" + key + "'");
    *value = stmt.ColumnText(0);
    return Status::Ok();
  });
}

}  // namespace

Status Store::OpenSqlite(const std::string& data_dir, const StoreOptions& options,
                         std::unique_ptr<Store>* store) {
  return SqliteStore::Open(data_dir, options, store);
}

}  // namespace safeguard::bank
