// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// What the bank store tests share: a throwaway directory, a fresh schema on
// the PostgreSQL test server (SAFEGUARD_TEST_PG, set by scripts/test-postgres),
// the two backends as types for typed tests, and synthetic signals (random
// bytes; nothing here is a hash of any real image).

#ifndef SAFEGUARD_TESTS_BANK_TEST_ENV_H_
#define SAFEGUARD_TESTS_BANK_TEST_ENV_H_

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "safeguard/bank/bank.h"
#include "safeguard/bank/store.h"
#include "safeguard/common/status.h"

#define SG_ASSERT_OK(expr)                                 \
  do {                                                     \
    const ::safeguard::Status _st = (expr);                \
    ASSERT_TRUE(_st.ok()) << #expr ": " << _st.ToString(); \
  } while (0)
#define SG_EXPECT_OK(expr)                                 \
  do {                                                     \
    const ::safeguard::Status _st = (expr);                \
    EXPECT_TRUE(_st.ok()) << #expr ": " << _st.ToString(); \
  } while (0)

namespace safeguard::bank::testing {

/// A new empty directory under $TMPDIR (or /tmp), removed with its contents
/// on destruction. Aborts the test binary if it cannot be created.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

/// Returns $SAFEGUARD_TEST_PG (a libpq connection string for a server the
/// tests may create schemas on), or "" when it is not set.
std::string PostgresTestConninfo();

/// Creates a new, empty schema on the test server and stores in *conninfo a
/// connection string whose search_path is that schema, and its name in *schema.
Status CreatePostgresSchema(std::string* conninfo, std::string* schema);
/// Drops a schema made by CreatePostgresSchema, with everything in it.
Status DropPostgresSchema(const std::string& schema);
/// Runs `sql` on a new connection made from `conninfo`.
Status RunPostgresSql(const std::string& conninfo, const std::string& sql);

/// A backend for the typed tests: SQLite in a temporary directory.
class SqliteBackend {
 public:
  static constexpr const char* kName = "Sqlite";
  /// Returns why the backend cannot run here, or "" if it can.
  std::string SkipReason() const { return ""; }
  /// Prepares an empty database.
  Status Setup() { return Status::Ok(); }
  /// Opens (again) the same database.
  Status Open(const StoreOptions& options, std::unique_ptr<Store>* store) const {
    return Store::OpenSqlite(dir_.path(), options, store);
  }
  /// Overwrites the stored schema version (the store must be closed).
  Status ForceSchemaVersion(int version) const;
  /// Runs `sql` on the database (the store must be closed).
  Status ExecSql(const std::string& sql) const;
  /// Tells the crash helper which database to use: {"sqlite", DIR}.
  std::vector<std::string> HelperArgs() const { return {"sqlite", dir_.path()}; }
  const std::string& dir() const { return dir_.path(); }

 private:
  TempDir dir_;
};

/// A backend for the typed tests: a fresh schema on the PostgreSQL test server.
class PostgresBackend {
 public:
  static constexpr const char* kName = "Postgres";
  ~PostgresBackend();
  std::string SkipReason() const;
  Status Setup() { return CreatePostgresSchema(&conninfo_, &schema_); }
  Status Open(const StoreOptions& options, std::unique_ptr<Store>* store) const {
    return Store::OpenPostgres(conninfo_, options, store);
  }
  Status ForceSchemaVersion(int version) const;
  Status ExecSql(const std::string& sql) const { return RunPostgresSql(conninfo_, sql); }
  std::vector<std::string> HelperArgs() const { return {"postgres", conninfo_}; }
  const std::string& conninfo() const { return conninfo_; }

 private:
  std::string conninfo_;
  std::string schema_;
};

/// Names the typed tests "Suite/Sqlite.Test" and "Suite/Postgres.Test", so
/// that --gtest_filter=*Postgres* selects the PostgreSQL runs.
struct BackendNames {
  template <typename T>
  static std::string GetName(int) {
    return T::kName;
  }
};

/// Returns a signal of `type` whose value is derived from `seed` (distinct
/// seeds give distinct values), with the given external id.
NewSignal MakeSignal(uint64_t seed, SignalType type = SignalType::kPdq, std::string external_id = "");

/// Returns `bytes` bytes derived from `seed` (distinct seeds give distinct
/// contents): a stand-in for a video hash, not one of any real video.
std::vector<uint8_t> MakeContent(uint64_t seed, size_t bytes);

/// Returns a video signal of `type` (kVpdq or kTmk) holding
/// MakeContent(seed, bytes), with its value set to the content's SHA-256.
NewSignal MakeVideoSignal(uint64_t seed, SignalType type, size_t bytes, std::string external_id = "");

}  // namespace safeguard::bank::testing

#endif  // SAFEGUARD_TESTS_BANK_TEST_ENV_H_
