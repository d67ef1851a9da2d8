// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.

#include <nlohmann/json.hpp>

#include "safeguard/audit/audit_log.h"

namespace safeguard::audit {

std::string RecordToJson(const Record& r) {
  // Field order is part of the export format (docs/audit.md).
  nlohmann::ordered_json j;
  j["v"] = kRecordFormatVersion;
  j["seq"] = r.seq;
  j["time_ms"] = r.time_ms;
  j["time"] = FormatTimeMs(r.time_ms);
  j["actor"] = r.event.actor;
  j["action"] = r.event.action;
  j["subject"] = r.event.subject;
  // Stored details are canonical, so parsing keeps their (sorted) key order
  // and dumping gives back the same bytes. A damaged row's details are
  // exported as the string they are, so the export shows what is there.
  nlohmann::ordered_json details =
      nlohmann::ordered_json::parse(r.event.details_json, nullptr, /*allow_exceptions=*/false);
  if (details.is_discarded()) {
    j["details"] = r.event.details_json;
  } else {
    j["details"] = std::move(details);
  }
  j["prev_hash"] = r.prev_hash;
  j["hash"] = r.hash;
  // A damaged row may hold bytes that are not UTF-8; replace them rather
  // than lose the line.
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

}  // namespace safeguard::audit
