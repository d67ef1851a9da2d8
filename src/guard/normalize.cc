// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// ICU does the Unicode work: nfkc_cf (NFKC + case folding + removal of
// default-ignorable characters such as U+200B ZERO WIDTH SPACE), NFD for
// accents, and uspoof skeletons (UTS #39) for look-alike letters. ASCII, by
// far the common case, never calls into ICU: its nfkc_cf is tolower.
//
// Every output code point carries the byte range of the prompt it came
// from. Normalisation runs on one base character with its combining marks
// at a time, so that range is always known.

#include "safeguard/guard/normalize.h"

#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>
#include <unicode/uspoof.h>
#include <unicode/utf8.h>

#include <algorithm>
#include <array>
#include <unordered_map>

namespace safeguard::guard {
namespace {

// One code point of a view and the prompt bytes it came from.
struct Unit {
  UChar32 c;
  uint32_t begin;
  uint32_t end;
};
using Word = std::vector<Unit>;

bool IsMark(UChar32 c) {
  const int8_t t = u_charType(c);
  return t == U_NON_SPACING_MARK || t == U_ENCLOSING_MARK || t == U_COMBINING_SPACING_MARK;
}

// Characters leetspeak uses in place of letters; they stay inside words.
bool IsLeetSymbol(UChar32 c) { return c == '@' || c == '$' || c == '!' || c == '|'; }

bool IsWordChar(UChar32 c) {
  if (c < 0x80) return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || IsLeetSymbol(c);
  return u_isalpha(c) || u_isdigit(c) || IsMark(c);
}

UChar32 Leet(UChar32 c) {
  switch (c) {
    case '4':
    case '@':
      return 'a';
    case '3':
      return 'e';
    case '1':
    case '!':
    case '|':
    case 'l':
      return 'i';
    case '0':
      return 'o';
    case '5':
    case '$':
      return 's';
    case '7':
      return 't';
    case '8':
      return 'b';
    default:
      return c;
  }
}

void AppendUtf8(UChar32 c, uint32_t begin, uint32_t end, NormalizedText* out) {
  char buf[4];
  int32_t n = 0;
  UBool error = false;
  U8_APPEND(reinterpret_cast<uint8_t*>(buf), n, 4, c, error);
  if (error) return;
  out->text.append(buf, static_cast<size_t>(n));
  out->origin_begin.insert(out->origin_begin.end(), static_cast<size_t>(n), begin);
  out->origin_end.insert(out->origin_end.end(), static_cast<size_t>(n), end);
}

void Emit(const std::vector<Word>& words, NormalizedText* out) {
  out->text.clear();
  out->origin_begin.clear();
  out->origin_end.clear();
  AppendUtf8(' ', 0, 0, out);
  for (const Word& w : words) {
    for (const Unit& u : w) AppendUtf8(u.c, u.begin, u.end, out);
    const uint32_t at = w.empty() ? 0 : w.back().end;
    AppendUtf8(' ', at, at, out);
  }
}

}  // namespace

struct Normalizer::Impl {
  const icu::Normalizer2* nfkc_cf = nullptr;
  const icu::Normalizer2* nfd = nullptr;
  // Non-ASCII code point -> its folded form (accents dropped, look-alikes
  // made Latin), for every letter of the scripts people borrow from.
  std::unordered_map<UChar32, UChar32> fold;

