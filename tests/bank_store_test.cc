// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// The bank store's contract, run against SQLite and against a real
// PostgreSQL server (typed tests "BankStoreTest/Sqlite.*" and
// "BankStoreTest/Postgres.*"; the latter skip unless SAFEGUARD_TEST_PG is set,
// which scripts/test-postgres does). Each test gets a fresh database (a new
// directory, or a new schema), so they are independent and may run in
// parallel. The change-log tests replay the log into a model and compare it
// with a full scan: that is exactly what a matcher node does to follow the
// store without rebuilding its index.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "bank_test_env.h"
#include "safeguard/bank/bank.h"
#include "safeguard/bank/store.h"

namespace safeguard::bank {
namespace {

using testing::MakeSignal;

constexpr int64_t kStartTime = 1767225600000;  // 2026-01-01T00:00:00Z

template <typename Backend>
class BankStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string why = backend_.SkipReason();
    if (!why.empty()) GTEST_SKIP() << why;
    SG_ASSERT_OK(backend_.Setup());
    options_.clock = [this] { return now_.load(); };
    SG_ASSERT_OK(Reopen());
  }

  Status Reopen() {
    store_.reset();
    return backend_.Open(options_, &store_);
  }

  Bank MakeBank(const std::string& name, Category category = Category::kNcii) {
    BankSpec spec;
    spec.name = name;
    spec.category = category;
    Bank bank;
    Status s = store_->CreateBank(spec, &bank);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return bank;
  }

  ApplyResult MustImport(const std::string& bank, const std::vector<NewSignal>& signals) {
    ApplyResult r;
    Status s = store_->Import(bank, signals, &r);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return r;
  }

  // Every live signal as (id -> bank id, type, hex value), from a full scan.
  std::map<uint64_t, std::string> LiveSet(uint64_t* cursor = nullptr) {
    std::map<uint64_t, std::string> live;
    uint64_t c = 0;
    Status s = store_->ForEachLiveSignal(
        [&](const LiveSignal& sig) {
          EXPECT_TRUE(live.emplace(sig.id, Describe(sig.bank_id, sig.type, sig.value)).second);
          return Status::Ok();
        },
        &c);
    EXPECT_TRUE(s.ok()) << s.ToString();
    if (cursor != nullptr) *cursor = c;
    return live;
  }

  // Applies the change log after *cursor to *live, as a matcher would, in
  // pages of `page`, and advances *cursor. Returns the changes seen.
  std::vector<Change> Follow(uint64_t* cursor, std::map<uint64_t, std::string>* live, size_t page = 1000) {
    std::vector<Change> all, batch;
    while (true) {
      uint64_t next = 0;
      Status s = store_->ChangesSince(*cursor, page, &batch, &next);
      EXPECT_TRUE(s.ok()) << s.ToString();
      if (!s.ok() || batch.empty()) {
        EXPECT_EQ(next, *cursor);
        break;
      }
      EXPECT_LE(batch.size(), page);
      EXPECT_EQ(next, batch.back().seq);
      for (const Change& c : batch) {
        EXPECT_GT(c.seq, *cursor) << "changes must come in increasing sequence order";
        *cursor = c.seq;
        if (c.kind == Change::Kind::kAdd) {
          EXPECT_EQ(c.signal_id, c.seq);
          (*live)[c.signal_id] = Describe(c.bank_id, c.type, c.value);  // idempotent
        } else if (c.kind == Change::Kind::kWithdraw) {
          live->erase(c.signal_id);  // idempotent
        }
        all.push_back(c);
      }
      *cursor = next;
    }
    return all;
  }

  static std::string Describe(int64_t bank_id, SignalType type, std::span<const uint8_t> value) {
    return std::to_string(bank_id) + "/" + std::string(SignalTypeName(type)) + "/" + SignalValueHex(value);
  }

  Backend backend_;
  StoreOptions options_;
  std::atomic<int64_t> now_{kStartTime};
  std::unique_ptr<Store> store_;
};

using Backends = ::testing::Types<testing::SqliteBackend, testing::PostgresBackend>;
TYPED_TEST_SUITE(BankStoreTest, Backends, testing::BackendNames);

TYPED_TEST(BankStoreTest, CreateGetListBanks) {
  BankSpec spec;
  spec.name = "stopncii-uk";
  spec.category = Category::kNcii;
  spec.pdq_distance = 24;
  spec.source = "stopncii";
  Bank bank;
  SG_ASSERT_OK(this->store_->CreateBank(spec, &bank));
  EXPECT_GT(bank.id, 0);
  EXPECT_EQ(bank.name, "stopncii-uk");
  EXPECT_EQ(bank.category, Category::kNcii);
  EXPECT_EQ(bank.pdq_distance, 24);
  EXPECT_TRUE(bank.enabled);
  EXPECT_EQ(bank.source, "stopncii");
  EXPECT_EQ(bank.created_at_ms, kStartTime);
  EXPECT_EQ(bank.updated_at_ms, kStartTime);
  EXPECT_EQ(bank.live_signals, 0u);

  this->MakeBank("allow.Known_Good", Category::kAllow);
  this->MakeBank("Zeta", Category::kCsam);

  Bank got;
  SG_ASSERT_OK(this->store_->GetBank("stopncii-uk", &got));
  EXPECT_EQ(got.id, bank.id);
  EXPECT_EQ(got.pdq_distance, 24);

  std::vector<Bank> banks;
  SG_ASSERT_OK(this->store_->ListBanks(&banks));
  ASSERT_EQ(banks.size(), 3u);
  // Byte order, the same in both backends whatever the database's locale.
  EXPECT_EQ(banks[0].name, "Zeta");
  EXPECT_EQ(banks[1].name, "allow.Known_Good");
  EXPECT_EQ(banks[1].category, Category::kAllow);
  EXPECT_EQ(banks[2].name, "stopncii-uk");

  Status s = this->store_->GetBank("missing", &got);
  EXPECT_EQ(s.code(), StatusCode::kNotFound) << s.ToString();
  EXPECT_NE(s.message().find("missing"), std::string::npos);
}

TYPED_TEST(BankStoreTest, BankValidationErrorsSayWhatToDo) {
  BankSpec spec;
  for (const std::string& bad :
       std::vector<std::string>{"", "has space", "semi;colon", "..", std::string(65, 'a'), "caf\xc3\xa9"}) {
    spec.name = bad;
    Status s = this->store_->CreateBank(spec, nullptr);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(s.message().find("A-Z a-z 0-9 _ . -"), std::string::npos) << s.message();
  }
  spec.name = std::string(64, 'a');
  SG_EXPECT_OK(this->store_->CreateBank(spec, nullptr));

  spec.name = "dup";
  SG_ASSERT_OK(this->store_->CreateBank(spec, nullptr));
  Status s = this->store_->CreateBank(spec, nullptr);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("already exists"), std::string::npos) << s.message();

  spec.name = "distance";
  for (int bad : {-1, 64, 256}) {
    spec.pdq_distance = bad;
    s = this->store_->CreateBank(spec, nullptr);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
    EXPECT_NE(s.message().find("0 to 63"), std::string::npos) << s.message();
  }
  spec.pdq_distance = 0;
  spec.source = "";
  s = this->store_->CreateBank(spec, nullptr);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("source"), std::string::npos) << s.message();
  spec.source = "ncmec";
  SG_EXPECT_OK(this->store_->CreateBank(spec, nullptr));

  std::vector<Bank> banks;
  SG_ASSERT_OK(this->store_->ListBanks(&banks));
  EXPECT_EQ(banks.size(), 3u);  // nothing invalid was stored
}

