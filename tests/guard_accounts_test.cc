// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// Per-account strikes and rate limits, on a real SQLite file, with a clock
// the test moves.

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include <unistd.h>

#include "common/sqlite.h"
#include "safeguard/guard/accounts.h"

namespace safeguard::guard {
namespace {

namespace fs = std::filesystem;

class AccountLimitsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = (fs::temp_directory_path() / ("sg-accounts-" + std::to_string(::getpid()) + ".db")).string();
    fs::remove(path_);
    Reopen();
  }
  void TearDown() override {
    limits_.reset();
    conn_.reset();
    fs::remove(path_);
  }
  void Reopen() {
    limits_.reset();
    conn_.reset();
    ASSERT_TRUE(sqlite::Conn::Open(path_, /*create=*/true, 4, &conn_).ok());
    policy_.cooldown_at = 3;
    policy_.cooldown_s = 600;
    policy_.suspend_at = 8;
    policy_.report_at = 15;
    policy_.rate_per_minute = 5;
    ASSERT_TRUE(AccountLimits::Open(
                    conn_.get(), policy_, [this] { return now_ms_; }, &limits_)
                    .ok());
  }
  // One request of `account` whose screen decided `screened`; returns the
  // final decision and the rule names.
  std::pair<Decision, std::vector<std::string>> Request(const std::string& account, Decision screened) {
    PromptVerdict v;
    v.decision = screened;
    if (screened != Decision::kAllow) {
      RuleHit r;
      r.rule = "screen";
      r.decision = screened;
      v.rules.push_back(r);
    }
    Status s = limits_->Apply(account, &v, nullptr);
    EXPECT_TRUE(s.ok()) << s.ToString();
    std::vector<std::string> rules;
    for (const RuleHit& r : v.rules) rules.push_back(r.rule);
    now_ms_ += 20'000;  // three requests a minute: under the rate limit
    return {v.decision, rules};
  }
  bool Has(const std::vector<std::string>& rules, const std::string& r) {
    return std::find(rules.begin(), rules.end(), r) != rules.end();
  }

  std::string path_;
  std::unique_ptr<sqlite::Conn> conn_;
  std::unique_ptr<AccountLimits> limits_;
  StrikePolicy policy_;
  int64_t now_ms_ = 1'800'000'000'000;
};

TEST_F(AccountLimitsTest, RefusalsEscalateToCooldownSuspensionAndReport) {
  // Allowed requests are no strikes.
  for (int i = 0; i < 5; ++i) EXPECT_EQ(Request("a", Decision::kAllow).first, Decision::kAllow);
  AccountStanding st;
  ASSERT_TRUE(limits_->Standing("a", &st).ok());
  EXPECT_EQ(st.strikes, 0);

  Request("a", Decision::kBlock);
  Request("a", Decision::kBlock);
  auto [d, rules] = Request("a", Decision::kBlock);  // the third strike starts the cool-down
  EXPECT_FALSE(Has(rules, "account_cooldown"));
  auto next = Request("a", Decision::kAllow);  // a harmless request, refused during the cool-down
  EXPECT_EQ(next.first, Decision::kBlock);
  EXPECT_TRUE(Has(next.second, "account_cooldown"));
  // Another account is not affected.
  EXPECT_EQ(Request("b", Decision::kAllow).first, Decision::kAllow);
  // After the cool-down, allowed again (and that refusal was no new strike).
  now_ms_ += 601'000;
  EXPECT_EQ(Request("a", Decision::kAllow).first, Decision::kAllow);
  ASSERT_TRUE(limits_->Standing("a", &st).ok());
  EXPECT_EQ(st.strikes, 3);

  // A report-candidate refusal weighs 5: 8 strikes, suspended.
  Request("a", Decision::kBlockReport);
  auto suspended = Request("a", Decision::kAllow);
  EXPECT_EQ(suspended.first, Decision::kBlockReview);
  EXPECT_TRUE(Has(suspended.second, "account_suspended"));
  // The suspension outlives the strike window, until reinstated.
  now_ms_ += (policy_.window_s + 10) * 1000;
  EXPECT_EQ(Request("a", Decision::kAllow).first, Decision::kBlockReview);
  ASSERT_TRUE(limits_->Reinstate("a").ok());
  EXPECT_EQ(Request("a", Decision::kAllow).first, Decision::kAllow);
}

TEST_F(AccountLimitsTest, ReportCandidatesAndPersistenceAcrossRestarts) {
  Request("c", Decision::kBlockReport);
  Request("c", Decision::kBlockReport);
  auto third = Request("c", Decision::kBlockReport);  // 15 strikes
  EXPECT_TRUE(Has(third.second, "account_report_candidate"));
  EXPECT_EQ(third.first, Decision::kBlockReport);
  Reopen();  // the state is in the database, not in memory
  AccountStanding st;
  ASSERT_TRUE(limits_->Standing("c", &st).ok());
  EXPECT_TRUE(st.suspended);
  EXPECT_TRUE(st.report_candidate);
  EXPECT_EQ(st.strikes, 15);
  // From now on, even an ordinary refusal of this account is a report candidate.
  auto next = Request("c", Decision::kBlock);
  EXPECT_EQ(next.first, Decision::kBlockReport);
}

TEST_F(AccountLimitsTest, RateLimitRefusesTheRequestsOverTheLimit) {
  std::vector<Decision> decisions;
  for (int i = 0; i < 7; ++i) {
    PromptVerdict v;
    ASSERT_TRUE(limits_->Apply("r", &v, nullptr).ok());
    decisions.push_back(v.decision);
    now_ms_ += 1000;
  }
  EXPECT_EQ(decisions,
            (std::vector<Decision>{Decision::kAllow, Decision::kAllow, Decision::kAllow, Decision::kAllow,
                                   Decision::kAllow, Decision::kBlock, Decision::kBlock}));
  now_ms_ += 61'000;
  PromptVerdict v;
  ASSERT_TRUE(limits_->Apply("r", &v, nullptr).ok());
  EXPECT_EQ(v.decision, Decision::kAllow);
  // Rate-limited refusals are no strikes.
  AccountStanding st;
  ASSERT_TRUE(limits_->Standing("r", &st).ok());
  EXPECT_EQ(st.strikes, 0);
}

}  // namespace
}  // namespace safeguard::guard
