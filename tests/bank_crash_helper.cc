// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// A process for bank_store_crash_test.cc to kill: opens a store, imports
// COUNT synthetic PDQ signals into BANK in one transaction, and reports on
// stdout as it goes, so the test can send SIGKILL at a known point:
//
//   ready                 the signals are built; Import starts next
//   progress DONE TOTAL MS  from the import's progress callback (inside the transaction)
//   done ADDED MS         the import committed, in MS milliseconds
//
// Usage: bank_crash_helper (sqlite DIR | postgres CONNINFO) BANK COUNT SEED
// Creates BANK if it does not exist, so it is also handy for timing an
// import by hand.

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "bank_test_env.h"
#include "safeguard/bank/store.h"

namespace {

// Writes one line straight to fd 1, so that nothing sits in a stdio buffer
// when the process is killed.
void Say(const std::string& line) {
  std::string out = line + "\n";
  const char* p = out.data();
  size_t left = out.size();
  while (left > 0) {
    ssize_t n = write(1, p, left);
    if (n <= 0) return;
    p += n;
    left -= static_cast<size_t>(n);
  }
}

}  // namespace

int main(int argc, char** argv) {
  using namespace safeguard;
  if (argc != 6) {
    std::fprintf(stderr, "usage: %s (sqlite DIR | postgres CONNINFO) BANK COUNT SEED\n", argv[0]);
    return 2;
  }
  const std::string backend = argv[1], where = argv[2], bank = argv[3];
  const size_t count = std::strtoull(argv[4], nullptr, 10);
  const uint64_t seed = std::strtoull(argv[5], nullptr, 10);

  std::unique_ptr<bank::Store> store;
  bank::StoreOptions options;
  if (getenv("SG_CACHE_MIB")) options.sqlite_cache_mib = atoi(getenv("SG_CACHE_MIB"));
  Status s = backend == "sqlite" ? bank::Store::OpenSqlite(where, options, &store)
                                 : bank::Store::OpenPostgres(where, options, &store);
  if (!s.ok()) {
    std::fprintf(stderr, "open: %s\n", s.ToString().c_str());
    return 1;
  }
  bank::Bank existing;
  s = store->GetBank(bank, &existing);
  if (s.code() == StatusCode::kNotFound) {  // for timing by hand: make the bank
    bank::BankSpec spec;
    spec.name = bank;
    s = store->CreateBank(spec, nullptr);
  }
  if (!s.ok()) {
    std::fprintf(stderr, "bank: %s\n", s.ToString().c_str());
    return 1;
  }
  std::vector<bank::NewSignal> signals;
  signals.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    signals.push_back(
        bank::testing::MakeSignal(seed + i, bank::SignalType::kPdq, "x" + std::to_string(seed + i)));
  }
  bank::SignalBatch batch;
  batch.add = signals;
  const auto start = std::chrono::steady_clock::now();
  auto elapsed_ms = [&start] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start)
        .count();
  };
  batch.progress = [&](size_t done, size_t total) {
    Say("progress " + std::to_string(done) + " " + std::to_string(total) + " " +
        std::to_string(elapsed_ms()));
  };
  Say("ready");
  bank::ApplyResult result;
  s = store->Apply(bank, batch, &result);
  const auto ms = elapsed_ms();
  if (!s.ok()) {
    std::fprintf(stderr, "import: %s\n", s.ToString().c_str());
    return 1;
  }
  Say("done " + std::to_string(result.added) + " " + std::to_string(ms));
  return 0;
}
