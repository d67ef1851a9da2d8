// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// safeguard-bench http --url http://HOST:PORT/path?query [options]
//
// An HTTP/1.1 load generator for `safeguard serve`, written on POSIX sockets
// and epoll so that it compiles in seconds and costs the server as little of
// this 2-core machine as possible: one non-blocking event loop per thread
// drives that thread's keep-alive connections, one request in flight per
// connection (no pipelining, as real clients do).
//
// Closed loop (default): each connection sends its next request as soon as
// the answer to its previous one arrives; the figure is the maximum
// throughput. Open loop (--rate R): request i is due at a fixed time
// t0 + i/R whether or not earlier ones were answered, and its latency runs
// from that due time, so a request that waits for a free connection because
// the server stalled is charged for the wait (the "coordinated omission"
// correction; without it a stall hides as one slow sample).
//
// One line on stdout: `method=http target=... mode=closed|open rate=...
// connections=C ... requests=N errors=E non2xx=X ... rps=... p50_us=...`.

#include "http_load.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <string_view>
#include <thread>

namespace safeguard::bench {

// ---- HttpResponseParser -------------------------------------------------------

namespace {

// Large enough for any sane response head, small enough that a server
// sending garbage without line ends is caught quickly.
constexpr size_t kMaxHeadBytes = 64 << 10;
constexpr size_t kMaxChunkLineBytes = 4 << 10;

bool EqualsNoCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Calls f on each comma-separated, trimmed, non-empty element of a list header.
template <typename F>
void ForEachToken(std::string_view value, F f) {
  while (!value.empty()) {
    const size_t comma = value.find(',');
    std::string_view token = Trim(value.substr(0, comma));
    if (!token.empty()) f(token);
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
}

// Keeps diagnostics on one terminal line whatever the server sent.
std::string Printable(std::string_view s, size_t max) {
  std::string out;
  for (char c : s.substr(0, max)) out += (c >= 0x20 && c < 0x7f) ? c : '.';
  return out;
}

}  // namespace

void HttpResponseParser::Reset() { *this = HttpResponseParser(); }

Status HttpResponseParser::Fail(std::string message) {
  state_ = State::kFailed;
  return Status::Corrupt(std::move(message));
}

Status HttpResponseParser::Feed(const char* data, size_t n, size_t* used, bool* done) {
  *done = false;
  *used = 0;
  if (state_ == State::kFailed) return Status::Corrupt("response parser used after an error");
  if (state_ == State::kDone) return Status::Internal("response parser fed after a complete response");
  size_t i = 0;
  while (i < n) {
    started_ = true;
    switch (state_) {
      case State::kStatusLine:
      case State::kHeaders:
      case State::kChunkSize:
      case State::kChunkCrlf:
      case State::kTrailers: {
        const char* nl = static_cast<const char*>(std::memchr(data + i, '\n', n - i));
        const size_t take = nl ? static_cast<size_t>(nl - (data + i)) + 1 : n - i;
        const bool in_head =
            state_ == State::kStatusLine || state_ == State::kHeaders || state_ == State::kTrailers;
        if (in_head) {
          head_bytes_ += take;
          if (head_bytes_ > kMaxHeadBytes) return Fail("response head larger than 64 KiB");
        } else if (line_.size() + take > kMaxChunkLineBytes) {
          return Fail("chunk size line longer than 4 KiB");
        }
        line_.append(data + i, take);
        i += take;
        if (!nl) break;
        line_.pop_back();  // '\n'; a bare LF is tolerated as a line end.
        if (!line_.empty() && line_.back() == '\r') line_.pop_back();
        Status s = OnLine(line_);
        line_.clear();
        if (!s.ok()) return s;
        break;
      }
      case State::kFixedBody:
      case State::kChunkData: {
        const size_t take = static_cast<size_t>(std::min<uint64_t>(remaining_, n - i));
        KeepBody(data + i, take);
        i += take;
        remaining_ -= take;
        if (remaining_ == 0) state_ = state_ == State::kFixedBody ? State::kDone : State::kChunkCrlf;
        break;
      }
      case State::kUntilClose:
        KeepBody(data + i, n - i);
        i = n;
        break;
      case State::kDone:
      case State::kFailed:
        break;
    }
    if (state_ == State::kDone) break;
  }
  *used = i;
  *done = state_ == State::kDone;
  return Status::Ok();
}

Status HttpResponseParser::FinishAtEof(bool* done) {
  *done = false;
  if (state_ == State::kUntilClose) {
    state_ = State::kDone;
    *done = true;
    return Status::Ok();
  }
  if (state_ == State::kDone) {
    *done = true;
    return Status::Ok();
  }
  if (!started_) return Fail("connection closed before any byte of the answer");
  return Fail("connection closed in the middle of the answer (status " + std::to_string(status_) + ", " +
              std::to_string(body_bytes_) + " body bytes)");
}

Status HttpResponseParser::OnLine(const std::string& line) {
  switch (state_) {
    case State::kStatusLine:
      return OnStatusLine(line);
    case State::kHeaders:
      return line.empty() ? OnHeadEnd() : OnHeader(line);
    case State::kChunkSize:
      return OnChunkSize(line);
    case State::kChunkCrlf:
      if (!line.empty()) return Fail("chunk data longer than its declared size");
      state_ = State::kChunkSize;
      return Status::Ok();
    case State::kTrailers:
      // Trailer fields are not needed; only the empty line ending them is.
      if (line.empty()) state_ = State::kDone;
      return Status::Ok();
    default:
      return Fail("internal: line in a body state");
  }
}

Status HttpResponseParser::OnStatusLine(const std::string& line) {
  // HTTP/1.1 200 OK   (the reason phrase is optional, the space before it is not required)
  const auto digit = [&](size_t k) { return k < line.size() && line[k] >= '0' && line[k] <= '9'; };
  if (line.size() < 12 || line.compare(0, 5, "HTTP/") != 0 || !digit(5) || line[6] != '.' || !digit(7) ||
      line[8] != ' ' || !digit(9) || !digit(10) || !digit(11) || (line.size() > 12 && line[12] != ' ')) {
    return Fail("malformed status line: \"" + Printable(line, 80) + "\"");
  }
  if (line[5] != '1') return Fail("not an HTTP/1.x answer: \"" + Printable(line, 80) + "\"");
  minor_version_ = line[7] - '0';
  status_ = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
  if (status_ < 100) return Fail("status code below 100: \"" + Printable(line, 80) + "\"");
  state_ = State::kHeaders;
  return Status::Ok();
}

Status HttpResponseParser::OnHeader(const std::string& line) {
  if (line[0] == ' ' || line[0] == '\t') return Fail("obsolete folded header line in the answer");
  const size_t colon = line.find(':');
  if (colon == std::string::npos || colon == 0) {
    return Fail("malformed header line: \"" + Printable(line, 80) + "\"");
  }
  const std::string_view name(line.data(), colon);
  if (name.find_first_of(" \t") != std::string_view::npos) {
    return Fail("whitespace in header name: \"" + Printable(line, 80) + "\"");
  }
  const std::string_view value = Trim(std::string_view(line).substr(colon + 1));
  if (EqualsNoCase(name, "content-length")) {
    // A list of equal values ("5, 5") is allowed by RFC 9110; anything else
    // would let two parties disagree on where the answer ends.
    bool ok = !value.empty();
    uint64_t length = 0;
    bool first = true;
    ForEachToken(value, [&](std::string_view token) {
      uint64_t v = 0;
      if (token.size() > 18) ok = false;
      for (char c : token) {
        if (c < '0' || c > '9') ok = false;
        v = v * 10 + static_cast<uint64_t>(c - '0');
      }
      if (!first && v != length) ok = false;
      length = v;
      first = false;
    });
    if (!ok || first) return Fail("malformed Content-Length: \"" + Printable(value, 40) + "\"");
    if (has_length_ && length_ != length) return Fail("conflicting Content-Length headers");
    has_length_ = true;
    length_ = length;
  } else if (EqualsNoCase(name, "transfer-encoding")) {
    has_transfer_encoding_ = true;
    // Only the final coding frames the message; several headers read as one list.
    std::string_view last;
    ForEachToken(value, [&](std::string_view token) { last = token; });
    if (!last.empty()) chunked_ = EqualsNoCase(last, "chunked");
  } else if (EqualsNoCase(name, "connection")) {
    ForEachToken(value, [&](std::string_view token) {
      if (EqualsNoCase(token, "close")) saw_close_ = true;
      if (EqualsNoCase(token, "keep-alive")) saw_keep_alive_ = true;
    });
  }
  return Status::Ok();
}

Status HttpResponseParser::OnHeadEnd() {
  if (status_ >= 100 && status_ < 200) {
    if (status_ == 101) return Fail("the server switched protocols (101), which a load run never asks for");
    // An interim answer (100 Continue, 103 Early Hints): the real one follows.
    const bool started = started_;
    const size_t head_bytes = head_bytes_;
    Reset();
    started_ = started;
    head_bytes_ = head_bytes;
    return Status::Ok();
  }
  keep_alive_ = minor_version_ >= 1 ? !saw_close_ : (saw_keep_alive_ && !saw_close_);
  if (status_ == 204 || status_ == 304) {
    state_ = State::kDone;
  } else if (has_transfer_encoding_) {
    // RFC 9112 6.3: Transfer-Encoding overrides Content-Length; a final
    // coding other than chunked means the body runs to the end of the connection.
    if (chunked_) {
      state_ = State::kChunkSize;
    } else {
      state_ = State::kUntilClose;
      keep_alive_ = false;
    }
  } else if (has_length_) {
    remaining_ = length_;
    state_ = remaining_ == 0 ? State::kDone : State::kFixedBody;
  } else {
    state_ = State::kUntilClose;
    keep_alive_ = false;
  }
  return Status::Ok();
}

Status HttpResponseParser::OnChunkSize(const std::string& line) {
  std::string_view size = Trim(std::string_view(line).substr(0, line.find(';')));
  if (size.empty() || size.size() > 15) return Fail("malformed chunk size: \"" + Printable(line, 40) + "\"");
  uint64_t v = 0;
  for (char c : size) {
    int d;
    if (c >= '0' && c <= '9') {
      d = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      d = c - 'a' + 10;
    } else if (c >= 'A' && c <= 'F') {
      d = c - 'A' + 10;
    } else {
      return Fail("malformed chunk size: \"" + Printable(line, 40) + "\"");
    }
    v = v * 16 + static_cast<uint64_t>(d);
  }
  if (v == 0) {
    state_ = State::kTrailers;
  } else {
    remaining_ = v;
    state_ = State::kChunkData;
  }
  return Status::Ok();
}

void HttpResponseParser::KeepBody(const char* data, size_t n) {
  body_bytes_ += n;
  if (body_start_.size() < kBodyStartBytes) {
    body_start_.append(data, std::min(n, kBodyStartBytes - body_start_.size()));
  }
}

// ---- statistics ------------------------------------------------------------------

double Percentile(std::vector<uint64_t>* samples, double p) {
  if (samples->empty()) return 0;
  const size_t n = samples->size();
  size_t rank = static_cast<size_t>(std::ceil(p * static_cast<double>(n)));
  rank = std::clamp<size_t>(rank, 1, n);
  auto it = samples->begin() + static_cast<std::ptrdiff_t>(rank - 1);
  std::nth_element(samples->begin(), it, samples->end());
  return static_cast<double>(*it);
}

double LeastSquaresSlope(const std::vector<double>& xs, const std::vector<double>& ys) {
  const size_t n = std::min(xs.size(), ys.size());
  if (n < 2) return 0;
  double mx = 0, my = 0;
  for (size_t i = 0; i < n; ++i) mx += xs[i], my += ys[i];
  mx /= static_cast<double>(n);
  my /= static_cast<double>(n);
  double sxy = 0, sxx = 0;
  for (size_t i = 0; i < n; ++i) {
    sxy += (xs[i] - mx) * (ys[i] - my);
    sxx += (xs[i] - mx) * (xs[i] - mx);
  }
  return sxx == 0 ? 0 : sxy / sxx;
}

// ---- the load run ----------------------------------------------------------------

namespace {

using Clock = std::chrono::steady_clock;
using Nanos = std::chrono::nanoseconds;

Nanos SecondsToNanos(double s) { return Nanos(std::llround(s * 1e9)); }

// After a refused or reset connection, so that a server that is down is
// not hammered in a tight loop by every connection.
constexpr Nanos kReconnectBackoff = std::chrono::milliseconds(10);

struct Target {
  std::string host;         // as written in the URL
  std::string host_header;  // host[:port] as written
  uint16_t port = 80;
  std::string path;  // path and query, never empty
};

Status ParseUrl(const std::string& url, Target* t) {
  const std::string_view u(url);
  if (u.size() >= 8 && EqualsNoCase(u.substr(0, 8), "https://")) {
    return Status::InvalidArgument(
        "--url: https is not supported by the load generator; serve plain http on loopback");
  }
  if (u.size() < 7 || !EqualsNoCase(u.substr(0, 7), "http://")) {
    return Status::InvalidArgument(
        "--url must start with http://, e.g. http://127.0.0.1:8080/v1/lookup?pdq=...");
  }
  std::string_view rest = u.substr(7);
  const size_t end = rest.find_first_of("/?#");
  const std::string_view authority = rest.substr(0, end);
  std::string_view path = end == std::string_view::npos ? std::string_view() : rest.substr(end);
  if (const size_t hash = path.find('#'); hash != std::string_view::npos) path = path.substr(0, hash);
  if (authority.empty() || authority.find('@') != std::string_view::npos || authority.front() == '[') {
    return Status::InvalidArgument(
        "--url: expected http://HOST[:PORT]/... with an IPv4 address or host name");
  }
  t->host_header = std::string(authority);
  const size_t colon = authority.rfind(':');
  t->host = std::string(authority.substr(0, colon));
  if (colon != std::string_view::npos) {
    const std::string_view port = authority.substr(colon + 1);
    long v = 0;
    bool ok = !port.empty() && port.size() <= 5;
    for (char c : port) {
      if (c < '0' || c > '9') ok = false;
      v = v * 10 + (c - '0');
    }
    if (!ok || v < 1 || v > 65535)
      return Status::InvalidArgument("--url: bad port \"" + std::string(port) + "\"");
    t->port = static_cast<uint16_t>(v);
  }
  if (path.empty()) {
    t->path = "/";
  } else if (path.front() == '?') {
    t->path = "/" + std::string(path);
  } else {
    t->path = std::string(path);
  }
  return Status::Ok();
}

// A path goes verbatim into the request line, so it must not break it.
Status CheckPath(const std::string& path, const std::string& where) {
  if (path.empty() || path.front() != '/') {
    return Status::InvalidArgument(where + ": a path must start with '/': \"" + Printable(path, 80) + "\"");
  }
  for (unsigned char c : path) {
    if (c <= 0x20 || c == 0x7f) {
      return Status::InvalidArgument(where + ": space or control character in path \"" + Printable(path, 80) +
                                     "\" (percent-encode it)");
    }
  }
  return Status::Ok();
}

Status Resolve(const std::string& host, uint16_t port, sockaddr_in* addr) {
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  const int rc = getaddrinfo(host.c_str(), nullptr, &hints, &res);
  if (rc != 0 || res == nullptr) {
    return Status::IoError("cannot resolve \"" + host + "\" to an IPv4 address: " + gai_strerror(rc));
  }
  std::memcpy(addr, res->ai_addr, sizeof(*addr));
  freeaddrinfo(res);
  addr->sin_port = htons(port);
  return Status::Ok();
}

// Everything the workers read and nobody writes during the run.
struct Plan {
  sockaddr_in addr{};
  std::string method;
  std::string head_suffix;  // " HTTP/1.1\r\n" + headers + "\r\n"
  const std::string* body = nullptr;
  std::vector<std::string> paths;
  int threads = 1;
  double rate = 0;  // 0: closed loop
  Clock::time_point t0, measure_start, measure_end, drain_deadline;
  // Once per run, across threads: the first non-2xx answer and the first
  // transport error go to stderr at once, so a misconfigured run is obvious
  // long before a 10-minute soak ends.
  mutable std::atomic<bool> told_non2xx{false};
  mutable std::atomic<bool> told_error{false};
};

class Worker {
 public:
  Worker(const Plan& plan, int index, int connections) : plan_(plan), index_(index), conns_(connections) {}
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;
  ~Worker() {
    for (Conn& c : conns_) {
      if (c.fd >= 0) close(c.fd);
    }
    if (epfd_ >= 0) close(epfd_);
  }

