// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// The webhook outbox against real parts: a real SQLite file in a temporary
// directory, real HTTP to receivers on 127.0.0.1 (cpp-httplib), and a clock
// the tests move by hand so backoff is stepped through without sleeping.
// The events are plain test records ("decision.created" for an upload id).

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/sqlite.h"
#include "safeguard/server/webhooks.h"

namespace safeguard::server {
namespace {

// The worked example of docs/webhooks.md; if this test fails, fix the doc.
constexpr char kDocSecret[] = "example-webhook-secret";
constexpr int64_t kDocTimestamp = 1767225600;  // 2026-01-01T00:00:00Z
constexpr char kDocBody[] = R"({"id":"evt_0001","type":"decision.created","action":"review"})";
constexpr char kDocHeader[] =
    "t=1767225600,v1=dfaa6322b10b4fc9858c3c54c6a8d9d7dd8e0fae9bbecc720e2f6e665f86c2e3";

// Distinctive, so finding it anywhere (a row, an error, the file bytes) is
// unambiguous.
constexpr char kSecretA[] = "whsec-A-7f3c9e1d-never-stored";
constexpr char kSecretB[] = "whsec-B-2b8a4f60-never-stored";

class TempDir {
 public:
  TempDir() {
    const char* tmp = std::getenv("TMPDIR");
    std::string templ =
        std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/safeguard-webhooks-XXXXXX";
    std::vector<char> buf(templ.begin(), templ.end());
    buf.push_back('\0');
    if (mkdtemp(buf.data()) == nullptr) std::abort();
    path_ = buf.data();
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A port on 127.0.0.1 that nothing listens on (it was free a moment ago).
int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

// Waits (up to a generous deadline, not a timed assertion) for `done`.
template <typename F>
bool Eventually(F done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return done();
}

// One request as a receiver saw it.
struct Received {
  std::string path, body, content_type, event_id, event_type, attempt, signature;
};

// A webhook receiver on 127.0.0.1 that records every POST and answers with
// the statuses queued in `statuses` (then 200).
class Receiver {
 public:
  Receiver() {
    server_.Post(R"(/.*)", [this](const httplib::Request& req, httplib::Response& res) {
      if (hold_first && !held_.exchange(true)) {
        // Keeps the first request open until released (the crash test kills
        // the sender meanwhile).
        std::unique_lock<std::mutex> lock(mu_);
        in_handler_ = true;
        cv_.notify_all();
        cv_.wait_for(lock, std::chrono::seconds(60), [this] { return released_; });
      }
      std::lock_guard<std::mutex> lock(mu_);
      requests_.push_back(
          {req.path, req.body, req.get_header_value("Content-Type"),
           req.get_header_value("Safeguard-Event-Id"), req.get_header_value("Safeguard-Event-Type"),
           req.get_header_value("Safeguard-Delivery-Attempt"), req.get_header_value("Safeguard-Signature")});
      int status = 200;
      if (!statuses_.empty()) {
        status = statuses_.front();
        statuses_.erase(statuses_.begin());
      }
      res.status = status;
      res.set_content(status == 200 ? "ok" : answer_body_, "text/plain");
    });
  }
  ~Receiver() { Stop(); }

  // Listens on `port` (0: any free port).
  void Start(int port = 0) {
    if (port == 0) {
      port_ = server_.bind_to_any_port("127.0.0.1");
    } else {
      ASSERT_TRUE(server_.bind_to_port("127.0.0.1", port));
      port_ = port;
    }
    ASSERT_GT(port_, 0);
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  void Stop() {
    Release();
    if (thread_.joinable()) {
      server_.stop();
      thread_.join();
    }
  }
  std::string url(const std::string& path = "/hook") const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  void Answer(std::vector<int> statuses, std::string body = "receiver error") {
    std::lock_guard<std::mutex> lock(mu_);
    statuses_ = std::move(statuses);
    answer_body_ = std::move(body);
  }
  std::vector<Received> requests() {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }
  void WaitInHandler() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(60), [this] { return in_handler_; });
  }
  void Release() {
    std::lock_guard<std::mutex> lock(mu_);
    released_ = true;
    cv_.notify_all();
  }

  std::atomic<bool> hold_first{false};

 private:
  httplib::Server server_;
  std::thread thread_;
  int port_ = -1;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<int> statuses_;
  std::string answer_body_;
  std::vector<Received> requests_;
  std::atomic<bool> held_{false};
  bool in_handler_ = false;
  bool released_ = false;
};

// What the table holds for one (endpoint, event id).
struct RowView {
  bool exists = false;
  std::string state, last_error;
  int64_t attempts = 0, next_attempt_ms = 0, last_status = 0, delivered_ms = 0;
};

class WebhookOutboxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_path_ = dir_.path() + "/service.db";
    // The server's own connection, on which decisions and their events are
    // written in one transaction.
    ASSERT_TRUE(sqlite::Conn::Open(db_path_, true, 2, &server_conn_).ok());
  }

