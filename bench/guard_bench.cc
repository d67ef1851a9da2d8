// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// safeguard-bench guard-prompt [--data DIR] [--rounds N]
//
// The prompt screen on its evaluation sets (data/guard/eval): the benign
// set's false-block rate, the adversarial set's block rate, and the time
// per prompt of PromptGuard::Screen (Hyperscan) beside ScreenReference
// (std::regex at every word position), interleaved in the same run. The
// adversarial prompts exist only in memory; nothing here prints a prompt.

#include "guard_bench.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "guard_eval.h"
#include "safeguard/guard/prompt_guard.h"

namespace safeguard::bench {
namespace {

using Clock = std::chrono::steady_clock;

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5));
  return v[i];
}

}  // namespace

int RunGuardPromptBench(int argc, char** argv) {
  std::string data = guard::PromptGuard::DefaultDataDir();
  int rounds = 20;
  for (int i = 0; i < argc; ++i) {
    if (std::strcmp(argv[i], "--data") == 0 && i + 1 < argc) {
      data = argv[++i];
    } else if (std::strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) {
      rounds = std::max(1, std::atoi(argv[++i]));
    } else {
      std::fprintf(stderr, "usage: safeguard-bench guard-prompt [--data DIR] [--rounds N]\n");
      return 2;
    }
  }
  const auto load_start = Clock::now();
  std::unique_ptr<guard::PromptGuard> g;
  Status s = guard::PromptGuard::Load(data, guard::GuardPolicy{}, &g);
  if (!s.ok()) {
    std::fprintf(stderr, "guard-prompt: %s\n", s.ToString().c_str());
    return 1;
  }
  const double load_ms = std::chrono::duration<double, std::milli>(Clock::now() - load_start).count();
  std::vector<testing::BenignPrompt> benign;
  s = testing::LoadBenign(data + "/eval/benign.txt", &benign);
  std::vector<testing::AdversarialPrompt> adversarial;
  int templates = 0;
  if (s.ok()) s = testing::ExpandAdversarial(data, 3, &adversarial, &templates);
  if (!s.ok()) {
    std::fprintf(stderr, "guard-prompt: %s\n", s.ToString().c_str());
    return 1;
  }

  // Rates.
  size_t false_blocks = 0;
  for (const auto& p : benign) false_blocks += g->Screen(p.text).decision != guard::Decision::kAllow;
  size_t blocked = 0, severe = 0, handled = 0, handled_caught = 0;
  for (const auto& p : adversarial) {
    const guard::Decision d = g->Screen(p.text, p.context).decision;
    const bool unhandled =
        p.evasions.find("split") != std::string::npos || p.evasions.find("star") != std::string::npos;
    blocked += d != guard::Decision::kAllow;
    severe += d >= p.expected;
    handled += !unhandled;
    handled_caught += !unhandled && d >= p.expected;
  }

  // Latency: every prompt of both sets, Screen and ScreenReference in turn.
  std::vector<std::pair<std::string, guard::PromptContext>> all;
  for (const auto& p : benign) all.push_back({p.text, {}});
  for (const auto& p : adversarial) all.push_back({p.text, p.context});
  size_t bytes = 0;
  for (const auto& [t, c] : all) bytes += t.size();
  std::vector<double> fast_us, ref_us;
  g->ScreenReference("warm up");
  size_t sink = 0;
  for (int r = 0; r < rounds; ++r) {
    for (const auto& [text, ctx] : all) {
      auto t0 = Clock::now();
      sink += g->Screen(text, ctx).rules.size();
      auto t1 = Clock::now();
      fast_us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
      if (r == 0) {  // the reference is slow: one round
        sink += g->ScreenReference(text, ctx).rules.size();
        ref_us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t1).count());
      }
    }
  }

  std::printf("guard-prompt: lists %s, %zu patterns, loaded in %.0f ms\n", g->lists_version().c_str(),
              g->pattern_count(), load_ms);
  std::printf("  benign set:      %zu prompts, %zu blocked (%.2f%% false blocks)\n", benign.size(),
              false_blocks, 100.0 * static_cast<double>(false_blocks) / static_cast<double>(benign.size()));
  std::printf(
      "  adversarial set: %d templates -> %zu prompts, %.1f%% blocked, %.1f%% at the expected severity;\n"
      "                   without the split and star templates: %zu/%zu caught\n",
      templates, adversarial.size(),
      100.0 * static_cast<double>(blocked) / static_cast<double>(adversarial.size()),
      100.0 * static_cast<double>(severe) / static_cast<double>(adversarial.size()), handled_caught, handled);
  std::printf("  time per prompt (%zu prompts, mean %.0f bytes; Screen x %d rounds, reference x 1):\n",
              all.size(), static_cast<double>(bytes) / static_cast<double>(all.size()), rounds);
  std::printf("    %-28s %9s %9s %9s %9s\n", "", "p50 us", "p99 us", "p99.9 us", "max us");
  std::printf("    %-28s %9.1f %9.1f %9.1f %9.1f\n", "Screen (Hyperscan)", Percentile(fast_us, 0.5),
              Percentile(fast_us, 0.99), Percentile(fast_us, 0.999), Percentile(fast_us, 1.0));
  std::printf("    %-28s %9.1f %9.1f %9.1f %9.1f\n", "ScreenReference (std::regex)", Percentile(ref_us, 0.5),
              Percentile(ref_us, 0.99), Percentile(ref_us, 0.999), Percentile(ref_us, 1.0));
  std::printf("    median ratio reference/Screen: %.0fx\n",
              Percentile(ref_us, 0.5) / Percentile(fast_us, 0.5));

  // Long prompts: 25 benign prompts joined (about 1 KB), Screen only.
  std::vector<std::string> long_prompts;
  for (size_t i = 0; i < 200; ++i) {
    std::string t;
    for (size_t k = 0; k < 25; ++k) t += benign[(i * 25 + k) % benign.size()].text + ". ";
    long_prompts.push_back(std::move(t));
  }
  std::vector<double> long_us;
  size_t long_bytes = 0;
  for (const auto& t : long_prompts) long_bytes += t.size();
  for (int r = 0; r < rounds; ++r) {
    for (const auto& t : long_prompts) {
      auto t0 = Clock::now();
      sink += g->Screen(t).rules.size();
      long_us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
    }
  }
  std::printf("    %-28s %9.1f %9.1f %9.1f %9.1f   (%zu prompts of mean %.0f bytes)\n",
              "Screen, long prompts", Percentile(long_us, 0.5), Percentile(long_us, 0.99),
              Percentile(long_us, 0.999), Percentile(long_us, 1.0), long_prompts.size(),
              static_cast<double>(long_bytes) / static_cast<double>(long_prompts.size()));
  return sink == 0xFFFFFFFF ? 1 : 0;
}

}  // namespace safeguard::bench
