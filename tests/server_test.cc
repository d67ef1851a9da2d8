// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// The scanning service end to end over real HTTP on 127.0.0.1: a Server in
// this process on a free port, real SQLite files in a temporary directory,
// cpp-httplib as the client and as the webhook receiver. Benign photos from
// ../shared/media stand in for list entries.

#ifndef CPPHTTPLIB_OPENSSL_SUPPORT
#define CPPHTTPLIB_OPENSSL_SUPPORT  // the TLS test's client
#endif
#include <httplib.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bank_test_env.h"
#include "common/sqlite.h"
#include "gtest/gtest.h"
#include "safeguard/audit/audit_log.h"
#include "safeguard/guard/image_classifier.h"
#include "safeguard/guard/watermark.h"
#include "safeguard/hash/digest.h"
#include "safeguard/hash/image_hasher.h"
#include "safeguard/media/decode.h"
#include "safeguard/server/api_keys.h"
#include "safeguard/server/server.h"
#include "safeguard/server/service_db.h"
#include "safeguard/server/webhooks.h"
#include "server_test_util.h"
#include "test_util.h"

namespace safeguard::server {
namespace {

using Json = nlohmann::json;
using bank::testing::TempDir;
using safeguard::testing::Base64;
using safeguard::testing::ReadBytes;

// Line-buffered output: if a test ever hangs until ctest kills it, what it
// printed before the hang is still in the log.
const int kLineBuffered = std::setvbuf(stdout, nullptr, _IOLBF, 0);

const std::string kShared = SAFEGUARD_SHARED_DIR;
const std::string kFlower = kShared + "/media/photos/python3-sklearn/flower.jpg";
const std::string kChina = kShared + "/media/photos/python3-sklearn/china.jpg";

std::string PdqOf(const std::string& path) {
  hash::ImageHasher hasher;
  hash::FileHashes h;
  EXPECT_TRUE(hasher.HashFile(path, &h).ok()) << path;
  char buf[65];
  h.pdq.hash.ToHex(buf);
  return std::string(buf, 64);
}

using testing::CreateKey;

// Receives webhooks on 127.0.0.1 and keeps them.
class Receiver {
 public:
  explicit Receiver(int port = 0) {
    server_.Post("/hook", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard<std::mutex> lock(mu_);
      events_.push_back({req.get_header_value("Safeguard-Event-Type"),
                         req.get_header_value("Safeguard-Signature"), req.body});
      res.status = 200;
    });
    port_ = port == 0 ? server_.bind_to_any_port("127.0.0.1")
                      : (server_.bind_to_port("127.0.0.1", port) ? port : -1);
    EXPECT_GT(port_, 0);
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    // stop() before the listen loop runs would be lost and join would hang.
    while (port_ > 0 && !server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~Receiver() {
    server_.stop();
    thread_.join();
  }
  struct Event {
    std::string type, signature, body;
  };
  std::vector<Event> events() {
    std::lock_guard<std::mutex> lock(mu_);
    return events_;
  }
  // Waits (up to a generous deadline) until n events arrived.
  std::vector<Event> WaitFor(size_t n) {
    for (int i = 0; i < 600 && events().size() < n; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    return events();
  }
  int port() const { return port_; }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::vector<Event> events_;
};

class ServerTest : public ::testing::Test {
 protected:
  void StartServer(const std::string& config_json = "") {
    ServerOptions o;
    o.data_dir = dir_.path();
    o.listen = "127.0.0.1:0";
    o.threads = 2;
    o.log = [this](std::string_view line) {
      std::lock_guard<std::mutex> lock(log_mu_);
      log_.emplace_back(line);
    };
    if (!config_json.empty()) {
      o.config_path = dir_.path() + "/config.json";
      std::ofstream(o.config_path) << config_json;
    }
    Status s = Server::Start(o, &server_);
    ASSERT_TRUE(s.ok()) << s.ToString();
    ASSERT_TRUE(server_->WaitReady(std::chrono::seconds(60)).ok());
    client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
    client_->set_connection_timeout(10, 0);
    client_->set_read_timeout(60, 0);
  }
  void TearDown() override {
    if (server_) server_->Shutdown(std::chrono::seconds(5));
  }

  httplib::Headers Auth(const std::string& key) { return {{"Authorization", "Bearer " + key}}; }

  Json Call(const std::string& method, const std::string& path, const std::string& key,
            const std::string& body, int expect_status,
            const std::string& content_type = "application/json") {
    httplib::Result r = method == "GET"      ? client_->Get(path, Auth(key))
                        : method == "DELETE" ? client_->Delete(path, Auth(key))
                        : method == "PATCH"  ? client_->Patch(path, Auth(key), body, content_type)
                                             : client_->Post(path, Auth(key), body, content_type);
    EXPECT_TRUE(r) << method << " " << path;
    if (!r) return Json();
    EXPECT_EQ(r->status, expect_status) << method << " " << path << ": " << r->body;
    Json j = Json::parse(r->body, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << r->body;
    if (r->status >= 400) {
      EXPECT_TRUE(j.contains("error") && j["error"].contains("code") && j["error"].contains("message"))
          << r->body;
    }
    return j;
  }

  // A curate key and a bank of `category` holding the PDQ of `photo`.
  void MakeBank(const std::string& key, const std::string& name, const std::string& category,
                const std::string& photo) {
    Call("POST", "/v1/banks", key, Json{{"name", name}, {"category", category}}.dump(), 201);
    Json add = Json{{"signals", {{{"type", "pdq"}, {"value", PdqOf(photo)}, {"external_id", name + "-1"}}}}};
    Json r = Call("POST", "/v1/banks/" + name + "/signals", key, add.dump(), 200);
    EXPECT_EQ(r["added"], 1);
  }

  TempDir dir_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<httplib::Client> client_;
  std::mutex log_mu_;
  std::vector<std::string> log_;
};

TEST_F(ServerTest, HealthReadinessMetricsAndOpenApiNeedNoKey) {
  StartServer();
  EXPECT_TRUE(server_->ready());
  Json h = Call("GET", "/healthz", "", "", 200);
  EXPECT_EQ(h["status"], "ok");
  Json r = Call("GET", "/readyz", "", "", 200);
  EXPECT_EQ(r["ready"], true);
  auto m = client_->Get("/metrics");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->status, 200);
  EXPECT_NE(m->body.find("safeguard_http_requests_total{route=\"health\",code=\"2xx\"} 2"), std::string::npos)
      << m->body;
  EXPECT_NE(m->body.find("safeguard_index_pdq_entries 0"), std::string::npos);
  EXPECT_NE(m->body.find("safeguard_webhook_backlog"), std::string::npos);
  Json api = Call("GET", "/v1/openapi.json", "", "", 200);
  EXPECT_EQ(api["openapi"], "3.0.3");
  for (const char* path :
       {"/v1/scan", "/v1/hash", "/v1/lookup", "/v1/banks", "/v1/banks/{name}", "/v1/banks/{name}/signals",
        "/v1/banks/{name}/import", "/v1/banks/{name}/withdraw", "/v1/decisions/{id}", "/healthz", "/readyz",
        "/metrics", "/v1/guard/output", "/v1/guard/accounts/{id}", "/v1/cases", "/v1/cases/{id}",
        "/v1/cases/{id}/actions", "/v1/reports/ncii"}) {
    EXPECT_TRUE(api["paths"].contains(path)) << path;
  }
  Call("GET", "/v1/nothing", "", "", 404);
}

TEST_F(ServerTest, KeysAreCheckedAndScoped) {
  StartServer();
  const std::string scan = CreateKey(dir_.path(), "scan");
  const std::string curate = CreateKey(dir_.path(), "curate");
  std::string admin_id;
  const std::string admin = CreateKey(dir_.path(), "admin", &admin_id);
  auto no_key = client_->Get("/v1/banks");
  ASSERT_TRUE(no_key);
  EXPECT_EQ(no_key->status, 401);
  EXPECT_EQ(no_key->get_header_value("WWW-Authenticate"), "Bearer");
  Call("GET", "/v1/banks", "sg_123", "", 401);
  Call("GET", "/v1/banks", "sg_0123456789abcdef_" + std::string(64, '0'), "", 401);
  Json denied = Call("GET", "/v1/banks", scan, "", 403);
  EXPECT_NE(denied["error"]["message"].get<std::string>().find("curate"), std::string::npos);
  Call("GET", "/v1/banks", curate, "", 200);
  Call("GET", "/v1/banks", admin, "", 200);
  Call("GET", "/v1/lookup?md5=" + std::string(32, '0'), curate, "", 403);
  Call("GET", "/v1/lookup?md5=" + std::string(32, '0'), scan, "", 200);
  Call("GET", "/v1/lookup?md5=" + std::string(32, '0'), admin, "", 200);
  // A key's text never appears in an answer.
  auto r = client_->Get("/v1/banks", Auth(scan));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body.find(scan), std::string::npos);

  // Revoked with the CLI's code path while the server runs: refused within
  // the documented second.
  {
    std::unique_ptr<sqlite::Conn> conn;
    ASSERT_TRUE(OpenServiceDb(dir_.path(), false, &conn).ok());
    std::mutex mu;
    std::unique_ptr<KeyStore> keys;
    ASSERT_TRUE(KeyStore::Open(conn.get(), &mu, nullptr, &keys).ok());
    ApiKey k;
    ASSERT_TRUE(keys->Revoke(admin_id, &k).ok());
    EXPECT_NE(k.revoked_ms, 0);
  }
  int status = 200;
  for (int i = 0; i < 100 && status == 200; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    auto g = client_->Get("/v1/banks", Auth(admin));
    ASSERT_TRUE(g);
    status = g->status;
  }
  EXPECT_EQ(status, 401);
}

// Requests never checkpoint service.db themselves (a checkpoint inside a
// commit held every other scan up to 0.5 s); the server's background
// thread copies the write-ahead log into the database file within about a
// second. Seen from outside: a copy of the database file alone, without
// its log, soon holds the decisions just committed.
TEST_F(ServerTest, ServiceDbIsCheckpointedInTheBackground) {
  StartServer();
  const std::string scan = CreateKey(dir_.path(), "scan");
  for (int i = 0; i < 5; ++i) Call("POST", "/v1/scan", scan, ReadBytes(kChina), 200, "image/jpeg");
  const std::string copy = dir_.path() + "/service-copy.db";
  int64_t decisions = 0;
  for (int attempt = 0; attempt < 50 && decisions < 5; ++attempt) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    std::filesystem::copy_file(dir_.path() + "/service.db", copy,
                               std::filesystem::copy_options::overwrite_existing);
    std::filesystem::remove(copy + "-wal");
    std::filesystem::remove(copy + "-shm");
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open_v2(copy.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr), SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM decisions", -1, &st, nullptr) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
      decisions = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
  }
  EXPECT_EQ(decisions, 5) << "the decisions did not reach service.db itself within 10 s";
}

TEST_F(ServerTest, ScanDecidesRecordsAuditsAndSignsAWebhook) {
  Receiver receiver;
  setenv("SAFEGUARD_TEST_WEBHOOK_SECRET", "test-secret-not-a-real-one", 1);
  StartServer(R"({"webhooks": {"endpoints": [{"name": "moderation", "url": "http://127.0.0.1:)" +
              std::to_string(receiver.port()) +
              R"(/hook", "secret_env": "SAFEGUARD_TEST_WEBHOOK_SECRET"}]}})");
  const std::string curate = CreateKey(dir_.path(), "curate");
  const std::string scan = CreateKey(dir_.path(), "scan");
  const std::string review = CreateKey(dir_.path(), "review");
  MakeBank(curate, "stand-in-list", "csam", kFlower);

  Json d = Call("POST", "/v1/scan?content_id=upload-42", scan, ReadBytes(kFlower), 200, "image/jpeg");
  EXPECT_EQ(d["action"], "block");
  EXPECT_EQ(d["actions"]["quarantine"], true);
  EXPECT_EQ(d["actions"]["report"], true);
  EXPECT_EQ(d["content_id"], "upload-42");
  EXPECT_EQ(d["decoded"], true);
  ASSERT_EQ(d["matches"].size(), 1u);
  EXPECT_EQ(d["matches"][0]["bank"], "stand-in-list");
  EXPECT_EQ(d["matches"][0]["external_id"], "stand-in-list-1");
  EXPECT_EQ(d["matches"][0]["distance"], 0);
  EXPECT_EQ(d["hashes"]["pdq"], PdqOf(kFlower));
  const std::string id = d["decision_id"];

  // Recorded: the same record comes back, for the review scope.
  Json again = Call("GET", "/v1/decisions/" + id, review, "", 200);
  EXPECT_EQ(again, d);
  Call("GET", "/v1/decisions/" + id, scan, "", 403);
  Call("GET", "/v1/decisions/d_nope", review, "", 404);

  // A non-matching photo is allowed, recorded, and (default subscription)
  // sends no webhook.
  Json allow = Call("POST", "/v1/scan", scan, ReadBytes(kChina), 200, "image/jpeg");
  EXPECT_EQ(allow["action"], "allow");
  EXPECT_EQ(allow["matches"].size(), 0u);
  Call("GET", "/v1/decisions/" + allow["decision_id"].get<std::string>(), review, "", 200);

  // The webhook: signed with the secret, the decision as its body.
  auto events = receiver.WaitFor(1);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type, "decision.block");
  EXPECT_EQ(Json::parse(events[0].body)["decision_id"], id);
  const int64_t now =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  EXPECT_TRUE(
      VerifyWebhookSignature(events[0].signature, "test-secret-not-a-real-one", events[0].body, now, 300)
          .ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(receiver.events().size(), 1u);

  // The audit log: intact, with the configuration, the bank changes and
  // both decisions, and no secret or media in it.
  server_->Shutdown(std::chrono::seconds(5));
  std::unique_ptr<audit::AuditLog> log;
  ASSERT_TRUE(audit::AuditLog::OpenFile(ServiceDbPath(dir_.path()), &log).ok());
  audit::VerifyResult v;
  ASSERT_TRUE(log->Verify(&v).ok());
  EXPECT_TRUE(v.ok) << v.problem;
  std::vector<std::string> actions;
  std::string all;
  ASSERT_TRUE(log->Export(0, INT64_MAX,
                          [&](const audit::Record& r) {
                            actions.push_back(r.event.action);
                            all += audit::RecordToJson(r);
                            return Status::Ok();
                          })
                  .ok());
  // The CSAM match is a report candidate: its case and sealed evidence are
  // recorded in the same transaction as its decision.
  EXPECT_EQ(actions, (std::vector<std::string>{"config.load", "bank.create", "signals.add", "case.open",
                                               "evidence.put", "decision", "decision"}));
  EXPECT_EQ(all.find("test-secret-not-a-real-one"), std::string::npos);
  EXPECT_NE(all.find(id), std::string::npos);
  EXPECT_NE(all.find("SAFEGUARD_TEST_WEBHOOK_SECRET"), std::string::npos);  // the reference, not the secret
}

