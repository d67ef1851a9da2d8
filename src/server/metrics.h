// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// The server's Prometheus metrics (text exposition format 0.0.4): requests
// and latency histograms by route and status class, matches by category,
// decisions by action, and gauges the caller supplies when rendering (index
// size, webhook backlog). Routes are a fixed list, so label values never come
// from the request and the metric set cannot grow without bound.
//
// Thread-safety: every method is thread-safe (relaxed atomics).

#ifndef SAFEGUARD_SRC_SERVER_METRICS_H_
#define SAFEGUARD_SRC_SERVER_METRICS_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace safeguard::server {

/// The routes metrics are kept for ("other" for anything unmatched).
inline constexpr std::array<std::string_view, 17> kRoutes = {
    "scan",   "hash",    "lookup",  "banks", "bank",  "signals", "import",  "withdraw", "decisions",
    "health", "metrics", "openapi", "guard", "cases", "reports", "console", "other"};

class Metrics {
 public:
  /// Index of `route` in kRoutes ("other" if absent).
  static size_t RouteIndex(std::string_view route);

  /// Counts one answered request.
  void Request(size_t route, int status, double seconds);
  /// Counts a match in a bank of category `category` (its name).
  void Match(size_t category);
  /// Counts a decision with action `action` (0 allow .. 3 block).
  void Decision(size_t action);

  /// The exposition text, followed by `gauges` (name, help, value).
  std::string Render(const std::vector<std::pair<std::string, std::pair<std::string, double>>>& gauges) const;

 private:
  static constexpr std::array<double, 14> kBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                      0.1,    0.25,  0.5,    1,     2.5,  5,     10};
  static constexpr size_t kClasses = 5;  // 1xx..5xx
  struct Route {
    std::array<std::atomic<uint64_t>, kClasses> by_class{};
    std::array<std::atomic<uint64_t>, kBuckets.size() + 1> buckets{};  // last: +Inf
    std::atomic<uint64_t> sum_us{0};
    std::atomic<uint64_t> count{0};
  };
  std::array<Route, kRoutes.size()> routes_;
  std::array<std::atomic<uint64_t>, 5> matches_{};    // by bank::Category
  std::array<std::atomic<uint64_t>, 4> decisions_{};  // by policy::Action
};

}  // namespace safeguard::server

#endif  // SAFEGUARD_SRC_SERVER_METRICS_H_