  // The plain view's words, as units.
  // With `keep_stars`, '*' stays inside words (see SplitStars).
  void PlainWords(std::string_view prompt, std::vector<Word>* words, bool keep_stars = false) const {
    words->clear();
    Word word;
    icu::UnicodeString segment;
    icu::UnicodeString normalized;
    const auto* bytes = reinterpret_cast<const uint8_t*>(prompt.data());
    const int32_t length = static_cast<int32_t>(std::min<size_t>(prompt.size(), INT32_MAX));
    int32_t i = 0;
    auto flush = [&] {
      if (!word.empty()) words->push_back(std::move(word));
      word.clear();
    };
    while (i < length) {
      const int32_t start = i;
      UChar32 c = 0;
      U8_NEXT(bytes, i, length, c);
      if (c < 0) {  // invalid UTF-8: a separator
        flush();
        continue;
      }
      if (c < 0x80) {
        if (c >= 'A' && c <= 'Z') c += 'a' - 'A';
        if (IsWordChar(c) || (keep_stars && c == '*')) {
          word.push_back({c, static_cast<uint32_t>(start), static_cast<uint32_t>(i)});
        } else {
          flush();
        }
        continue;
      }
      // A base character and the combining marks after it, normalised as one.
      segment.remove();
      segment.append(c);
      while (i < length) {
        int32_t next = i;
        UChar32 m = 0;
        U8_NEXT(bytes, next, length, m);
        if (m < 0 || !IsMark(m)) break;
        segment.append(m);
        i = next;
      }
      UErrorCode status = U_ZERO_ERROR;
      normalized.remove();
      nfkc_cf->normalize(segment, normalized, status);
      if (U_FAILURE(status)) {
        flush();
        continue;
      }
      if (normalized.isEmpty()) continue;  // default-ignorable: vanishes, joins
      for (int32_t k = 0; k < normalized.length();) {
        const UChar32 n = normalized.char32At(k);
        k += U16_LENGTH(n);
        if (IsWordChar(n)) {
          word.push_back({n, static_cast<uint32_t>(start), static_cast<uint32_t>(i)});
        } else {
          flush();
        }
      }
    }
    flush();
  }

  UChar32 FoldChar(UChar32 c) const {
    if (c < 0x80) return Leet(c);
    auto it = fold.find(c);
    return it == fold.end() ? c : Leet(it->second);
  }

  // Folds one word in place: accents, look-alikes, leetspeak, repeats.
  void FoldWord(Word* w, bool collapse = true) const {
    Word out;
    out.reserve(w->size());
    for (const Unit& u : *w) {
      if (u.c >= 0x80 && IsMark(u.c)) continue;  // a combining accent
      const UChar32 f = FoldChar(u.c);
      if (collapse && !out.empty() && out.back().c == f) {
        out.back().end = std::max(out.back().end, u.end);
        continue;
      }
      out.push_back({f, u.begin, u.end});
    }
    *w = std::move(out);
  }

  // Splits words at their stars (so the views read '*' as a word break, as
  // any punctuation) and keeps, in *starred, each word with one or two
  // stars between letters: "n*de" is most likely a starred-out vowel.
  static void SplitStars(std::vector<Word>* words, std::vector<Word>* starred) {
    std::vector<Word> out;
    out.reserve(words->size());
    for (Word& w : *words) {
      size_t stars = 0;
      for (const Unit& u : w) stars += u.c == '*';
      if (stars == 0) {
        out.push_back(std::move(w));
        continue;
      }
      if (stars <= 2 && w.size() >= stars + 2 && w.front().c != '*' && w.back().c != '*') {
        bool adjacent = false;
        for (size_t i = 1; i < w.size(); ++i) adjacent = adjacent || (w[i].c == '*' && w[i - 1].c == '*');
        if (!adjacent) starred->push_back(w);
      }
      Word piece;
      for (const Unit& u : w) {
        if (u.c == '*') {
          if (!piece.empty()) out.push_back(std::move(piece));
          piece.clear();
        } else {
          piece.push_back(u);
        }
      }
      if (!piece.empty()) out.push_back(std::move(piece));
    }
    *words = std::move(out);
  }