TYPED_TEST(BankStoreTest, UpdateBankChangesDistanceAndEnabled) {
  this->MakeBank("b");
  this->now_ += 5000;
  Bank bank;
  BankUpdate update;
  update.pdq_distance = 10;
  SG_ASSERT_OK(this->store_->UpdateBank("b", update, &bank));
  EXPECT_EQ(bank.pdq_distance, 10);
  EXPECT_TRUE(bank.enabled);
  EXPECT_EQ(bank.updated_at_ms, kStartTime + 5000);
  EXPECT_EQ(bank.created_at_ms, kStartTime);

  update = BankUpdate();
  update.enabled = false;
  SG_ASSERT_OK(this->store_->UpdateBank("b", update, &bank));
  EXPECT_EQ(bank.pdq_distance, 10);
  EXPECT_FALSE(bank.enabled);

  update.pdq_distance = 99;
  Status s = this->store_->UpdateBank("b", update, &bank);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  SG_ASSERT_OK(this->store_->GetBank("b", &bank));
  EXPECT_EQ(bank.pdq_distance, 10);

  update = BankUpdate();
  EXPECT_EQ(this->store_->UpdateBank("nope", update, nullptr).code(), StatusCode::kNotFound);
}

TYPED_TEST(BankStoreTest, ImportAddsAndCountsDuplicates) {
  this->MakeBank("a");
  this->MakeBank("b");
  std::vector<NewSignal> batch;
  for (int i = 0; i < 100; ++i) batch.push_back(MakeSignal(i, SignalType::kPdq, "ext-" + std::to_string(i)));
  for (int i = 0; i < 10; ++i) batch.push_back(MakeSignal(i));  // repeats within the batch
  batch[3].metadata_json = R"({"quality": 100, "source": "synthetic"})";
  batch[3].source_list = "list-x";
  batch[3].source_version = "2026-01-01";

  ApplyResult r = this->MustImport("a", batch);
  EXPECT_EQ(r.added, 100u);
  EXPECT_EQ(r.duplicates, 10u);
  EXPECT_EQ(r.withdrawn, 0u);

  // Overlapping re-import: 50 already live, 50 new.
  std::vector<NewSignal> again;
  for (int i = 50; i < 150; ++i) again.push_back(MakeSignal(i));
  r = this->MustImport("a", again);
  EXPECT_EQ(r.added, 50u);
  EXPECT_EQ(r.duplicates, 50u);

  // The same bytes under another type, or in another bank, are not duplicates.
  std::vector<NewSignal> other = {MakeSignal(1, SignalType::kSha256), MakeSignal(2, SignalType::kMd5)};
  r = this->MustImport("a", other);
  EXPECT_EQ(r.added, 2u);
  r = this->MustImport("b", batch);
  EXPECT_EQ(r.added, 100u);
  EXPECT_EQ(r.duplicates, 10u);

  uint64_t count = 0;
  SG_ASSERT_OK(this->store_->CountSignals("a", true, &count));
  EXPECT_EQ(count, 152u);
  SG_ASSERT_OK(this->store_->CountSignals("b", false, &count));
  EXPECT_EQ(count, 100u);
  EXPECT_EQ(this->store_->CountSignals("zz", true, &count).code(), StatusCode::kNotFound);

  // The first of two equal values in a batch wins.
  std::map<uint64_t, std::string> live = this->LiveSet();
  EXPECT_EQ(live.size(), 252u);
  std::vector<uint64_t> ids;
  for (auto& [id, d] : live) ids.push_back(id);
  std::vector<Signal> sigs;
  SG_ASSERT_OK(this->store_->GetSignals(ids, &sigs));
  ASSERT_EQ(sigs.size(), ids.size());
  std::map<std::string, Signal> in_a;
  for (const Signal& s : sigs) {
    if (s.bank_name == "a" && s.type == SignalType::kPdq) in_a[SignalValueHex(s.value)] = s;
  }
  ASSERT_EQ(in_a.size(), 150u);
  const Signal& third = in_a.at(SignalValueHex(batch[3].value));
  EXPECT_EQ(third.external_id, "ext-3");
  EXPECT_EQ(third.metadata_json, batch[3].metadata_json);
  EXPECT_EQ(third.source_list, "list-x");
  EXPECT_EQ(third.source_version, "2026-01-01");
  EXPECT_EQ(third.added_at_ms, kStartTime);
  EXPECT_TRUE(third.live());
  // Every id of a later batch is larger than every id of an earlier one
  // (within a batch the store picks the order).
  uint64_t max_first = 0, min_second = UINT64_MAX;
  for (int i = 0; i < 150; ++i) {
    const uint64_t id = in_a.at(SignalValueHex(MakeSignal(i).value)).id;
    if (i < 100) max_first = std::max(max_first, id);
    if (i >= 100) min_second = std::min(min_second, id);
  }
  EXPECT_LT(max_first, min_second);
}

TYPED_TEST(BankStoreTest, InvalidSignalRejectsTheWholeBatch) {
  this->MakeBank("a");
  std::vector<NewSignal> batch;
  for (int i = 0; i < 100; ++i) batch.push_back(MakeSignal(i));
  batch[56].value.pop_back();
  ApplyResult r;
  Status s = this->store_->Import("a", batch, &r);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("signal 57 of 100"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("31 bytes; expected 32"), std::string::npos) << s.message();

  batch[56] = MakeSignal(56);
  batch[10].metadata_json = "{not json";
  s = this->store_->Import("a", batch, &r);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("not valid JSON"), std::string::npos) << s.message();

  batch[10].metadata_json = "";
  batch[20].external_id = std::string("bad\xff", 4);
  s = this->store_->Import("a", batch, &r);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("UTF-8"), std::string::npos) << s.message();

  batch[20].external_id = "";
  batch[30].metadata_json = "\"" + std::string(kMaxMetadataBytes, 'x') + "\"";
  s = this->store_->Import("a", batch, &r);
  EXPECT_EQ(s.code(), StatusCode::kTooLarge) << s.ToString();

  uint64_t count = 1;
  SG_ASSERT_OK(this->store_->CountSignals("a", false, &count));
  EXPECT_EQ(count, 0u);
  EXPECT_EQ(r.added, 0u);
  EXPECT_EQ(this->store_->Import("no-such-bank", std::vector<NewSignal>{MakeSignal(1)}, &r).code(),
            StatusCode::kNotFound);
}