  void Run();

  std::vector<uint64_t> latencies_ns;
  uint64_t requests = 0, answered = 0, non2xx = 0, reconnects = 0;
  int first_non2xx_status = 0;
  std::string first_non2xx_body;
  std::string first_error;

 private:
  struct Conn {
    int fd = -1;
    uint32_t generation = 0;  // tells events of a closed socket from its successor's
    uint32_t events = 0;      // the epoll mask registered
    bool connecting = false;
    bool opened_before = false;
    bool busy = false;  // carries a request
    bool record = false;
    Clock::time_point start;  // send time (closed loop) or due time (open loop)
    Clock::time_point retry_at;
    std::string head;
    size_t sent = 0;  // bytes of head + body written
    HttpResponseParser parser;
  };

  bool Open() const { return plan_.rate > 0; }
  Clock::time_point Due(uint64_t i) const {
    return plan_.t0 + SecondsToNanos(static_cast<double>(static_cast<uint64_t>(index_) +
                                                         i * static_cast<uint64_t>(plan_.threads)) /
                                     plan_.rate);
  }
  size_t RequestBytes(const Conn& c) const { return c.head.size() + plan_.body->size(); }

  void OpenSocket(Conn& c, Clock::time_point now);
  void CloseSocket(Conn& c);
  void SetMask(Conn& c, uint32_t mask);
  void StartRequest(Conn& c, Clock::time_point start, Clock::time_point now);
  void TrySend(Conn& c);
  void OnEvent(Conn& c, uint32_t events);
  void OnReadable(Conn& c);
  void Complete(Conn& c, bool close_after);
  void FailRequest(Conn& c, const std::string& why);
  void NoteError(const std::string& why, bool recorded);
  void Freed(Conn& c);
  void Dispatch(Clock::time_point now);
  int Wait(Clock::time_point now, epoll_event* events, int max);

