// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.

#include "guard_eval.h"

#include <cctype>
#include <fstream>
#include <map>
#include <sstream>

namespace safeguard::testing {
namespace {

std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r");
  size_t e = s.find_last_not_of(" \t\r");
  return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

// UTF-8 <-> code points, for the evasions (test inputs are valid UTF-8).
std::vector<char32_t> Decode(const std::string& s) {
  std::vector<char32_t> out;
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    int n = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    char32_t cp = n == 1 ? c : n == 2 ? c & 0x1F : n == 3 ? c & 0x0F : c & 0x07;
    for (int k = 1; k < n && i + static_cast<size_t>(k) < s.size(); ++k) {
      cp = (cp << 6) | (static_cast<unsigned char>(s[i + static_cast<size_t>(k)]) & 0x3F);
    }
    out.push_back(cp);
    i += static_cast<size_t>(n);
  }
  return out;
}

void Append(char32_t c, std::string* out) {
  if (c < 0x80) {
    out->push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (c >> 6)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (c >> 12)));
    out->push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (c >> 18)));
    out->push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
}

std::string Encode(const std::vector<char32_t>& cps) {
  std::string out;
  for (char32_t c : cps) Append(c, &out);
  return out;
}

bool IsVowel(char32_t c) { return c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u'; }

// Maps each letter through `table` (missing: unchanged).
std::string MapLetters(const std::string& word, const std::map<char32_t, char32_t>& table) {
  std::vector<char32_t> cps = Decode(word);
  for (char32_t& c : cps) {
    auto it = table.find(c);
    if (it != table.end()) c = it->second;
  }
  return Encode(cps);
}

// Puts `sep` between the letters of each word of `phrase`.
std::string Interleave(const std::string& phrase, const std::string& sep) {
  std::string out;
  std::vector<char32_t> cps = Decode(phrase);
  for (size_t i = 0; i < cps.size(); ++i) {
    Append(cps[i], &out);
    if (i + 1 < cps.size() && cps[i] != ' ' && cps[i + 1] != ' ') out += sep;
  }
  return out;
}

}  // namespace

const std::vector<std::string>& EvasionNames() {
  // The evasions "any" rotates through: all are undone by the normaliser.
  static const std::vector<std::string> names = {
      "none",   "upper",     "mixedcase", "leet",    "leet1",  "symbols", "spaced",
      "dotted", "dashed",    "under",     "zw",      "zwj",    "shy",     "cyrillic",
      "greek",  "fullwidth", "math",      "circled", "repeat", "accents", "precomposed"};
  return names;
}

std::string Evade(const std::string& word, const std::string& name, int seed) {
  if (name == "none") return word;
  if (name == "upper" || name == "mixedcase") {
    std::string out = word;
    int k = seed;
    for (char& c : out) {
      if (c >= 'a' && c <= 'z' && (name == "upper" || (k++ % 2) == 0)) c = static_cast<char>(c - 'a' + 'A');
    }
    return out;
  }
  if (name == "leet")
    return MapLetters(word, {{'a', '4'}, {'e', '3'}, {'i', '1'}, {'o', '0'}, {'s', '5'}, {'t', '7'}});
  if (name == "leet1") {
    // One letter only, chosen by seed.
    std::vector<char32_t> cps = Decode(word);
    const std::map<char32_t, char32_t> t = {{'a', '4'}, {'e', '3'}, {'i', '1'},
                                            {'o', '0'}, {'s', '5'}, {'t', '7'}};
    std::vector<size_t> at;
    for (size_t i = 0; i < cps.size(); ++i)
      if (t.count(cps[i])) at.push_back(i);
    if (!at.empty()) {
      const size_t i = at[static_cast<size_t>(seed) % at.size()];
      cps[i] = t.at(cps[i]);
    }
    return Encode(cps);
  }
  if (name == "symbols") return MapLetters(word, {{'a', '@'}, {'s', '$'}, {'i', '!'}});
  if (name == "spaced") return Interleave(word, " ");
  if (name == "dotted") return Interleave(word, ".");
  if (name == "dashed") return Interleave(word, "-");
  if (name == "under") return Interleave(word, "_");
  if (name == "zw") return Interleave(word, "\u200B");
  if (name == "zwj") return Interleave(word, "\u200D");
  if (name == "shy") return Interleave(word, "\u00AD");
  if (name == "cyrillic") {
    return MapLetters(word, {{'a', U'\u0430'},
                             {'c', U'\u0441'},
                             {'e', U'\u0435'},
                             {'o', U'\u043E'},
                             {'p', U'\u0440'},
                             {'x', U'\u0445'},
                             {'y', U'\u0443'},
                             {'i', U'\u0456'},
                             {'s', U'\u0455'},
                             {'j', U'\u0458'},
                             {'h', U'\u04BB'}});
  }
  if (name == "greek") {
    return MapLetters(
        word, {{'o', U'\u03BF'}, {'v', U'\u03BD'}, {'i', U'\u03B9'}, {'k', U'\u03BA'}, {'u', U'\u03C5'}});
  }
  if (name == "fullwidth" || name == "math" || name == "circled") {
    const char32_t base = name == "fullwidth" ? 0xFF41 : name == "math" ? 0x1D41A : 0x24D0;
    std::map<char32_t, char32_t> t;
    for (char32_t c = 'a'; c <= 'z'; ++c) t[c] = base + (c - 'a');
    return MapLetters(word, t);
  }
  if (name == "repeat") {
    std::string out;
    for (char32_t c : Decode(word)) {
      Append(c, &out);
      if (IsVowel(c)) {
        Append(c, &out);
        Append(c, &out);
      }
    }
    return out;
  }
  if (name == "accents") {
    std::string out;
    for (char32_t c : Decode(word)) {
      Append(c, &out);
      if (IsVowel(c)) Append(0x0301, &out);
    }
    return out;
  }
  if (name == "precomposed") {
    return MapLetters(
        word, {{'a', U'\u00E1'}, {'e', U'\u00E9'}, {'i', U'\u00ED'}, {'o', U'\u00F3'}, {'u', U'\u00FA'}});
  }
  // Evasions the normaliser does not undo, named only explicitly in the
  // templates so the set measures them honestly.
  if (name == "split") {
    std::vector<char32_t> cps = Decode(word);
    if (cps.size() >= 4) cps.insert(cps.begin() + static_cast<long>(cps.size() / 2), ' ');
    return Encode(cps);
  }
  if (name == "star") {
    std::vector<char32_t> cps = Decode(word);
    for (char32_t& c : cps) {
      if (IsVowel(c)) {
        c = '*';
        break;
      }
    }
    return Encode(cps);
  }
  return word;
}