TEST_F(ServerTest, UndecodableUploadsFailClosedButTheirDigestsStillMatch) {
  StartServer();
  const std::string admin = CreateKey(dir_.path(), "admin");
  const std::string junk = "these bytes are not an image at all";
  Json d = Call("POST", "/v1/scan", admin, junk, 200, "application/octet-stream");
  EXPECT_EQ(d["action"], "block");
  EXPECT_EQ(d["decoded"], false);
  EXPECT_EQ(d["decode_error"]["code"], "unsupported_format");
  EXPECT_EQ(d["reasons"][0]["kind"], "undecodable");
  EXPECT_FALSE(d["hashes"].contains("pdq"));

  // The same bytes on an exact list: both reasons, the list's actions too.
  const std::string sha = hash::ToHex(
      hash::Sha256(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(junk.data()), junk.size())));
  Call("POST", "/v1/banks", admin, R"({"name": "exact", "category": "ncii"})", 201);
  Call("POST", "/v1/banks/exact/signals", admin,
       Json{{"signals", {{{"type", "sha256"}, {"value", sha}}}}}.dump(), 200);
  d = Call("POST", "/v1/scan", admin, junk, 200, "application/octet-stream");
  EXPECT_EQ(d["actions"]["review"], true);
  ASSERT_EQ(d["reasons"].size(), 2u);
  EXPECT_EQ(d["matches"][0]["type"], "sha256");

  // Configured to hold such files for review instead.
  server_->Shutdown(std::chrono::seconds(5));
  server_.reset();
  StartServer(R"({"policy": {"on_undecodable": ["review"]}})");
  d = Call("POST", "/v1/scan", admin, "other junk", 200, "application/octet-stream");
  EXPECT_EQ(d["action"], "review");

  Call("POST", "/v1/scan", admin, "", 400, "application/octet-stream");
}

