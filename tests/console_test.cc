// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// The console's side of the server over real HTTP on 127.0.0.1: sign-in,
// session cookies, CSRF, roles, the dashboard, blurred previews and the
// console's files. A benign photo in a stand-in "csam" bank makes the case.
// (The page itself is tested in Chromium: tests/console_e2e.sh.)

#include <httplib.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>

#include "bank_test_env.h"
#include "common/sqlite.h"
#include "fake_cybertipline.h"
#include "gtest/gtest.h"
#include "safeguard/audit/audit_log.h"
#include "safeguard/hash/digest.h"
#include "safeguard/hash/image_hasher.h"
#include "safeguard/media/decode.h"
#include "safeguard/report/transparency.h"
#include "safeguard/server/server.h"
#include "safeguard/server/service_db.h"
#include "safeguard/server/users.h"
#include "server_test_util.h"
#include "test_util.h"

namespace safeguard::server {
namespace {

using Json = nlohmann::json;
using bank::testing::TempDir;
using safeguard::testing::ReadBytes;

const std::string kFlower = std::string(SAFEGUARD_SHARED_DIR) + "/media/photos/python3-sklearn/flower.jpg";

class ConsoleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // The console's files: a stand-in page (the real one is built by Vite).
    std::filesystem::create_directories(dir_.path() + "/page/assets");
    std::ofstream(dir_.path() + "/page/index.html") << "<!doctype html><title>console</title>";
    std::ofstream(dir_.path() + "/page/assets/app-1234.js") << "console.log('ok');";
    std::ofstream(dir_.path() + "/page/.secret") << "hidden";
    std::ofstream(dir_.path() + "/page/report.html") << "<!doctype html><title>report</title>";
    std::ofstream(dir_.path() + "/outside.txt") << "NOT-FOR-THE-WEB";
    AddUser("mia", "moderator");
    AddUser("sam", "senior_moderator");
    AddUser("cora", "compliance");
    Start(Json::object());
  }
  // (Re)starts the server with `config` and the stand-in console page.
  void Start(Json config) {
    if (server_) server_->Shutdown(std::chrono::seconds(5));
    server_.reset();
    config["console"] = {{"dir", dir_.path() + "/page"}};
    ServerOptions o;
    o.data_dir = dir_.path();
    o.listen = "127.0.0.1:0";
    o.threads = 2;
    o.log = [](std::string_view) {};
    o.config_path = dir_.path() + "/config.json";
    std::ofstream(o.config_path) << config.dump();
    Status s = Server::Start(o, &server_);
    ASSERT_TRUE(s.ok()) << s.ToString();
    ASSERT_TRUE(server_->WaitReady(std::chrono::seconds(60)).ok());
    client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
    client_->set_read_timeout(60, 0);
  }
  void TearDown() override {
    if (server_) server_->Shutdown(std::chrono::seconds(5));
  }

  void AddUser(const std::string& name, const std::string& role) {
    std::unique_ptr<sqlite::Conn> conn;
    ASSERT_TRUE(OpenServiceDb(dir_.path(), true, &conn).ok());
    std::mutex mu;
    std::unique_ptr<UserStore> users;
    ASSERT_TRUE(UserStore::Open(conn.get(), &mu, SessionPolicy(), nullptr, &users).ok());
    ASSERT_TRUE(users->Create(name, role, "passphrase of " + name, nullptr).ok());
  }

  // Signs in; *cookie gets "sg_session=...", the answer has the CSRF token.
  Json SignIn(const std::string& name, std::string* cookie) {
    httplib::Result r =
        client_->Post("/v1/session", Json{{"username", name}, {"password", "passphrase of " + name}}.dump(),
                      "application/json");
    EXPECT_TRUE(r);
    if (!r) return Json();
    EXPECT_EQ(r->status, 200) << r->body;
    const std::string set = r->get_header_value("Set-Cookie");
    *cookie = set.substr(0, set.find(';'));
    return Json::parse(r->body);
  }

  // A request with the session cookie, and the CSRF token when not empty.
  httplib::Result Send(const std::string& method, const std::string& path, const std::string& cookie,
                       const std::string& csrf, const std::string& body = "") {
    httplib::Headers h{{"Cookie", cookie}};
    if (!csrf.empty()) h.emplace("X-CSRF-Token", csrf);
    if (method == "GET") return client_->Get(path, h);
    if (method == "DELETE") return client_->Delete(path, h);
    return client_->Post(path, h, body, "application/json");
  }

