// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// Cases on a real SQLite file, with a clock the test moves: deadlines by
// source, the queue's order, actions and their history, and a reopen.

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>

#include "common/sqlite.h"
#include "safeguard/cases/case_store.h"

namespace safeguard::cases {
namespace {

namespace fs = std::filesystem;
constexpr int64_t kHour = 3600 * 1000;

class CaseStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = (fs::temp_directory_path() / ("sg-cases-" + std::to_string(::getpid()) + ".db")).string();
    fs::remove(path_);
    Reopen();
  }
  void TearDown() override {
    store_.reset();
    conn_.reset();
    fs::remove(path_);
  }
  void Reopen() {
    store_.reset();
    conn_.reset();
    ASSERT_TRUE(sqlite::Conn::Open(path_, /*create=*/true, 4, &conn_).ok());
    ASSERT_TRUE(CaseStore::Open(
                    conn_.get(), CasePolicy(), [this] { return now_ms_; }, &store_)
                    .ok());
  }
  Case Open(Source source, const std::string& category, int severity, int64_t reach = 0,
            bool trusted = false) {
    NewCase n;
    n.source = source;
    n.category = category;
    n.severity = severity;
    n.reach = reach;
    n.trusted_flagger = trusted;
    n.subject = "subject-" + std::to_string(++subjects_);
    Case c;
    Status s = store_->Create(n, "system", &c);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return c;
  }
  std::vector<int64_t> QueueIds(QueueOptions o = QueueOptions()) {
    std::vector<Case> q;
    EXPECT_TRUE(store_->Queue(o, &q).ok());
    std::vector<int64_t> ids;
    for (const Case& c : q) ids.push_back(c.id);
    return ids;
  }

  std::string path_;
  std::unique_ptr<sqlite::Conn> conn_;
  std::unique_ptr<CaseStore> store_;
  int64_t now_ms_ = 1'800'000'000'000;
  int subjects_ = 0;
};

TEST_F(CaseStoreTest, DeadlinesFollowTheSource) {
  const Case ncii = Open(Source::kNciiReport, "ncii", 1);
  EXPECT_EQ(ncii.deadline_ms - ncii.created_ms, 48 * kHour);
  EXPECT_EQ(ncii.state, State::kOpen);
  EXPECT_EQ(Open(Source::kGuard, "guard", 1).deadline_ms - now_ms_, 24 * kHour);
  EXPECT_EQ(Open(Source::kScanReview, "other", 3).deadline_ms - now_ms_, 24 * kHour);
  EXPECT_EQ(Open(Source::kAppeal, "other", 3).deadline_ms - now_ms_, 7 * 24 * kHour);
  NewCase n;
  n.deadline_ms = now_ms_ + kHour;
  Case c;
  ASSERT_TRUE(store_->Create(n, "system", &c).ok());
  EXPECT_EQ(c.deadline_ms, now_ms_ + kHour);
}

// The order is the documented formula; checked against it directly and on
// the cases that matter: severity first, a trusted flagger and reach next,
// and a case nearing or past its deadline overtaking fresher severe ones.
TEST_F(CaseStoreTest, TheQueueIsOrderedByThePriorityFormula) {
  const Case other = Open(Source::kScanReview, "other", 3);
  const Case severe = Open(Source::kGuard, "guard", 1);
  const Case viral = Open(Source::kScanReview, "other", 3, 1'000'000);
  const Case flagged = Open(Source::kNciiReport, "ncii", 2, 0, true);
  EXPECT_DOUBLE_EQ(Priority(other, now_ms_), 300);
  EXPECT_DOUBLE_EQ(Priority(severe, now_ms_), 1000);
  EXPECT_NEAR(Priority(viral, now_ms_), 300 + 100 * std::log10(1'000'001.0), 1e-9);
  EXPECT_DOUBLE_EQ(Priority(flagged, now_ms_), 800);
  EXPECT_EQ(QueueIds(), (std::vector<int64_t>{severe.id, viral.id, flagged.id, other.id}));

  // 20 hours on, the scan reviews (24 h) have used 5/6 of their time, the
  // NCII report (48 h) 5/12; at 25 hours the scan reviews are overdue.
  now_ms_ += 20 * kHour;
  std::vector<Case> q;
  ASSERT_TRUE(store_->Queue(QueueOptions(), &q).ok());
  for (const Case& c : q) EXPECT_NEAR(c.priority, Priority(c, now_ms_), 1e-9);
  EXPECT_NEAR(Priority(other, now_ms_), 300 + 400 * 20.0 / 24, 1e-9);
  now_ms_ += 5 * kHour;
  EXPECT_NEAR(Priority(other, now_ms_), 300 + 400 + 500, 1e-9);
  // severe 1900 (its 24 h are up too), viral 1800, other 1200, flagged 1008.
  EXPECT_EQ(QueueIds(), (std::vector<int64_t>{severe.id, viral.id, other.id, flagged.id}));

  // Filters.
  QueueOptions only;
  only.category = "ncii";
  EXPECT_EQ(QueueIds(only), (std::vector<int64_t>{flagged.id}));
  only = QueueOptions();
  only.source = "scan_review";
  EXPECT_EQ(QueueIds(only), (std::vector<int64_t>{viral.id, other.id}));
  only = QueueOptions();
  only.limit = 1;
  EXPECT_EQ(QueueIds(only).size(), 1u);
  only.limit = 0;
  std::vector<Case> none;
  EXPECT_EQ(store_->Queue(only, &none).code(), StatusCode::kInvalidArgument);
}