  OutboxOptions Options(std::vector<WebhookEndpoint> endpoints) {
    OutboxOptions o;
    o.endpoints = std::move(endpoints);
    o.timeout_ms = 5000;
    o.min_backoff_ms = 1000;
    o.max_backoff_ms = 60000;
    o.clock_ms = [this] { return now_ms_.load(); };
    o.poll_interval_ms = 20;
    return o;
  }

  std::unique_ptr<Outbox> OpenOutbox(OutboxOptions options) {
    std::unique_ptr<Outbox> outbox;
    Status s = Outbox::Open(db_path_, std::move(options), &outbox);
    EXPECT_TRUE(s.ok()) << s.message();
    return outbox;
  }

  // What the server does: one transaction for the decision and its events.
  void EnqueueCommitted(Outbox* outbox, const std::string& event_id,
                        const std::string& type = "decision.created", size_t* queued = nullptr) {
    ASSERT_TRUE(server_conn_->Exec("BEGIN IMMEDIATE").ok());
    Status s = outbox->Enqueue(server_conn_.get(), type, event_id, Payload(event_id, type), queued);
    ASSERT_TRUE(s.ok()) << s.message();
    ASSERT_TRUE(server_conn_->Exec("COMMIT").ok());
  }

  static std::string Payload(const std::string& event_id, const std::string& type = "decision.created") {
    return R"({"id":")" + event_id + R"(","type":")" + type +
           R"(","upload_id":"upload-42","action":"review"})";
  }

  RowView Row(const std::string& endpoint, const std::string& event_id) {
    RowView v;
    sqlite::Stmt q(
        server_conn_.get(),
        "SELECT state, attempts, next_attempt_ms, coalesce(last_status, 0), coalesce(last_error, ''), "
        "coalesce(delivered_ms, 0) FROM webhook_outbox WHERE endpoint = ?1 AND event_id = ?2");
    q.Text(1, endpoint);
    q.Text(2, event_id);
    bool row = false;
    EXPECT_TRUE(q.Step(&row).ok());
    if (!row) return v;
    v.exists = true;
    v.state = q.ColumnText(0);
    v.attempts = q.ColumnInt(1);
    v.next_attempt_ms = q.ColumnInt(2);
    v.last_status = q.ColumnInt(3);
    v.last_error = q.ColumnText(4);
    v.delivered_ms = q.ColumnInt(5);
    return v;
  }

  size_t Deliver(Outbox* outbox) {
    size_t attempted = 99;
    Status s = outbox->DeliverDueNow(&attempted);
    EXPECT_TRUE(s.ok()) << s.message();
    return attempted;
  }

  OutboxStats GetStats(Outbox* outbox) {
    OutboxStats st;
    Status s = outbox->Stats(&st);
    EXPECT_TRUE(s.ok()) << s.message();
    return st;
  }

  TempDir dir_;
  std::string db_path_;
  std::unique_ptr<sqlite::Conn> server_conn_;
  std::atomic<int64_t> now_ms_{int64_t{1767225600} * 1000};
};

// ---- signature ----------------------------------------------------------------

TEST(WebhookSignature, DocumentedExampleIsTrue) {
  EXPECT_EQ(SignWebhook(kDocSecret, kDocTimestamp, kDocBody), kDocHeader);
  EXPECT_TRUE(VerifyWebhookSignature(kDocHeader, kDocSecret, kDocBody, kDocTimestamp + 10, 300).ok());
}

TEST(WebhookSignature, RoundTrip) {
  for (const std::string& body :
       {std::string(), std::string("{}"), std::string(R"({"a":"\u00e9","n":[1,2,3]})"),
        std::string(100000, 'x'), std::string("a\0b", 3)}) {
    for (const std::string& secret : {std::string("s"), std::string(kSecretA), std::string(200, 'k')}) {
      const std::string header = SignWebhook(secret, 1700000000, body);
      ASSERT_EQ(header.size(), std::string("t=1700000000,v1=").size() + 64);
      Status s = VerifyWebhookSignature(header, secret, body, 1700000000, 300);
      EXPECT_TRUE(s.ok()) << s.message();
    }
  }
}

