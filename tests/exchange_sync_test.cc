// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// The StopNCII and NCMEC sync clients against fake servers on 127.0.0.1 that
// follow the published protocols (python-threatexchange's clients and test
// data): request paths, query parameters, auth headers, JSON and XML bodies,
// paging cursors and deletions, all through real HTTP. Every hash here is a
// random value; nothing is the hash of any real image.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <ctime>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "bank_test_env.h"
#include "cli_util.h"
#include "safeguard/bank/matcher.h"
#include "safeguard/bank/store.h"
#include "safeguard/exchange/ncmec_client.h"
#include "safeguard/exchange/stopncii_client.h"
#include "safeguard/exchange/sync.h"
#include "test_util.h"

namespace safeguard::exchange {
namespace {

using bank::testing::TempDir;
using nlohmann::json;
using safeguard::testing::Base64;

constexpr char kSubscriptionKey[] = "test-subscription-key-1";
constexpr char kFetchKey[] = "test-fetch-function-key-2";
constexpr char kFeedbackKey[] = "test-feedback-function-key-3";
constexpr char kNcmecUser[] = "test-user";
constexpr char kNcmecPassword[] = "test-password-4";

// Random hex of `digits` digits; deterministic per seed so failures reproduce.
std::string RandomHex(std::mt19937_64* rng, size_t digits) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s(digits, '0');
  for (char& c : s) c = kHex[(*rng)() & 15];
  return s;
}

// Runs an httplib::Server on 127.0.0.1 and an ephemeral port.
class FakeServerBase {
 public:
  FakeServerBase() = default;
  virtual ~FakeServerBase() { Stop(); }

  void Start() {
    port_ = server_.bind_to_any_port("127.0.0.1");
    ASSERT_GT(port_, 0);
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  void Stop() {
    if (thread_.joinable()) {
      server_.stop();
      thread_.join();
    }
  }
  std::string base() const { return "http://127.0.0.1:" + std::to_string(port_); }
  // The lock guarding what the handlers record.
  std::mutex& mu_for_test() { return mu_; }

  // Failure injection, by 0-based page index within a set or window.
  std::atomic<int> fail_page{-1};       // answer HTTP 500
  std::atomic<int> fail_times{-1};      // how many times (-1: always)
  std::atomic<int> malformed_page{-1};  // answer malformed_body with 200
  std::string malformed_body;           // set before the sync runs
  std::atomic<size_t> huge_body{0};     // answer this many bytes instead
  std::atomic<bool> huge_chunked{false};

 protected:
  // Returns true (and fills `res`) if an injected failure answers this page.
  bool Inject(int page, httplib::Response& res, const char* content_type) {
    if (huge_body > 0) {
      const size_t total = huge_body;
      if (huge_chunked) {
        res.set_chunked_content_provider(content_type, [total](size_t offset, httplib::DataSink& sink) {
          std::string chunk(std::min<size_t>(64 << 10, total - offset), ' ');
          if (!sink.write(chunk.data(), chunk.size())) return false;
          if (offset + chunk.size() >= total) sink.done();
          return true;
        });
      } else {
        res.set_content(std::string(total, ' '), content_type);
      }
      return true;
    }
    if (page == fail_page && fail_times != 0) {
      if (fail_times > 0) --fail_times;
      res.status = 500;
      res.set_content("{\"error\":\"injected failure\"}", "application/json");
      return true;
    }
    if (page == malformed_page) {
      res.set_content(malformed_body, content_type);
      return true;
    }
    return false;
  }

  httplib::Server server_;
  std::mutex mu_;

 private:
  int port_ = -1;
  std::thread thread_;
};

// ---- fake StopNCII ----------------------------------------------------------

struct FakeRecord {
  std::string signal_type;
  std::string hash;
  std::string status = "Received";
  int64_t modified = 0;
};

// GET /v1/FetchHashes?startTimestamp&pageSize[&nextPageToken] and POST
// /v1/SubmitFeedback, checking Ocp-Apim-Subscription-Key and x-functions-key.
// A set is every record with lastModtimestamp >= startTimestamp, in time
// order; nextSetTimestamp is one past the newest of the set.
class FakeStopNcii : public FakeServerBase {
 public:
  FakeStopNcii() {
    server_.Get("/v1/FetchHashes",
                [this](const httplib::Request& req, httplib::Response& res) { Fetch(req, res); });
    server_.Post("/v1/SubmitFeedback", [this](const httplib::Request& req, httplib::Response& res) {
      if (!Authorized(req, kFeedbackKey)) return Unauthorized(res);
      std::lock_guard<std::mutex> lock(mu_);
      feedback_bodies.push_back(req.body);
      res.set_content("{}", "application/json");
    });
    Start();
  }
  ~FakeStopNcii() override { Stop(); }  // before the members the handlers use go
  std::string endpoint() const { return base() + "/v1"; }

  void Put(FakeRecord r) {
    std::lock_guard<std::mutex> lock(mu_);
    for (FakeRecord& old : records_) {
      if (old.signal_type == r.signal_type && old.hash == r.hash) {
        old = r;
        return;
      }
    }
    records_.push_back(std::move(r));
  }
  std::vector<httplib::Params> fetches() {
    std::lock_guard<std::mutex> lock(mu_);
    return fetches_;
  }
  void ClearLog() {
    std::lock_guard<std::mutex> lock(mu_);
    fetches_.clear();
  }
  std::vector<std::string> feedback_bodies;  // guarded by mu_

 private:
  static bool Authorized(const httplib::Request& req, const char* function_key) {
    return req.get_header_value("Ocp-Apim-Subscription-Key") == kSubscriptionKey &&
           req.get_header_value("x-functions-key") == function_key;
  }
  static void Unauthorized(httplib::Response& res) {
    res.status = 401;
    res.set_content("{\"statusCode\":401,\"message\":\"Access denied due to invalid subscription key.\"}",
                    "application/json");
  }
  static std::string Token(int64_t start, size_t offset) {
    // Characters that must be percent-encoded in a query, as real tokens have.
    return "W3s+" + std::to_string(start) + "/" + std::to_string(offset) + "==";
  }

