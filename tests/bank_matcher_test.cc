// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// The Matcher follows the store: what is imported matches, what is withdrawn
// stops matching after one Refresh, per-bank distances and the enabled flag
// decide which hits count, an allow-list suppresses the rest, and a restart
// from an index snapshot replays only the changes after it (and survives a
// damaged or foreign snapshot). Every case runs on SQLite and on PostgreSQL.
// Hashes are random codes; nothing here is derived from any real image.

#include "safeguard/bank/matcher.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <map>
#include <random>
#include <thread>

#include "bank_test_env.h"
#include "safeguard/hash/pdq.h"
#include "safeguard/video/tmk.h"
#include "safeguard/video/vpdq.h"
#include "synthetic_codes.h"
#include "test_util.h"

namespace safeguard::bank {
namespace {

// The 32 value bytes (hex text order) of a code: the inverse of
// CodeFromPdqValue.
std::vector<uint8_t> PdqValue(const index::Code256& c) {
  pdq::Hash256 h;
  for (int i = 0; i < 4; ++i) {
    for (int k = 0; k < 4; ++k) h.w[4 * i + k] = static_cast<uint16_t>(c.w[i] >> (16 * k));
  }
  char hex[65];
  h.ToHex(hex);
  std::vector<uint8_t> value;
  EXPECT_TRUE(ParseSignalValue(SignalType::kPdq, hex, &value).ok());
  return value;
}

NewSignal Pdq(const index::Code256& c, const std::string& external_id) {
  NewSignal s;
  s.type = SignalType::kPdq;
  s.value = PdqValue(c);
  s.external_id = external_id;
  return s;
}

template <typename Backend>
class MatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string why = backend_.SkipReason();
    if (!why.empty()) GTEST_SKIP() << why;
    SG_ASSERT_OK(backend_.Setup());
    SG_ASSERT_OK(backend_.Open(StoreOptions(), &store_));
  }

  void MakeBank(const std::string& name, Category category, int distance = 31) {
    BankSpec spec;
    spec.name = name;
    spec.category = category;
    spec.pdq_distance = distance;
    SG_ASSERT_OK(store_->CreateBank(spec, nullptr));
  }

  // Banks (by name) and distances of the hits for one code.
  std::vector<std::pair<std::string, int>> Hits(const Matcher& m, const index::Code256& q,
                                                bool* allowed = nullptr) {
    MatchQuery query;
    query.pdq = std::span<const index::Code256>(&q, 1);
    MatchResult r;
    EXPECT_TRUE(m.Match(query, &r).ok());
    std::vector<std::pair<std::string, int>> out;
    for (const Hit& h : r.hits) out.emplace_back(h.bank_name, h.distance);
    if (allowed) *allowed = !r.allowed.empty();
    return out;
  }

  Backend backend_;
  std::unique_ptr<Store> store_;
  testing::TempDir dir_;
  std::mt19937_64 rng_{99};
};

using Backends = ::testing::Types<testing::SqliteBackend, testing::PostgresBackend>;
TYPED_TEST_SUITE(MatcherTest, Backends, testing::BackendNames);