TEST(WebhookSignature, TamperingIsRefused) {
  const std::string body = kDocBody;
  const std::string header = SignWebhook(kDocSecret, kDocTimestamp, body);
  const int64_t now = kDocTimestamp;

  std::string tampered_body = body;
  tampered_body[tampered_body.size() - 3] = 'x';
  EXPECT_EQ(VerifyWebhookSignature(header, kDocSecret, tampered_body, now, 300).code(),
            StatusCode::kPermissionDenied);
  EXPECT_EQ(VerifyWebhookSignature(header, kDocSecret, body + " ", now, 300).code(),
            StatusCode::kPermissionDenied);

  // A replay with a fresh timestamp but the old MAC.
  std::string new_t = header;
  new_t.replace(2, 10, std::to_string(kDocTimestamp + 1000));
  EXPECT_EQ(VerifyWebhookSignature(new_t, kDocSecret, body, kDocTimestamp + 1000, 300).code(),
            StatusCode::kPermissionDenied);

  // One flipped hex digit of the MAC.
  std::string flipped = header;
  flipped.back() = flipped.back() == '0' ? '1' : '0';
  EXPECT_EQ(VerifyWebhookSignature(flipped, kDocSecret, body, now, 300).code(),
            StatusCode::kPermissionDenied);

  EXPECT_EQ(VerifyWebhookSignature(header, "another-secret", body, now, 300).code(),
            StatusCode::kPermissionDenied);

  // Right MAC, but too old or too far ahead.
  EXPECT_EQ(VerifyWebhookSignature(header, kDocSecret, body, now + 301, 300).code(),
            StatusCode::kPermissionDenied);
  EXPECT_EQ(VerifyWebhookSignature(header, kDocSecret, body, now - 301, 300).code(),
            StatusCode::kPermissionDenied);
  EXPECT_TRUE(VerifyWebhookSignature(header, kDocSecret, body, now + 300, 300).ok());

  // The refusal never shows the secret or the expected MAC.
  Status s = VerifyWebhookSignature(flipped, kDocSecret, body, now, 300);
  EXPECT_EQ(s.message().find(kDocSecret), std::string::npos);
  EXPECT_EQ(s.message().find(header.substr(header.find("v1=") + 3)), std::string::npos);
}

TEST(WebhookSignature, MalformedHeadersAreRefused) {
  const std::string body = kDocBody;
  const std::string mac = std::string(kDocHeader).substr(std::string(kDocHeader).find("v1=") + 3);
  const std::string t = std::to_string(kDocTimestamp);
  for (const std::string& header : {
           std::string(),
           std::string("garbage"),
           std::string(","),
           "t=" + t,
           "v1=" + mac,
           "t=abc,v1=" + mac,
           "t=-1,v1=" + mac,
           "t=,v1=" + mac,
           "t=" + t + ",v1=" + mac.substr(1),
           "t=" + t + ",v1=" + mac + "00",
           "t=" + t + ",v1=" + std::string(64, 'z'),
           "t=" + t + ",t=" + t + ",v1=" + mac,
           "t=" + t + ",v1=" + mac + ",",
           "t=" + t + ";v1=" + mac,
           "=1,t=" + t + ",v1=" + mac,
           "t=" + t + ",v1=" + mac + std::string(5000, ' '),
       }) {
    EXPECT_EQ(VerifyWebhookSignature(header, kDocSecret, body, kDocTimestamp, 300).code(),
              StatusCode::kInvalidArgument)
        << "header: " << header.substr(0, 120);
  }
}

TEST(WebhookSignature, AcceptsRotationAndLaterSchemes) {
  const std::string t = std::to_string(kDocTimestamp);
  const std::string good = std::string(kDocHeader).substr(std::string(kDocHeader).find("v1=") + 3);
  const std::string other = SignWebhook("old-secret", kDocTimestamp, kDocBody).substr(t.size() + 6);
  // Signed with an old and a new secret; whitespace around items; a v2 this
  // receiver does not know.
  const std::string header = "t=" + t + ", v1=" + other + ", v1=" + good + ", v2=future";
  EXPECT_TRUE(VerifyWebhookSignature(header, kDocSecret, kDocBody, kDocTimestamp, 300).ok());
  EXPECT_TRUE(VerifyWebhookSignature(header, "old-secret", kDocBody, kDocTimestamp, 300).ok());
  // Upper-case hex is the same MAC.
  std::string upper = "t=" + t + ",v1=";
  for (char c : good) upper.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  EXPECT_TRUE(VerifyWebhookSignature(upper, kDocSecret, kDocBody, kDocTimestamp, 300).ok());
}

// ---- options and enqueue ------------------------------------------------------

TEST_F(WebhookOutboxTest, OpenRefusesBadOptionsWithoutShowingSecrets) {
  const auto refused = [&](OutboxOptions o) {
    std::unique_ptr<Outbox> outbox;
    Status s = Outbox::Open(db_path_, std::move(o), &outbox);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(s.message().find(kSecretA), std::string::npos) << s.message();
    EXPECT_EQ(outbox, nullptr);
  };
  refused(Options({{"", "http://127.0.0.1:1/h", kSecretA, {}}}));
  refused(Options({{"bad name", "http://127.0.0.1:1/h", kSecretA, {}}}));
  refused(
      Options({{"a", "http://127.0.0.1:1/h", kSecretA, {}}, {"a", "http://127.0.0.1:2/h", kSecretB, {}}}));
  refused(Options({{"a", "ftp://127.0.0.1/h", kSecretA, {}}}));
  refused(Options({{"a", std::string("http://127.0.0.1:1/") + kSecretA + " x", kSecretA, {}}}));
  refused(Options({{"a", "http://127.0.0.1:1/h", "", {}}}));
  refused(Options({{"a", "http://127.0.0.1:1/h", kSecretA, {"bad\r\ntype"}}}));
  OutboxOptions o = Options({{"a", "http://127.0.0.1:1/h", kSecretA, {}}});
  o.max_backoff_ms = o.min_backoff_ms - 1;
  refused(o);
  o = Options({{"a", "http://127.0.0.1:1/h", kSecretA, {}}});
  o.timeout_ms = 0;
  refused(o);
}

