// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.

#include "safeguard/common/signal_type.h"

namespace safeguard {

std::string_view SignalTypeName(SignalType type) {
  switch (type) {
    case SignalType::kPdq:
      return "pdq";
    case SignalType::kMd5:
      return "md5";
    case SignalType::kSha256:
      return "sha256";
    case SignalType::kVpdq:
      return "vpdq";
    case SignalType::kTmk:
      return "tmk";
  }
  return "pdq";
}

size_t SignalValueSize(SignalType type) { return type == SignalType::kMd5 ? 16 : 32; }

bool SignalHasContent(SignalType type) {
  switch (type) {
    case SignalType::kPdq:
    case SignalType::kMd5:
    case SignalType::kSha256:
      return false;
    case SignalType::kVpdq:
    case SignalType::kTmk:
      return true;
  }
  return false;
}

}  // namespace safeguard
