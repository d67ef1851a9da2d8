// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.

#include "metrics.h"

#include <cstdio>

namespace safeguard::server {
namespace {

constexpr const char* kCategories[] = {"csam", "ncii", "terrorism", "other", "allow"};
constexpr const char* kActions[] = {"allow", "review", "quarantine", "block"};

void Line(std::string* out, const char* fmt, auto... args) {
  char buf[512];
  const int n = std::snprintf(buf, sizeof buf, fmt, args...);
  if (n > 0) out->append(buf, static_cast<size_t>(std::min<int>(n, sizeof buf - 1)));
}

}  // namespace

size_t Metrics::RouteIndex(std::string_view route) {
  for (size_t i = 0; i < kRoutes.size(); ++i) {
    if (kRoutes[i] == route) return i;
  }
  return kRoutes.size() - 1;
}

void Metrics::Request(size_t route, int status, double seconds) {
  Route& r = routes_[std::min(route, kRoutes.size() - 1)];
  const size_t cls = status >= 100 && status < 600 ? static_cast<size_t>(status / 100 - 1) : kClasses - 1;
  r.by_class[cls].fetch_add(1, std::memory_order_relaxed);
  size_t b = 0;
  while (b < kBuckets.size() && seconds > kBuckets[b]) ++b;
  r.buckets[b].fetch_add(1, std::memory_order_relaxed);
  r.sum_us.fetch_add(static_cast<uint64_t>(seconds * 1e6), std::memory_order_relaxed);
  r.count.fetch_add(1, std::memory_order_relaxed);
}

void Metrics::Match(size_t category) {
  if (category < matches_.size()) matches_[category].fetch_add(1, std::memory_order_relaxed);
}

void Metrics::Decision(size_t action) {
  if (action < decisions_.size()) decisions_[action].fetch_add(1, std::memory_order_relaxed);
}

std::string Metrics::Render(
    const std::vector<std::pair<std::string, std::pair<std::string, double>>>& gauges) const {
  std::string out;
  out += "# HELP safeguard_http_requests_total HTTP requests answered, by route and status class.\n";
  out += "# TYPE safeguard_http_requests_total counter\n";
  for (size_t i = 0; i < kRoutes.size(); ++i) {
    for (size_t c = 0; c < kClasses; ++c) {
      const uint64_t v = routes_[i].by_class[c].load(std::memory_order_relaxed);
      if (v == 0) continue;
      Line(&out, "safeguard_http_requests_total{route=\"%.*s\",code=\"%zuxx\"} %llu\n",
           static_cast<int>(kRoutes[i].size()), kRoutes[i].data(), c + 1, static_cast<unsigned long long>(v));
    }
  }
  out += "# HELP safeguard_http_request_duration_seconds Time from a complete request to its response.\n";
  out += "# TYPE safeguard_http_request_duration_seconds histogram\n";
  for (size_t i = 0; i < kRoutes.size(); ++i) {
    const Route& r = routes_[i];
    const uint64_t count = r.count.load(std::memory_order_relaxed);
    if (count == 0) continue;
    const int len = static_cast<int>(kRoutes[i].size());
    const char* name = kRoutes[i].data();
    uint64_t cumulative = 0;
    for (size_t b = 0; b < kBuckets.size(); ++b) {
      cumulative += r.buckets[b].load(std::memory_order_relaxed);
      Line(&out, "safeguard_http_request_duration_seconds_bucket{route=\"%.*s\",le=\"%g\"} %llu\n", len, name,
           kBuckets[b], static_cast<unsigned long long>(cumulative));
    }
    cumulative += r.buckets[kBuckets.size()].load(std::memory_order_relaxed);
    Line(&out, "safeguard_http_request_duration_seconds_bucket{route=\"%.*s\",le=\"+Inf\"} %llu\n", len, name,
         static_cast<unsigned long long>(cumulative));
    Line(&out, "safeguard_http_request_duration_seconds_sum{route=\"%.*s\"} %.6f\n", len, name,
         r.sum_us.load(std::memory_order_relaxed) / 1e6);
    Line(&out, "safeguard_http_request_duration_seconds_count{route=\"%.*s\"} %llu\n", len, name,
         static_cast<unsigned long long>(cumulative));
  }
  out += "# HELP safeguard_matches_total Hits of scans and lookups, by the matched bank's category.\n";
  out += "# TYPE safeguard_matches_total counter\n";
  for (size_t c = 0; c < matches_.size(); ++c) {
    Line(&out, "safeguard_matches_total{category=\"%s\"} %llu\n", kCategories[c],
         static_cast<unsigned long long>(matches_[c].load(std::memory_order_relaxed)));
  }
  out += "# HELP safeguard_decisions_total Scan decisions, by action.\n";
  out += "# TYPE safeguard_decisions_total counter\n";
  for (size_t a = 0; a < decisions_.size(); ++a) {
    Line(&out, "safeguard_decisions_total{action=\"%s\"} %llu\n", kActions[a],
         static_cast<unsigned long long>(decisions_[a].load(std::memory_order_relaxed)));
  }
  for (const auto& [name, help_value] : gauges) {
    Line(&out, "# HELP %s %s\n# TYPE %s gauge\n%s %.17g\n", name.c_str(), help_value.first.c_str(),
         name.c_str(), name.c_str(), help_value.second);
  }
  return out;
}

}  // namespace safeguard::server