TEST_F(WebhookOutboxTest, EnqueueRefusesBadInputAndRequiresTheCallersTransaction) {
  auto outbox = OpenOutbox(Options({{"a", "http://127.0.0.1:1/h", kSecretA, {}}}));
  ASSERT_NE(outbox, nullptr);
  // Autocommit: the rows could commit apart from the decision.
  Status s = outbox->Enqueue(server_conn_.get(), "decision.created", "evt-1", Payload("evt-1"));
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("transaction"), std::string::npos) << s.message();

  ASSERT_TRUE(server_conn_->Exec("BEGIN IMMEDIATE").ok());
  EXPECT_EQ(outbox->Enqueue(server_conn_.get(), "decision.created", "evt\r\nX-Injected: 1", "{}").code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(outbox->Enqueue(server_conn_.get(), "", "evt-1", "{}").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(outbox->Enqueue(server_conn_.get(), "decision created", "evt-1", "{}").code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(outbox->Enqueue(server_conn_.get(), "decision.created", "evt-1", "[1,2]").code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(outbox->Enqueue(server_conn_.get(), "decision.created", "evt-1", "{\"a\":").code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(outbox
                ->Enqueue(server_conn_.get(), "decision.created", "evt-1",
                          "{\"a\":\"" + std::string(kMaxWebhookPayloadBytes, 'x') + "\"}")
                .code(),
            StatusCode::kTooLarge);
  size_t queued = 0;
  ASSERT_TRUE(
      outbox->Enqueue(server_conn_.get(), "decision.created", "evt-1", Payload("evt-1"), &queued).ok());
  EXPECT_EQ(queued, 1u);
  // One event id names one event.
  s = outbox->Enqueue(server_conn_.get(), "decision.created", "evt-1", Payload("evt-1"));
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("already queued"), std::string::npos) << s.message();
  ASSERT_TRUE(server_conn_->Exec("COMMIT").ok());
  EXPECT_EQ(GetStats(outbox.get()).pending, 1u);
}

TEST_F(WebhookOutboxTest, RolledBackEnqueueLeavesNothingToDeliver) {
  Receiver receiver;
  receiver.Start();
  auto outbox = OpenOutbox(Options({{"a", receiver.url(), kSecretA, {}}}));
  ASSERT_TRUE(server_conn_->Exec("BEGIN IMMEDIATE").ok());
  size_t queued = 0;
  ASSERT_TRUE(
      outbox->Enqueue(server_conn_.get(), "decision.created", "evt-rb", Payload("evt-rb"), &queued).ok());
  EXPECT_EQ(queued, 1u);
  ASSERT_TRUE(server_conn_->Exec("ROLLBACK").ok());

  EXPECT_EQ(Deliver(outbox.get()), 0u);
  EXPECT_FALSE(Row("a", "evt-rb").exists);
  EXPECT_EQ(GetStats(outbox.get()).pending, 0u);
  EXPECT_TRUE(receiver.requests().empty());
}

TEST_F(WebhookOutboxTest, UncommittedRowsAreNotSentUntilCommit) {
  Receiver receiver;
  receiver.Start();
  auto outbox = OpenOutbox(Options({{"a", receiver.url(), kSecretA, {}}}));
  ASSERT_TRUE(server_conn_->Exec("BEGIN IMMEDIATE").ok());
  ASSERT_TRUE(outbox->Enqueue(server_conn_.get(), "decision.created", "evt-open", Payload("evt-open")).ok());
  // The deliverer's connection cannot see (or claim, while the server holds
  // the write lock) the row; nothing goes out. Its claim would wait for the
  // lock, so only the stats (a read) are checked here.
  EXPECT_EQ(GetStats(outbox.get()).pending, 0u);
  ASSERT_TRUE(server_conn_->Exec("COMMIT").ok());
  EXPECT_EQ(GetStats(outbox.get()).pending, 1u);
  EXPECT_EQ(Deliver(outbox.get()), 1u);
  EXPECT_EQ(receiver.requests().size(), 1u);
}

TEST_F(WebhookOutboxTest, EndpointsReceiveOnlyTheEventsTheySubscribeTo) {
  Receiver receiver;
  receiver.Start();
  auto outbox = OpenOutbox(Options({{"all", receiver.url("/all"), kSecretA, {}},
                                    {"appeals", receiver.url("/appeals"), kSecretB, {"appeal.created"}}}));
  size_t queued = 0;
  EnqueueCommitted(outbox.get(), "evt-d", "decision.created", &queued);
  EXPECT_EQ(queued, 1u);
  EnqueueCommitted(outbox.get(), "evt-a", "appeal.created", &queued);
  EXPECT_EQ(queued, 2u);
  EXPECT_EQ(Deliver(outbox.get()), 3u);
  std::multiset<std::string> seen;
  for (const Received& r : receiver.requests()) seen.insert(r.path + " " + r.event_id);
  EXPECT_EQ(seen, (std::multiset<std::string>{"/all evt-d", "/all evt-a", "/appeals evt-a"}));
}

// ---- delivery -----------------------------------------------------------------

TEST_F(WebhookOutboxTest, DeliversSignedWithTheDocumentedHeaders) {
  Receiver receiver;
  receiver.Start();
  auto outbox = OpenOutbox(Options({{"moderation", receiver.url(), kSecretA, {}}}));
  EnqueueCommitted(outbox.get(), "evt-100");
  EXPECT_EQ(GetStats(outbox.get()).pending, 1u);
  now_ms_ += 2500;  // the signature carries the send time, not the enqueue time

  EXPECT_EQ(Deliver(outbox.get()), 1u);
  const std::vector<Received> got = receiver.requests();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].path, "/hook");
  EXPECT_EQ(got[0].body, Payload("evt-100"));
  EXPECT_EQ(got[0].content_type, "application/json");
  EXPECT_EQ(got[0].event_id, "evt-100");
  EXPECT_EQ(got[0].event_type, "decision.created");
  EXPECT_EQ(got[0].attempt, "1");
  EXPECT_EQ(got[0].signature, SignWebhook(kSecretA, now_ms_ / 1000, got[0].body));
  Status s = VerifyWebhookSignature(got[0].signature, kSecretA, got[0].body, now_ms_ / 1000, 300);
  EXPECT_TRUE(s.ok()) << s.message();

  const RowView row = Row("moderation", "evt-100");
  EXPECT_EQ(row.state, "delivered");
  EXPECT_EQ(row.attempts, 1);
  EXPECT_EQ(row.last_status, 200);
  EXPECT_EQ(row.delivered_ms, now_ms_.load());
  const OutboxStats st = GetStats(outbox.get());
  EXPECT_EQ(st.pending, 0u);
  EXPECT_EQ(st.delivered, 1u);
  EXPECT_EQ(st.failed, 0u);
  EXPECT_EQ(st.attempts, 1u);
  // Delivered rows are not sent again.
  EXPECT_EQ(Deliver(outbox.get()), 0u);
  EXPECT_EQ(receiver.requests().size(), 1u);
}

TEST_F(WebhookOutboxTest, ReceiverDownIsRetriedWithBackoffUntilItComesUp) {
  const int port = FreePort();
  const std::string url = "http://127.0.0.1:" + std::to_string(port) + "/hook";
  OutboxOptions o = Options({{"moderation", url, kSecretA, {}}});
  o.min_backoff_ms = 1000;
  o.max_backoff_ms = 20000;
  auto outbox = OpenOutbox(o);
  EnqueueCommitted(outbox.get(), "evt-down");

  // Nothing listens: each attempt fails, and the next one waits a random
  // delay in [min, min(max, min * 2^n)] after the n-th failure.
  for (int n = 1; n <= 8; ++n) {
    EXPECT_EQ(Deliver(outbox.get()), 1u) << "attempt " << n;
    const RowView row = Row("moderation", "evt-down");
    EXPECT_EQ(row.state, "pending");
    EXPECT_EQ(row.attempts, n);
    EXPECT_EQ(row.last_status, 0);
    EXPECT_NE(row.last_error.find("endpoint 'moderation'"), std::string::npos) << row.last_error;
    const int64_t delay = row.next_attempt_ms - now_ms_;
    EXPECT_GE(delay, o.min_backoff_ms) << "attempt " << n;
    EXPECT_LE(delay, std::min<int64_t>(o.max_backoff_ms, o.min_backoff_ms << n)) << "attempt " << n;
    // Not due yet: nothing is sent.
    now_ms_ = row.next_attempt_ms - 1;
    EXPECT_EQ(Deliver(outbox.get()), 0u);
    now_ms_ = row.next_attempt_ms;
  }

  Receiver receiver;
  receiver.Start(port);
  EXPECT_EQ(Deliver(outbox.get()), 1u);
  const std::vector<Received> got = receiver.requests();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].attempt, "9");
  EXPECT_EQ(Row("moderation", "evt-down").state, "delivered");
  const OutboxStats st = GetStats(outbox.get());
  EXPECT_EQ(st.delivered, 1u);
  EXPECT_EQ(st.attempts, 9u);
  EXPECT_EQ(st.pending, 0u);
}

