// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// A client for NCMEC's CyberTipline Reporting API (the "ispws" web service),
// through which a US electronic service provider meets its duty to report
// apparent child sexual abuse material (18 U.S.C. 2258A). docs/reports.md
// describes the flow and where each detail comes from.
//
// From NCMEC's public documentation (https://report.cybertip.org/ispws/documentation):
//   base https://report.cybertip.org/ispws (test: https://exttest.cybertip.org/ispws),
//   HTTPS with HTTP basic authentication, and the endpoints
//   GET  /status    check connection and credentials
//   POST /submit    open a report: an XML <report>; answers <reportResponse>
//                   with <responseCode>0</responseCode> and a <reportId>
//   POST /upload    multipart/form-data "id" (report id) and "file"; answers
//                   <reportResponse> with <fileId> and <hash> (MD5)
//   POST /fileinfo  an XML <fileDetails> for an uploaded file
//   POST /finish    "id"; answers <reportDoneResponse> with the report id and
//                   <files><fileId>...</fileId></files>
//   POST /retract   "id"; cancels a report that is not finished
// An unfinished report is deleted by NCMEC 24 hours after it was opened or
// one hour after its last change, whichever is later.
//
// Assumed (not stated in what we could read of the documentation; see
// docs/reports.md): /finish and /retract take "id" as multipart/form-data,
// as the open-source clients we compared do; XML is sent as
// "text/xml; charset=utf-8"; the element order within <report> and
// <fileDetails> follows the XSD sequence as other clients reproduce it.
// GET /xsd has the authoritative schema: check against it before going live.
//
//   CyberTiplineClient client({.base_url = std::string(kCyberTiplineTestUrl),
//                              .username = user, .password = password});
//   CyberTiplineResult result;
//   Status s = client.SendReport(report, files, &result);
//
// Thread-safety: a CyberTiplineClient holds only its options and no
// connection between calls; its const methods may be called from any number
// of threads at once. The builders are pure.

#ifndef SAFEGUARD_REPORT_CYBERTIPLINE_H_
#define SAFEGUARD_REPORT_CYBERTIPLINE_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "safeguard/common/status.h"

