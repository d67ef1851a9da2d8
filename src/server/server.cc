// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// The service's life: configuration, stores, listener, the background
// thread that loads the index and then follows the store, and shutdown.

#include <fcntl.h>
#include <openssl/rand.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "common/sqlite.h"
#include "safeguard/hash/digest.h"
#include "safeguard/server/service_db.h"
#include "service.h"

namespace safeguard::server {
namespace {

// A large index loaded from the store is saved as a snapshot at once, so
// the next start loads it instead (seconds instead of a minute at 10M).
constexpr size_t kSnapshotMinEntries = 100000;

// Memory left idle can be reclaimed below the process (docs/BENCHMARKS.md);
// an idle server touches its index this often to keep the first queries
// after a quiet period fast.
constexpr std::chrono::minutes kPrefaultInterval{5};

Status SplitListen(const std::string& listen, std::string* host, uint16_t* port) {
  const size_t colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return Status::InvalidArgument("listen address " + listen + " is not HOST:PORT (e.g. 127.0.0.1:8080)");
  }
  *host = listen.substr(0, colon);
  if (host->size() > 2 && host->front() == '[' && host->back() == ']')
    *host = host->substr(1, host->size() - 2);
  const std::string p = listen.substr(colon + 1);
  char* end = nullptr;
  const long v = std::strtol(p.c_str(), &end, 10);
  if (p.empty() || *end != '\0' || v < 0 || v > 65535) {
    return Status::InvalidArgument("listen address " + listen + ": the port must be 0 to 65535");
  }
  *port = static_cast<uint16_t>(v);
  return Status::Ok();
}

// Reads a key file's first line (64 hex digits) into *hex, or, when
// `create` and the file does not exist, makes a new random key there (mode
// 0600) first. `what` names the key in errors.
Status ReadOrCreateKeyFile(const std::string& path, bool create, const char* what, std::string* hex) {
  std::error_code ec;
  if (create && !std::filesystem::exists(path, ec)) {
    unsigned char bytes[32];
    if (RAND_bytes(bytes, sizeof(bytes)) != 1) return Status::Internal(std::string(what) + ": no randomness");
    const std::string text = hash::ToHex(std::span<const uint8_t>(bytes, sizeof(bytes))) + "\n";
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0)
      return Status::IoError(std::string(what) + ": cannot create " + path + ": " + std::strerror(errno));
    const bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
    const bool synced = ::fsync(fd) == 0;
    ::close(fd);
    if (!written || !synced) return Status::IoError(std::string(what) + ": cannot write " + path);
  }
  std::ifstream in(path);
  if (!in) return Status::NotFound(std::string(what) + ": cannot read " + path);
  std::getline(in, *hex);
  while (!hex->empty() && (hex->back() == '\r' || hex->back() == ' ')) hex->pop_back();
  return Status::Ok();
}

// How often the background thread enforces evidence retention.
constexpr std::chrono::minutes kEvidenceSweepInterval{60};

}  // namespace

Status Server::Start(const ServerOptions& options, std::unique_ptr<Server>* out) {
  std::unique_ptr<Service> s;
  Status st = Service::Create(options, &s);
  if (!st.ok()) return st;
  *out = std::move(s);
  return Status::Ok();
}

Status Service::Create(const ServerOptions& options, std::unique_ptr<Service>* out) {
  if (options.data_dir.empty()) return Status::InvalidArgument("the server needs a data directory (--data)");
  std::unique_ptr<Service> s(new Service(options));
  Status st = s->Init();
  if (!st.ok()) {
    s->Shutdown(std::chrono::milliseconds(0));
    return st;
  }
  *out = std::move(s);
  return Status::Ok();
}