TEST_F(WebhookOutboxTest, ServerErrorThenSuccess) {
  Receiver receiver;
  receiver.Start();
  receiver.Answer({500}, "temporarily broken");
  auto outbox = OpenOutbox(Options({{"moderation", receiver.url(), kSecretA, {}}}));
  EnqueueCommitted(outbox.get(), "evt-500");

  EXPECT_EQ(Deliver(outbox.get()), 1u);
  RowView row = Row("moderation", "evt-500");
  EXPECT_EQ(row.state, "pending");
  EXPECT_EQ(row.last_status, 500);
  EXPECT_NE(row.last_error.find("HTTP 500"), std::string::npos) << row.last_error;
  EXPECT_NE(row.last_error.find("temporarily broken"), std::string::npos) << row.last_error;

  now_ms_ += 2000;  // the longest first backoff (min * 2)
  EXPECT_EQ(Deliver(outbox.get()), 1u);
  const std::vector<Received> got = receiver.requests();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].event_id, "evt-500");
  EXPECT_EQ(got[1].event_id, "evt-500");  // the same id, so the receiver can dedupe
  EXPECT_EQ(got[0].attempt, "1");
  EXPECT_EQ(got[1].attempt, "2");
  EXPECT_EQ(got[0].body, got[1].body);
  row = Row("moderation", "evt-500");
  EXPECT_EQ(row.state, "delivered");
  EXPECT_EQ(row.last_status, 200);
  EXPECT_EQ(row.last_error, "");
}