// Videos through the API: /v1/hash gives vPDQ text and the .tmk in base64,
// which /v1/banks/{name}/signals takes back; /v1/scan then blocks a trimmed
// cut of the listed video (vPDQ and TMK) and lets another scene through.
TEST_F(ServerTest, VideoUploadsAreHashedBankedAndScanned) {
  StartServer();
  const std::string admin = CreateKey(dir_.path(), "admin");
  auto video = [](const std::string& name) {
    return ReadBytes(kShared + "/video-vectors/videos/" + name + ".mp4");
  };
  Json h = Call("POST", "/v1/hash?vpdq_seconds=0", admin, video("chair-orig-22-sd-bar"), 200,
                "application/octet-stream");
  EXPECT_EQ(h["media"], "video");
  const std::string vpdq = h["vpdq"].get<std::string>();
  EXPECT_EQ(std::count(vpdq.begin(), vpdq.end(), '\n'), 673);  // every frame
  const std::string tmk = h["tmk"].get<std::string>();
  Call("POST", "/v1/hash?vpdq_seconds=-1", admin, video("doorknob-hd-no-bar"), 400,
       "application/octet-stream");

  Call("POST", "/v1/banks", admin, R"({"name": "videos", "category": "csam"})", 201);
  Json add = Call("POST", "/v1/banks/videos/signals", admin,
                  Json{{"signals",
                        {{{"type", "vpdq"}, {"value", vpdq}, {"external_id", "case-9"}},
                         {{"type", "tmk"}, {"value", tmk}, {"external_id", "case-9"}}}}}
                      .dump(),
                  200);
  EXPECT_EQ(add["added"], 2);
  auto metrics = client_->Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("safeguard_index_vpdq_signals 1"), std::string::npos);
  EXPECT_NE(metrics->body.find("safeguard_index_tmk_signals 1"), std::string::npos);
  EXPECT_NE(metrics->body.find("safeguard_index_unreadable_video_signals 0"), std::string::npos);
  // Values that do not parse are refused, naming the signal.
  Json bad = Call("POST", "/v1/banks/videos/signals", admin,
                  Json{{"signals", {{{"type", "tmk"}, {"value", "bm90IGEgdG1rIGZpbGU="}}}}}.dump(), 400);
  EXPECT_NE(bad["error"]["message"].get<std::string>().find("signals[0]"), std::string::npos);
  Call("POST", "/v1/banks/videos/signals", admin,
       Json{{"signals", {{{"type", "vpdq"}, {"value", "0,100,zz,0.0"}}}}}.dump(), 400);

  Json d = Call("POST", "/v1/scan", admin, video("chair-19-sd-bar"), 200, "application/octet-stream");
  EXPECT_EQ(d["media"], "video");
  EXPECT_EQ(d["decoded"], true);
  EXPECT_EQ(d["action"], "block");
  std::set<std::string> types;
  for (const auto& m : d["matches"]) {
    types.insert(m["type"].get<std::string>());
    EXPECT_EQ(m["external_id"], "case-9");
  }
  EXPECT_EQ(types, (std::set<std::string>{"vpdq", "tmk"}));
  EXPECT_GT(d["hashes"]["vpdq_frames"].get<int>(), 10);
  EXPECT_FALSE(d["hashes"].contains("pdq"));

  d = Call("POST", "/v1/scan", admin, video("doorknob-hd-no-bar"), 200, "application/octet-stream");
  EXPECT_EQ(d["action"], "allow");
  EXPECT_TRUE(d["matches"].empty());

  // A broken video is undecodable: fail closed, as for images.
  const std::string cut = video("chair-19-sd-bar").substr(0, 3000);
  d = Call("POST", "/v1/scan", admin, cut, 200, "application/octet-stream");
  EXPECT_EQ(d["decoded"], false);
  EXPECT_EQ(d["action"], "block");
}

// POST /v1/guard/prompt: the verdict of the generation guard, recorded in
// the audit log by the prompt's SHA-256 and spans, never its text. The
// refused prompt here is one list word, not a request for anything.
TEST_F(ServerTest, GuardPromptScreensRecordsAndRefusesBadRequests) {
  StartServer(R"({"guard": {"sexual_content": "block", "strikes": {"cooldown_at": 2, "cooldown_s": 600}}})");
  const std::string scan = CreateKey(dir_.path(), "scan");
  Json ok =
      Call("POST", "/v1/guard/prompt", scan,
           Json{{"prompt", "a child building a sandcastle on the beach"}, {"account_id", "u-1"}}.dump(), 200);
  EXPECT_EQ(ok["decision"], "allow");
  EXPECT_EQ(ok["account_id"], "u-1");
  EXPECT_EQ(ok["rules"].size(), 0u);
  EXPECT_EQ(ok["lists_version"].get<std::string>().rfind("2026-", 0), 0u) << ok.dump();
  const std::string word = "N\u200BAKED";  // a zero-width space inside
  Json no = Call("POST", "/v1/guard/prompt", scan,
                 "{\"prompt\": \"" + word + " lipstick? no: " + word + "\", \"account_id\": \"u-2\"}", 200);
  EXPECT_EQ(no["decision"], "block");
  ASSERT_GE(no["rules"].size(), 1u);
  EXPECT_EQ(no["rules"][0]["rule"], "sexual_content");
  EXPECT_EQ(no["rules"][0]["spans"][0]["begin"], 0);
  EXPECT_EQ(no["rules"][0]["spans"][0]["end"], 8);  // bytes of the prompt as sent

  // A second refusal for the same account starts its cool-down: then even
  // a harmless prompt is refused, for that account only.
  const std::string refused = "{\"prompt\": \"" + word + "\", \"account_id\": \"u-2\"}";
  Call("POST", "/v1/guard/prompt", scan, refused, 200);
  Json cooled = Call("POST", "/v1/guard/prompt", scan,
                     Json{{"prompt", "a red fox"}, {"account_id", "u-2"}}.dump(), 200);
  EXPECT_EQ(cooled["decision"], "block");
  EXPECT_EQ(cooled["rules"][0]["rule"], "account_cooldown");
  EXPECT_EQ(Call("POST", "/v1/guard/prompt", scan,
                 Json{{"prompt", "a red fox"}, {"account_id", "u-1"}}.dump(), 200)["decision"],
            "allow");

  // Bad requests, each with a message.
  Call("POST", "/v1/guard/prompt", scan, Json{{"prompt", "a fox"}}.dump(), 400);
  Call("POST", "/v1/guard/prompt", scan, Json{{"account_id", "u"}}.dump(), 400);
  Call("POST", "/v1/guard/prompt", scan, Json{{"prompt", "a fox"}, {"account_id", "u"}, {"x", 1}}.dump(),
       400);
  Call("POST", "/v1/guard/prompt", scan, "not json", 400);
  Call("POST", "/v1/guard/prompt", scan,
       Json{{"prompt", std::string(70000, 'a')}, {"account_id", "u"}}.dump(), 413);
  Call("GET", "/v1/guard/prompt", scan, "", 400);  // wrong method, as on every route
  Call("POST", "/v1/guard/prompt", "", Json{{"prompt", "a fox"}, {"account_id", "u"}}.dump(), 401);

  server_->Shutdown(std::chrono::seconds(5));
  std::unique_ptr<audit::AuditLog> log;
  ASSERT_TRUE(audit::AuditLog::OpenFile(ServiceDbPath(dir_.path()), &log).ok());
  std::string all;
  int guard_records = 0;
  ASSERT_TRUE(log->Export(0, INT64_MAX,
                          [&](const audit::Record& r) {
                            if (r.event.action == "guard.prompt") ++guard_records;
                            all += audit::RecordToJson(r);
                            return Status::Ok();
                          })
                  .ok());
  EXPECT_EQ(guard_records, 5);
  EXPECT_EQ(all.find("sandcastle"), std::string::npos);
  EXPECT_EQ(all.find("AKED"), std::string::npos);
  EXPECT_NE(all.find("prompt_sha256"), std::string::npos);
  EXPECT_NE(all.find("\"sexual_content\""), std::string::npos);
}

// The inverse, for answers that carry an image.
bool DecodeBase64ForTest(const std::string& in, std::vector<uint8_t>* out) {
  if (in.empty() || in.size() % 4 != 0) return false;
  out->resize(in.size() / 4 * 3);
  const int n = EVP_DecodeBlock(out->data(), reinterpret_cast<const unsigned char*>(in.data()),
                                static_cast<int>(in.size()));
  if (n < 0) return false;
  size_t size = static_cast<size_t>(n);
  if (in.back() == '=') --size;
  if (in[in.size() - 2] == '=') --size;
  out->resize(size);
  return true;
}

