// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// Issue 4: "Killing the process (SIGKILL) in the middle of importing 1M
// entries leaves the bank as it was before the import or after it, never in
// between." A helper process (bank_crash_helper) imports 1,000,000 signals
// into a bank that already holds 1,000 and reports progress from inside the
// transaction; the test kills it with SIGKILL
//  - half-way through handing the rows to the database (the bank must be
//    exactly as before), and
//  - right after the last row, while the database commits (SQLite writes
//    the WAL then; PostgreSQL runs the INSERT from the staging table): the
//    bank must be as before or as after, nothing else,
// then reopens the store and checks the count, the full scan, the change
// log, and that the store still takes imports. Run for SQLite and for
// PostgreSQL (the client is killed; the server must roll back).

#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include "bank_test_env.h"
#include "safeguard/bank/store.h"

namespace safeguard::bank {
namespace {

using testing::MakeSignal;

constexpr size_t kExisting = 1000;
constexpr size_t kImport = 1000000;

struct ChildOutcome {
  bool killed = false;    // we sent SIGKILL and it died of it
  bool finished = false;  // it printed "done": the import committed
  size_t last_progress = 0;
};

// Runs the helper and sends SIGKILL once it reports progress >= kill_at.
ChildOutcome RunAndKill(const std::vector<std::string>& backend_args, size_t kill_at) {
  ChildOutcome out;
  int fds[2];
  if (pipe(fds) != 0) {
    ADD_FAILURE() << "pipe: " << std::strerror(errno);
    return out;
  }
  std::vector<std::string> args = {SAFEGUARD_BANK_CRASH_HELPER};
  args.insert(args.end(), backend_args.begin(), backend_args.end());
  args.insert(args.end(), {"crash", std::to_string(kImport), "5000000"});
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  const pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], 1);
    close(fds[0]);
    close(fds[1]);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(fds[1]);
  FILE* in = fdopen(fds[0], "r");
  char line[256];
  bool sent = false;
  while (std::fgets(line, sizeof(line), in) != nullptr) {
    size_t done = 0, total = 0;
    if (std::sscanf(line, "progress %zu %zu", &done, &total) == 2) {
      out.last_progress = done;
      if (!sent && done >= kill_at) {
        kill(pid, SIGKILL);
        sent = true;
      }
    } else if (std::strncmp(line, "done", 4) == 0) {
      out.finished = true;
    }
  }
  std::fclose(in);
  int status = 0;
  waitpid(pid, &status, 0);
  out.killed = sent && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
  if (!out.killed && !out.finished)
    ADD_FAILURE() << "helper neither finished nor was killed; status " << status;
  return out;
}

template <typename Backend>
class BankStoreCrashTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string why = backend_.SkipReason();
    if (!why.empty()) GTEST_SKIP() << why;
    SG_ASSERT_OK(backend_.Setup());
    std::unique_ptr<Store> store;
    SG_ASSERT_OK(backend_.Open(StoreOptions(), &store));
    BankSpec spec;
    spec.name = "crash";
    SG_ASSERT_OK(store->CreateBank(spec, nullptr));
    std::vector<NewSignal> existing;
    for (size_t i = 0; i < kExisting; ++i) existing.push_back(MakeSignal(i, SignalType::kPdq, "old"));
    SG_ASSERT_OK(store->Import("crash", existing, nullptr));
  }

  // Reopens the store after the kill and checks that the bank holds exactly
  // kExisting or kExisting + kImport signals by every measure, and that the
  // store still works. Returns the live count.
  uint64_t CheckAllOrNothing() {
    std::unique_ptr<Store> store;
    Status s = backend_.Open(StoreOptions(), &store);
    EXPECT_TRUE(s.ok()) << s.ToString();
    if (!s.ok()) return 0;
    Bank bank;
    s = store->GetBank("crash", &bank);
    EXPECT_TRUE(s.ok()) << s.ToString();
    const uint64_t live = bank.live_signals;
    EXPECT_TRUE(live == kExisting || live == kExisting + kImport) << "bank holds " << live << " signals";
    EXPECT_EQ(bank.total_signals, live);

    uint64_t scanned = 0, cursor = 0;
    s = store->ForEachLiveSignal(
        [&](const LiveSignal&) {
          ++scanned;
          return Status::Ok();
        },
        &cursor);
    EXPECT_TRUE(s.ok()) << s.ToString();
    EXPECT_EQ(scanned, live);

    uint64_t adds = 0, log_cursor = 0, next = 0;
    std::vector<Change> changes;
    do {
      s = store->ChangesSince(log_cursor, 100000, &changes, &next);
      EXPECT_TRUE(s.ok()) << s.ToString();
      for (const Change& c : changes) adds += c.kind == Change::Kind::kAdd;
      log_cursor = next;
    } while (s.ok() && !changes.empty());
    EXPECT_EQ(adds, live);
    EXPECT_EQ(log_cursor, cursor);

    // Still usable, and a new signal's id comes after everything visible.
    ApplyResult r;
    s = store->Import("crash", std::vector<NewSignal>{MakeSignal(99999999)}, &r);
    EXPECT_TRUE(s.ok()) << s.ToString();
    EXPECT_EQ(r.added, 1u);
    s = store->ChangesSince(cursor, 10, &changes, &next);
    EXPECT_TRUE(s.ok() && changes.size() == 1 && changes[0].kind == Change::Kind::kAdd) << s.ToString();
    return live;
  }

  void CheckSqliteIntegrity() {
    if constexpr (std::is_same_v<Backend, testing::SqliteBackend>) {
      sqlite3* db = nullptr;
      ASSERT_EQ(sqlite3_open((backend_.dir() + "/safeguard.db").c_str(), &db), SQLITE_OK);
      sqlite3_stmt* stmt = nullptr;
      ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &stmt, nullptr), SQLITE_OK);
      ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
      EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0)), "ok");
      sqlite3_finalize(stmt);
      sqlite3_close(db);
    }
  }

  Backend backend_;
};

using Backends = ::testing::Types<testing::SqliteBackend, testing::PostgresBackend>;
TYPED_TEST_SUITE(BankStoreCrashTest, Backends, testing::BackendNames);

TYPED_TEST(BankStoreCrashTest, KillHalfWayLeavesTheBankAsBefore) {
  ChildOutcome child = RunAndKill(this->backend_.HelperArgs(), kImport / 2);
  ASSERT_TRUE(child.killed) << "the helper finished before it could be killed";
  EXPECT_FALSE(child.finished);
  EXPECT_GE(child.last_progress, kImport / 2);
  EXPECT_LT(child.last_progress, kImport);
  EXPECT_EQ(this->CheckAllOrNothing(), kExisting);
  this->CheckSqliteIntegrity();
}

TYPED_TEST(BankStoreCrashTest, KillDuringCommitLeavesTheBankBeforeOrAfter) {
  ChildOutcome child = RunAndKill(this->backend_.HelperArgs(), kImport);
  EXPECT_EQ(child.last_progress, kImport);
  const uint64_t live = this->CheckAllOrNothing();
  if (child.finished) {
    EXPECT_EQ(live, kExisting + kImport);  // "done" means committed
  }
  std::printf("[ info ] killed=%d finished=%d; the bank holds %s\n", child.killed, child.finished,
              live == kExisting ? "what it held before" : "the whole import");
  this->CheckSqliteIntegrity();
}

}  // namespace
}  // namespace safeguard::bank