TYPED_TEST(MatcherTest, ImportMatchWithdrawAndBankSettings) {
  this->MakeBank("ncii", Category::kNcii, 31);
  this->MakeBank("strict", Category::kCsam, 8);
  const index::Code256 a = safeguard::testing::RandomCode(this->rng_);
  const index::Code256 b = safeguard::testing::RandomCode(this->rng_);
  const std::vector<NewSignal> ncii = {Pdq(a, "stopncii-1"), Pdq(b, "stopncii-2")};
  SG_ASSERT_OK(this->store_->Import("ncii", ncii, nullptr));
  const std::vector<NewSignal> strict = {Pdq(a, "x-1")};
  SG_ASSERT_OK(this->store_->Import("strict", strict, nullptr));

  std::unique_ptr<Matcher> m;
  SG_ASSERT_OK(Matcher::Open(this->store_.get(), MatcherOptions(), &m));
  EXPECT_EQ(m->pdq_entries(), 3u);
  EXPECT_EQ(m->load_source(), "store");

  // 20 bits from a: within ncii's 31, outside strict's 8.
  const index::Code256 near_a = safeguard::testing::Flip(a, 20, this->rng_);
  const int d = index::Distance(a, near_a);
  using Hits = std::vector<std::pair<std::string, int>>;
  EXPECT_EQ(this->Hits(*m, near_a), (Hits{{"ncii", d}}));
  EXPECT_EQ(this->Hits(*m, a), (Hits{{"ncii", 0}, {"strict", 0}}));

  // Withdraw by external id: gone after one Refresh.
  WithdrawSpec w;
  w.external_ids = {"stopncii-1"};
  uint64_t withdrawn = 0;
  SG_ASSERT_OK(this->store_->Withdraw("ncii", w, &withdrawn));
  EXPECT_EQ(withdrawn, 1u);
  size_t applied = 0;
  SG_ASSERT_OK(m->Refresh(&applied));
  EXPECT_EQ(applied, 1u);
  EXPECT_EQ(this->Hits(*m, a), (Hits{{"strict", 0}}));

  // Disabling a bank and widening another take effect on Refresh.
  BankUpdate off;
  off.enabled = false;
  SG_ASSERT_OK(this->store_->UpdateBank("strict", off, nullptr));
  BankUpdate wide;
  wide.pdq_distance = 40;
  SG_ASSERT_OK(this->store_->UpdateBank("ncii", wide, nullptr));
  SG_ASSERT_OK(m->Refresh(nullptr));
  EXPECT_TRUE(this->Hits(*m, a).empty());
  const index::Code256 far_b = safeguard::testing::Flip(b, 38, this->rng_);
  EXPECT_EQ(this->Hits(*m, far_b), (Hits{{"ncii", index::Distance(b, far_b)}}));

  // New imports arrive by Refresh too, including digests.
  NewSignal md5;
  md5.type = SignalType::kMd5;
  md5.value.assign(16, 0x5a);
  const std::vector<NewSignal> more = {md5};
  SG_ASSERT_OK(this->store_->Import("ncii", more, nullptr));
  SG_ASSERT_OK(m->Refresh(nullptr));
  MatchQuery q;
  q.md5 = std::array<uint8_t, 16>();
  q.md5->fill(0x5a);
  MatchResult r;
  SG_ASSERT_OK(m->Match(q, &r));
  ASSERT_EQ(r.hits.size(), 1u);
  EXPECT_EQ(r.hits[0].type, SignalType::kMd5);
  EXPECT_EQ(r.hits[0].bank_name, "ncii");
}

TYPED_TEST(MatcherTest, AllowListSuppressesOtherBanks) {
  this->MakeBank("csam-list", Category::kCsam);
  this->MakeBank("known-good", Category::kAllow, 10);
  const index::Code256 listed = safeguard::testing::RandomCode(this->rng_);
  const index::Code256 benign = safeguard::testing::Flip(listed, 25, this->rng_);
  SG_ASSERT_OK(this->store_->Import("csam-list", std::vector<NewSignal>{Pdq(listed, "")}, nullptr));
  SG_ASSERT_OK(this->store_->Import("known-good", std::vector<NewSignal>{Pdq(benign, "")}, nullptr));
  std::unique_ptr<Matcher> m;
  SG_ASSERT_OK(Matcher::Open(this->store_.get(), MatcherOptions(), &m));
  bool allowed = false;
  // The known-good image itself: within 25 of the list entry, but allowed.
  EXPECT_TRUE(this->Hits(*m, benign, &allowed).empty());
  EXPECT_TRUE(allowed);
  // The listed image: 25 bits from the allow entry, beyond its distance 10.
  EXPECT_EQ(this->Hits(*m, listed, &allowed).size(), 1u);
  EXPECT_FALSE(allowed);
}

