// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.

#include "safeguard/exchange/entry.h"

#include "text.h"

namespace safeguard::exchange {

bool ParseSignalType(std::string_view name, SignalType* type) {
  // Not kAllSignalTypes: a list line carries a value only, and the video
  // types (vpdq, tmk) are nothing without their content.
  for (SignalType t : {SignalType::kPdq, SignalType::kMd5, SignalType::kSha256}) {
    if (internal::EqualsIgnoreCase(name, SignalTypeName(t))) {
      *type = t;
      return true;
    }
  }
  return false;
}

std::string Entry::ValueHex() const {
  static const char kDigits[] = "0123456789abcdef";
  const size_t n = SignalValueSize(type);
  std::string out(2 * n, '0');
  for (size_t i = 0; i < n; ++i) {
    out[2 * i] = kDigits[value[i] >> 4];
    out[2 * i + 1] = kDigits[value[i] & 15];
  }
  return out;
}

// Hash256's text form puts word 15 first, big-endian within each word, so
// text byte pair (2j, 2j + 1) is word 15 - j.
pdq::Hash256 Entry::PdqHash() const {
  pdq::Hash256 h;
  for (int j = 0; j < 16; ++j) h.w[15 - j] = static_cast<uint16_t>(value[2 * j] << 8 | value[2 * j + 1]);
  return h;
}

Entry Entry::FromPdq(const pdq::Hash256& hash) {
  Entry e;
  e.type = SignalType::kPdq;
  for (int j = 0; j < 16; ++j) {
    e.value[2 * j] = static_cast<uint8_t>(hash.w[15 - j] >> 8);
    e.value[2 * j + 1] = static_cast<uint8_t>(hash.w[15 - j] & 0xff);
  }
  return e;
}

}  // namespace safeguard::exchange
