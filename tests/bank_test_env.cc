// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.

#include "bank_test_env.h"
#include "synthetic_codes.h"

#include <libpq-fe.h>
#include <sqlite3.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

namespace safeguard::bank::testing {
namespace {

using safeguard::testing::SplitMix;

// Quotes a value for a libpq keyword=value connection string.
std::string QuoteConnValue(const std::string& v) {
  std::string out = "'";
  for (char c : v) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

}  // namespace

TempDir::TempDir() {
  const char* tmp = std::getenv("TMPDIR");
  std::string templ = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/safeguard-bank-XXXXXX";
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  if (mkdtemp(buf.data()) == nullptr) {
    std::perror("mkdtemp");
    std::abort();
  }
  path_ = buf.data();
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string PostgresTestConninfo() {
  const char* v = std::getenv("SAFEGUARD_TEST_PG");
  return v != nullptr ? v : "";
}

Status RunPostgresSql(const std::string& conninfo, const std::string& sql) {
  PGconn* conn = PQconnectdb(conninfo.c_str());
  Status s;
  if (PQstatus(conn) != CONNECTION_OK) {
    s = Status::IoError(std::string("connect: ") + PQerrorMessage(conn));
  } else {
    PGresult* r = PQexec(conn, sql.c_str());
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
      s = Status::Internal(sql + ": " + PQresultErrorMessage(r));
    }
    PQclear(r);
  }
  PQfinish(conn);
  return s;
}

Status CreatePostgresSchema(std::string* conninfo, std::string* schema) {
  static std::atomic<int> counter{0};
  const std::string base = PostgresTestConninfo();
  *schema = "sg_test_" + std::to_string(getpid()) + "_" + std::to_string(counter++);
  Status s = RunPostgresSql(base, "DROP SCHEMA IF EXISTS " + *schema + " CASCADE; CREATE SCHEMA " + *schema);
  if (!s.ok()) return s;
  // Rebuild the connection string with the schema as search_path, keeping
  // whatever else it says (host, port, user, options).
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(base.c_str(), &err);
  if (opts == nullptr) {
    std::string message = err != nullptr ? err : "cannot parse";
    PQfreemem(err);
    return Status::InvalidArgument("SAFEGUARD_TEST_PG: " + message);
  }
  std::string out, options;
  for (PQconninfoOption* o = opts; o->keyword != nullptr; ++o) {
    if (o->val == nullptr) continue;
    if (std::string(o->keyword) == "options") {
      options = std::string(o->val) + " ";
      continue;
    }
    out += std::string(o->keyword) + "=" + QuoteConnValue(o->val) + " ";
  }
  PQconninfoFree(opts);
  *conninfo = out + "options=" + QuoteConnValue(options + "-csearch_path=" + *schema);
  return Status::Ok();
}

Status DropPostgresSchema(const std::string& schema) {
  return RunPostgresSql(PostgresTestConninfo(), "DROP SCHEMA IF EXISTS " + schema + " CASCADE");
}

Status SqliteBackend::ForceSchemaVersion(int version) const {
  sqlite3* db = nullptr;
  const std::string path = dir_.path() + "/safeguard.db";
  int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr);
  if (rc == SQLITE_OK) {
    rc = sqlite3_exec(db, ("PRAGMA user_version = " + std::to_string(version)).c_str(), nullptr, nullptr,
                      nullptr);
  }
  Status s = rc == SQLITE_OK ? Status::Ok() : Status::IoError(sqlite3_errmsg(db));
  sqlite3_close(db);
  return s;
}

Status SqliteBackend::ExecSql(const std::string& sql) const {
  sqlite3* db = nullptr;
  const std::string path = dir_.path() + "/safeguard.db";
  int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr);
  if (rc == SQLITE_OK) rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr);
  Status s = rc == SQLITE_OK ? Status::Ok() : Status::IoError(sql + ": " + sqlite3_errmsg(db));
  sqlite3_close(db);
  return s;
}

PostgresBackend::~PostgresBackend() {
  if (!schema_.empty()) DropPostgresSchema(schema_);
}

std::string PostgresBackend::SkipReason() const {
  if (!PostgresTestConninfo().empty()) return "";
  return "SAFEGUARD_TEST_PG is not set; run the PostgreSQL tests with "
         "scripts/test-postgres BINARY --gtest_filter='*Postgres*' (ctest runs them as BankStorePostgres)";
}

Status PostgresBackend::ForceSchemaVersion(int version) const {
  return RunPostgresSql(conninfo_, "UPDATE schema_version SET version = " + std::to_string(version));
}

NewSignal MakeSignal(uint64_t seed, SignalType type, std::string external_id) {
  NewSignal s;
  s.type = type;
  s.value.resize(SignalValueSize(type));
  for (size_t i = 0; i < s.value.size(); ++i) {
    s.value[i] = static_cast<uint8_t>(SplitMix(seed * 8 + i / 8) >> (8 * (i % 8)));
  }
  s.external_id = std::move(external_id);
  return s;
}

std::vector<uint8_t> MakeContent(uint64_t seed, size_t bytes) {
  std::vector<uint8_t> content(bytes);
  // Seeds are spread apart so two contents never share a run of words.
  for (size_t i = 0; i < bytes; ++i) {
    content[i] = static_cast<uint8_t>(SplitMix((seed << 40) + i / 8) >> (8 * (i % 8)));
  }
  return content;
}

NewSignal MakeVideoSignal(uint64_t seed, SignalType type, size_t bytes, std::string external_id) {
  NewSignal s;
  Status st = MakeContentSignal(type, MakeContent(seed, bytes), &s);
  if (!st.ok()) {
    std::fprintf(stderr, "MakeVideoSignal: %s\n", st.ToString().c_str());
    std::abort();
  }
  s.external_id = std::move(external_id);
  return s;
}

}  // namespace safeguard::bank::testing
