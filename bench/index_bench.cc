// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// safeguard-bench index --n N --dist uniform|clustered|zipf --queries Q
//                       --radius R [--compare scan]
//
// Builds the workload of issue 3 (clustered: 10k centres, each code a centre
// with 20-60 random bits flipped; zipf: centre j drawn with probability
// proportional to 1/(j+1)), then runs every method on the same queries (a
// third bank entries with 0-31 flipped bits, a third fresh near-duplicates of
// centres, a third random) and prints one line per method. Recall is
// measured against the brute-force scan on the same queries.

#include "index_bench.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <sys/resource.h>

#if SAFEGUARD_HAVE_FAISS
#include "faiss_compare.h"
#endif
#include "safeguard/index/flat_scan.h"
#include "safeguard/index/live_index.h"
#include "safeguard/index/mih_index.h"
#include "synthetic_codes.h"

namespace safeguard::bench {
namespace {

using index::Code256;
using Clock = std::chrono::steady_clock;

using testing::Flip;
using testing::RandomCode;

long long FileSize(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return 0;
  std::fseek(f, 0, SEEK_END);
  const long long size = std::ftell(f);
  std::fclose(f);
  return size;
}

// Minor page faults of this process so far (getrusage).
long MinorFaults() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_minflt;
}

// KiB of this process's memory in transparent huge pages (smaps_rollup), or
// -1 where the kernel does not say.
long AnonHugeKib() {
  FILE* f = std::fopen("/proc/self/smaps_rollup", "r");
  if (f == nullptr) return -1;
  char line[256];
  long kib = -1;
  while (std::fgets(line, sizeof line, f) != nullptr) {
    if (std::sscanf(line, "AnonHugePages: %ld kB", &kib) == 1) break;
  }
  std::fclose(f);
  return kib;
}

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
}

}  // namespace

