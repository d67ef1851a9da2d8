// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// Matching: every pattern is compiled as " REGEX " (the views pad and
// separate words with single spaces, so this is a whole-word match) into
// one Hyperscan block-mode database per view. Hyperscan reports each
// (pattern, end offset); a pattern spans a fixed number of words, so the
// start is found by walking back that many spaces. The reference walks every
// word position and asks std::regex_match about the same words.
//
// The third view holds only words spelled out letter by letter; there the
// patterns (spaces removed) are searched inside words, with Hyperscan's
// start-of-match, and the reference tries every start for every end.

#include <hs/hs.h>

#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <tuple>

#include "safeguard/guard/prompt_guard.h"
#include "term_lists.h"

namespace safeguard::guard {
namespace {

// A pattern found in a view: the span of `words` words ending at `to`
// (exclusive, just past the trailing space).
// In the runs view `from` is the start of the match; elsewhere it is unused
// (0) and the start is found from the pattern's word count.
struct RawHit {
  uint32_t pattern;
  uint32_t from;
  uint32_t to;
  bool operator<(const RawHit& o) const {
    return std::tie(pattern, from, to) < std::tie(o.pattern, o.from, o.to);
  }
  bool operator==(const RawHit& o) const { return pattern == o.pattern && from == o.from && to == o.to; }
};

constexpr int kViews = 4;  // plain, folded, runs, variants
constexpr int kRuns = 2;
constexpr int kVariants = 3;

struct DatabaseDeleter {
  void operator()(hs_database_t* db) const { hs_free_database(db); }
};
struct ScratchDeleter {
  void operator()(hs_scratch_t* s) const { hs_free_scratch(s); }
};

}  // namespace

const char* DecisionName(Decision decision) {
  switch (decision) {
    case Decision::kAllow:
      return "allow";
    case Decision::kBlock:
      return "block";
    case Decision::kBlockReview:
      return "block_review";
    case Decision::kBlockReport:
      return "block_report";
  }
  return "block";
}

bool ParseDecision(std::string_view name, Decision* decision) {
  for (Decision d : {Decision::kAllow, Decision::kBlock, Decision::kBlockReview, Decision::kBlockReport}) {
    if (name == DecisionName(d)) {
      *decision = d;
      return true;
    }
  }
  return false;
}

struct PromptGuard::Impl {
  std::unique_ptr<Normalizer> normalizer;
  GuardData data;
  GuardPolicy policy;
  // Per view: the Hyperscan database and the pattern indices it holds.
  std::unique_ptr<hs_database_t, DatabaseDeleter> db[kViews];
  std::vector<uint32_t> members[kViews];
  // The reference's compiled expressions, one per pattern (and per folded
  // pattern for the runs view), compiled on first use.
  mutable std::once_flag reference_once;
  mutable std::vector<std::regex> reference;
  mutable std::vector<std::regex> run_reference;
  mutable std::vector<std::regex> variant_reference;

  void CompileReference() const {
    std::call_once(reference_once, [this] {
      reference.reserve(data.patterns.size());
      run_reference.resize(data.patterns.size());
      variant_reference.resize(data.patterns.size());
      for (size_t i = 0; i < data.patterns.size(); ++i) {
        const ListPattern& p = data.patterns[i];
        // Both were compiled by Hyperscan at Load, in the subset std::regex
        // reads alike; a failure here is a bug, and the reference then
        // matches nothing (the equivalence tests would say so).
        std::regex words("$^");
        std::regex runs("$^");
        std::regex variants("$^");
        try {
          words = std::regex(p.regex, std::regex::ECMAScript | std::regex::optimize);
          if (!p.run_regex.empty()) runs = std::regex(p.run_regex, std::regex::ECMAScript);
          if (!p.variant_regex.empty()) variants = std::regex(p.variant_regex, std::regex::ECMAScript);
        } catch (const std::regex_error&) {
        }
        reference.push_back(std::move(words));
        run_reference[i] = std::move(runs);
        variant_reference[i] = std::move(variants);
      }
    });
  }
  // Idle Hyperscan scratch spaces (one per concurrent Screen).
  mutable std::mutex scratch_mu;
  mutable std::vector<std::unique_ptr<hs_scratch_t, ScratchDeleter>> idle;
  std::unique_ptr<hs_scratch_t, ScratchDeleter> prototype;

