// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// The audit log on real SQLite files: appends, the chain, every kind of
// tampering (done with raw SQL after dropping the append-only triggers, as an
// intruder with the file would), transactions, limits, export filters, and
// concurrent writers. Hashes are also recomputed here by an independent
// transcription of docs/audit.md, so the code cannot drift from the spec.

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "common/sqlite.h"
#include "safeguard/audit/audit_log.h"

namespace safeguard::audit {
namespace {

const std::string kZeros(64, '0');
constexpr int64_t kNoon = 1795953600000;  // 2026-11-29T12:00:00Z

// docs/audit.md, "The chain (format v1)", written out again from the text.
std::string ReferenceHash(uint64_t seq, int64_t time_ms, const std::string& actor, const std::string& action,
                          const std::string& subject, const std::string& details, const std::string& prev) {
  std::string b;
  auto u64 = [&](uint64_t v) {
    for (int i = 7; i >= 0; --i) b.push_back(static_cast<char>(v >> (8 * i)));
  };
  auto field = [&](const std::string& s) {
    u64(s.size());
    b += s;
  };
  field("safeguard-audit-v1");
  u64(seq);
  u64(static_cast<uint64_t>(time_ms));
  field(actor);
  field(action);
  field(subject);
  field(details);
  field(prev);
  unsigned char d[32];
  unsigned int n = 0;
  EVP_Digest(b.data(), b.size(), d, &n, EVP_sha256(), nullptr);
  char hex[65];
  for (int i = 0; i < 32; ++i) snprintf(hex + 2 * i, 3, "%02x", d[i]);
  return std::string(hex, 64);
}

std::string ReferenceHash(const Record& r) {
  return ReferenceHash(r.seq, r.time_ms, r.event.actor, r.event.action, r.event.subject, r.event.details_json,
                       r.prev_hash);
}

class AuditLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("safeguard_audit_" + std::to_string(getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    path_ = (dir_ / "service.db").string();
    conn_ = OpenConn();
    ASSERT_TRUE(AuditLog::Open(
                    conn_.get(), [this] { return now_.load(); }, &log_)
                    .ok());
  }
  void TearDown() override {
    log_.reset();
    conn_.reset();
    std::filesystem::remove_all(dir_);
  }

  std::unique_ptr<sqlite::Conn> OpenConn() {
    std::unique_ptr<sqlite::Conn> conn;
    Status s = sqlite::Conn::Open(path_, /*create=*/true, 4, &conn);
    EXPECT_TRUE(s.ok()) << s.ToString();
    EXPECT_TRUE(conn->Exec("PRAGMA journal_mode = WAL").ok());
    return conn;
  }

  // Appends n records with varied fields; the clock advances 1 s per record.
  void AppendMany(int n) {
    for (int i = 0; i < n; ++i) {
      now_ += 1000;
      Event e{i % 3 == 0 ? "system" : "key:k" + std::to_string(i % 7), i % 2 ? "decision" : "bank.update",
              "subject-" + std::to_string(i), "{\"i\":" + std::to_string(i) + ",\"note\":\"é\\n\\u0001\"}"};
      Status s = log_->Append(e, nullptr);
      ASSERT_TRUE(s.ok()) << s.ToString();
    }
  }

  // Runs SQL the way an intruder would: without the append-only triggers.
  void Tamper(const std::string& sql) {
    Status s = conn_->Exec(
        "DROP TRIGGER IF EXISTS audit_log_no_update; DROP TRIGGER IF EXISTS audit_log_no_delete; " + sql);
    ASSERT_TRUE(s.ok()) << s.ToString();
  }

  VerifyResult Verify() {
    VerifyResult r;
    Status s = log_->Verify(&r);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return r;
  }

  std::vector<Record> All() {
    std::vector<Record> all;
    Status s = log_->Export(INT64_MIN, INT64_MAX, [&](const Record& r) {
      all.push_back(r);
      return Status::Ok();
    });
    EXPECT_TRUE(s.ok()) << s.ToString();
    return all;
  }

  std::filesystem::path dir_;
  std::string path_;
  std::atomic<int64_t> now_{kNoon};
  std::unique_ptr<sqlite::Conn> conn_;
  std::unique_ptr<AuditLog> log_;
};

TEST_F(AuditLogTest, TestVectorsFromTheSpec) {
  // The vector in docs/audit.md, and one that exercises the canonical
  // escaping rules; both hashes were computed by the doc's Python snippet.
  Record r1, r2;
  ASSERT_TRUE(
      log_->Append({"cli", "bank.create", "stand-in", R"({"distance": 31, "category": "csam"})"}, &r1).ok());
  EXPECT_EQ(r1.seq, 1u);
  EXPECT_EQ(r1.time_ms, kNoon);
  EXPECT_EQ(r1.prev_hash, kZeros);
  EXPECT_EQ(r1.event.details_json, R"({"category":"csam","distance":31})");
  EXPECT_EQ(r1.hash, "ae70f98e96724dbeb09c857b87a4b24ea278f57a212a740c775494f02a6e01d2");

  now_ = kNoon + 1;
  const std::string details =
      "{\"z\": [1, -9223372036854775808, 18446744073709551615, "
      "\"a\\u0001\\\"\\\\\\n\\/\x7f\\u2028\"], \"a\": {\"c\": true, \"b\": null}}";
  ASSERT_TRUE(
      log_->Append({"key:k1", "decision", "d-\xc3\xa9\xe6\xbc\xa2\xf0\x9f\x98\x80", details}, &r2).ok());
  EXPECT_EQ(r2.event.details_json,
            "{\"a\":{\"b\":null,\"c\":true},\"z\":[1,-9223372036854775808,18446744073709551615,"
            "\"a\\u0001\\\"\\\\\\n/\x7f\xe2\x80\xa8\"]}");
  EXPECT_EQ(r2.prev_hash, r1.hash);
  EXPECT_EQ(r2.hash, "021da7fae9223851a74e5ac33fba1db5f5dff3a49574816b5d42120d20eb2838");
}

TEST_F(AuditLogTest, RoundTripOfThousandsOfRecords) {
  AppendMany(3000);
  VerifyResult v = Verify();
  EXPECT_TRUE(v.ok) << v.problem;
  EXPECT_EQ(v.records, 3000u);
  EXPECT_EQ(v.first_bad_seq, 0u);
  EXPECT_EQ(v.head_seq, 3000u);

  Record head;
  ASSERT_TRUE(log_->Head(&head).ok());
  EXPECT_EQ(head.seq, 3000u);
  EXPECT_EQ(head.hash, v.head_hash);

  std::vector<Record> all = All();
  ASSERT_EQ(all.size(), 3000u);
  std::string prev = kZeros;
  for (size_t i = 0; i < all.size(); ++i) {
    const Record& r = all[i];
    ASSERT_EQ(r.seq, i + 1);
    EXPECT_EQ(r.time_ms, kNoon + 1000 * static_cast<int64_t>(i + 1));
    EXPECT_EQ(r.event.subject, "subject-" + std::to_string(i));
    EXPECT_EQ(r.prev_hash, prev);
    EXPECT_EQ(r.hash, ReferenceHash(r)) << "seq " << r.seq;
    prev = r.hash;
  }
}

TEST_F(AuditLogTest, EmptyLogVerifiesAndHasNoHead) {
  VerifyResult v = Verify();
  EXPECT_TRUE(v.ok);
  EXPECT_EQ(v.records, 0u);
  EXPECT_EQ(v.head_seq, 0u);
  EXPECT_EQ(v.head_hash, kZeros);
  Record head;
  EXPECT_EQ(log_->Head(&head).code(), StatusCode::kNotFound);
}

TEST_F(AuditLogTest, TableRefusesUpdateAndDeleteThroughSql) {
  AppendMany(3);
  Status s = conn_->Exec("UPDATE audit_log SET actor = 'x' WHERE seq = 2");
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("append-only"), std::string::npos) << s.message();
  EXPECT_FALSE(conn_->Exec("DELETE FROM audit_log WHERE seq = 3").ok());
  EXPECT_TRUE(Verify().ok);
}

TEST_F(AuditLogTest, EditedFieldIsReportedAtItsRecord) {
  // Every hashed column, one at a time, on a fresh copy of the same log.
  const std::vector<std::string> edits = {
      "time_ms = time_ms + 1", "actor = 'cli'",           "action = 'bank.delete'",
      "subject = 'other'",     "details = '{\"i\":999}'",
  };
  AppendMany(100);
  const std::vector<Record> original = All();
  for (const std::string& edit : edits) {
    SCOPED_TRACE(edit);
    Tamper("UPDATE audit_log SET " + edit + " WHERE seq = 57");
    VerifyResult v = Verify();
    EXPECT_FALSE(v.ok);
    EXPECT_EQ(v.first_bad_seq, 57u);
    EXPECT_NE(v.problem.find("record 57 was changed"), std::string::npos) << v.problem;
    EXPECT_EQ(v.records, 100u);
    // Put the row back as it was, and the chain is whole again.
    const Record& r = original[56];
    sqlite::Stmt restore(
        conn_.get(),
        "UPDATE audit_log SET time_ms = ?1, actor = ?2, action = ?3, subject = ?4, details = ?5 "
        "WHERE seq = 57");
    restore.Int(1, r.time_ms);
    restore.Text(2, r.event.actor);
    restore.Text(3, r.event.action);
    restore.Text(4, r.event.subject);
    restore.Text(5, r.event.details_json);
    ASSERT_TRUE(restore.Run().ok());
    EXPECT_TRUE(Verify().ok);
  }
}

TEST_F(AuditLogTest, EditedAndRehashedRecordIsReportedAtTheNext) {
  AppendMany(100);
  Record r = All()[56];
  r.event.actor = "cli";
  Tamper("UPDATE audit_log SET actor = 'cli', hash = '" + ReferenceHash(r) + "' WHERE seq = 57");
  VerifyResult v = Verify();
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.first_bad_seq, 58u);
  EXPECT_NE(v.problem.find("prev_hash is not record 57's hash"), std::string::npos) << v.problem;
}