TYPED_TEST(BankStoreTest, WithdrawByExternalIdSignalIdAndValue) {
  this->MakeBank("a");
  this->MakeBank("b");
  std::vector<NewSignal> batch;
  for (int i = 0; i < 20; ++i) batch.push_back(MakeSignal(i, SignalType::kPdq, "e" + std::to_string(i % 10)));
  this->MustImport("a", batch);
  this->MustImport("b", batch);
  std::map<uint64_t, std::string> live = this->LiveSet();
  ASSERT_EQ(live.size(), 40u);
  std::vector<Signal> sigs;
  std::vector<uint64_t> all_ids;
  for (auto& [id, d] : live) all_ids.push_back(id);
  SG_ASSERT_OK(this->store_->GetSignals(all_ids, &sigs));
  uint64_t a_id_of_5 = 0, b_id_of_6 = 0;
  for (const Signal& s : sigs) {
    if (s.bank_name == "a" && s.value == batch[5].value) a_id_of_5 = s.id;
    if (s.bank_name == "b" && s.value == batch[6].value) b_id_of_6 = s.id;
  }
  ASSERT_NE(a_id_of_5, 0u);

  this->now_ += 1000;
  WithdrawSpec spec;
  spec.external_ids = {"e1", "e2", "unknown"};       // e1, e2: signals 1, 11, 2, 12
  spec.signal_ids = {a_id_of_5, b_id_of_6, 999999};  // b's signal is not in bank a
  spec.values = {{SignalType::kPdq, batch[7].value}, {SignalType::kSha256, batch[8].value}};  // sha256: none
  uint64_t withdrawn = 0;
  SG_ASSERT_OK(this->store_->Withdraw("a", spec, &withdrawn));
  EXPECT_EQ(withdrawn, 6u);
  // Withdrawing again changes nothing.
  SG_ASSERT_OK(this->store_->Withdraw("a", spec, &withdrawn));
  EXPECT_EQ(withdrawn, 0u);

  Bank a, b;
  SG_ASSERT_OK(this->store_->GetBank("a", &a));
  SG_ASSERT_OK(this->store_->GetBank("b", &b));
  EXPECT_EQ(a.live_signals, 14u);
  EXPECT_EQ(a.total_signals, 20u);
  EXPECT_EQ(b.live_signals, 20u);
  EXPECT_EQ(this->LiveSet().size(), 34u);

  // The row stays, marked withdrawn.
  SG_ASSERT_OK(this->store_->GetSignals(std::vector<uint64_t>{a_id_of_5}, &sigs));
  ASSERT_EQ(sigs.size(), 1u);
  EXPECT_FALSE(sigs[0].live());
  EXPECT_EQ(sigs[0].withdrawn_at_ms, kStartTime + 1000);
  EXPECT_EQ(sigs[0].added_at_ms, kStartTime);

  // Re-adding a withdrawn value makes a new, larger id.
  ApplyResult r = this->MustImport("a", std::vector<NewSignal>{batch[5]});
  EXPECT_EQ(r.added, 1u);
  uint64_t cursor = 0;
  std::map<uint64_t, std::string> now_live = this->LiveSet(&cursor);
  EXPECT_EQ(now_live.size(), 35u);
  EXPECT_EQ(now_live.count(a_id_of_5), 0u);
  EXPECT_EQ(now_live.rbegin()->first, cursor);  // the newest signal is the last change
  EXPECT_GT(now_live.rbegin()->first, a_id_of_5);

  spec = WithdrawSpec();
  spec.external_ids = {""};
  EXPECT_EQ(this->store_->Withdraw("a", spec, &withdrawn).code(), StatusCode::kInvalidArgument);
  spec.external_ids.clear();
  spec.values = {{SignalType::kMd5, batch[7].value}};  // 32 bytes is not an MD5
  EXPECT_EQ(this->store_->Withdraw("a", spec, &withdrawn).code(), StatusCode::kInvalidArgument);
}

TYPED_TEST(BankStoreTest, BatchWithdrawsBeforeAddingAndSetsCheckpoint) {
  this->MakeBank("a");
  this->MustImport("a", std::vector<NewSignal>{MakeSignal(1, SignalType::kPdq, "x")});
  // Replace entry "x": withdraw its old value and add the new one, recording
  // the sync position, in one transaction.
  std::vector<NewSignal> add = {MakeSignal(2, SignalType::kPdq, "x"), MakeSignal(1, SignalType::kPdq, "x")};
  SignalBatch batch;
  batch.withdraw.external_ids = {"x"};
  batch.add = add;
  batch.checkpoint_key = "cursor";
  batch.checkpoint_value = "page-7";
  ApplyResult r;
  SG_ASSERT_OK(this->store_->Apply("a", batch, &r));
  EXPECT_EQ(r.withdrawn, 1u);
  EXPECT_EQ(r.added, 2u);  // value 1 was withdrawn first, so it is new again
  std::string value;
  SG_ASSERT_OK(this->store_->GetCheckpoint("a", "cursor", &value));
  EXPECT_EQ(value, "page-7");

  // A batch that fails validation sets no checkpoint either.
  batch.withdraw = WithdrawSpec();
  add[1].value.clear();
  batch.checkpoint_value = "page-8";
  EXPECT_EQ(this->store_->Apply("a", batch, &r).code(), StatusCode::kInvalidArgument);
  SG_ASSERT_OK(this->store_->GetCheckpoint("a", "cursor", &value));
  EXPECT_EQ(value, "page-7");
}