// POST /v1/guard/input: a photo (base64) and the edit prompt. The portrait
// is a public-domain NASA photograph from Debian's python3-skimage; the
// bank holds a benign photo standing in for a list entry.
TEST_F(ServerTest, GuardInputChecksBanksFacesAndPrompt) {
  StartServer();
  const std::string curate = CreateKey(dir_.path(), "curate");
  const std::string scan = CreateKey(dir_.path(), "scan");
  MakeBank(curate, "stand-in-list", "ncii", kFlower);
  const std::string portrait = ReadBytes("/usr/lib/python3/dist-packages/skimage/data/astronaut.png");
  auto body = [](const std::string& image, const std::string& prompt) {
    return Json{{"image_base64", Base64(image)}, {"prompt", prompt}, {"account_id", "u-7"}}.dump();
  };
  Json ok = Call("POST", "/v1/guard/input", scan, body(portrait, "make the sky blue"), 200);
  EXPECT_EQ(ok["decision"], "allow") << ok.dump();
  EXPECT_GE(ok["faces"].size(), 1u);
  EXPECT_EQ(ok["decoded"], true);
  Json no = Call("POST", "/v1/guard/input", scan, body(portrait, "UNDRESS"), 200);
  EXPECT_EQ(no["decision"], "block");
  EXPECT_EQ(no["rules"][0]["rule"], "face_undress");
  Json banked = Call("POST", "/v1/guard/input", scan, body(ReadBytes(kFlower), "make the sky blue"), 200);
  EXPECT_EQ(banked["decision"], "block");
  EXPECT_EQ(banked["rules"][0]["rule"], "input_in_bank");
  ASSERT_EQ(banked["input_matches"].size(), 1u);
  EXPECT_EQ(banked["input_matches"][0]["bank"], "stand-in-list");
  Json junk = Call("POST", "/v1/guard/input", scan, body("not an image", "make the sky blue"), 200);
  EXPECT_EQ(junk["decision"], "block");
  EXPECT_EQ(junk["rules"][0]["rule"], "input_not_an_image");
  // Malformed requests.
  Call("POST", "/v1/guard/input", scan, Json{{"prompt", "x"}, {"account_id", "u"}}.dump(), 400);
  Call("POST", "/v1/guard/input", scan,
       Json{{"image_base64", "not base64!"}, {"prompt", "x"}, {"account_id", "u"}}.dump(), 400);

  server_->Shutdown(std::chrono::seconds(5));
  std::unique_ptr<audit::AuditLog> log;
  ASSERT_TRUE(audit::AuditLog::OpenFile(ServiceDbPath(dir_.path()), &log).ok());
  std::string all;
  int records = 0;
  ASSERT_TRUE(log->Export(0, INT64_MAX,
                          [&](const audit::Record& r) {
                            if (r.event.action == "guard.input") ++records;
                            all += audit::RecordToJson(r);
                            return Status::Ok();
                          })
                  .ok());
  EXPECT_EQ(records, 4);
  EXPECT_EQ(all.find("UNDRESS"), std::string::npos);
  EXPECT_EQ(all.find(Base64(portrait).substr(0, 40)), std::string::npos);
  EXPECT_NE(all.find("image_sha256"), std::string::npos);
}

TEST_F(ServerTest, GuardOutputMarksWhatItAllowsAndRecordsEveryDecision) {
  // A stand-in classifier (the nsfwjs model with its Neutral score raising
  // output_sexual) refuses the benign landscape; the portrait passes.
  const std::string standin =
      Json{{"name", "standin"},
           {"model", guard::NsfwModelPath()},
           {"labels", {"Drawing", "Hentai", "Neutral", "Porn", "Sexy"}},
           {"signals", {{{"category", "output_sexual"}, {"labels", {"Neutral"}}, {"threshold", 0.97}}}}}
          .dump();
  StartServer("{\"guard\": {\"classifiers\": [" + standin + "]}}");
  const std::string scan = CreateKey(dir_.path(), "scan");
  const std::string portrait = ReadBytes("/usr/lib/python3/dist-packages/skimage/data/astronaut.png");
  const std::string landscape =
      ReadBytes(kShared + "/media/photos/gcompris-qt-data/categorization_arcDeTriomphe.webp");
  Json ok = Call("POST", "/v1/guard/output", scan,
                 Json{{"image_base64", Base64(portrait)},
                      {"prompt", "an astronaut"},
                      {"account_id", "u-9"},
                      {"generation_id", "987654321"}}
                     .dump(),
                 200);
  ASSERT_EQ(ok["decision"], "allow") << ok.dump();
  EXPECT_EQ(ok["generation_id"], "987654321");
  EXPECT_EQ(ok["image_format"], "png");
  ASSERT_TRUE(ok["image_base64"].is_string());
  // The image returned carries the mark under the key the server made.
  std::ifstream key_in(dir_.path() + "/watermark.key");
  std::string key_hex;
  std::getline(key_in, key_hex);
  guard::WatermarkKey key;
  ASSERT_TRUE(guard::ParseWatermarkKey(key_hex, &key).ok()) << key_hex;
  std::vector<uint8_t> marked_bytes;
  ASSERT_TRUE(DecodeBase64ForTest(ok["image_base64"].get<std::string>(), &marked_bytes));
  media::Image marked;
  ASSERT_TRUE(media::DecodeImage(marked_bytes, media::DecodeOptions(), &marked).ok());
  guard::WatermarkTrace trace;
  ASSERT_TRUE(guard::TraceWatermark(marked, key, &trace).ok());
  EXPECT_TRUE(trace.found);
  EXPECT_EQ(trace.generation_id, 987654321u);

  Json no = Call("POST", "/v1/guard/output", scan,
                 Json{{"image_base64", Base64(landscape)}, {"account_id", "u-9"}}.dump(), 200);
  EXPECT_EQ(no["decision"], "block") << no.dump();
  EXPECT_EQ(no["rules"][0]["rule"], "output_sexual");
  EXPECT_FALSE(no.contains("image_base64"));
  EXPECT_EQ(no["marked"], false);
  // An edit of the portrait that came out "sexual" (the stand-in): blocked
  // whatever the prompt.
  Json edit = Call("POST", "/v1/guard/output", scan,
                   Json{{"image_base64", Base64(landscape)},
                        {"input_image_base64", Base64(portrait)},
                        {"prompt", "make the sky blue"},
                        {"account_id", "u-9"}}
                       .dump(),
                   200);
  EXPECT_EQ(edit["decision"], "block");
  EXPECT_EQ(edit["photo_edit"], true);
  EXPECT_GE(edit["input_faces"].size(), 1u);
  // Malformed requests.
  Call("POST", "/v1/guard/output", scan, Json{{"account_id", "u"}}.dump(), 400);
  Call("POST", "/v1/guard/output", scan,
       Json{{"image_base64", Base64(portrait)}, {"account_id", "u"}, {"generation_id", 5}}.dump(), 400);
  Call("POST", "/v1/guard/output", scan,
       Json{{"image_base64", Base64(portrait)}, {"account_id", "u"}, {"generation_id", "0"}}.dump(), 400);
  Call("POST", "/v1/guard/output", scan,
       Json{{"image_base64", Base64(portrait)}, {"account_id", "u"}, {"input_image_base64", "%%%"}}.dump(),
       400);
  Call("POST", "/v1/guard/output", scan,
       Json{{"image_base64", Base64(portrait)}, {"account_id", "u"}, {"colour", "red"}}.dump(), 400);

  server_->Shutdown(std::chrono::seconds(5));
  std::unique_ptr<audit::AuditLog> log;
  ASSERT_TRUE(audit::AuditLog::OpenFile(ServiceDbPath(dir_.path()), &log).ok());
  std::string all;
  int records = 0;
  ASSERT_TRUE(log->Export(0, INT64_MAX,
                          [&](const audit::Record& r) {
                            if (r.event.action == "guard.output") ++records;
                            all += audit::RecordToJson(r);
                            return Status::Ok();
                          })
                  .ok());
  EXPECT_EQ(records, 3);
  EXPECT_NE(all.find("987654321"), std::string::npos);
  EXPECT_NE(all.find("input_sha256"), std::string::npos);
  EXPECT_EQ(all.find(Base64(portrait).substr(0, 40)), std::string::npos);
  EXPECT_EQ(all.find("an astronaut"), std::string::npos);
}