  void Fetch(const httplib::Request& req, httplib::Response& res) {
    if (!Authorized(req, kFetchKey)) return Unauthorized(res);
    if (!req.has_param("startTimestamp") || !req.has_param("pageSize")) {
      res.status = 400;
      return;
    }
    const int64_t start = std::stoll(req.get_param_value("startTimestamp"));
    const size_t page_size = std::stoul(req.get_param_value("pageSize"));
    size_t offset = 0;
    if (req.has_param("nextPageToken")) {
      const std::string token = req.get_param_value("nextPageToken");
      const std::string prefix = "W3s+" + std::to_string(start) + "/";
      if (token.rfind(prefix, 0) != 0 || token.size() < prefix.size() + 3 ||
          token.substr(token.size() - 2) != "==") {
        res.status = 400;  // an expired or foreign token
        res.set_content("{\"message\":\"invalid nextPageToken\"}", "application/json");
        return;
      }
      offset = std::stoul(token.substr(prefix.size(), token.size() - prefix.size() - 2));
    }
    std::lock_guard<std::mutex> lock(mu_);
    fetches_.push_back(req.params);
    if (Inject(static_cast<int>(offset / std::max<size_t>(page_size, 1)), res, "application/json")) return;
    std::vector<FakeRecord> set;
    for (const FakeRecord& r : records_) {
      if (r.modified >= start) set.push_back(r);
    }
    std::stable_sort(set.begin(), set.end(),
                     [](const FakeRecord& a, const FakeRecord& b) { return a.modified < b.modified; });
    int64_t next_set = start;
    for (const FakeRecord& r : set) next_set = std::max(next_set, r.modified + 1);
    json records = json::array();
    for (size_t i = offset; i < set.size() && i < offset + page_size; ++i) {
      const FakeRecord& r = set[i];
      records.push_back({{"lastModtimestamp", r.modified},
                         {"signalType", r.signal_type},
                         {"hashValue", r.hash},
                         {"hashStatus", r.status},
                         {"caseNumbers", {{"case-" + r.hash.substr(0, 8), r.status}}},
                         {"CSPFeedbacks", json::array()},
                         {"hashRegions", json::array({"UK"})}});
    }
    const bool more = offset + page_size < set.size();
    json body = {{"count", records.size()},
                 {"nextSetTimestamp", next_set},
                 {"nextPageToken", more ? json(Token(start, offset + page_size)) : json(nullptr)},
                 {"hasMoreRecords", more},
                 {"hashRecords", records}};
    res.set_content(body.dump(), "application/json");
  }