TEST_F(CaseStoreTest, ActionsCloseOrMoveACaseAndAreKeptInItsHistory) {
  const Case c = Open(Source::kNciiReport, "ncii", 1);
  Case after;
  now_ms_ += kHour;
  ASSERT_TRUE(store_->Act(c.id, "request_info", "key:mod1", "which post?", &after).ok());
  EXPECT_EQ(after.state, State::kWaiting);
  now_ms_ += kHour;
  ASSERT_TRUE(store_->Act(c.id, "escalate", "key:mod1", "", &after).ok());
  EXPECT_EQ(after.state, State::kEscalated);
  EXPECT_EQ(QueueIds(), (std::vector<int64_t>{c.id}));  // still in the queue
  now_ms_ += kHour;
  ASSERT_TRUE(store_->Act(c.id, "confirm", "key:senior", "the reporter is shown", &after).ok());
  EXPECT_EQ(after.state, State::kClosed);
  EXPECT_EQ(after.outcome, "confirm");
  EXPECT_EQ(after.closed_ms - after.created_ms, 3 * kHour);  // time to action
  EXPECT_EQ(after.priority, 0);
  EXPECT_TRUE(QueueIds().empty());
  QueueOptions all;
  all.include_closed = true;
  EXPECT_EQ(QueueIds(all), (std::vector<int64_t>{c.id}));

  // A closed case takes no more actions; unknown actions and cases are refused.
  Status s = store_->Act(c.id, "remove", "key:mod1", "", &after);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("closed"), std::string::npos) << s.message();
  EXPECT_EQ(store_->Act(c.id, "delete", "key:mod1", "", &after).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->Act(999, "dismiss", "key:mod1", "", &after).code(), StatusCode::kNotFound);

  // The history survives a reopen, in order, with actors and notes.
  Reopen();
  std::vector<CaseEvent> history;
  Case again;
  ASSERT_TRUE(store_->Get(c.id, &again, &history).ok());
  ASSERT_EQ(history.size(), 4u);
  EXPECT_EQ(history[0].action, "open");
  EXPECT_EQ(history[1].action, "request_info");
  EXPECT_EQ(history[1].note, "which post?");
  EXPECT_EQ(history[3].actor, "key:senior");
  EXPECT_EQ(again.outcome, "confirm");
}

TEST_F(CaseStoreTest, BadCasesAreRefusedAndNothingIsHalfWritten) {
  Case c;
  NewCase n;
  n.severity = 4;
  EXPECT_EQ(store_->Create(n, "system", &c).code(), StatusCode::kInvalidArgument);
  n = NewCase();
  n.reach = -1;
  EXPECT_EQ(store_->Create(n, "system", &c).code(), StatusCode::kInvalidArgument);
  n = NewCase();
  n.details_json = "[1, 2]";
  EXPECT_EQ(store_->Create(n, "system", &c).code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(QueueIds().empty());
  // Inside a transaction the caller rolls back, the case goes with it.
  ASSERT_TRUE(conn_->Exec("BEGIN").ok());
  const Case inside = Open(Source::kGuard, "guard", 1);
  ASSERT_TRUE(conn_->Exec("ROLLBACK").ok());
  EXPECT_EQ(store_->Get(inside.id, &c, nullptr).code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace safeguard::cases