  // Joins runs of three or more one-character words: "u n d r e s s".
  // Sets joined[i] for each output word that is such a run.
  static void JoinSpacedLetters(std::vector<Word>* words, std::vector<bool>* joined) {
    std::vector<Word> out;
    out.reserve(words->size());
    joined->clear();
    size_t i = 0;
    while (i < words->size()) {
      size_t j = i;
      while (j < words->size() && (*words)[j].size() == 1) ++j;
      if (j - i >= 3) {
        Word run;
        for (size_t k = i; k < j; ++k) run.push_back((*words)[k][0]);
        out.push_back(std::move(run));
        joined->push_back(true);
        i = j;
      } else if (j > i) {
        for (size_t k = i; k < j; ++k) {
          out.push_back(std::move((*words)[k]));
          joined->push_back(false);
        }
        i = j;
      } else {
        out.push_back(std::move((*words)[i]));
        joined->push_back(false);
        ++i;
      }
    }
    *words = std::move(out);
  }
};

Normalizer::Normalizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Normalizer::~Normalizer() = default;

Status Normalizer::Create(std::unique_ptr<Normalizer>* out) {
  auto impl = std::make_unique<Impl>();
  UErrorCode status = U_ZERO_ERROR;
  impl->nfkc_cf = icu::Normalizer2::getNFKCCasefoldInstance(status);
  if (U_FAILURE(status))
    return Status::Internal("ICU: no nfkc_cf normaliser: " + std::string(u_errorName(status)));
  impl->nfd = icu::Normalizer2::getNFDInstance(status);
  if (U_FAILURE(status))
    return Status::Internal("ICU: no NFD normaliser: " + std::string(u_errorName(status)));
  USpoofChecker* spoof = uspoof_open(&status);
  if (U_FAILURE(status))
    return Status::Internal("ICU: cannot open a spoof checker: " + std::string(u_errorName(status)));

  auto skeleton = [&](UChar32 c) -> std::u16string {
    UChar in[2];
    int32_t n = 0;
    U16_APPEND_UNSAFE(in, n, c);
    UChar buf[32];
    UErrorCode st = U_ZERO_ERROR;
    const int32_t len = uspoof_getSkeleton(spoof, 0, in, n, buf, 32, &st);
    if (U_FAILURE(st) || len <= 0 || len > 32) return {};
    icu::UnicodeString s(buf, len);
    s.foldCase();
    return std::u16string(reinterpret_cast<const char16_t*>(s.getBuffer()), static_cast<size_t>(s.length()));
  };
  // The skeleton of each Latin letter and digit, to find their look-alikes.
  std::unordered_map<std::u16string, UChar32> latin;
  for (UChar32 c = '0'; c <= 'z'; ++c) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z'))) continue;
    std::u16string s = skeleton(c);
    if (!s.empty()) latin.emplace(s, c);  // first wins: digits before letters
  }
  // Letters first, so a digit look-alike never shadows a letter one.
  for (UChar32 c = 'a'; c <= 'z'; ++c) {
    std::u16string s = skeleton(c);
    if (!s.empty()) latin[s] = c;
  }
  // Latin with accents, IPA, Greek, Cyrillic, Armenian, Cherokee, Latin
  // extended additional, letter-like symbols.
  const std::array<std::pair<UChar32, UChar32>, 7> ranges = {{{0x00C0, 0x02AF},
                                                              {0x0370, 0x03FF},
                                                              {0x0400, 0x052F},
                                                              {0x0530, 0x058F},
                                                              {0x13A0, 0x13FF},
                                                              {0x1E00, 0x1EFF},
                                                              {0x2100, 0x214F}}};
  for (const auto& [lo, hi] : ranges) {
    for (UChar32 c = lo; c <= hi; ++c) {
      if (!u_isalpha(c)) continue;
      // Case-fold first (the prompt is case-folded before folding).
      UChar32 base = u_foldCase(c, U_FOLD_CASE_DEFAULT);
      // Drop accents: the first code point of the NFD form, if it is Latin.
      icu::UnicodeString d;
      if (impl->nfd->getDecomposition(base, d) && d.length() > 0) {
        const UChar32 first = d.char32At(0);
        if (first < 0x80) {
          impl->fold[c] = u_tolower(first);
          if (base != c) impl->fold[base] = u_tolower(first);
          continue;
        }
      }
      auto it = latin.find(skeleton(base));
      if (it != latin.end() && base != it->second) {
        impl->fold[c] = it->second;
        impl->fold[base] = it->second;
      }
    }
  }
  // Look-alikes UTS #39 does not list as confusable with a Latin letter
  // but that people use as one (Greek kappa for k, Cyrillic em for m, ...).
  const std::pair<UChar32, UChar32> extra[] = {
      {0x03B1, 'a'}, {0x03B5, 'e'}, {0x03B7, 'n'}, {0x03B9, 'i'}, {0x03BA, 'k'}, {0x03BD, 'v'},
      {0x03BF, 'o'}, {0x03C1, 'p'}, {0x03C4, 't'}, {0x03C5, 'u'}, {0x03C7, 'x'}, {0x03C9, 'w'},
      {0x03B3, 'y'}, {0x03BC, 'u'}, {0x043A, 'k'}, {0x043C, 'm'}, {0x0442, 't'}, {0x0432, 'b'},
      {0x043D, 'h'}, {0x043F, 'n'}, {0x0433, 'r'}};
  for (const auto& [from, to] : extra) {
    if (impl->fold.count(from) == 0) impl->fold[from] = to;
  }
  uspoof_close(spoof);
  *out = std::unique_ptr<Normalizer>(new Normalizer(std::move(impl)));
  return Status::Ok();
}