TYPED_TEST(BankStoreTest, CheckpointsPersistAcrossReopen) {
  this->MakeBank("ncmec");
  this->MakeBank("other");
  std::string value;
  Status s = this->store_->GetCheckpoint("ncmec", "since", &value);
  EXPECT_EQ(s.code(), StatusCode::kNotFound) << s.ToString();
  SG_ASSERT_OK(this->store_->SetCheckpoint("ncmec", "since", "2026-01-01T00:00:00Z"));
  SG_ASSERT_OK(this->store_->SetCheckpoint("ncmec", "since", "2026-02-01T00:00:00Z"));
  SG_ASSERT_OK(this->store_->SetCheckpoint("ncmec", "token", "{\"next\": \"abc\"}"));
  SG_ASSERT_OK(this->store_->SetCheckpoint("other", "since", "x"));
  EXPECT_EQ(this->store_->SetCheckpoint("ncmec", "", "v").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(
      this->store_->SetCheckpoint("ncmec", "big", std::string(kMaxCheckpointValueBytes + 1, 'v')).code(),
      StatusCode::kTooLarge);
  EXPECT_EQ(this->store_->SetCheckpoint("missing", "since", "x").code(), StatusCode::kNotFound);

  SG_ASSERT_OK(this->Reopen());
  SG_ASSERT_OK(this->store_->GetCheckpoint("ncmec", "since", &value));
  EXPECT_EQ(value, "2026-02-01T00:00:00Z");
  SG_ASSERT_OK(this->store_->GetCheckpoint("ncmec", "token", &value));
  EXPECT_EQ(value, "{\"next\": \"abc\"}");
  SG_ASSERT_OK(this->store_->GetCheckpoint("other", "since", &value));
  EXPECT_EQ(value, "x");
  EXPECT_EQ(this->store_->GetCheckpoint("ncmec", "big", &value).code(), StatusCode::kNotFound);
}

TYPED_TEST(BankStoreTest, DataSurvivesReopen) {
  this->MakeBank("a");
  std::vector<NewSignal> batch;
  for (int i = 0; i < 1000; ++i) batch.push_back(MakeSignal(i));
  this->MustImport("a", batch);
  uint64_t cursor_before = 0;
  auto before = this->LiveSet(&cursor_before);
  SG_ASSERT_OK(this->Reopen());
  uint64_t cursor_after = 0;
  EXPECT_EQ(this->LiveSet(&cursor_after), before);
  EXPECT_EQ(cursor_after, cursor_before);
  // Ids continue after a reopen; none is reused.
  ApplyResult r = this->MustImport("a", std::vector<NewSignal>{MakeSignal(5000)});
  EXPECT_EQ(r.added, 1u);
  auto after = this->LiveSet();
  EXPECT_GT(after.rbegin()->first, before.rbegin()->first);
}

TYPED_TEST(BankStoreTest, ChangeLogListsEveryChangeInOrderAndResumes) {
  Bank a = this->MakeBank("a");  // kBank
  std::vector<NewSignal> batch = {MakeSignal(1, SignalType::kPdq, "one"), MakeSignal(2), MakeSignal(3)};
  this->MustImport("a", batch);  // 3 x kAdd
  WithdrawSpec spec;
  spec.external_ids = {"one"};
  SG_ASSERT_OK(this->store_->Withdraw("a", spec, nullptr));  // kWithdraw
  BankUpdate update;
  update.enabled = false;
  SG_ASSERT_OK(this->store_->UpdateBank("a", update, nullptr));                    // kBank
  this->MustImport("a", std::vector<NewSignal>{MakeSignal(4, SignalType::kMd5)});  // kAdd

  std::vector<Change> changes;
  uint64_t next = 0;
  SG_ASSERT_OK(this->store_->ChangesSince(0, 100, &changes, &next));
  using K = Change::Kind;
  std::vector<K> kinds;
  for (const Change& c : changes) kinds.push_back(c.kind);
  EXPECT_EQ(kinds, (std::vector<K>{K::kBank, K::kAdd, K::kAdd, K::kAdd, K::kWithdraw, K::kBank, K::kAdd}));
  ASSERT_EQ(changes.size(), 7u);
  for (size_t i = 1; i < changes.size(); ++i) EXPECT_GT(changes[i].seq, changes[i - 1].seq);
  EXPECT_EQ(next, changes.back().seq);
  for (const Change& c : changes) EXPECT_EQ(c.bank_id, a.id);
  EXPECT_EQ(changes[0].signal_id, 0u);
  // The store picks the order inside one write, so find the add of "one".
  const Change* add_one = nullptr;
  for (size_t i = 1; i <= 3; ++i) {
    if (changes[i].value == batch[0].value) add_one = &changes[i];
  }
  ASSERT_NE(add_one, nullptr);
  EXPECT_EQ(add_one->signal_id, add_one->seq);
  EXPECT_EQ(changes[4].signal_id, add_one->signal_id);  // the withdrawal names the signal "one"
  EXPECT_EQ(changes[4].value, batch[0].value);
  EXPECT_EQ(changes[6].type, SignalType::kMd5);

  // Paging by 2 from 0 gives the same sequence; resuming from a cursor gives
  // exactly what follows it.
  std::vector<Change> paged, page;
  uint64_t cursor = 0;
  do {
    SG_ASSERT_OK(this->store_->ChangesSince(cursor, 2, &page, &next));
    EXPECT_LE(page.size(), 2u);
    paged.insert(paged.end(), page.begin(), page.end());
    cursor = next;
  } while (!page.empty());
  ASSERT_EQ(paged.size(), changes.size());
  for (size_t i = 0; i < paged.size(); ++i) EXPECT_EQ(paged[i].seq, changes[i].seq);

  SG_ASSERT_OK(this->store_->ChangesSince(changes[3].seq, 100, &page, &next));
  ASSERT_EQ(page.size(), 3u);
  EXPECT_EQ(page[0].seq, changes[4].seq);
  SG_ASSERT_OK(this->store_->ChangesSince(changes.back().seq, 100, &page, &next));
  EXPECT_TRUE(page.empty());
  EXPECT_EQ(next, changes.back().seq);
  SG_ASSERT_OK(this->store_->ChangesSince(0, 0, &page, &next));
  EXPECT_TRUE(page.empty());
  EXPECT_EQ(next, 0u);

  // The cursor survives a reopen.
  SG_ASSERT_OK(this->Reopen());
  SG_ASSERT_OK(this->store_->ChangesSince(changes[5].seq, 100, &page, &next));
  ASSERT_EQ(page.size(), 1u);
  EXPECT_EQ(page[0].seq, changes[6].seq);
}

TYPED_TEST(BankStoreTest, FollowingTheLogEqualsAFullScan) {
  // Random adds, duplicates, withdrawals and bank deletions; a follower that
  // started from a snapshot and replays the log (twice, to check replays are
  // harmless) must end with exactly the live set a full scan returns.
  this->MakeBank("a");
  this->MakeBank("b");
  std::mt19937_64 rng(42);
  uint64_t snap_cursor = 0;
  std::map<uint64_t, std::string> follower;
  for (int round = 0; round < 30; ++round) {
    if (round == 10) follower = this->LiveSet(&snap_cursor);
    const std::string bank = rng() % 2 ? "a" : "b";
    std::vector<NewSignal> add;
    for (int i = 0; i < 20; ++i)
      add.push_back(MakeSignal(rng() % 200, SignalType::kPdq, "e" + std::to_string(rng() % 50)));
    SignalBatch batch;
    batch.add = add;
    for (int i = 0; i < 5; ++i) batch.withdraw.external_ids.push_back("e" + std::to_string(rng() % 50));
    SG_ASSERT_OK(this->store_->Apply(bank, batch, nullptr));
    if (round == 20) {
      uint64_t withdrawn = 0;
      SG_ASSERT_OK(this->store_->DeleteBank("b", &withdrawn));
      this->MakeBank("b");
    }
  }
  uint64_t cursor = snap_cursor;
  this->Follow(&cursor, &follower, 7);
  uint64_t scan_cursor = 0;
  EXPECT_EQ(follower, this->LiveSet(&scan_cursor));
  EXPECT_EQ(cursor, scan_cursor);
  uint64_t replay = snap_cursor;
  this->Follow(&replay, &follower, 1000);
  EXPECT_EQ(follower, this->LiveSet());

  std::map<uint64_t, std::string> from_zero;
  uint64_t zero = 0;
  this->Follow(&zero, &from_zero);
  EXPECT_EQ(from_zero, follower);
}

TYPED_TEST(BankStoreTest, DeleteBankWithdrawsEverythingAndFreesTheName) {
  Bank old = this->MakeBank("gone");
  this->MakeBank("kept");
  std::vector<NewSignal> batch;
  for (int i = 0; i < 50; ++i) batch.push_back(MakeSignal(i));
  this->MustImport("gone", batch);
  this->MustImport("kept", batch);
  SG_ASSERT_OK(this->store_->SetCheckpoint("gone", "k", "v"));
  uint64_t cursor = 0;
  std::map<uint64_t, std::string> follower = this->LiveSet(&cursor);
  EXPECT_EQ(follower.size(), 100u);

  uint64_t withdrawn = 0;
  SG_ASSERT_OK(this->store_->DeleteBank("gone", &withdrawn));
  EXPECT_EQ(withdrawn, 50u);
  Bank bank;
  EXPECT_EQ(this->store_->GetBank("gone", &bank).code(), StatusCode::kNotFound);
  EXPECT_EQ(this->store_->DeleteBank("gone", &withdrawn).code(), StatusCode::kNotFound);
  std::vector<Bank> banks;
  SG_ASSERT_OK(this->store_->ListBanks(&banks));
  ASSERT_EQ(banks.size(), 1u);
  EXPECT_EQ(banks[0].name, "kept");

  std::vector<Change> changes = this->Follow(&cursor, &follower);
  ASSERT_EQ(changes.size(), 51u);
  EXPECT_EQ(changes.back().kind, Change::Kind::kBank);
  EXPECT_EQ(changes.back().bank_id, old.id);
  EXPECT_EQ(follower.size(), 50u);
  EXPECT_EQ(follower, this->LiveSet());

  // The record stays: the withdrawn signals still resolve to the old bank.
  std::vector<Signal> sigs;
  SG_ASSERT_OK(this->store_->GetSignals(std::vector<uint64_t>{changes[0].signal_id}, &sigs));
  ASSERT_EQ(sigs.size(), 1u);
  EXPECT_EQ(sigs[0].bank_name, "gone");
  EXPECT_FALSE(sigs[0].live());

  // The name can be used again, for a new bank with new signals.
  Bank again = this->MakeBank("gone");
  EXPECT_NE(again.id, old.id);
  EXPECT_EQ(again.live_signals, 0u);
  ApplyResult r = this->MustImport("gone", batch);
  EXPECT_EQ(r.added, 50u);
  std::string value;
  EXPECT_EQ(this->store_->GetCheckpoint("gone", "k", &value).code(), StatusCode::kNotFound);
}

TYPED_TEST(BankStoreTest, GetSignalsKeepsRequestOrderAndSkipsUnknownIds) {
  this->MakeBank("a");
  std::vector<NewSignal> batch;
  for (int i = 0; i < 5; ++i) batch.push_back(MakeSignal(i, SignalType::kPdq, "x" + std::to_string(i)));
  this->MustImport("a", batch);
  auto live = this->LiveSet();
  std::vector<uint64_t> ids;
  for (auto it = live.rbegin(); it != live.rend(); ++it) ids.push_back(it->first);
  ids.insert(ids.begin() + 2, 123456789);
  std::vector<Signal> sigs = {Signal()};
  SG_ASSERT_OK(this->store_->GetSignals(ids, &sigs));
  ASSERT_EQ(sigs.size(), 5u);
  ids.erase(ids.begin() + 2);  // the unknown id is skipped
  std::set<std::string> external_ids;
  for (size_t i = 0; i < sigs.size(); ++i) {
    EXPECT_EQ(sigs[i].id, ids[i]);  // request order, whatever order the store inserted in
    EXPECT_EQ(sigs[i].bank_name, "a");
    external_ids.insert(sigs[i].external_id);
  }
  EXPECT_EQ(external_ids, (std::set<std::string>{"x0", "x1", "x2", "x3", "x4"}));
  SG_ASSERT_OK(this->store_->GetSignals({}, &sigs));
  EXPECT_TRUE(sigs.empty());
}

TYPED_TEST(BankStoreTest, ProgressIsReportedBeforeCommit) {
  this->MakeBank("a");
  std::vector<NewSignal> batch;
  for (int i = 0; i < 70000; ++i) batch.push_back(MakeSignal(i));
  std::vector<size_t> seen;
  SignalBatch b;
  b.add = batch;
  b.progress = [&](size_t done, size_t total) {
    EXPECT_EQ(total, batch.size());
    seen.push_back(done);
  };
  ApplyResult r;
  SG_ASSERT_OK(this->store_->Apply("a", b, &r));
  EXPECT_EQ(r.added, 70000u);
  ASSERT_FALSE(seen.empty());
  EXPECT_EQ(seen.front(), 65536u);
  EXPECT_EQ(seen.back(), 70000u);
}

TYPED_TEST(BankStoreTest, NewerSchemaIsRefusedWithAClearMessage) {
  this->MakeBank("a");
  this->store_.reset();
  SG_ASSERT_OK(this->backend_.ForceSchemaVersion(99));
  Status s = this->Reopen();
  EXPECT_EQ(s.code(), StatusCode::kUnsupportedFormat) << s.ToString();
  EXPECT_NE(s.message().find("schema version 99"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("upgrade Safeguard"), std::string::npos) << s.message();
  EXPECT_EQ(this->store_, nullptr);
}

// Several threads write to the store at once (each to its own bank) while a
// follower tails the change log. Sequence numbers must be unique and the
// follower must end with exactly the live set: no change may be skipped,
// which is what a plain bigserial cursor would get wrong in PostgreSQL.
TYPED_TEST(BankStoreTest, ConcurrentWritersNeverMakeTheFollowerSkip) {
  constexpr int kWriters = 4;
  constexpr int kRounds = 15;
  for (int w = 0; w < kWriters; ++w) this->MakeBank("w" + std::to_string(w));
  uint64_t cursor = 0;
  std::map<uint64_t, std::string> follower = this->LiveSet(&cursor);
  std::atomic<int> done{0};
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([this, w, &done] {
      std::mt19937_64 rng(w);
      for (int round = 0; round < kRounds; ++round) {
        std::vector<NewSignal> add;
        for (int i = 0; i < 50; ++i) {
          add.push_back(
              MakeSignal(w * 100000 + rng() % 400, SignalType::kPdq, "e" + std::to_string(rng() % 40)));
        }
        SignalBatch batch;
        batch.add = add;
        batch.withdraw.external_ids = {"e" + std::to_string(rng() % 40)};
        Status s = this->store_->Apply("w" + std::to_string(w), batch, nullptr);
        EXPECT_TRUE(s.ok()) << s.ToString();
      }
      ++done;
    });
  }
  std::set<uint64_t> seqs;
  while (done.load() < kWriters) {
    for (const Change& c : this->Follow(&cursor, &follower, 37)) EXPECT_TRUE(seqs.insert(c.seq).second);
  }
  for (std::thread& t : writers) t.join();
  for (const Change& c : this->Follow(&cursor, &follower, 37)) EXPECT_TRUE(seqs.insert(c.seq).second);
  uint64_t scan_cursor = 0;
  EXPECT_EQ(follower, this->LiveSet(&scan_cursor));
  // Sequence numbers may have gaps (PostgreSQL spends one on a duplicate), so
  // the follower's cursor may stop short of the scan's; nothing lies between.
  EXPECT_LE(cursor, scan_cursor);
  std::vector<Change> rest;
  uint64_t next = 0;
  SG_ASSERT_OK(this->store_->ChangesSince(cursor, 100, &rest, &next));
  EXPECT_TRUE(rest.empty());
}

// ---- video signals: content beside a digest value ----------------------------------

// The content of every live signal (empty for types without), by id, from a
// full scan.
std::map<uint64_t, std::vector<uint8_t>> LiveContents(Store* store) {
  std::map<uint64_t, std::vector<uint8_t>> out;
  uint64_t cursor = 0;
  Status s = store->ForEachLiveSignal(
      [&](const LiveSignal& sig) {
        out[sig.id].assign(sig.content.begin(), sig.content.end());
        return Status::Ok();
      },
      &cursor);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return out;
}

// A .tmk file is 263,344 bytes; a vPDQ frame list is up to about 1 MiB.
constexpr size_t kTmkBytes = 263344;
constexpr size_t kVpdqBytes = 700000;

TYPED_TEST(BankStoreTest, VideoSignalsRoundTripWithTheirContent) {
  this->MakeBank("video");
  const NewSignal vpdq = testing::MakeVideoSignal(1, SignalType::kVpdq, kVpdqBytes, "v-1");
  const NewSignal tmk = testing::MakeVideoSignal(2, SignalType::kTmk, kTmkBytes, "t-2");
  const NewSignal pdq = MakeSignal(3, SignalType::kPdq, "p-3");
  ASSERT_EQ(vpdq.value.size(), 32u);
  ApplyResult r = this->MustImport("video", std::vector<NewSignal>{vpdq, tmk, pdq});
  EXPECT_EQ(r.added, 3u);

  // The full scan: content for the video types, none for PDQ.
  std::map<uint64_t, std::string> live;
  uint64_t cursor = 0;
  std::map<std::string, uint64_t> id_of;  // by type name
  SG_ASSERT_OK(this->store_->ForEachLiveSignal(
      [&](const LiveSignal& sig) {
        const std::string type(SignalTypeName(sig.type));
        id_of[type] = sig.id;
        const NewSignal& want = sig.type == SignalType::kVpdq  ? vpdq
                                : sig.type == SignalType::kTmk ? tmk
                                                               : pdq;
        EXPECT_EQ(std::vector<uint8_t>(sig.value.begin(), sig.value.end()), want.value) << type;
        EXPECT_EQ(std::vector<uint8_t>(sig.content.begin(), sig.content.end()), want.content) << type;
        return Status::Ok();
      },
      &cursor));
  ASSERT_EQ(id_of.size(), 3u);

  // The change log: adds carry the content too.
  std::vector<Change> changes;
  uint64_t next = 0;
  SG_ASSERT_OK(this->store_->ChangesSince(0, 100, &changes, &next));
  ASSERT_EQ(changes.size(), 4u);  // the bank, then three adds
  EXPECT_EQ(changes[0].kind, Change::Kind::kBank);
  EXPECT_TRUE(changes[0].content.empty());
  for (size_t i = 1; i < changes.size(); ++i) {
    const Change& c = changes[i];
    EXPECT_EQ(c.kind, Change::Kind::kAdd);
    const NewSignal& want = c.type == SignalType::kVpdq ? vpdq : c.type == SignalType::kTmk ? tmk : pdq;
    EXPECT_EQ(c.value, want.value);
    EXPECT_EQ(c.content, want.content) << SignalTypeName(c.type);
  }
  // Paging one change at a time gives the same contents.
  std::map<uint64_t, std::string> followed;
  uint64_t from = 0;
  size_t tmk_adds = 0;
  for (const Change& c : this->Follow(&from, &followed, 1)) {
    if (c.kind == Change::Kind::kAdd && c.type == SignalType::kTmk) {
      ++tmk_adds;
      EXPECT_EQ(c.content, tmk.content);
    }
  }
  EXPECT_EQ(tmk_adds, 1u);

  // One signal, with its content; a listing, with only its size.
  Signal got;
  SG_ASSERT_OK(this->store_->GetSignal(id_of["tmk"], &got));
  EXPECT_EQ(got.type, SignalType::kTmk);
  EXPECT_EQ(got.bank_name, "video");
  EXPECT_EQ(got.external_id, "t-2");
  EXPECT_EQ(got.value, tmk.value);
  EXPECT_EQ(got.content, tmk.content);
  EXPECT_EQ(got.content_bytes, kTmkBytes);
  SG_ASSERT_OK(this->store_->GetSignal(id_of["pdq"], &got));
  EXPECT_TRUE(got.content.empty());
  EXPECT_EQ(got.content_bytes, 0u);
  EXPECT_EQ(got.external_id, "p-3");
  Status s = this->store_->GetSignal(987654321, &got);
  EXPECT_EQ(s.code(), StatusCode::kNotFound) << s.ToString();

  std::vector<Signal> listed;
  SG_ASSERT_OK(
      this->store_->GetSignals(std::vector<uint64_t>{id_of["vpdq"], id_of["pdq"], id_of["tmk"]}, &listed));
  ASSERT_EQ(listed.size(), 3u);
  EXPECT_EQ(listed[0].content_bytes, kVpdqBytes);
  EXPECT_EQ(listed[1].content_bytes, 0u);
  EXPECT_EQ(listed[2].content_bytes, kTmkBytes);
  for (const Signal& sig : listed) EXPECT_TRUE(sig.content.empty()) << SignalTypeName(sig.type);
  EXPECT_EQ(listed[0].external_id, "v-1");

  // And all of it after a reopen.
  SG_ASSERT_OK(this->Reopen());
  SG_ASSERT_OK(this->store_->GetSignal(id_of["vpdq"], &got));
  EXPECT_EQ(got.content, vpdq.content);
  EXPECT_EQ(LiveContents(this->store_.get()).at(id_of["tmk"]), tmk.content);
}

TYPED_TEST(BankStoreTest, SameVideoContentTwiceIsADuplicate) {
  this->MakeBank("a");
  this->MakeBank("b");
  const NewSignal one = testing::MakeVideoSignal(10, SignalType::kTmk, kTmkBytes, "first");
  const NewSignal again = testing::MakeVideoSignal(10, SignalType::kTmk, kTmkBytes, "second");
  ApplyResult r = this->MustImport("a", std::vector<NewSignal>{one});
  EXPECT_EQ(r.added, 1u);
  r = this->MustImport("a", std::vector<NewSignal>{again});
  EXPECT_EQ(r.added, 0u);
  EXPECT_EQ(r.duplicates, 1u);
  // Twice in one batch: the first wins.
  const NewSignal other = testing::MakeVideoSignal(11, SignalType::kVpdq, 5000, "x");
  r = this->MustImport("a", std::vector<NewSignal>{other, other});
  EXPECT_EQ(r.added, 1u);
  EXPECT_EQ(r.duplicates, 1u);
  // The same bytes as another type, or in another bank, are not duplicates.
  NewSignal as_vpdq;
  SG_ASSERT_OK(MakeContentSignal(SignalType::kVpdq, one.content, &as_vpdq));
  EXPECT_EQ(as_vpdq.value, one.value);
  r = this->MustImport("a", std::vector<NewSignal>{as_vpdq});
  EXPECT_EQ(r.added, 1u);
  r = this->MustImport("b", std::vector<NewSignal>{one});
  EXPECT_EQ(r.added, 1u);
  Bank a;
  SG_ASSERT_OK(this->store_->GetBank("a", &a));
  EXPECT_EQ(a.live_signals, 3u);
}

TYPED_TEST(BankStoreTest, WithdrawVideoSignalByItsDigest) {
  this->MakeBank("a");
  const NewSignal tmk = testing::MakeVideoSignal(20, SignalType::kTmk, kTmkBytes);
  const NewSignal vpdq = testing::MakeVideoSignal(21, SignalType::kVpdq, 1000);
  this->MustImport("a", std::vector<NewSignal>{tmk, vpdq});
  uint64_t cursor = 0;
  std::map<uint64_t, std::string> follower = this->LiveSet(&cursor);
  ASSERT_EQ(follower.size(), 2u);

  WithdrawSpec spec;
  spec.values = {{SignalType::kTmk, tmk.value}, {SignalType::kVpdq, tmk.value}};  // the latter: none
  uint64_t withdrawn = 0;
  SG_ASSERT_OK(this->store_->Withdraw("a", spec, &withdrawn));
  EXPECT_EQ(withdrawn, 1u);
  std::vector<Change> changes = this->Follow(&cursor, &follower);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].kind, Change::Kind::kWithdraw);
  EXPECT_EQ(changes[0].type, SignalType::kTmk);
  EXPECT_EQ(changes[0].value, tmk.value);
  EXPECT_TRUE(changes[0].content.empty());  // a withdrawal needs only the id
  EXPECT_EQ(follower, this->LiveSet());
  EXPECT_EQ(follower.size(), 1u);

  // The withdrawn row keeps its content for the record; re-adding makes a
  // new signal.
  Signal got;
  SG_ASSERT_OK(this->store_->GetSignal(changes[0].signal_id, &got));
  EXPECT_FALSE(got.live());
  EXPECT_EQ(got.content, tmk.content);
  ApplyResult r = this->MustImport("a", std::vector<NewSignal>{tmk});
  EXPECT_EQ(r.added, 1u);
  auto contents = LiveContents(this->store_.get());
  ASSERT_EQ(contents.size(), 2u);
  EXPECT_EQ(contents.rbegin()->second, tmk.content);
  EXPECT_GT(contents.rbegin()->first, changes[0].signal_id);
}

