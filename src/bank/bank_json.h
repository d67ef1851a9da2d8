// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// The JSON shape of a bank and of a match, shared by the CLI's output and the
// HTTP API's answers so the two never drift apart (docs/cli.md,
// docs/openapi.json). Header-only; internal to the programs that print JSON.

#ifndef SAFEGUARD_SRC_BANK_BANK_JSON_H_
#define SAFEGUARD_SRC_BANK_BANK_JSON_H_

#include <cmath>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "safeguard/bank/bank.h"
#include "safeguard/bank/matcher.h"

namespace safeguard::bank {

/// A bank as one JSON object (name, category, distance, enabled, source,
/// signal counts, times).
inline nlohmann::ordered_json BankJson(const Bank& b) {
  nlohmann::ordered_json j;
  j["name"] = b.name;
  j["category"] = std::string(CategoryName(b.category));
  j["distance"] = b.pdq_distance;
  j["enabled"] = b.enabled;
  j["source"] = b.source;
  j["live_signals"] = b.live_signals;
  j["total_signals"] = b.total_signals;
  j["created_at_ms"] = b.created_at_ms;
  j["updated_at_ms"] = b.updated_at_ms;
  return j;
}

/// A hit as one JSON object, with the external id and source list of its
/// signal if `signals` holds it.
inline nlohmann::ordered_json HitJson(const Hit& h, const std::vector<Signal>& signals) {
  nlohmann::ordered_json j;
  j["bank"] = h.bank_name;
  j["category"] = std::string(CategoryName(h.category));
  j["signal_id"] = h.signal_id;
  j["external_id"] = "";
  for (const Signal& s : signals) {
    if (s.id != h.signal_id) continue;
    j["external_id"] = s.external_id;
    j["source_list"] = s.source_list;
    j["source_version"] = s.source_version;
  }
  j["type"] = std::string(SignalTypeName(h.type));
  j["distance"] = h.distance;
  if (h.type == SignalType::kVpdq) {
    // Two decimals: a share of frames, not a measurement.
    j["vpdq_query_percent"] = std::round(h.vpdq_query_percent * 100) / 100;
    j["vpdq_target_percent"] = std::round(h.vpdq_target_percent * 100) / 100;
  } else if (h.type == SignalType::kTmk) {
    j["tmk_level1"] = std::round(static_cast<double>(h.tmk_level1) * 1e6) / 1e6;
    j["tmk_level2"] = std::round(static_cast<double>(h.tmk_level2) * 1e6) / 1e6;
  }
  return j;
}

}  // namespace safeguard::bank

#endif  // SAFEGUARD_SRC_BANK_BANK_JSON_H_
