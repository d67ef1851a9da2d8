// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// safeguard-bench bank --n N [--dir DIR] [--withdrawals W] [--postgres CONNINFO]
//
// The targets of issue 4, measured through the same library calls the
// `safeguard bank import` and `safeguard match` commands make:
//  1. import:   a CSV of N made-up PDQ hashes (type,value,external_id) into a
//               new SQLite bank with exchange::ImportHashListFile (one
//               transaction; the file is written first and not timed);
//  2. start:    Matcher::Open from the store (no snapshot), then from the
//               snapshot it saved, each until the first match answers;
//  3. withdraw: W times, Store::Withdraw of one live signal followed by
//               Matcher::Refresh, until Match no longer finds it (the time a
//               withdrawal takes to stop matching in a running matcher).
// One line per measurement: `step=NAME n=N ... seconds=…` / `p50_ms=…`.

#include "bank_bench.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "safeguard/bank/matcher.h"
#include "safeguard/bank/store.h"
#include "safeguard/exchange/bank_io.h"
#include "synthetic_codes.h"

namespace safeguard::bench {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
}

long PeakRssMib() {
  std::FILE* f = std::fopen("/proc/self/status", "r");
  if (!f) return -1;
  char line[256];
  long kb = -1;
  while (std::fgets(line, sizeof(line), f)) {
    if (std::strncmp(line, "VmHWM:", 6) == 0) kb = std::atol(line + 6);
  }
  std::fclose(f);
  return kb / 1024;
}

bool Fail(const char* what, const Status& s) {
  std::fprintf(stderr, "bank bench: %s: %s\n", what, s.ToString().c_str());
  return false;
}

index::Code256 CodeOf(const std::string& hex) {
  std::vector<uint8_t> v;
  bank::ParseSignalValue(bank::SignalType::kPdq, hex, &v);
  return bank::CodeFromPdqValue(v);
}

}  // namespace