TYPED_TEST(BankStoreTest, InvalidVideoSignalsAreRefusedWithClearMessages) {
  this->MakeBank("a");
  std::vector<NewSignal> batch = {MakeSignal(1), testing::MakeVideoSignal(30, SignalType::kTmk, kTmkBytes),
                                  MakeSignal(2)};
  auto refused = [&](const std::string& what) {
    ApplyResult r;
    Status s = this->store_->Import("a", batch, &r);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
    EXPECT_NE(s.message().find("signal 2 of 3"), std::string::npos) << s.message();
    EXPECT_NE(s.message().find(what), std::string::npos) << s.message();
    EXPECT_EQ(r.added, 0u);
  };

  // The value is not the content's digest (here: another content's).
  batch[1].value = testing::MakeVideoSignal(31, SignalType::kTmk, 10).value;
  refused("tmk value " + SignalValueHex(batch[1].value) + " is not the SHA-256 of its content");
  // A digest with no content.
  batch[1] = testing::MakeVideoSignal(30, SignalType::kTmk, kTmkBytes);
  batch[1].content.clear();
  refused("tmk signal has no content");
  // Content over the limit (the digest is right, the size is not).
  std::vector<uint8_t> big = testing::MakeContent(32, kMaxSignalContentBytes + 1);
  NewSignal oversized;
  Status s = MakeContentSignal(SignalType::kVpdq, big, &oversized);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("vpdq content is 4194305 bytes; the limit is 4194304"), std::string::npos)
      << s.message();
  batch[1] = testing::MakeVideoSignal(32, SignalType::kVpdq, kMaxSignalContentBytes);
  batch[1].content.push_back(0);
  refused("vpdq content is 4194305 bytes; the limit is 4194304");
  // Content on a type that has none.
  batch[1] = MakeSignal(3);
  batch[1].content = {1, 2, 3};
  refused("pdq signal has 3 bytes of content; only vpdq and tmk signals carry content");
  // A wrong-sized value is still named as such.
  batch[1] = testing::MakeVideoSignal(33, SignalType::kVpdq, 100);
  batch[1].value.resize(16);
  refused("vpdq value is 16 bytes; expected 32");

  uint64_t count = 1;
  SG_ASSERT_OK(this->store_->CountSignals("a", false, &count));
  EXPECT_EQ(count, 0u);
  // The largest content allowed goes in.
  batch[1] = testing::MakeVideoSignal(32, SignalType::kVpdq, kMaxSignalContentBytes);
  ApplyResult r = this->MustImport("a", batch);
  EXPECT_EQ(r.added, 3u);
}