TEST_F(WebhookOutboxTest, OneEndpointDownDoesNotHoldUpAnother) {
  const int down_port = FreePort();
  Receiver up;
  up.Start();
  auto outbox =
      OpenOutbox(Options({{"down", "http://127.0.0.1:" + std::to_string(down_port) + "/hook", kSecretA, {}},
                          {"up", up.url(), kSecretB, {}}}));
  for (int i = 0; i < 5; ++i) EnqueueCommitted(outbox.get(), "evt-" + std::to_string(i));

  // The first failure pauses "down" for the rest of the pass, so one attempt
  // to it and five to "up".
  EXPECT_EQ(Deliver(outbox.get()), 6u);
  std::vector<std::string> ids;
  for (const Received& r : up.requests()) ids.push_back(r.event_id);
  EXPECT_EQ(ids, (std::vector<std::string>{"evt-0", "evt-1", "evt-2", "evt-3", "evt-4"}));
  OutboxStats st = GetStats(outbox.get());
  EXPECT_EQ(st.pending, 5u);
  EXPECT_EQ(st.delivered, 5u);
  EXPECT_EQ(Row("down", "evt-0").attempts, 1);
  EXPECT_EQ(Row("down", "evt-1").attempts, 0);

  // While paused, "down" is not tried, though its other rows are due.
  EXPECT_EQ(Deliver(outbox.get()), 0u);

  // New events for "up" still go out at once.
  EnqueueCommitted(outbox.get(), "evt-5");
  EXPECT_EQ(Deliver(outbox.get()), 1u);
  EXPECT_EQ(up.requests().size(), 6u);
  EXPECT_EQ(Row("up", "evt-5").state, "delivered");
}

TEST_F(WebhookOutboxTest, MaxAttemptsMarksTheRowFailed) {
  OutboxOptions o =
      Options({{"down", "http://127.0.0.1:" + std::to_string(FreePort()) + "/hook", kSecretA, {}}});
  o.max_attempts = 3;
  o.max_backoff_ms = 5000;
  auto outbox = OpenOutbox(o);
  EnqueueCommitted(outbox.get(), "evt-gone");
  for (int n = 1; n <= 3; ++n) {
    EXPECT_EQ(Deliver(outbox.get()), 1u);
    now_ms_ += o.max_backoff_ms;
  }
  const RowView row = Row("down", "evt-gone");
  EXPECT_EQ(row.state, "failed");
  EXPECT_EQ(row.attempts, 3);
  EXPECT_NE(row.last_error.find("gave up after 3 attempts"), std::string::npos) << row.last_error;
  EXPECT_EQ(Deliver(outbox.get()), 0u);
  const OutboxStats st = GetStats(outbox.get());
  EXPECT_EQ(st.failed, 1u);
  EXPECT_EQ(st.pending, 0u);
  EXPECT_EQ(st.attempts, 3u);
}

TEST_F(WebhookOutboxTest, ClientErrorDoesNotPauseTheEndpoint) {
  Receiver receiver;
  receiver.Start();
  receiver.Answer({400});
  auto outbox = OpenOutbox(Options({{"moderation", receiver.url(), kSecretA, {}}}));
  EnqueueCommitted(outbox.get(), "evt-bad");
  EnqueueCommitted(outbox.get(), "evt-good");
  // A 400 is about that event; the next one is still sent in the same pass.
  EXPECT_EQ(Deliver(outbox.get()), 2u);
  EXPECT_EQ(Row("moderation", "evt-bad").state, "pending");
  EXPECT_EQ(Row("moderation", "evt-bad").last_status, 400);
  EXPECT_EQ(Row("moderation", "evt-good").state, "delivered");
}

// ---- restarts and crashes -----------------------------------------------------

TEST_F(WebhookOutboxTest, QueuedEventsSurviveARestart) {
  Receiver receiver;
  receiver.Start();
  const OutboxOptions o = Options({{"moderation", receiver.url(), kSecretA, {}}});
  {
    auto first = OpenOutbox(o);
    first->Start();  // running, but stopped before it is woken for the new rows
    first->Stop();
    EnqueueCommitted(first.get(), "evt-r1");
    EnqueueCommitted(first.get(), "evt-r2");
  }  // the server goes away before delivering
  EXPECT_TRUE(receiver.requests().empty());
  server_conn_.reset();
  ASSERT_TRUE(sqlite::Conn::Open(db_path_, false, 2, &server_conn_).ok());

  auto second = OpenOutbox(o);
  EXPECT_EQ(GetStats(second.get()).pending, 2u);
  EXPECT_EQ(Deliver(second.get()), 2u);
  std::vector<std::string> ids;
  for (const Received& r : receiver.requests()) ids.push_back(r.event_id);
  EXPECT_EQ(ids, (std::vector<std::string>{"evt-r1", "evt-r2"}));
  EXPECT_EQ(GetStats(second.get()).delivered, 2u);
}