// A moderator reads an account's standing and lifts its cool-down or
// suspension (scope review); the reinstatement is audited with its reason.
TEST_F(ServerTest, GuardAccountsAreReadAndReinstatedByAModerator) {
  StartServer(R"({"guard": {"strikes": {"cooldown_at": 0, "suspend_at": 2}}})");
  const std::string scan = CreateKey(dir_.path(), "scan");
  const std::string review = CreateKey(dir_.path(), "review");
  const std::string refused = Json{{"prompt", "N4KED"}, {"account_id", "u-5"}}.dump();
  for (int i = 0; i < 2; ++i) Call("POST", "/v1/guard/prompt", scan, refused, 200);
  Json st = Call("GET", "/v1/guard/accounts/u-5", review, "", 200);
  EXPECT_EQ(st["account_id"], "u-5");
  EXPECT_EQ(st["suspended"], true) << st.dump();
  EXPECT_EQ(st["strikes"], 2);
  Json fox = Call("POST", "/v1/guard/prompt", scan,
                  Json{{"prompt", "a red fox"}, {"account_id", "u-5"}}.dump(), 200);
  EXPECT_EQ(fox["decision"], "block_review");
  EXPECT_EQ(fox["rules"][0]["rule"], "account_suspended");
  // The scan key may not read or reinstate; a bad body is refused.
  Call("GET", "/v1/guard/accounts/u-5", scan, "", 403);
  Call("POST", "/v1/guard/accounts/u-5/reinstate", review, Json{{"why", "x"}}.dump(), 400);
  Call("POST", "/v1/guard/accounts/u-5/unban", review, "", 404);
  Json back = Call("POST", "/v1/guard/accounts/u-5/reinstate", review,
                   Json{{"reason", "appeal upheld, case 17"}}.dump(), 200);
  EXPECT_EQ(back["suspended"], false);
  EXPECT_EQ(back["strikes"], 0);
  EXPECT_TRUE(back["cooldown_until"].is_null());
  fox = Call("POST", "/v1/guard/prompt", scan, Json{{"prompt", "a red fox"}, {"account_id", "u-5"}}.dump(),
             200);
  EXPECT_EQ(fox["decision"], "allow") << fox.dump();
  // An account never seen stands clean.
  Json fresh = Call("GET", "/v1/guard/accounts/nobody", review, "", 200);
  EXPECT_EQ(fresh["strikes"], 0);
  EXPECT_EQ(fresh["suspended"], false);

  server_->Shutdown(std::chrono::seconds(5));
  std::unique_ptr<audit::AuditLog> log;
  ASSERT_TRUE(audit::AuditLog::OpenFile(ServiceDbPath(dir_.path()), &log).ok());
  int reinstated = 0;
  ASSERT_TRUE(log->Export(0, INT64_MAX,
                          [&](const audit::Record& r) {
                            if (r.event.action == "guard.reinstate") {
                              ++reinstated;
                              EXPECT_EQ(r.event.subject, "u-5");
                              EXPECT_NE(r.event.details_json.find("appeal upheld"), std::string::npos);
                            }
                            return Status::Ok();
                          })
                  .ok());
  EXPECT_EQ(reinstated, 1);
}