int64_t Service::NowMs() const {
  if (options_.clock_ms) return options_.clock_ms();
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void Service::Log(const std::string& event, const nlohmann::ordered_json& fields) {
  nlohmann::ordered_json j;
  j["time"] = audit::FormatTimeMs(NowMs());
  j["event"] = event;
  j.update(fields);
  const std::string line = j.dump();
  if (options_.log) {
    options_.log(line);
  } else {
    std::cerr << line << std::endl;
  }
}

Status Service::Init() {
  if (!options_.config_path.empty()) {
    Status s = LoadServerConfig(options_.config_path, &config_);
    if (!s.ok()) return s;
  }
  if (!options_.listen.empty()) config_.listen = options_.listen;
  if (options_.threads > 0) config_.threads = options_.threads;
  signal_cache_ = std::make_unique<SignalCache>(config_.signal_cache_mib << 20);
  const std::string policy_json = policy::PolicyToJson(config_.policy);
  policy_version_ =
      hash::ToHex(hash::Sha256(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(policy_json.data()),
                                                        policy_json.size())))
          .substr(0, 16);

  // The generation guard's lists and rules: refused at start if malformed.
  {
    guard::GuardPolicy gp;
    gp.sexual_content =
        config_.guard_sexual_content == "allow" ? guard::Decision::kAllow : guard::Decision::kBlock;
    const std::string dir =
        config_.guard_data_dir.empty() ? guard::PromptGuard::DefaultDataDir() : config_.guard_data_dir;
    Status g = guard::PromptGuard::Load(dir, gp, &guard_);
    if (!g.ok()) {
      // Lists named in the configuration must load; the default folder may
      // be missing (a deployment without the guard), and then the guard's
      // routes answer 503, so a caller fails closed.
      if (!config_.guard_data_dir.empty() || g.code() != StatusCode::kNotFound) {
        return Status::InvalidArgument("guard: " + g.message());
      }
      guard_.reset();
      Log("guard.unavailable", nlohmann::ordered_json{{"reason", g.message()}});
    }
    // Faces, for POST /v1/guard/input; without the cascades that route
    // answers 503 (fail closed) and the rest of the server runs.
    g = guard::FaceDetector::Load(guard::FaceDetector::Options(), &faces_);
    if (!g.ok()) {
      faces_.reset();
      Log("guard.faces_unavailable", nlohmann::ordered_json{{"reason", g.message()}});
    }
  }

  // Banks.
  Status s = options_.postgres.empty() ? bank::Store::OpenSqlite(options_.data_dir, &store_)
                                       : bank::Store::OpenPostgres(options_.postgres, &store_);
  if (!s.ok()) return s;

  // Service records: keys, decisions and audit on one connection; the outbox
  // on its own.
  s = OpenServiceDb(options_.data_dir, /*create=*/true, &db_);
  if (!s.ok()) return s;
  // No checkpoints in a request's commit: SQLite would run one in the
  // commit that takes the write-ahead log past 1,000 pages, under db_mu_,
  // and every scan would wait behind it (writing back a growing database's
  // scattered index pages took up to 0.5 s here, docs/BENCHMARKS.md).
  // CheckpointLoop does it in the background instead.
  s = db_->Exec("PRAGMA wal_autocheckpoint = 0");
  if (!s.ok()) return s;
  std::function<int64_t()> clock = options_.clock_ms;
  s = KeyStore::Open(db_.get(), &db_mu_, clock, &keys_);
  if (!s.ok()) return s;
  s = audit::AuditLog::Open(db_.get(), clock, &audit_);
  if (!s.ok()) return s;
  s = guard::AccountLimits::Open(db_.get(), config_.guard_strikes, clock, &accounts_);
  if (!s.ok()) return s;
  s = cases::CaseStore::Open(db_.get(), cases::CasePolicy(), clock, &cases_);
  if (!s.ok()) return s;
  {
    SessionPolicy sessions;
    sessions.idle_ms = int64_t{config_.console_session_idle_minutes} * 60 * 1000;
    s = UserStore::Open(db_.get(), &db_mu_, sessions, clock, &users_);
    if (!s.ok()) return s;
  }
  {
    // The evidence store's key: DATA_DIR/evidence.key (made on first
    // start) unless the configuration names one, which must exist.
    const std::string key_path = config_.cases_evidence_key_file.empty() ? options_.data_dir + "/evidence.key"
                                                                         : config_.cases_evidence_key_file;
    std::string hex;
    report::EvidenceKey key;
    s = ReadOrCreateKeyFile(key_path, config_.cases_evidence_key_file.empty(), "evidence key", &hex);
    if (s.ok()) s = report::ParseEvidenceKey(hex, &key);
    if (!s.ok()) return Status::InvalidArgument("evidence key " + key_path + ": " + s.message());
    s = report::EvidenceStore::Open(options_.data_dir, db_.get(), key, audit_.get(),
                                    report::RetentionPolicy(), clock, &evidence_);
    if (!s.ok()) return s;
  }
  s = report::ReportLedger::Open(db_.get(), clock, &reports_);
  if (!s.ok()) return s;
  s = LoadOutputGuard();
  if (!s.ok()) return s;
  static const char* const kDecisionMigrations[] = {
      R"sql(
CREATE TABLE decisions (
  id         TEXT PRIMARY KEY,
  time_ms    INTEGER NOT NULL,
  actor      TEXT NOT NULL,
  content_id TEXT NOT NULL,
  action     TEXT NOT NULL,
  record     TEXT NOT NULL
);
CREATE INDEX decisions_time ON decisions (time_ms);
)sql",
  };
  s = sqlite::Migrate(db_.get(), "decisions", kDecisionMigrations);
  if (!s.ok()) return s;
  OutboxOptions oo;
  oo.endpoints = config_.webhooks;
  oo.timeout_ms = config_.webhook_timeout_ms;
  oo.max_attempts = config_.webhook_max_attempts;
  oo.clock_ms = clock;
  s = Outbox::Open(ServiceDbPath(options_.data_dir), oo, &outbox_);
  if (!s.ok()) return s;

  // The configuration in force, on record before the first decision.
  nlohmann::json details;
  details["config"] = nlohmann::json::parse(config_.canonical_json);
  details["policy"] = nlohmann::json::parse(policy_json);
  details["policy_version"] = policy_version_;
  {
    std::lock_guard<std::mutex> lock(db_mu_);
    s = audit_->Append(audit::Event{.actor = "system",
                                    .action = "config.load",
                                    .subject = options_.config_path,
                                    .details_json = details.dump()},
                       nullptr);
  }
  if (!s.ok()) return s;
  outbox_->Start();

  // Listen at once (health checks answer while the index loads).
  HttpServerOptions ho;
  s = SplitListen(config_.listen, &ho.address, &ho.port);
  if (!s.ok()) return s;
  ho.threads = config_.threads > 0 ? config_.threads : std::max(1u, std::thread::hardware_concurrency());
  ho.max_body_bytes = config_.max_body_bytes;
  ho.request_timeout = std::chrono::seconds(config_.request_timeout_s);
  // An idle keep-alive connection and a request still arriving get the same
  // deadline: a client that sends half a request and stops is cut off then.
  ho.idle_timeout = ho.request_timeout;
  ho.tls_cert_file = config_.tls_cert_file;
  ho.tls_key_file = config_.tls_key_file;
  ho.on_refused = [this](int status) { metrics_.Request(Metrics::RouteIndex("other"), status, 0); };
  s = HttpServer::Start(
      ho, [this](const HttpRequest& req, HttpResponse* res) { Handle(req, res); }, &http_);
  if (!s.ok()) return s;
  Log("listening", nlohmann::ordered_json{{"address", ho.address},
                                          {"port", http_->port()},
                                          {"tls", http_->tls()},
                                          {"threads", ho.threads},
                                          {"policy_version", policy_version_}});
  loader_ = std::thread([this] { LoadAndFollow(); });
  reporter_ = std::thread([this] { ReportLoop(); });
  checkpointer_ = std::thread([this] { CheckpointLoop(); });
  return Status::Ok();
}

