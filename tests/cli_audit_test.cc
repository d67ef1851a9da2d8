// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// `safeguard audit verify` and `safeguard audit export` end to end: the real
// binary on a service database filled through the library (the server's
// way), and the Python verification script of docs/audit.md run, as printed
// there, against what the binary exports.

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "cli_util.h"
#include "common/sqlite.h"
#include "safeguard/audit/audit_log.h"

namespace safeguard {
namespace {

using testing::CliResult;
using testing::JsonLines;
using testing::ShellQuote;

constexpr int64_t kNoon = 1795953600000;  // 2026-11-29T12:00:00Z
constexpr int64_t kMinute = 60000;

// Runs `command` with /bin/sh; returns its exit status, stdout in *out.
int RunShell(const std::string& command, std::string* out) {
  FILE* p = popen(command.c_str(), "r");
  if (p == nullptr) return -1;
  char buf[4096];
  size_t n;
  out->clear();
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out->append(buf, n);
  const int status = pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// The one ```python block of docs/audit.md.
std::string PythonSnippet() {
  std::ifstream in(std::string(SAFEGUARD_SOURCE_DIR) + "/docs/audit.md");
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string doc = ss.str();
  const size_t start = doc.find("```python\n");
  if (start == std::string::npos) return "";
  const size_t body = start + 10;
  const size_t end = doc.find("```", body);
  return end == std::string::npos ? "" : doc.substr(body, end - body);
}

class CliAuditTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("safeguard_cli_audit_" + std::to_string(getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_ / "data");
    db_ = (dir_ / "data" / "service.db").string();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Appends n records to DATA/service.db, one a minute from noon, with
  // details that exercise the canonical form (non-ASCII, escapes, big ints).
  void Fill(int n) {
    std::unique_ptr<sqlite::Conn> conn;
    ASSERT_TRUE(sqlite::Conn::Open(db_, true, 4, &conn).ok());
    ASSERT_TRUE(conn->Exec("PRAGMA journal_mode = WAL").ok());
    std::unique_ptr<audit::AuditLog> log;
    ASSERT_TRUE(audit::AuditLog::Open(
                    conn.get(), [this] { return next_time_; }, &log)
                    .ok());
    for (int i = 0; i < n; ++i) {
      audit::Event e{
          "key:k" + std::to_string(i % 3), i % 2 ? "decision" : "bank.update", "d-" + std::to_string(i),
          "{\"note\":\"caf\xc3\xa9 \\\"q\\\" \\t \\u0007\",\"n\":" + std::to_string(i) +
              ",\"big\":18446744073709551615,\"list\":[true,null,{\"z\":-1,\"a\":\"\xe6\xbc\xa2\"}]}"};
      ASSERT_TRUE(log->Append(e, nullptr).ok());
      next_time_ += kMinute;
    }
  }
  // Runs raw SQL on the database without the append-only triggers.
  void Tamper(const std::string& sql) {
    std::unique_ptr<sqlite::Conn> conn;
    ASSERT_TRUE(sqlite::Conn::Open(db_, false, 1, &conn).ok());
    ASSERT_TRUE(conn->Exec("DROP TRIGGER IF EXISTS audit_log_no_update; DROP TRIGGER IF EXISTS "
                           "audit_log_no_delete; " +
                           sql)
                    .ok());
  }
  CliResult Run(const std::string& args) {
    return testing::RunCli(args + " --data " + ShellQuote((dir_ / "data").string()));
  }
  nlohmann::json One(const CliResult& r) {
    auto lines = JsonLines(r.out);
    EXPECT_EQ(lines.size(), 1u) << r.out << r.err;
    return lines.empty() ? nlohmann::json() : lines[0];
  }

  std::filesystem::path dir_;
  std::string db_;
  int64_t next_time_ = kNoon;
};

TEST_F(CliAuditTest, VerifyPrintsTheHead) {
  Fill(50);
  CliResult r = Run("audit verify");
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  nlohmann::json j = One(r);
  EXPECT_EQ(j["ok"], true);
  EXPECT_EQ(j["records"], 50);
  EXPECT_EQ(j["head_seq"], 50);
  std::unique_ptr<audit::AuditLog> log;
  ASSERT_TRUE(audit::AuditLog::OpenFile(db_, &log).ok());
  audit::Record head;
  ASSERT_TRUE(log->Head(&head).ok());
  EXPECT_EQ(j["head_hash"], head.hash);
  // The documented field order.
  EXPECT_EQ(r.out, "{\"ok\":true,\"records\":50,\"head_seq\":50,\"head_hash\":\"" + head.hash + "\"}\n");
}

TEST_F(CliAuditTest, VerifyReportsTheFirstBadRecord) {
  Fill(40);
  Tamper("UPDATE audit_log SET subject = 'd-other' WHERE seq = 20; DELETE FROM audit_log WHERE seq = 30");
  CliResult r = Run("audit verify");
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  nlohmann::json j = One(r);
  EXPECT_EQ(j["ok"], false);
  EXPECT_EQ(j["records"], 39);
  EXPECT_EQ(j["first_bad_seq"], 20);
  EXPECT_NE(j["problem"].get<std::string>().find("record 20 was changed"), std::string::npos) << r.out;
  EXPECT_FALSE(j.contains("head_hash"));
  EXPECT_NE(r.err.find("broken at record 20"), std::string::npos) << r.err;
}

TEST_F(CliAuditTest, ExpectHeadCatchesATruncatedTail) {
  Fill(30);
  nlohmann::json head = One(Run("audit verify"));
  const std::string saved =
      std::to_string(head["head_seq"].get<int>()) + ":" + head["head_hash"].get<std::string>();
  CliResult r = Run("audit verify --expect-head " + saved);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;

  Tamper("DELETE FROM audit_log WHERE seq > 25");
  r = Run("audit verify");
  EXPECT_EQ(r.exit_code, 0) << "a truncated chain is valid on its own (docs/audit.md)";
  EXPECT_EQ(One(r)["head_seq"], 25);

  r = Run("audit verify --expect-head " + saved);
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  nlohmann::json j = One(r);
  EXPECT_EQ(j["ok"], false);
  EXPECT_EQ(j["first_bad_seq"], 26);
  EXPECT_NE(j["problem"].get<std::string>().find("records 26 to 30 were removed"), std::string::npos)
      << r.out;

  r = Run("audit verify --expect-head 30:nothex");
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_TRUE(r.out.empty());
  EXPECT_NE(r.err.find("SEQ:HASH"), std::string::npos) << r.err;
}

TEST_F(CliAuditTest, ExportFiltersByTime) {
  Fill(12);  // seq n at noon + (n - 1) minutes
  CliResult all = Run("audit export");
  ASSERT_EQ(all.exit_code, 0) << all.err;
  auto lines = JsonLines(all.out);
  ASSERT_EQ(lines.size(), 12u);
  EXPECT_EQ(lines[0]["v"], 1);
  EXPECT_EQ(lines[0]["seq"], 1);
  EXPECT_EQ(lines[0]["time"], "2026-11-29T12:00:00.000Z");
  EXPECT_EQ(lines[0]["prev_hash"], std::string(64, '0'));
  EXPECT_EQ(lines[3]["details"]["n"], 3);
  EXPECT_EQ(lines[3]["details"]["list"][2]["a"], "\xe6\xbc\xa2");
  for (size_t i = 1; i < lines.size(); ++i) EXPECT_EQ(lines[i]["prev_hash"], lines[i - 1]["hash"]);

  CliResult r = Run("audit export --since 2026-11-29T12:05:00Z --until 2026-11-29T12:08:00Z");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto range = JsonLines(r.out);
  ASSERT_EQ(range.size(), 3u);
  EXPECT_EQ(range[0]["seq"], 6);
  EXPECT_EQ(range[2]["seq"], 8);

  r = Run("audit export --since " + std::to_string(kNoon + 10 * kMinute));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  range = JsonLines(r.out);
  ASSERT_EQ(range.size(), 2u);
  EXPECT_EQ(range[0]["seq"], 11);

  r = Run("audit export --until 2026-11-29T13:00:00+02:00");  // 11:00 UTC: before the first record
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(r.out.empty());

  r = Run("audit export --since 'last tuesday'");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("RFC 3339"), std::string::npos) << r.err;
}

TEST_F(CliAuditTest, MissingServiceDatabaseIsReportedAndNotCreated) {
  for (const char* cmd : {"audit verify", "audit export"}) {
    CliResult r = Run(cmd);
    EXPECT_EQ(r.exit_code, 1) << cmd;
    EXPECT_TRUE(r.out.empty()) << r.out;
    EXPECT_NE(r.err.find("no service database at"), std::string::npos) << r.err;
    EXPECT_FALSE(std::filesystem::exists(db_));
  }
  // A data directory that does not exist stays that way.
  const std::string nowhere = (dir_ / "nowhere").string();
  CliResult r = testing::RunCli("audit verify --data " + ShellQuote(nowhere));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_FALSE(std::filesystem::exists(nowhere));
  // SAFEGUARD_DATA is the default data directory, as for the bank commands.
  Fill(2);
  r = testing::RunCli("audit verify", "SAFEGUARD_DATA=" + ShellQuote((dir_ / "data").string()));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(One(r)["records"], 2);
}

TEST_F(CliAuditTest, ServiceDatabaseWithoutAnAuditLog) {
  {
    std::unique_ptr<sqlite::Conn> conn;
    ASSERT_TRUE(sqlite::Conn::Open(db_, true, 1, &conn).ok());
    ASSERT_TRUE(conn->Exec("CREATE TABLE decisions (id INTEGER PRIMARY KEY)").ok());
  }
  CliResult r = Run("audit verify");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("holds no audit log"), std::string::npos) << r.err;
}

TEST_F(CliAuditTest, PythonSnippetVerifiesExport) {
  std::string ignored;
  if (RunShell("command -v python3 >/dev/null 2>&1", &ignored) != 0)
    GTEST_SKIP() << "python3 is not installed";
  const std::string snippet = PythonSnippet();
  ASSERT_FALSE(snippet.empty()) << "docs/audit.md has no ```python block";
  const std::string script = (dir_ / "verify_audit.py").string();
  std::ofstream(script) << snippet;

  Fill(200);
  nlohmann::json head = One(Run("audit verify"));
  CliResult exported = Run("audit export");
  ASSERT_EQ(exported.exit_code, 0) << exported.err;
  const std::string file = (dir_ / "audit.jsonl").string();
  std::ofstream(file, std::ios::binary) << exported.out;

  std::string out;
  EXPECT_EQ(RunShell("python3 " + ShellQuote(script) + " < " + ShellQuote(file), &out), 0) << out;
  EXPECT_EQ(out, "ok 200:" + head["head_hash"].get<std::string>() + "\n");

  // A time range verifies on its own.
  CliResult range = Run("audit export --since 2026-11-29T13:00:00Z --until 2026-11-29T14:00:00Z");
  ASSERT_EQ(range.exit_code, 0);
  const std::string range_file = (dir_ / "range.jsonl").string();
  std::ofstream(range_file, std::ios::binary) << range.out;
  EXPECT_EQ(RunShell("python3 " + ShellQuote(script) + " < " + ShellQuote(range_file), &out), 0) << out;
  EXPECT_EQ(out.substr(0, 7), "ok 120:") << out;

  // One changed value in the export, or one line left out, fails the script.
  std::string tampered = exported.out;
  const size_t at = tampered.find("\"subject\":\"d-77\"");
  ASSERT_NE(at, std::string::npos);
  tampered.replace(at, 16, "\"subject\":\"d-78\"");
  std::ofstream(file, std::ios::binary | std::ios::trunc) << tampered;
  EXPECT_NE(RunShell("python3 " + ShellQuote(script) + " < " + ShellQuote(file) + " 2>&1", &out), 0);
  EXPECT_NE(out.find("record 78:"), std::string::npos) << out;

  std::string gap = exported.out;
  const size_t line_start = gap.find("{\"v\":1,\"seq\":100,");
  ASSERT_NE(line_start, std::string::npos);
  gap.erase(line_start, gap.find('\n', line_start) + 1 - line_start);
  std::ofstream(file, std::ios::binary | std::ios::trunc) << gap;
  EXPECT_NE(RunShell("python3 " + ShellQuote(script) + " < " + ShellQuote(file) + " 2>&1", &out), 0);
  EXPECT_NE(out.find("record 101: does not follow record 99"), std::string::npos) << out;
}

}  // namespace
}  // namespace safeguard