  // A case with evidence: a scan of the benign flower matches a stand-in
  // "csam" bank, which makes it a report candidate.
  int64_t MakeCase(const std::string& query = "?content_id=post-1", const std::string& photo = kFlower) {
    const std::string admin = testing::CreateKey(dir_.path(), "admin");
    httplib::Headers auth{{"Authorization", "Bearer " + admin}};
    // The bank is made once; a second create is refused, which is fine.
    client_->Post("/v1/banks", auth, Json{{"name", "standin"}, {"category", "csam"}}.dump(),
                  "application/json");
    hash::ImageHasher hasher;
    hash::FileHashes h;
    EXPECT_TRUE(hasher.HashFile(photo, &h).ok());
    char pdq[65];
    h.pdq.hash.ToHex(pdq);
    client_->Post("/v1/banks/standin/signals", auth,
                  Json{{"signals", {{{"type", "pdq"}, {"value", std::string(pdq, 64)}}}}}.dump(),
                  "application/json");
    httplib::Result r = client_->Post("/v1/scan" + query, auth, ReadBytes(photo), "image/jpeg");
    EXPECT_TRUE(r && r->status == 200);
    Json d = Json::parse(r->body);
    EXPECT_TRUE(d["case_id"].is_number()) << r->body;
    return d.value("case_id", int64_t{0});
  }

  // The audit log's records with action `action`.
  std::vector<audit::Record> Audited(const std::string& action) {
    std::unique_ptr<sqlite::Conn> conn;
    EXPECT_TRUE(OpenServiceDb(dir_.path(), false, &conn).ok());
    std::unique_ptr<audit::AuditLog> log;
    EXPECT_TRUE(audit::AuditLog::Open(conn.get(), nullptr, &log).ok());
    std::vector<audit::Record> out;
    EXPECT_TRUE(log->Export(0, INT64_MAX,
                            [&](const audit::Record& r) {
                              if (r.event.action == action) out.push_back(r);
                              return Status::Ok();
                            })
                    .ok());
    return out;
  }

