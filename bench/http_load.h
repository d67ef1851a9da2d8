// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
// `safeguard-bench http`: an HTTP/1.1 load generator for the server's
// benchmarks (docs/BENCHMARKS.md, "HTTP load generator").
#ifndef SAFEGUARD_BENCH_HTTP_LOAD_H_
#define SAFEGUARD_BENCH_HTTP_LOAD_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "safeguard/common/status.h"

namespace safeguard::bench {

/// Parses one HTTP/1.1 response at a time from bytes as they arrive, in any
/// fragmentation: status line, headers (names case-insensitive), then a
/// body framed by Transfer-Encoding: chunked, Content-Length, or the end of
/// the connection. Interim 1xx responses are skipped; 204 and 304 have no
/// body. Keeps only the first bytes of the body (for diagnostics). Not
/// thread-safe; one parser per connection.
class HttpResponseParser {
 public:
  /// How many body bytes body_start() keeps.
  static constexpr size_t kBodyStartBytes = 256;

  /// Forgets everything; call before each response.
  void Reset();

  /// Consumes bytes from data[0, n) and stores how many in *used. Sets *done
  /// when a response is complete (*used then stops at its last byte; the
  /// rest belongs to whatever follows). Returns Corrupt for a malformed or
  /// oversized head, chunk line or framing header; the parser is then
  /// unusable until Reset().
  Status Feed(const char* data, size_t n, size_t* used, bool* done);

  /// Tells the parser the connection ended. Sets *done when that completes a
  /// body read until the end of the connection; returns Corrupt when the
  /// response was cut short (nothing at all received counts as cut short).
  Status FinishAtEof(bool* done);

  /// Returns the status code of the final response; 0 before its status line.
  int status() const { return status_; }
  /// Returns false when the server will close the connection after this
  /// response (Connection: close, HTTP/1.0 without keep-alive, or a body
  /// that ends with the connection).
  bool keep_alive() const { return keep_alive_; }
  /// Returns the number of body bytes received (decoded, if chunked).
  uint64_t body_bytes() const { return body_bytes_; }
  /// Returns the first kBodyStartBytes bytes of the (decoded) body.
  const std::string& body_start() const { return body_start_; }
  /// Returns true if the body was chunked.
  bool chunked() const { return chunked_; }
  /// Returns true if any byte of a response has been consumed since Reset().
  bool started() const { return started_; }

 private:
  enum class State {
    kStatusLine,
    kHeaders,
    kFixedBody,
    kUntilClose,
    kChunkSize,
    kChunkData,
    kChunkCrlf,
    kTrailers,
    kDone,
    kFailed
  };

  Status Fail(std::string message);
  Status OnLine(const std::string& line);
  Status OnStatusLine(const std::string& line);
  Status OnHeader(const std::string& line);
  Status OnHeadEnd();
  Status OnChunkSize(const std::string& line);
  void KeepBody(const char* data, size_t n);

  State state_ = State::kStatusLine;
  std::string line_;  // the line being assembled (head, chunk size or trailer)
  size_t head_bytes_ = 0;
  int status_ = 0;
  int minor_version_ = 1;
  bool keep_alive_ = true;
  bool saw_close_ = false;
  bool saw_keep_alive_ = false;
  bool chunked_ = false;
  bool has_transfer_encoding_ = false;
  bool has_length_ = false;
  bool started_ = false;
  uint64_t length_ = 0;
  uint64_t remaining_ = 0;
  uint64_t body_bytes_ = 0;
  std::string body_start_;
};

/// What one load run does. Plain data; copy freely.
struct HttpLoadOptions {
  /// http://HOST[:PORT][/path[?query]]; HOST an IPv4 address or a name that
  /// resolves to one. Its path is used unless `paths` is non-empty.
  std::string url;
  /// "GET" or "POST".
  std::string method = "GET";
  /// Request body, sent with every request when non-empty (or when method is POST).
  std::string body;
  /// Content-Type of the body; omitted when empty.
  std::string content_type;
  /// Extra header lines, each "Name: value".
  std::vector<std::string> headers;
  /// When non-empty, sent as "Authorization: Bearer <api_key>". Never printed.
  std::string api_key;
  /// Keep-alive connections in all, spread over the threads.
  int connections = 16;
  /// Event-loop threads.
  int threads = 1;
  /// Seconds measured, after the warm-up.
  double duration_s = 10;
  /// Seconds of load before measuring; requests started then are not counted.
  double warmup_s = 0;
  /// 0: closed loop (each connection sends its next request when the answer
  /// to the previous one arrives). > 0: open loop at this many requests per
  /// second in all, latency measured from each request's scheduled time.
  double rate = 0;
  /// Paths with queries ("/v1/lookup?pdq=..."), used round-robin; empty: the url's.
  std::vector<std::string> paths;
  /// When > 0, sample /proc/<pid>/status VmRSS once a second while measuring.
  int pid = 0;
  /// Seconds after the end of the measurement that unanswered requests get
  /// before they count as errors.
  double drain_s = 5;
};

/// What one load run measured. Latencies are in microseconds and cover every
/// answered request (2xx or not) started inside the measured window.
struct HttpLoadResult {
  uint64_t requests = 0;    ///< Started (closed) or scheduled (open) inside the window.
  uint64_t answered = 0;    ///< Of those, answered with a complete HTTP response.
  uint64_t errors = 0;      ///< requests - answered: refused, reset, malformed or unanswered in time.
  uint64_t non2xx = 0;      ///< Answered with a status outside 200-299.
  uint64_t reconnects = 0;  ///< Connections opened again inside the window.
  double measured_s = 0;    ///< The window's length.
  double rps = 0;           ///< answered / measured_s.
  double p50_us = 0, p99_us = 0, p999_us = 0, max_us = 0;
  int first_non2xx_status = 0;       ///< 0 if every answer was 2xx.
  std::string first_non2xx_body;     ///< Start of that answer's body.
  std::string first_error;           ///< Description of the first transport error, if any.
  std::vector<double> rss_mib;       ///< One VmRSS sample per second while measuring (with pid).
  double rss_slope_mib_per_min = 0;  ///< Least-squares slope of rss_mib.
};

/// Returns the nearest-rank percentile p (0 < p <= 1) of `samples`, which it
/// reorders; 0 for no samples.
double Percentile(std::vector<uint64_t>* samples, double p);

/// Returns the least-squares slope of ys against xs (paired by index; the
/// shorter length wins); 0 for fewer than 2 points or constant xs.
double LeastSquaresSlope(const std::vector<double>& xs, const std::vector<double>& ys);

/// Runs the load described by `options`, blocking for warmup_s + duration_s
/// (plus the drain of late answers), and stores the figures in *result.
/// Returns InvalidArgument for bad options (URL, method, counts) and
/// IoError if the host cannot be resolved; failed requests are figures,
/// not a failed Status. Prints the first non-2xx answer and the first
/// transport error of the run to stderr, once each, when they happen.
/// Thread-safe: runs share nothing.
Status RunHttpLoad(const HttpLoadOptions& options, HttpLoadResult* result);

/// Runs `safeguard-bench http`; argv are the arguments after "http". Prints
/// one result line on stdout; returns 0, 1 if no request got a 2xx answer,
/// 2 for a usage error.
int RunHttpBench(int argc, char** argv);

}  // namespace safeguard::bench

#endif  // SAFEGUARD_BENCH_HTTP_LOAD_H_
