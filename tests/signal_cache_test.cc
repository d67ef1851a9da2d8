// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// The lookup route's cache of signal records against a real SQLite store and
// matcher: it answers exactly what Store::GetSignals answers (order, missing
// ids, every field), from memory only while the matcher's cursor stands
// still, and reads the store again once a change (here a withdrawal) has
// moved it. Budgets of zero and of less than one record keep it correct.

#include "server/signal_cache.h"

#include <gtest/gtest.h>

#include <memory>
#include <random>
#include <vector>

#include "bank_test_env.h"
#include "safeguard/bank/matcher.h"
#include "synthetic_codes.h"

namespace safeguard::server {
namespace {

using bank::Signal;

std::vector<uint8_t> PdqValue(const index::Code256& c) {
  std::vector<uint8_t> v(32);
  // The store's byte order is the matcher's business; any 32 bytes are a
  // valid PDQ value for this test.
  for (int i = 0; i < 32; ++i) v[i] = static_cast<uint8_t>(c.w[i / 8] >> (8 * (i % 8)));
  return v;
}

// The fields a lookup shows, as one comparable tuple per record.
std::vector<std::tuple<uint64_t, std::string, std::string, std::string, int64_t, int64_t>> Fields(
    const std::vector<Signal>& s) {
  std::vector<std::tuple<uint64_t, std::string, std::string, std::string, int64_t, int64_t>> out;
  for (const Signal& x : s)
    out.emplace_back(x.id, x.bank_name, x.external_id, x.source_version, x.added_at_ms, x.withdrawn_at_ms);
  return out;
}

class SignalCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SG_ASSERT_OK(bank::Store::OpenSqlite(dir_.path(), bank::StoreOptions(), &store_));
    bank::BankSpec spec;
    spec.name = "list";
    spec.category = bank::Category::kNcii;
    SG_ASSERT_OK(store_->CreateBank(spec, nullptr));
    std::mt19937_64 rng(3);
    std::vector<bank::NewSignal> add;
    for (int i = 0; i < 20; ++i) {
      bank::NewSignal s;
      s.type = SignalType::kPdq;
      s.value = PdqValue(safeguard::testing::RandomCode(rng));
      s.external_id = "report-" + std::to_string(i);
      add.push_back(s);
    }
    SG_ASSERT_OK(store_->Import("list", add, nullptr));
    SG_ASSERT_OK(bank::Matcher::Open(store_.get(), bank::MatcherOptions(), &matcher_));
    std::vector<uint64_t> all;
    uint64_t cursor = 0;
    SG_ASSERT_OK(store_->ForEachLiveSignal(
        [&](const bank::LiveSignal& s) {
          all.push_back(s.id);
          return Status::Ok();
        },
        &cursor));
    ASSERT_EQ(all.size(), 20u);
    // Some ids twice, one the store never gave out, in no particular order.
    ids_ = {all[5], all[1], 999999, all[5], all[19], all[0]};
  }

  std::vector<Signal> FromStore() {
    std::vector<Signal> s;
    EXPECT_TRUE(store_->GetSignals(ids_, &s).ok());
    return s;
  }

  bank::testing::TempDir dir_;
  std::unique_ptr<bank::Store> store_;
  std::unique_ptr<bank::Matcher> matcher_;
  std::vector<uint64_t> ids_;
};

TEST_F(SignalCacheTest, AnswersAsTheStoreAndRereadsWhenTheCursorMoves) {
  SignalCache cache(size_t{1} << 20);
  std::vector<Signal> got;
  SG_ASSERT_OK(cache.Get(store_.get(), matcher_.get(), matcher_->cursor(), ids_, &got));
  EXPECT_EQ(Fields(got), Fields(FromStore()));
  EXPECT_EQ(got.size(), 5u);  // the unknown id is absent, the repeated one twice
  EXPECT_EQ(cache.hits(), 0u);
  EXPECT_EQ(cache.misses(), 6u);
  EXPECT_EQ(cache.size(), 4u);

  // Again at the same cursor: from memory, the same answer.
  SG_ASSERT_OK(cache.Get(store_.get(), matcher_.get(), matcher_->cursor(), ids_, &got));
  EXPECT_EQ(Fields(got), Fields(FromStore()));
  EXPECT_EQ(cache.hits(), 5u);  // the unknown id is asked of the store again

  // A withdrawal moves the cursor once the matcher has applied it; the
  // record the next lookup shows is the store's, withdrawn.
  const uint64_t before = matcher_->cursor();
  const std::string gone = got.front().external_id;  // a record the cache holds
  bank::WithdrawSpec w;
  w.external_ids = {gone};
  uint64_t withdrawn = 0;
  SG_ASSERT_OK(store_->Withdraw("list", w, &withdrawn));
  ASSERT_EQ(withdrawn, 1u);
  SG_ASSERT_OK(matcher_->Refresh(nullptr));
  ASSERT_NE(matcher_->cursor(), before);
  SG_ASSERT_OK(cache.Get(store_.get(), matcher_.get(), matcher_->cursor(), ids_, &got));
  const std::vector<Signal> now = FromStore();
  EXPECT_EQ(Fields(got), Fields(now));
  bool saw_withdrawn = false;
  for (const Signal& s : got) saw_withdrawn |= s.external_id == gone && s.withdrawn_at_ms != 0;
  EXPECT_TRUE(saw_withdrawn);
  EXPECT_EQ(cache.misses(), 6u + 1u + 6u);

  // Another matcher (a reload) starts over too.
  std::unique_ptr<bank::Matcher> other;
  SG_ASSERT_OK(bank::Matcher::Open(store_.get(), bank::MatcherOptions(), &other));
  const uint64_t misses = cache.misses();
  SG_ASSERT_OK(cache.Get(store_.get(), other.get(), other->cursor(), ids_, &got));
  EXPECT_EQ(Fields(got), Fields(now));
  EXPECT_EQ(cache.misses(), misses + 6u);
}

TEST_F(SignalCacheTest, ZeroAndTinyBudgetsStayCorrect) {
  for (size_t budget : {size_t{0}, size_t{100}, size_t{1500}}) {
    SignalCache cache(budget);
    std::vector<Signal> got;
    for (int round = 0; round < 3; ++round) {
      SG_ASSERT_OK(cache.Get(store_.get(), matcher_.get(), matcher_->cursor(), ids_, &got));
      EXPECT_EQ(Fields(got), Fields(FromStore())) << "budget " << budget;
      EXPECT_LE(cache.bytes(), budget);
    }
    if (budget == 0) EXPECT_EQ(cache.size(), 0u);
  }
}

}  // namespace
}  // namespace safeguard::server