// The process dies while the receiver holds the request: the row's claim
// expires and the event is sent again (at least once, never zero times).
TEST_F(WebhookOutboxTest, ADeliveryInterruptedByACrashIsRetriedAfterTheClaimExpires) {
  Receiver receiver;
  receiver.hold_first = true;
  receiver.Start();
  OutboxOptions o = Options({{"moderation", receiver.url(), kSecretA, {}}});
  o.timeout_ms = 30000;
  {
    auto outbox = OpenOutbox(o);
    EnqueueCommitted(outbox.get(), "evt-crash");
  }
  server_conn_.reset();

  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    std::unique_ptr<Outbox> outbox;
    if (!Outbox::Open(db_path_, o, &outbox).ok()) _exit(3);
    size_t attempted = 0;
    outbox->DeliverDueNow(&attempted);
    _exit(4);  // not reached before the kill
  }
  receiver.WaitInHandler();
  kill(child, SIGKILL);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status));
  receiver.Release();
  ASSERT_TRUE(Eventually([&] { return receiver.requests().size() == 1; }));

  ASSERT_TRUE(sqlite::Conn::Open(db_path_, false, 2, &server_conn_).ok());
  RowView row = Row("moderation", "evt-crash");
  EXPECT_EQ(row.state, "pending");
  EXPECT_EQ(row.attempts, 1);
  auto outbox = OpenOutbox(o);
  EXPECT_EQ(Deliver(outbox.get()), 0u);  // still claimed by the dead process
  now_ms_ = row.next_attempt_ms;
  EXPECT_EQ(Deliver(outbox.get()), 1u);
  const std::vector<Received> got = receiver.requests();
  ASSERT_EQ(got.size(), 2u);  // the held one, answered after its sender died, and the retry
  EXPECT_EQ(got[1].event_id, "evt-crash");
  EXPECT_EQ(got[1].attempt, "2");
  EXPECT_EQ(Row("moderation", "evt-crash").state, "delivered");
}

TEST_F(WebhookOutboxTest, RowsOfARemovedEndpointAreMarkedFailed) {
  Receiver receiver;
  receiver.Start();
  {
    auto before = OpenOutbox(Options({{"kept", receiver.url("/kept"), kSecretA, {}},
                                      {"removed", receiver.url("/removed"), kSecretB, {}}}));
    EnqueueCommitted(before.get(), "evt-x");
  }
  auto after = OpenOutbox(Options({{"kept", receiver.url("/kept"), kSecretA, {}}}));
  EXPECT_EQ(Deliver(after.get()), 1u);
  EXPECT_EQ(Row("kept", "evt-x").state, "delivered");
  const RowView row = Row("removed", "evt-x");
  EXPECT_EQ(row.state, "failed");
  EXPECT_NE(row.last_error.find("'removed' is no longer configured"), std::string::npos) << row.last_error;
  EXPECT_EQ(GetStats(after.get()).failed, 1u);
  ASSERT_EQ(receiver.requests().size(), 1u);
  EXPECT_EQ(receiver.requests()[0].path, "/kept");
}

// ---- secrets ------------------------------------------------------------------

std::string ReadFileBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

TEST_F(WebhookOutboxTest, SecretsAndUrlTokensNeverReachTheTableOrErrors) {
  // A hostile receiver that echoes the secret back in its error, and a dead
  // endpoint whose URL path carries a token.
  Receiver echo;
  echo.Start();
  echo.Answer({500}, std::string("bad signature, expected secret ") + kSecretA);
  const std::string token = "tok-5d1e0c";
  auto outbox = OpenOutbox(Options(
      {{"echo", echo.url(), kSecretA, {}},
       {"dead", "http://127.0.0.1:" + std::to_string(FreePort()) + "/hooks/" + token, kSecretB, {}}}));
  EnqueueCommitted(outbox.get(), "evt-s1");
  EnqueueCommitted(outbox.get(), "evt-s2");
  // One attempt each: a 500 or no answer pauses the endpoint for the pass.
  EXPECT_EQ(Deliver(outbox.get()), 2u);

  for (const char* endpoint : {"echo", "dead"}) {
    const RowView row = Row(endpoint, "evt-s1");
    EXPECT_FALSE(row.last_error.empty());
    EXPECT_EQ(row.last_error.find(kSecretA), std::string::npos) << row.last_error;
    EXPECT_EQ(row.last_error.find(kSecretB), std::string::npos) << row.last_error;
    EXPECT_EQ(row.last_error.find(token), std::string::npos) << row.last_error;
  }
  EXPECT_NE(Row("echo", "evt-s1").last_error.find("[secret]"), std::string::npos);

  // The bytes on disk: the database, its WAL and shared-memory index.
  std::string all_bytes;
  for (const char* suffix : {"", "-wal", "-shm"}) all_bytes += ReadFileBytes(db_path_ + suffix);
  EXPECT_EQ(all_bytes.find(kSecretA), std::string::npos);
  EXPECT_EQ(all_bytes.find(kSecretB), std::string::npos);
  // And the rows really are in those bytes, so the search looked at them.
  EXPECT_NE(all_bytes.find("evt-s1"), std::string::npos);
  EXPECT_NE(all_bytes.find("upload-42"), std::string::npos);
}

