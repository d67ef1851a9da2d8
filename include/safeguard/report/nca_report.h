// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// The report a UK provider makes to the National Crime Agency when it finds
// CSEA content (Online Safety Act 2023 s.66; the Online Safety (CSEA Content
// Reporting by Regulated User-to-User Service Providers) Regulations 2026,
// SI 2026/268, Schedule 1), as a JSON document (docs/reports.md).
//
// Safeguard builds the document; it does not send it. The NCA receives
// reports through its own portal or API, whose technical details are not
// public; the provider's authorised person submits what this produces.
// Schedule 1 asks for most items "where available": an item the caller does
// not have is left out and named in the document's "not_available" list, so
// the NCA can tell "not held" from "forgotten".
//
//   NcaReportInput in;
//   in.service_name = "Example Photos";
//   in.content.sha256 = "...64 hex digits...";
//   in.detection.method = "hash_match";
//   in.detection.bank = "ncmec";
//   in.detection.detected_ms = now_ms;
//   std::string json;
//   Status s = BuildNcaReport(in, &json);
//
// Thread-safety: the functions here are pure; call them from any thread.

#ifndef SAFEGUARD_REPORT_NCA_REPORT_H_
#define SAFEGUARD_REPORT_NCA_REPORT_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "safeguard/common/status.h"

namespace safeguard::report {

/// The document's format version: the "version" field. Field names are
/// stable within a version (docs/reports.md lists them).
inline constexpr int kNcaReportVersion = 1;

/// The provider submitting the report (Schedule 1 para 1: the authorised
/// person).
struct NcaReporter {
  /// The person or team, e.g. "Trust & Safety, Example Ltd".
  std::string name;
  /// How the NCA reaches them: an email address or phone number.
  std::string contact;
};

/// The reported content (Schedule 1 para 2: hash values, file details).
struct NcaContent {
  /// SHA-256 of the file, 64 hex digits. Required.
  std::string sha256;
  /// PDQ hash, 64 hex digits; empty if not computed (video, non-image).
  std::string pdq;
  /// The media type as stored, e.g. "image/jpeg"; empty if unknown.
  std::string media_type;
  /// Bytes; -1 if unknown.
  int64_t size = -1;
  /// The evidence store item that holds the preserved copy ("ev_..."),
  /// empty if none (see include/safeguard/report/evidence_store.h).
  std::string evidence_item_id;
  /// Where the content was on the service (http:// or https://); empty if
  /// it had no address.
  std::string url;
  /// Whether the content is believed to be AI-generated; unset if unknown.
  std::optional<bool> ai_generated;
  /// EXIF and other embedded metadata, name to value, as read from the file.
  std::map<std::string, std::string> metadata;
};

/// How the content was found. `method` is one of:
///   "hash_match"  — matched a hash list (bank, list_source, distance apply)
///   "classifier"  — flagged by an image classifier
///   "user_report" — reported by a user
///   "moderator"   — found by a moderator
struct NcaDetection {
  /// Required; one of the four names above.
  std::string method;
  /// For "hash_match": the Safeguard bank that matched, e.g. "ncmec-csam".
  std::string bank;
  /// For "hash_match": where the bank's list came from, e.g. "NCMEC hash
  /// sharing", "IWF".
  std::string list_source;
  /// For "hash_match": Hamming distance of the PDQ match (0 for an exact
  /// digest match); -1 if unknown.
  int distance = -1;
  /// A moderator looked at the content and confirmed it.
  bool moderator_confirmed = false;
  /// When the provider detected it, ms since the epoch. Required.
  int64_t detected_ms = 0;
};

/// The upload of the content (Schedule 1 para 2: date and time, IP address
/// and port number of the upload).
struct NcaUpload {
  /// When it was uploaded, ms since the epoch; 0 if unknown.
  int64_t uploaded_ms = 0;
  /// The uploader's IP address (IPv4 or IPv6 text); empty if unknown.
  std::string ip_address;
  /// The uploader's source port (1-65535); 0 if unknown.
  int port = 0;
};

/// The user account that uploaded the content (Schedule 1 para 4).
struct NcaAccount {
  /// The service's id of the account.
  std::string account_id;
  /// The name shown on the service.
  std::string username;
  /// The email address the account registered with; optional.
  std::string email;
};

/// Everything BuildNcaReport needs. Only service_name, content.sha256,
/// detection.method and detection.detected_ms are required.
struct NcaReportInput {
  /// The regulated service (platform) the content was on. Required.
  std::string service_name;
  NcaReporter reporter;
  /// Safeguard's case id (include/safeguard/cases/case_store.h); 0 if none.
  int64_t case_id = 0;
  NcaContent content;
  NcaDetection detection;
  NcaUpload upload;
  NcaAccount account;
  /// Set when there is any indication that a child is at ongoing or
  /// imminent risk (a moderator's judgement, a report saying so). Decides
  /// priority 1 (see NcaPriority).
  bool risk_to_child = false;
  /// Views plus shares as the platform counts them; -1 if unknown.
  int64_t reach = -1;
  /// Free text from the moderator: what they saw around the content, never
  /// a description of the content itself beyond what the NCA needs.
  std::string moderator_notes;
};

/// The thresholds of the priority rule.
struct NcaPriorityOptions {
  /// A known-list match uploaded at most this many days before it was
  /// detected is "recent" (priority 2).
  int recent_upload_days = 7;
  /// A known-list match seen or shared at least this many times is "high
  /// reach" (priority 2).
  int64_t high_reach = 1000;
};

/// The priority Safeguard proposes for a report, 1 (most urgent) to 3.
///
/// The NCA's priority categories are about the urgency of risk to a child;
/// the provider assesses it and the NCA may change it. The rule, in order:
///   1 — `risk_to_child` is set; or the content matched no known list
///       (method "classifier", "user_report" or "moderator") and a
///       moderator confirmed it: possibly first-generation material, whose
///       child may not yet be identified or safe.
///   2 — a known-list match ("hash_match") uploaded within
///       `recent_upload_days` of detection, or with reach >= `high_reach`:
///       known material in active circulation.
///   3 — anything else (an older known-list match with low or unknown
///       reach; an unconfirmed classifier hit or user report).
/// Stores a one-line explanation in *reason (if not null).
int NcaPriority(const NcaReportInput& input, const NcaPriorityOptions& options, std::string* reason);

/// Builds the report document (JSON, UTF-8, docs/reports.md) in *json.
///
/// Returns kInvalidArgument naming the field when a required field is
/// missing (service_name, content.sha256, detection.method,
/// detection.detected_ms) or a given field is malformed (a hash that is not
/// 64 hex digits, an unknown method, an IP address that does not parse, a
/// port outside 1-65535, a URL that is not http(s), an upload after the
/// detection, text that is not UTF-8). Optional fields that are absent are
/// listed in "not_available". *json is cleared on error.
Status BuildNcaReport(const NcaReportInput& input, std::string* json,
                      const NcaPriorityOptions& options = NcaPriorityOptions());

}  // namespace safeguard::report

#endif  // SAFEGUARD_REPORT_NCA_REPORT_H_