TYPED_TEST(MatcherTest, RestartsFromASnapshotAndReplaysOnlyWhatFollowed) {
  this->MakeBank("ncii", Category::kNcii);
  std::vector<index::Code256> codes;
  std::vector<NewSignal> batch;
  for (int i = 0; i < 500; ++i) {
    codes.push_back(safeguard::testing::RandomCode(this->rng_));
    batch.push_back(Pdq(codes.back(), "e" + std::to_string(i)));
  }
  SG_ASSERT_OK(this->store_->Import("ncii", batch, nullptr));
  MatcherOptions o;
  o.snapshot_path = this->dir_.path() + "/pdq.snapshot";
  {
    std::unique_ptr<Matcher> m;
    SG_ASSERT_OK(Matcher::Open(this->store_.get(), o, &m));
    EXPECT_EQ(m->load_source(), "store");
    SG_ASSERT_OK(m->SaveSnapshot());
  }
  // After the snapshot: one withdrawal and one addition.
  WithdrawSpec w;
  w.external_ids = {"e7"};
  SG_ASSERT_OK(this->store_->Withdraw("ncii", w, nullptr));
  const index::Code256 fresh = safeguard::testing::RandomCode(this->rng_);
  SG_ASSERT_OK(this->store_->Import("ncii", std::vector<NewSignal>{Pdq(fresh, "new")}, nullptr));

  std::unique_ptr<Matcher> m;
  SG_ASSERT_OK(Matcher::Open(this->store_.get(), o, &m));
  EXPECT_EQ(m->load_source(), "snapshot");
  EXPECT_EQ(m->changes_replayed_at_open(), 2u) << "only the changes after the snapshot are replayed";
  // Open itself applies them: the withdrawal holds before any Refresh (a
  // CLI run opens, matches and exits without ever calling Refresh).
  EXPECT_EQ(m->pdq_entries(), 500u);
  EXPECT_TRUE(this->Hits(*m, codes[7]).empty());
  size_t applied = 99;
  SG_ASSERT_OK(m->Refresh(&applied));
  EXPECT_EQ(applied, 0u);
  EXPECT_EQ(this->Hits(*m, codes[8]).size(), 1u);
  EXPECT_EQ(this->Hits(*m, fresh).size(), 1u);

  // A damaged snapshot is not an outage: the matcher loads from the store.
  std::FILE* f = std::fopen(o.snapshot_path.c_str(), "r+b");
  ASSERT_NE(f, nullptr);
  std::fseek(f, 100, SEEK_SET);
  std::fputc(0x55, f);
  std::fclose(f);
  SG_ASSERT_OK(Matcher::Open(this->store_.get(), o, &m));
  EXPECT_NE(m->load_source().find("snapshot not used"), std::string::npos) << m->load_source();
  EXPECT_EQ(m->pdq_entries(), 500u);
  EXPECT_TRUE(this->Hits(*m, codes[7]).empty());
  EXPECT_EQ(this->Hits(*m, fresh).size(), 1u);
}

// Video signals (vpdq, tmk) are for the video matcher. This one must still
// open and follow a store that holds them, without letting a video digest
// (a SHA-256 of the video hash) answer a file SHA-256 lookup.
TYPED_TEST(MatcherTest, VideoSignalsDoNotDisturbImageMatching) {
  this->MakeBank("mixed", Category::kNcii);
  const index::Code256 code = safeguard::testing::RandomCode(this->rng_);
  const std::vector<NewSignal> first = {Pdq(code, "p"), testing::MakeVideoSignal(1, SignalType::kVpdq, 4096)};
  SG_ASSERT_OK(this->store_->Import("mixed", first, nullptr));
  std::unique_ptr<Matcher> m;
  SG_ASSERT_OK(Matcher::Open(this->store_.get(), MatcherOptions(), &m));
  EXPECT_EQ(this->Hits(*m, code).size(), 1u);

  const NewSignal tmk = testing::MakeVideoSignal(2, SignalType::kTmk, 263344);
  SG_ASSERT_OK(this->store_->Import("mixed", std::vector<NewSignal>{tmk}, nullptr));
  SG_ASSERT_OK(m->Refresh(nullptr));
  MatchQuery q;
  std::array<uint8_t, 32> digest;
  std::copy(tmk.value.begin(), tmk.value.end(), digest.begin());
  q.sha256 = digest;
  MatchResult r;
  SG_ASSERT_OK(m->Match(q, &r));
  EXPECT_TRUE(r.hits.empty());

  WithdrawSpec spec;
  spec.values = {{SignalType::kTmk, tmk.value}};
  SG_ASSERT_OK(this->store_->Withdraw("mixed", spec, nullptr));
  SG_ASSERT_OK(m->Refresh(nullptr));
  EXPECT_EQ(this->Hits(*m, code).size(), 1u);
  // Made-up content is neither vPDQ text nor a .tmk file: skipped, counted.
  EXPECT_EQ(m->unreadable_video_signals(), 2u);
  EXPECT_EQ(m->vpdq_signals() + m->tmk_signals(), 0u);
}