TEST_F(AuditLogTest, EditedPrevHashIsReported) {
  AppendMany(20);
  Tamper("UPDATE audit_log SET prev_hash = '" + std::string(64, 'a') + "' WHERE seq = 9");
  VerifyResult v = Verify();
  EXPECT_EQ(v.first_bad_seq, 9u);
  EXPECT_NE(v.problem.find("prev_hash"), std::string::npos) << v.problem;
}

TEST_F(AuditLogTest, DeletedMiddleRecordIsReportedByItsNumber) {
  AppendMany(1000);
  Tamper("DELETE FROM audit_log WHERE seq = 500");
  VerifyResult v = Verify();
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.first_bad_seq, 500u);
  EXPECT_NE(v.problem.find("record 500 is missing"), std::string::npos) << v.problem;
  EXPECT_EQ(v.records, 999u);
}

TEST_F(AuditLogTest, DeletedFirstRecordIsReported) {
  AppendMany(10);
  Tamper("DELETE FROM audit_log WHERE seq = 1");
  VerifyResult v = Verify();
  EXPECT_EQ(v.first_bad_seq, 1u);
  EXPECT_NE(v.problem.find("record 1 is missing"), std::string::npos) << v.problem;
}

TEST_F(AuditLogTest, InsertedRecordWithRenumberingIsReported) {
  AppendMany(100);
  std::vector<Record> all = All();
  // Make room at 51 (in two steps, so no two rows ever share a number), then
  // insert a record that links correctly to 50 and has a correct hash: the
  // forgery itself checks out, the record after it cannot.
  Tamper(
      "UPDATE audit_log SET seq = seq + 1000000 WHERE seq >= 51; "
      "UPDATE audit_log SET seq = seq - 999999 WHERE seq >= 1000000");
  Record forged;
  forged.seq = 51;
  forged.time_ms = all[49].time_ms;
  forged.event = {"cli", "bank.delete", "stand-in", "{}"};
  forged.prev_hash = all[49].hash;
  forged.hash = ReferenceHash(forged);
  sqlite::Stmt insert(
      conn_.get(), "INSERT INTO audit_log VALUES (51, ?1, 'cli', 'bank.delete', 'stand-in', '{}', ?2, ?3)");
  insert.Int(1, forged.time_ms);
  insert.Text(2, forged.prev_hash);
  insert.Text(3, forged.hash);
  ASSERT_TRUE(insert.Run().ok());

  VerifyResult v = Verify();
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.records, 101u);
  EXPECT_EQ(v.first_bad_seq, 52u);
  EXPECT_NE(v.problem.find("prev_hash is not record 51's hash"), std::string::npos) << v.problem;
}

