// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// The prompt screen's evaluation sets (data/guard/eval/), shared by the tests
// and `safeguard-bench guard-prompt`.
//
// The benign set is text. The adversarial set is templates: the repository
// never spells out an abusive request. A template such as
//   block_report  a {minor} {sexual|spaced}
// is filled in memory with words drawn from the term lists (every word of a
// category in turn) and disguised by an evasion (leetspeak, look-alike
// letters, zero-width characters, spacing, ...). Results are reported by
// template line, slot word source and evasion, never as the filled text.

#ifndef SAFEGUARD_TESTS_GUARD_EVAL_H_
#define SAFEGUARD_TESTS_GUARD_EVAL_H_

#include <string>
#include <vector>

#include "safeguard/common/status.h"
#include "safeguard/guard/prompt_guard.h"

namespace safeguard::testing {

/// One benign prompt.
struct BenignPrompt {
  std::string text;
  int line = 0;
};

/// Reads data/guard/eval/benign.txt (or another file of the same format).
Status LoadBenign(const std::string& path, std::vector<BenignPrompt>* out);

/// One filled adversarial prompt. `text` exists only in memory.
struct AdversarialPrompt {
  std::string text;
  guard::Decision expected = guard::Decision::kBlock;
  guard::PromptContext context;
  /// Where it came from: "adversarial.txt:12 #2 (sexual.txt:14 leet)". Names
  /// no word of the prompt itself.
  std::string label;
  /// The evasions applied, comma-separated.
  std::string evasions;
};

/// The evasions a slot can name ("any" rotates through all of them).
const std::vector<std::string>& EvasionNames();

/// Applies evasion `name` to `word` (UTF-8). `seed` varies the choices.
std::string Evade(const std::string& word, const std::string& name, int seed);

/// A word or phrase a slot can be filled with, from a list pattern.
struct SlotWord {
  std::string text;
  std::string source;  ///< "terms/sexual.txt:14"
};

/// Sample words for each category, from the lists in `data_dir`: every
/// pattern without digits or classes gives up to three phrases (one per
/// alternative of its groups, in turn; `*` dropped; a lone `*` becomes
/// "the"). `lang` filters ("" = every language).
Status LoadSlotWords(const std::string& data_dir, const std::string& category, const std::string& lang,
                     std::vector<SlotWord>* out);

/// Expands data/guard/eval/adversarial.txt: each template `fills` times,
/// with successive words of each slot's category.
Status ExpandAdversarial(const std::string& data_dir, int fills, std::vector<AdversarialPrompt>* out,
                         int* templates);

}  // namespace safeguard::testing

#endif  // SAFEGUARD_TESTS_GUARD_EVAL_H_