// Cases: a scan held for review, a guard report candidate and a report of
// an intimate image each open one; moderators see the queue, act, and every
// step is in the case's history and the audit log.
TEST_F(ServerTest, CasesOpenFromScansGuardAndReportsAndModeratorsWorkThem) {
  // The stand-in "CSAM classifier" fires on any image: a benign portrait
  // becomes a report candidate without any abusive content.
  const std::string standin =
      Json{{"name", "standin"},
           {"model", guard::NsfwModelPath()},
           {"labels", {"Drawing", "Hentai", "Neutral", "Porn", "Sexy"}},
           {"signals", {{{"category", "output_csam"}, {"labels", {"Neutral"}}, {"threshold", 0}}}}}
          .dump();
  StartServer("{\"guard\": {\"classifiers\": [" + standin + "]}}");
  const std::string admin = CreateKey(dir_.path(), "admin");
  const std::string scan = CreateKey(dir_.path(), "scan");
  const std::string review = CreateKey(dir_.path(), "review");
  MakeBank(admin, "other-list", "other", kFlower);

  Json held = Call("POST", "/v1/scan", scan, ReadBytes(kFlower), 200, "image/jpeg");
  ASSERT_EQ(held["action"], "review") << held.dump();
  ASSERT_TRUE(held["case_id"].is_number()) << held.dump();
  // An allowed upload opens no case.
  EXPECT_FALSE(Call("POST", "/v1/scan", scan, ReadBytes(kChina), 200, "image/jpeg").contains("case_id"));
  const std::string portrait = ReadBytes("/usr/lib/python3/dist-packages/skimage/data/astronaut.png");
  Json reported = Call("POST", "/v1/guard/output", scan,
                       Json{{"image_base64", Base64(portrait)}, {"account_id", "u-3"}}.dump(), 200);
  ASSERT_EQ(reported["decision"], "block_report") << reported.dump();
  ASSERT_TRUE(reported["case_id"].is_number()) << reported.dump();

  // A report of an intimate image: the declarations, a contact and the content.
  Json report{{"declarations", {{"intimate_image", true}, {"depicts_reporter_or_authorised", true}}},
              {"reporter", {{"email", "person@example.org"}, {"relationship", "self"}}},
              {"content", {{"content_id", "post-77"}, {"pdq", std::string(64, 'a')}}},
              {"reach", 1200}};
  Json opened = Call("POST", "/v1/reports/ncii", scan, report.dump(), 201);
  EXPECT_EQ(opened["source"], "ncii_report");
  EXPECT_EQ(opened["category"], "ncii");
  EXPECT_EQ(opened["state"], "open");
  int64_t created = 0, deadline = 0;
  ASSERT_TRUE(audit::ParseTimeMs(opened["created"].get<std::string>(), &created).ok());
  ASSERT_TRUE(audit::ParseTimeMs(opened["deadline"].get<std::string>(), &deadline).ok());
  EXPECT_EQ(deadline - created, int64_t{48} * 3600 * 1000);
  // Reports the law would not accept are refused, saying why.
  for (const auto& [field, value] : std::vector<std::pair<std::string, Json>>{
           {"declarations", Json{{"intimate_image", true}, {"depicts_reporter_or_authorised", false}}},
           {"reporter", Json{{"email", "nobody"}, {"relationship", "self"}}},
           {"reporter", Json{{"email", "a@b.org"}, {"relationship", "neighbour"}}},
           {"content", Json::object()},
           {"content", Json{{"pdq", "12"}}},
           {"reach", -1}}) {
    Json bad = report;
    bad[field] = value;
    Json e = Call("POST", "/v1/reports/ncii", scan, bad.dump(), 400);
    EXPECT_NE(e["error"]["message"].get<std::string>().find(field), std::string::npos) << e.dump();
  }

  // The queue: only for reviewers; severe cases first, the "other" match last.
  Call("GET", "/v1/cases", scan, "", 403);
  Json queue = Call("GET", "/v1/cases", review, "", 200);
  ASSERT_EQ(queue["cases"].size(), 3u) << queue.dump();
  EXPECT_EQ(queue["cases"][2]["id"], held["case_id"]);
  EXPECT_EQ(queue["cases"][2]["source"], "scan_review");
  EXPECT_EQ(queue["cases"][2]["category"], "other");
  EXPECT_EQ(Call("GET", "/v1/cases?source=guard", review, "", 200)["cases"][0]["id"], reported["case_id"]);

  // Work the report: ask for more, then confirm.
  const std::string path = "/v1/cases/" + std::to_string(opened["id"].get<int64_t>());
  Call("POST", path + "/actions", review, Json{{"action", "request_info"}, {"note", "which post?"}}.dump(),
       200);
  Json done =
      Call("POST", path + "/actions", review, Json{{"action", "confirm"}, {"note", "shown"}}.dump(), 200);
  EXPECT_EQ(done["state"], "closed");
  EXPECT_EQ(done["outcome"], "confirm");
  EXPECT_TRUE(done["time_to_action_s"].is_number());
  Call("POST", path + "/actions", review, Json{{"action", "remove"}}.dump(), 400);  // closed
  Call("POST", path + "/actions", review, Json{{"action", "shred"}}.dump(), 400);
  Call("GET", "/v1/cases/999999", review, "", 404);
  Json one = Call("GET", path, review, "", 200);
  ASSERT_EQ(one["history"].size(), 3u) << one.dump();
  EXPECT_EQ(one["history"][1]["note"], "which post?");
  EXPECT_EQ(one["details"]["content"]["content_id"], "post-77");
  EXPECT_EQ(Call("GET", "/v1/cases", review, "", 200)["cases"].size(), 2u);

  // The held upload and the refused output are in the evidence store; a
  // moderator reads one with a reason, which is audited.
  const std::string held_path = "/v1/cases/" + std::to_string(held["case_id"].get<int64_t>()) + "/evidence";
  Json ev = Call("GET", held_path, review, "", 200);
  ASSERT_EQ(ev["evidence"].size(), 1u) << ev.dump();
  EXPECT_EQ(ev["evidence"][0]["media_type"], "image/jpeg");
  const std::string item = ev["evidence"][0]["id"];
  auto got = client_->Get(held_path + "/" + item, Auth(review));
  ASSERT_TRUE(got);
  EXPECT_EQ(got->status, 400) << got->body;  // no reason given
  got = client_->Get(held_path + "/" + item + "?reason=working%20the%20case", Auth(review));
  ASSERT_TRUE(got);
  ASSERT_EQ(got->status, 200) << got->body;
  EXPECT_EQ(got->body, ReadBytes(kFlower));
  EXPECT_EQ(got->get_header_value("Cache-Control"), "no-store");
  Call("GET", held_path + "/ev_0000", review, "", 404);
  Json guard_ev = Call("GET", "/v1/cases/" + std::to_string(reported["case_id"].get<int64_t>()) + "/evidence",
                       review, "", 200);
  ASSERT_EQ(guard_ev["evidence"].size(), 1u) << guard_ev.dump();
  EXPECT_EQ(guard_ev["evidence"][0]["media_type"], "image/png");
  // Confirming the guard's report candidate reports it (the default: to the
  // NCA), as generated content found by a classifier.
  Json reported_case =
      Call("POST", "/v1/cases/" + std::to_string(reported["case_id"].get<int64_t>()) + "/actions", review,
           Json{{"action", "confirm"}}.dump(), 200);
  ASSERT_EQ(reported_case["reports"].size(), 1u) << reported_case.dump();
  EXPECT_EQ(reported_case["reports"][0]["destination"], "nca");
  const std::string nca_file = dir_.path() + "/reports/nca/nca-report-" +
                               std::to_string(reported_case["reports"][0]["id"].get<int64_t>()) + ".json";
  for (int i = 0; i < 200 && !std::filesystem::exists(nca_file); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const Json nca = Json::parse(ReadBytes(nca_file));
  EXPECT_EQ(nca["content"]["ai_generated"], true) << nca.dump();
  EXPECT_EQ(nca["detection"]["method"], "classifier") << nca.dump();
  EXPECT_EQ(nca["content"]["sha256"], guard_ev["evidence"][0]["sha256"]);

  server_->Shutdown(std::chrono::seconds(5));
  std::unique_ptr<audit::AuditLog> log;
  ASSERT_TRUE(audit::AuditLog::OpenFile(ServiceDbPath(dir_.path()), &log).ok());
  int opens = 0, confirms = 0, reads = 0;
  std::string all;
  ASSERT_TRUE(log->Export(0, INT64_MAX,
                          [&](const audit::Record& r) {
                            opens += r.event.action == "case.open";
                            confirms += r.event.action == "case.confirm";
                            reads += r.event.action == "evidence.read";
                            all += audit::RecordToJson(r);
                            return Status::Ok();
                          })
                  .ok());
  EXPECT_EQ(opens, 3);
  EXPECT_EQ(confirms, 2);
  EXPECT_EQ(reads, 1);
  EXPECT_NE(all.find("working the case"), std::string::npos);
  EXPECT_EQ(all.find("person@example.org"), std::string::npos);  // contact details stay in the case
}

// Confirming a report of an intimate image banks its PDQ (later uploads are
// blocked) and names past uploads within the bank's distance for removal;
// an appeal against a decision opens a case whose restore names the content
// to put back.
TEST_F(ServerTest, ConfirmedReportsJoinTheNciiBankAndAppealsCanReverse) {
  StartServer(R"({"cases": {"ncii_bank": "ncii-list"}})");
  const std::string admin = CreateKey(dir_.path(), "admin");
  const std::string scan = CreateKey(dir_.path(), "scan");
  const std::string review = CreateKey(dir_.path(), "review");
  Call("POST", "/v1/banks", admin, Json{{"name", "ncii-list"}, {"category", "ncii"}}.dump(), 201);
  MakeBank(admin, "other-list", "other", kFlower);
  // Two earlier uploads: a benign photo standing in for the reported image,
  // and the flower, held for review.
  Json earlier = Call("POST", "/v1/scan?content_id=post-9", scan, ReadBytes(kChina), 200, "image/jpeg");
  ASSERT_EQ(earlier["action"], "allow") << earlier.dump();
  Json held = Call("POST", "/v1/scan?content_id=post-10", scan, ReadBytes(kFlower), 200, "image/jpeg");
  ASSERT_EQ(held["action"], "review");

  Json report{{"declarations", {{"intimate_image", true}, {"depicts_reporter_or_authorised", true}}},
              {"reporter", {{"email", "person@example.org"}, {"relationship", "self"}}},
              {"content", {{"content_id", "post-77"}, {"pdq", PdqOf(kChina)}}}};
  Json opened = Call("POST", "/v1/reports/ncii", scan, report.dump(), 201);
  const std::string path = "/v1/cases/" + std::to_string(opened["id"].get<int64_t>());
  Json confirmed = Call("POST", path + "/actions", review, Json{{"action", "confirm"}}.dump(), 200);
  EXPECT_EQ(confirmed["state"], "closed");
  EXPECT_EQ(confirmed["bank"], "ncii-list");
  EXPECT_EQ(confirmed["remove"], (Json{"post-77", "post-9"})) << confirmed.dump();
  // The hash is in the bank: the same image uploaded again is blocked.
  Json again = Call("POST", "/v1/scan?content_id=post-11", scan, ReadBytes(kChina), 200, "image/jpeg");
  EXPECT_EQ(again["action"], "block") << again.dump();
  EXPECT_EQ(again["matches"][0]["bank"], "ncii-list");

  // An appeal against the held decision, reversed.
  Call("POST", "/v1/appeals", scan, Json{{"decision_id", "d_nothing"}, {"reason", "mine"}}.dump(), 404);
  Call("POST", "/v1/appeals", scan, Json{{"decision_id", held["decision_id"]}}.dump(), 400);
  Json appeal = Call(
      "POST", "/v1/appeals", scan,
      Json{{"decision_id", held["decision_id"]}, {"account_id", "u-8"}, {"reason", "my own flower"}}.dump(),
      201);
  EXPECT_EQ(appeal["source"], "appeal");
  EXPECT_EQ(appeal["content_id"], "post-10");
  Json restored = Call("POST", "/v1/cases/" + std::to_string(appeal["id"].get<int64_t>()) + "/actions",
                       review, Json{{"action", "restore"}, {"note", "a flower"}}.dump(), 200);
  EXPECT_EQ(restored["outcome"], "restore");
  EXPECT_EQ(restored["restore"], (Json{"post-10"}));

  server_->Shutdown(std::chrono::seconds(5));
  std::unique_ptr<audit::AuditLog> log;
  ASSERT_TRUE(audit::AuditLog::OpenFile(ServiceDbPath(dir_.path()), &log).ok());
  int restores = 0, banked = 0;
  ASSERT_TRUE(log->Export(0, INT64_MAX,
                          [&](const audit::Record& r) {
                            restores += r.event.action == "case.restore";
                            banked += r.event.action == "bank.signals.add" && r.event.subject == "ncii-list";
                            return Status::Ok();
                          })
                  .ok());
  EXPECT_EQ(restores, 1);
  EXPECT_EQ(banked, 1);

  // The transparency report over these records, through the CLI.
  const std::string out = dir_.path() + "/report";
  auto run = [](const std::string& cmd, std::string* text) {
    FILE* p = popen(cmd.c_str(), "r");
    if (p == nullptr) return -1;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) text->append(buf, n);
    const int rc = pclose(p);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  };
  const std::string cli =
      std::string("'") + SAFEGUARD_CLI_PATH + "' report transparency --data '" + dir_.path() + "'";
  std::string text;
  ASSERT_EQ(
      run(cli + " --from 2000-01-01 --to 2100-01-01 --territorial-scope DE,FR --out '" + out + "'", &text), 0)
      << text;
  Json sum = Json::parse(text, nullptr, false);
  EXPECT_EQ(sum["decisions"], 3) << text;
  EXPECT_EQ(sum["restricted"], 1);
  EXPECT_EQ(sum["statements_of_reasons"], 1);
  EXPECT_EQ(sum["cases_opened"],
            4);  // the held upload, the report, the NCII block (block + review), the appeal
  EXPECT_EQ(sum["cases_closed"], 2);
  EXPECT_EQ(sum["appeals"], 1);
  EXPECT_EQ(sum["reversals"], 1);
  std::ifstream sor_in(out + "/statements_of_reasons.jsonl");
  std::string line;
  ASSERT_TRUE(std::getline(sor_in, line));
  Json sor = Json::parse(line);
  EXPECT_EQ(sor["puid"], again["decision_id"]);
  EXPECT_EQ(sor["category"], "STATEMENT_CATEGORY_NON_CONSENSUAL_BEHAVIOUR");
  EXPECT_EQ(sor["decision_ground"], "DECISION_GROUND_ILLEGAL_CONTENT");
  EXPECT_EQ(sor["decision_visibility"][0], "DECISION_VISIBILITY_CONTENT_REMOVED");
  EXPECT_EQ(sor["territorial_scope"], (Json{"DE", "FR"}));
  EXPECT_EQ(sor["automated_detection"], "Yes");
  EXPECT_FALSE(std::getline(sor_in, line));
  const std::string html = ReadBytes(out + "/transparency.html");
  EXPECT_NE(html.find("transparency report"), std::string::npos);
  EXPECT_NE(html.find("<svg"), std::string::npos);
  EXPECT_NE(ReadBytes(out + "/cases.csv").find("ncii_report,1,1,0,"), std::string::npos)
      << ReadBytes(out + "/cases.csv");
  EXPECT_NE(ReadBytes(out + "/appeals.csv").find("1,1,1,0"), std::string::npos);
  // Dates that are not dates, and a reversed period, are refused.
  text.clear();
  EXPECT_EQ(run(cli + " --from yesterday --to 2100-01-01 --out '" + out + "' 2>&1", &text), 2) << text;
  text.clear();
  EXPECT_EQ(run(cli + " --from 2100-01-01 --to 2000-01-01 --out '" + out + "' 2>&1", &text), 2) << text;
  EXPECT_NE(text.find("--to must be after --from"), std::string::npos) << text;
}