  const Plan& plan_;
  const int index_;
  std::vector<Conn> conns_;
  int epfd_ = -1;
  std::vector<size_t> free_;     // connections without a request, ready to take one
  std::vector<size_t> backoff_;  // connections waiting for retry_at
  size_t inflight_ = 0;
  uint64_t next_due_ = 0;  // open loop: the next request to send
  uint64_t total_ = 0;     // open loop: requests due before measure_end
  uint64_t path_counter_ = 0;
  bool pwait2_ok_ = true;
  std::vector<char> rbuf_ = std::vector<char>(256 << 10);
};

void Worker::NoteError(const std::string& why, bool recorded) {
  if (first_error.empty()) first_error = why;
  if (!plan_.told_error.exchange(true)) {
    std::fprintf(stderr, "http bench: first transport error%s: %s\n", recorded ? "" : " (not measured)",
                 why.c_str());
  }
}

void Worker::SetMask(Conn& c, uint32_t mask) {
  if (c.events == mask) return;
  epoll_event ev{};
  ev.events = mask;
  ev.data.u64 = (static_cast<uint64_t>(c.generation) << 32) | static_cast<uint64_t>(&c - conns_.data());
  epoll_ctl(epfd_, c.events == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, c.fd, &ev);
  c.events = mask;
}

void Worker::CloseSocket(Conn& c) {
  if (c.fd < 0) return;
  close(c.fd);  // also removes it from the epoll set
  c.fd = -1;
  c.events = 0;
  c.connecting = false;
  ++c.generation;
}

// Connects without blocking; a failure leaves c.fd < 0 and is reported by
// the caller through the error it finds in errno.
void Worker::OpenSocket(Conn& c, Clock::time_point now) {
  if (c.opened_before && now >= plan_.measure_start && now < plan_.measure_end) ++reconnects;
  c.opened_before = true;
  c.fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c.fd < 0) return;
  // Requests are written in one call each; Nagle would only delay them.
  const int one = 1;
  setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  const int rc = connect(c.fd, reinterpret_cast<const sockaddr*>(&plan_.addr), sizeof(plan_.addr));
  if (rc != 0 && errno != EINPROGRESS) {
    const int err = errno;
    CloseSocket(c);
    errno = err;
    return;
  }
  c.connecting = rc != 0;
  SetMask(c, c.connecting ? (EPOLLIN | EPOLLOUT) : EPOLLIN);
}

void Worker::StartRequest(Conn& c, Clock::time_point start, Clock::time_point now) {
  c.busy = true;
  c.start = start;
  c.record = start >= plan_.measure_start && start < plan_.measure_end;
  if (c.record) ++requests;
  ++inflight_;
  const auto& paths = plan_.paths;
  const std::string& path =
      paths[(static_cast<uint64_t>(index_) + path_counter_++ * static_cast<uint64_t>(plan_.threads)) %
            paths.size()];
  c.head.clear();
  c.head.append(plan_.method).append(" ").append(path).append(plan_.head_suffix);
  c.sent = 0;
  c.parser.Reset();
  if (c.fd < 0) {
    OpenSocket(c, now);
    if (c.fd < 0) return FailRequest(c, std::string("connect: ") + std::strerror(errno));
  }
  if (!c.connecting) TrySend(c);
}

void Worker::TrySend(Conn& c) {
  const std::string& body = *plan_.body;
  while (c.sent < RequestBytes(c)) {
    iovec iov[2];
    int n = 0;
    if (c.sent < c.head.size()) {
      iov[n++] = {const_cast<char*>(c.head.data()) + c.sent, c.head.size() - c.sent};
      if (!body.empty()) iov[n++] = {const_cast<char*>(body.data()), body.size()};
    } else {
      const size_t off = c.sent - c.head.size();
      iov[n++] = {const_cast<char*>(body.data()) + off, body.size() - off};
    }
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = static_cast<size_t>(n);
    const ssize_t w = sendmsg(c.fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return SetMask(c, EPOLLIN | EPOLLOUT);
      return FailRequest(c, std::string("send: ") + std::strerror(errno));
    }
    c.sent += static_cast<size_t>(w);
  }
  SetMask(c, EPOLLIN);
}

void Worker::OnEvent(Conn& c, uint32_t events) {
  if (c.connecting) {
    if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
    if (err != 0) {
      const std::string why = std::string("connect: ") + std::strerror(err);
      if (c.busy) return FailRequest(c, why);
      NoteError(why, false);
      CloseSocket(c);
      return;
    }
    c.connecting = false;
    if (c.busy) return TrySend(c);
    return SetMask(c, EPOLLIN);
  }
  // Reading may complete the request and start the next on a new socket,
  // to which this event's EPOLLOUT does not apply.
  const uint32_t generation = c.generation;
  if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) OnReadable(c);
  if (c.generation == generation && c.fd >= 0 && c.busy && !c.connecting && (events & EPOLLOUT) &&
      c.sent < RequestBytes(c)) {
    TrySend(c);
  }
}

void Worker::OnReadable(Conn& c) {
  for (;;) {
    const ssize_t r = read(c.fd, rbuf_.data(), rbuf_.size());
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      const std::string why = std::string("read: ") + std::strerror(errno);
      if (c.busy) return FailRequest(c, why);
      CloseSocket(c);
      return;
    }
    if (r == 0) {
      if (!c.busy) {
        // The server closed an idle keep-alive connection; the next request
        // on this slot opens a new one (counted as a reconnect).
        CloseSocket(c);
        return;
      }
      bool done = false;
      Status s = c.parser.FinishAtEof(&done);
      if (!s.ok()) return FailRequest(c, s.message());
      return Complete(c, true);
    }
    if (!c.busy) {
      NoteError("the server sent " + std::to_string(r) + " bytes nobody asked for; connection closed", false);
      CloseSocket(c);
      return;
    }
    size_t used = 0;
    bool done = false;
    Status s = c.parser.Feed(rbuf_.data(), static_cast<size_t>(r), &used, &done);
    if (!s.ok()) return FailRequest(c, s.message());
    if (done) {
      // Bytes after the answer would be an answer to a request never sent:
      // the stream is out of step, so the connection is not reused.
      const bool trailing = used < static_cast<size_t>(r);
      if (trailing) NoteError("bytes after a complete answer; connection closed", c.record);
      return Complete(c, trailing || !c.parser.keep_alive() || c.sent < RequestBytes(c));
    }
    // A short read means the socket is drained; the next event brings more.
    if (static_cast<size_t>(r) < rbuf_.size()) return;
  }
}

