// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// http-load-smoke
//
// Checks that `safeguard-bench http` counts what it claims, against a small
// HTTP/1.1 server started in this process on 127.0.0.1 (real sockets): every
// framing a response can have (Content-Length, chunked with extensions and
// trailers, HTTP/1.0 to the end of the connection, 100 Continue first),
// Connection: close (each request must reconnect once, exactly), non-2xx
// answers, an authenticated POST whose body the server checks byte for byte,
// round-robin paths, the open loop's exact number of scheduled requests, a
// server that is down, and RSS sampling. The response parser is also fed
// byte by byte and given malformed answers. Only counts are asserted, never
// times. Prints one line per case; exits 1 on any failure.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "http_load.h"

namespace {

using safeguard::Status;
using safeguard::bench::HttpLoadOptions;
using safeguard::bench::HttpLoadResult;
using safeguard::bench::HttpResponseParser;

int failures = 0;

#define CHECK(cond)                                                                 \
  do {                                                                              \
    if (!(cond)) {                                                                  \
      std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                                   \
    }                                                                               \
  } while (0)

constexpr char kKey[] = "smoke-test-key";

// Blocking, one thread per connection: simple enough to be obviously right.
class TestServer {
 public:
  TestServer() {
    listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const int one = 1;
    setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    socklen_t len = sizeof(addr);
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    listen(listen_fd_, 128);
    accept_thread_ = std::thread([this] { AcceptLoop(); });
  }

  ~TestServer() {
    stopping_ = true;
    shutdown(listen_fd_, SHUT_RDWR);
    accept_thread_.join();
    close(listen_fd_);
    std::vector<std::thread> threads;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (int fd : open_fds_) shutdown(fd, SHUT_RDWR);
      threads.swap(threads_);
    }
    for (auto& t : threads) t.join();
  }