TEST_F(AuditLogTest, InsertedRecordWithABadHashIsReportedAtItself) {
  AppendMany(10);
  Tamper(
      "UPDATE audit_log SET seq = seq + 1000000 WHERE seq >= 5; "
      "UPDATE audit_log SET seq = seq - 999999 WHERE seq >= 1000000");
  Tamper("INSERT INTO audit_log VALUES (5, " + std::to_string(kNoon + 4000) + ", 'cli', 'x', '', '{}', '" +
         kZeros + "', '" + std::string(64, 'b') + "')");
  VerifyResult v = Verify();
  EXPECT_EQ(v.first_bad_seq, 5u);
  EXPECT_NE(v.problem.find("record 5's prev_hash"), std::string::npos) << v.problem;
}

TEST_F(AuditLogTest, InsertedRecordBeyondTheEndLeavesAGap) {
  AppendMany(10);
  Tamper("INSERT INTO audit_log VALUES (15, " + std::to_string(kNoon + 99000) + ", 'cli', 'x', '', '{}', '" +
         kZeros + "', '" + kZeros + "')");
  VerifyResult v = Verify();
  EXPECT_EQ(v.first_bad_seq, 11u);
  EXPECT_NE(v.problem.find("record 11 is missing"), std::string::npos) << v.problem;
}