// A CSAM match is blocked, quarantined and a report candidate: it opens a
// case (reports are built from cases) with the upload sealed as evidence.
TEST_F(ServerTest, ReportCandidatesOpenACaseWithTheirEvidence) {
  StartServer();
  const std::string admin = CreateKey(dir_.path(), "admin");
  MakeBank(admin, "csam-standin", "csam", kFlower);
  Json d = Call("POST", "/v1/scan?content_id=post-5", admin, ReadBytes(kFlower), 200, "image/jpeg");
  ASSERT_EQ(d["action"], "block") << d.dump();
  ASSERT_EQ(d["actions"]["report"], true);
  ASSERT_TRUE(d["case_id"].is_number()) << d.dump();
  Json c = Call("GET", "/v1/cases/" + std::to_string(d["case_id"].get<int64_t>()), admin, "", 200);
  EXPECT_EQ(c["category"], "csam");
  EXPECT_EQ(c["severity"], 1);
  EXPECT_EQ(c["content_id"], "post-5");
  EXPECT_EQ(c["details"]["decision_id"], d["decision_id"]);
  Json ev =
      Call("GET", "/v1/cases/" + std::to_string(d["case_id"].get<int64_t>()) + "/evidence", admin, "", 200);
  ASSERT_EQ(ev["evidence"].size(), 1u);
  EXPECT_EQ(ev["evidence"][0]["sha256"], d["hashes"]["sha256"]);
}

TEST_F(ServerTest, GuardConfigRefusesABadClassifierOrKey) {
  ServerOptions o;
  o.data_dir = dir_.path();
  o.listen = "127.0.0.1:0";
  o.config_path = dir_.path() + "/config.json";
  std::unique_ptr<Server> server;
  std::ofstream(o.config_path)
      << R"({"guard": {"classifiers": [{"name": "age", "model": "/nonexistent/age.onnx",
      "labels": ["minor", "adult"], "signals": [{"category": "output_minor", "labels": ["minor"], "threshold": 0.5}]}]}})";
  Status s = Server::Start(o, &server);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
  EXPECT_NE(s.message().find("age.onnx"), std::string::npos) << s.message();
  std::ofstream(o.config_path) << R"({"guard": {"classifiers": [{"name": "age"}]}})";
  s = Server::Start(o, &server);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
  EXPECT_NE(s.message().find("guard.classifiers"), std::string::npos) << s.message();
  std::ofstream(dir_.path() + "/bad.key") << "not a key\n";
  std::ofstream(o.config_path) << R"({"guard": {"watermark_key_file": ")" + dir_.path() + R"(/bad.key"}})";
  s = Server::Start(o, &server);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
  EXPECT_NE(s.message().find("bad.key"), std::string::npos) << s.message();
}

TEST_F(ServerTest, MultipartUploadsAndMalformedOnes) {
  StartServer();
  const std::string admin = CreateKey(dir_.path(), "admin");
  MakeBank(admin, "list", "other", kFlower);
  httplib::MultipartFormDataItems items = {{"note", "hello", "", ""},
                                           {"file", ReadBytes(kFlower), "x.jpg", "image/jpeg"}};
  auto r = client_->Post("/v1/scan", Auth(admin), items);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  Json d = Json::parse(r->body);
  EXPECT_EQ(d["action"], "review");
  EXPECT_EQ(d["matches"][0]["category"], "other");

  Json bad = Call("POST", "/v1/scan", admin, "--b\r\nno end", 400, "multipart/form-data; boundary=b");
  EXPECT_EQ(bad["error"]["code"], "invalid_argument");
  Call("POST", "/v1/scan", admin, "x", 400, "multipart/form-data");
}

TEST_F(ServerTest, LookupBanksImportAndWithdrawalStopsMatchingAtOnce) {
  StartServer();
  const std::string admin = CreateKey(dir_.path(), "curate,scan");
  const std::string pdq = PdqOf(kFlower);
  Call("POST", "/v1/banks", admin, R"({"name": "imported", "category": "ncii", "distance": 20})", 201);
  const std::string list = "type,value,external_id\npdq," + pdq + ",victim-report-7\n";
  Json imp = Call("POST", "/v1/banks/imported/import?format=csv&source_version=2026-11-29", admin, list, 200,
                  "text/csv");
  EXPECT_EQ(imp["added"], 1);
  Json bad_import = Call("POST", "/v1/banks/imported/import?format=csv", admin, "type,value\npdq,nothex\n",
                         400, "text/csv");
  EXPECT_EQ(bad_import["error"]["invalid"][0]["line"], 2);

  Json hit = Call("GET", "/v1/lookup?pdq=" + pdq, admin, "", 200);
  ASSERT_EQ(hit["matches"].size(), 1u);
  EXPECT_EQ(hit["matches"][0]["external_id"], "victim-report-7");
  EXPECT_EQ(hit["matches"][0]["source_version"], "2026-11-29");
  // Again: the record now comes from the lookup cache, and reads the same.
  EXPECT_EQ(Call("GET", "/v1/lookup?pdq=" + pdq, admin, "", 200), hit);
  Call("GET", "/v1/lookup?pdq=zz", admin, "", 400);
  Call("GET", "/v1/lookup?color=blue", admin, "", 400);
  Call("GET", "/v1/lookup", admin, "", 400);

  Json banks = Call("GET", "/v1/banks", admin, "", 200);
  ASSERT_EQ(banks["banks"].size(), 1u);
  EXPECT_EQ(banks["banks"][0]["live_signals"], 1);
  Json upd = Call("PATCH", "/v1/banks/imported", admin, R"({"distance": 10})", 200);
  EXPECT_EQ(upd["distance"], 10);
  Call("PATCH", "/v1/banks/imported", admin, R"({"colour": "red"})", 400);
  Call("GET", "/v1/banks/missing", admin, "", 404);

  Json w =
      Call("POST", "/v1/banks/imported/withdraw", admin, R"({"external_ids": ["victim-report-7"]})", 200);
  EXPECT_EQ(w["withdrawn"], 1);
  Json gone = Call("GET", "/v1/lookup?pdq=" + pdq, admin, "", 200);
  EXPECT_EQ(gone["matches"].size(), 0u);  // no refresh interval to wait for

  Json del = Call("DELETE", "/v1/banks/imported", admin, "", 200);
  EXPECT_EQ(del["deleted"], "imported");
  Call("PUT", "/v1/banks", admin, "{}", 400);
}

TEST_F(ServerTest, AllowListSuppressesAndLowQualitySkipsPdq) {
  StartServer();
  const std::string admin = CreateKey(dir_.path(), "admin");
  MakeBank(admin, "list", "csam", kFlower);
  MakeBank(admin, "known-good", "allow", kFlower);
  Json d = Call("POST", "/v1/scan", admin, ReadBytes(kFlower), 200, "image/jpeg");
  EXPECT_EQ(d["action"], "allow");
  EXPECT_EQ(d["reasons"][0]["kind"], "allow_list");
  EXPECT_EQ(d["suppressed"], 1);
  EXPECT_EQ(d["allowed"][0]["bank"], "known-good");

  // A flat grey image: PDQ quality 0, so its hash is not matched.
  std::string pgm = "P5\n64 64\n255\n" + std::string(64 * 64, '\x80');
  d = Call("POST", "/v1/scan", admin, pgm, 200, "image/x-portable-graymap");
  EXPECT_EQ(d["decoded"], true);
  EXPECT_LT(d["hashes"]["quality"].get<int>(), 50);
  EXPECT_EQ(d["pdq_matched"], false);
}

TEST_F(ServerTest, LimitsAndBadConfigurationsAreRefusedClearly) {
  StartServer(R"({"limits": {"max_body_bytes": 4096}})");
  const std::string admin = CreateKey(dir_.path(), "admin");
  Json big = Call("POST", "/v1/scan", admin, std::string(100000, 'x'), 413, "application/octet-stream");
  EXPECT_EQ(big["error"]["code"], "too_large");
  Call("POST", "/v1/banks", admin, "{not json", 400);
  server_->Shutdown(std::chrono::seconds(5));
  server_.reset();

  for (const char* config :
       {R"({"listen": 8080})", R"({"polcy": {}})", R"({"policy": {"on_match": {"csam": ["nuke"]}}})",
        R"({"webhooks": {"endpoints": [{"name": "x", "url": "http://127.0.0.1:1/",
                                 "secret_env": "SAFEGUARD_TEST_UNSET_VARIABLE"}]}})",
        "not json"}) {
    ServerOptions o;
    o.data_dir = dir_.path();
    o.listen = "127.0.0.1:0";
    o.config_path = dir_.path() + "/bad.json";
    std::ofstream(o.config_path) << config;
    std::unique_ptr<Server> s;
    Status st = Server::Start(o, &s);
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << config;
    EXPECT_NE(st.message().find("configuration"), std::string::npos) << st.message();
  }
}

