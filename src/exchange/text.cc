// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// These run once or more per line of lists with tens of millions of lines,
// so the hot ones (hex, CSV splitting) work on string_views with memchr and
// lookup tables and allocate nothing on the common path.

#include "text.h"

#include <algorithm>
#include <cstring>

namespace safeguard::exchange::internal {
namespace {

constexpr std::array<int8_t, 256> kHexDigit = [] {
  std::array<int8_t, 256> t{};
  for (auto& v : t) v = -1;
  for (int c = '0'; c <= '9'; ++c) t[c] = static_cast<int8_t>(c - '0');
  for (int c = 'a'; c <= 'f'; ++c) t[c] = static_cast<int8_t>(c - 'a' + 10);
  for (int c = 'A'; c <= 'F'; ++c) t[c] = static_cast<int8_t>(c - 'A' + 10);
  return t;
}();

bool IsBlank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

std::string_view TypeNoun(SignalType type) {
  switch (type) {
    case SignalType::kPdq:
      return "a PDQ hash";
    case SignalType::kMd5:
      return "an MD5";
    case SignalType::kSha256:
      return "a SHA-256";
    case SignalType::kVpdq:
    case SignalType::kTmk:
      // Not list types (ParseSignalType refuses them); named for completeness.
      return "a video signal digest";
  }
  return "a hash";
}

char ToLowerAscii(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

}  // namespace

std::string_view TrimBlanks(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && IsBlank(s[b])) ++b;
  while (e > b && IsBlank(s[e - 1])) --e;
  return s.substr(b, e - b);
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (ToLowerAscii(a[i]) != ToLowerAscii(b[i])) return false;
  }
  return true;
}

bool IsHex(std::string_view s) {
  for (char c : s) {
    if (kHexDigit[static_cast<uint8_t>(c)] < 0) return false;
  }
  return true;
}

