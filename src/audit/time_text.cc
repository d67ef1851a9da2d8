// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// RFC 3339 times for the export filters and the export's "time" field.
// Calendar arithmetic is done here (Howard Hinnant's days-from-civil), not
// with timegm/gmtime, so that it is the same on every C library and has no
// time zone state.

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "safeguard/audit/audit_log.h"

namespace safeguard::audit {
namespace {

constexpr int64_t kMsPerDay = 86400000;

int64_t DaysFromCivil(int64_t y, int64_t m, int64_t d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

void CivilFromDays(int64_t z, int64_t* y, int64_t* m, int64_t* d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp + (mp < 10 ? 3 : -9);
  *y = yoe + era * 400 + (*m <= 2);
}

int DaysInMonth(int64_t y, int64_t m) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : kDays[m - 1];
}

// Reads exactly `n` digits at *pos.
bool Digits(std::string_view s, size_t* pos, size_t n, int64_t* v) {
  if (s.size() - *pos < n) return false;
  *v = 0;
  for (size_t i = 0; i < n; ++i) {
    const char c = s[*pos + i];
    if (c < '0' || c > '9') return false;
    *v = *v * 10 + (c - '0');
  }
  *pos += n;
  return true;
}

bool Expect(std::string_view s, size_t* pos, std::string_view one_of) {
  if (*pos >= s.size() || one_of.find(s[*pos]) == std::string_view::npos) return false;
  ++*pos;
  return true;
}

bool ParseRfc3339(std::string_view s, int64_t* ms) {
  size_t p = 0;
  int64_t y, mo, d, h, mi, sec, frac_ms = 0;
  if (!Digits(s, &p, 4, &y) || !Expect(s, &p, "-") || !Digits(s, &p, 2, &mo) || !Expect(s, &p, "-") ||
      !Digits(s, &p, 2, &d) || !Expect(s, &p, "Tt ") || !Digits(s, &p, 2, &h) || !Expect(s, &p, ":") ||
      !Digits(s, &p, 2, &mi) || !Expect(s, &p, ":") || !Digits(s, &p, 2, &sec)) {
    return false;
  }
  if (mo < 1 || mo > 12 || d < 1 || d > DaysInMonth(y, mo) || h > 23 || mi > 59 || sec > 60) return false;
  if (p < s.size() && s[p] == '.') {
    ++p;
    size_t n = 0;
    int64_t scale = 100;
    while (p < s.size() && s[p] >= '0' && s[p] <= '9') {
      // Digits past milliseconds are dropped (truncated toward the past).
      frac_ms += (s[p] - '0') * scale;
      scale /= 10;
      ++p;
      ++n;
    }
    if (n == 0) return false;
  }
  int64_t offset_min = 0;
  if (Expect(s, &p, "Zz")) {
    // UTC
  } else if (p < s.size() && (s[p] == '+' || s[p] == '-')) {
    const int64_t sign = s[p] == '-' ? -1 : 1;
    ++p;
    int64_t oh, om;
    if (!Digits(s, &p, 2, &oh) || !Expect(s, &p, ":") || !Digits(s, &p, 2, &om) || oh > 23 || om > 59)
      return false;
    offset_min = sign * (oh * 60 + om);
  } else {
    return false;
  }
  if (p != s.size()) return false;
  // A leap second (:60) counts as the first millisecond of the next minute's
  // second 0, as POSIX time has no place for it.
  *ms = DaysFromCivil(y, mo, d) * kMsPerDay + ((h * 60 + mi - offset_min) * 60 + sec) * 1000 + frac_ms;
  return true;
}

}  // namespace

Status ParseTimeMs(std::string_view text, int64_t* ms) {
  const auto bad = [&] {
    return Status::InvalidArgument("time '" + std::string(text) +
                                   "' is neither RFC 3339 (like 2026-11-29T12:00:00Z) nor milliseconds since "
                                   "1970-01-01T00:00:00Z");
  };
  if (text.empty()) return bad();
  size_t i = text[0] == '-' ? 1 : 0;
  if (i < text.size() && text.find_first_not_of("0123456789", i) == std::string_view::npos) {
    if (text.size() - i > 15) return bad();  // beyond any date a log holds, and safe from overflow
    int64_t v = 0;
    for (; i < text.size(); ++i) v = v * 10 + (text[i] - '0');
    *ms = text[0] == '-' ? -v : v;
    return Status::Ok();
  }
  if (!ParseRfc3339(text, ms)) return bad();
  return Status::Ok();
}

std::string FormatTimeMs(int64_t ms) {
  // Floor division, so times before 1970 land on the right day.
  int64_t days = ms / kMsPerDay;
  int64_t rem = ms % kMsPerDay;
  if (rem < 0) {
    rem += kMsPerDay;
    --days;
  }
  int64_t y, m, d;
  CivilFromDays(days, &y, &m, &d);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%04lld-%02lld-%02lldT%02lld:%02lld:%02lld.%03lldZ",
                static_cast<long long>(y), static_cast<long long>(m), static_cast<long long>(d),
                static_cast<long long>(rem / 3600000), static_cast<long long>(rem / 60000 % 60),
                static_cast<long long>(rem / 1000 % 60), static_cast<long long>(rem % 1000));
  return buf;
}

}  // namespace safeguard::audit