void Worker::Complete(Conn& c, bool close_after) {
  const Clock::time_point now = Clock::now();
  if (c.record) {
    ++answered;
    latencies_ns.push_back(static_cast<uint64_t>(std::chrono::duration_cast<Nanos>(now - c.start).count()));
  }
  const int status = c.parser.status();
  if (status < 200 || status > 299) {
    if (c.record) ++non2xx;
    if (first_non2xx_status == 0) {
      first_non2xx_status = status;
      first_non2xx_body = Printable(c.parser.body_start(), 200);
    }
    if (!plan_.told_non2xx.exchange(true)) {
      std::fprintf(stderr, "http bench: first non-2xx answer%s: status %d, body: %s\n",
                   c.record ? "" : " (not measured)", status, Printable(c.parser.body_start(), 200).c_str());
    }
  }
  c.busy = false;
  --inflight_;
  if (close_after) CloseSocket(c);
  Freed(c);
}

void Worker::FailRequest(Conn& c, const std::string& why) {
  NoteError(why, c.record);
  CloseSocket(c);
  c.busy = false;
  --inflight_;
  c.retry_at = Clock::now() + kReconnectBackoff;
  backoff_.push_back(static_cast<size_t>(&c - conns_.data()));
}

void Worker::Freed(Conn& c) {
  free_.push_back(static_cast<size_t>(&c - conns_.data()));
  // Closed loop: the next request goes out at once, which is the point.
  if (!Open()) Dispatch(Clock::now());
}