void Normalizer::Plain(std::string_view prompt, NormalizedText* out) const {
  std::vector<Word> words;
  impl_->PlainWords(prompt, &words);
  Emit(words, out);
}

void Normalizer::Folded(std::string_view prompt, NormalizedText* out) const {
  NormalizedText plain;
  NormalizedText runs;
  NormalizedText variants;
  Views(prompt, &plain, out, &runs, &variants);
}

void Normalizer::Views(std::string_view prompt, NormalizedText* plain, NormalizedText* folded,
                       NormalizedText* runs, NormalizedText* variants) const {
  std::vector<Word> words;
  impl_->PlainWords(prompt, &words, /*keep_stars=*/true);
  std::vector<Word> starred;
  Impl::SplitStars(&words, &starred);
  Emit(words, plain);
  std::vector<bool> joined;
  Impl::JoinSpacedLetters(&words, &joined);
  std::vector<Word> run_words;
  for (size_t i = 0; i < words.size(); ++i) {
    if (joined[i]) {
      // Repeats are not collapsed in runs: where spelled-out words meet,
      // a letter may legitimately repeat ("r e a l i m a g e").
      run_words.push_back(words[i]);
      impl_->FoldWord(&run_words.back(), /*collapse=*/false);
    }
    impl_->FoldWord(&words[i]);
  }
  Emit(words, folded);
  Emit(run_words, runs);

  // Variants: each pair of neighbouring words of two or more letters
  // joined ("nu de"), and each starred word with a vowel for each star.
  std::vector<Word> variant_words;
  for (size_t i = 0; i + 1 < words.size(); ++i) {
    if (words[i].size() < 2 || words[i + 1].size() < 2 || joined[i] || joined[i + 1]) continue;
    Word pair = words[i];
    pair.insert(pair.end(), words[i + 1].begin(), words[i + 1].end());
    impl_->FoldWord(&pair);  // collapses a repeat where the halves meet
    variant_words.push_back(std::move(pair));
  }
  static constexpr UChar32 kVowels[] = {'a', 'e', 'i', 'o', 'u'};
  for (const Word& w : starred) {
    std::vector<size_t> at;
    for (size_t i = 0; i < w.size(); ++i) {
      if (w[i].c == '*') at.push_back(i);
    }
    const size_t combos = at.size() == 1 ? 5 : 25;
    for (size_t k = 0; k < combos; ++k) {
      Word v = w;
      v[at[0]].c = kVowels[k % 5];
      if (at.size() == 2) v[at[1]].c = kVowels[k / 5];
      impl_->FoldWord(&v);
      variant_words.push_back(std::move(v));
    }
  }
  Emit(variant_words, variants);
}

std::string Normalizer::FoldLiteral(std::string_view fragment, bool collapse) const {
  std::vector<Word> words;
  impl_->PlainWords(fragment, &words);
  std::string out;
  NormalizedText t;
  for (Word& w : words) {
    // A pattern's words always have a letter; fold as such.
    Word folded;
    for (const Unit& u : w) {
      if (u.c >= 0x80 && IsMark(u.c)) continue;
      const UChar32 f = impl_->FoldChar(u.c);
      if (collapse && !folded.empty() && folded.back().c == f) continue;
      folded.push_back({f, 0, 0});
    }
    Emit({folded}, &t);
    out += t.text.substr(1, t.text.size() - 2);
  }
  return out;
}

std::string Normalizer::PlainLiteral(std::string_view fragment) const {
  std::vector<Word> words;
  impl_->PlainWords(fragment, &words);
  std::string out;
  NormalizedText t;
  for (Word& w : words) {
    Emit({w}, &t);
    out += t.text.substr(1, t.text.size() - 2);
  }
  return out;
}

}  // namespace safeguard::guard
