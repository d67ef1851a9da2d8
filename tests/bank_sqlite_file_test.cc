// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// What the SQLite store does with a database file it did not expect: a
// file of garbage, a damaged database, another program's database, a
// directory where the file should be, an unusable data directory. Each must
// be a Status with a code the caller can act on, never a crash, and a file
// that is not ours must be left byte for byte as it was.

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "bank_test_env.h"
#include "safeguard/bank/store.h"

namespace safeguard::bank {
namespace {

using testing::MakeSignal;
using testing::TempDir;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void WriteAll(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

TEST(BankSqliteFile, GarbageFileIsCorrupt) {
  TempDir dir;
  std::string garbage;
  for (int i = 0; i < 8192; ++i) garbage += static_cast<char>((i * 131 + 7) & 0xff);
  WriteAll(dir.path() + "/safeguard.db", garbage);
  std::unique_ptr<Store> store;
  Status s = Store::OpenSqlite(dir.path(), &store);
  EXPECT_EQ(s.code(), StatusCode::kCorrupt) << s.ToString();
  EXPECT_NE(s.message().find("safeguard.db"), std::string::npos) << s.message();
  EXPECT_EQ(store, nullptr);
  EXPECT_EQ(ReadAll(dir.path() + "/safeguard.db"), garbage);
}

TEST(BankSqliteFile, ShortFileIsCorrupt) {
  TempDir dir;
  WriteAll(dir.path() + "/safeguard.db", "SQLite format 3");  // a header cut short
  std::unique_ptr<Store> store;
  Status s = Store::OpenSqlite(dir.path(), &store);
  EXPECT_EQ(s.code(), StatusCode::kCorrupt) << s.ToString();
}

TEST(BankSqliteFile, DamagedDatabaseGivesCorruptNotACrash) {
  TempDir dir;
  {
    std::unique_ptr<Store> store;
    SG_ASSERT_OK(Store::OpenSqlite(dir.path(), &store));
    BankSpec spec;
    spec.name = "a";
    SG_ASSERT_OK(store->CreateBank(spec, nullptr));
    std::vector<NewSignal> batch;
    for (int i = 0; i < 20000; ++i)
      batch.push_back(MakeSignal(i, SignalType::kPdq, "ext" + std::to_string(i)));
    SG_ASSERT_OK(store->Import("a", batch, nullptr));
  }  // closing checkpoints the WAL into the main file
  const std::string path = dir.path() + "/safeguard.db";
  ASSERT_FALSE(std::filesystem::exists(path + "-wal"));
  std::string bytes = ReadAll(path);
  ASSERT_GT(bytes.size(), 100000u);
  // Overwrite every page after the first few with noise: page 1 (the header
  // and schema) survives, so the damage shows only when the data is read.
  for (size_t i = 4 * 4096; i < bytes.size(); ++i) bytes[i] = static_cast<char>((i * 2654435761u) >> 13);
  WriteAll(path, bytes);

  std::unique_ptr<Store> store;
  Status s = Store::OpenSqlite(dir.path(), &store);
  if (!s.ok()) {
    EXPECT_EQ(s.code(), StatusCode::kCorrupt) << s.ToString();
    return;
  }
  int corrupt = 0;
  uint64_t cursor = 0;
  s = store->ForEachLiveSignal([](const LiveSignal&) { return Status::Ok(); }, &cursor);
  corrupt += s.code() == StatusCode::kCorrupt;
  EXPECT_TRUE(s.ok() || s.code() == StatusCode::kCorrupt || s.code() == StatusCode::kUnsupportedFormat)
      << s.ToString();
  std::vector<Change> changes;
  s = store->ChangesSince(0, 100000, &changes, &cursor);
  corrupt += s.code() == StatusCode::kCorrupt;
  s = store->Import("a", std::vector<NewSignal>{MakeSignal(99999999)}, nullptr);
  corrupt += s.code() == StatusCode::kCorrupt;
  EXPECT_GT(corrupt, 0) << "reading a database of noise should report corruption somewhere";
}

TEST(BankSqliteFile, AnotherProgramsDatabaseIsLeftAlone) {
  TempDir dir;
  const std::string path = dir.path() + "/safeguard.db";
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "CREATE TABLE notes (t TEXT); INSERT INTO notes VALUES ('hello');", nullptr,
                         nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  const std::string before = ReadAll(path);

  std::unique_ptr<Store> store;
  Status s = Store::OpenSqlite(dir.path(), &store);
  EXPECT_EQ(s.code(), StatusCode::kUnsupportedFormat) << s.ToString();
  EXPECT_NE(s.message().find("not created by Safeguard"), std::string::npos) << s.message();
  EXPECT_EQ(ReadAll(path), before);
  EXPECT_FALSE(std::filesystem::exists(path + "-wal"));
}

TEST(BankSqliteFile, UnusablePathsAreIoErrors) {
  TempDir dir;
  // The data directory is a regular file.
  WriteAll(dir.path() + "/file", "x");
  std::unique_ptr<Store> store;
  Status s = Store::OpenSqlite(dir.path() + "/file", &store);
  EXPECT_EQ(s.code(), StatusCode::kIoError) << s.ToString();
  s = Store::OpenSqlite(dir.path() + "/file/sub", &store);
  EXPECT_EQ(s.code(), StatusCode::kIoError) << s.ToString();
  // safeguard.db is a directory. (Permission bits cannot be the test: the
  // CI runs as root, who reads everything.)
  std::filesystem::create_directories(dir.path() + "/d/safeguard.db");
  s = Store::OpenSqlite(dir.path() + "/d", &store);
  EXPECT_EQ(s.code(), StatusCode::kIoError) << s.ToString();
  EXPECT_EQ(store, nullptr);
}

TEST(BankSqliteFile, CreatesTheDataDirectoryInWalMode) {
  TempDir dir;
  const std::string data = dir.path() + "/a/b/c";
  std::unique_ptr<Store> store;
  SG_ASSERT_OK(Store::OpenSqlite(data, &store));
  BankSpec spec;
  spec.name = "x";
  SG_ASSERT_OK(store->CreateBank(spec, nullptr));
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((data + "/safeguard.db").c_str(), &db), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &stmt, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0)), "wal");
  sqlite3_finalize(stmt);
  sqlite3_close(db);
}

}  // namespace
}  // namespace safeguard::bank