void Worker::Dispatch(Clock::time_point now) {
  for (size_t k = 0; k < backoff_.size();) {
    if (conns_[backoff_[k]].retry_at <= now) {
      free_.push_back(backoff_[k]);
      backoff_[k] = backoff_.back();
      backoff_.pop_back();
    } else {
      ++k;
    }
  }
  while (!free_.empty()) {
    Clock::time_point start;
    if (Open()) {
      if (next_due_ >= total_ || Due(next_due_) > now) return;
      start = Due(next_due_++);
    } else {
      if (now >= plan_.measure_end) return;
      start = now;
    }
    Conn& c = conns_[free_.back()];
    free_.pop_back();
    StartRequest(c, start, now);
  }
}

int Worker::Wait(Clock::time_point now, epoll_event* events, int max) {
  Clock::time_point wake = plan_.drain_deadline;
  if (now < plan_.measure_end) wake = std::min(wake, plan_.measure_end);
  if (Open() && next_due_ < total_ && !free_.empty()) wake = std::min(wake, Due(next_due_));
  for (size_t k : backoff_) wake = std::min(wake, conns_[k].retry_at);
  const int64_t ns = std::max<int64_t>(0, std::chrono::duration_cast<Nanos>(wake - now).count());
  if (pwait2_ok_) {
    // Nanosecond timeouts: open-loop requests 50 us apart must not be sent
    // in 1 ms bursts, which would add up to 1 ms to their measured latency.
    timespec ts{static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)};
    const int n = epoll_pwait2(epfd_, events, max, &ts, nullptr);
    if (n >= 0 || errno != ENOSYS) return n;
    pwait2_ok_ = false;
  }
  return epoll_wait(epfd_, events, max, static_cast<int>((ns + 999999) / 1000000));
}