TEST_F(AuditLogTest, SwappedRecordsAreReportedAtTheFirst) {
  AppendMany(20);
  Tamper(
      "UPDATE audit_log SET seq = 1000 WHERE seq = 10; UPDATE audit_log SET seq = 10 WHERE seq = 11; "
      "UPDATE audit_log SET seq = 11 WHERE seq = 1000");
  VerifyResult v = Verify();
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.first_bad_seq, 10u);
  EXPECT_EQ(v.records, 20u);
}

TEST_F(AuditLogTest, DamagedRowsAreReported) {
  const std::vector<std::pair<std::string, std::string>> damage = {
      {"hash = 'not a hash'", "hash is not 64 lowercase hex"},
      {"hash = upper(hash)", "hash is not 64 lowercase hex"},
      {"prev_hash = 'zz'", "prev_hash is not 64 lowercase hex"},
      {"details = 'not json'", "not valid JSON"},
      {"details = '[1,2]'", "must be a JSON object"},
      {"details = '{\"b\":1, \"a\":2}'", "not in canonical form"},
      {"actor = ''", "actor is empty"},
  };
  AppendMany(30);
  const std::vector<Record> original = All();
  for (const auto& [edit, expected] : damage) {
    SCOPED_TRACE(edit);
    Tamper("UPDATE audit_log SET " + edit + " WHERE seq = 12");
    VerifyResult v = Verify();
    EXPECT_FALSE(v.ok);
    EXPECT_EQ(v.first_bad_seq, 12u);
    EXPECT_NE(v.problem.find("record 12 is damaged"), std::string::npos) << v.problem;
    EXPECT_NE(v.problem.find(expected), std::string::npos) << v.problem;
    sqlite::Stmt restore(
        conn_.get(),
        "UPDATE audit_log SET hash = ?1, prev_hash = ?2, details = ?3, actor = ?4 WHERE seq = 12");
    restore.Text(1, original[11].hash);
    restore.Text(2, original[11].prev_hash);
    restore.Text(3, original[11].event.details_json);
    restore.Text(4, original[11].event.actor);
    ASSERT_TRUE(restore.Run().ok());
    ASSERT_TRUE(Verify().ok);
  }
}

TEST_F(AuditLogTest, DamagedLastRecordStopsAppends) {
  AppendMany(3);
  Tamper("UPDATE audit_log SET hash = 'broken' WHERE seq = 3");
  Status s = log_->Append({"cli", "config.load", "", "{}"}, nullptr);
  EXPECT_EQ(s.code(), StatusCode::kCorrupt) << s.ToString();
  EXPECT_EQ(Verify().records, 3u);
}

TEST_F(AuditLogTest, TruncatedTailIsFoundOnlyWithTheExpectedHead) {
  AppendMany(1000);
  VerifyResult before = Verify();
  ASSERT_TRUE(before.ok);
  const ExpectedHead saved{before.head_seq, before.head_hash};

  VerifyResult same;
  ASSERT_TRUE(log_->Verify(saved, &same).ok());
  EXPECT_TRUE(same.ok) << same.problem;

  Tamper("DELETE FROM audit_log WHERE seq >= 990");
  // The limitation docs/audit.md owns up to: the shorter chain is valid.
  VerifyResult plain = Verify();
  EXPECT_TRUE(plain.ok);
  EXPECT_EQ(plain.head_seq, 989u);

  VerifyResult v;
  ASSERT_TRUE(log_->Verify(saved, &v).ok());
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.first_bad_seq, 990u);
  EXPECT_NE(v.problem.find("records 990 to 1000 were removed"), std::string::npos) << v.problem;
  EXPECT_NE(v.problem.find("truncated"), std::string::npos) << v.problem;
}