// More video signals than one group of contents (10,000 ids) and one slice of
// the scan (20,000 rows), mixed with PDQ rows: every content must come back
// with its own signal, from the scan and from the change log.
// A page of changes stops once its video content passes the budget (a page
// of 65,536 TMK additions would hold 17 GB); the rest comes on later pages
// and nothing is lost.
TYPED_TEST(BankStoreTest, ChangesSinceEndsAPageAtTheContentBudget) {
  this->MakeBank("a");
  const size_t kTmkBytes = 263344;
  const size_t n = kChangesContentBudget / kTmkBytes + 40;  // ~80 MB in all
  std::vector<NewSignal> batch;
  for (size_t i = 0; i < n; ++i) batch.push_back(testing::MakeVideoSignal(i, SignalType::kTmk, kTmkBytes));
  ApplyResult r = this->MustImport("a", batch);
  ASSERT_EQ(r.added, n);
  uint64_t cursor = 0;
  std::vector<Change> page;
  uint64_t next = 0;
  SG_ASSERT_OK(this->store_->ChangesSince(cursor, 65536, &page, &next));
  ASSERT_FALSE(page.empty());
  EXPECT_LT(page.size(), n);
  uint64_t bytes = 0;
  for (const Change& c : page) bytes += c.content.size();
  EXPECT_LE(bytes, kChangesContentBudget + kTmkBytes);
  // The bank's creation is a change too; the adds carry the content.
  std::set<uint64_t> ids;
  auto take = [&](const std::vector<Change>& changes) {
    for (const Change& c : changes) {
      if (c.kind != Change::Kind::kAdd) continue;
      EXPECT_EQ(c.content.size(), kTmkBytes);
      EXPECT_TRUE(ids.insert(c.signal_id).second);
    }
  };
  take(page);
  cursor = next;
  while (true) {
    SG_ASSERT_OK(this->store_->ChangesSince(cursor, 65536, &page, &next));
    if (page.empty()) break;
    take(page);
    cursor = next;
  }
  EXPECT_EQ(ids.size(), n);
}