int RunIndexBench(int argc, char** argv) {
  size_t n = 1'000'000, nq = 1000;
  std::string dist = "uniform", compare, snapshot;
  int radius = 31, tables = 0;
  bool prefault = true;
  index::MihIndex::Layout layout = index::MihIndex::Layout::kCompact;
  for (int i = 0; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--n") {
      n = std::strtoull(v.c_str(), nullptr, 10);
    } else if (k == "--queries") {
      nq = std::strtoull(v.c_str(), nullptr, 10);
    } else if (k == "--dist") {
      dist = v;
    } else if (k == "--radius") {
      radius = std::atoi(v.c_str());
    } else if (k == "--compare") {
      compare = v;
    } else if (k == "--tables") {
      tables = std::atoi(v.c_str());
    } else if (k == "--layout") {
      if (v != "compact" && v != "fast") {
        std::fprintf(stderr, "safeguard-bench index: --layout is compact or fast\n");
        return 2;
      }
      layout = v == "fast" ? index::MihIndex::Layout::kFast : index::MihIndex::Layout::kCompact;
    } else if (k == "--snapshot") {
      snapshot = v;
    } else if (k == "--prefault") {
      prefault = v != "no";
    } else {
      std::fprintf(stderr, "safeguard-bench index: unknown option %s\n", k.c_str());
      return 2;
    }
  }
  if (dist != "uniform" && dist != "clustered" && dist != "zipf") {
    std::fprintf(stderr, "safeguard-bench index: --dist is uniform, clustered or zipf\n");
    return 2;
  }
  std::mt19937_64 rng(42);
  std::vector<Code256> centres(10000);
  for (auto& c : centres) c = RandomCode(rng);
  std::vector<double> w(centres.size());
  for (size_t j = 0; j < w.size(); ++j) w[j] = 1.0 / (j + 1);
  std::discrete_distribution<size_t> zipf(w.begin(), w.end());
  auto centre = [&]() -> const Code256& {
    return dist == "zipf" ? centres[zipf(rng)] : centres[rng() % centres.size()];
  };
  std::vector<Code256> codes(n);
  std::vector<uint64_t> ids(n);
  for (size_t i = 0; i < n; ++i) {
    codes[i] = dist == "uniform" ? RandomCode(rng) : Flip(centre(), 20 + static_cast<int>(rng() % 41), rng);
    ids[i] = i + 1;
  }
  std::vector<Code256> queries(nq);
  for (size_t i = 0; i < nq; ++i) {
    switch (i % 3) {
      case 0:
        queries[i] = Flip(codes[rng() % n], static_cast<int>(rng() % 32), rng);
        break;
      case 1:
        queries[i] = Flip(centre(), 20 + static_cast<int>(rng() % 41), rng);
        break;
      default:
        queries[i] = RandomCode(rng);
        break;
    }
  }

  index::MihIndex mih;
  index::MihIndex::BuildOptions build_options;
  build_options.layout = layout;
  build_options.num_tables = tables;
  auto t0 = Clock::now();
  mih.Build(codes, ids, build_options);
  const double mih_build = std::chrono::duration<double>(Clock::now() - t0).count();

  // Reference answers: the brute-force scan over the same codes (the AVX-512
  // kernel where the CPU has it), timed as the `scan` method. It reads the
  // index's own arrays, so 100M entries need no second copy.
  std::vector<std::vector<uint64_t>> truth(nq);
  std::vector<double> scan_us;
  std::vector<uint32_t> rows;
  const auto mcodes = mih.codes();
  const auto mids = mih.ids();
  for (size_t i = 0; i < nq; ++i) {
    rows.clear();
    auto a = Clock::now();
    index::ScanRange(mcodes.data(), mcodes.size(), queries[i], radius, &rows);
    scan_us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - a).count());
    for (uint32_t r : rows) truth[i].push_back(mids[r]);
    std::sort(truth[i].begin(), truth[i].end());
  }
  // Found = returned ids that the scan also returned; a method is exact when
  // it returns the scan's ids and nothing else.
  auto score = [&](size_t i, const std::vector<index::Match>& got, size_t* found, bool* exact) {
    std::vector<uint64_t> g;
    for (const index::Match& m : got) g.push_back(m.id);
    std::sort(g.begin(), g.end());
    std::vector<uint64_t> both;
    std::set_intersection(g.begin(), g.end(), truth[i].begin(), truth[i].end(), std::back_inserter(both));
    *found += both.size();
    if (g != truth[i]) *exact = false;
  };

  std::vector<index::Match> out;
  std::vector<double> mih_us;
  size_t found = 0, expected = 0, scanned = 0, family_queries = 0;
  bool exact = true;
  index::SearchStats st;
  // Ready: touch every page first, as bank::Matcher does before it reports
  // ready. The truth scan above reads only the codes, for a minute or more at
  // 100M; without this the first pass pays for memory left idle meanwhile
  // (--prefault no shows it; docs/BENCHMARKS.md).
  t0 = Clock::now();
  const uint64_t touched = prefault ? mih.Prefault() : 0;
  const double prefault_s = std::chrono::duration<double>(Clock::now() - t0).count();
  const long faults_ready = MinorFaults();
  const long huge_ready_kib = AnonHugeKib();
  for (size_t i = 0; i < nq; ++i) {
    auto a = Clock::now();
    mih.RangeSearch(queries[i], radius, &out, &st);
    mih_us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - a).count());
    score(i, out, &found, &exact);
    expected += truth[i].size();
    scanned += st.scanned;
    family_queries += st.families_scanned > 0;
  }
  auto total = [](const std::vector<double>& v) {
    double s = 0;
    for (double x : v) s += x;
    return s;
  };
  auto layout_name = [](const index::MihIndex& x) {
    return x.layout() == index::MihIndex::Layout::kFast ? "fast" : "compact";
  };
  std::printf(
      "method=mih(m=%d,%s) n=%zu dist=%s build_s=%.2f mem_bytes_per_hash=%.1f p50_us=%.1f p99_us=%.1f "
      "max_us=%.1f qps=%.0f recall=%.4f exact=%s families=%zu family_rows=%zu "
      "queries_scanning_a_family=%zu queries_scanning_the_tables=%zu\n",
      mih.num_tables(), layout_name(mih), n, dist.c_str(), mih_build,
      static_cast<double>(mih.MemoryBytes()) / n, Percentile(mih_us, 0.5), Percentile(mih_us, 0.99),
      Percentile(mih_us, 1.0), nq / (total(mih_us) / 1e6),
      expected ? static_cast<double>(found) / expected : 1.0, exact ? "yes" : "NO", mih.num_families(),
      mih.family_rows(), family_queries, scanned);
  {
    // Where the tail comes from: p99 by query kind (i % 3: a bank entry with
    // 0-31 bits flipped, a fresh near-duplicate of a centre, a random code),
    // and a second pass over the same queries: if the slowest 1% are the same
    // queries again, the tail is in the queries, not in the machine.
    const long faults_first = MinorFaults() - faults_ready;
    const long huge_first_kib = AnonHugeKib();
    std::vector<double> again(nq), by_kind[3];
    for (size_t i = 0; i < nq; ++i) {
      auto a = Clock::now();
      mih.RangeSearch(queries[i], radius, &out);
      again[i] = std::chrono::duration<double, std::micro>(Clock::now() - a).count();
      by_kind[i % 3].push_back(mih_us[i]);
    }
    const long faults_second = MinorFaults() - faults_ready - faults_first;
    const double cut1 = Percentile(mih_us, 0.99), cut2 = Percentile(again, 0.99);
    size_t slow1 = 0, slow_both = 0;
    for (size_t i = 0; i < nq; ++i) {
      if (mih_us[i] >= cut1) {
        ++slow1;
        slow_both += again[i] >= cut2;
      }
    }
    std::printf(
        "mih_tail p99_us_near_entry=%.1f p99_us_near_centre=%.1f p99_us_random=%.1f second_pass_p50_us=%.1f "
        "second_pass_p99_us=%.1f slowest_1pct_slow_again=%zu/%zu minor_faults_first=%ld "
        "minor_faults_second=%ld "
        "anon_huge_mib_ready=%ld anon_huge_mib_after_first=%ld prefault_s=%.3f prefault_sum=%llu\n",
        Percentile(by_kind[0], 0.99), Percentile(by_kind[1], 0.99), Percentile(by_kind[2], 0.99),
        Percentile(again, 0.5), cut2, slow_both, slow1, faults_first, faults_second, huge_ready_kib / 1024,
        huge_first_kib / 1024, prefault_s, static_cast<unsigned long long>(touched % 1000));
  }
  if (compare.find("layouts") != std::string::npos) {
    // The other layout on the same codes and queries, side by side: each
    // query runs on one index, then the other (alternating which goes
    // first), so both see the same machine; exactness against the scan.
    index::MihIndex other;
    index::MihIndex::BuildOptions oo = build_options;
    oo.layout = layout == index::MihIndex::Layout::kFast ? index::MihIndex::Layout::kCompact
                                                         : index::MihIndex::Layout::kFast;
    t0 = Clock::now();
    other.Build(codes, ids, oo);
    const double other_build = std::chrono::duration<double>(Clock::now() - t0).count();
    other.Prefault();
    mih.Prefault();
    std::vector<double> a_us(nq), b_us(nq);
    size_t other_found = 0;
    bool other_exact = true;
    for (size_t i = 0; i < nq; ++i) {
      for (int turn = 0; turn < 2; ++turn) {
        const bool first = (turn == 0) == (i % 2 == 0);
        auto a = Clock::now();
        (first ? mih : other).RangeSearch(queries[i], radius, &out);
        (first ? a_us : b_us)[i] = std::chrono::duration<double, std::micro>(Clock::now() - a).count();
        if (!first) score(i, out, &other_found, &other_exact);
      }
    }
    for (const auto* x : {&mih, &other}) {
      const std::vector<double>& us = x == &mih ? a_us : b_us;
      std::printf(
          "layouts method=mih(m=%d,%s) n=%zu dist=%s build_s=%.2f mem_bytes_per_hash=%.1f p50_us=%.1f "
          "p99_us=%.1f max_us=%.1f%s\n",
          x->num_tables(), layout_name(*x), n, dist.c_str(), x == &mih ? mih_build : other_build,
          static_cast<double>(x->MemoryBytes()) / n, Percentile(us, 0.5), Percentile(us, 0.99),
          Percentile(us, 1.0), x == &mih ? "" : (other_exact ? " exact=yes" : " exact=NO"));
    }
    std::printf("layouts ratio p50 %s/%s=%.2f p99=%.2f\n", layout_name(mih), layout_name(other),
                Percentile(a_us, 0.5) / Percentile(b_us, 0.5),
                Percentile(a_us, 0.99) / Percentile(b_us, 0.99));
    if (!other_exact) exact = false;
  }
  if (compare.find("scan") != std::string::npos) {
    std::printf(
        "method=scan n=%zu dist=%s build_s=%.2f mem_bytes_per_hash=%.1f p50_us=%.1f p99_us=%.1f max_us=%.1f "
        "qps=%.0f recall=1.0000\n",
        n, dist.c_str(), 0.0, 40.0, Percentile(scan_us, 0.5), Percentile(scan_us, 0.99),
        Percentile(scan_us, 1.0), nq / (total(scan_us) / 1e6));
  }
  if (!snapshot.empty()) {
    // Save, then load into a fresh index and time until it answers a query.
    const std::string path = snapshot + "/safeguard-bench-index.snapshot";
    t0 = Clock::now();
    const Status saved = mih.Save(path);
    const double save_s = std::chrono::duration<double>(Clock::now() - t0).count();
    index::MihIndex loaded;
    t0 = Clock::now();
    const Status load = loaded.Load(path);
    const double read_s = std::chrono::duration<double>(Clock::now() - t0).count();
    loaded.RangeSearch(queries[0], radius, &out);
    const double load_s = std::chrono::duration<double>(Clock::now() - t0).count();
    // The serving index from the same file: also sorts the ids it checks
    // additions and removals against.
    index::LiveIndex::Options so;
    so.layout = mih.layout();
    index::LiveIndex serving(so);
    t0 = Clock::now();
    const Status live_load = serving.LoadSnapshot(path, nullptr);
    serving.RangeSearch(queries[0], radius, &out);
    const double live_load_s = std::chrono::duration<double>(Clock::now() - t0).count();
    // Again into memory the process has used before: on a VM whose first
    // touch of memory is slow (here 0.5-1 GB/s) the first load measures the
    // VM as much as the code.
    loaded = index::MihIndex();
    t0 = Clock::now();
    const Status reload = loaded.Load(path);
    const double reload_s = std::chrono::duration<double>(Clock::now() - t0).count();
    const Status bad = !saved.ok() ? saved : !load.ok() ? load : !live_load.ok() ? live_load : reload;
    std::printf(
        "snapshot n=%zu save_s=%.2f file_bytes_per_hash=%.1f load_s=%.2f load_to_first_answer_s=%.2f "
        "live_load_to_first_answer_s=%.2f reload_s=%.2f live_mem_bytes_per_hash=%.1f ok=%s\n",
        n, save_s, static_cast<double>(FileSize(path)) / n, read_s, load_s, live_load_s, reload_s,
        static_cast<double>(serving.MemoryBytes()) / n, bad.ok() ? "yes" : bad.ToString().c_str());
    std::remove(path.c_str());
  }
  if (compare.find("faiss") != std::string::npos) {
#if SAFEGUARD_HAVE_FAISS
    // FAISS is far slower: its queries are a prefix of ours (at most 300),
    // the same for both FAISS methods, and recall is against the scan.
    const size_t fq = std::min<size_t>(nq, 300);
    std::vector<std::array<uint64_t, 4>> fcodes(n), fqueries(fq);
    for (size_t i = 0; i < n; ++i) std::memcpy(fcodes[i].data(), codes[i].w, 32);
    for (size_t i = 0; i < fq; ++i) std::memcpy(fqueries[i].data(), queries[i].w, 32);
    std::vector<MethodResult> results;
    std::string error;
    if (!RunFaiss(fcodes, fqueries, radius, &results, &error)) {
      std::printf("method=faiss skipped: %s\n", error.c_str());
    }
    size_t fexpected = 0;
    for (size_t i = 0; i < fq; ++i) fexpected += truth[i].size();
    for (const MethodResult& r : results) {
      size_t ffound = 0;
      for (size_t i = 0; i < fq && i < r.found_per_query.size(); ++i)
        ffound += std::min(r.found_per_query[i], truth[i].size());
      std::printf(
          "method=%s n=%zu dist=%s build_s=%.2f mem_bytes_per_hash=%.1f p50_us=%.1f p99_us=%.1f max_us=%.1f "
          "qps=%.0f recall=%.4f queries=%zu%s%s\n",
          r.name.c_str(), n, dist.c_str(), r.build_s, r.mem_bytes_per_hash, Percentile(r.latencies_us, 0.5),
          Percentile(r.latencies_us, 0.99), Percentile(r.latencies_us, 1.0),
          fq / (total(r.latencies_us) / 1e6), fexpected ? static_cast<double>(ffound) / fexpected : 1.0, fq,
          r.note.empty() ? "" : " note=", r.note.c_str());
    }
    // Ours on the same prefix of queries, for the ratio.
    std::vector<double> prefix(mih_us.begin(), mih_us.begin() + fq);
    std::printf("ratio faiss_multihash_p50/mih_p50 on the same %zu queries: %.1fx\n", fq,
                results.empty() ? 0.0 : Percentile(results[0].latencies_us, 0.5) / Percentile(prefix, 0.5));
#else
    std::printf("method=faiss skipped: built without libfaiss-dev\n");
#endif
  }
  if (compare.find("live") != std::string::npos) {
    // The serving index: additions in batches of 10k while it could serve,
    // then the background rebuild into one MIH base, then a withdrawal.
    index::LiveIndex::Options lo;
    lo.compact_threshold = n;  // one rebuild at the end, timed separately
    index::LiveIndex live(lo);
    constexpr size_t kBatch = 10000;
    t0 = Clock::now();
    for (size_t i = 0; i < n; i += kBatch) {
      const size_t e = std::min(n, i + kBatch);
      (void)live.Add(std::span<const Code256>(codes.data() + i, e - i),
                     std::span<const uint64_t>(ids.data() + i, e - i));
    }
    const double add_s = std::chrono::duration<double>(Clock::now() - t0).count();
    t0 = Clock::now();
    const std::vector<Code256> one = {RandomCode(rng)};
    const std::vector<uint64_t> one_id = {n + 1};
    (void)live.Add(one, one_id);  // crosses the threshold: starts the rebuild
    live.WaitForCompaction();
    const double compact_s = std::chrono::duration<double>(Clock::now() - t0).count();
    std::vector<double> live_us;
    size_t live_found = 0;
    bool live_exact = true;
    for (size_t i = 0; i < nq; ++i) {
      auto a = Clock::now();
      live.RangeSearch(queries[i], radius, &out);
      live_us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - a).count());
      score(i, out, &live_found, &live_exact);
    }
    // Withdrawal: from Remove's call to the entry no longer matching.
    const std::vector<uint64_t> victim = {ids[0]};
    auto a = Clock::now();
    live.Remove(victim);
    live.RangeSearch(codes[0], 0, &out);
    const double withdraw_us = std::chrono::duration<double, std::micro>(Clock::now() - a).count();
    const bool gone =
        std::none_of(out.begin(), out.end(), [&](const index::Match& m) { return m.id == ids[0]; });
    std::printf(
        "method=live n=%zu dist=%s add_per_s=%.0f rebuild_s=%.2f p50_us=%.1f p99_us=%.1f "
        "recall=%.4f exact=%s withdraw_visible_us=%.1f withdrawn=%s\n",
        n, dist.c_str(), n / add_s, compact_s, Percentile(live_us, 0.5), Percentile(live_us, 0.99),
        expected ? static_cast<double>(live_found) / expected : 1.0, live_exact ? "yes" : "NO", withdraw_us,
        gone ? "yes" : "NO");
  }
  std::printf("queries=%zu radius=%d matches=%zu\n", nq, radius, expected);
  return 0;
}

}  // namespace safeguard::bench