  std::unique_ptr<hs_scratch_t, ScratchDeleter> AcquireScratch() const {
    {
      std::lock_guard<std::mutex> lock(scratch_mu);
      if (!idle.empty()) {
        auto s = std::move(idle.back());
        idle.pop_back();
        return s;
      }
    }
    hs_scratch_t* clone = nullptr;
    if (hs_clone_scratch(prototype.get(), &clone) != HS_SUCCESS) return nullptr;
    return std::unique_ptr<hs_scratch_t, ScratchDeleter>(clone);
  }

  void ReleaseScratch(std::unique_ptr<hs_scratch_t, ScratchDeleter> s) const {
    std::lock_guard<std::mutex> lock(scratch_mu);
    idle.push_back(std::move(s));
  }

  void Scan(int v, const NormalizedText& text, hs_scratch_t* scratch, std::vector<RawHit>* hits) const {
    if (!db[v] || ((v == kRuns || v == kVariants) && text.text.size() <= 1)) return;
    struct Ctx {
      const std::vector<uint32_t>* members;
      std::vector<RawHit>* hits;
      bool som;
    } ctx{&members[v], hits, v == kRuns};
    hs_scan(
        db[v].get(), text.text.data(), static_cast<unsigned>(text.text.size()), 0, scratch,
        [](unsigned int id, unsigned long long from, unsigned long long to, unsigned int, void* p) -> int {
          auto* c = static_cast<Ctx*>(p);
          c->hits->push_back(
              {(*c->members)[id], c->som ? static_cast<uint32_t>(from) : 0u, static_cast<uint32_t>(to)});
          return 0;
        },
        &ctx);
  }

  // Runs view reference: for every end inside a word, the leftmost start
  // whose span matches (Hyperscan's start-of-match semantics).
  void ScanRunsReference(const NormalizedText& text, std::vector<RawHit>* hits) const {
    const std::string& t = text.text;
    for (uint32_t p : members[kRuns]) {
      const std::regex& re = run_reference[p];
      size_t b = 1;
      while (b < t.size()) {
        size_t e = t.find(' ', b);
        if (e == std::string::npos) e = t.size();
        if (std::regex_search(t.begin() + static_cast<long>(b), t.begin() + static_cast<long>(e), re)) {
          for (size_t end = b + 1; end <= e; ++end) {
            for (size_t start = b; start < end; ++start) {
              if (std::regex_match(t.begin() + static_cast<long>(start), t.begin() + static_cast<long>(end),
                                   re)) {
                hits->push_back({p, static_cast<uint32_t>(start), static_cast<uint32_t>(end)});
                break;
              }
            }
          }
        }
        b = e + 1;
      }
    }
  }

  void ScanReference(int v, const NormalizedText& text, std::vector<RawHit>* hits) const {
    if (v == kRuns) {
      ScanRunsReference(text, hits);
      return;
    }
    // Word boundaries of the view: text is " w1 w2 ... wn ".
    std::vector<uint32_t> starts;
    std::vector<uint32_t> ends;
    for (uint32_t i = 1; i < text.text.size(); ++i) {
      if (text.text[i] != ' ' && text.text[i - 1] == ' ') starts.push_back(i);
      if (text.text[i] == ' ' && text.text[i - 1] != ' ') ends.push_back(i);
    }
    for (uint32_t p : members[v]) {
      const int k = data.patterns[p].words;
      for (size_t t = 0; t + static_cast<size_t>(k) <= starts.size(); ++t) {
        const uint32_t b = starts[t];
        const uint32_t e = ends[t + static_cast<size_t>(k) - 1];
        const std::regex& re = v == kVariants ? variant_reference[p] : reference[p];
        if (std::regex_match(text.text.begin() + b, text.text.begin() + e, re)) {
          hits->push_back({p, 0, e + 1});
        }
      }
    }
  }

  TermHit ToTermHit(const RawHit& h, int v, const NormalizedText& text) const {
    const ListPattern& p = data.patterns[h.pattern];
    if (v == kRuns) {
      TermHit t;
      t.category = p.category;
      t.source = p.source;
      t.pattern = p.text;
      t.normalized = text.text.substr(h.from, h.to - h.from);
      t.begin = text.origin_begin[h.from];
      t.end = text.origin_end[h.to - 1];
      return t;
    }
    // Walk back from the trailing space over `words` words.
    const uint32_t trailing = h.to - 1;
    uint32_t lead = trailing;
    int spaces = 0;
    while (lead > 0) {
      --lead;
      if (text.text[lead] == ' ' && ++spaces == p.words) break;
    }
    TermHit t;
    t.category = p.category;
    t.source = p.source;
    t.pattern = p.text;
    t.normalized = text.text.substr(lead + 1, trailing - lead - 1);
    t.begin = text.origin_begin[lead + 1];
    t.end = text.origin_end[trailing - 1];
    return t;
  }

