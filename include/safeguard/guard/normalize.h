// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// The prompt normaliser: undoes the tricks people use to slip words past a
// filter, and keeps track of where every normalised byte came from so a
// verdict can point at the words in the prompt as it was typed.
//
// Two views of a prompt are made (docs/guard.md has worked examples):
//
//   plain   Unicode NFKC with case folding (ICU's nfkc_cf, which also drops
//           zero-width and other default-ignorable characters); any run of
//           characters that are not letters, digits or @ $ ! | becomes one
//           space. "Ｕｎ\u200Bdress ME" -> " undress me ".
//   folded  the plain view, then: runs of three or more one-character words
//           are joined ("u n d r e s s" -> "undress"); accents are dropped;
//           letters of other scripts that look like Latin letters (UTS #39
//           confusables, through ICU's uspoof skeletons) become those
//           letters ("ѕех" in Cyrillic -> "sex"); leetspeak folds (4 @ -> a, 3 -> e, 1 ! | l -> i, 0 -> o,
//           5 $ -> s, 7 -> t, 8 -> b); and repeated characters collapse to
//           one ("nuuude" -> "nude", "dress" -> "dres").
//   runs    only the words the folded view joined from one-character words,
//           so a prompt spelled out letter by letter ("k i d s n u d e",
//           which joins into one word) can be searched inside.
//   variants  folded words that may be one word in disguise: each pair of
//           neighbouring words of two letters or more joined ("nu de" ->
//           "nude"), and each word with one or two stars between letters
//           with a vowel in place of each star ("n*de" -> "nade", "nede",
//           "nide", "node", "nude"). Only single-word patterns are matched
//           here, and only as whole words (see term_lists.h).
//
// Both views start and end with a space and separate words by exactly one
// space, so a list pattern " word " matches whole words only. Term-list
// patterns go through the same folding (FoldLiteral), so the lists are
// written in ordinary spelling.

#ifndef SAFEGUARD_GUARD_NORMALIZE_H_
#define SAFEGUARD_GUARD_NORMALIZE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "safeguard/common/status.h"

namespace safeguard::guard {

/// A normalised view of a prompt.
struct NormalizedText {
  /// UTF-8; starts and ends with ' '; words separated by exactly one ' '.
  std::string text;
  /// For each byte of `text`, the byte range [origin_begin, origin_end) of
  /// the prompt it came from (separators: the range of the character they
  /// replaced, or an empty range).
  std::vector<uint32_t> origin_begin;
  std::vector<uint32_t> origin_end;
};

/// Builds the plain and folded views. Create once; thread-safe after that.
class Normalizer {
 public:
  /// Builds the confusable and accent tables from ICU. Fails only if ICU's
  /// data is missing (kInternal).
  static Status Create(std::unique_ptr<Normalizer>* out);

  ~Normalizer();
  Normalizer(const Normalizer&) = delete;
  Normalizer& operator=(const Normalizer&) = delete;

  /// The plain view of `prompt`.
  void Plain(std::string_view prompt, NormalizedText* out) const;

  /// The folded view of `prompt`.
  void Folded(std::string_view prompt, NormalizedText* out) const;

  /// All four views at once (cheaper than one call each).
  void Views(std::string_view prompt, NormalizedText* plain, NormalizedText* folded, NormalizedText* runs,
             NormalizedText* variants) const;

  /// Folds one literal word fragment of a list pattern the way Folded folds
  /// a word (accents, confusables, leetspeak, and repeats unless
  /// `collapse` is false, as in the runs view); no spaces.
  std::string FoldLiteral(std::string_view fragment, bool collapse = true) const;

  /// Lower-cases a literal fragment the way Plain does (nfkc_cf).
  std::string PlainLiteral(std::string_view fragment) const;

  /// Implementation; public only so the .cc file can share it.
  struct Impl;

 private:
  explicit Normalizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace safeguard::guard

#endif  // SAFEGUARD_GUARD_NORMALIZE_H_
