// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// The service behind the HTTP API: what every route does, independent of
// the listener. server.cc wires it to HttpServer; routes.cc maps requests to
// these calls.

#ifndef SAFEGUARD_SRC_SERVER_SERVICE_H_
#define SAFEGUARD_SRC_SERVER_SERVICE_H_

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "config.h"
#include "http_server.h"
#include "metrics.h"
#include "safeguard/audit/audit_log.h"
#include "safeguard/bank/matcher.h"
#include "safeguard/bank/store.h"
#include "safeguard/cases/case_store.h"
#include "safeguard/guard/accounts.h"
#include "safeguard/guard/face_detector.h"
#include "safeguard/guard/image_classifier.h"
#include "safeguard/guard/input_guard.h"
#include "safeguard/guard/output_guard.h"
#include "safeguard/guard/prompt_guard.h"
#include "safeguard/guard/watermark.h"
#include "safeguard/hash/image_hasher.h"
#include "safeguard/report/evidence_store.h"
#include "safeguard/report/report_ledger.h"
#include "safeguard/server/api_keys.h"
#include "safeguard/server/server.h"
#include "safeguard/server/users.h"
#include "safeguard/server/webhooks.h"
#include "signal_cache.h"

namespace safeguard::sqlite {
class Conn;
}  // namespace safeguard::sqlite

namespace safeguard::server {

class Service final : public Server {
 public:
  static Status Create(const ServerOptions& options, std::unique_ptr<Service>* out);
  ~Service() override;

  void Shutdown(std::chrono::milliseconds grace) override;
  uint16_t port() const override { return http_ ? http_->port() : 0; }
  bool ready() const override { return ready_.load(); }
  Status WaitReady(std::chrono::milliseconds timeout) override;

  /// Answers one request (routes.cc).
  void Handle(const HttpRequest& request, HttpResponse* response);

 private:
  Service(const ServerOptions& options) : options_(options) {}
  Status Init();
  void LoadAndFollow();
  // Copies service.db's write-ahead log into the database file once a
  // second, on a connection of its own, so no request's commit does it
  // (see Create).
  void CheckpointLoop();
  // Writes one JSON line: time, event, then `fields` (an object).
  void Log(const std::string& event, const nlohmann::ordered_json& fields = nlohmann::ordered_json::object());
  int64_t NowMs() const;

  // Routes (routes.cc). Each fills *response; errors become JSON errors.
  void Route(const HttpRequest& req, HttpResponse* res, size_t* route);
  Status Authorize(const HttpRequest& req, uint32_t scope, ApiKey* key, bool* unauthenticated);
  Status Scan(const HttpRequest& req, const ApiKey& key, HttpResponse* res);
  Status HashOnly(const HttpRequest& req, HttpResponse* res);
  // POST /v1/hash for a video: digests, vPDQ text and TMK in base64.
  Status HashVideoOnly(const HttpRequest& req, std::string_view bytes, HttpResponse* res);
  Status Lookup(const HttpRequest& req, HttpResponse* res);
  Status Banks(const HttpRequest& req, const ApiKey& key, const std::vector<std::string>& parts,
               HttpResponse* res, size_t* route);
  Status GetDecision(const std::string& id, HttpResponse* res);
  // POST /v1/guard/prompt and /v1/guard/input (docs/guard.md), and their
  // record: the account's strikes and limits (which may raise *verdict's
  // decision) and the audit entry (never the prompt or the photo).
  Status GuardPrompt(const HttpRequest& req, const ApiKey& key, HttpResponse* res);
  Status GuardInput(const HttpRequest& req, const ApiKey& key, HttpResponse* res);
  Status GuardOutput(const HttpRequest& req, const ApiKey& key, HttpResponse* res);
  // GET /v1/guard/accounts/{id} and POST .../reinstate (scope review).
  Status GuardAccount(const std::string& account, HttpResponse* res);
  Status GuardReinstate(const HttpRequest& req, const ApiKey& key, const std::string& account,
                        HttpResponse* res);
  // Loads the output guard's classifiers and watermark key (server.cc).
  Status LoadOutputGuard();
  // Cases (case_routes.cc, docs/cases.md): /v1/cases... (scope review) and
  // POST /v1/reports/ncii (scope scan). OpenCaseLocked opens a case and
  // audits it; the caller holds db_mu_ (and usually a transaction).
  Status Cases(const HttpRequest& req, const ApiKey& key, const std::vector<std::string>& parts,
               HttpResponse* res);
  Status NciiReport(const HttpRequest& req, const ApiKey& key, HttpResponse* res);
  // POST /v1/public/reports/ncii (no key): the public form's report, at most
  // 10 an hour from one address.
  Status PublicNciiReport(const HttpRequest& req, HttpResponse* res);
  Status OpenCaseLocked(const cases::NewCase& c, const std::string& actor, cases::Case* out);
  // OpenCaseLocked in a transaction of its own; the caller holds db_mu_.
  Status OpenCaseInTransaction(const cases::NewCase& c, const std::string& actor, cases::Case* out);
  // POST /v1/appeals (scope scan): a user contests a decision.
  Status Appeal(const HttpRequest& req, const ApiKey& key, HttpResponse* res);
  // Banks a confirmed NCII report's PDQ and finds its near-duplicates among
  // past uploads; *effect gets "remove", "pdq", "bank". Takes db_mu_.
  Status ConfirmNcii(const ApiKey& key, const cases::Case& c, nlohmann::ordered_json* effect);
  Status RecordGuard(const ApiKey& key, const std::string& action, const std::string& id,
                     const std::string& account_id, const std::string& prompt, guard::PromptVerdict* verdict,
                     const nlohmann::ordered_json& extra, std::span<const uint8_t> image, int64_t* case_id);
  // The console (console_routes.cc, docs/console.md): sign-in, the
  // session's principal, the dashboard's figures, blurred previews and the
  // console's files. SessionPrincipal fills *key (role set, scopes from the
  // role) and *session (if not null) from the session cookie and checks
  // CSRF on requests that change something; *found is false when there is
  // no cookie.
  Status SessionRoute(const HttpRequest& req, HttpResponse* res, bool* unauthenticated);
  Status SessionPrincipal(const HttpRequest& req, ApiKey* key, bool* found, Session* session = nullptr);
  Status Dashboard(const HttpRequest& req, HttpResponse* res);
  Status EvidencePreview(const ApiKey& key, int64_t case_id, const std::string& item, HttpResponse* res);
  Status ConsoleFile(const HttpRequest& req, HttpResponse* res);
  // Reports of confirmed CSAM (report_sender.cc, docs/reports.md).
  // Reportable: a `confirm` of this case makes reports. QueueReportsLocked
  // records them in the ledger (the caller holds db_mu_ and a
  // transaction); *effect gets "reports". ReportLoop (the reporter thread)
  // sends pending ones with SendOneReport (*retry: try again later) and
  // FinishReport (the ledger's state and the audit record, one transaction).
  bool Reportable(const cases::Case& c);
  // GET /v1/reports?days=N (scope review): the ledger, newest first.
  Status ListReports(const HttpRequest& req, HttpResponse* res);
  Status QueueReportsLocked(const cases::Case& c, nlohmann::ordered_json* effect);
  void ReportLoop();
  Status SendOneReport(const report::ReportRecord& r, bool* retry);
  Status FinishReport(const report::ReportRecord& r, const Status& outcome, const std::string& external_id,
                      bool retracted);
  Status Readyz(HttpResponse* res);
  void MetricsText(HttpResponse* res);

