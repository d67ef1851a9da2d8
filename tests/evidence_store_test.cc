// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// The evidence store on a real folder and SQLite file, with a clock the test
// moves. The "evidence" is a benign photo's bytes and made-up bytes.

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "common/sqlite.h"
#include "safeguard/audit/audit_log.h"
#include "safeguard/report/evidence_store.h"

namespace safeguard::report {
namespace {

namespace fs = std::filesystem;
constexpr int64_t kDay = int64_t{24} * 3600 * 1000;

class EvidenceStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("sg-evidence-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    ASSERT_TRUE(ParseEvidenceKey(std::string(64, '4'), &key_).ok());
    Reopen(key_);
  }
  void TearDown() override {
    store_.reset();
    audit_.reset();
    conn_.reset();
    fs::remove_all(dir_);
  }
  void Reopen(const EvidenceKey& key) {
    store_.reset();
    audit_.reset();
    conn_.reset();
    ASSERT_TRUE(sqlite::Conn::Open((dir_ / "service.db").string(), /*create=*/true, 4, &conn_).ok());
    ASSERT_TRUE(audit::AuditLog::Open(
                    conn_.get(), [this] { return now_ms_; }, &audit_)
                    .ok());
    ASSERT_TRUE(EvidenceStore::Open(
                    dir_.string(), conn_.get(), key, audit_.get(), RetentionPolicy(),
                    [this] { return now_ms_; }, &store_)
                    .ok());
  }
  std::vector<std::string> AuditActions() {
    std::vector<std::string> actions;
    EXPECT_TRUE(audit_
                    ->Export(0, INT64_MAX,
                             [&](const audit::Record& r) {
                               actions.push_back(r.event.action + " " + r.event.subject);
                               return Status::Ok();
                             })
                    .ok());
    return actions;
  }

  fs::path dir_;
  EvidenceKey key_;
  std::unique_ptr<sqlite::Conn> conn_;
  std::unique_ptr<audit::AuditLog> audit_;
  std::unique_ptr<EvidenceStore> store_;
  int64_t now_ms_ = 1'800'000'000'000;
};

std::vector<uint8_t> Bytes(const std::string& s) { return std::vector<uint8_t>(s.begin(), s.end()); }

TEST_F(EvidenceStoreTest, ContentIsSealedAtRestAndEveryReadIsAudited) {
  // A recognisable pattern: it must not appear in the file on disk.
  std::string plain;
  for (int i = 0; i < 200; ++i) plain += "BENIGN-STAND-IN-" + std::to_string(i) + ";";
  EvidenceItem item;
  ASSERT_TRUE(store_->Put(12, Bytes(plain), "application/octet-stream", "key:up", &item).ok());
  EXPECT_EQ(item.id.rfind("ev_", 0), 0u);
  EXPECT_EQ(item.size, static_cast<int64_t>(plain.size()));
  EXPECT_EQ(item.content_expires_ms - item.created_ms, 365 * kDay);
  EXPECT_EQ(item.reference_expires_ms - item.created_ms, 5 * 365 * kDay);
  const fs::path file = dir_ / "evidence" / (item.id + ".sgev");
  ASSERT_TRUE(fs::exists(file));
  EXPECT_EQ(fs::status(dir_ / "evidence").permissions() & fs::perms::others_all, fs::perms::none);
  std::ifstream in(file, std::ios::binary);
  const std::string on_disk((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(on_disk.find("BENIGN-STAND-IN"), std::string::npos);

  std::vector<uint8_t> back;
  EXPECT_EQ(store_->Get(item.id, "key:mod", "", &back, nullptr).code(), StatusCode::kInvalidArgument);
  ASSERT_TRUE(store_->Get(item.id, "key:mod", "reviewing case 12", &back, nullptr).ok());
  EXPECT_EQ(back, Bytes(plain));
  const auto actions = AuditActions();
  ASSERT_EQ(actions.size(), 2u);
  EXPECT_EQ(actions[0], "evidence.put " + item.id);
  EXPECT_EQ(actions[1], "evidence.read " + item.id);
  std::vector<EvidenceItem> listed;
  ASSERT_TRUE(store_->List(12, &listed).ok());
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].sha256, item.sha256);
  EXPECT_EQ(store_->Get("ev_nothing", "key:mod", "x", &back, nullptr).code(), StatusCode::kNotFound);
}

TEST_F(EvidenceStoreTest, AlteredMovedOrForeignFilesAreRefused) {
  EvidenceItem a, b;
  ASSERT_TRUE(store_->Put(1, Bytes("first item"), "text/plain", "key:up", &a).ok());
  ASSERT_TRUE(store_->Put(1, Bytes("second item"), "text/plain", "key:up", &b).ok());
  std::vector<uint8_t> back;
  // One flipped byte.
  const fs::path fa = dir_ / "evidence" / (a.id + ".sgev");
  {
    std::fstream f(fa, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(40);
    f.put('\x5a');
  }
  Status s = store_->Get(a.id, "key:mod", "check", &back, nullptr);
  EXPECT_EQ(s.code(), StatusCode::kCorrupt) << s.ToString();
  EXPECT_TRUE(back.empty());
  // b's file under a's name: the id is bound into the seal.
  fs::copy_file(dir_ / "evidence" / (b.id + ".sgev"), fa, fs::copy_options::overwrite_existing);
  EXPECT_EQ(store_->Get(a.id, "key:mod", "check", &back, nullptr).code(), StatusCode::kCorrupt);
  // Another key.
  EvidenceKey other;
  ASSERT_TRUE(NewEvidenceKey(&other).ok());
  Reopen(other);
  EXPECT_EQ(store_->Get(b.id, "key:mod", "check", &back, nullptr).code(), StatusCode::kCorrupt);
  Reopen(key_);
  ASSERT_TRUE(store_->Get(b.id, "key:mod", "check", &back, nullptr).ok());
  EXPECT_EQ(back, Bytes("second item"));
  // Keys and contents that are not acceptable.
  EvidenceKey k;
  EXPECT_EQ(ParseEvidenceKey("abc", &k).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseEvidenceKey(std::string(64, 'g'), &k).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->Put(1, {}, "text/plain", "key:up", nullptr).code(), StatusCode::kInvalidArgument);
}

// A year on the content is erased and only its reference remains; five years
// on the reference goes too. Each step is recorded.
TEST_F(EvidenceStoreTest, RetentionIsEnforcedWithAFakeClock) {
  EvidenceItem old_item, new_item;
  ASSERT_TRUE(store_->Put(7, Bytes("old"), "text/plain", "key:up", &old_item).ok());
  now_ms_ += 200 * kDay;
  ASSERT_TRUE(store_->Put(7, Bytes("newer"), "text/plain", "key:up", &new_item).ok());
  SweepResult r;
  ASSERT_TRUE(store_->Sweep(&r).ok());
  EXPECT_EQ(r.contents_erased, 0);

  now_ms_ += 166 * kDay;  // 366 days after the first
  std::vector<uint8_t> back;
  EXPECT_EQ(store_->Get(old_item.id, "key:mod", "late", &back, nullptr).code(), StatusCode::kNotFound);
  ASSERT_TRUE(store_->Sweep(&r).ok());
  EXPECT_EQ(r.contents_erased, 1);
  EXPECT_EQ(r.references_deleted, 0);
  EXPECT_FALSE(fs::exists(dir_ / "evidence" / (old_item.id + ".sgev")));
  ASSERT_TRUE(store_->Get(new_item.id, "key:mod", "still kept", &back, nullptr).ok());
  std::vector<EvidenceItem> listed;
  ASSERT_TRUE(store_->List(7, &listed).ok());
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_TRUE(listed[0].content_erased);  // the reference remains
  EXPECT_FALSE(listed[1].content_erased);
  ASSERT_TRUE(store_->Sweep(&r).ok());  // idempotent
  EXPECT_EQ(r.contents_erased, 0);

  now_ms_ = old_item.created_ms + 5 * 365 * kDay;
  ASSERT_TRUE(store_->Sweep(&r).ok());
  EXPECT_EQ(r.references_deleted, 1);
  EXPECT_EQ(r.contents_erased, 1);  // the newer content's year ended long ago
  ASSERT_TRUE(store_->List(7, &listed).ok());
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].id, new_item.id);
  int expire = 0, forget = 0;
  for (const std::string& a : AuditActions()) {
    expire += a.rfind("evidence.expire", 0) == 0;
    forget += a.rfind("evidence.forget", 0) == 0;
  }
  EXPECT_EQ(expire, 2);
  EXPECT_EQ(forget, 1);
}