// ---- cleanup ------------------------------------------------------------------

TEST_F(WebhookOutboxTest, PruneDeletesOnlyOldDeliveredRows) {
  Receiver receiver;
  receiver.Start();
  OutboxOptions o =
      Options({{"up", receiver.url(), kSecretA, {}},
               {"down", "http://127.0.0.1:" + std::to_string(FreePort()) + "/hook", kSecretB, {}}});
  o.delivered_retention_days = 7;
  auto outbox = OpenOutbox(o);
  EnqueueCommitted(outbox.get(), "evt-old");
  EXPECT_EQ(Deliver(outbox.get()), 2u);
  now_ms_ += int64_t{6} * 24 * 3600 * 1000;
  EnqueueCommitted(outbox.get(), "evt-new");
  EXPECT_GE(Deliver(outbox.get()), 1u);

  size_t removed = 99;
  ASSERT_TRUE(outbox->PruneDelivered(&removed).ok());
  EXPECT_EQ(removed, 0u);
  now_ms_ += int64_t{1} * 24 * 3600 * 1000 + 1;
  ASSERT_TRUE(outbox->PruneDelivered(&removed).ok());
  EXPECT_EQ(removed, 1u);
  EXPECT_FALSE(Row("up", "evt-old").exists);
  EXPECT_EQ(Row("up", "evt-new").state, "delivered");
  EXPECT_EQ(Row("down", "evt-old").state, "pending");  // never deleted while undelivered
  // The counter does not go down with the rows.
  EXPECT_EQ(GetStats(outbox.get()).delivered, 2u);
}

// ---- the delivery thread ------------------------------------------------------

TEST_F(WebhookOutboxTest, BackgroundThreadDeliversAfterWake) {
  Receiver receiver;
  receiver.Start();
  OutboxOptions o = Options({{"moderation", receiver.url(), kSecretA, {}}});
  o.poll_interval_ms = 600000;  // so only Wake (or Start) can trigger a pass
  auto outbox = OpenOutbox(o);
  EnqueueCommitted(outbox.get(), "evt-before-start");  // e.g. left from before a restart
  outbox->Start();
  outbox->Start();  // no second thread
  EXPECT_TRUE(Eventually([&] { return receiver.requests().size() == 1; }));

  EnqueueCommitted(outbox.get(), "evt-woken");
  outbox->Wake();
  EXPECT_TRUE(Eventually([&] { return receiver.requests().size() == 2; }));
  outbox->Stop();
  outbox->Stop();  // idempotent
  const std::vector<Received> got = receiver.requests();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].event_id, "evt-before-start");
  EXPECT_EQ(got[1].event_id, "evt-woken");
  EXPECT_EQ(GetStats(outbox.get()).delivered, 2u);
}

// The server's writer, the delivery thread, DeliverDueNow and Stats all at
// once (run it under TSan too): every event arrives, and since nothing fails
// none arrives twice, because a row is claimed before it is sent.
TEST_F(WebhookOutboxTest, ConcurrentEnqueueWorkerAndFlushDeliverEachEventOnce) {
  Receiver receiver;
  receiver.Start();
  auto outbox =
      OpenOutbox(Options({{"a", receiver.url("/a"), kSecretA, {}}, {"b", receiver.url("/b"), kSecretB, {}}}));
  outbox->Start();
  constexpr int kEvents = 40;
  std::thread writer([&] {
    for (int i = 0; i < kEvents; ++i) {
      EnqueueCommitted(outbox.get(), "evt-c" + std::to_string(i));
      outbox->Wake();
    }
  });
  std::thread flusher([&] {
    for (int i = 0; i < 20; ++i) {
      size_t attempted = 0;
      EXPECT_TRUE(outbox->DeliverDueNow(&attempted).ok());
      OutboxStats st;
      EXPECT_TRUE(outbox->Stats(&st).ok());
    }
  });
  writer.join();
  flusher.join();
  outbox->Wake();
  EXPECT_TRUE(Eventually([&] { return receiver.requests().size() >= 2 * kEvents; }));
  outbox->Stop();

  std::map<std::string, int> count;
  for (const Received& r : receiver.requests()) ++count[r.path + " " + r.event_id];
  EXPECT_EQ(count.size(), 2u * kEvents);
  for (const auto& [key, n] : count) EXPECT_EQ(n, 1) << key;
  const OutboxStats st = GetStats(outbox.get());
  EXPECT_EQ(st.delivered, 2u * kEvents);
  EXPECT_EQ(st.attempts, 2u * kEvents);
  EXPECT_EQ(st.pending, 0u);
}

}  // namespace
}  // namespace safeguard::server