TYPED_TEST(BankStoreTest, ManyVideoSignalsKeepTheirContent) {
  this->MakeBank("a");
  std::vector<NewSignal> batch;
  std::map<std::string, std::vector<uint8_t>> content_of;  // by value hex
  for (int i = 0; i < 25000; ++i) {
    if (i % 5 == 0) {
      batch.push_back(MakeSignal(i));
    } else {
      batch.push_back(testing::MakeVideoSignal(i, i % 2 ? SignalType::kVpdq : SignalType::kTmk, 16 + i % 64));
      content_of[SignalValueHex(batch.back().value)] = batch.back().content;
    }
  }
  ApplyResult r = this->MustImport("a", batch);
  ASSERT_EQ(r.added, 25000u);
  size_t videos = 0, pdqs = 0;
  uint64_t cursor = 0;
  std::set<uint64_t> seen;
  SG_ASSERT_OK(this->store_->ForEachLiveSignal(
      [&](const LiveSignal& sig) {
        EXPECT_TRUE(seen.insert(sig.id).second);
        if (sig.type == SignalType::kPdq) {
          ++pdqs;
          EXPECT_TRUE(sig.content.empty());
        } else {
          ++videos;
          EXPECT_EQ(std::vector<uint8_t>(sig.content.begin(), sig.content.end()),
                    content_of.at(SignalValueHex(sig.value)));
        }
        return Status::Ok();
      },
      &cursor));
  EXPECT_EQ(videos, 20000u);
  EXPECT_EQ(pdqs, 5000u);
  std::map<uint64_t, std::string> followed;
  uint64_t from = 0;
  size_t adds = 0;
  for (const Change& c : this->Follow(&from, &followed, 4096)) {
    if (c.kind != Change::Kind::kAdd) continue;
    ++adds;
    if (c.type == SignalType::kPdq) {
      EXPECT_TRUE(c.content.empty());
    } else {
      EXPECT_EQ(c.content, content_of.at(SignalValueHex(c.value)));
    }
  }
  EXPECT_EQ(adds, 25000u);
}