void Service::CheckpointLoop() {
  std::unique_ptr<sqlite::Conn> conn;
  Status s = OpenServiceDb(options_.data_dir, /*create=*/false, &conn);
  if (!s.ok()) {
    Log("checkpoint_failed", nlohmann::ordered_json{{"error", s.message()}});
    return;
  }
  bool logged = false;
  while (!stopping_.load()) {
    {
      std::unique_lock<std::mutex> lock(stop_mu_);
      stop_cv_.wait_for(lock, std::chrono::seconds(1), [this] { return stopping_.load(); });
    }
    // PASSIVE: copies what no reader still needs, waits for nobody, and
    // writers go on appending meanwhile; the next commit after a complete
    // one starts the log again from its beginning.
    int log_frames = 0, copied = 0;
    const int rc =
        sqlite3_wal_checkpoint_v2(conn->db(), nullptr, SQLITE_CHECKPOINT_PASSIVE, &log_frames, &copied);
    if (rc != SQLITE_OK && rc != SQLITE_BUSY && !logged) {
      Log("checkpoint_failed", nlohmann::ordered_json{{"error", sqlite3_errmsg(conn->db())}});
      logged = true;  // once: it is retried every second
    }
  }
}

void Service::LoadAndFollow() {
  const auto t0 = std::chrono::steady_clock::now();
  bank::MatcherOptions mo;
  if (config_.index_compact) mo.pdq_layout = index::MihIndex::Layout::kCompact;
  if (config_.snapshot && options_.postgres.empty())
    mo.snapshot_path = options_.data_dir + "/pdq-index.snapshot";
  std::unique_ptr<bank::Matcher> opened;
  Status s = bank::Matcher::Open(store_.get(), mo, &opened);
  std::shared_ptr<bank::Matcher> m = std::move(opened);
  // Ready means compact: until the last additions of a load from the store
  // are folded into the index base, every lookup scans them.
  if (s.ok()) m->WaitForCompaction();
  if (s.ok() && !mo.snapshot_path.empty() && m->load_source() != "snapshot" &&
      m->pdq_entries() >= kSnapshotMinEntries) {
    Status saved = m->SaveSnapshot();
    if (!saved.ok()) Log("snapshot_not_saved", nlohmann::ordered_json{{"error", saved.message()}});
  }
  {
    std::lock_guard<std::mutex> lock(matcher_mu_);
    load_status_ = s;
    if (s.ok()) matcher_ = m;
    // With matcher_, so that ready() is true once WaitReady returns.
    ready_.store(s.ok());
  }
  ready_cv_.notify_all();
  if (!s.ok()) {
    Log("index_load_failed", nlohmann::ordered_json{{"error", s.message()}});
    return;
  }
  Log("ready",
      nlohmann::ordered_json{
          {"pdq_entries", m->pdq_entries()},
          {"digest_entries", m->digest_entries()},
          {"loaded_from", m->load_source()},
          {"seconds", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()}});
  // Follow the store: changes made by other processes (the CLI, a sync) and
  // other servers on the same PostgreSQL reach this index within the
  // refresh interval; changes made through this server apply before it
  // answers (BankChanged).
  auto last_prefault = std::chrono::steady_clock::now();
  auto last_sweep = std::chrono::steady_clock::now() - kEvidenceSweepInterval;
  while (!stopping_.load()) {
    if (std::chrono::steady_clock::now() - last_sweep >= kEvidenceSweepInterval) {
      // Evidence past its retention is erased (docs/evidence.md).
      report::SweepResult swept;
      Status e;
      {
        std::lock_guard<std::mutex> lock(db_mu_);
        e = evidence_->Sweep(&swept);
      }
      if (!e.ok()) Log("evidence_sweep_failed", nlohmann::ordered_json{{"error", e.message()}});
      if (swept.contents_erased + swept.references_deleted + swept.orphans_removed > 0) {
        Log("evidence_swept", nlohmann::ordered_json{{"contents_erased", swept.contents_erased},
                                                     {"references_deleted", swept.references_deleted},
                                                     {"orphans_removed", swept.orphans_removed}});
      }
      last_sweep = std::chrono::steady_clock::now();
    }
    {
      std::unique_lock<std::mutex> lock(stop_mu_);
      stop_cv_.wait_for(lock, std::chrono::milliseconds(config_.refresh_interval_ms),
                        [this] { return stopping_.load(); });
    }
    if (stopping_.load()) break;
    Status r = m->Refresh(nullptr);
    if (!r.ok()) Log("refresh_failed", nlohmann::ordered_json{{"error", r.message()}});
    if (std::chrono::steady_clock::now() - last_prefault > kPrefaultInterval) {
      m->Prefault();
      last_prefault = std::chrono::steady_clock::now();
    }
  }
}

