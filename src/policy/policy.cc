// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.

#include "safeguard/policy/policy.h"

#include <nlohmann/json.hpp>

#include <string>

namespace safeguard::policy {
namespace {

constexpr bank::Category kMatchable[] = {bank::Category::kCsam, bank::Category::kNcii,
                                         bank::Category::kTerrorism, bank::Category::kOther};

Status ParseActions(const nlohmann::json& j, const std::string& key, Actions* out) {
  if (!j.is_array()) {
    return Status::InvalidArgument(
        "policy: " + key + " must be a list of actions (block, quarantine, review, report); [] allows");
  }
  Actions a;
  for (const auto& v : j) {
    const std::string name = v.is_string() ? v.get<std::string>() : v.dump();
    if (name == "block") {
      a.block = true;
    } else if (name == "quarantine") {
      a.quarantine = true;
    } else if (name == "review") {
      a.review = true;
    } else if (name == "report") {
      a.report = true;
    } else {
      return Status::InvalidArgument("policy: " + key + ": unknown action " + name +
                                     " (accepted: block, quarantine, review, report)");
    }
  }
  *out = a;
  return Status::Ok();
}

nlohmann::json ActionsToJson(const Actions& a) {
  nlohmann::json j = nlohmann::json::array();
  if (a.block) j.push_back("block");
  if (a.quarantine) j.push_back("quarantine");
  if (a.review) j.push_back("review");
  if (a.report) j.push_back("report");
  return j;
}

void Combine(const Actions& a, Actions* into) {
  into->block |= a.block;
  into->quarantine |= a.quarantine;
  into->review |= a.review;
  into->report |= a.report;
}

Action Summarise(const Actions& a) {
  if (a.block) return Action::kBlock;
  if (a.quarantine) return Action::kQuarantine;
  if (a.review) return Action::kReview;
  return Action::kAllow;
}

}  // namespace

std::string_view ActionName(Action action) {
  switch (action) {
    case Action::kAllow:
      return "allow";
    case Action::kReview:
      return "review";
    case Action::kQuarantine:
      return "quarantine";
    case Action::kBlock:
      return "block";
  }
  return "allow";
}

Policy DefaultPolicy() {
  Policy p;
  p.on_match[bank::Category::kCsam] = Actions{.block = true, .quarantine = true, .report = true};
  p.on_match[bank::Category::kNcii] = Actions{.block = true, .review = true};
  p.on_match[bank::Category::kTerrorism] = Actions{.block = true, .review = true};
  p.on_match[bank::Category::kOther] = Actions{.review = true};
  return p;
}

Status ParsePolicy(std::string_view json, Policy* policy) {
  nlohmann::json j = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return Status::InvalidArgument("policy: must be a JSON object");
  Policy p = *policy;
  for (const auto& [key, value] : j.items()) {
    if (key == "min_quality") {
      if (!value.is_number_integer() || value.get<int64_t>() < 0 || value.get<int64_t>() > 101) {
        return Status::InvalidArgument(
            "policy: min_quality must be an integer from 0 to 101 (101 disables PDQ)");
      }
      p.min_quality = value.get<int>();
    } else if (key == "dihedral") {
      if (!value.is_boolean()) return Status::InvalidArgument("policy: dihedral must be true or false");
      p.dihedral = value.get<bool>();
    } else if (key == "on_undecodable") {
      Status s = ParseActions(value, "on_undecodable", &p.on_undecodable);
      if (!s.ok()) return s;
    } else if (key == "on_match") {
      if (!value.is_object()) {
        return Status::InvalidArgument("policy: on_match must be an object of category -> actions");
      }
      for (const auto& [name, actions] : value.items()) {
        bank::Category c;
        Status s = bank::ParseCategory(name, &c);
        if (!s.ok()) return Status::InvalidArgument("policy: on_match: " + s.message());
        if (c == bank::Category::kAllow) {
          return Status::InvalidArgument(
              "policy: on_match: allow-list matches always allow; they take no actions");
        }
        s = ParseActions(actions, "on_match." + name, &p.on_match[c]);
        if (!s.ok()) return s;
      }
    } else {
      return Status::InvalidArgument("policy: unknown key " + key +
                                     " (accepted: on_match, on_undecodable, min_quality, dihedral)");
    }
  }
  *policy = std::move(p);
  return Status::Ok();
}

std::string PolicyToJson(const Policy& policy) {
  nlohmann::json j;  // nlohmann's object keeps keys sorted: the dump is canonical
  j["min_quality"] = policy.min_quality;
  j["dihedral"] = policy.dihedral;
  j["on_undecodable"] = ActionsToJson(policy.on_undecodable);
  nlohmann::json m = nlohmann::json::object();
  for (bank::Category c : kMatchable) {
    auto it = policy.on_match.find(c);
    m[std::string(bank::CategoryName(c))] =
        ActionsToJson(it == policy.on_match.end() ? Actions() : it->second);
  }
  j["on_match"] = m;
  return j.dump();
}

Decision Decide(const Policy& policy, const ScanFacts& facts) {
  Decision d;
  d.low_quality = facts.decoded && facts.quality < policy.min_quality;
  const bank::MatchResult* m = facts.matches;
  if (m != nullptr && !m->allowed.empty()) {
    d.reasons.push_back(Reason{.kind = "allow_list", .category = bank::Category::kAllow});
    return d;  // allow-list hits suppress everything, also the undecodable rule
  }
  if (m != nullptr) {
    for (bank::Category c : kMatchable) {
      bool hit = false;
      for (const bank::Hit& h : m->hits) hit |= h.category == c;
      if (!hit) continue;
      auto it = policy.on_match.find(c);
      if (it != policy.on_match.end()) Combine(it->second, &d.actions);
      d.reasons.push_back(Reason{.kind = "match", .category = c});
    }
  }
  if (!facts.decoded) {
    Combine(policy.on_undecodable, &d.actions);
    d.reasons.push_back(Reason{.kind = "undecodable"});
  }
  if (d.reasons.empty()) d.reasons.push_back(Reason{.kind = "no_match"});
  d.action = Summarise(d.actions);
  return d;
}

}  // namespace safeguard::policy