  std::vector<FakeRecord> records_;
  std::vector<httplib::Params> fetches_;
};

// ---- fake NCMEC -------------------------------------------------------------

struct FakeEntry {
  std::string id;
  int64_t member_id = 42;
  std::string type = "image";
  bool deleted = false;
  int64_t timestamp = 0;
  std::string classification = "A1";
  // (name, value); a value starting with '@' is written as an href link.
  std::vector<std::pair<std::string, std::string>> fingerprints;
};

std::string Iso(int64_t t, bool millis) {
  std::time_t tt = t;
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[40];
  std::strftime(buf, sizeof(buf), millis ? "%Y-%m-%dT%H:%M:%S.000Z" : "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

int64_t ParseIso(const std::string& s) {
  std::tm tm{};
  if (sscanf(s.c_str(), "%d-%d-%dT%d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
             &tm.tm_sec) != 6) {
    return -1;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return timegm(&tm);
}

std::string XmlEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '&') {
      out += "&amp;";
    } else if (c == '<') {
      out += "&lt;";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

// GET /hashsharing/v2/entries?from&to, then the <next> links
// "/v2/entries?from&to&start&size&max" (relative to /hashsharing), with basic
// auth. A window is every entry with from <= timestamp < to, in id order
// (deliberately not time order, as the real API).
class FakeNcmec : public FakeServerBase {
 public:
  FakeNcmec() {
    server_.Get("/hashsharing/v2/entries",
                [this](const httplib::Request& req, httplib::Response& res) { Entries(req, res); });
    Start();
  }
  ~FakeNcmec() override { Stop(); }
  std::string endpoint() const { return base() + "/hashsharing"; }
  size_t page_size = 2;

  void Put(FakeEntry e) {
    std::lock_guard<std::mutex> lock(mu_);
    for (FakeEntry& old : entries_) {
      if (old.id == e.id) {
        old = e;
        return;
      }
    }
    entries_.push_back(std::move(e));
  }
  std::vector<httplib::Params> requests() {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }
  void ClearLog() {
    std::lock_guard<std::mutex> lock(mu_);
    requests_.clear();
  }

 private:
  void Entries(const httplib::Request& req, httplib::Response& res) {
    if (req.get_header_value("Authorization") !=
        "Basic " + Base64(std::string(kNcmecUser) + ":" + kNcmecPassword)) {
      res.status = 401;
      res.set_header("WWW-Authenticate", "Basic realm=\"hashsharing\"");
      return;
    }
    const int64_t from = ParseIso(req.get_param_value("from"));
    const int64_t to = ParseIso(req.get_param_value("to"));
    if (from < 0 || to < 0) {
      res.status = 400;
      return;
    }
    size_t start = 1;
    size_t size = page_size;
    if (req.has_param("start")) {
      start = std::stoul(req.get_param_value("start"));
      size = std::stoul(req.get_param_value("size"));
    }
    std::lock_guard<std::mutex> lock(mu_);
    requests_.push_back(req.params);
    if (Inject(static_cast<int>((start - 1) / size), res, "application/xml")) return;
    std::vector<FakeEntry> window;
    for (const FakeEntry& e : entries_) {
      if (e.timestamp >= from && e.timestamp < to) window.push_back(e);
    }
    std::sort(window.begin(), window.end(),
              [](const FakeEntry& a, const FakeEntry& b) { return a.id < b.id; });
    std::string images, videos;
    size_t n_images = 0, n_videos = 0;
    for (size_t i = start - 1; i < window.size() && i < start - 1 + size; ++i) {
      const FakeEntry& e = window[i];
      const std::string tag = e.deleted ? (e.type == "image" ? "deletedImage" : "deletedVideo") : e.type;
      std::string x = "    <" + tag + ">\n      <member id=\"" + std::to_string(e.member_id) +
                      "\">Example Member</member>\n      <timestamp>" + Iso(e.timestamp, false) +
                      "</timestamp>\n      <id>" + e.id + "</id>\n";
      if (!e.deleted) {
        x += "      <classification>" + e.classification + "</classification>\n      <fingerprints>\n";
        for (const auto& [name, value] : e.fingerprints) {
          if (!value.empty() && value[0] == '@') {
            x += "        <" + name + " rel=\"self\" href=\"" + value.substr(1) + "\"/>\n";
          } else {
            x += "        <" + name + ">" + value + "</" + name + ">\n";
          }
        }
        x += "      </fingerprints>\n";
      }
      x += "    </" + tag + ">\n";
      (e.type == "image" ? images : videos) += x;
      ++(e.type == "image" ? n_images : n_videos);
    }
    std::string body =
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n"
        "<queryResult xmlns=\"https://hashsharing.ncmec.org/hashsharing/v2\">\n";
    if (n_images > 0) {
      body += "  <images count=\"" + std::to_string(n_images) + "\" maxTimestamp=\"" + Iso(to, false) +
              "\">\n" + images + "  </images>\n";
    }
    if (n_videos > 0) {
      body += "  <videos count=\"" + std::to_string(n_videos) + "\" maxTimestamp=\"" + Iso(to, false) +
              "\">\n" + videos + "  </videos>\n";
    }
    if (start - 1 + size < window.size()) {
      const std::string next = "/v2/entries?from=" + httplib::detail::encode_query_param(Iso(from, true)) +
                               "&to=" + httplib::detail::encode_query_param(Iso(to, true)) +
                               "&start=" + std::to_string(start + size) + "&size=" + std::to_string(size) +
                               "&max=" + std::to_string(window.size());
      body += "  <paging>\n    <next>" + XmlEscape(next) + "</next>\n  </paging>\n";
    }
    body += "</queryResult>\n";
    res.set_content(body, "application/xml");
  }

  std::vector<FakeEntry> entries_;
  std::vector<httplib::Params> requests_;
};

// ---- fixture ------------------------------------------------------------------

class SyncTestBase : public ::testing::Test {
 protected:
  void SetUp() override { SG_ASSERT_OK(bank::Store::OpenSqlite(dir_.path(), &store_)); }
  void MakeBank(const std::string& name, const std::string& source, bank::Category category) {
    bank::BankSpec spec;
    spec.name = name;
    spec.source = source;
    spec.category = category;
    SG_ASSERT_OK(store_->CreateBank(spec, nullptr));
  }
  uint64_t Live(const std::string& bank) {
    uint64_t n = 0;
    EXPECT_TRUE(store_->CountSignals(bank, true, &n).ok());
    return n;
  }
  json Checkpoint(const std::string& bank, std::string_view key) {
    std::string v;
    Status s = store_->GetCheckpoint(bank, std::string(key), &v);
    if (!s.ok()) return json();
    return json::parse(v);
  }
  // Every signal ever added, by value hex.
  std::map<std::string, bank::Signal> Signals() {
    std::vector<bank::Change> changes;
    uint64_t next = 0;
    EXPECT_TRUE(store_->ChangesSince(0, 1 << 20, &changes, &next).ok());
    std::vector<uint64_t> ids;
    for (const bank::Change& c : changes) {
      if (c.kind == bank::Change::Kind::kAdd) ids.push_back(c.signal_id);
    }
    std::vector<bank::Signal> signals;
    EXPECT_TRUE(store_->GetSignals(ids, &signals).ok());
    std::map<std::string, bank::Signal> out;
    for (bank::Signal& s : signals) out[bank::SignalValueHex(s.value)] = std::move(s);
    return out;
  }

  TempDir dir_;
  std::unique_ptr<bank::Store> store_;
  std::mt19937_64 rng_{20260128};
  std::vector<std::string> progress_;
};

class StopNciiSyncTest : public SyncTestBase {
 protected:
  void SetUp() override {
    SyncTestBase::SetUp();
    MakeBank("ncii", "stopncii", bank::Category::kNcii);
    options_.endpoint = server_.endpoint();
    options_.api_key = kSubscriptionKey;
    options_.function_key = kFetchKey;
    options_.feedback_function_key = kFeedbackKey;
    options_.timeout_ms = 5000;
    options_.retries = 0;
    options_.page_size = 3;
    options_.progress = [this](const std::string& line) { progress_.push_back(line); };
  }
  std::string AddPdq(int64_t modified) {
    std::string h = RandomHex(&rng_, 64);
    server_.Put({"ImagePDQ", h, "Received", modified});
    return h;
  }

  FakeStopNcii server_;
  SyncOptions options_;
};

class NcmecSyncTest : public SyncTestBase {
 protected:
  static constexpr int64_t kT0 = 1717200000;  // 2024-06-01

  void SetUp() override {
    SyncTestBase::SetUp();
    MakeBank("csam-ncmec", "ncmec", bank::Category::kCsam);
    options_.endpoint = server_.endpoint();
    options_.user = kNcmecUser;
    options_.password = kNcmecPassword;
    options_.timeout_ms = 5000;
    options_.retries = 0;
    options_.now = [this] { return now_.load(); };
    options_.progress = [this](const std::string& line) { progress_.push_back(line); };
  }

  FakeNcmec server_;
  SyncOptions options_;
  std::atomic<int64_t> now_{kT0};
};

// ---- StopNCII -----------------------------------------------------------------

TEST_F(StopNciiSyncTest, FullSyncOverSeveralPagesIntoSqlite) {
  std::vector<std::string> pdq;
  for (int i = 0; i < 5; ++i) pdq.push_back(AddPdq(1000 + i));
  const std::string md5 = RandomHex(&rng_, 32);
  server_.Put({"VideoMD5", md5, "Active", 1005});
  server_.Put({"VideoTMK", RandomHex(&rng_, 64), "Received", 1006});

  SyncResult r;
  SG_ASSERT_OK(SyncBank(store_.get(), "ncii", options_, &r));
  EXPECT_EQ(r.pages, 3u);
  EXPECT_EQ(r.fetched, 7u);
  EXPECT_EQ(r.added, 6u);
  EXPECT_EQ(r.duplicates, 0u);
  EXPECT_EQ(r.skipped, 1u);
  ASSERT_EQ(r.skip_reasons.size(), 1u);
  EXPECT_NE(r.skip_reasons.begin()->first.find("VideoTMK"), std::string::npos);
  EXPECT_EQ(Live("ncii"), 6u);

  // The protocol's first request, then the server's page tokens verbatim
  // (the fake answers 400 to a token that was mangled on the way).
  const auto fetches = server_.fetches();
  ASSERT_EQ(fetches.size(), 3u);
  EXPECT_EQ(fetches[0].find("startTimestamp")->second, "10");
  EXPECT_EQ(fetches[0].find("pageSize")->second, "3");
  EXPECT_EQ(fetches[0].count("nextPageToken"), 0u);
  EXPECT_EQ(fetches[1].find("nextPageToken")->second, "W3s+10/3==");
  EXPECT_EQ(fetches[2].find("nextPageToken")->second, "W3s+10/6==");

  json cp = Checkpoint("ncii", kStopNciiCheckpointKey);
  EXPECT_EQ(cp["start_timestamp"], 1007);
  EXPECT_EQ(cp["page_token"], "");
  EXPECT_EQ(r.checkpoint, cp.dump());

  auto signals = Signals();
  ASSERT_EQ(signals.size(), 6u);
  const bank::Signal& s = signals.at(pdq[0]);
  EXPECT_EQ(s.type, bank::SignalType::kPdq);
  EXPECT_EQ(s.external_id, pdq[0]);
  EXPECT_EQ(s.source_list, "stopncii");
  EXPECT_EQ(s.source_version, "startTimestamp=10;page=1");
  json meta = json::parse(s.metadata_json);
  EXPECT_EQ(meta["signalType"], "ImagePDQ");
  EXPECT_EQ(meta["hashStatus"], "Received");
  EXPECT_TRUE(meta["caseNumbers"].is_object());
  EXPECT_EQ(meta["hashRegions"], json::array({"UK"}));
  EXPECT_EQ(signals.at(md5).type, bank::SignalType::kMd5);
  EXPECT_FALSE(progress_.empty());
}

TEST_F(StopNciiSyncTest, SecondSyncFetchesOnlyWhatIsNew) {
  for (int i = 0; i < 4; ++i) AddPdq(1000 + i);
  SyncResult r;
  SG_ASSERT_OK(SyncBank(store_.get(), "ncii", options_, &r));
  EXPECT_EQ(r.added, 4u);

  server_.ClearLog();
  AddPdq(2000);
  AddPdq(2001);
  SG_ASSERT_OK(SyncBank(store_.get(), "ncii", options_, &r));
  EXPECT_EQ(r.fetched, 2u);
  EXPECT_EQ(r.added, 2u);
  EXPECT_EQ(r.pages, 1u);
  ASSERT_EQ(server_.fetches().size(), 1u);
  EXPECT_EQ(server_.fetches()[0].find("startTimestamp")->second, "1004");
  EXPECT_EQ(Live("ncii"), 6u);

  // Nothing new: one empty page, nothing added.
  SG_ASSERT_OK(SyncBank(store_.get(), "ncii", options_, &r));
  EXPECT_EQ(r.fetched, 0u);
  EXPECT_EQ(r.added, 0u);
  EXPECT_EQ(Live("ncii"), 6u);
}

TEST_F(StopNciiSyncTest, FailureOnPageThreeKeepsPagesOneAndTwoAndTheNextRunContinues) {
  options_.page_size = 2;
  for (int i = 0; i < 10; ++i) AddPdq(1000 + i);  // 5 pages
  server_.fail_page = 2;

  SyncResult r;
  Status s = SyncBank(store_.get(), "ncii", options_, &r);
  ASSERT_EQ(s.code(), StatusCode::kUnavailable) << s.ToString();
  EXPECT_NE(s.message().find("HTTP 500"), std::string::npos) << s.message();
  EXPECT_EQ(r.pages, 2u);
  EXPECT_EQ(r.added, 4u);
  EXPECT_EQ(Live("ncii"), 4u);
  json cp = Checkpoint("ncii", kStopNciiCheckpointKey);
  EXPECT_EQ(cp["start_timestamp"], 10);
  EXPECT_EQ(cp["page_token"], "W3s+10/4==");
  EXPECT_EQ(cp["page"], 2);

  server_.fail_page = -1;
  server_.ClearLog();
  SG_ASSERT_OK(SyncBank(store_.get(), "ncii", options_, &r));
  EXPECT_EQ(r.pages, 3u);
  EXPECT_EQ(r.fetched, 6u);
  EXPECT_EQ(r.added, 6u);
  EXPECT_EQ(r.duplicates, 0u);  // pages 1-2 were not fetched again
  EXPECT_EQ(Live("ncii"), 10u);
  const auto fetches = server_.fetches();
  ASSERT_EQ(fetches.size(), 3u);
  EXPECT_EQ(fetches[0].find("nextPageToken")->second, "W3s+10/4==");
  EXPECT_EQ(Checkpoint("ncii", kStopNciiCheckpointKey)["start_timestamp"], 1010);
}

TEST_F(StopNciiSyncTest, RetriesATransientServerError) {
  AddPdq(1000);
  server_.fail_page = 0;
  server_.fail_times = 1;
  options_.retries = 1;
  SyncResult r;
  SG_ASSERT_OK(SyncBank(store_.get(), "ncii", options_, &r));
  EXPECT_EQ(r.added, 1u);
  EXPECT_EQ(server_.fetches().size(), 2u);
}

TEST_F(StopNciiSyncTest, ExpiredSavedPageTokenRestartsTheSet) {
  AddPdq(1000);
  AddPdq(1001);
  SG_ASSERT_OK(store_->SetCheckpoint("ncii", std::string(kStopNciiCheckpointKey),
                                     R"({"start_timestamp":10,"page_token":"expired","page":4})"));
  SyncResult r;
  SG_ASSERT_OK(SyncBank(store_.get(), "ncii", options_, &r));
  EXPECT_EQ(r.added, 2u);
  const auto fetches = server_.fetches();
  ASSERT_EQ(fetches.size(), 1u);  // the refused request is not logged by the fake
  EXPECT_EQ(fetches[0].count("nextPageToken"), 0u);
}

TEST_F(StopNciiSyncTest, WithdrawnAndDeletedRecordsWithdrawAndTheMatcherStopsMatching) {
  const std::string a = AddPdq(1000);
  const std::string b = AddPdq(1001);
  const std::string md5 = RandomHex(&rng_, 32);
  server_.Put({"VideoMD5", md5, "Received", 1002});
  SyncResult r;
  SG_ASSERT_OK(SyncBank(store_.get(), "ncii", options_, &r));
  ASSERT_EQ(r.added, 3u);

  std::unique_ptr<bank::Matcher> matcher;
  SG_ASSERT_OK(bank::Matcher::Open(store_.get(), bank::MatcherOptions(), &matcher));
  const uint64_t cursor = matcher->cursor();
  auto match_pdq = [&](const std::string& hex) {
    std::vector<uint8_t> v;
    EXPECT_TRUE(bank::ParseSignalValue(bank::SignalType::kPdq, hex, &v).ok());
    index::Code256 code = bank::CodeFromPdqValue(v);
    bank::MatchQuery q;
    q.pdq = std::span<const index::Code256>(&code, 1);
    bank::MatchResult m;
    EXPECT_TRUE(matcher->Match(q, &m).ok());
    return m.hits.size();
  };
  auto match_md5 = [&](const std::string& hex) {
    std::vector<uint8_t> v;
    EXPECT_TRUE(bank::ParseSignalValue(bank::SignalType::kMd5, hex, &v).ok());
    std::array<uint8_t, 16> d;
    std::copy(v.begin(), v.end(), d.begin());
    bank::MatchQuery q;
    q.md5 = d;
    bank::MatchResult m;
    EXPECT_TRUE(matcher->Match(q, &m).ok());
    return m.hits.size();
  };
  EXPECT_EQ(match_pdq(a), 1u);
  EXPECT_EQ(match_md5(md5), 1u);

  server_.Put({"ImagePDQ", a, "Withdrawn", 1100});
  server_.Put({"VideoMD5", md5, "Deleted", 1101});
  SG_ASSERT_OK(SyncBank(store_.get(), "ncii", options_, &r));
  EXPECT_EQ(r.fetched, 2u);
  EXPECT_EQ(r.withdrawn, 2u);
  EXPECT_EQ(Live("ncii"), 1u);

  std::vector<bank::Change> changes;
  uint64_t next = 0;
  SG_ASSERT_OK(store_->ChangesSince(cursor, 100, &changes, &next));
  size_t withdrawals = 0;
  for (const bank::Change& c : changes) withdrawals += c.kind == bank::Change::Kind::kWithdraw;
  EXPECT_EQ(withdrawals, 2u);

  SG_ASSERT_OK(matcher->Refresh(nullptr));
  EXPECT_EQ(match_pdq(a), 0u);
  EXPECT_EQ(match_md5(md5), 0u);
  EXPECT_EQ(match_pdq(b), 1u);

  // Withdrawing again (the record is sent again) is harmless.
  server_.Put({"ImagePDQ", a, "Withdrawn", 1200});
  SG_ASSERT_OK(SyncBank(store_.get(), "ncii", options_, &r));
  EXPECT_EQ(r.withdrawn, 0u);
}

TEST_F(StopNciiSyncTest, WrongApiKeyIsRefusedClearlyAndAppliesNothing) {
  AddPdq(1000);
  options_.api_key = "not-the-right-key-xyz";
  SyncResult r;
  Status s = SyncBank(store_.get(), "ncii", options_, &r);
  ASSERT_EQ(s.code(), StatusCode::kPermissionDenied) << s.ToString();
  EXPECT_NE(s.message().find("check the API key"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("401"), std::string::npos) << s.message();
  EXPECT_EQ(s.message().find("not-the-right-key-xyz"), std::string::npos) << "the key must never be printed";
  for (const std::string& line : progress_) EXPECT_EQ(line.find("not-the-right-key-xyz"), std::string::npos);
  EXPECT_EQ(Live("ncii"), 0u);
  EXPECT_TRUE(Checkpoint("ncii", kStopNciiCheckpointKey).is_null());

  options_.api_key.clear();
  s = SyncBank(store_.get(), "ncii", options_, &r);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("check the API key"), std::string::npos) << s.message();
}

TEST_F(StopNciiSyncTest, MalformedPageFailsClearlyAndAppliesNothing) {
  for (int i = 0; i < 4; ++i) AddPdq(1000 + i);
  const std::vector<std::pair<std::string, std::string>> bodies = {
      {"<html>Service Unavailable</html>", "not JSON"},
      {R"({"count":1,"hashRecords":[]})", "nextSetTimestamp"},
      {R"({"count":1,"nextSetTimestamp":5,"hasMoreRecords":false,"hashRecords":[{"signalType":"ImagePDQ"}]})",
       "hashRecords[0].hashValue"},
      {R"({"count":0,"nextSetTimestamp":5,"hasMoreRecords":true,"hashRecords":[]})", "nextPageToken"},
      {std::string(200, '[') + std::string(200, ']'), "nested deeper"},
  };
  for (const auto& [body, expected] : bodies) {
    server_.malformed_body = body;
    server_.malformed_page = 0;
    SyncResult r;
    Status s = SyncBank(store_.get(), "ncii", options_, &r);
    EXPECT_EQ(s.code(), StatusCode::kCorrupt) << s.ToString();
    EXPECT_NE(s.message().find(expected), std::string::npos) << s.message();
    EXPECT_EQ(r.pages, 0u);
    EXPECT_EQ(Live("ncii"), 0u);
    EXPECT_TRUE(Checkpoint("ncii", kStopNciiCheckpointKey).is_null());
  }
  // A malformed second page keeps the first.
  server_.malformed_body = "{";
  server_.malformed_page = 1;
  SyncResult r;
  EXPECT_EQ(SyncBank(store_.get(), "ncii", options_, &r).code(), StatusCode::kCorrupt);
  EXPECT_EQ(Live("ncii"), 3u);
}

TEST_F(StopNciiSyncTest, ServerRepeatingItsPageTokenDoesNotLoopForever) {
  server_.malformed_body =
      R"({"count":0,"nextSetTimestamp":5,"hasMoreRecords":true,"nextPageToken":"W3s+10/0==","hashRecords":[]})";
  server_.malformed_page = 0;
  SyncResult r;
  Status s = SyncBank(store_.get(), "ncii", options_, &r);
  EXPECT_EQ(s.code(), StatusCode::kCorrupt) << s.ToString();
  EXPECT_NE(s.message().find("same token"), std::string::npos) << s.message();
  EXPECT_EQ(server_.fetches().size(), 2u);
}

TEST_F(StopNciiSyncTest, OversizedResponseIsRefusedWithAndWithoutContentLength) {
  AddPdq(1000);
  options_.max_response_bytes = 64 << 10;
  server_.huge_body = 1 << 20;
  for (bool chunked : {false, true}) {
    server_.huge_chunked = chunked;
    SyncResult r;
    Status s = SyncBank(store_.get(), "ncii", options_, &r);
    EXPECT_EQ(s.code(), StatusCode::kTooLarge)
        << (chunked ? "chunked: " : "content-length: ") << s.ToString();
    EXPECT_EQ(Live("ncii"), 0u);
  }
}

TEST_F(StopNciiSyncTest, ServerThatNeverAnswersTimesOut) {
  // A socket that listens but never accepts: the kernel completes the TCP
  // handshake, the request is sent, and no answer ever comes.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(fd, 4), 0);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  options_.endpoint = "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) + "/v1";
  options_.timeout_ms = 1000;

  const auto start = std::chrono::steady_clock::now();
  SyncResult r;
  Status s = SyncBank(store_.get(), "ncii", options_, &r);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  close(fd);
  EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s.ToString();
  EXPECT_NE(s.message().find("timed out"), std::string::npos) << s.message();
  EXPECT_LT(elapsed, std::chrono::seconds(5));
  EXPECT_GE(elapsed, std::chrono::milliseconds(900));
  EXPECT_EQ(Live("ncii"), 0u);
}

TEST_F(StopNciiSyncTest, FeedbackReachesTheServerWithTheProtocolsBody) {
  const std::string a = AddPdq(1000);
  const std::string b = AddPdq(1001);
  SyncResult r;
  SG_ASSERT_OK(SyncBank(store_.get(), "ncii", options_, &r));
  const uint64_t id_a = Signals().at(a).id;

  std::vector<FeedbackItem> items(2);
  items[0].signal_id = id_a;
  items[0].value = StopNciiFeedback::kBlocked;
  items[0].tags = {"reviewed"};
  items[1].external_id = b;
  items[1].value = StopNciiFeedback::kNotBlocked;
  uint64_t sent = 0;
  SG_ASSERT_OK(SubmitFeedback(store_.get(), "ncii", items, options_, &sent));
  EXPECT_EQ(sent, 2u);

  std::lock_guard<std::mutex> lock(server_.mu_for_test());
  ASSERT_EQ(server_.feedback_bodies.size(), 1u);
  json expected = {{"count", 2},
                   {"hashFeedbacks",
                    {{{"tags", json::array({"reviewed"})}, {"feedbackValue", "Blocked"}, {"hashValue", a}},
                     {{"tags", json::array()}, {"feedbackValue", "NotBlocked"}, {"hashValue", b}}}}};
  EXPECT_EQ(json::parse(server_.feedback_bodies[0]), expected);
}

TEST_F(StopNciiSyncTest, FeedbackRefusesWhatIsNotAStopNciiSignal) {
  MakeBank("other", "file", bank::Category::kOther);
  bank::NewSignal sig = bank::testing::MakeSignal(7);
  bank::ApplyResult ar;
  SG_ASSERT_OK(store_->Import("other", std::span<const bank::NewSignal>(&sig, 1), &ar));
  uint64_t other_id = 0;
  for (const auto& [hex, s] : Signals()) other_id = s.id;

  std::vector<FeedbackItem> items(1);
  items[0].external_id = "not-a-hash";
  EXPECT_EQ(SubmitFeedback(store_.get(), "ncii", items, options_, nullptr).code(),
            StatusCode::kInvalidArgument);
  items[0].external_id.clear();
  items[0].signal_id = other_id;
  Status s = SubmitFeedback(store_.get(), "ncii", items, options_, nullptr);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
  EXPECT_NE(s.message().find("other"), std::string::npos);
  items[0].signal_id = 999999;
  EXPECT_EQ(SubmitFeedback(store_.get(), "ncii", items, options_, nullptr).code(), StatusCode::kNotFound);
  EXPECT_EQ(SubmitFeedback(store_.get(), "other", items, options_, nullptr).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(SubmitFeedback(store_.get(), "ncii", {}, options_, nullptr).code(), StatusCode::kInvalidArgument);

  items[0].signal_id = 0;
  items[0].external_id = RandomHex(&rng_, 64);
  options_.feedback_function_key = "wrong-feedback-key";
  s = SubmitFeedback(store_.get(), "ncii", items, options_, nullptr);
  EXPECT_EQ(s.code(), StatusCode::kPermissionDenied) << s.ToString();
  EXPECT_NE(s.message().find("check the API key"), std::string::npos);
}

TEST_F(StopNciiSyncTest, ParsesTheFeedbackValuesOfTheProtocol) {
  StopNciiFeedback v;
  SG_EXPECT_OK(ParseStopNciiFeedback("notblocked", &v));
  EXPECT_EQ(v, StopNciiFeedback::kNotBlocked);
  EXPECT_EQ(StopNciiFeedbackName(StopNciiFeedback::kPendingReview), "PendingReview");
  Status s = ParseStopNciiFeedback("Maybe", &v);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("Blocked"), std::string::npos);
}

TEST(ExchangeSyncTest, RefusesBanksWithAnotherSource) {
  TempDir dir;
  std::unique_ptr<bank::Store> store;
  SG_ASSERT_OK(bank::Store::OpenSqlite(dir.path(), &store));
  bank::BankSpec spec;
  spec.name = "local";
  spec.source = "file";
  SG_ASSERT_OK(store->CreateBank(spec, nullptr));
  SyncResult r;
  Status s = SyncBank(store.get(), "local", SyncOptions(), &r);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("'stopncii'"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("'ncmec'"), std::string::npos) << s.message();
  EXPECT_EQ(SyncBank(store.get(), "missing", SyncOptions(), &r).code(), StatusCode::kNotFound);
}

// ---- NCMEC ----------------------------------------------------------------------

TEST_F(NcmecSyncTest, FullSyncWithPagingSkipsUnsupportedFingerprints) {
  const std::string md5_1 = RandomHex(&rng_, 32), pdq_1 = RandomHex(&rng_, 64);
  const std::string md5_2 = RandomHex(&rng_, 32), md5_3 = RandomHex(&rng_, 32);
  const std::string sha_4 = RandomHex(&rng_, 64), pdq_5 = RandomHex(&rng_, 64);
  server_.Put({"e1",
               42,
               "image",
               false,
               kT0 - 900,
               "A1",
               {{"md5", md5_1}, {"sha1", RandomHex(&rng_, 40)}, {"pdq", pdq_1}}});
  server_.Put({"e2", 42, "image", false, kT0 - 800, "B1", {{"md5", md5_2}, {"pdna", RandomHex(&rng_, 60)}}});
  server_.Put({"e3",
               43,
               "video",
               false,
               kT0 - 700,
               "A2",
               {{"md5", md5_3}, {"tmk-pdqf", "@/v2/entries/3/fingerprints/TMK_PDQF"}}});
  server_.Put({"e4", 43, "image", false, kT0 - 600, "A1", {{"sha256", sha_4}}});
  server_.Put({"e5", 44, "video", false, kT0 - 500, "A1", {{"pdq", pdq_5}}});
  server_.Put({"e9", 44, "image", false, kT0 + 100, "A1", {{"md5", RandomHex(&rng_, 32)}}});  // after `to`

  SyncResult r;
  SG_ASSERT_OK(SyncBank(store_.get(), "csam-ncmec", options_, &r));
  EXPECT_EQ(r.pages, 3u);
  EXPECT_EQ(r.fetched, 5u);
  EXPECT_EQ(r.added, 6u);
  EXPECT_EQ(r.skipped, 3u);
  EXPECT_EQ(r.skip_reasons.size(), 3u);
  EXPECT_EQ(r.skip_reasons.count("unsupported NCMEC fingerprint type 'sha1'"), 1u);
  EXPECT_EQ(Live("csam-ncmec"), 6u);

  const auto requests = server_.requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_EQ(requests[0].find("from")->second, "1970-01-01T00:00:00Z");
  EXPECT_EQ(requests[0].find("to")->second, Iso(kT0 - 5, false));
  EXPECT_EQ(requests[1].find("start")->second, "3");
  EXPECT_EQ(requests[2].find("start")->second, "5");

  json cp = Checkpoint("csam-ncmec", kNcmecCheckpointKey);
  EXPECT_EQ(cp["to"], kT0 - 5);
  EXPECT_EQ(cp["next"], "");

  auto signals = Signals();
  const bank::Signal& s = signals.at(pdq_1);
  EXPECT_EQ(s.type, bank::SignalType::kPdq);
  EXPECT_EQ(s.external_id, "42-e1");
  EXPECT_EQ(s.source_list, "ncmec");
  EXPECT_EQ(s.source_version.rfind("from=1970-01-01T00:00:00Z;", 0), 0u) << s.source_version;
  json meta = json::parse(s.metadata_json);
  EXPECT_EQ(meta["id"], "e1");
  EXPECT_EQ(meta["member_id"], 42);
  EXPECT_EQ(meta["classification"], "A1");
  EXPECT_EQ(meta["entry_type"], "image");
  EXPECT_EQ(signals.at(sha_4).type, bank::SignalType::kSha256);
  EXPECT_EQ(signals.at(md5_3).external_id, "43-e3");
}

TEST_F(NcmecSyncTest, DeletedEntriesWithdrawAndASecondSyncFetchesOnlyWhatIsNew) {
  const std::string md5_1 = RandomHex(&rng_, 32), pdq_1 = RandomHex(&rng_, 64);
  const std::string md5_2 = RandomHex(&rng_, 32);
  server_.Put({"e1", 42, "image", false, kT0 - 900, "A1", {{"md5", md5_1}, {"pdq", pdq_1}}});
  server_.Put({"e2", 42, "image", false, kT0 - 800, "A1", {{"md5", md5_2}}});
  SyncResult r;
  SG_ASSERT_OK(SyncBank(store_.get(), "csam-ncmec", options_, &r));
  ASSERT_EQ(r.added, 3u);

  std::unique_ptr<bank::Matcher> matcher;
  SG_ASSERT_OK(bank::Matcher::Open(store_.get(), bank::MatcherOptions(), &matcher));
  auto match_md5 = [&](const std::string& hex) {
    std::vector<uint8_t> v;
    EXPECT_TRUE(bank::ParseSignalValue(bank::SignalType::kMd5, hex, &v).ok());
    std::array<uint8_t, 16> d;
    std::copy(v.begin(), v.end(), d.begin());
    bank::MatchQuery q;
    q.md5 = d;
    bank::MatchResult m;
    EXPECT_TRUE(matcher->Match(q, &m).ok());
    return m.hits.size();
  };
  EXPECT_EQ(match_md5(md5_1), 1u);

  // e1 is deleted, e3 is new; e2 is unchanged and must not be fetched again.
  server_.Put({"e1", 42, "image", true, kT0 + 100, "", {}});
  const std::string md5_3 = RandomHex(&rng_, 32);
  server_.Put({"e3", 42, "video", false, kT0 + 50, "A1", {{"md5", md5_3}}});
  server_.ClearLog();
  now_ = kT0 + 1000;
  SG_ASSERT_OK(SyncBank(store_.get(), "csam-ncmec", options_, &r));
  EXPECT_EQ(r.fetched, 2u);
  EXPECT_EQ(r.withdrawn, 2u);  // e1's md5 and pdq
  EXPECT_EQ(r.added, 1u);
  EXPECT_EQ(Live("csam-ncmec"), 2u);
  const auto requests = server_.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].find("from")->second, Iso(kT0 - 5, false));
  EXPECT_EQ(requests[0].find("to")->second, Iso(kT0 + 995, false));

  SG_ASSERT_OK(matcher->Refresh(nullptr));
  EXPECT_EQ(match_md5(md5_1), 0u);
  EXPECT_EQ(match_md5(md5_2), 1u);
  EXPECT_EQ(match_md5(md5_3), 1u);

  // Nothing has changed and the clock has not moved: no request at all.
  server_.ClearLog();
  SG_ASSERT_OK(SyncBank(store_.get(), "csam-ncmec", options_, &r));
  EXPECT_EQ(r.pages, 0u);
  EXPECT_TRUE(server_.requests().empty());
}

TEST_F(NcmecSyncTest, FailureOnPageThreeKeepsPagesOneAndTwoAndTheNextRunContinues) {
  for (int i = 0; i < 7; ++i) {
    server_.Put(
        {"e" + std::to_string(i), 42, "image", false, kT0 - 1000 + i, "A1", {{"md5", RandomHex(&rng_, 32)}}});
  }
  server_.fail_page = 2;
  SyncResult r;
  Status s = SyncBank(store_.get(), "csam-ncmec", options_, &r);
  ASSERT_EQ(s.code(), StatusCode::kUnavailable) << s.ToString();
  EXPECT_EQ(r.pages, 2u);
  EXPECT_EQ(Live("csam-ncmec"), 4u);
  json cp = Checkpoint("csam-ncmec", kNcmecCheckpointKey);
  EXPECT_EQ(cp["from"], 0);
  EXPECT_EQ(cp["to"], kT0 - 5);
  EXPECT_NE(cp["next"].get<std::string>().find("start=5"), std::string::npos) << cp.dump();

  // The clock moved on; the half-done window is finished first, as it was,
  // then what changed since its end is fetched as a new window.
  server_.fail_page = -1;
  server_.ClearLog();
  now_ = kT0 + 500;
  const std::string late = RandomHex(&rng_, 32);
  server_.Put({"late", 42, "image", false, kT0 + 10, "A1", {{"md5", late}}});
  SG_ASSERT_OK(SyncBank(store_.get(), "csam-ncmec", options_, &r));
  EXPECT_EQ(r.pages, 3u);
  EXPECT_EQ(r.fetched, 4u);
  EXPECT_EQ(r.duplicates, 0u);
  EXPECT_EQ(Live("csam-ncmec"), 8u);
  const auto requests = server_.requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_EQ(requests[0].find("start")->second, "5");
  EXPECT_EQ(requests[0].find("to")->second, Iso(kT0 - 5, true));
  EXPECT_EQ(requests[2].find("from")->second, Iso(kT0 - 5, false));
  EXPECT_EQ(requests[2].find("to")->second, Iso(kT0 + 495, false));
  EXPECT_EQ(Checkpoint("csam-ncmec", kNcmecCheckpointKey)["to"], kT0 + 495);
}

TEST_F(NcmecSyncTest, WrongPasswordIsRefusedClearly) {
  server_.Put({"e1", 42, "image", false, kT0 - 900, "A1", {{"md5", RandomHex(&rng_, 32)}}});
  options_.password = "wrong-password-abc";
  SyncResult r;
  Status s = SyncBank(store_.get(), "csam-ncmec", options_, &r);
  ASSERT_EQ(s.code(), StatusCode::kPermissionDenied) << s.ToString();
  EXPECT_NE(s.message().find("check user and password"), std::string::npos) << s.message();
  EXPECT_EQ(s.message().find("wrong-password-abc"), std::string::npos);
  EXPECT_EQ(Live("csam-ncmec"), 0u);
  EXPECT_TRUE(Checkpoint("csam-ncmec", kNcmecCheckpointKey).is_null());
}

TEST_F(NcmecSyncTest, MalformedXmlFailsClearlyAndAppliesNothing) {
  server_.Put({"e1", 42, "image", false, kT0 - 900, "A1", {{"md5", RandomHex(&rng_, 32)}}});
  const std::vector<std::pair<std::string, std::string>> bodies = {
      {"<queryResult><images><image><id>x</id>", "not XML"},
      {"<status><member id=\"1\">x</member></status>", "<queryResult>"},
      {"<queryResult><images><image><id>x</id></image></images></queryResult>", "member"},
      {"<queryResult><images><picture/></images></queryResult>", "picture"},
      {"<queryResult><paging><next>https://elsewhere.example/v2/entries</next></paging></queryResult>",
       "next link"},
      {"{\"json\": true}", "not XML"},
  };
  for (const auto& [body, expected] : bodies) {
    server_.malformed_body = body;
    server_.malformed_page = 0;
    SyncResult r;
    Status s = SyncBank(store_.get(), "csam-ncmec", options_, &r);
    EXPECT_EQ(s.code(), StatusCode::kCorrupt) << s.ToString();
    EXPECT_NE(s.message().find(expected), std::string::npos) << s.message();
    EXPECT_EQ(Live("csam-ncmec"), 0u);
    EXPECT_TRUE(Checkpoint("csam-ncmec", kNcmecCheckpointKey).is_null());
  }
}

TEST_F(NcmecSyncTest, OversizedResponseIsRefused) {
  options_.max_response_bytes = 32 << 10;
  server_.huge_body = 512 << 10;
  server_.huge_chunked = true;
  SyncResult r;
  Status s = SyncBank(store_.get(), "csam-ncmec", options_, &r);
  EXPECT_EQ(s.code(), StatusCode::kTooLarge) << s.ToString();
}

TEST(NcmecClientTest, ParsesThePublishedExampleWithPrefixesAndLinks) {
  // The shape of NCMEC's documented example (python-threatexchange's test
  // data), with made-up values, a namespace prefix, and a link fingerprint.
  const std::string xml = R"(<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<ns2:queryResult xmlns:ns2="https://hashsharing.ncmec.org/hashsharing/v2">
  <ns2:images count="2" maxTimestamp="2017-10-24T15:10:00Z">
    <ns2:image>
      <ns2:member id="42">Example Member</ns2:member>
      <ns2:timestamp>2017-10-24T15:00:00Z</ns2:timestamp>
      <ns2:id>image1</ns2:id>
      <ns2:classification>A1</ns2:classification>
      <ns2:fingerprints>
        <ns2:md5>0123456789abcdef0123456789abcdef</ns2:md5>
        <ns2:tmk-pdqf rel="self" href="/v2/entries/1/fingerprints/TMK_PDQF"/>
      </ns2:fingerprints>
    </ns2:image>
    <ns2:deletedImage>
      <ns2:member id="43">Example Member2</ns2:member>
      <ns2:id>image4</ns2:id>
    </ns2:deletedImage>
  </ns2:images>
  <ns2:paging><ns2:next>/v2/entries?from=a&amp;to=b&amp;start=2001&amp;size=1000&amp;max=3000</ns2:next></ns2:paging>
</ns2:queryResult>)";
  NcmecPage page;
  SG_ASSERT_OK(ParseNcmecPage(xml, &page));
  ASSERT_EQ(page.entries.size(), 2u);
  EXPECT_EQ(page.entries[0].ExternalId(), "42-image1");
  EXPECT_FALSE(page.entries[0].deleted);
  ASSERT_EQ(page.entries[0].fingerprints.size(), 2u);
  EXPECT_EQ(page.entries[0].fingerprints[0].second, "0123456789abcdef0123456789abcdef");
  EXPECT_EQ(page.entries[0].fingerprints[1].first, "tmk-pdqf");
  EXPECT_EQ(page.entries[0].fingerprints[1].second, "");
  EXPECT_TRUE(page.entries[1].deleted);
  EXPECT_EQ(page.entries[1].entry_type, "image");
  EXPECT_EQ(page.next, "/v2/entries?from=a&to=b&start=2001&size=1000&max=3000");
  EXPECT_EQ(NcmecTime(1508857200), "2017-10-24T15:00:00Z");
}

}  // namespace
}  // namespace safeguard::exchange