namespace safeguard::report {

/// NCMEC's production base URL.
inline constexpr std::string_view kCyberTiplineProductionUrl = "https://report.cybertip.org/ispws";
/// NCMEC's test environment.
inline constexpr std::string_view kCyberTiplineTestUrl = "https://exttest.cybertip.org/ispws";

/// The incident type for apparent child sexual abuse material, spelled as
/// NCMEC's schema spells it.
inline constexpr std::string_view kIncidentTypeCsam =
    "Child Pornography (possession, manufacture, and distribution)";

/// NCMEC's documented response codes (<responseCode>).
inline constexpr int kCyberTiplineOk = 0;
inline constexpr int kCyberTiplineServerError = 1000;
inline constexpr int kCyberTiplineAuthenticationRequired = 2000;
inline constexpr int kCyberTiplineNotAuthorized = 3000;
inline constexpr int kCyberTiplineValidationFailed = 4100;
inline constexpr int kCyberTiplineReportNotFound = 5001;
inline constexpr int kCyberTiplineReportAlreadyFinished = 5102;

/// An IP address seen with an event (<ipCaptureEvent>).
struct CyberTiplineIpEvent {
  /// IPv4 or IPv6 text. Required.
  std::string ip_address;
  /// "Login", "Registration", "Purchase", "Upload", "Other" or "Unknown".
  std::string event_name = "Upload";
  /// When, ms since the epoch; 0 leaves <dateTime> out.
  int64_t time_ms = 0;
  /// Whether the address may be a proxy; unset leaves it out.
  std::optional<bool> possible_proxy;
  /// Source port (1-65535); 0 leaves it out.
  int port = 0;
};

/// A person in the report (<reportingPerson>, <contactPerson>).
struct CyberTiplinePerson {
  std::string first_name;
  std::string last_name;
  std::string phone;
  std::string email;
};

/// The report opened by POST /submit.
struct CyberTiplineReport {
  /// <incidentSummary>: the type (required) and when the incident happened
  /// (required; ms since the epoch, not in the future).
  std::string incident_type = std::string(kIncidentTypeCsam);
  int64_t incident_ms = 0;
  /// Why NCMEC should treat the report as urgent; empty: not escalated.
  std::string escalate_to_high_priority;
  /// <internetDetails><webPageIncident>: where the content was; empty: no
  /// internet details.
  std::string web_page_url;
  std::string web_page_additional_info;
  /// <reporter>: the reporting person (email required) and, optionally, a
  /// different contact person.
  CyberTiplinePerson reporting_person;
  CyberTiplinePerson contact_person;
  std::string company_template;
  std::string terms_of_service;
  std::string legal_url;
  /// <personOrUserReported>: the account that uploaded the content. Left
  /// out entirely when all of these are empty.
  std::string esp_identifier;  ///< the account id on the service
  std::string esp_service;     ///< the product it was used on
  std::string screen_name;     ///< the user name shown
  std::string reported_email;  ///< <personOrUserReportedPerson><email>
  std::vector<CyberTiplineIpEvent> reported_ip_events;
  /// <additionalInfo> of the report: free text.
  std::string additional_info;
};

/// One <details> name/value pair of a file; `type` is "EXIF", "HASH" or
/// empty.
struct CyberTiplineDetail {
  std::string type;
  std::string name;
  std::string value;
};

/// What POST /fileinfo says about an uploaded file (<fileDetails>).
struct CyberTiplineFileDetails {
  /// The file's name on the service when it was uploaded.
  std::string original_file_name;
  /// Where it was (a URL).
  std::string location_of_file;
  /// Whether the provider viewed the whole file / its EXIF; whether it was
  /// publicly available. Unset leaves the element out. NCMEC requires
  /// file_viewed_by_esp to be true when exif_viewed_by_esp is.
  std::optional<bool> file_viewed_by_esp;
  std::optional<bool> exif_viewed_by_esp;
  std::optional<bool> publicly_available;
  /// "Reported" or "Supplemental Reported"; empty leaves it out (NCMEC
  /// takes "Reported").
  std::string file_relevance;
  /// <fileAnnotations> tags NCMEC documents. generative_ai marks content
  /// made or altered with generative AI (<generativeAi/>). Other documented
  /// annotations are not modelled here.
  bool potential_meme = false;
  bool viral = false;
  bool generative_ai = false;
  /// "A1", "A2", "B1", "B2" (NCMEC's industry scale) or empty.
  std::string industry_classification;
  /// <originalFileHash hashType="...">: (hash type, value), e.g.
  /// ("SHA256", hex) or ("PDQ", hex).
  std::vector<std::pair<std::string, std::string>> original_file_hashes;
  /// <ipCaptureEvent>: e.g. the upload.
  std::vector<CyberTiplineIpEvent> ip_events;
  /// <details>: EXIF and other metadata.
  std::vector<CyberTiplineDetail> details;
  /// <additionalInfo>: free text, one element per entry.
  std::vector<std::string> additional_info;
};

/// A file for SendReport: its bytes (not copied; must outlive the call),
/// the name it is uploaded under, and its details.
struct CyberTiplineFile {
  std::string file_name;
  std::span<const uint8_t> bytes;
  CyberTiplineFileDetails details;
};

/// What SendReport achieved.
struct CyberTiplineResult {
  /// NCMEC's report id; set as soon as /submit succeeded (also on failure,
  /// so the caller can record which report was retracted).
  std::string report_id;
  /// The file ids of the finished report, as /finish listed them.
  std::vector<std::string> file_ids;
  /// True when the report was retracted after a failure.
  bool retracted = false;
};

/// Writes the <report> document for POST /submit into *xml. Returns
/// kInvalidArgument naming the field for a missing incident type or time,
/// an incident time more than five minutes after `now_ms` (ms since the
/// epoch), a reporting person without an email, an IP event without an address or
/// with an unknown event name, or text that is not UTF-8 or holds control
/// characters XML cannot carry.
Status BuildCyberTiplineReportXml(const CyberTiplineReport& report, int64_t now_ms, std::string* xml);

/// Writes the <fileDetails> document for POST /fileinfo into *xml. Returns
/// kInvalidArgument for an empty report or file id, a report id that is not
/// a number, an unknown industry classification or file relevance,
/// combinations NCMEC refuses (EXIF viewed but file not viewed;
/// "Supplemental Reported" with a potential-meme tag or a classification),
/// or unusable text.
Status BuildCyberTiplineFileDetailsXml(const std::string& report_id, const std::string& file_id,
                                       const CyberTiplineFileDetails& details, std::string* xml);

/// A CyberTipline Reporting API client. Holds no connection between calls.
///
/// Errors: kUnavailable when no answer came (connection refused, timeout,
/// TLS), for HTTP 429/5xx and for NCMEC's responseCode 1000;
/// kPermissionDenied for HTTP 401/403 and responseCodes 2000/3000/3100
/// ("check username and password"); kInvalidArgument for responseCode 4100
/// (validation failed) and 5102 (already finished); kNotFound for 5001;
/// kCorrupt when the answer is not the expected XML; kTooLarge for an
/// over-large answer. Messages carry NCMEC's responseCode and
/// responseDescription, and never file content or credentials. Redirects
/// are not followed, so credentials never go to another host.
class CyberTiplineClient {
 public:
  /// How to reach NCMEC.
  struct Options {
    /// kCyberTiplineProductionUrl, kCyberTiplineTestUrl, or another https://
    /// URL (http:// only for a server on 127.0.0.1, ::1 or localhost, i.e.
    /// a test double); no trailing slash needed.
    std::string base_url;
    /// HTTP basic authentication, issued by NCMEC. Both required. Never
    /// logged or put in a message.
    std::string username;
    std::string password;
    /// Per request, connect to last byte, in milliseconds (an upload of a
    /// large file must fit too).
    int timeout_ms = 120000;
    /// An answer larger than this fails with kTooLarge (answers are small
    /// XML acknowledgements).
    size_t max_response_bytes = size_t{1} << 20;
    /// Milliseconds since the epoch, for checking that an incident is not
    /// in the future; empty: the system clock.
    std::function<int64_t()> clock_ms;
  };