  // Helpers.
  Status Matcher(std::shared_ptr<bank::Matcher>* m);
  std::unique_ptr<hash::ImageHasher> TakeHasher();
  void ReturnHasher(std::unique_ptr<hash::ImageHasher> h);
  // Applies a bank change made through the API to this server's index and
  // records it in the audit log.
  Status BankChanged(const ApiKey& key, const std::string& action, const std::string& subject,
                     const nlohmann::ordered_json& details);
  Status RefreshNow();

  const ServerOptions options_;
  ServerConfig config_;
  std::string policy_version_;
  std::unique_ptr<bank::Store> store_;
  std::unique_ptr<guard::PromptGuard> guard_;
  std::unique_ptr<guard::FaceDetector> faces_;
  std::unique_ptr<guard::AccountLimits> accounts_;   // on db_, under db_mu_
  std::unique_ptr<cases::CaseStore> cases_;          // on db_, under db_mu_
  std::unique_ptr<report::EvidenceStore> evidence_;  // on db_, under db_mu_
  std::unique_ptr<report::ReportLedger> reports_;    // on db_, under db_mu_
  // The output guard: the NSFW classifier first (empty when its model is
  // missing: the route answers 503), then the operator's; the watermark key.
  std::vector<std::unique_ptr<guard::ImageClassifier>> classifiers_;
  std::unique_ptr<guard::WatermarkKey> wm_key_;
  bool nsfw_ready_ = false;

  // service.db: one connection for keys, decisions and audit, under db_mu_.
  std::unique_ptr<sqlite::Conn> db_;
  std::mutex db_mu_;
  std::unique_ptr<KeyStore> keys_;
  std::unique_ptr<UserStore> users_;  // on db_, under db_mu_
  // Times of public reports in the last hour, by remote address.
  std::mutex public_mu_;
  std::map<std::string, std::vector<int64_t>> public_reports_;
  std::unique_ptr<audit::AuditLog> audit_;
  std::unique_ptr<Outbox> outbox_;

  Metrics metrics_;
  // Matched signals' records for lookups (index.signal_cache_mib); set in Create.
  std::unique_ptr<SignalCache> signal_cache_;
  std::unique_ptr<HttpServer> http_;

  std::mutex matcher_mu_;
  std::shared_ptr<bank::Matcher> matcher_;  // guarded by matcher_mu_; null until loaded
  Status load_status_;                      // guarded by matcher_mu_
  std::condition_variable ready_cv_;
  std::atomic<bool> ready_{false};
  std::atomic<bool> stopping_{false};
  std::mutex stop_mu_;
  std::condition_variable stop_cv_;  // wakes the loader and reporter threads
  bool reports_wake_ = false;        // guarded by stop_mu_: a report is waiting
  std::thread loader_;
  std::thread reporter_;
  std::thread checkpointer_;

  std::mutex hashers_mu_;
  std::vector<std::unique_ptr<hash::ImageHasher>> hashers_;  // guarded by hashers_mu_

  std::mutex shutdown_mu_;
  bool shut_down_ = false;  // guarded by shutdown_mu_
};

}  // namespace safeguard::server

#endif  // SAFEGUARD_SRC_SERVER_SERVICE_H_
