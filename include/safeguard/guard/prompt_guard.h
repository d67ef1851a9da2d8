// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// PromptGuard screens the text of an image-generation request before any
// image exists. The prompt is normalised against evasion (normalize.h), the
// term lists in data/guard/terms/ are matched with Hyperscan, benign senses
// of the same words are recognised and set aside, and the rules in
// data/guard/rules.txt turn the categories found into a decision. Lists and
// rules are data: an operator extends them without a rebuild, and every
// verdict names the lists' version, the rules that fired and the spans of
// the prompt that made them fire.
//
// Beside the Hyperscan path sits ScreenReference, the same screen with one
// std::regex per pattern tried at every word position: slow, boring and
// exact. Tests compare the two on thousands of prompts.
//
// Example:
//   std::unique_ptr<PromptGuard> guard;
//   Status s = PromptGuard::Load("data/guard", GuardPolicy{}, &guard);
//   PromptVerdict v = guard->Screen("a red fox in the snow");
//   // v.decision == Decision::kAllow

#ifndef SAFEGUARD_GUARD_PROMPT_GUARD_H_
#define SAFEGUARD_GUARD_PROMPT_GUARD_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "safeguard/common/status.h"

namespace safeguard::guard {

/// What the guard decides, from least to most severe.
enum class Decision : uint8_t {
  kAllow = 0,        ///< generate
  kBlock = 1,        ///< refuse
  kBlockReview = 2,  ///< refuse and put the request in front of a moderator
  kBlockReport = 3,  ///< refuse, and the request is a candidate for an NCA/NCMEC report
};

/// "allow", "block", "block_review" or "block_report".
const char* DecisionName(Decision decision);

/// Parses a DecisionName; false for anything else.
bool ParseDecision(std::string_view name, Decision* decision);

/// One term (or benign sense) found in the prompt.
struct TermHit {
  /// The category of the list it came from ("sexual", "undress", "minor",
  /// "real_person", "photo_edit", "suggestive"), or "benign".
  std::string category;
  /// Where the pattern is: "terms/sexual.txt:12".
  std::string source;
  /// The pattern as written in the list.
  std::string pattern;
  /// The normalised text that matched (what the screen saw).
  std::string normalized;
  /// Byte offsets [begin, end) of the span in the prompt as given.
  size_t begin = 0;
  size_t end = 0;
  /// True when the hit lies inside a benign sense and so did not count.
  bool masked = false;
};

/// One rule that fired.
struct RuleHit {
  /// The rule's name in rules.txt ("minor_sexual").
  std::string rule;
  /// What the rule decides (after the operator's policy, for "policy:" rules).
  Decision decision = Decision::kAllow;
  /// The categories the rule needed, each satisfied by a term or by context.
  std::vector<std::string> categories;
};

/// Facts about the request beyond its text.
struct PromptContext {
  /// The request edits an uploaded photo (POST /v1/guard/input).
  bool photo_edit = false;
  /// A face was detected in the uploaded photo.
  bool input_has_face = false;
  /// What the checks of a generated image found, as rule categories
  /// (CheckOutput sets them): "output_sexual", "output_suggestive",
  /// "output_minor" (an operator's age classifier) and "output_csam" (an
  /// operator's licensed classifier).
  std::vector<std::string> output_categories;
};

/// The operator's choices for rules whose decision is "policy:NAME".
struct GuardPolicy {
  /// "policy:sexual_content": a sexual request with nothing else wrong. The
  /// default is a general-purpose service's: refuse. An adult service sets
  /// kAllow.
  Decision sexual_content = Decision::kBlock;
};

/// The verdict on one prompt.
struct PromptVerdict {
  /// The most severe decision of the rules that fired; kAllow if none did.
  Decision decision = Decision::kAllow;
  /// Every rule that fired, most severe first (ties in rules.txt order).
  std::vector<RuleHit> rules;
  /// Every term found, in prompt order, including masked ones.
  std::vector<TermHit> terms;
  /// Benign senses recognised (category "benign").
  std::vector<TermHit> benign;
  /// The folded text the lists were matched against (lower case, evasions
  /// undone), for the record; never logged by Safeguard.
  std::string folded;
  /// The version of the lists and rules that decided ("VERSION file value"
  /// + "/" + the first 12 hex digits of a SHA-256 of every data file).
  std::string lists_version;
};

/// Screens prompts. Load once; Screen is thread-safe and allocation-light.
class PromptGuard {
 public:
  /// Loads the term lists and rules from `data_dir` (data/guard in the
  /// source tree) and compiles them. Fails with kInvalidArgument, naming the
  /// file and line, on a malformed list or rule.
  static Status Load(const std::string& data_dir, const GuardPolicy& policy,
                     std::unique_ptr<PromptGuard>* out);

  /// The directory Load reads by default: $SAFEGUARD_GUARD_DATA when set,
  /// else the data/guard folder of the source tree this was built from.
  static std::string DefaultDataDir();

  ~PromptGuard();
  PromptGuard(const PromptGuard&) = delete;
  PromptGuard& operator=(const PromptGuard&) = delete;

  /// Screens one prompt (UTF-8; invalid bytes count as separators).
  PromptVerdict Screen(std::string_view prompt, const PromptContext& context = {}) const;

  /// The same screen with std::regex in place of Hyperscan (the reference).
  PromptVerdict ScreenReference(std::string_view prompt, const PromptContext& context = {}) const;

  /// The lists' version (see PromptVerdict::lists_version).
  const std::string& lists_version() const;

  /// Number of patterns compiled (terms and benign senses).
  size_t pattern_count() const;

  /// Implementation; public only so the .cc files can share it.
  struct Impl;

 private:
  explicit PromptGuard(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// Writes `verdict` as one JSON object: decision, rules (name, decision,
/// categories, spans), lists_version. Spans carry offsets, category,
/// source and the normalised text.
std::string VerdictToJson(const PromptVerdict& verdict);

}  // namespace safeguard::guard

#endif  // SAFEGUARD_GUARD_PROMPT_GUARD_H_