std::string ReadShared(const std::string& rel) {
  std::ifstream in(safeguard::testing::SharedPath(rel), std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// "NAME/KIND" (built by appending: GCC 12 warns falsely, -Wrestrict, on
// operator+ of a string and a literal here).
std::string Label(const std::string& name, const char* kind) {
  std::string s = name;
  s += '/';
  s += kind;
  return s;
}

NewSignal ContentSignal(SignalType type, const std::string& bytes, const std::string& external_id) {
  NewSignal s;
  EXPECT_TRUE(MakeContentSignal(type, std::vector<uint8_t>(bytes.begin(), bytes.end()), &s).ok());
  s.external_id = external_id;
  return s;
}

// The matcher's video index against the plain pair-by-pair comparisons
// (video::CompareVpdq, the TMK scores) on the reference's own hash files:
// the same percentages, the same verdicts, for every query and signal.
TYPED_TEST(MatcherTest, VideoSignalsMatchAsThePairwiseComparisonDoes) {
  const std::vector<std::string> names = {"chair-19-sd-bar", "chair-22-sd-grey-bar", "chair-orig-22-sd-bar",
                                          "doorknob-hd-no-bar", "pattern-sd-grey-bar"};
  this->MakeBank("videos", Category::kCsam);
  std::vector<NewSignal> signals;
  std::vector<std::vector<video::VpdqFrame>> vpdq(names.size());
  std::vector<video::TmkFeatures> tmk(names.size());
  for (size_t i = 0; i < names.size(); ++i) {
    const std::string text = ReadShared("video-vectors/expected/vpdq/" + names[i] + ".txt");
    const std::string bytes = ReadShared("video-vectors/expected/tmk/" + names[i] + ".tmk");
    ASSERT_TRUE(video::ParseVpdqText(text, &vpdq[i]).ok());
    ASSERT_TRUE(video::TmkFeatures::Parse(bytes, &tmk[i]).ok());
    signals.push_back(ContentSignal(SignalType::kVpdq, text, Label(names[i], "vpdq")));
    signals.push_back(ContentSignal(SignalType::kTmk, bytes, Label(names[i], "tmk")));
  }
  SG_ASSERT_OK(this->store_->Import("videos", signals, nullptr));
  std::unique_ptr<Matcher> m;
  SG_ASSERT_OK(Matcher::Open(this->store_.get(), MatcherOptions(), &m));
  EXPECT_EQ(m->vpdq_signals(), names.size());
  EXPECT_EQ(m->tmk_signals(), names.size());
  EXPECT_EQ(m->unreadable_video_signals(), 0u);
  std::vector<Signal> stored;
  std::vector<uint64_t> ids;
  for (uint64_t id = 1; id <= 64; ++id) ids.push_back(id);
  SG_ASSERT_OK(this->store_->GetSignals(ids, &stored));
  std::map<uint64_t, std::string> name_of;
  for (const Signal& s : stored) name_of[s.id] = s.external_id;

  for (size_t q = 0; q < names.size(); ++q) {
    const std::vector<pdq::Hash256> frames = video::VpdqMatchableHashes(vpdq[q]);
    MatchQuery query;
    query.vpdq = frames;
    query.tmk = &tmk[q];
    MatchResult r;
    SG_ASSERT_OK(m->Match(query, &r));
    std::map<std::string, Hit> got;
    for (const Hit& h : r.hits) got[name_of[h.signal_id]] = h;
    for (size_t t = 0; t < names.size(); ++t) {
      const video::VpdqComparison c = video::CompareVpdq(vpdq[q], vpdq[t]);
      auto v = got.find(Label(names[t], "vpdq"));
      EXPECT_EQ(v != got.end(), c.match) << names[q] << " vs " << names[t];
      if (v != got.end()) {
        EXPECT_DOUBLE_EQ(v->second.vpdq_query_percent, c.query_match_percent)
            << names[q] << " vs " << names[t];
        EXPECT_DOUBLE_EQ(v->second.vpdq_target_percent, c.target_match_percent)
            << names[q] << " vs " << names[t];
        EXPECT_EQ(v->second.type, SignalType::kVpdq);
      }
      const float l1 = video::TmkLevel1Score(tmk[q], tmk[t]);
      const float l2 = video::TmkLevel2Score(tmk[q], tmk[t]);
      const bool tmk_match = l1 >= video::kTmkLevel1Threshold && l2 >= video::kTmkLevel2Threshold;
      auto k = got.find(Label(names[t], "tmk"));
      EXPECT_EQ(k != got.end(), tmk_match) << names[q] << " vs " << names[t];
      if (k != got.end()) {
        EXPECT_EQ(k->second.tmk_level1, l1);
        EXPECT_EQ(k->second.tmk_level2, l2);
      }
    }
    // Every video matches itself, by both methods.
    EXPECT_TRUE(got.count(Label(names[q], "vpdq"))) << names[q];
    EXPECT_TRUE(got.count(Label(names[q], "tmk"))) << names[q];
  }

  // A withdrawal stops both at the next refresh; a disabled bank matches nothing.
  WithdrawSpec w;
  w.external_ids = {"doorknob-hd-no-bar/vpdq", "doorknob-hd-no-bar/tmk"};
  SG_ASSERT_OK(this->store_->Withdraw("videos", w, nullptr));
  SG_ASSERT_OK(m->Refresh(nullptr));
  const std::vector<pdq::Hash256> door = video::VpdqMatchableHashes(vpdq[3]);
  MatchQuery query;
  query.vpdq = door;
  query.tmk = &tmk[3];
  MatchResult r;
  SG_ASSERT_OK(m->Match(query, &r));
  EXPECT_TRUE(r.hits.empty());
  EXPECT_EQ(m->vpdq_signals(), names.size() - 1);
  BankUpdate off;
  off.enabled = false;
  SG_ASSERT_OK(this->store_->UpdateBank("videos", off, nullptr));
  SG_ASSERT_OK(m->Refresh(nullptr));
  const std::vector<pdq::Hash256> chair = video::VpdqMatchableHashes(vpdq[0]);
  query.vpdq = chair;
  query.tmk = &tmk[0];
  SG_ASSERT_OK(m->Match(query, &r));
  EXPECT_TRUE(r.hits.empty());
}

// Scans match while the store's changes are applied: one thread adds and
// withdraws vPDQ signals and refreshes, two match the same video over and
// over. Run under ThreadSanitizer by `make test` (the video index's maps and
// its LiveIndex under one shared mutex; src/bank/video_index.h).
TEST(MatcherVideoRace, MatchWhileRefreshAddsAndWithdrawsVideos) {
  testing::SqliteBackend backend;
  SG_ASSERT_OK(backend.Setup());
  std::unique_ptr<Store> store;
  SG_ASSERT_OK(backend.Open(StoreOptions(), &store));
  BankSpec spec;
  spec.name = "videos";
  spec.category = Category::kCsam;
  SG_ASSERT_OK(store->CreateBank(spec, nullptr));
  const std::string text = ReadShared("video-vectors/expected/vpdq/pattern-sd-grey-bar.txt");
  const std::string tmk_bytes = ReadShared("video-vectors/expected/tmk/pattern-sd-grey-bar.tmk");
  std::vector<video::VpdqFrame> frames;
  ASSERT_TRUE(video::ParseVpdqText(text, &frames).ok());
  video::TmkFeatures tmk;
  ASSERT_TRUE(video::TmkFeatures::Parse(tmk_bytes, &tmk).ok());
  SG_ASSERT_OK(store->Import(
      "videos", std::vector<NewSignal>{ContentSignal(SignalType::kTmk, tmk_bytes, "t")}, nullptr));
  std::unique_ptr<Matcher> m;
  SG_ASSERT_OK(Matcher::Open(store.get(), MatcherOptions(), &m));
  const std::vector<pdq::Hash256> query = video::VpdqMatchableHashes(frames);

  std::atomic<bool> stop{false};
  std::atomic<int> matches{0}, vpdq_hits{0};
  auto reader = [&] {
    while (!stop.load()) {
      MatchQuery q;
      q.vpdq = query;
      q.tmk = &tmk;
      MatchResult r;
      ASSERT_TRUE(m->Match(q, &r).ok());
      ++matches;
      for (const Hit& h : r.hits) {
        if (h.type == SignalType::kVpdq) {
          ++vpdq_hits;
          EXPECT_DOUBLE_EQ(h.vpdq_query_percent, 100.0);
        }
      }
    }
  };
  std::thread a(reader), b(reader);
  for (int round = 0; round < 20; ++round) {
    // The same frames with another last timestamp: new content, same hashes.
    std::vector<video::VpdqFrame> copy = frames;
    copy.back().timestamp += round + 1;
    const std::string changed = video::VpdqToText(copy);
    const std::string id = "v" + std::to_string(round);
    SG_ASSERT_OK(store->Import(
        "videos", std::vector<NewSignal>{ContentSignal(SignalType::kVpdq, changed, id)}, nullptr));
    SG_ASSERT_OK(m->Refresh(nullptr));
    WithdrawSpec w;
    w.external_ids = {id};
    SG_ASSERT_OK(store->Withdraw("videos", w, nullptr));
    SG_ASSERT_OK(m->Refresh(nullptr));
    EXPECT_EQ(m->vpdq_signals(), 0u);
  }
  stop = true;
  a.join();
  b.join();
  EXPECT_GT(matches.load(), 0);
  EXPECT_EQ(m->tmk_signals(), 1u);
}

}  // namespace
}  // namespace safeguard::bank
