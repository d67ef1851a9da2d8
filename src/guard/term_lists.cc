// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.

#include "term_lists.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>

namespace safeguard::guard {
namespace {

namespace fs = std::filesystem;

std::string EscapeRegex(const std::string& literal) {
  std::string out;
  for (char c : literal) {
    if (std::string_view(".^$|?*+()[]{}\\/").find(c) != std::string_view::npos) out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

bool IsAsciiSpecial(char c) { return c == '*' || c == '(' || c == ')' || c == '|' || c == '[' || c == ']'; }

// ASCII characters a pattern may contain besides letters, digits and the
// specials above. Everything else ASCII (punctuation) is refused: in a
// prompt it is a separator, so a pattern holding it could never match.
bool IsAsciiAllowed(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == ' ' ||
         IsAsciiSpecial(c) || c == '-';
}

std::vector<std::string> SplitWords(const std::string& line) {
  std::vector<std::string> out;
  std::istringstream in(line);
  std::string w;
  while (in >> w) out.push_back(w);
  return out;
}

std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r");
  size_t e = s.find_last_not_of(" \t\r");
  return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

// Turns a pattern into a regular expression; `literal` normalises the
// literal text. Returns an error message, or "" when it compiled.
std::string BuildRegex(const std::string& text, const std::function<std::string(const std::string&)>& literal,
                       std::string* out_regex, int* out_words) {
  std::string regex;
  int words = 1;
  size_t i = 0;
  std::string run;  // pending literal characters
  bool word_has_content = false;
  auto flush = [&] {
    if (!run.empty()) {
      const std::string lit = literal(run);
      if (lit.empty()) return false;
      regex += lit;
      run.clear();
      word_has_content = true;
    }
    return true;
  };
  while (i < text.size()) {
    const char c = text[i];
    if (c == ' ') {
      if (!flush()) return ("a word normalises to nothing");
      if (!word_has_content) return ("empty word");
      regex += ' ';
      ++words;
      word_has_content = false;
      ++i;
    } else if (c == '*') {
      if (!flush()) return ("a word normalises to nothing");
      const bool alone = !word_has_content && (i + 1 == text.size() || text[i + 1] == ' ');
      regex += alone ? "[^ ]+" : "[^ ]*";
      word_has_content = true;
      ++i;
    } else if (c == '(') {
      if (!flush()) return ("a word normalises to nothing");
      const size_t close = text.find(')', i);
      if (close == std::string::npos) return ("'(' without ')'");
      const std::string inside = text.substr(i + 1, close - i - 1);
      if (inside.find_first_of(" ([*") != std::string::npos) {
        return ("alternatives in ( ) are plain words: no spaces, groups, classes or *");
      }
      std::vector<std::string> alternatives;
      size_t start = 0;
      while (true) {
        const size_t bar = inside.find('|', start);
        alternatives.push_back(
            inside.substr(start, bar == std::string::npos ? std::string::npos : bar - start));
        if (bar == std::string::npos) break;
        start = bar + 1;
      }
      regex += "(?:";
      for (size_t a = 0; a < alternatives.size(); ++a) {
        const std::string lit = alternatives[a].empty() ? std::string() : literal(alternatives[a]);
        if (lit.empty()) return ("empty alternative in ( )");
        if (a > 0) regex += '|';
        regex += lit;
      }
      regex += ')';
      word_has_content = true;
      i = close + 1;
    } else if (c == ')' || c == '|') {
      return (std::string("'") + c + "' outside ( )");
    } else if (c == '[') {
      if (!flush()) return ("a word normalises to nothing");
      const size_t close = text.find(']', i);
      if (close == std::string::npos) return ("'[' without ']'");
      const std::string inside = text.substr(i + 1, close - i - 1);
      if (inside.empty()) return ("empty [ ]");
      for (char k : inside) {
        if (!((k >= '0' && k <= '9') || (k >= 'a' && k <= 'z') || k == '-')) {
          return ("[ ] holds ASCII digits, lower-case letters and ranges only");
        }
      }
      regex += '[' + inside + ']';
      word_has_content = true;
      i = close + 1;
    } else if (c == ']') {
      return ("']' without '['");
    } else if (c == '-') {
      return ("'-' is allowed only inside [ ] (a hyphen separates words in a prompt: write a space)");
    } else {
      run.push_back(c);
      ++i;
    }
  }
  if (!flush()) return ("a word normalises to nothing");
  if (!word_has_content) return ("empty word");
  *out_regex = regex;
  *out_words = words;
  return "";
}

}  // namespace

Status CompilePattern(const std::string& text, const Normalizer& normalizer, const std::string& source,
                      ListPattern* out) {
  auto bad = [&](const std::string& why) {
    return Status::InvalidArgument(source + ": pattern \"" + text + "\": " + why);
  };
  if (text.empty()) return bad("empty");
  if (text.front() == ' ' || text.back() == ' ' || text.find("  ") != std::string::npos) {
    return bad("words must be separated by single spaces");
  }
  bool plain = false;
  for (char c : text) {
    if (static_cast<unsigned char>(c) < 0x80 && !IsAsciiAllowed(c)) {
      return bad(std::string("character '") + c +
                 "' is not allowed (punctuation separates words in a prompt; " + "write a space instead)");
    }
    if ((c >= '0' && c <= '9') || c == '[') plain = true;
  }
  out->text = text;
  out->source = source;
  out->view = plain ? View::kPlain : View::kFolded;
  auto literal = [&](const std::string& s) {
    return EscapeRegex(plain ? normalizer.PlainLiteral(s) : normalizer.FoldLiteral(s));
  };
  std::string regex;
  int words = 1;
  std::string error = BuildRegex(text, literal, &regex, &words);
  if (!error.empty()) return bad(error);

  out->regex = regex;
  out->words = words;
  out->run_regex.clear();
  out->variant_regex.clear();
  if (!plain) {
    // Letters spelled out one by one are not collapsed where words meet
    // ("real image" -> "realimage"), so the runs view folds without
    // collapsing repeats, and so must its patterns.
    std::string unfolded;
    int ignored = 0;
    error = BuildRegex(
        text,
        [&](const std::string& s) { return EscapeRegex(normalizer.FoldLiteral(s, /*collapse=*/false)); },
        &unfolded, &ignored);
    if (!error.empty()) return bad(error);
    std::string squashed;  // word-separating spaces removed, "[^ ]" kept
    bool in_class = false;
    for (char c : unfolded) {
      if (c == '[') in_class = true;
      if (c == ']') in_class = false;
      if (c != ' ' || in_class) squashed.push_back(c);
    }
    const std::string any = "[^ ]*";
    while (squashed.rfind(any, 0) == 0) squashed.erase(0, any.size());
    while (squashed.size() >= any.size() &&
           squashed.compare(squashed.size() - any.size(), any.size(), any) == 0) {
      squashed.erase(squashed.size() - any.size());
    }
    out->run_regex = squashed;
    if (words == 1) {
      std::string stem = regex;
      while (stem.rfind(any, 0) == 0) stem.erase(0, any.size());
      while (stem.size() >= any.size() && stem.compare(stem.size() - any.size(), any.size(), any) == 0) {
        stem.erase(stem.size() - any.size());
      }
      out->variant_regex = stem;
    }
  }
  return Status::Ok();
}

namespace {

Status ReadLines(const fs::path& path, std::vector<std::string>* lines, std::string* bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::IoError("cannot read " + path.string());
  std::ostringstream all;
  all << in.rdbuf();
  *bytes = all.str();
  lines->clear();
  std::istringstream split(*bytes);
  std::string line;
  while (std::getline(split, line)) lines->push_back(line);
  return Status::Ok();
}

Status LoadPatternFile(const fs::path& path, const std::string& rel, const std::string& category,
                       const Normalizer& normalizer, GuardData* data, std::string* bytes) {
  std::vector<std::string> lines;
  Status s = ReadLines(path, &lines, bytes);
  if (!s.ok()) return s;
  const std::set<std::string> languages(std::begin(kListLanguages), std::end(kListLanguages));
  std::set<std::pair<std::string, View>> seen;
  for (size_t n = 0; n < lines.size(); ++n) {
    const std::string line = Trim(lines[n]);
    if (line.empty() || line[0] == '#') continue;
    const std::string source = rel + ":" + std::to_string(n + 1);
    const size_t space = line.find(' ');
    if (space == std::string::npos) {
      return Status::InvalidArgument(source + ": expected \"LANG PATTERN\", got \"" + line + "\"");
    }
    const std::string lang = line.substr(0, space);
    if (languages.count(lang) == 0) {
      return Status::InvalidArgument(source + ": unknown language \"" + lang +
                                     "\" (one of en fr de es it pt pl ru any)");
    }
    ListPattern p;
    s = CompilePattern(Trim(line.substr(space + 1)), normalizer, source, &p);
    if (!s.ok()) return s;
    p.category = category;
    p.lang = lang;
    // The same folded pattern twice (e.g. "nude" under en and fr) is kept
    // once: one hit per span is enough.
    if (!seen.insert({p.regex, p.view}).second) continue;
    data->patterns.push_back(std::move(p));
  }
  return Status::Ok();
}

std::string Sha256Hex12(const std::string& bytes) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(bytes.data(), bytes.size(), md, &len, EVP_sha256(), nullptr);
  std::string hex;
  char buf[3];
  for (unsigned int i = 0; i < 6 && i < len; ++i) {
    std::snprintf(buf, sizeof buf, "%02x", md[i]);
    hex += buf;
  }
  return hex;
}

}  // namespace

Status LoadGuardData(const std::string& dir, const Normalizer& normalizer, GuardData* out) {
  GuardData data;
  const fs::path root(dir);
  std::error_code ec;
  if (!fs::is_directory(root, ec)) {
    return Status::NotFound("guard data folder " + dir +
                            " not found (set SAFEGUARD_GUARD_DATA or --guard-data)");
  }
  // Every file read goes into the version digest, in a fixed order.
  std::string digest_input;
  auto add_to_digest = [&](const std::string& rel, const std::string& bytes) {
    digest_input += rel;
    digest_input += '\0';
    digest_input += std::to_string(bytes.size());
    digest_input += '\0';
    digest_input += bytes;
  };

  std::vector<std::string> lines;
  std::string bytes;
  Status s = ReadLines(root / "VERSION", &lines, &bytes);
  if (!s.ok()) return s;
  add_to_digest("VERSION", bytes);
  const std::string declared = lines.empty() ? std::string() : Trim(lines[0]);
  if (declared.empty())
    return Status::InvalidArgument(dir + "/VERSION: empty (write a version name on line 1)");

  std::vector<fs::path> term_files;
  if (fs::is_directory(root / "terms", ec)) {
    for (const auto& entry : fs::directory_iterator(root / "terms", ec)) {
      if (entry.is_regular_file() && entry.path().extension() == ".txt") term_files.push_back(entry.path());
    }
  }
  std::sort(term_files.begin(), term_files.end());
  if (term_files.empty()) return Status::InvalidArgument(dir + "/terms: no CATEGORY.txt term lists");
  for (const fs::path& f : term_files) {
    const std::string category = f.stem().string();
    const std::string rel = "terms/" + f.filename().string();
    s = LoadPatternFile(f, rel, category, normalizer, &data, &bytes);
    if (!s.ok()) return s;
    add_to_digest(rel, bytes);
    data.categories.push_back(category);
  }
  if (fs::exists(root / "benign.txt", ec)) {
    s = LoadPatternFile(root / "benign.txt", "benign.txt", "benign", normalizer, &data, &bytes);
    if (!s.ok()) return s;
    add_to_digest("benign.txt", bytes);
  }

  s = ReadLines(root / "rules.txt", &lines, &bytes);
  if (!s.ok()) return s;
  add_to_digest("rules.txt", bytes);
  std::set<std::string> known(data.categories.begin(), data.categories.end());
  for (const char* ctx : kContextCategories) known.insert(ctx);
  std::set<std::string> names;
  for (size_t n = 0; n < lines.size(); ++n) {
    const std::string line = Trim(lines[n]);
    if (line.empty() || line[0] == '#') continue;
    const std::string source = "rules.txt:" + std::to_string(n + 1);
    std::vector<std::string> words = SplitWords(line);
    if (words.size() < 3) {
      return Status::InvalidArgument(source + ": expected \"NAME DECISION CATEGORY...\", got \"" + line +
                                     "\"");
    }
    Rule r;
    r.name = words[0];
    if (!names.insert(r.name).second)
      return Status::InvalidArgument(source + ": rule \"" + r.name + "\" twice");
    if (words[1].rfind("policy:", 0) == 0) {
      r.policy = words[1].substr(7);
      if (r.policy != "sexual_content") {
        return Status::InvalidArgument(source + ": unknown policy \"" + r.policy +
                                       "\" (known: sexual_content)");
      }
    } else if (!ParseDecision(words[1], &r.decision) || r.decision == Decision::kAllow) {
      return Status::InvalidArgument(source + ": decision \"" + words[1] +
                                     "\" is not one of block, block_review, block_report, policy:NAME");
    }
    for (size_t k = 2; k < words.size(); ++k) {
      if (known.count(words[k]) == 0) {
        return Status::InvalidArgument(source + ": unknown category \"" + words[k] + "\" (no terms/" +
                                       words[k] +
                                       ".txt, and not a context category: photo_edit, face, output_*)");
      }
      r.categories.push_back(words[k]);
    }
    data.rules.push_back(std::move(r));
  }
  if (data.rules.empty()) return Status::InvalidArgument(dir + "/rules.txt: no rules");
  data.version = declared + "/" + Sha256Hex12(digest_input);
  *out = std::move(data);
  return Status::Ok();
}

}  // namespace safeguard::guard