  explicit CyberTiplineClient(Options options);

  /// GET /status: checks that NCMEC answers and accepts the credentials.
  /// Stores NCMEC's description ("Remote User : ...") in *description (if
  /// not null).
  Status CheckStatus(std::string* description) const;

  /// POST /submit: opens a report and stores NCMEC's report id in
  /// *report_id. `report.incident_ms` must not be in the future (five
  /// minutes of clock skew are allowed): NCMEC refuses such reports.
  Status Submit(const CyberTiplineReport& report, std::string* report_id) const;

  /// POST /upload: adds a file to open report `report_id` and stores its
  /// file id in *file_id. The MD5 NCMEC returns is compared with the bytes
  /// sent: a mismatch is kCorrupt (the file arrived damaged).
  Status Upload(const std::string& report_id, const std::string& file_name, std::span<const uint8_t> bytes,
                std::string* file_id) const;

  /// POST /fileinfo: describes uploaded file `file_id` of `report_id`.
  Status FileInfo(const std::string& report_id, const std::string& file_id,
                  const CyberTiplineFileDetails& details) const;

  /// POST /finish: completes the report; stores the file ids NCMEC lists in
  /// *file_ids (if not null). Once finished a report cannot be changed or
  /// retracted.
  Status Finish(const std::string& report_id, std::vector<std::string>* file_ids) const;

  /// POST /retract: cancels an unfinished report. A finished report gives
  /// kInvalidArgument (responseCode 5102).
  Status Retract(const std::string& report_id) const;

  /// The whole flow: Submit, then Upload and FileInfo for each file, then
  /// Finish. When a step after Submit fails the report is retracted (best
  /// effort) and the step's error returned, saying whether the retraction
  /// worked; result->report_id and result->retracted say which report it
  /// was. If Finish failed but the retraction answers "already finished"
  /// (5102), the report did go through: returns OK with the uploaded file
  /// ids.
  Status SendReport(const CyberTiplineReport& report, const std::vector<CyberTiplineFile>& files,
                    CyberTiplineResult* result) const;

  /// The base URL in use, without a trailing slash.
  const std::string& base_url() const { return options_.base_url; }

 private:
  Options options_;
};

}  // namespace safeguard::report

#endif  // SAFEGUARD_REPORT_CYBERTIPLINE_H_