  PromptVerdict Build(std::vector<RawHit> hits[kViews], const NormalizedText views[kViews],
                      const PromptContext& ctx) const {
    PromptVerdict v;
    v.lists_version = data.version;
    v.folded = views[1].text.size() >= 2 ? views[1].text.substr(1, views[1].text.size() - 2) : std::string();
    for (int view = 0; view < kViews; ++view) {
      std::sort(hits[view].begin(), hits[view].end());
      hits[view].erase(std::unique(hits[view].begin(), hits[view].end()), hits[view].end());
      for (const RawHit& h : hits[view]) {
        TermHit t = ToTermHit(h, view, views[view]);
        (t.category == "benign" ? v.benign : v.terms).push_back(std::move(t));
      }
    }
    auto order = [](const TermHit& a, const TermHit& b) {
      return std::tie(a.begin, a.end, a.category, a.source) < std::tie(b.begin, b.end, b.category, b.source);
    };
    std::sort(v.terms.begin(), v.terms.end(), order);
    std::sort(v.benign.begin(), v.benign.end(), order);
    // The same pattern over the same prompt bytes, found in two views, is one hit.
    auto same = [](const TermHit& a, const TermHit& b) {
      return a.begin == b.begin && a.end == b.end && a.category == b.category && a.source == b.source;
    };
    v.terms.erase(std::unique(v.terms.begin(), v.terms.end(), same), v.terms.end());
    v.benign.erase(std::unique(v.benign.begin(), v.benign.end(), same), v.benign.end());
    std::set<std::string> present;
    for (TermHit& t : v.terms) {
      for (const TermHit& b : v.benign) {
        if (b.begin <= t.begin && t.end <= b.end) {
          t.masked = true;
          break;
        }
      }
      if (!t.masked) present.insert(t.category);
    }
    if (ctx.photo_edit) present.insert("photo_edit");
    if (ctx.input_has_face) present.insert("face");
    for (const std::string& c : ctx.output_categories) present.insert(c);
    for (const Rule& r : data.rules) {
      bool all = true;
      for (const std::string& c : r.categories) all = all && present.count(c) != 0;
      if (!all) continue;
      RuleHit hit;
      hit.rule = r.name;
      hit.decision = r.policy.empty() ? r.decision : policy.sexual_content;
      hit.categories = r.categories;
      v.rules.push_back(std::move(hit));
    }
    std::stable_sort(v.rules.begin(), v.rules.end(),
                     [](const RuleHit& a, const RuleHit& b) { return a.decision > b.decision; });
    if (!v.rules.empty()) v.decision = v.rules.front().decision;
    return v;
  }
};

PromptGuard::PromptGuard(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PromptGuard::~PromptGuard() = default;

std::string PromptGuard::DefaultDataDir() {
  if (const char* env = std::getenv("SAFEGUARD_GUARD_DATA"); env != nullptr && *env != '\0') return env;
#ifdef SAFEGUARD_GUARD_DATA_DIR
  return SAFEGUARD_GUARD_DATA_DIR;
#else
  return "data/guard";
#endif
}

Status PromptGuard::Load(const std::string& data_dir, const GuardPolicy& policy,
                         std::unique_ptr<PromptGuard>* out) {
  auto impl = std::make_unique<Impl>();
  Status s = Normalizer::Create(&impl->normalizer);
  if (!s.ok()) return s;
  s = LoadGuardData(data_dir, *impl->normalizer, &impl->data);
  if (!s.ok()) return s;
  impl->policy = policy;
  const auto& patterns = impl->data.patterns;
  impl->reference.reserve(patterns.size());
  for (int v = 0; v < kViews; ++v) {
    std::vector<std::string> exprs;
    for (uint32_t i = 0; i < patterns.size(); ++i) {
      if (v == kRuns) {
        if (patterns[i].run_regex.empty()) continue;
        impl->members[v].push_back(i);
        exprs.push_back(patterns[i].run_regex);
        continue;
      }
      if (v == kVariants) {
        if (patterns[i].variant_regex.empty()) continue;
        impl->members[v].push_back(i);
        exprs.push_back(" " + patterns[i].variant_regex + " ");
        continue;
      }
      if (static_cast<int>(patterns[i].view) != v) continue;
      impl->members[v].push_back(i);
      exprs.push_back(" " + patterns[i].regex + " ");
    }
    if (exprs.empty()) continue;
    std::vector<const char*> ptrs;
    std::vector<unsigned> flags(exprs.size(), v == kRuns ? HS_FLAG_SOM_LEFTMOST : 0);
    std::vector<unsigned> ids(exprs.size());
    for (size_t i = 0; i < exprs.size(); ++i) {
      ptrs.push_back(exprs[i].c_str());
      ids[i] = static_cast<unsigned>(i);
    }
    hs_database_t* db = nullptr;
    hs_compile_error_t* err = nullptr;
    if (hs_compile_multi(ptrs.data(), flags.data(), ids.data(), static_cast<unsigned>(exprs.size()),
                         HS_MODE_BLOCK, nullptr, &db, &err) != HS_SUCCESS) {
      std::string where = "a pattern";
      if (err != nullptr && err->expression >= 0) where = patterns[impl->members[v][err->expression]].source;
      std::string msg = err != nullptr && err->message != nullptr ? err->message : "unknown error";
      hs_free_compile_error(err);
      return Status::InvalidArgument(where + ": Hyperscan cannot compile it: " + msg);
    }
    impl->db[v].reset(db);
    hs_scratch_t* scratch = impl->prototype.release();
    if (hs_alloc_scratch(db, &scratch) != HS_SUCCESS)
      return Status::Internal("Hyperscan: cannot allocate scratch");
    impl->prototype.reset(scratch);
  }
  *out = std::unique_ptr<PromptGuard>(new PromptGuard(std::move(impl)));
  return Status::Ok();
}

PromptVerdict PromptGuard::Screen(std::string_view prompt, const PromptContext& context) const {
  NormalizedText views[kViews];
  impl_->normalizer->Views(prompt, &views[0], &views[1], &views[2], &views[3]);
  std::vector<RawHit> hits[kViews];
  auto scratch = impl_->AcquireScratch();
  if (!scratch) return ScreenReference(prompt, context);  // out of memory: the slow path still decides
  for (int v = 0; v < kViews; ++v) impl_->Scan(v, views[v], scratch.get(), &hits[v]);
  impl_->ReleaseScratch(std::move(scratch));
  return impl_->Build(hits, views, context);
}

PromptVerdict PromptGuard::ScreenReference(std::string_view prompt, const PromptContext& context) const {
  impl_->CompileReference();
  NormalizedText views[kViews];
  impl_->normalizer->Views(prompt, &views[0], &views[1], &views[2], &views[3]);
  std::vector<RawHit> hits[kViews];
  for (int v = 0; v < kViews; ++v) impl_->ScanReference(v, views[v], &hits[v]);
  return impl_->Build(hits, views, context);
}

const std::string& PromptGuard::lists_version() const { return impl_->data.version; }

size_t PromptGuard::pattern_count() const { return impl_->data.patterns.size(); }

std::string VerdictToJson(const PromptVerdict& verdict) {
  using json = nlohmann::ordered_json;
  auto span = [](const TermHit& t) {
    return json{{"category", t.category}, {"source", t.source}, {"pattern", t.pattern},
                {"text", t.normalized},   {"begin", t.begin},   {"end", t.end}};
  };
  json rules = json::array();
  for (const RuleHit& r : verdict.rules) {
    json spans = json::array();
    for (const TermHit& t : verdict.terms) {
      if (t.masked) continue;
      if (std::find(r.categories.begin(), r.categories.end(), t.category) != r.categories.end()) {
        spans.push_back(span(t));
      }
    }
    rules.push_back(json{{"rule", r.rule},
                         {"decision", DecisionName(r.decision)},
                         {"categories", r.categories},
                         {"spans", spans}});
  }
  json benign = json::array();
  for (const TermHit& t : verdict.benign) benign.push_back(span(t));
  return json{{"decision", DecisionName(verdict.decision)},
              {"rules", rules},
              {"benign", benign},
              {"lists_version", verdict.lists_version}}
      .dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace safeguard::guard
