// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.

#include "safeguard/exchange/hash_list.h"
#include "text.h"

namespace safeguard::exchange {

std::string_view FormatName(Format format) {
  switch (format) {
    case Format::kAuto:
      return "auto";
    case Format::kCsv:
      return "csv";
    case Format::kJsonl:
      return "jsonl";
    case Format::kPdqList:
      return "pdq";
  }
  return "unknown";
}

bool ParseFormat(std::string_view name, Format* format) {
  for (Format f : {Format::kAuto, Format::kCsv, Format::kJsonl, Format::kPdqList}) {
    if (internal::EqualsIgnoreCase(name, FormatName(f))) {
      *format = f;
      return true;
    }
  }
  if (internal::EqualsIgnoreCase(name, "pdq-list")) {
    *format = Format::kPdqList;
    return true;
  }
  return false;
}

std::string LineError::ToString() const {
  if (line == 0) return message;
  return "line " + std::to_string(line) + ": " + message;
}

}  // namespace safeguard::exchange