TEST_F(AuditLogTest, RewrittenLogIsFoundWithTheExpectedHead) {
  AppendMany(50);
  VerifyResult before = Verify();
  // Someone with the file deletes everything and writes a different history
  // of the same length through the library: a valid chain, another head.
  Tamper("DELETE FROM audit_log");
  for (int i = 0; i < 60; ++i) ASSERT_TRUE(log_->Append({"cli", "config.load", "", "{}"}, nullptr).ok());
  EXPECT_TRUE(Verify().ok);
  VerifyResult v;
  ASSERT_TRUE(log_->Verify(ExpectedHead{before.head_seq, before.head_hash}, &v).ok());
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.first_bad_seq, 50u);
  EXPECT_NE(v.problem.find("rewritten at or before record 50"), std::string::npos) << v.problem;
}

TEST_F(AuditLogTest, AppendJoinsTheCallersTransaction) {
  AppendMany(5);
  // Rolled back: the record goes with the caller's other writes.
  ASSERT_TRUE(conn_->Exec("BEGIN IMMEDIATE").ok());
  Record r;
  ASSERT_TRUE(log_->Append({"key:k1", "decision", "d-1", "{\"action\":\"block\"}"}, &r).ok());
  EXPECT_EQ(r.seq, 6u);
  EXPECT_EQ(sqlite3_get_autocommit(conn_->db()), 0) << "Append must not commit the caller's transaction";
  ASSERT_TRUE(conn_->Exec("ROLLBACK").ok());
  EXPECT_EQ(Verify().records, 5u);

  // Committed: it stays, and the next record takes the next number.
  ASSERT_TRUE(conn_->Exec("BEGIN IMMEDIATE").ok());
  ASSERT_TRUE(log_->Append({"key:k1", "decision", "d-2", "{}"}, &r).ok());
  ASSERT_TRUE(log_->Append({"key:k1", "decision", "d-3", "{}"}, nullptr).ok());
  ASSERT_TRUE(conn_->Exec("COMMIT").ok());
  EXPECT_EQ(r.seq, 6u);
  VerifyResult v = Verify();
  EXPECT_TRUE(v.ok) << v.problem;
  EXPECT_EQ(v.head_seq, 7u);
}

TEST_F(AuditLogTest, InvalidEventsAreRefusedAndWriteNothing) {
  struct Case {
    Event event;
    StatusCode code;
  };
  std::string deep;
  for (int i = 0; i < 40; ++i) deep += "{\"a\":";
  deep += "1";
  for (int i = 0; i < 40; ++i) deep += "}";
  const std::string big_details = "{\"x\":\"" + std::string(kMaxDetailsBytes, 'a') + "\"}";
  const std::vector<Case> cases = {
      {{"", "decision", "d", "{}"}, StatusCode::kInvalidArgument},
      {{"cli", "", "d", "{}"}, StatusCode::kInvalidArgument},
      {{"cli\xff", "decision", "d", "{}"}, StatusCode::kInvalidArgument},
      {{"cli", "decision", std::string("a\0b", 3), "{}"}, StatusCode::kInvalidArgument},
      {{"cli", "decision", "\xc0\xaf", "{}"}, StatusCode::kInvalidArgument},  // overlong '/'
      {{"cli", "decision", std::string(kMaxFieldBytes + 1, 's'), "{}"}, StatusCode::kTooLarge},
      {{"cli", "decision", "d", "[1,2]"}, StatusCode::kInvalidArgument},
      {{"cli", "decision", "d", "\"text\""}, StatusCode::kInvalidArgument},
      {{"cli", "decision", "d", "{\"a\":1"}, StatusCode::kInvalidArgument},
      {{"cli", "decision", "d", ""}, StatusCode::kInvalidArgument},
      {{"cli", "decision", "d", "{\"score\":0.5}"}, StatusCode::kInvalidArgument},
      {{"cli", "decision", "d", "{\"n\":1e3}"}, StatusCode::kInvalidArgument},
      {{"cli", "decision", "d", "{\"n\":[100000000000000000000]}"}, StatusCode::kInvalidArgument},
      {{"cli", "decision", "d", "{\"s\":\"\xff\"}"}, StatusCode::kInvalidArgument},
      {{"cli", "decision", "d", deep}, StatusCode::kInvalidArgument},
      {{"cli", "decision", "d", big_details}, StatusCode::kTooLarge},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE(i);
    Status s = log_->Append(cases[i].event, nullptr);
    EXPECT_EQ(s.code(), cases[i].code) << s.ToString();
  }
  EXPECT_EQ(Verify().records, 0u);

  // Within the limits: whitespace does not count against them once canonical.
  Record r;
  std::string spaced = "{\"x\" : \"" + std::string(kMaxDetailsBytes - 10, 'a') + "\"}";
  ASSERT_TRUE(log_->Append({"cli", "decision", std::string(kMaxFieldBytes, 's'), spaced}, &r).ok());
  EXPECT_EQ(r.event.details_json.size(), kMaxDetailsBytes - 10 + 8);
  EXPECT_TRUE(Verify().ok);
}

