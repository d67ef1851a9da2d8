// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// How the `safeguard` commands write JSON: one compact object per line,
// fields in insertion order, errors as {"code":…,"message":…}.

#ifndef SAFEGUARD_SRC_CLI_JSON_OUTPUT_H_
#define SAFEGUARD_SRC_CLI_JSON_OUTPUT_H_

#include <nlohmann/json.hpp>
#include <string>

#include "safeguard/common/status.h"
#include "safeguard/hash/pdq.h"

namespace safeguard::cli {

/// Fields keep the order they were set in: the order is part of the output format.
using Json = nlohmann::ordered_json;

/// Returns `j` as one line. Paths are bytes and JSON is UTF-8: invalid
/// sequences become U+FFFD rather than failing the record (docs/cli.md).
inline std::string DumpJson(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

/// Returns `h` as 64 lowercase hex digits, word 15 first.
inline std::string PdqHex(const pdq::Hash256& h) {
  char buf[65];
  h.ToHex(buf);
  return buf;
}

/// Returns the "error" object of a record for a failed `status`.
inline Json ErrorJson(const Status& status) {
  return {{"code", std::string(StatusCodeName(status.code()))}, {"message", status.message()}};
}

}  // namespace safeguard::cli

#endif  // SAFEGUARD_SRC_CLI_JSON_OUTPUT_H_