void Worker::Run() {
  // The default 50 us timer slack would delay open-loop sends by as much.
  prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
  epfd_ = epoll_create1(EPOLL_CLOEXEC);
  if (epfd_ < 0) {
    NoteError(std::string("epoll_create1: ") + std::strerror(errno), true);
    return;
  }
  if (Open()) {
    const double end_s = std::chrono::duration<double>(plan_.measure_end - plan_.t0).count();
    const double estimate = (end_s * plan_.rate - index_) / plan_.threads;
    total_ = estimate > 0 ? static_cast<uint64_t>(estimate) : 0;
    while (Due(total_) < plan_.measure_end) ++total_;
    while (total_ > 0 && Due(total_ - 1) >= plan_.measure_end) --total_;
    latencies_ns.reserve(static_cast<size_t>(total_));
  }
  std::vector<epoll_event> events(std::max<size_t>(conns_.size(), 16));
  // Connect everything before t0, so that the first requests do not pay for it.
  Clock::time_point now = Clock::now();
  for (Conn& c : conns_) {
    OpenSocket(c, now);
    if (c.fd < 0) NoteError(std::string("connect: ") + std::strerror(errno), false);
  }
  while ((now = Clock::now()) < plan_.t0) {
    const int64_t ms = std::chrono::duration_cast<std::chrono::milliseconds>(plan_.t0 - now).count();
    const int n = epoll_wait(epfd_, events.data(), static_cast<int>(events.size()), static_cast<int>(ms));
    for (int k = 0; k < n; ++k) {
      Conn& c = conns_[events[k].data.u64 & 0xffffffffu];
      if (c.fd >= 0 && c.generation == events[k].data.u64 >> 32) OnEvent(c, events[k].events);
    }
  }
  std::this_thread::sleep_until(plan_.t0);
  for (size_t k = conns_.size(); k-- > 0;) free_.push_back(k);

  for (;;) {
    now = Clock::now();
    Dispatch(now);
    if (now >= plan_.drain_deadline) break;
    if (now >= plan_.measure_end && inflight_ == 0 && (!Open() || next_due_ >= total_)) break;
    const int n = Wait(now, events.data(), static_cast<int>(events.size()));
    if (n < 0) {
      if (errno == EINTR) continue;
      NoteError(std::string("epoll_wait: ") + std::strerror(errno), true);
      break;
    }
    for (int k = 0; k < n; ++k) {
      Conn& c = conns_[events[k].data.u64 & 0xffffffffu];
      if (c.fd >= 0 && c.generation == events[k].data.u64 >> 32) OnEvent(c, events[k].events);
    }
  }
  uint64_t unanswered = 0;
  for (const Conn& c : conns_) unanswered += (c.busy && c.record) ? 1 : 0;
  if (Open()) {
    // Due inside the window but never sent (no connection was ever free):
    // they count as requests, and as errors.
    for (uint64_t i = next_due_; i < total_; ++i) {
      if (Due(i) >= plan_.measure_start) ++requests, ++unanswered;
    }
  }
  if (unanswered > 0) {
    NoteError(std::to_string(unanswered) + " requests were still unanswered when the drain time ended", true);
  }
}

// VmRSS of `pid` in MiB, or < 0 if the process is gone.
double ReadRssMib(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.compare(0, 6, "VmRSS:") == 0) return std::strtod(line.c_str() + 6, nullptr) / 1024.0;
  }
  return -1;
}

}  // namespace