TEST_F(AuditLogTest, TimesNeverRunBackwards) {
  now_ = kNoon;
  Record a, b, c;
  ASSERT_TRUE(log_->Append({"system", "config.load", "", "{}"}, &a).ok());
  now_ = kNoon - 5000;  // the clock is stepped back
  ASSERT_TRUE(log_->Append({"system", "config.load", "", "{}"}, &b).ok());
  now_ = kNoon + 7;
  ASSERT_TRUE(log_->Append({"system", "config.load", "", "{}"}, &c).ok());
  EXPECT_EQ(a.time_ms, kNoon);
  EXPECT_EQ(b.time_ms, kNoon);
  EXPECT_EQ(c.time_ms, kNoon + 7);

  // A time moved back by an intruder who also rehashed is still caught.
  Record edited = c;
  edited.time_ms = kNoon - 1;
  edited.hash = ReferenceHash(edited);
  Tamper("UPDATE audit_log SET time_ms = " + std::to_string(edited.time_ms) + ", hash = '" + edited.hash +
         "' WHERE seq = 3");
  VerifyResult v = Verify();
  EXPECT_EQ(v.first_bad_seq, 3u);
  EXPECT_NE(v.problem.find("time is earlier"), std::string::npos) << v.problem;
}

TEST_F(AuditLogTest, ExportSelectsATimeRangeInOrder) {
  AppendMany(10);  // times kNoon + 1000 .. kNoon + 10000
  std::vector<uint64_t> seqs;
  auto collect = [&](const Record& r) {
    seqs.push_back(r.seq);
    return Status::Ok();
  };
  ASSERT_TRUE(log_->Export(kNoon + 3000, kNoon + 6000, collect).ok());
  EXPECT_EQ(seqs, (std::vector<uint64_t>{3, 4, 5}));  // since inclusive, until exclusive
  seqs.clear();
  ASSERT_TRUE(log_->Export(kNoon + 9500, INT64_MAX, collect).ok());
  EXPECT_EQ(seqs, (std::vector<uint64_t>{10}));
  seqs.clear();
  ASSERT_TRUE(log_->Export(0, kNoon, collect).ok());
  EXPECT_TRUE(seqs.empty());

  // The callback's error stops the export and comes back.
  int calls = 0;
  Status s = log_->Export(INT64_MIN, INT64_MAX, [&](const Record&) {
    ++calls;
    return calls == 2 ? Status::IoError("reader went away") : Status::Ok();
  });
  EXPECT_EQ(s.code(), StatusCode::kIoError);
  EXPECT_EQ(calls, 2);
}