Status LoadBenign(const std::string& path, std::vector<BenignPrompt>* out) {
  std::ifstream in(path);
  if (!in) return Status::IoError("cannot read " + path);
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (line.empty() || line[0] == '#') continue;
    out->push_back({line, n});
  }
  return Status::Ok();
}

Status LoadSlotWords(const std::string& data_dir, const std::string& category, const std::string& lang,
                     std::vector<SlotWord>* out) {
  const std::string rel = "terms/" + category + ".txt";
  std::ifstream in(data_dir + "/" + rel);
  if (!in) return Status::IoError("cannot read " + data_dir + "/" + rel);
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    line = Trim(line);
    if (line.empty() || line[0] == '#') continue;
    const size_t space = line.find(' ');
    if (space == std::string::npos) continue;
    if (!lang.empty() && line.substr(0, space) != lang) continue;
    const std::string pattern = line.substr(space + 1);
    if (pattern.find_first_of("0123456789[") != std::string::npos) continue;
    // Up to three phrases: alternative (v mod count) of every group.
    for (int v = 0; v < 3; ++v) {
      std::string phrase;
      bool varied = false;
      std::istringstream words(pattern);
      std::string w;
      while (words >> w) {
        if (!phrase.empty()) phrase += ' ';
        if (w == "*") {
          phrase += "the";
          continue;
        }
        std::string out_word;
        for (size_t i = 0; i < w.size();) {
          if (w[i] == '*') {
            ++i;
          } else if (w[i] == '(') {
            const size_t close = w.find(')', i);
            std::vector<std::string> alts;
            std::string inside = w.substr(i + 1, close - i - 1);
            std::istringstream split(inside);
            std::string a;
            while (std::getline(split, a, '|')) alts.push_back(a);
            if (alts.size() > 1) varied = true;
            out_word += alts[static_cast<size_t>(v) % alts.size()];
            i = close + 1;
          } else {
            out_word += w[i++];
          }
        }
        phrase += out_word;
      }
      out->push_back({phrase, rel + ":" + std::to_string(n)});
      if (!varied) break;
    }
  }
  return Status::Ok();
}