Status RunHttpLoad(const HttpLoadOptions& options, HttpLoadResult* result) {
  *result = HttpLoadResult();
  Target target;
  Status s = ParseUrl(options.url, &target);
  if (!s.ok()) return s;
  if (options.method != "GET" && options.method != "POST") {
    return Status::InvalidArgument("--method must be GET or POST, not \"" + options.method + "\"");
  }
  if (options.connections < 1 || options.threads < 1 || options.threads > options.connections) {
    return Status::InvalidArgument("need --connections >= --threads >= 1");
  }
  if (!(options.duration_s > 0) || !(options.warmup_s >= 0) || !(options.rate >= 0) ||
      !(options.drain_s >= 0)) {
    return Status::InvalidArgument("need --duration > 0, --warmup >= 0, --rate >= 0, --drain >= 0");
  }
  if (options.pid > 0 && ReadRssMib(options.pid) < 0) {
    return Status::InvalidArgument("--pid " + std::to_string(options.pid) +
                                   ": no such process (or no VmRSS)");
  }

  auto plan = std::make_unique<Plan>();
  plan->paths = options.paths.empty() ? std::vector<std::string>{target.path} : options.paths;
  for (const std::string& p : plan->paths) {
    s = CheckPath(p, options.paths.empty() ? "--url" : "--urls-file");
    if (!s.ok()) return s;
  }
  std::string suffix = " HTTP/1.1\r\n";
  bool has_host = false;
  for (const std::string& h : options.headers) {
    const size_t colon = h.find(':');
    if (colon == std::string::npos || colon == 0 || h.find_first_of("\r\n") != std::string::npos) {
      return Status::InvalidArgument("--header must be \"Name: value\" on one line, not \"" +
                                     Printable(h, 80) + "\"");
    }
    if (EqualsNoCase(std::string_view(h).substr(0, colon), "host")) has_host = true;
  }
  if (!has_host) suffix += "Host: " + target.host_header + "\r\n";
  suffix += "User-Agent: safeguard-bench\r\n";
  if (!options.api_key.empty()) {
    if (options.api_key.find_first_of("\r\n") != std::string::npos) {
      return Status::InvalidArgument("the API key contains a line break");
    }
    suffix += "Authorization: Bearer " + options.api_key + "\r\n";
  }
  for (const std::string& h : options.headers) suffix += h + "\r\n";
  if (options.method == "POST" || !options.body.empty()) {
    if (!options.content_type.empty()) suffix += "Content-Type: " + options.content_type + "\r\n";
    suffix += "Content-Length: " + std::to_string(options.body.size()) + "\r\n";
  }
  suffix += "\r\n";
  plan->head_suffix = std::move(suffix);
  plan->method = options.method;
  plan->body = &options.body;
  plan->threads = options.threads;
  plan->rate = options.rate;
  s = Resolve(target.host, target.port, &plan->addr);
  if (!s.ok()) return s;

  // Every thread starts its clock at the same t0, late enough for all of
  // them to be running and connected.
  plan->t0 = Clock::now() + std::chrono::milliseconds(100 + 2 * options.connections);
  plan->measure_start = plan->t0 + SecondsToNanos(options.warmup_s);
  plan->measure_end = plan->measure_start + SecondsToNanos(options.duration_s);
  plan->drain_deadline = plan->measure_end + SecondsToNanos(options.drain_s);

  std::vector<std::unique_ptr<Worker>> workers;
  for (int t = 0; t < options.threads; ++t) {
    const int conns =
        options.connections / options.threads + (t < options.connections % options.threads ? 1 : 0);
    workers.push_back(std::make_unique<Worker>(*plan, t, conns));
  }
  std::vector<std::thread> threads;
  for (auto& w : workers) threads.emplace_back([&w] { w->Run(); });

  // RSS once a second over the measured window (the warm-up is not part of
  // a soak's figures), timed by the wall clock so the slope's x is exact.
  std::vector<double> rss_t;
  if (options.pid > 0) {
    for (int k = 0;; ++k) {
      const Clock::time_point at = plan->measure_start + std::chrono::seconds(k);
      if (at > plan->measure_end) break;
      std::this_thread::sleep_until(at);
      const double mib = ReadRssMib(options.pid);
      if (mib < 0) {
        std::fprintf(stderr, "http bench: process %d is gone; RSS sampling stopped after %zu samples\n",
                     options.pid, result->rss_mib.size());
        break;
      }
      rss_t.push_back(std::chrono::duration<double>(Clock::now() - plan->measure_start).count());
      result->rss_mib.push_back(mib);
    }
  }
  for (auto& t : threads) t.join();

  std::vector<uint64_t> latencies;
  for (auto& w : workers) {
    result->requests += w->requests;
    result->answered += w->answered;
    result->non2xx += w->non2xx;
    result->reconnects += w->reconnects;
    if (result->first_non2xx_status == 0 && w->first_non2xx_status != 0) {
      result->first_non2xx_status = w->first_non2xx_status;
      result->first_non2xx_body = w->first_non2xx_body;
    }
    if (result->first_error.empty()) result->first_error = w->first_error;
    latencies.insert(latencies.end(), w->latencies_ns.begin(), w->latencies_ns.end());
    std::vector<uint64_t>().swap(w->latencies_ns);
  }
  result->errors = result->requests - result->answered;
  result->measured_s = options.duration_s;
  result->rps = static_cast<double>(result->answered) / options.duration_s;
  result->p50_us = Percentile(&latencies, 0.50) / 1e3;
  result->p99_us = Percentile(&latencies, 0.99) / 1e3;
  result->p999_us = Percentile(&latencies, 0.999) / 1e3;
  result->max_us = Percentile(&latencies, 1.0) / 1e3;
  // x in minutes, so the slope is MiB per minute.
  for (double& t : rss_t) t /= 60.0;
  result->rss_slope_mib_per_min = LeastSquaresSlope(rss_t, result->rss_mib);
  return Status::Ok();
}

// ---- the command -------------------------------------------------------------------