TEST_F(AuditLogTest, RecordToJsonIsTheExportFormat) {
  Record r;
  ASSERT_TRUE(
      log_->Append({"cli", "bank.create", "stand-in", R"({"distance":31,"category":"csam"})"}, &r).ok());
  EXPECT_EQ(
      RecordToJson(r),
      "{\"v\":1,\"seq\":1,\"time_ms\":1795953600000,\"time\":\"2026-11-29T12:00:00.000Z\",\"actor\":\"cli\","
      "\"action\":\"bank.create\",\"subject\":\"stand-in\",\"details\":{\"category\":\"csam\",\"distance\":"
      "31},"
      "\"prev_hash\":\"" +
          kZeros + "\",\"hash\":\"ae70f98e96724dbeb09c857b87a4b24ea278f57a212a740c775494f02a6e01d2\"}");
  // A damaged row still gives one parseable line that shows what is there.
  r.event.details_json = "not json";
  r.event.actor = "bad\xff";
  nlohmann::json j = nlohmann::json::parse(RecordToJson(r));
  EXPECT_EQ(j["details"], "not json");
  EXPECT_EQ(j["actor"], "bad\xef\xbf\xbd");
}

TEST_F(AuditLogTest, FourWritersWithTheirOwnConnectionsMakeOneChain) {
  constexpr int kThreads = 4, kPerThread = 200;
  std::atomic<int64_t> clock{kNoon};
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::unique_ptr<sqlite::Conn> conn = OpenConn();
      std::unique_ptr<AuditLog> log;
      if (!AuditLog::Open(
               conn.get(), [&] { return clock.fetch_add(1); }, &log)
               .ok()) {
        ++failures;
        return;
      }
      for (int i = 0; i < kPerThread; ++i) {
        Event e{"key:t" + std::to_string(t), "decision", std::to_string(i),
                "{\"i\":" + std::to_string(i) + "}"};
        Status s = log->Append(e, nullptr);
        if (!s.ok()) {
          ADD_FAILURE() << s.ToString();
          ++failures;
        }
      }
    });
  }
  for (std::thread& th : threads) th.join();
  ASSERT_EQ(failures.load(), 0);
  VerifyResult v = Verify();
  EXPECT_TRUE(v.ok) << v.problem;
  EXPECT_EQ(v.records, static_cast<uint64_t>(kThreads * kPerThread));
  EXPECT_EQ(v.head_seq, static_cast<uint64_t>(kThreads * kPerThread));
  // Every writer's records are all there, each once, in its own order.
  std::map<std::string, std::vector<int>> by_actor;
  for (const Record& r : All()) by_actor[r.event.actor].push_back(std::stoi(r.event.subject));
  ASSERT_EQ(by_actor.size(), static_cast<size_t>(kThreads));
  for (const auto& [actor, subjects] : by_actor) {
    ASSERT_EQ(subjects.size(), static_cast<size_t>(kPerThread)) << actor;
    for (int i = 0; i < kPerThread; ++i) EXPECT_EQ(subjects[i], i) << actor;
  }
}

TEST_F(AuditLogTest, OpenFileCreatesNothingAndNeedsAnAuditLog) {
  std::unique_ptr<AuditLog> log;
  const std::string missing = (dir_ / "missing.db").string();
  EXPECT_EQ(AuditLog::OpenFile(missing, &log).code(), StatusCode::kNotFound);
  EXPECT_FALSE(std::filesystem::exists(missing));

  // A database without the audit tables (another component's file).
  const std::string other = (dir_ / "other.db").string();
  {
    std::unique_ptr<sqlite::Conn> conn;
    ASSERT_TRUE(sqlite::Conn::Open(other, true, 1, &conn).ok());
    ASSERT_TRUE(conn->Exec("CREATE TABLE t (x)").ok());
  }
  EXPECT_EQ(AuditLog::OpenFile(other, &log).code(), StatusCode::kNotFound);

  AppendMany(4);
  ASSERT_TRUE(AuditLog::OpenFile(path_, &log).ok());
  VerifyResult v;
  ASSERT_TRUE(log->Verify(&v).ok());
  EXPECT_TRUE(v.ok);
  EXPECT_EQ(v.records, 4u);
}

TEST_F(AuditLogTest, NewerAuditTablesAreRefused) {
  ASSERT_TRUE(conn_->Exec("UPDATE schema_versions SET version = 2 WHERE component = 'audit'").ok());
  std::unique_ptr<AuditLog> log;
  EXPECT_EQ(AuditLog::Open(conn_.get(), nullptr, &log).code(), StatusCode::kCorrupt);
  EXPECT_EQ(AuditLog::OpenFile(path_, &log).code(), StatusCode::kCorrupt);
}