namespace {

// Ages under 18 as people write them, per language.
std::vector<SlotWord> AgeWords(const std::string& lang) {
  std::vector<SlotWord> out;
  const char* words[] = {"six",    "seven",    "eight",    "nine",    "ten",     "eleven",
                         "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen"};
  for (int age = 6; age <= 17; ++age) {
    const std::string a = std::to_string(age);
    if (lang.empty() || lang == "en") {
      out.push_back({a + " year old", "age"});
      out.push_back({a + "yo", "age"});
      out.push_back({std::string(words[age - 6]) + "-year-old", "age"});
      out.push_back({a + " y/o", "age"});
      out.push_back({"aged " + a, "age"});
    } else if (lang == "fr") {
      out.push_back({a + " ans", "age"});
    } else if (lang == "de") {
      out.push_back({a + " Jahre", "age"});
      out.push_back({a + "-jährige", "age"});
    } else if (lang == "es") {
      out.push_back({a + " años", "age"});
    } else if (lang == "it") {
      out.push_back({a + " anni", "age"});
    } else if (lang == "pt") {
      out.push_back({a + " anos", "age"});
    } else if (lang == "pl") {
      out.push_back({a + " lat", "age"});
      out.push_back({a + "-latka", "age"});
    } else if (lang == "ru") {
      out.push_back({a + " лет", "age"});
    }
  }
  return out;
}

}  // namespace

Status ExpandAdversarial(const std::string& data_dir, int fills, std::vector<AdversarialPrompt>* out,
                         int* templates) {
  const std::string path = data_dir + "/eval/adversarial.txt";
  std::ifstream in(path);
  if (!in) return Status::IoError("cannot read " + path);
  std::map<std::string, std::vector<SlotWord>> cache;
  std::string line;
  int n = 0;
  *templates = 0;
  const auto& rotation = EvasionNames();
  while (std::getline(in, line)) {
    ++n;
    line = Trim(line);
    if (line.empty() || line[0] == '#') continue;
    std::istringstream head(line);
    std::string expect;
    head >> expect;
    AdversarialPrompt base;
    if (!guard::ParseDecision(expect, &base.expected) || base.expected == guard::Decision::kAllow) {
      return Status::InvalidArgument(path + ":" + std::to_string(n) + ": expected decision first, got " +
                                     expect);
    }
    std::string rest = Trim(line.substr(expect.size()));
    while (rest.rfind("@edit ", 0) == 0 || rest.rfind("@face ", 0) == 0) {
      (rest[1] == 'e' ? base.context.photo_edit : base.context.input_has_face) = true;
      rest = Trim(rest.substr(6));
    }
    ++*templates;
    for (int fill = 0; fill < fills; ++fill) {
      AdversarialPrompt p = base;
      std::string text;
      std::string sources;
      std::string evasions;
      int slot_index = 0;
      for (size_t i = 0; i < rest.size();) {
        if (rest[i] != '{') {
          text += rest[i++];
          continue;
        }
        const size_t close = rest.find('}', i);
        if (close == std::string::npos) {
          return Status::InvalidArgument(path + ":" + std::to_string(n) + ": '{' without '}'");
        }
        std::string slot = rest.substr(i + 1, close - i - 1);
        i = close + 1;
        std::string evasion = "none";
        if (size_t bar = slot.find('|'); bar != std::string::npos) {
          evasion = slot.substr(bar + 1);
          slot = slot.substr(0, bar);
        }
        std::string lang;
        if (size_t at = slot.find('@'); at != std::string::npos) {
          lang = slot.substr(at + 1);
          slot = slot.substr(0, at);
        }
        const std::string key = slot + "@" + lang;
        if (cache.count(key) == 0) {
          std::vector<SlotWord> words;
          if (slot == "age") {
            words = AgeWords(lang);
          } else {
            Status s = LoadSlotWords(data_dir, slot, lang, &words);
            if (!s.ok()) return s;
          }
          if (words.empty()) {
            return Status::InvalidArgument(path + ":" + std::to_string(n) + ": no words for slot {" + key +
                                           "}");
          }
          cache[key] = std::move(words);
        }
        const auto& words = cache[key];
        // Successive fills of a template, and successive templates, walk
        // through the category's words.
        const size_t pick = (static_cast<size_t>(n) * 7 + static_cast<size_t>(fill) * 13 +
                             static_cast<size_t>(slot_index) * 3) %
                            words.size();
        if (evasion == "any")
          evasion = rotation[(static_cast<size_t>(n) + static_cast<size_t>(fill)) % rotation.size()];
        text += Evade(words[pick].text, evasion, n + fill);
        sources += (sources.empty() ? "" : " ") + words[pick].source;
        evasions += (evasions.empty() ? "" : ",") + evasion;
        ++slot_index;
      }
      p.text = text;
      p.evasions = evasions;
      p.label = "adversarial.txt:" + std::to_string(n) + " #" + std::to_string(fill) + " (" + sources + "; " +
                evasions + ")";
      out->push_back(std::move(p));
    }
  }
  return Status::Ok();
}

}  // namespace safeguard::testing