// A sealed file no item names (its transaction rolled back) is removed once
// an hour old; items and recent files are left alone.
TEST_F(EvidenceStoreTest, FilesNoItemNamesAreRemovedOnceAnHourOld) {
  EvidenceItem kept;
  ASSERT_TRUE(store_->Put(3, Bytes("kept"), "text/plain", "key:up", &kept).ok());
  ASSERT_TRUE(conn_->Exec("BEGIN").ok());
  EvidenceItem rolled_back;
  ASSERT_TRUE(store_->Put(4, Bytes("rolled back"), "text/plain", "key:up", &rolled_back).ok());
  ASSERT_TRUE(conn_->Exec("ROLLBACK").ok());
  const fs::path orphan = dir_ / "evidence" / (rolled_back.id + ".sgev");
  ASSERT_TRUE(fs::exists(orphan));
  const fs::path stale_tmp = dir_ / "evidence" / "ev_0123456789abcdef0123456789abcdef.sgev.tmp";
  std::ofstream(stale_tmp) << "partial";
  SweepResult r;
  ASSERT_TRUE(store_->Sweep(&r).ok());
  EXPECT_EQ(r.orphans_removed, 0);  // too recent: a write may be under way
  const auto two_hours_ago = fs::file_time_type::clock::now() - std::chrono::hours(2);
  for (const fs::path& p : {orphan, stale_tmp, dir_ / "evidence" / (kept.id + ".sgev")})
    fs::last_write_time(p, two_hours_ago);
  ASSERT_TRUE(store_->Sweep(&r).ok());
  EXPECT_EQ(r.orphans_removed, 2);
  EXPECT_FALSE(fs::exists(orphan));
  EXPECT_FALSE(fs::exists(stale_tmp));
  std::vector<uint8_t> back;
  ASSERT_TRUE(store_->Get(kept.id, "key:mod", "still there", &back, nullptr).ok());
  EXPECT_EQ(back, Bytes("kept"));
  int orphans = 0;
  for (const std::string& a : AuditActions()) orphans += a.rfind("evidence.orphan", 0) == 0;
  EXPECT_EQ(orphans, 2);
}

}  // namespace
}  // namespace safeguard::report