TEST_F(AuditLogTest, ReopeningKeepsTheChain) {
  AppendMany(3);
  log_.reset();
  ASSERT_TRUE(AuditLog::Open(conn_.get(), nullptr, &log_).ok());  // system clock, later than kNoon? no matter
  Record r;
  ASSERT_TRUE(log_->Append({"system", "config.load", "", "{}"}, &r).ok());
  EXPECT_EQ(r.seq, 4u);
  EXPECT_TRUE(Verify().ok);
}

TEST(AuditTimeTest, ParsesRfc3339AndMilliseconds) {
  int64_t ms = 0;
  ASSERT_TRUE(ParseTimeMs("2026-11-29T12:00:00Z", &ms).ok());
  EXPECT_EQ(ms, kNoon);
  ASSERT_TRUE(ParseTimeMs("2026-11-29t13:00:00.250+01:00", &ms).ok());
  EXPECT_EQ(ms, kNoon + 250);
  ASSERT_TRUE(ParseTimeMs("2026-11-29T11:30:00.1239-00:30", &ms).ok());
  EXPECT_EQ(ms, kNoon + 123);
  ASSERT_TRUE(ParseTimeMs("1970-01-01T00:00:00Z", &ms).ok());
  EXPECT_EQ(ms, 0);
  ASSERT_TRUE(ParseTimeMs("1969-12-31T23:59:59.999Z", &ms).ok());
  EXPECT_EQ(ms, -1);
  ASSERT_TRUE(ParseTimeMs("2024-02-29T00:00:00Z", &ms).ok());
  ASSERT_TRUE(ParseTimeMs("1795953600000", &ms).ok());
  EXPECT_EQ(ms, kNoon);
  ASSERT_TRUE(ParseTimeMs("-5", &ms).ok());
  EXPECT_EQ(ms, -5);
  for (const char* bad : {"", "-", "yesterday", "2026-11-29", "2026-11-29T12:00:00", "2026-13-01T00:00:00Z",
                          "2025-02-29T00:00:00Z", "2026-11-29T24:00:00Z", "2026-11-29T12:00:00.Z",
                          "2026-11-29T12:00:00+0100", "2026-11-29T12:00:00Z ", "12345678901234567890"}) {
    EXPECT_EQ(ParseTimeMs(bad, &ms).code(), StatusCode::kInvalidArgument) << bad;
  }
}

TEST(AuditTimeTest, FormatsUtcWithMilliseconds) {
  EXPECT_EQ(FormatTimeMs(kNoon), "2026-11-29T12:00:00.000Z");
  EXPECT_EQ(FormatTimeMs(kNoon + 86399999 - 12 * 3600000), "2026-11-29T23:59:59.999Z");
  EXPECT_EQ(FormatTimeMs(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatTimeMs(-1), "1969-12-31T23:59:59.999Z");
  EXPECT_EQ(FormatTimeMs(951782400000), "2000-02-29T00:00:00.000Z");
  // Round trip over a spread of times, a day apart plus some milliseconds.
  for (int64_t t = -100LL * 86400000; t < 20000LL * 86400000; t += 86400000LL * 37 + 12345) {
    int64_t back = 0;
    ASSERT_TRUE(ParseTimeMs(FormatTimeMs(t), &back).ok()) << t;
    EXPECT_EQ(back, t);
  }
}

TEST(AuditExpectedHeadTest, ParsesSeqColonHash) {
  ExpectedHead h;
  const std::string hash = "ae70f98e96724dbeb09c857b87a4b24ea278f57a212a740c775494f02a6e01d2";
  ASSERT_TRUE(ParseExpectedHead("800:" + hash, &h).ok());
  EXPECT_EQ(h.seq, 800u);
  EXPECT_EQ(h.hash, hash);
  ASSERT_TRUE(
      ParseExpectedHead("1:AE70F98E96724DBEB09C857B87A4B24EA278F57A212A740C775494F02A6E01D2", &h).ok());
  EXPECT_EQ(h.hash, hash);
  ASSERT_TRUE(ParseExpectedHead("0:" + kZeros, &h).ok());
  for (const std::string& bad :
       {std::string(""), ":" + hash, "x:" + hash, "-1:" + hash, "5:" + hash + "0", "5:" + hash.substr(1),
        std::string("5"), "0:" + hash, "99999999999999999999:" + hash}) {
    EXPECT_EQ(ParseExpectedHead(bad, &h).code(), StatusCode::kInvalidArgument) << bad;
  }
}

}  // namespace
}  // namespace safeguard::audit
