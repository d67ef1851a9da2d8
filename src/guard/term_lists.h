// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// Reading the guard's data folder (docs/guard.md, "Lists and rules"):
//
//   VERSION              one line, the operator's name for this set of lists
//   terms/CATEGORY.txt   one pattern per line: "LANG PATTERN"
//   benign.txt           benign senses, same format (category "benign")
//   rules.txt            "NAME DECISION CATEGORY..." per line
//
// A pattern is words separated by single spaces. In a word, `*` continues
// the word with any letters ("undress*": undressed, undressing), a word
// that is only `*` is any one word, (a|b|c) is one of the alternatives, and
// [0-9] is an ASCII class. Patterns with a digit or a class match the plain
// view (ages: "1[0-7] year old"); all others match the folded view.
// Everything else is literal and goes through the same normalisation as
// the prompt, so lists are written in ordinary spelling.

#ifndef SAFEGUARD_SRC_GUARD_TERM_LISTS_H_
#define SAFEGUARD_SRC_GUARD_TERM_LISTS_H_

#include <string>
#include <vector>

#include "safeguard/common/status.h"
#include "safeguard/guard/normalize.h"
#include "safeguard/guard/prompt_guard.h"

namespace safeguard::guard {

/// The view a pattern is matched against.
enum class View : uint8_t { kPlain = 0, kFolded = 1 };

/// One compiled list pattern.
struct ListPattern {
  std::string category;  ///< file stem, or "benign"
  std::string source;    ///< "terms/sexual.txt:12"
  std::string lang;      ///< en, fr, de, es, it, pt, pl, ru or any
  std::string text;      ///< as written
  View view = View::kFolded;
  /// The regular expression for one span of `words` words (no padding), in
  /// the subset Hyperscan and std::regex (ECMAScript) read alike.
  std::string regex;
  int words = 1;
  /// Folded patterns only: `regex` with its spaces and its leading and
  /// trailing `[^ ]*` removed, searched for inside the runs view (words
  /// spelled out letter by letter, see normalize.h).
  std::string run_regex;
  /// Folded one-word patterns only: `regex` without a leading or trailing
  /// `[^ ]*`, matched as a whole word in the variants view (normalize.h):
  /// "undress*" matches the pair "un dress" but not "un dressing".
  std::string variant_regex;
};

/// One rule of rules.txt.
struct Rule {
  std::string name;
  Decision decision = Decision::kBlock;
  /// Set for "policy:NAME" decisions: the GuardPolicy field that decides.
  std::string policy;
  std::vector<std::string> categories;
};

/// Everything in a data folder.
struct GuardData {
  std::vector<ListPattern> patterns;
  std::vector<Rule> rules;
  std::vector<std::string> categories;  ///< term categories, sorted
  std::string version;                  ///< see PromptVerdict::lists_version
};

/// The categories a request's context can satisfy without a term.
inline constexpr const char* kContextCategories[] = {"photo_edit",        "face",         "output_sexual",
                                                     "output_suggestive", "output_minor", "output_csam"};

/// Languages a list line may name.
inline constexpr const char* kListLanguages[] = {"en", "fr", "de", "es", "it", "pt", "pl", "ru", "any"};

/// Reads and compiles a data folder. Errors name the file and line.
Status LoadGuardData(const std::string& dir, const Normalizer& normalizer, GuardData* out);

/// Compiles one pattern (exposed for tests). `source` is used in errors.
Status CompilePattern(const std::string& text, const Normalizer& normalizer, const std::string& source,
                      ListPattern* out);

}  // namespace safeguard::guard

#endif  // SAFEGUARD_SRC_GUARD_TERM_LISTS_H_