  int port() const { return port_; }
  std::string Url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }

  std::map<std::string, uint64_t> Counts() {
    std::lock_guard<std::mutex> lock(mu_);
    return counts_;
  }
  void ResetCounts() {
    std::lock_guard<std::mutex> lock(mu_);
    counts_.clear();
  }
  void SetExpectedBody(std::string body) {
    std::lock_guard<std::mutex> lock(mu_);
    expected_body_ = std::move(body);
  }

 private:
  void AcceptLoop() {
    for (;;) {
      const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) {
        if (stopping_) return;
        continue;
      }
      const int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      std::lock_guard<std::mutex> lock(mu_);
      open_fds_.push_back(fd);
      threads_.emplace_back([this, fd] { Serve(fd); });
    }
  }

  bool BodyIsExpected(const std::string& body) {
    std::lock_guard<std::mutex> lock(mu_);
    return body == expected_body_;
  }

  void Count(const std::string& what) {
    std::lock_guard<std::mutex> lock(mu_);
    ++counts_[what];
  }

  static bool WriteAll(int fd, const std::string& s) {
    size_t off = 0;
    while (off < s.size()) {
      const ssize_t w = send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
      if (w <= 0) return false;
      off += static_cast<size_t>(w);
    }
    return true;
  }

  void Serve(int fd) {
    std::string buf;
    char tmp[64 << 10];
    for (;;) {
      size_t head_end;
      while ((head_end = buf.find("\r\n\r\n")) == std::string::npos) {
        const ssize_t r = read(fd, tmp, sizeof(tmp));
        if (r <= 0) return Close(fd);
        buf.append(tmp, static_cast<size_t>(r));
      }
      const std::string head = buf.substr(0, head_end + 2);
      buf.erase(0, head_end + 4);
      const std::string target =
          head.substr(head.find(' ') + 1, head.find(' ', head.find(' ') + 1) - head.find(' ') - 1);
      size_t length = 0;
      std::string auth;
      for (size_t pos = head.find("\r\n") + 2; pos < head.size();) {
        const size_t eol = head.find("\r\n", pos);
        const std::string line = head.substr(pos, eol - pos);
        pos = eol + 2;
        std::string name = line.substr(0, line.find(':'));
        for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        std::string value = line.substr(line.find(':') + 1);
        while (!value.empty() && value.front() == ' ') value.erase(0, 1);
        if (name == "content-length") length = std::stoul(value);
        if (name == "authorization") auth = value;
      }
      while (buf.size() < length) {
        const ssize_t r = read(fd, tmp, sizeof(tmp));
        if (r <= 0) return Close(fd);
        buf.append(tmp, static_cast<size_t>(r));
      }
      const std::string body = buf.substr(0, length);
      buf.erase(0, length);
      Count(target);

      bool ok = true, close_after = false;
      if (target == "/fixed" || target.rfind("/rr?", 0) == 0) {
        ok = WriteAll(fd, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
      } else if (target == "/chunked") {
        // Separate writes (TCP_NODELAY) so the client sees the answer in pieces.
        for (const char* piece :
             {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n", "\r\n5;name=value\r\nhel", "lo\r\n",
              "1\r\n \r\n", "5\r\nworld\r\n0\r\nX-Checksum: none\r\n", "\r\n"}) {
          ok = ok && WriteAll(fd, piece);
        }
      } else if (target == "/close") {
        ok = WriteAll(fd, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
        close_after = true;
      } else if (target == "/http10") {
        ok = WriteAll(fd,
                      "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nthe body ends with the connection");
        close_after = true;
      } else if (target == "/continue") {
        ok = WriteAll(fd, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-LENGTH: 2\r\n\r\nok");
      } else if (target == "/echo") {
        if (auth != std::string("Bearer ") + kKey) {
          Count("unauthorized");
          ok = WriteAll(fd, "HTTP/1.1 401 Unauthorized\r\nContent-Length: 16\r\n\r\nmissing api key\n");
        } else if (!BodyIsExpected(body)) {
          Count("wrong body");
          ok = WriteAll(fd, "HTTP/1.1 400 Bad Request\r\nContent-Length: 10\r\n\r\nwrong body");
        } else {
          ok = WriteAll(fd, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        }
      } else {
        ok = WriteAll(fd, "HTTP/1.1 404 Not Found\r\nContent-Length: 12\r\n\r\nno such path");
      }
      if (!ok || close_after) return Close(fd);
    }
  }

  void Close(int fd) {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& f : open_fds_) {
      if (f == fd) f = -1;
    }
    close(fd);
  }

  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread accept_thread_;
  std::mutex mu_;
  std::vector<int> open_fds_;
  std::vector<std::thread> threads_;
  std::map<std::string, uint64_t> counts_;
  std::string expected_body_;  // what POST /echo must receive
};

// Feeds `bytes` one at a time and returns the parser's verdict.
Status FeedByteByByte(const std::string& bytes, HttpResponseParser* p, bool* done, size_t* consumed) {
  p->Reset();
  *done = false;
  *consumed = 0;
  for (size_t i = 0; i < bytes.size() && !*done; ++i) {
    size_t used = 0;
    Status s = p->Feed(bytes.data() + i, 1, &used, done);
    if (!s.ok()) return s;
    *consumed += used;
  }
  return Status::Ok();
}

void ParserCases() {
  HttpResponseParser p;
  bool done;
  size_t consumed;
  const std::string chunked =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
      "a;x=1\r\n0123456789\r\n10\r\nabcdefghijklmnop\r\n0\r\nTrailer: t\r\n\r\nNEXT";
  CHECK(FeedByteByByte(chunked, &p, &done, &consumed).ok());
  CHECK(done);
  CHECK(consumed == chunked.size() - 4);  // stops before the next answer
  CHECK(p.status() == 200 && p.chunked() && p.keep_alive());
  CHECK(p.body_bytes() == 26 && p.body_start() == "0123456789abcdefghijklmnop");

  // All at once, with LF-only line ends and a Content-Length list.
  const std::string fixed = "HTTP/1.1 404 Not Found\nContent-Length: 3, 3\nConnection: close\n\nabc";
  size_t used = 0;
  p.Reset();
  CHECK(p.Feed(fixed.data(), fixed.size(), &used, &done).ok());
  CHECK(done && used == fixed.size() && p.status() == 404 && !p.keep_alive() && p.body_start() == "abc");

  // HTTP/1.0 keep-alive is opt-in; 204 and 304 have no body whatever they say.
  p.Reset();
  const std::string http10 = "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n";
  CHECK(p.Feed(http10.data(), http10.size(), &used, &done).ok() && done && p.keep_alive());
  p.Reset();
  const std::string no_content = "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n";
  CHECK(p.Feed(no_content.data(), no_content.size(), &used, &done).ok() && done && used == no_content.size());

  // A body read until the end of the connection completes only at EOF.
  p.Reset();
  const std::string until_close = "HTTP/1.1 200 OK\r\n\r\npartial";
  CHECK(p.Feed(until_close.data(), until_close.size(), &used, &done).ok() && !done);
  CHECK(p.FinishAtEof(&done).ok() && done && p.body_bytes() == 7 && !p.keep_alive());

  // Cut short, or nothing at all: errors.
  p.Reset();
  const std::string cut = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc";
  CHECK(p.Feed(cut.data(), cut.size(), &used, &done).ok() && !done);
  CHECK(!p.FinishAtEof(&done).ok() && !done);
  p.Reset();
  CHECK(!p.FinishAtEof(&done).ok());

  for (const std::string& bad : {
           std::string("HTTP/1.1 20 OK\r\n\r\n"),
           std::string("HTTP/2 200 OK\r\n\r\n"),
           std::string("SSH-2.0-OpenSSH_9.2\r\n"),
           std::string("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
           std::string("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n"),
           std::string("HTTP/1.1 200 OK\r\nBad Header: x\r\n\r\n"),
           std::string("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
           std::string("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n"),
           std::string("HTTP/1.1 200 OK\r\nX: ") + std::string(70000, 'x'),
       }) {
    Status s = FeedByteByByte(bad, &p, &done, &consumed);
    if (s.ok()) std::fprintf(stderr, "accepted malformed answer: %.60s\n", bad.c_str());
    CHECK(!s.ok() && s.code() == safeguard::StatusCode::kCorrupt);
  }

  std::vector<uint64_t> v = {5, 1, 4, 2, 3};
  CHECK(safeguard::bench::Percentile(&v, 0.5) == 3 && safeguard::bench::Percentile(&v, 1.0) == 5);
  CHECK(safeguard::bench::Percentile(&v, 0.01) == 1);
  CHECK(safeguard::bench::LeastSquaresSlope({0, 1, 2, 3}, {10, 12, 14, 16}) == 2);
  std::printf("case=parser failures=%d\n", failures);
}

HttpLoadOptions Options(const std::string& url) {
  HttpLoadOptions o;
  o.url = url;
  o.connections = 4;
  o.duration_s = 0.3;
  o.warmup_s = 0.1;
  o.drain_s = 10;  // only a hung run waits this long
  return o;
}

HttpLoadResult Run(const char* name, const HttpLoadOptions& o) {
  HttpLoadResult r;
  Status s = safeguard::bench::RunHttpLoad(o, &r);
  if (!s.ok()) std::fprintf(stderr, "%s: %s\n", name, s.ToString().c_str());
  CHECK(s.ok());
  std::printf(
      "case=%s requests=%llu answered=%llu errors=%llu non2xx=%llu reconnects=%llu p50_us=%.1f max_us=%.1f\n",
      name, static_cast<unsigned long long>(r.requests), static_cast<unsigned long long>(r.answered),
      static_cast<unsigned long long>(r.errors), static_cast<unsigned long long>(r.non2xx),
      static_cast<unsigned long long>(r.reconnects), r.p50_us, r.max_us);
  CHECK(r.errors == r.requests - r.answered);
  if (r.answered > 0)
    CHECK(r.p50_us > 0 && r.p50_us <= r.p99_us && r.p99_us <= r.p999_us && r.p999_us <= r.max_us);
  return r;
}

void CleanRun(const char* name, const HttpLoadResult& r) {
  CHECK(r.requests > 0);
  CHECK(r.answered == r.requests);
  CHECK(r.errors == 0);
  CHECK(r.non2xx == 0);
}

void LoadCases(TestServer& server) {
  {
    HttpLoadResult r = Run("closed-fixed", Options(server.Url("/fixed")));
    CleanRun("closed-fixed", r);
    CHECK(r.reconnects == 0);
    CHECK(server.Counts()["/fixed"] >= r.requests);
  }
  {
    HttpLoadOptions o = Options(server.Url("/chunked"));
    o.threads = 2;
    CleanRun("closed-chunked", Run("closed-chunked", o));
  }
  for (const char* path : {"/close", "/http10"}) {
    // Each measured request opens one new connection, except the first on a
    // connection that (on a slow machine) had not been used by the warm-up.
    HttpLoadResult r = Run(path + 1, Options(server.Url(path)));
    CleanRun(path + 1, r);
    CHECK(r.reconnects <= r.requests && r.reconnects + 4 >= r.requests);
  }
  CleanRun("interim-100", Run("interim-100", Options(server.Url("/continue"))));
  {
    HttpLoadResult r = Run("not-found", Options(server.Url("/missing")));
    CHECK(r.requests > 0 && r.answered == r.requests && r.non2xx == r.requests);
    CHECK(r.first_non2xx_status == 404 && r.first_non2xx_body == "no such path");
  }
  {
    HttpLoadOptions o = Options(server.Url("/echo"));
    o.method = "POST";
    o.content_type = "application/octet-stream";
    o.api_key = kKey;
    for (size_t i = 0; i < 300000; ++i) o.body += static_cast<char>('a' + i % 26);
    server.SetExpectedBody(o.body);
    server.ResetCounts();
    CleanRun("post-auth", Run("post-auth", o));
    CHECK(server.Counts()["unauthorized"] == 0 && server.Counts()["wrong body"] == 0);
    o.api_key = "another-key";
    HttpLoadResult r = Run("post-wrong-key", o);
    CHECK(r.requests > 0 && r.non2xx == r.requests && r.first_non2xx_status == 401);
  }
  {
    HttpLoadOptions o = Options(server.Url("/fixed"));
    o.rate = 2000;
    o.threads = 2;
    o.duration_s = 0.5;
    // Due times i/2000 s for i in [200, 1200): exactly 1000 in the window.
    HttpLoadResult r = Run("open-fixed", o);
    CleanRun("open-fixed", r);
    CHECK(r.requests == 1000);
  }
  {
    HttpLoadOptions o = Options(server.Url("/"));
    o.connections = 1;
    o.paths = {"/rr?a", "/rr?b", "/rr?c"};
    server.ResetCounts();
    CleanRun("round-robin", Run("round-robin", o));
    auto counts = server.Counts();
    const uint64_t a = counts["/rr?a"], b = counts["/rr?b"], c = counts["/rr?c"];
    CHECK(a > 0 && a >= b && b >= c && a - c <= 1);
  }
  {
    HttpLoadOptions o = Options(server.Url("/fixed"));
    o.duration_s = 1.5;
    o.warmup_s = 0;
    o.pid = static_cast<int>(getpid());
    HttpLoadResult r = Run("rss", o);
    CleanRun("rss", r);
    CHECK(r.rss_mib.size() == 2 && r.rss_mib[0] > 0 && r.rss_mib[1] > 0);
  }
}

void ServerDownCases() {
  // A port that was just free and has nobody listening.
  TestServer* gone = new TestServer();
  const std::string url = gone->Url("/fixed");
  delete gone;
  {
    HttpLoadOptions o = Options(url);
    HttpLoadResult r = Run("down-closed", o);
    CHECK(r.requests > 0 && r.answered == 0 && r.errors == r.requests);
  }
  {
    HttpLoadOptions o = Options(url);
    o.rate = 1000;
    o.drain_s = 0.2;
    HttpLoadResult r = Run("down-open", o);
    CHECK(r.requests == 300 && r.answered == 0 && r.errors == 300);
  }
}

void OptionCases() {
  HttpLoadResult r;
  HttpLoadOptions o = Options("https://127.0.0.1:1/");
  CHECK(safeguard::bench::RunHttpLoad(o, &r).code() == safeguard::StatusCode::kInvalidArgument);
  o = Options("http://127.0.0.1:1/a b");
  CHECK(safeguard::bench::RunHttpLoad(o, &r).code() == safeguard::StatusCode::kInvalidArgument);
  o = Options("http://127.0.0.1:70000/");
  CHECK(safeguard::bench::RunHttpLoad(o, &r).code() == safeguard::StatusCode::kInvalidArgument);
  o = Options("http://127.0.0.1:1/");
  o.headers = {"NoColon"};
  CHECK(safeguard::bench::RunHttpLoad(o, &r).code() == safeguard::StatusCode::kInvalidArgument);
  o = Options("http://127.0.0.1:1/");
  o.threads = 5;
  CHECK(safeguard::bench::RunHttpLoad(o, &r).code() == safeguard::StatusCode::kInvalidArgument);
  std::printf("case=options failures=%d\n", failures);
}

}  // namespace

int main() {
  ParserCases();
  OptionCases();
  {
    TestServer server;
    LoadCases(server);
  }
  ServerDownCases();
  std::printf("http-load-smoke: %s (%d failed checks)\n", failures == 0 ? "ok" : "FAILED", failures);
  return failures == 0 ? 0 : 1;
}