bool ParseValue(SignalType type, std::string_view text, std::array<uint8_t, 32>* value, std::string* error) {
  const size_t bytes = SignalValueSize(type);
  const size_t digits = 2 * bytes;
  if (text.empty()) {
    *error = "value is empty: expected " + std::string(TypeNoun(type)) + " of " + std::to_string(digits) +
             " hex digits";
    return false;
  }
  if (text.size() != digits) {
    *error = "value " + Quote(text) + " is not " + std::string(TypeNoun(type)) + ": expected " +
             std::to_string(digits) + " hex digits, got " + std::to_string(text.size());
    // The two lengths in use differ by type, so a length that fits the other
    // kind most likely means a wrong type column rather than a broken hash.
    if (text.size() == 32 && IsHex(text)) {
      *error += " (32 is the length of an MD5: is the type right?)";
    } else if (text.size() == 64 && IsHex(text)) {
      *error += " (64 is the length of a PDQ hash or a SHA-256: is the type right?)";
    }
    return false;
  }
  std::array<uint8_t, 32> v{};
  for (size_t i = 0; i < bytes; ++i) {
    const int hi = kHexDigit[static_cast<uint8_t>(text[2 * i])];
    const int lo = kHexDigit[static_cast<uint8_t>(text[2 * i + 1])];
    if ((hi | lo) < 0) {
      const size_t at = hi < 0 ? 2 * i : 2 * i + 1;
      *error = "value " + Quote(text) + " is not " + std::string(TypeNoun(type)) + ": " +
               Quote(text.substr(at, 1)) + " at position " + std::to_string(at + 1) + " is not a hex digit";
      return false;
    }
    v[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  *value = v;
  return true;
}

bool ParseQuality(std::string_view text, int* quality, std::string* error) {
  if (text.empty()) {
    *quality = -1;
    return true;
  }
  int q = 0;
  bool ok = text.size() <= 3;
  for (size_t i = 0; ok && i < text.size(); ++i) {
    if (text[i] < '0' || text[i] > '9') ok = false;
    q = q * 10 + (text[i] - '0');
  }
  if (!ok || q > 100) {
    *error = "quality " + Quote(text) + " is not an integer from 0 to 100";
    return false;
  }
  *quality = q;
  return true;
}

size_t FindInvalidUtf8(std::string_view s) {
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    const uint8_t c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    uint32_t cp;
    if (c >= 0xc2 && c <= 0xdf) {
      len = 2;
      cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
      len = 3;
      cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      len = 4;
      cp = c & 0x07;
    } else {
      return i;  // continuation byte without a lead, 0xc0/0xc1 (always overlong), or above 0xf4
    }
    if (n - i < len) return i;
    for (size_t k = 1; k < len; ++k) {
      if ((p[i + k] & 0xc0) != 0x80) return i;
      cp = (cp << 6) | (p[i + k] & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff)) {
      return i;
    }
    i += len;
  }
  return std::string_view::npos;
}

std::string Quote(std::string_view s, size_t max_bytes) {
  static const char kDigits[] = "0123456789abcdef";
  std::string out = "'";
  const size_t shown = s.size() <= max_bytes ? s.size() : max_bytes;
  for (size_t i = 0; i < shown; ++i) {
    const auto c = static_cast<uint8_t>(s[i]);
    if (c >= 0x20 && c < 0x7f && c != '\'' && c != '\\') {
      out += static_cast<char>(c);
    } else {
      out += "\\x";
      out += kDigits[c >> 4];
      out += kDigits[c & 15];
    }
  }
  out += shown < s.size() ? "...'" : "'";
  if (shown < s.size()) out += " (" + std::to_string(s.size()) + " bytes)";
  return out;
}

void AppendJsonString(std::string* out, std::string_view s) {
  static const char kDigits[] = "0123456789abcdef";
  out->push_back('"');
  for (char ch : s) {
    const auto c = static_cast<uint8_t>(ch);
    switch (c) {
      case '"':
        *out += "\\\"";
        break;
      case '\\':
        *out += "\\\\";
        break;
      case '\n':
        *out += "\\n";
        break;
      case '\r':
        *out += "\\r";
        break;
      case '\t':
        *out += "\\t";
        break;
      default:
        if (c < 0x20) {
          *out += "\\u00";
          out->push_back(kDigits[c >> 4]);
          out->push_back(kDigits[c & 15]);
        } else {
          out->push_back(ch);
        }
    }
  }
  out->push_back('"');
}

void AppendCsvField(std::string* out, std::string_view field) {
  // Quote whatever the reader would not give back unchanged: separators,
  // quotes and line breaks, blanks it would trim, and a leading '#' that
  // would make a first field look like a comment line.
  const bool quote = !field.empty() && (field.find_first_of(",\"\r\n") != std::string_view::npos ||
                                        IsBlank(field.front()) || IsBlank(field.back()) || field[0] == '#');
  if (!quote) {
    out->append(field);
    return;
  }
  out->push_back('"');
  for (char c : field) {
    if (c == '"') out->push_back('"');
    out->push_back(c);
  }
  out->push_back('"');
}

bool InQuotesAfter(std::string_view line, bool in_quotes) {
  // Most lines of a large list hold no quote at all.
  if (!in_quotes && line.find('"') == std::string_view::npos) return false;
  enum { kFieldStart, kUnquoted, kQuoted, kQuoteInQuoted } state = in_quotes ? kQuoted : kFieldStart;
  for (char c : line) {
    switch (state) {
      case kFieldStart:
        if (c == '"') {
          state = kQuoted;
        } else if (c != ' ' && c != '\t' && c != ',') {
          state = kUnquoted;
        }
        break;
      case kUnquoted:
        if (c == ',') state = kFieldStart;
        break;
      case kQuoted:
        if (c == '"') state = kQuoteInQuoted;
        break;
      case kQuoteInQuoted:  // the quote closed the field, or began a "" pair
        state = c == '"' ? kQuoted : c == ',' ? kFieldStart : kUnquoted;
        break;
    }
  }
  return state == kQuoted;
}

bool SplitCsvRecord(std::string_view record, std::vector<std::string_view>* fields, std::string* scratch,
                    std::string* error) {
  fields->clear();
  scratch->clear();
  // Unescaped text is never longer than the record, so with this reserve the
  // scratch buffer never moves and earlier views into it stay valid.
  scratch->reserve(record.size());
  const size_t n = record.size();
  size_t i = 0;
  while (true) {
    size_t k = i;
    while (k < n && (record[k] == ' ' || record[k] == '\t')) ++k;
    if (k < n && record[k] == '"') {
      const size_t start = scratch->size();
      size_t p = k + 1;
      while (true) {
        const size_t q = record.find('"', p);
        if (q == std::string_view::npos) {
          *error = "field " + std::to_string(fields->size() + 1) + " opens a quote that is never closed";
          return false;
        }
        scratch->append(record.substr(p, q - p));
        if (q + 1 < n && record[q + 1] == '"') {
          scratch->push_back('"');
          p = q + 2;
        } else {
          p = q + 1;
          break;
        }
      }
      fields->push_back(std::string_view(*scratch).substr(start));
      while (p < n && IsBlank(record[p])) ++p;
      if (p == n) return true;
      if (record[p] != ',') {
        *error = "unexpected " + Quote(record.substr(p, 1)) + " after the closing quote of field " +
                 std::to_string(fields->size()) + "; inside a quoted field write a quote as \"\"";
        return false;
      }
      i = p + 1;
      continue;
    }
    const size_t comma = std::min(record.find(',', i), n);
    const std::string_view field = record.substr(i, comma - i);
    if (field.find('"') != std::string_view::npos) {
      *error = "field " + std::to_string(fields->size() + 1) +
               " holds a quote but does not start with one; quote the whole field and double its quotes";
      return false;
    }
    fields->push_back(TrimBlanks(field));
    if (comma == n) return true;
    i = comma + 1;
  }
}

}  // namespace safeguard::exchange::internal
