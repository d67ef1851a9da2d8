// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// The document is built with nlohmann::ordered_json so its keys come out in
// the order docs/reports.md lists them: a person reading a report (or a diff
// of two) finds the fields where the documentation says they are.

#include "safeguard/report/nca_report.h"

#include <arpa/inet.h>

#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>
#include <vector>

#include "common/utf8.h"

namespace safeguard::report {
namespace {

using Json = nlohmann::ordered_json;

constexpr int64_t kMsPerDay = int64_t{24} * 3600 * 1000;

bool IsHex64(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    const bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    if (!hex) return false;
  }
  return true;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool IsIpAddress(const std::string& s) {
  unsigned char buf[16];
  return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

// RFC 3339 in UTC with milliseconds, e.g. "2026-04-07T09:30:00.000Z".
std::string Rfc3339(int64_t ms) {
  const std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char date[32];
  std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
  char millis[8];
  std::snprintf(millis, sizeof millis, ".%03dZ", static_cast<int>(ms % 1000));
  return std::string(date) + millis;
}

Status Invalid(const std::string& field, const std::string& what) {
  return Status::InvalidArgument("NCA report: " + field + " " + what);
}

bool IsKnownMethod(std::string_view m) {
  return m == "hash_match" || m == "classifier" || m == "user_report" || m == "moderator";
}

Status Validate(const NcaReportInput& in) {
  if (in.service_name.empty()) return Invalid("service.name", "is required (the regulated service's name)");
  if (in.content.sha256.empty()) return Invalid("content.sha256", "is required (64 hex digits)");
  if (!IsHex64(in.content.sha256)) return Invalid("content.sha256", "must be 64 hex digits");
  if (in.detection.method.empty()) {
    return Invalid("detection.method", "is required (one of hash_match, classifier, user_report, moderator)");
  }
  if (!IsKnownMethod(in.detection.method)) {
    return Invalid("detection.method", "must be one of hash_match, classifier, user_report, moderator");
  }
  if (in.detection.detected_ms <= 0) {
    return Invalid("detection.detected_at", "is required (ms since the epoch, above 0)");
  }
  if (!in.content.pdq.empty() && !IsHex64(in.content.pdq)) {
    return Invalid("content.pdq", "must be 64 hex digits");
  }
  if (in.content.size < -1) return Invalid("content.size_bytes", "must be 0 or more (-1: unknown)");
  if (!in.content.url.empty() && in.content.url.rfind("http://", 0) != 0 &&
      in.content.url.rfind("https://", 0) != 0) {
    return Invalid("content.url", "must be an http:// or https:// URL");
  }
  if (in.detection.distance < -1 || in.detection.distance > 256) {
    return Invalid("detection.hash_match.distance", "must be 0 to 256 (-1: unknown)");
  }
  if (!in.upload.ip_address.empty() && !IsIpAddress(in.upload.ip_address)) {
    return Invalid("upload.ip_address", "is not an IPv4 or IPv6 address");
  }
  if (in.upload.port < 0 || in.upload.port > 65535) {
    return Invalid("upload.port", "must be 1 to 65535 (0: unknown)");
  }
  if (in.upload.uploaded_ms < 0) return Invalid("upload.uploaded_at", "must not be negative");
  if (in.upload.uploaded_ms > in.detection.detected_ms) {
    return Invalid("upload.uploaded_at", "is after detection.detected_at; check both times");
  }
  if (!in.account.email.empty() && in.account.email.find('@') == std::string::npos) {
    return Invalid("user.email", "is not an email address");
  }
  const std::pair<const char*, const std::string*> texts[] = {
      {"service.name", &in.service_name},
      {"reporter.name", &in.reporter.name},
      {"reporter.contact", &in.reporter.contact},
      {"content.media_type", &in.content.media_type},
      {"content.evidence_item_id", &in.content.evidence_item_id},
      {"content.url", &in.content.url},
      {"detection.hash_match.bank", &in.detection.bank},
      {"detection.hash_match.list_source", &in.detection.list_source},
      {"user.account_id", &in.account.account_id},
      {"user.username", &in.account.username},
      {"user.email", &in.account.email},
      {"moderator_notes", &in.moderator_notes},
  };
  for (const auto& [field, text] : texts) {
    // nlohmann::json throws on invalid UTF-8 when dumping; checking first
    // lets the error name the field instead.
    if (!IsUtf8(*text)) return Invalid(field, "is not valid UTF-8");
  }
  for (const auto& [name, value] : in.content.metadata) {
    if (name.empty() || !IsUtf8(name) || !IsUtf8(value)) {
      return Invalid("content.metadata", "has an empty or non-UTF-8 name or value");
    }
  }
  return Status::Ok();
}

}  // namespace

int NcaPriority(const NcaReportInput& in, const NcaPriorityOptions& options, std::string* reason) {
  auto say = [reason](const char* text) {
    if (reason != nullptr) *reason = text;
  };
  if (in.risk_to_child) {
    say("risk_to_child: there is an indication that a child is at ongoing or imminent risk");
    return 1;
  }
  const bool known_list = in.detection.method == "hash_match";
  if (!known_list && in.detection.moderator_confirmed) {
    say("unmatched_confirmed: matched no known list and a moderator confirmed it; possibly "
        "first-generation material whose child may not yet be identified");
    return 1;
  }
  if (known_list) {
    const bool recent =
        in.upload.uploaded_ms > 0 && in.detection.detected_ms - in.upload.uploaded_ms <=
                                         static_cast<int64_t>(options.recent_upload_days) * kMsPerDay;
    const bool high_reach = in.reach >= 0 && in.reach >= options.high_reach;
    if (recent || high_reach) {
      say(recent ? "known_recent: known-list match uploaded recently; in active circulation"
                 : "known_high_reach: known-list match with high reach; in active circulation");
      return 2;
    }
  }
  say("other: no indication of ongoing risk, recent upload or high reach");
  return 3;
}

Status BuildNcaReport(const NcaReportInput& in, std::string* json, const NcaPriorityOptions& options) {
  json->clear();
  Status s = Validate(in);
  if (!s.ok()) return s;
  std::vector<std::string> missing;
  // Adds `value` under `key` when present; names the field otherwise.
  auto text = [&missing](Json* obj, const char* key, const std::string& value, const std::string& path) {
    if (value.empty()) {
      missing.push_back(path);
    } else {
      (*obj)[key] = value;
    }
  };

  Json doc;
  doc["format"] = "safeguard.nca_report";
  doc["version"] = kNcaReportVersion;
  doc["legal_basis"] =
      "Online Safety Act 2023 s.66; Online Safety (CSEA Content Reporting by Regulated User-to-User "
      "Service Providers) Regulations 2026 (SI 2026/268), Schedule 1";
  doc["service"] = Json{{"name", in.service_name}};

  Json reporter = Json::object();
  text(&reporter, "name", in.reporter.name, "reporter.name");
  text(&reporter, "contact", in.reporter.contact, "reporter.contact");
  doc["reporter"] = std::move(reporter);
  if (in.case_id > 0) {
    doc["case_id"] = in.case_id;
  } else {
    missing.push_back("case_id");
  }

  std::string reason;
  const int priority = NcaPriority(in, options, &reason);
  doc["priority"] = Json{{"level", priority}, {"reason", reason}};

  Json content;
  content["sha256"] = Lower(in.content.sha256);
  if (!in.content.pdq.empty()) {
    content["pdq"] = Lower(in.content.pdq);
  } else {
    missing.push_back("content.pdq");
  }
  text(&content, "media_type", in.content.media_type, "content.media_type");
  if (in.content.size >= 0) {
    content["size_bytes"] = in.content.size;
  } else {
    missing.push_back("content.size_bytes");
  }
  text(&content, "evidence_item_id", in.content.evidence_item_id, "content.evidence_item_id");
  text(&content, "url", in.content.url, "content.url");
  if (in.content.ai_generated.has_value()) {
    content["ai_generated"] = *in.content.ai_generated;
  } else {
    missing.push_back("content.ai_generated");
  }
  if (!in.content.metadata.empty()) {
    Json meta = Json::object();
    for (const auto& [name, value] : in.content.metadata) meta[name] = value;
    content["metadata"] = std::move(meta);
  } else {
    missing.push_back("content.metadata");
  }
  doc["content"] = std::move(content);

  Json detection;
  detection["method"] = in.detection.method;
  detection["detected_at"] = Rfc3339(in.detection.detected_ms);
  detection["moderator_confirmed"] = in.detection.moderator_confirmed;
  if (in.detection.method == "hash_match") {
    Json match = Json::object();
    text(&match, "bank", in.detection.bank, "detection.hash_match.bank");
    text(&match, "list_source", in.detection.list_source, "detection.hash_match.list_source");
    if (in.detection.distance >= 0) {
      match["distance"] = in.detection.distance;
    } else {
      missing.push_back("detection.hash_match.distance");
    }
    detection["hash_match"] = std::move(match);
  }
  doc["detection"] = std::move(detection);

  Json upload = Json::object();
  if (in.upload.uploaded_ms > 0) {
    upload["uploaded_at"] = Rfc3339(in.upload.uploaded_ms);
  } else {
    missing.push_back("upload.uploaded_at");
  }
  text(&upload, "ip_address", in.upload.ip_address, "upload.ip_address");
  if (in.upload.port > 0) {
    upload["port"] = in.upload.port;
  } else {
    missing.push_back("upload.port");
  }
  doc["upload"] = std::move(upload);

  Json user = Json::object();
  text(&user, "account_id", in.account.account_id, "user.account_id");
  text(&user, "username", in.account.username, "user.username");
  text(&user, "email", in.account.email, "user.email");
  doc["user"] = std::move(user);

  if (in.reach >= 0) doc["reach"] = in.reach;
  doc["risk_to_child"] = in.risk_to_child;
  if (!in.moderator_notes.empty()) doc["moderator_notes"] = in.moderator_notes;
  doc["not_available"] = missing;
  *json = doc.dump(2);
  return Status::Ok();
}

}  // namespace safeguard::report