  TempDir dir_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(ConsoleTest, SignInSetsASafeCookieAndSignOutEndsIt) {
  httplib::Result r =
      client_->Post("/v1/session", Json{{"username", "mia"}, {"password", "not the passphrase"}}.dump(),
                    "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  EXPECT_NE(r->body.find("wrong username or password"), std::string::npos);
  EXPECT_FALSE(r->has_header("Set-Cookie"));

  r = client_->Post("/v1/session", Json{{"username", "mia"}, {"password", "passphrase of mia"}}.dump(),
                    "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const std::string set = r->get_header_value("Set-Cookie");
  for (const char* attr : {"HttpOnly", "Secure", "SameSite=Strict", "Path=/", "Max-Age=43200"})
    EXPECT_NE(set.find(attr), std::string::npos) << set;
  Json s = Json::parse(r->body);
  EXPECT_EQ(s["user"]["username"], "mia");
  EXPECT_EQ(s["user"]["role"], "moderator");
  const std::string cookie = set.substr(0, set.find(';')), csrf = s["csrf_token"];

  r = Send("GET", "/v1/session", cookie, "");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(Json::parse(r->body)["csrf_token"], csrf);
  // Signing out needs the CSRF token too.
  r = Send("DELETE", "/v1/session", cookie, "");
  EXPECT_EQ(r->status, 403) << r->body;
  r = Send("DELETE", "/v1/session", cookie, csrf);
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_NE(r->get_header_value("Set-Cookie").find("Max-Age=0"), std::string::npos);
  r = Send("GET", "/v1/session", cookie, "");
  EXPECT_EQ(r->status, 401);
  r = Send("GET", "/v1/cases", cookie, "");
  EXPECT_EQ(r->status, 401);
  EXPECT_EQ(Audited("console.sign_in").size(), 1u);
  ASSERT_EQ(Audited("console.sign_out").size(), 1u);
  EXPECT_EQ(Audited("console.sign_out")[0].event.actor, "user:mia");
}

TEST_F(ConsoleTest, RolesCsrfAndOriginGuardCaseActions) {
  const int64_t id = MakeCase();
  ASSERT_GT(id, 0);
  const std::string path = "/v1/cases/" + std::to_string(id);
  std::string mia, sam, cora;
  const std::string mia_csrf = SignIn("mia", &mia)["csrf_token"];
  const std::string sam_csrf = SignIn("sam", &sam)["csrf_token"];
  const std::string cora_csrf = SignIn("cora", &cora)["csrf_token"];

  // Everyone reads the queue; nobody reads bank admin routes.
  for (const std::string* c : {&mia, &sam, &cora}) {
    httplib::Result r = Send("GET", "/v1/cases", *c, "");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(Json::parse(r->body)["cases"][0]["id"], id);
    EXPECT_EQ(Send("GET", "/v1/banks", *c, "")->status, 403);
  }
  const std::string remove = Json{{"action", "escalate"}, {"note", "looks severe"}}.dump();
  // No CSRF token, a wrong one, or another origin: refused.
  EXPECT_EQ(Send("POST", path + "/actions", mia, "", remove)->status, 403);
  EXPECT_EQ(Send("POST", path + "/actions", mia, std::string(64, '0'), remove)->status, 403);
  httplib::Headers cross{{"Cookie", mia}, {"X-CSRF-Token", mia_csrf}, {"Origin", "https://evil.example"}};
  EXPECT_EQ(client_->Post(path + "/actions", cross, remove, "application/json")->status, 403);
  // A moderator may not confirm (and report); compliance may not act.
  httplib::Result r = Send("POST", path + "/actions", mia, mia_csrf, Json{{"action", "confirm"}}.dump());
  EXPECT_EQ(r->status, 403);
  EXPECT_NE(r->body.find("senior moderator"), std::string::npos) << r->body;
  EXPECT_EQ(Send("POST", path + "/actions", cora, cora_csrf, remove)->status, 403);
  // The moderator escalates; the senior moderator confirms.
  r = Send("POST", path + "/actions", mia, mia_csrf, remove);
  EXPECT_EQ(r->status, 200) << r->body;
  r = Send("POST", path + "/actions", sam, sam_csrf,
           Json{{"action", "confirm"}, {"note", "matches list"}}.dump());
  EXPECT_EQ(r->status, 200) << r->body;
  Json c = Json::parse(Send("GET", path, cora, "")->body);
  ASSERT_EQ(c["history"].size(), 3u) << c.dump();
  EXPECT_EQ(c["history"][1]["actor"], "user:mia");
  EXPECT_EQ(c["history"][1]["action"], "escalate");
  EXPECT_EQ(c["history"][2]["actor"], "user:sam");
  EXPECT_EQ(c["state"], "closed");
  const auto confirmed = Audited("case.confirm");
  ASSERT_EQ(confirmed.size(), 1u);
  EXPECT_EQ(confirmed[0].event.actor, "user:sam");
}

TEST_F(ConsoleTest, PreviewIsBlurredAndUnblurringIsAudited) {
  const int64_t id = MakeCase();
  std::string cookie;
  const std::string csrf = SignIn("mia", &cookie)["csrf_token"];
  const std::string path = "/v1/cases/" + std::to_string(id) + "/evidence";
  Json ev = Json::parse(Send("GET", path, cookie, "")->body);
  ASSERT_EQ(ev["evidence"].size(), 1u) << ev.dump();
  const std::string item = ev["evidence"][0]["id"];

  httplib::Result r = Send("GET", path + "/" + item + "/preview", cookie, "");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(r->get_header_value("Content-Type"), "image/jpeg");
  EXPECT_EQ(r->get_header_value("Cache-Control"), "no-store");
  media::Image preview;
  ASSERT_TRUE(media::DecodeImage(
                  std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(r->body.data()), r->body.size()),
                  media::DecodeOptions(), &preview)
                  .ok());
  // The flower is 640x427: the preview is at most 12 blocks a side, each one
  // colour (JPEG may shift a block's pixels by a few levels).
  ASSERT_LE(preview.width, 320);
  const int block = preview.width / 12;
  ASSERT_GE(block, 8);
  for (int by = 0; by * block < preview.height; ++by) {
    for (int bx = 0; bx < 12; ++bx) {
      const size_t a = ((size_t(by) * block + 5) * preview.width + bx * block + 5) * 3;
      const size_t b = ((size_t(by) * block + block - 6) * preview.width + bx * block + block - 6) * 3;
      for (int ch = 0; ch < 3; ++ch)
        EXPECT_NEAR(preview.pixels[a + ch], preview.pixels[b + ch], 12) << bx << "," << by;
    }
  }
  auto reads = Audited("evidence.read");
  ASSERT_EQ(reads.size(), 1u);
  EXPECT_NE(reads[0].event.details_json.find("blurred preview"), std::string::npos);

  // Unblurring reads the content, with its reason, in the audit log.
  r = Send("GET", path + "/" + item + "?reason=unblur", cookie, "");
  ASSERT_EQ(r->status, 200);
  EXPECT_EQ(r->body, ReadBytes(kFlower));
  reads = Audited("evidence.read");
  ASSERT_EQ(reads.size(), 2u);
  EXPECT_EQ(reads[1].event.actor, "user:mia");
  EXPECT_NE(reads[1].event.details_json.find("unblur"), std::string::npos);
  EXPECT_EQ(Send("GET", path + "/nope/preview", cookie, "")->status, 404);
  (void)csrf;
}

TEST_F(ConsoleTest, DashboardCountsCasesAndTimesToAction) {
  const int64_t id = MakeCase();
  std::string cookie;
  const std::string csrf = SignIn("sam", &cookie)["csrf_token"];
  Json d = Json::parse(Send("GET", "/v1/dashboard?days=7", cookie, "")->body);
  ASSERT_EQ(d["volumes"].size(), 1u) << d.dump();
  EXPECT_EQ(d["volumes"][0]["category"], "csam");
  EXPECT_EQ(d["volumes"][0]["source"], "scan_review");
  EXPECT_EQ(d["volumes"][0]["count"], 1);
  EXPECT_EQ(d["open_cases"], 1);
  EXPECT_EQ(d["overdue_cases"], 0);
  ASSERT_EQ(d["time_to_action"].size(), 4u);
  EXPECT_EQ(d["time_to_action"][0]["target_hours"], 24.0);
  EXPECT_EQ(d["time_to_action"][0]["count"], 0);
  ASSERT_EQ(Send("POST", "/v1/cases/" + std::to_string(id) + "/actions", cookie, csrf,
                 Json{{"action", "remove"}}.dump())
                ->status,
            200);
  d = Json::parse(Send("GET", "/v1/dashboard", cookie, "")->body);
  EXPECT_EQ(d["open_cases"], 0) << d.dump();
  EXPECT_EQ(d["time_to_action"][0]["count"], 1);
  EXPECT_LT(d["time_to_action"][0]["p99_hours"].get<double>(), 1.0);
  EXPECT_EQ(d["time_to_action"][0]["late"], 0);
  EXPECT_EQ(Send("GET", "/v1/dashboard?days=0", cookie, "")->status, 400);
  EXPECT_EQ(client_->Get("/v1/dashboard")->status, 401);
}

TEST_F(ConsoleTest, ServesTheConsoleFilesAndNothingElse) {
  httplib::Result r = client_->Get("/console/");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "<!doctype html><title>console</title>");
  EXPECT_EQ(r->get_header_value("Content-Type"), "text/html; charset=utf-8");
  EXPECT_NE(r->get_header_value("Content-Security-Policy").find("frame-ancestors 'none'"), std::string::npos);
  EXPECT_EQ(r->get_header_value("X-Frame-Options"), "DENY");
  r = client_->Get("/console");
  EXPECT_EQ(r->status, 308);
  EXPECT_EQ(r->get_header_value("Location"), "/console/");
  r = client_->Get("/console/assets/app-1234.js");
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Content-Type"), "text/javascript; charset=utf-8");
  EXPECT_NE(r->get_header_value("Cache-Control").find("immutable"), std::string::npos);
  for (const char* bad : {"/console/.secret", "/console/../outside.txt", "/console/%2e%2e/outside.txt",
                          "/console/assets//app-1234.js", "/console/missing.js"}) {
    r = client_->Get(bad);
    ASSERT_TRUE(r) << bad;
    EXPECT_EQ(r->status, 404) << bad;
    EXPECT_EQ(r->body.find("NOT-FOR-THE-WEB"), std::string::npos) << bad;
  }
}

TEST_F(ConsoleTest, ThePublicFormReportsAnIntimateImageWithoutAKey) {
  httplib::Result r = client_->Get("/report");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "<!doctype html><title>report</title>");
  const Json report{{"declarations", {{"intimate_image", true}, {"depicts_reporter_or_authorised", true}}},
                    {"reporter", {{"email", "person@example.org"}, {"relationship", "self"}}},
                    {"content", {{"url", "https://example.org/p/1"}, {"sha256", std::string(64, 'b')}}}};
  r = client_->Post("/v1/public/reports/ncii", report.dump(), "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 201) << r->body;
  Json a = Json::parse(r->body);
  ASSERT_TRUE(a["reference"].is_number());
  EXPECT_TRUE(a.contains("respond_by"));
  EXPECT_FALSE(a.contains("details"));  // the public learns nothing else
  // The case, for moderators: an NCII report from the public form, 48 hours.
  std::string cookie;
  SignIn("mia", &cookie);
  Json c = Json::parse(
      Send("GET", "/v1/cases/" + std::to_string(a["reference"].get<int64_t>()), cookie, "")->body);
  EXPECT_EQ(c["source"], "ncii_report");
  EXPECT_EQ(c["details"]["channel"], "public_form");
  EXPECT_EQ(c["history"][0]["actor"], "public");
  // What only the platform may say, and reports the law would not accept.
  Json bad = report;
  bad["trusted_flagger"] = true;
  r = client_->Post("/v1/public/reports/ncii", bad.dump(), "application/json");
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(r->body.find("trusted_flagger"), std::string::npos);
  bad = report;
  bad["declarations"]["intimate_image"] = false;
  EXPECT_EQ(client_->Post("/v1/public/reports/ncii", bad.dump(), "application/json")->status, 400);
  // Ten an hour from one address; the eleventh waits.
  for (int i = 0; i < 7; ++i) {
    EXPECT_EQ(client_->Post("/v1/public/reports/ncii", report.dump(), "application/json")->status, 201) << i;
  }
  r = client_->Post("/v1/public/reports/ncii", report.dump(), "application/json");
  EXPECT_EQ(r->status, 503);
  EXPECT_NE(r->body.find("too many reports"), std::string::npos) << r->body;
}

// Confirming a CSAM case reports it: the NCA document is written for
// submission, audited, and the same content is not reported twice.
TEST_F(ConsoleTest, ConfirmAndReportWritesTheNcaReportOnce) {
  const std::string admin = testing::CreateKey(dir_.path(), "admin");
  httplib::Headers auth{{"Authorization", "Bearer " + admin}};
  const int64_t id = MakeCase(
      "?content_id=post-9&account_id=acct-42&uploader_ip=203.0.113.7&uploader_port=51514"
      "&uploaded_at=2026-11-29T10:00:00Z&url=https://example.org/p/9");
  ASSERT_GT(id, 0);
  httplib::Result r =
      client_->Post("/v1/cases/" + std::to_string(id) + "/actions", auth,
                    Json{{"action", "confirm"}, {"note", "list match"}}.dump(), "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  Json a = Json::parse(r->body);
  ASSERT_EQ(a["reports"].size(), 1u) << a.dump();
  EXPECT_EQ(a["reports"][0]["destination"], "nca");
  EXPECT_EQ(a["reports"][0]["state"], "pending");
  EXPECT_EQ(a["reports"][0]["priority"], 2) << a.dump();  // known material, uploaded within 7 days
  const std::string file = dir_.path() + "/reports/nca/nca-report-" +
                           std::to_string(a["reports"][0]["id"].get<int64_t>()) + ".json";
  for (int i = 0; i < 200 && !std::filesystem::exists(file); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_TRUE(std::filesystem::exists(file));
  EXPECT_EQ(std::filesystem::status(file).permissions() & std::filesystem::perms::others_read,
            std::filesystem::perms::none);
  const std::string doc = ReadBytes(file);
  hash::ImageHasher hasher;
  hash::FileHashes h;
  ASSERT_TRUE(hasher.HashFile(kFlower, &h).ok());
  for (const std::string& want :
       {std::string("203.0.113.7"), std::string("51514"), std::string("acct-42"),
        std::string("https://example.org/p/9"), std::string("standin"), hash::ToHex(h.sha256)}) {
    EXPECT_NE(doc.find(want), std::string::npos) << want << " not in " << doc;
  }
  for (int i = 0; i < 100 && Audited("report.sent").empty(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_EQ(Audited("report.sent").size(), 1u);
  EXPECT_EQ(Audited("report.sent")[0].event.actor, "system:reports");

  // The same photo uploaded again and confirmed: not reported a second time.
  const int64_t again = MakeCase("?content_id=post-10");
  r = client_->Post("/v1/cases/" + std::to_string(again) + "/actions", auth,
                    Json{{"action", "confirm"}}.dump(), "application/json");
  ASSERT_EQ(r->status, 200) << r->body;
  a = Json::parse(r->body);
  ASSERT_EQ(a["reports"].size(), 1u);
  EXPECT_EQ(a["reports"][0]["state"], "not_needed");
  EXPECT_NE(a["reports"][0]["why"].get<std::string>().find("already reported"), std::string::npos);
  // The ledger, for compliance: the report, sent, with its file.
  {
    std::string cookie;
    SignIn("cora", &cookie);
    httplib::Result lr = Send("GET", "/v1/reports?days=7", cookie, "");
    ASSERT_EQ(lr->status, 200) << lr->body;
    Json ledger = Json::parse(lr->body);
    ASSERT_EQ(ledger["reports"].size(), 1u) << ledger.dump();
    EXPECT_EQ(ledger["reports"][0]["case"], id);
    EXPECT_EQ(ledger["reports"][0]["state"], "sent");
    EXPECT_EQ(ledger["reports"][0]["priority"], 2);
    EXPECT_EQ(ledger["reports"][0]["external_id"],
              "nca-report-" + std::to_string(ledger["reports"][0]["id"].get<int64_t>()) + ".json");
    EXPECT_EQ(Send("GET", "/v1/reports?days=0", cookie, "")->status, 400);
  }
  // The transparency report counts it.
  {
    std::unique_ptr<sqlite::Conn> conn;
    ASSERT_TRUE(OpenServiceDb(dir_.path(), false, &conn).ok());
    report::TransparencyOptions o;
    o.from_ms = 0;
    o.to_ms = INT64_MAX / 2;
    o.out_dir = dir_.path() + "/transparency";
    report::TransparencySummary sum;
    ASSERT_TRUE(report::WriteTransparencyReport(conn.get(), o, &sum).ok());
    EXPECT_EQ(sum.reports_nca, 1);
    EXPECT_EQ(sum.reports_ncmec, 0);
    EXPECT_EQ(ReadBytes(o.out_dir + "/reports.csv"),
              "destination,sent,pending,failed,retracted\nNCA,1,0,0,0\nNCMEC,0,0,0,0\n");
  }
  // A bad upload parameter is refused with its name.
  r = client_->Post("/v1/scan?uploader_ip=300.1.2.3", auth, ReadBytes(kFlower), "image/jpeg");
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(r->body.find("uploader_ip"), std::string::npos);
}

// With NCMEC configured, a confirmed case goes to the CyberTipline (a fake
// following the documented protocol) with its file, and the NCA is not
// sent the same content (the UK regulations exempt it).
TEST_F(ConsoleTest, ConfirmAndReportSendsToNcmecAndNotAlsoToTheNca) {
  report::testing::FakeCyberTipline fake;
  ASSERT_TRUE(fake.started());
  std::ofstream(dir_.path() + "/ncmec.password") << report::testing::kPassword << "\n";
  Start(Json{{"reports",
              {{"destinations", {"ncmec", "nca"}},
               {"service_name", "Example Photos"},
               {"reporter", {{"name", "Trust Safety"}, {"email", "reports@example.org"}}},
               {"ncmec",
                {{"url", fake.base()},
                 {"username", report::testing::kUser},
                 {"password_file", dir_.path() + "/ncmec.password"}}}}}});
  const std::string admin = testing::CreateKey(dir_.path(), "admin");
  const int64_t id = MakeCase("?content_id=post-3&account_id=acct-7&uploader_ip=2001:db8::5");
  httplib::Result r = client_->Post("/v1/cases/" + std::to_string(id) + "/actions",
                                    httplib::Headers{{"Authorization", "Bearer " + admin}},
                                    Json{{"action", "confirm"}}.dump(), "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  Json a = Json::parse(r->body);
  ASSERT_EQ(a["reports"].size(), 2u) << a.dump();
  EXPECT_EQ(a["reports"][0]["destination"], "ncmec");
  EXPECT_EQ(a["reports"][0]["state"], "pending");
  EXPECT_EQ(a["reports"][1]["destination"], "nca");
  EXPECT_EQ(a["reports"][1]["state"], "not_needed");
  for (int i = 0; i < 200 && Audited("report.sent").empty(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const auto sent = Audited("report.sent");
  ASSERT_EQ(sent.size(), 1u) << "failed: " << Audited("report.failed").size();
  const std::string ncmec_id = Json::parse(sent[0].event.details_json)["external_id"];
  report::testing::FakeReport got = fake.report(ncmec_id);
  EXPECT_TRUE(got.finished);
  ASSERT_EQ(got.file_ids.size(), 1u);
  hash::ImageHasher hasher;
  hash::FileHashes h;
  ASSERT_TRUE(hasher.HashFile(kFlower, &h).ok());
  EXPECT_EQ(got.file_md5[got.file_ids[0]], hash::ToHex(h.md5));  // the evidence itself, intact
  EXPECT_FALSE(got.generative_ai[got.file_ids[0]]);
  EXPECT_NE(got.xml.find("acct-7"), std::string::npos);
  EXPECT_NE(got.xml.find("2001:db8::5"), std::string::npos);
  EXPECT_NE(got.xml.find("reports@example.org"), std::string::npos);
  // Reading the evidence to send it is in the audit log too.
  bool read_for_report = false;
  for (const auto& e : Audited("evidence.read"))
    read_for_report |=
        e.event.actor == "system:reports" && e.event.details_json.find("NCMEC") != std::string::npos;
  EXPECT_TRUE(read_for_report);
}

// NCMEC not answering keeps the report pending and tries again; NCMEC
// refusing it marks it failed, with NCMEC's reason, for a person to see.
TEST_F(ConsoleTest, AnUnansweredReportIsRetriedAndARefusedOneFails) {
  report::testing::FakeCyberTipline fake;
  ASSERT_TRUE(fake.started());
  std::ofstream(dir_.path() + "/ncmec.password") << report::testing::kPassword << "\n";
  Start(Json{{"reports",
              {{"destinations", {"ncmec"}},
               {"reporter", {{"name", "Trust Safety"}, {"email", "reports@example.org"}}},
               {"retry_s", 1},
               {"ncmec",
                {{"url", fake.base()},
                 {"username", report::testing::kUser},
                 {"password_file", dir_.path() + "/ncmec.password"}}}}}});
  const std::string admin = testing::CreateKey(dir_.path(), "admin");
  httplib::Headers auth{{"Authorization", "Bearer " + admin}};
  fake.submit_http = 503;
  const int64_t id = MakeCase("?content_id=post-4");
  ASSERT_EQ(client_
                ->Post("/v1/cases/" + std::to_string(id) + "/actions", auth,
                       Json{{"action", "confirm"}}.dump(), "application/json")
                ->status,
            200);
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  EXPECT_TRUE(Audited("report.sent").empty());
  EXPECT_TRUE(Audited("report.failed").empty());  // still pending, not given up
  fake.submit_http = 0;
  for (int i = 0; i < 200 && Audited("report.sent").empty(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(Audited("report.sent").size(), 1u);

  // Another photo, refused by NCMEC's validation: failed, with the reason.
  fake.submit_code = 4100;
  const int64_t refused = MakeCase(
      "?content_id=post-5", std::string(SAFEGUARD_SHARED_DIR) + "/media/photos/python3-sklearn/china.jpg");
  ASSERT_GT(refused, 0);
  ASSERT_EQ(client_
                ->Post("/v1/cases/" + std::to_string(refused) + "/actions", auth,
                       Json{{"action", "confirm"}}.dump(), "application/json")
                ->status,
            200);
  for (int i = 0; i < 200 && Audited("report.failed").empty(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const auto failed = Audited("report.failed");
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_NE(failed[0].event.details_json.find("4100"), std::string::npos) << failed[0].event.details_json;
}

}  // namespace
}  // namespace safeguard::server