// A database written by schema version 1 (no content column) is upgraded in
// place at open and keeps every signal and change. Made here by taking a new
// database back to version 1: version 2 only added signals.content.
TYPED_TEST(BankStoreTest, SchemaVersion1UpgradesInPlace) {
  this->MakeBank("old");
  std::vector<NewSignal> batch;
  for (int i = 0; i < 100; ++i) batch.push_back(MakeSignal(i, SignalType::kPdq, "e" + std::to_string(i)));
  batch.push_back(MakeSignal(100, SignalType::kMd5));
  this->MustImport("old", batch);
  WithdrawSpec spec;
  spec.external_ids = {"e7"};
  SG_ASSERT_OK(this->store_->Withdraw("old", spec, nullptr));
  uint64_t cursor_before = 0;
  const auto live_before = this->LiveSet(&cursor_before);
  std::vector<Change> changes_before;
  uint64_t next = 0;
  SG_ASSERT_OK(this->store_->ChangesSince(0, 1000, &changes_before, &next));
  this->store_.reset();

  SG_ASSERT_OK(this->backend_.ExecSql("ALTER TABLE signals DROP COLUMN content"));
  SG_ASSERT_OK(this->backend_.ForceSchemaVersion(1));
  SG_ASSERT_OK(this->Reopen());

  uint64_t cursor_after = 0;
  EXPECT_EQ(this->LiveSet(&cursor_after), live_before);
  EXPECT_EQ(cursor_after, cursor_before);
  std::vector<Change> changes_after;
  SG_ASSERT_OK(this->store_->ChangesSince(0, 1000, &changes_after, &next));
  ASSERT_EQ(changes_after.size(), changes_before.size());
  for (size_t i = 0; i < changes_after.size(); ++i) {
    EXPECT_EQ(changes_after[i].seq, changes_before[i].seq);
    EXPECT_EQ(changes_after[i].value, changes_before[i].value);
    EXPECT_TRUE(changes_after[i].content.empty());
  }
  std::vector<Signal> sigs;
  SG_ASSERT_OK(this->store_->GetSignals(std::vector<uint64_t>{live_before.begin()->first}, &sigs));
  ASSERT_EQ(sigs.size(), 1u);
  EXPECT_EQ(sigs[0].content_bytes, 0u);

  // The new column is there: video signals go in beside the old rows.
  const NewSignal tmk = testing::MakeVideoSignal(40, SignalType::kTmk, kTmkBytes);
  ApplyResult r = this->MustImport("old", std::vector<NewSignal>{tmk, batch[0]});
  EXPECT_EQ(r.added, 1u);
  EXPECT_EQ(r.duplicates, 1u);
  auto contents = LiveContents(this->store_.get());
  EXPECT_EQ(contents.size(), live_before.size() + 1);
  EXPECT_EQ(contents.rbegin()->second, tmk.content);

  // Opening again finds version 2 and changes nothing.
  SG_ASSERT_OK(this->Reopen());
  EXPECT_EQ(LiveContents(this->store_.get()), contents);
  this->store_.reset();
  SG_ASSERT_OK(this->backend_.ForceSchemaVersion(3));
  Status s = this->Reopen();
  EXPECT_EQ(s.code(), StatusCode::kUnsupportedFormat) << s.ToString();
  EXPECT_NE(s.message().find("schema version 3, newer than this build of Safeguard understands (2)"),
            std::string::npos)
      << s.message();
}

// Right after a large import PostgreSQL had no statistics for it, planned
// the next withdrawal by external id as a scan of the whole bank, and took
// 165 ms at 1M rows. The store analyzes after large imports; pg_stats has
// rows for a table only once it has been analyzed.
TEST(BankStorePostgresOnly, LargeImportLeavesPlannerStatistics) {
  testing::PostgresBackend backend;
  if (!backend.SkipReason().empty()) GTEST_SKIP() << backend.SkipReason();
  SG_ASSERT_OK(backend.Setup());
  std::unique_ptr<Store> store;
  SG_ASSERT_OK(backend.Open(StoreOptions(), &store));
  BankSpec spec;
  spec.name = "big";
  SG_ASSERT_OK(store->CreateBank(spec, nullptr));
  const std::string analyzed =
      "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_stats WHERE schemaname = current_schema() AND "
      "tablename = 'signals' AND attname = 'external_id') THEN RAISE EXCEPTION 'signals has no statistics'; "
      "END IF; END $$";
  EXPECT_FALSE(testing::RunPostgresSql(backend.conninfo(), analyzed).ok())
      << "fresh tables have no statistics";
  std::vector<NewSignal> batch;
  for (int i = 0; i < 20000; ++i)
    batch.push_back(testing::MakeSignal(i, SignalType::kPdq, "e" + std::to_string(i)));
  SG_ASSERT_OK(store->Import("big", batch, nullptr));
  SG_EXPECT_OK(testing::RunPostgresSql(backend.conninfo(), analyzed));
}

}  // namespace
}  // namespace safeguard::bank