Status Service::WaitReady(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(matcher_mu_);
  ready_cv_.wait_for(lock, timeout, [this] { return matcher_ != nullptr || !load_status_.ok(); });
  if (!load_status_.ok()) return load_status_;
  if (matcher_ == nullptr) return Status::Unavailable("the index is still loading");
  return Status::Ok();
}

Status Service::Matcher(std::shared_ptr<bank::Matcher>* m) {
  std::lock_guard<std::mutex> lock(matcher_mu_);
  if (matcher_ == nullptr) {
    if (!load_status_.ok()) return Status::Unavailable("the index failed to load: " + load_status_.message());
    return Status::Unavailable("the index is still loading; retry when /readyz answers 200");
  }
  *m = matcher_;
  return Status::Ok();
}

Status Service::RefreshNow() {
  std::shared_ptr<bank::Matcher> m;
  Status s = Matcher(&m);
  if (!s.ok()) return Status::Ok();  // the load will include the change
  return m->Refresh(nullptr);
}

std::unique_ptr<hash::ImageHasher> Service::TakeHasher() {
  {
    std::lock_guard<std::mutex> lock(hashers_mu_);
    if (!hashers_.empty()) {
      auto h = std::move(hashers_.back());
      hashers_.pop_back();
      return h;
    }
  }
  hash::HashOptions ho;
  ho.dihedral = config_.policy.dihedral;
  ho.limits.max_pixels = config_.max_pixels;
  ho.limits.max_file_bytes = config_.max_body_bytes;
  return std::make_unique<hash::ImageHasher>(ho);
}

