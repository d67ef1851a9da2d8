// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// The decision rules: defaults per category, combination of several
// categories, allow-list suppression, the undecodable (fail-closed) rule,
// and the configuration parser's refusals.

#include "safeguard/policy/policy.h"

#include <gtest/gtest.h>

namespace safeguard::policy {
namespace {

bank::Hit HitIn(bank::Category c) {
  bank::Hit h;
  h.category = c;
  h.bank_name = std::string(bank::CategoryName(c)) + "-bank";
  return h;
}

Decision DecideWith(const Policy& p, std::vector<bank::Category> hits, bool decoded = true, int quality = 100,
                    bool allowed = false) {
  bank::MatchResult m;
  for (bank::Category c : hits) m.hits.push_back(HitIn(c));
  if (allowed) {
    m.allowed.push_back(HitIn(bank::Category::kAllow));
    m.suppressed = m.hits.size();
    m.hits.clear();
  }
  return Decide(p, ScanFacts{.decoded = decoded, .quality = quality, .matches = &m});
}

TEST(PolicyTest, DefaultsPerCategory) {
  const Policy p = DefaultPolicy();
  Decision d = DecideWith(p, {bank::Category::kCsam});
  EXPECT_EQ(d.action, Action::kBlock);
  EXPECT_TRUE(d.actions.block && d.actions.quarantine && d.actions.report);
  EXPECT_FALSE(d.actions.review);

  d = DecideWith(p, {bank::Category::kNcii});
  EXPECT_EQ(d.action, Action::kBlock);
  EXPECT_TRUE(d.actions.block && d.actions.review);
  EXPECT_FALSE(d.actions.quarantine || d.actions.report);

  d = DecideWith(p, {bank::Category::kTerrorism});
  EXPECT_EQ(d.action, Action::kBlock);
  EXPECT_TRUE(d.actions.review);

  d = DecideWith(p, {bank::Category::kOther});
  EXPECT_EQ(d.action, Action::kReview);
  EXPECT_FALSE(d.actions.block);

  d = DecideWith(p, {});
  EXPECT_EQ(d.action, Action::kAllow);
  ASSERT_EQ(d.reasons.size(), 1u);
  EXPECT_EQ(d.reasons[0].kind, "no_match");
}

TEST(PolicyTest, SeveralCategoriesCombine) {
  Decision d =
      DecideWith(DefaultPolicy(), {bank::Category::kOther, bank::Category::kCsam, bank::Category::kNcii});
  EXPECT_EQ(d.action, Action::kBlock);
  EXPECT_TRUE(d.actions.block && d.actions.quarantine && d.actions.review && d.actions.report);
  ASSERT_EQ(d.reasons.size(), 3u);  // in category order, once each
  EXPECT_EQ(d.reasons[0].category, bank::Category::kCsam);
  EXPECT_EQ(d.reasons[1].category, bank::Category::kNcii);
  EXPECT_EQ(d.reasons[2].category, bank::Category::kOther);
}

TEST(PolicyTest, AllowListSuppressesEverythingIncludingUndecodable) {
  Decision d = DecideWith(DefaultPolicy(), {bank::Category::kCsam}, /*decoded=*/false, 0, /*allowed=*/true);
  EXPECT_EQ(d.action, Action::kAllow);
  EXPECT_FALSE(d.actions.block || d.actions.quarantine || d.actions.review || d.actions.report);
  ASSERT_EQ(d.reasons.size(), 1u);
  EXPECT_EQ(d.reasons[0].kind, "allow_list");
}

TEST(PolicyTest, UndecodableFailsClosedByDefault) {
  Decision d = DecideWith(DefaultPolicy(), {}, /*decoded=*/false);
  EXPECT_EQ(d.action, Action::kBlock);
  ASSERT_EQ(d.reasons.size(), 1u);
  EXPECT_EQ(d.reasons[0].kind, "undecodable");

  // A digest match on an undecodable file still counts, with both reasons.
  d = DecideWith(DefaultPolicy(), {bank::Category::kCsam}, /*decoded=*/false);
  EXPECT_TRUE(d.actions.quarantine && d.actions.report);
  EXPECT_EQ(d.reasons.size(), 2u);

  Policy p = DefaultPolicy();
  ASSERT_TRUE(ParsePolicy(R"({"on_undecodable": ["review"]})", &p).ok());
  EXPECT_EQ(DecideWith(p, {}, false).action, Action::kReview);
}

TEST(PolicyTest, LowQualityIsFlagged) {
  const Policy p = DefaultPolicy();
  EXPECT_TRUE(DecideWith(p, {}, true, 49).low_quality);
  EXPECT_FALSE(DecideWith(p, {}, true, 50).low_quality);
  EXPECT_FALSE(DecideWith(p, {}, false, 0).low_quality);  // nothing was hashed
}

TEST(PolicyTest, ParseOverridesAndRoundTrips) {
  Policy p = DefaultPolicy();
  ASSERT_TRUE(
      ParsePolicy(R"({"on_match": {"other": ["block"], "ncii": []}, "min_quality": 70, "dihedral": true})",
                  &p)
          .ok());
  EXPECT_EQ(p.min_quality, 70);
  EXPECT_TRUE(p.dihedral);
  EXPECT_EQ(DecideWith(p, {bank::Category::kOther}).action, Action::kBlock);
  EXPECT_EQ(DecideWith(p, {bank::Category::kNcii}).action, Action::kAllow);
  EXPECT_EQ(DecideWith(p, {bank::Category::kCsam}).action, Action::kBlock);  // untouched default

  Policy q = DefaultPolicy();
  ASSERT_TRUE(ParsePolicy(PolicyToJson(p), &q).ok());
  EXPECT_EQ(PolicyToJson(q), PolicyToJson(p));
  EXPECT_NE(PolicyToJson(DefaultPolicy()), PolicyToJson(p));
}

TEST(PolicyTest, ParseRefusesAndLeavesPolicyUnchanged) {
  const std::string before = PolicyToJson(DefaultPolicy());
  const char* bad[] = {
      "[]",
      "not json",
      R"({"on_match": {"csam": ["delete"]}})",
      R"({"on_match": {"cats": ["block"]}})",
      R"({"on_match": {"allow": ["block"]}})",
      R"({"on_match": {"csam": "block"}})",
      R"({"min_quality": "high"})",
      R"({"min_quality": 500})",
      R"({"dihedral": 1})",
      R"({"on_match": {"other": ["block"]}, "typo": 1})",
  };
  for (const char* json : bad) {
    Policy p = DefaultPolicy();
    Status s = ParsePolicy(json, &p);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << json;
    EXPECT_FALSE(s.message().empty());
    EXPECT_EQ(PolicyToJson(p), before) << json;
  }
}

}  // namespace
}  // namespace safeguard::policy
