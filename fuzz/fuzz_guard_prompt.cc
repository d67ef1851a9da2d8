// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// libFuzzer target for the prompt screen (docs/guard.md): any bytes as a
// prompt (invalid UTF-8, combining marks, stars, lone letters, ...). Beyond
// not crashing, the Hyperscan screen must agree with the std::regex
// reference term by term, every span must lie inside the prompt, and the
// verdict must serialise. The lists are the shipped data/guard.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "safeguard/guard/prompt_guard.h"

namespace {

using namespace safeguard::guard;

const PromptGuard* Guard() {
  static std::unique_ptr<PromptGuard> g = [] {
    std::unique_ptr<PromptGuard> out;
    if (!PromptGuard::Load(PromptGuard::DefaultDataDir(), GuardPolicy{}, &out).ok()) __builtin_trap();
    return out;
  }();
  return g.get();
}

std::string Summary(const PromptVerdict& v) {
  std::string s = DecisionName(v.decision);
  for (const TermHit& t : v.terms) {
    s += "|" + t.source + ":" + std::to_string(t.begin) + "-" + std::to_string(t.end) + (t.masked ? "m" : "");
  }
  for (const TermHit& t : v.benign) s += "|b" + t.source + ":" + std::to_string(t.begin);
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 2048) return 0;  // the reference is slow; long prompts add nothing new here
  const std::string_view prompt(reinterpret_cast<const char*>(data), size);
  PromptContext ctx;
  ctx.photo_edit = size > 0 && (data[0] & 1);
  const PromptVerdict fast = Guard()->Screen(prompt, ctx);
  const PromptVerdict ref = Guard()->ScreenReference(prompt, ctx);
  if (Summary(fast) != Summary(ref)) __builtin_trap();
  for (const TermHit& t : fast.terms) {
    if (t.begin >= t.end || t.end > size) __builtin_trap();
  }
  if (VerdictToJson(fast).empty()) __builtin_trap();
  return 0;
}