namespace {

constexpr const char* kUsage =
    "usage: safeguard-bench http --url http://HOST:PORT/path?query [--method GET|POST]\n"
    "         [--body-file F] [--content-type T] [--header \"Name: value\"]... [--key K]\n"
    "         [--connections C] [--threads T] [--duration S] [--warmup S] [--rate R]\n"
    "         [--urls-file F] [--pid P] [--drain S]\n"
    "  closed loop unless --rate R (requests/s in all); the key may come from SAFEGUARD_API_KEY\n";

bool ParseDouble(const char* s, double* out) {
  char* end = nullptr;
  errno = 0;
  *out = std::strtod(s, &end);
  return *s != '\0' && *end == '\0' && errno == 0 && std::isfinite(*out);
}

bool ParseInt(const char* s, int* out) {
  char* end = nullptr;
  errno = 0;
  const long v = std::strtol(s, &end, 10);
  if (*s == '\0' || *end != '\0' || errno != 0 || v < INT32_MIN || v > INT32_MAX) return false;
  *out = static_cast<int>(v);
  return true;
}

Status ReadFile(const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::IoError("cannot open " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return Status::IoError("cannot read " + path);
  *out = std::move(ss).str();
  return Status::Ok();
}

Status ReadUrlsFile(const std::string& path, std::vector<std::string>* paths) {
  std::ifstream in(path);
  if (!in) return Status::IoError("cannot open " + path);
  std::string line;
  size_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    Status s = CheckPath(line, path + ":" + std::to_string(number));
    if (!s.ok()) return s;
    paths->push_back(line);
  }
  if (paths->empty()) return Status::InvalidArgument(path + ": no paths in the file");
  return Status::Ok();
}

}  // namespace

int RunHttpBench(int argc, char** argv) {
  HttpLoadOptions o;
  std::string body_file, urls_file;
  bool have_key = false;
  for (int i = 0; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "http bench: %s needs a value\n%s", a.c_str(), kUsage);
      return 2;
    }
    const char* v = argv[++i];
    bool ok = true;
    if (a == "--url") {
      o.url = v;
    } else if (a == "--method") {
      o.method = v;
    } else if (a == "--body-file") {
      body_file = v;
    } else if (a == "--content-type") {
      o.content_type = v;
    } else if (a == "--header") {
      o.headers.emplace_back(v);
    } else if (a == "--key") {
      o.api_key = v;
      have_key = true;
    } else if (a == "--connections") {
      ok = ParseInt(v, &o.connections);
    } else if (a == "--threads") {
      ok = ParseInt(v, &o.threads);
    } else if (a == "--duration") {
      ok = ParseDouble(v, &o.duration_s);
    } else if (a == "--warmup") {
      ok = ParseDouble(v, &o.warmup_s);
    } else if (a == "--rate") {
      ok = ParseDouble(v, &o.rate);
    } else if (a == "--urls-file") {
      urls_file = v;
    } else if (a == "--pid") {
      ok = ParseInt(v, &o.pid);
    } else if (a == "--drain") {
      ok = ParseDouble(v, &o.drain_s);
    } else {
      std::fprintf(stderr, "http bench: unknown option %s\n%s", a.c_str(), kUsage);
      return 2;
    }
    // The value of --key is never echoed.
    if (!ok) {
      std::fprintf(stderr, "http bench: bad value for %s: \"%s\"\n", a.c_str(), v);
      return 2;
    }
  }
  if (o.url.empty()) {
    std::fprintf(stderr, "http bench: --url is required\n%s", kUsage);
    return 2;
  }
  if (!have_key) {
    if (const char* env = std::getenv("SAFEGUARD_API_KEY")) o.api_key = env;
  }
  Status s;
  if (!body_file.empty()) s = ReadFile(body_file, &o.body);
  if (s.ok() && !urls_file.empty()) s = ReadUrlsFile(urls_file, &o.paths);
  if (s.ok() && o.method == "POST" && body_file.empty()) {
    s = Status::InvalidArgument("--method POST needs --body-file");
  }
  HttpLoadResult r;
  if (s.ok()) s = RunHttpLoad(o, &r);
  if (!s.ok()) {
    std::fprintf(stderr, "http bench: %s\n", s.ToString().c_str());
    return ExitCodeFor(s.code());
  }

  std::string line = "method=http target=" + o.url;
  char buf[512];
  std::snprintf(buf, sizeof(buf),
                " request=%s mode=%s rate=%g connections=%d threads=%d duration_s=%g warmup_s=%g",
                o.method.c_str(), o.rate > 0 ? "open" : "closed", o.rate, o.connections, o.threads,
                o.duration_s, o.warmup_s);
  line += buf;
  if (!o.paths.empty()) line += " urls=" + std::to_string(o.paths.size());
  std::snprintf(buf, sizeof(buf),
                " requests=%llu errors=%llu non2xx=%llu reconnects=%llu rps=%.0f p50_us=%.1f p99_us=%.1f "
                "p999_us=%.1f max_us=%.1f",
                static_cast<unsigned long long>(r.requests), static_cast<unsigned long long>(r.errors),
                static_cast<unsigned long long>(r.non2xx), static_cast<unsigned long long>(r.reconnects),
                r.rps, r.p50_us, r.p99_us, r.p999_us, r.max_us);
  line += buf;
  if (o.pid > 0 && !r.rss_mib.empty()) {
    const auto [mn, mx] = std::minmax_element(r.rss_mib.begin(), r.rss_mib.end());
    std::snprintf(buf, sizeof(buf),
                  " rss_first_mib=%.1f rss_min_mib=%.1f rss_last_mib=%.1f rss_max_mib=%.1f "
                  "rss_slope_mib_per_min=%.3f rss_samples=%zu",
                  r.rss_mib.front(), *mn, r.rss_mib.back(), *mx, r.rss_slope_mib_per_min, r.rss_mib.size());
    line += buf;
  }
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
  if (r.answered - r.non2xx == 0) {
    std::fprintf(stderr, "http bench: no request got a 2xx answer%s%s\n",
                 r.first_error.empty() ? "" : "; first error: ", r.first_error.c_str());
    return 1;
  }
  return 0;
}

}  // namespace safeguard::bench