int RunBankBench(int argc, char** argv) {
  size_t n = 1'000'000, withdrawals = 200;
  std::string dir, postgres;
  for (int i = 0; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> const char* { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--n") {
      n = std::strtoull(next(), nullptr, 10);
    } else if (a == "--dir") {
      dir = next();
    } else if (a == "--withdrawals") {
      withdrawals = std::strtoull(next(), nullptr, 10);
    } else if (a == "--postgres") {
      postgres = next();
    } else {
      std::fprintf(stderr, "bank bench: unknown option %s\n", a.c_str());
      return 2;
    }
  }
  if (dir.empty()) dir = (std::filesystem::temp_directory_path() / "safeguard-bank-bench").string();
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);

  // The list: N random PDQ hashes with an external id each, plus the few we
  // will query and withdraw (every 1000th), as a list owner would send it.
  const std::string csv = dir + "/list.csv";
  std::vector<std::string> probes;
  {
    std::FILE* f = std::fopen(csv.c_str(), "w");
    if (!f) return Fail("write list", Status::IoError(csv)), 1;
    std::fputs("type,value,external_id\n", f);
    std::mt19937_64 rng(42);
    char hex[65];
    for (size_t i = 0; i < n; ++i) {
      for (int k = 0; k < 4; ++k)
        std::snprintf(hex + 16 * k, 17, "%016llx", static_cast<unsigned long long>(rng()));
      std::fprintf(f, "pdq,%s,e%zu\n", hex, i);
      if (i % 1000 == 0 && probes.size() < withdrawals) probes.emplace_back(hex, 64);
    }
    std::fclose(f);
  }
  std::printf("step=write-list n=%zu bytes=%lld\n", n,
              static_cast<long long>(std::filesystem::file_size(csv)));
  std::fflush(stdout);

  std::unique_ptr<bank::Store> store;
  Status s = postgres.empty() ? bank::Store::OpenSqlite(dir + "/data", &store)
                              : bank::Store::OpenPostgres(postgres, &store);
  if (!s.ok()) return Fail("open store", s), 1;
  const char* backend = postgres.empty() ? "sqlite" : "postgres";
  bank::BankSpec spec;
  spec.name = "bench";
  spec.category = bank::Category::kNcii;
  s = store->CreateBank(spec, nullptr);
  if (!s.ok()) return Fail("create bank", s), 1;

  auto t0 = Clock::now();
  exchange::ImportResult ir;
  s = exchange::ImportHashListFile(store.get(), "bench", csv, exchange::ImportOptions(), &ir);
  auto t1 = Clock::now();
  if (!s.ok()) return Fail("import", s), 1;
  std::printf(
      "step=import store=%s n=%zu added=%llu seconds=%.1f rate_per_s=%.0f peak_rss_mib=%ld target_s=60\n",
      backend, n, static_cast<unsigned long long>(ir.applied.added), Seconds(t0, t1), n / Seconds(t0, t1),
      PeakRssMib());
  std::fflush(stdout);

  const index::Code256 probe = CodeOf(probes.at(0));
  bank::MatchQuery q;
  q.pdq = std::span<const index::Code256>(&probe, 1);
  bank::MatchResult mr;
  bank::MatcherOptions mo;
  mo.snapshot_path = dir + "/pdq-index.snapshot";
  for (const char* from : {"store", "snapshot"}) {
    t0 = Clock::now();
    std::unique_ptr<bank::Matcher> matcher;
    s = bank::Matcher::Open(store.get(), mo, &matcher);
    if (!s.ok()) return Fail("open matcher", s), 1;
    s = matcher->Match(q, &mr);
    t1 = Clock::now();
    if (!s.ok() || mr.hits.size() != 1)
      return Fail("first match", s.ok() ? Status::Internal("no hit") : s), 1;
    std::printf("step=start from=%s loaded_from=%s n=%zu seconds_to_first_match=%.2f target_s=10\n", from,
                matcher->load_source().c_str(), matcher->pdq_entries(), Seconds(t0, t1));
    std::fflush(stdout);
    if (std::strcmp(from, "store") == 0) {
      t0 = Clock::now();
      s = matcher->SaveSnapshot();
      t1 = Clock::now();
      if (!s.ok()) return Fail("save snapshot", s), 1;
      std::printf("step=save-snapshot n=%zu seconds=%.2f\n", matcher->pdq_entries(), Seconds(t0, t1));
    }
  }

  // A running matcher: withdraw one listed hash at a time and measure until
  // matching no longer finds it.
  std::unique_ptr<bank::Matcher> matcher;
  s = bank::Matcher::Open(store.get(), mo, &matcher);
  if (!s.ok()) return Fail("open matcher", s), 1;
  std::vector<double> ms, store_ms, refresh_ms;
  for (size_t i = 0; i < probes.size(); ++i) {
    const index::Code256 code = CodeOf(probes[i]);
    q.pdq = std::span<const index::Code256>(&code, 1);
    bank::WithdrawSpec w;
    w.external_ids = {"e" + std::to_string(i * 1000)};
    t0 = Clock::now();
    uint64_t withdrawn = 0;
    s = store->Withdraw("bench", w, &withdrawn);
    const auto tw = Clock::now();
    if (s.ok()) s = matcher->Refresh(nullptr);
    const auto tr = Clock::now();
    if (s.ok()) s = matcher->Match(q, &mr);
    t1 = Clock::now();
    store_ms.push_back(Seconds(t0, tw) * 1000);
    refresh_ms.push_back(Seconds(tw, tr) * 1000);
    if (!s.ok()) return Fail("withdraw", s), 1;
    if (withdrawn != 1 || !mr.hits.empty()) {
      return Fail("withdraw", Status::Internal("signal e" + std::to_string(i * 1000) + " still matches")), 1;
    }
    ms.push_back(Seconds(t0, t1) * 1000);
  }
  std::printf(
      "step=withdraw-visible store=%s n=%zu withdrawals=%zu p50_ms=%.2f p99_ms=%.2f max_ms=%.2f "
      "store_write_max_ms=%.2f refresh_max_ms=%.2f target_ms=10\n",
      backend, n, ms.size(), Percentile(ms, 0.5), Percentile(ms, 0.99), Percentile(ms, 1.0),
      Percentile(store_ms, 1.0), Percentile(refresh_ms, 1.0));
  std::filesystem::remove_all(dir);
  return 0;
}

}  // namespace safeguard::bench