namespace safeguard::exchange {
namespace {

// The `safeguard bank sync` and `bank feedback` commands end to end: the
// real binary, credentials from the environment only, against the fake.
TEST_F(StopNciiSyncTest, TheCliSyncsResumesAndSendsFeedback) {
  std::vector<std::string> pdq;
  for (int i = 0; i < 4; ++i) pdq.push_back(AddPdq(1000 + i));
  const std::string env = std::string("SAFEGUARD_STOPNCII_API_KEY=") + kSubscriptionKey +
                          " SAFEGUARD_STOPNCII_FUNCTION_KEY=" + kFetchKey +
                          " SAFEGUARD_STOPNCII_FEEDBACK_FUNCTION_KEY=" + kFeedbackKey + " ";
  const std::string data = " --data " + testing::ShellQuote(dir_.path());
  auto run = [&](const std::string& args) { return testing::RunCli(args + data, env); };
  testing::CliResult r = run("bank sync ncii --endpoint " + server_.endpoint());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  json j = json::parse(r.out);
  EXPECT_EQ(j["added"], 4);
  EXPECT_EQ(j["complete"], true);
  EXPECT_EQ(Live("ncii"), 4u);
  for (const std::string& line : {r.out, r.err}) EXPECT_EQ(line.find(kSubscriptionKey), std::string::npos);

  // A second run fetches only what is new; a withdrawal in the feed withdraws.
  server_.Put({"ImagePDQ", pdq[0], "Withdrawn", 2000});
  const std::string fresh = AddPdq(2001);
  r = run("bank sync ncii --endpoint " + server_.endpoint());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  j = json::parse(r.out);
  EXPECT_EQ(j["added"], 1);
  EXPECT_EQ(j["withdrawn"], 1);
  EXPECT_EQ(Live("ncii"), 4u);

  r = run("bank feedback ncii " + pdq[1] + " --value NotBlocked --tag reviewed --endpoint " +
          server_.endpoint());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  {
    std::lock_guard<std::mutex> lock(server_.mu_for_test());
    ASSERT_EQ(server_.feedback_bodies.size(), 1u);
    json body = json::parse(server_.feedback_bodies[0]);
    EXPECT_EQ(body["hashFeedbacks"][0]["hashValue"], pdq[1]);
    EXPECT_EQ(body["hashFeedbacks"][0]["feedbackValue"], "NotBlocked");
  }

  // Without the key in the environment: refused before any request, and
  // said how to fix it.
  r = testing::RunCli("bank sync ncii --endpoint " + server_.endpoint() + data);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("check the API key"), std::string::npos) << r.err;
  (void)fresh;
}

}  // namespace
}  // namespace safeguard::exchange