// Webhooks are never lost: the receiver is down when the decision is made
// and the server restarts before it comes up.
TEST_F(ServerTest, WebhookSurvivesAReceiverOutageAndARestart) {
  int port = 0;
  {
    Receiver probe;  // find a free port, then free it
    port = probe.port();
  }
  setenv("SAFEGUARD_TEST_WEBHOOK_SECRET", "another-test-secret", 1);
  const std::string config = R"({"webhooks": {"endpoints": [{"name": "m", "url": "http://127.0.0.1:)" +
                             std::to_string(port) +
                             R"(/hook", "secret_env": "SAFEGUARD_TEST_WEBHOOK_SECRET"}]}})";
  StartServer(config);
  const std::string admin = CreateKey(dir_.path(), "admin");
  MakeBank(admin, "list", "ncii", kFlower);
  Json d = Call("POST", "/v1/scan", admin, ReadBytes(kFlower), 200, "image/jpeg");
  ASSERT_EQ(d["action"], "block");
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // let it fail at least once
  server_->Shutdown(std::chrono::seconds(5));
  server_.reset();

  Receiver receiver(port);
  StartServer(config);
  auto events = receiver.WaitFor(1);
  ASSERT_GE(events.size(), 1u);
  EXPECT_EQ(Json::parse(events[0].body)["decision_id"], d["decision_id"]);
}

// Shutdown lets requests in flight finish: every scan started before it is
// answered in full, none is cut.
TEST_F(ServerTest, ShutdownAnswersRequestsInFlight) {
  StartServer();
  const std::string admin = CreateKey(dir_.path(), "admin");
  const std::string photo = ReadBytes(kChina);
  std::atomic<int> ok{0}, refused{0}, other{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> clients;
  for (int t = 0; t < 4; ++t) {
    clients.emplace_back([&] {
      httplib::Client c("127.0.0.1", server_->port());
      c.set_read_timeout(60, 0);
      while (!go.load()) std::this_thread::yield();
      for (int i = 0; i < 5; ++i) {
        auto r = c.Post("/v1/scan", Auth(admin), photo, "image/jpeg");
        if (!r) {
          ++refused;  // connection refused or closed before the request was read
        } else if (r->status == 200 && Json::parse(r->body, nullptr, false).contains("decision_id")) {
          ++ok;
        } else {
          ++other;
        }
      }
    });
  }
  go.store(true);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  server_->Shutdown(std::chrono::seconds(30));
  for (auto& t : clients) t.join();
  EXPECT_EQ(other.load(), 0);
  EXPECT_GT(ok.load(), 0);
  EXPECT_EQ(ok.load() + refused.load(), 20);
  // Every decision answered is on record, and the log verifies.
  std::unique_ptr<audit::AuditLog> log;
  ASSERT_TRUE(audit::AuditLog::OpenFile(ServiceDbPath(dir_.path()), &log).ok());
  audit::VerifyResult v;
  ASSERT_TRUE(log->Verify(&v).ok());
  EXPECT_TRUE(v.ok);
  int decisions = 0;
  ASSERT_TRUE(log->Export(0, INT64_MAX,
                          [&](const audit::Record& r) {
                            decisions += r.event.action == "decision";
                            return Status::Ok();
                          })
                  .ok());
  EXPECT_EQ(decisions, ok.load());
}

// With a certificate and key configured the server speaks HTTPS only.
TEST_F(ServerTest, TlsWhenConfigured) {
  const std::string cert = dir_.path() + "/cert.pem", key = dir_.path() + "/key.pem";
  const std::string cmd = "openssl req -x509 -newkey rsa:2048 -nodes -keyout '" + key + "' -out '" + cert +
                          "' -days 1 -subj /CN=localhost > /dev/null 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << "openssl could not make a test certificate";
  ServerOptions o;
  o.data_dir = dir_.path();
  o.listen = "127.0.0.1:0";
  o.log = [](std::string_view) {};
  o.config_path = dir_.path() + "/tls.json";
  std::ofstream(o.config_path) << R"({"tls": {"cert": ")" << cert << R"(", "key": ")" << key << R"("}})";
  ASSERT_TRUE(Server::Start(o, &server_).ok());
  ASSERT_TRUE(server_->WaitReady(std::chrono::seconds(60)).ok());
  httplib::SSLClient tls("127.0.0.1", server_->port());
  tls.enable_server_certificate_verification(false);  // self-signed, made above
  auto r = tls.Get("/healthz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  httplib::Client plain("127.0.0.1", server_->port());
  plain.set_read_timeout(5, 0);
  auto p = plain.Get("/healthz");
  EXPECT_TRUE(!p || p->status != 200);  // plain HTTP is not answered

  std::ofstream(o.config_path) << R"({"tls": {"cert": "/nonexistent.pem", "key": ")" << key << R"("}})";
  std::unique_ptr<Server> bad;
  o.data_dir = dir_.path() + "/other";
  EXPECT_EQ(Server::Start(o, &bad).code(), StatusCode::kInvalidArgument);
}

// A client that sends part of a request and stops (slowloris) is cut off at
// the request timeout (counted as a 408 in the metrics), and does not hold
// up other clients.
TEST_F(ServerTest, SlowClientsTimeOut) {
  StartServer(R"({"limits": {"request_timeout_s": 1}})");
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(server_->port());
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  const std::string partial = "POST /v1/scan HTTP/1.1\r\nHost: x\r\nContent-Len";
  ASSERT_EQ(write(fd, partial.data(), partial.size()), static_cast<ssize_t>(partial.size()));
  Call("GET", "/healthz", "", "", 200);  // others are served meanwhile
  std::string got;
  char buf[4096];
  for (;;) {
    const ssize_t n = read(fd, buf, sizeof buf);  // blocks until the server answers or closes
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  EXPECT_EQ(got, "");  // closed, never answered
  // The server counts the timeout just after it closes the socket.
  std::string metrics;
  for (int i = 0; i < 200; ++i) {
    auto m = client_->Get("/metrics");
    ASSERT_TRUE(m);
    metrics = m->body;
    if (metrics.find("safeguard_http_requests_total{route=\"other\",code=\"4xx\"} 1") != std::string::npos)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  EXPECT_NE(metrics.find("safeguard_http_requests_total{route=\"other\",code=\"4xx\"} 1"), std::string::npos)
      << metrics;
}

// The real binary: `safeguard serve` answers, and on SIGTERM it stops
// cleanly (exit 0, "stopped" logged) with its records intact.
TEST_F(ServerTest, ServeCommandStopsCleanlyOnSigterm) {
  int port = 0;
  {
    Receiver probe;  // a free port
    port = probe.port();
  }
  const std::string data = dir_.path() + "/cli";
  const std::string log = dir_.path() + "/serve.log";
  const std::string script = std::string("set -u\n") + "'" + SAFEGUARD_CLI_PATH + "' serve --data '" + data +
                             "' --listen 127.0.0.1:" + std::to_string(port) + " 2> '" + log +
                             "' &\npid=$!\n"
                             "for i in $(seq 200); do curl -sf http://127.0.0.1:" +
                             std::to_string(port) +
                             "/readyz > /dev/null && break; sleep 0.1; done\n"
                             "curl -sf http://127.0.0.1:" +
                             std::to_string(port) +
                             "/healthz > /dev/null || exit 3\n"
                             "kill -TERM $pid\nwait $pid\n";
  const std::string script_path = dir_.path() + "/serve.sh";
  std::ofstream(script_path) << script;
  const int rc = std::system(("bash '" + script_path + "'").c_str());
  EXPECT_EQ(WEXITSTATUS(rc), 0) << ReadBytes(log);
  const std::string text = ReadBytes(log);
  EXPECT_NE(text.find("\"event\":\"listening\""), std::string::npos) << text;
  EXPECT_NE(text.find("\"event\":\"stopped\""), std::string::npos) << text;
  std::unique_ptr<audit::AuditLog> audit_log;
  ASSERT_TRUE(audit::AuditLog::OpenFile(ServiceDbPath(data), &audit_log).ok());
  audit::VerifyResult v;
  ASSERT_TRUE(audit_log->Verify(&v).ok());
  EXPECT_TRUE(v.ok);
  EXPECT_EQ(v.records, 1u);  // config.load
}

}  // namespace
}  // namespace safeguard::server