void Service::ReturnHasher(std::unique_ptr<hash::ImageHasher> h) {
  std::lock_guard<std::mutex> lock(hashers_mu_);
  hashers_.push_back(std::move(h));
}

void Service::Shutdown(std::chrono::milliseconds grace) {
  {
    std::lock_guard<std::mutex> lock(shutdown_mu_);
    if (shut_down_) return;
    shut_down_ = true;
  }
  // In order: no new requests and the running ones answered; then the
  // background threads; then the stores (by the destructor).
  if (http_) http_->Shutdown(grace);
  {
    std::lock_guard<std::mutex> lock(stop_mu_);
    stopping_.store(true);
  }
  stop_cv_.notify_all();
  if (loader_.joinable()) loader_.join();
  if (reporter_.joinable()) reporter_.join();
  if (checkpointer_.joinable()) checkpointer_.join();
  if (outbox_) outbox_->Stop();
  if (http_) Log("stopped");
}

Service::~Service() { Shutdown(std::chrono::milliseconds(2000)); }

// The output guard's classifiers and watermark key. The key must load (it
// marks every allowed image); a missing nsfwjs model leaves
// POST /v1/guard/output answering 503 (fail closed) unless the
// configuration names one, which must then load, as must every operator
// classifier.
Status Service::LoadOutputGuard() {
  const std::string key_path = config_.guard_watermark_key_file.empty() ? options_.data_dir + "/watermark.key"
                                                                        : config_.guard_watermark_key_file;
  wm_key_ = std::make_unique<guard::WatermarkKey>();
  std::string hex;
  Status s = ReadOrCreateKeyFile(key_path, config_.guard_watermark_key_file.empty(), "watermark key", &hex);
  if (s.ok()) s = guard::ParseWatermarkKey(hex, wm_key_.get());
  if (!s.ok()) return Status::InvalidArgument("watermark key " + key_path + ": " + s.message());
  for (const std::string& text : config_.guard_classifiers) {
    guard::ClassifierSpec spec;
    s = guard::ParseClassifierSpec(text, &spec);
    std::unique_ptr<guard::ImageClassifier> c;
    if (s.ok()) s = guard::ImageClassifier::Load(spec, &c);
    if (!s.ok()) return Status::InvalidArgument("guard.classifiers: " + s.message());
    classifiers_.push_back(std::move(c));
  }
  std::unique_ptr<guard::ImageClassifier> nsfw;
  s = guard::ImageClassifier::Load(
      guard::NsfwSpec(config_.guard_nsfw_model.empty() ? guard::NsfwModelPath() : config_.guard_nsfw_model),
      &nsfw);
  if (!s.ok()) {
    if (!config_.guard_nsfw_model.empty()) return Status::InvalidArgument("guard.nsfw_model: " + s.message());
    Log("guard.nsfw_unavailable", nlohmann::ordered_json{{"reason", s.message()}});
    return Status::Ok();
  }
  classifiers_.insert(classifiers_.begin(), std::move(nsfw));
  nsfw_ready_ = true;
  return Status::Ok();
}

}  // namespace safeguard::server
