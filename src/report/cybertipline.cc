// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// Sources for the wire details, in order of authority:
//  1. NCMEC's public documentation, https://report.cybertip.org/ispws/documentation
//     (base URLs, endpoints, basic authentication, multipart "id" + "file"
//     for /upload, <reportResponse>/<reportDoneResponse>, response codes,
//     the 24 h / 1 h expiry of unfinished reports).
//  2. Open-source clients that reproduce the XSD sequence (NCMEC's "Appendix
//     B" for <report>, "Appendix C" for <fileDetails>), notably ROOST's Coop
//     (server/services/ncmecService), which notes that NCMEC rejects
//     out-of-order elements with responseCode 4100. The element order below
//     follows it; GET /xsd is the authority and was not reachable from here.
//  3. Assumed, as those clients do: "id" for /finish and /retract as
//     multipart/form-data; XML bodies as "text/xml; charset=utf-8"; the
//     `type` of <details> as an attribute of <details>.
//
// libcurl is used directly (not src/exchange/http_client.h): the report
// block must not depend on the exchange block, and this client needs
// multipart uploads streamed from the caller's buffer, which that helper
// does not do. Nothing here logs; error messages never carry file bytes,
// the multipart body or credentials.

#include "safeguard/report/cybertipline.h"

#include <curl/curl.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <memory>
#include <mutex>
#include <pugixml.hpp>

#include "common/curl_util.h"
#include "common/utf8.h"
#include "safeguard/hash/digest.h"

namespace safeguard::report {
namespace {

// ---- text checks -------------------------------------------------------------

// XML 1.0 cannot carry most control characters, and pugixml would write
// them unescaped: the document would be refused as a whole.
Status CheckText(std::string_view field, std::string_view value, size_t max_bytes = 3000) {
  if (value.size() > max_bytes) {
    return Status::InvalidArgument("CyberTipline: " + std::string(field) + " is longer than " +
                                   std::to_string(max_bytes) + " bytes");
  }
  if (!IsUtf8(value)) return Status::InvalidArgument("CyberTipline: " + std::string(field) + " is not UTF-8");
  for (char c : value) {
    const auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\t' && c != '\n' && c != '\r') || u == 0x7f) {
      return Status::InvalidArgument("CyberTipline: " + std::string(field) +
                                     " holds a control character XML cannot carry");
    }
  }
  return Status::Ok();
}

bool IsDigits(std::string_view s) {
  if (s.empty() || s.size() > 19) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// xs:dateTime in UTC, e.g. "2026-04-07T09:30:00Z".
std::string XmlTime(int64_t ms) {
  const std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// Text from the other side, safe to put in a message: control characters
// replaced, at most `max` bytes.
std::string Printable(std::string_view s, size_t max = 300) {
  std::string out;
  for (char c : s.substr(0, max)) {
    const auto u = static_cast<unsigned char>(c);
    out.push_back(u < 0x20 || u == 0x7f ? ' ' : c);
  }
  if (s.size() > max) out += "...";
  return out;
}

// A Status of the same code as `s` with another message (Status has no
// public constructor taking a code).
Status WithMessage(const Status& s, std::string message) {
  switch (s.code()) {
    case StatusCode::kOk:
      return Status::Ok();
    case StatusCode::kInvalidArgument:
      return Status::InvalidArgument(std::move(message));
    case StatusCode::kNotFound:
      return Status::NotFound(std::move(message));
    case StatusCode::kIoError:
      return Status::IoError(std::move(message));
    case StatusCode::kUnsupportedFormat:
      return Status::UnsupportedFormat(std::move(message));
    case StatusCode::kCorrupt:
      return Status::Corrupt(std::move(message));
    case StatusCode::kTooLarge:
      return Status::TooLarge(std::move(message));
    case StatusCode::kInternal:
      return Status::Internal(std::move(message));
    case StatusCode::kPermissionDenied:
      return Status::PermissionDenied(std::move(message));
    case StatusCode::kUnavailable:
      return Status::Unavailable(std::move(message));
  }
  return Status::Internal(std::move(message));
}

// ---- XML building ----------------------------------------------------------------

class StringWriter : public pugi::xml_writer {
 public:
  explicit StringWriter(std::string* out) : out_(out) {}
  void write(const void* data, size_t size) override { out_->append(static_cast<const char*>(data), size); }

 private:
  std::string* out_;
};

pugi::xml_document NewDocument() {
  pugi::xml_document doc;
  pugi::xml_node decl = doc.append_child(pugi::node_declaration);
  decl.append_attribute("version") = "1.0";
  decl.append_attribute("encoding") = "UTF-8";
  return doc;
}

std::string Serialise(const pugi::xml_document& doc) {
  std::string out;
  StringWriter writer(&out);
  doc.save(writer, "  ", pugi::format_indent, pugi::encoding_utf8);
  return out;
}

void Add(pugi::xml_node parent, const char* name, const std::string& value) {
  parent.append_child(name).text().set(value.c_str());
}

void AddIfSet(pugi::xml_node parent, const char* name, const std::string& value) {
  if (!value.empty()) Add(parent, name, value);
}

void AddBool(pugi::xml_node parent, const char* name, const std::optional<bool>& value) {
  if (value.has_value()) Add(parent, name, *value ? "true" : "false");
}

bool IsEventName(std::string_view s) {
  return s == "Login" || s == "Registration" || s == "Purchase" || s == "Upload" || s == "Other" ||
         s == "Unknown";
}

Status CheckIpEvent(const std::string& where, const CyberTiplineIpEvent& e) {
  if (e.ip_address.empty()) return Status::InvalidArgument("CyberTipline: " + where + " has no IP address");
  Status s = CheckText(where + ".ipAddress", e.ip_address, 64);
  if (!s.ok()) return s;
  if (!IsEventName(e.event_name)) {
    return Status::InvalidArgument(
        "CyberTipline: " + where +
        ".eventName must be Login, Registration, Purchase, Upload, Other or Unknown");
  }
  if (e.port < 0 || e.port > 65535)
    return Status::InvalidArgument("CyberTipline: " + where + ".port is not 0-65535");
  if (e.time_ms < 0) return Status::InvalidArgument("CyberTipline: " + where + ".dateTime is negative");
  return Status::Ok();
}

// <ipCaptureEvent>: ipAddress, eventName, dateTime, possibleProxy, port.
void AddIpEvent(pugi::xml_node parent, const CyberTiplineIpEvent& e) {
  pugi::xml_node ev = parent.append_child("ipCaptureEvent");
  Add(ev, "ipAddress", e.ip_address);
  Add(ev, "eventName", e.event_name);
  if (e.time_ms > 0) Add(ev, "dateTime", XmlTime(e.time_ms));
  AddBool(ev, "possibleProxy", e.possible_proxy);
  if (e.port > 0) Add(ev, "port", std::to_string(e.port));
}

Status CheckPerson(const std::string& where, const CyberTiplinePerson& p) {
  const std::pair<const char*, const std::string*> fields[] = {
      {"firstName", &p.first_name}, {"lastName", &p.last_name}, {"phone", &p.phone}, {"email", &p.email}};
  for (const auto& [name, value] : fields) {
    Status s = CheckText(where + "." + name, *value, 256);
    if (!s.ok()) return s;
  }
  return Status::Ok();
}

bool PersonEmpty(const CyberTiplinePerson& p) {
  return p.first_name.empty() && p.last_name.empty() && p.phone.empty() && p.email.empty();
}

// A person: firstName, lastName, phone, email.
void AddPerson(pugi::xml_node parent, const char* name, const CyberTiplinePerson& p) {
  pugi::xml_node n = parent.append_child(name);
  AddIfSet(n, "firstName", p.first_name);
  AddIfSet(n, "lastName", p.last_name);
  AddIfSet(n, "phone", p.phone);
  AddIfSet(n, "email", p.email);
}

}  // namespace

Status BuildCyberTiplineReportXml(const CyberTiplineReport& r, int64_t now_ms, std::string* xml) {
  xml->clear();
  if (r.incident_type.empty()) return Status::InvalidArgument("CyberTipline: incidentType is required");
  if (r.incident_ms <= 0) {
    return Status::InvalidArgument("CyberTipline: incidentDateTime is required (ms since the epoch)");
  }
  constexpr int64_t kSkewMs = 5 * 60 * 1000;
  if (r.incident_ms > now_ms + kSkewMs) {
    return Status::InvalidArgument("CyberTipline: incidentDateTime " + XmlTime(r.incident_ms) +
                                   " is in the future; NCMEC refuses such reports");
  }
  if (r.reporting_person.email.empty()) {
    return Status::InvalidArgument("CyberTipline: reporter.reportingPerson.email is required");
  }
  const std::pair<const char*, const std::string*> texts[] = {
      {"incidentType", &r.incident_type},
      {"escalateToHighPriority", &r.escalate_to_high_priority},
      {"webPageIncident.url", &r.web_page_url},
      {"webPageIncident.additionalInfo", &r.web_page_additional_info},
      {"companyTemplate", &r.company_template},
      {"termsOfService", &r.terms_of_service},
      {"legalURL", &r.legal_url},
      {"espIdentifier", &r.esp_identifier},
      {"espService", &r.esp_service},
      {"screenName", &r.screen_name},
      {"personOrUserReportedPerson.email", &r.reported_email},
      {"additionalInfo", &r.additional_info},
  };
  for (const auto& [field, value] : texts) {
    Status s = CheckText(field, *value);
    if (!s.ok()) return s;
  }
  Status s = CheckPerson("reportingPerson", r.reporting_person);
  if (s.ok()) s = CheckPerson("contactPerson", r.contact_person);
  for (size_t i = 0; s.ok() && i < r.reported_ip_events.size(); ++i) {
    s = CheckIpEvent("personOrUserReported.ipCaptureEvent[" + std::to_string(i) + "]",
                     r.reported_ip_events[i]);
  }
  if (!s.ok()) return s;

  pugi::xml_document doc = NewDocument();
  pugi::xml_node report = doc.append_child("report");
  // <incidentSummary>: incidentType, escalateToHighPriority, incidentDateTime.
  pugi::xml_node summary = report.append_child("incidentSummary");
  Add(summary, "incidentType", r.incident_type);
  AddIfSet(summary, "escalateToHighPriority", r.escalate_to_high_priority);
  Add(summary, "incidentDateTime", XmlTime(r.incident_ms));
  // <internetDetails>: exactly one incident kind each; a web page here.
  if (!r.web_page_url.empty() || !r.web_page_additional_info.empty()) {
    pugi::xml_node web = report.append_child("internetDetails").append_child("webPageIncident");
    AddIfSet(web, "url", r.web_page_url);
    AddIfSet(web, "additionalInfo", r.web_page_additional_info);
  }
  // <reporter>: reportingPerson, contactPerson, companyTemplate,
  // termsOfService, legalURL.
  pugi::xml_node reporter = report.append_child("reporter");
  AddPerson(reporter, "reportingPerson", r.reporting_person);
  if (!PersonEmpty(r.contact_person)) AddPerson(reporter, "contactPerson", r.contact_person);
  AddIfSet(reporter, "companyTemplate", r.company_template);
  AddIfSet(reporter, "termsOfService", r.terms_of_service);
  AddIfSet(reporter, "legalURL", r.legal_url);
  // <personOrUserReported>: personOrUserReportedPerson, espIdentifier,
  // espService, screenName, ..., ipCaptureEvent.
  if (!r.esp_identifier.empty() || !r.esp_service.empty() || !r.screen_name.empty() ||
      !r.reported_email.empty() || !r.reported_ip_events.empty()) {
    pugi::xml_node person = report.append_child("personOrUserReported");
    if (!r.reported_email.empty())
      Add(person.append_child("personOrUserReportedPerson"), "email", r.reported_email);
    AddIfSet(person, "espIdentifier", r.esp_identifier);
    AddIfSet(person, "espService", r.esp_service);
    AddIfSet(person, "screenName", r.screen_name);
    for (const CyberTiplineIpEvent& e : r.reported_ip_events) AddIpEvent(person, e);
  }
  AddIfSet(report, "additionalInfo", r.additional_info);
  *xml = Serialise(doc);
  return Status::Ok();
}

Status BuildCyberTiplineFileDetailsXml(const std::string& report_id, const std::string& file_id,
                                       const CyberTiplineFileDetails& d, std::string* xml) {
  xml->clear();
  if (!IsDigits(report_id)) {
    return Status::InvalidArgument("CyberTipline: fileDetails.reportId must be NCMEC's numeric report id");
  }
  if (file_id.empty()) return Status::InvalidArgument("CyberTipline: fileDetails.fileId is required");
  Status s = CheckText("fileDetails.fileId", file_id, 256);
  if (s.ok()) s = CheckText("originalFileName", d.original_file_name, 2056);
  if (s.ok()) s = CheckText("locationOfFile", d.location_of_file, 2083);
  if (!s.ok()) return s;
  if (d.exif_viewed_by_esp.value_or(false) && !d.file_viewed_by_esp.value_or(false)) {
    return Status::InvalidArgument(
        "CyberTipline: fileViewedByEsp must be true when exifViewedByEsp is true (NCMEC's rule)");
  }
  if (!d.file_relevance.empty() && d.file_relevance != "Reported" &&
      d.file_relevance != "Supplemental Reported") {
    return Status::InvalidArgument(
        "CyberTipline: fileRelevance must be \"Reported\" or \"Supplemental Reported\"");
  }
  const std::string& ic = d.industry_classification;
  if (!ic.empty() && ic != "A1" && ic != "A2" && ic != "B1" && ic != "B2") {
    return Status::InvalidArgument("CyberTipline: industryClassification must be A1, A2, B1 or B2");
  }
  if (d.file_relevance == "Supplemental Reported" && (d.potential_meme || !ic.empty())) {
    return Status::InvalidArgument(
        "CyberTipline: a \"Supplemental Reported\" file may not carry a potential-meme tag or an industry "
        "classification (NCMEC's rule)");
  }
  for (const auto& [type, value] : d.original_file_hashes) {
    if (type.empty() || value.empty()) {
      return Status::InvalidArgument("CyberTipline: originalFileHash needs a hash type and a value");
    }
    s = CheckText("originalFileHash", value, 64);
    if (s.ok()) s = CheckText("originalFileHash.hashType", type, 32);
    if (!s.ok()) return s;
  }
  for (size_t i = 0; i < d.ip_events.size(); ++i) {
    s = CheckIpEvent("fileDetails.ipCaptureEvent[" + std::to_string(i) + "]", d.ip_events[i]);
    if (!s.ok()) return s;
  }
  for (const CyberTiplineDetail& det : d.details) {
    if (det.name.empty()) return Status::InvalidArgument("CyberTipline: a details entry has no name");
    if (!det.type.empty() && det.type != "EXIF" && det.type != "HASH") {
      return Status::InvalidArgument("CyberTipline: a details type must be EXIF or HASH");
    }
    s = CheckText("details.name", det.name, 64);
    if (s.ok()) s = CheckText("details.value", det.value);
    if (!s.ok()) return s;
  }
  for (const std::string& info : d.additional_info) {
    s = CheckText("fileDetails.additionalInfo", info);
    if (!s.ok()) return s;
  }

  pugi::xml_document doc = NewDocument();
  pugi::xml_node fd = doc.append_child("fileDetails");
  // The XSD sequence: reportId, fileId, originalFileName, locationOfFile,
  // fileViewedByEsp, exifViewedByEsp, publiclyAvailable, fileRelevance,
  // fileAnnotations, industryClassification, originalFileHash,
  // ipCaptureEvent, deviceId, details, additionalInfo.
  Add(fd, "reportId", report_id);
  Add(fd, "fileId", file_id);
  AddIfSet(fd, "originalFileName", d.original_file_name);
  AddIfSet(fd, "locationOfFile", d.location_of_file);
  AddBool(fd, "fileViewedByEsp", d.file_viewed_by_esp);
  AddBool(fd, "exifViewedByEsp", d.exif_viewed_by_esp);
  AddBool(fd, "publiclyAvailable", d.publicly_available);
  AddIfSet(fd, "fileRelevance", d.file_relevance);
  if (d.potential_meme || d.viral || d.generative_ai) {
    // Empty elements, in the schema's order of the tags modelled here.
    pugi::xml_node tags = fd.append_child("fileAnnotations");
    if (d.potential_meme) tags.append_child("potentialMeme");
    if (d.viral) tags.append_child("viral");
    if (d.generative_ai) tags.append_child("generativeAi");
  }
  AddIfSet(fd, "industryClassification", ic);
  for (const auto& [type, value] : d.original_file_hashes) {
    pugi::xml_node h = fd.append_child("originalFileHash");
    h.append_attribute("hashType") = type.c_str();
    h.text().set(value.c_str());
  }
  for (const CyberTiplineIpEvent& e : d.ip_events) AddIpEvent(fd, e);
  // One <details> per type, holding that type's pairs.
  for (const char* type : {"EXIF", "HASH", ""}) {
    pugi::xml_node group;
    for (const CyberTiplineDetail& det : d.details) {
      if (det.type != type) continue;
      if (!group) {
        group = fd.append_child("details");
        if (*type != '\0') group.append_attribute("type") = type;
      }
      pugi::xml_node pair = group.append_child("nameValuePair");
      Add(pair, "name", det.name);
      Add(pair, "value", det.value);
    }
  }
  for (const std::string& info : d.additional_info) Add(fd, "additionalInfo", info);
  *xml = Serialise(doc);
  return Status::Ok();
}

namespace {

// ---- transport -------------------------------------------------------------------

using curl::GlobalInitOnce;
using curl::MimeDeleter;
using curl::Sink;
using curl::SlistDeleter;
using curl::WriteBody;
using CurlDeleter = curl::EasyDeleter;

// Streams the caller's file into the multipart body without a copy.
struct FileCursor {
  std::span<const uint8_t> bytes;
  size_t offset = 0;
};

size_t ReadFile(char* buffer, size_t size, size_t count, void* arg) {
  auto* cur = static_cast<FileCursor*>(arg);
  const size_t n = std::min(size * count, cur->bytes.size() - cur->offset);
  std::memcpy(buffer, cur->bytes.data() + cur->offset, n);
  cur->offset += n;
  return n;
}

int SeekFile(void* arg, curl_off_t offset, int origin) {
  auto* cur = static_cast<FileCursor*>(arg);
  if (origin != SEEK_SET || offset < 0 || static_cast<size_t>(offset) > cur->bytes.size()) {
    return CURL_SEEKFUNC_CANTSEEK;
  }
  cur->offset = static_cast<size_t>(offset);
  return CURL_SEEKFUNC_OK;
}

// One request. A POST carries either an XML body or a multipart form of
// "id" and, for /upload, "file".
struct Request {
  std::string endpoint;  // "/submit", for messages and the URL
  bool get = false;
  std::string xml;
  bool form = false;
  std::string form_id;
  std::string file_name;
  std::span<const uint8_t> file;
  bool has_file = false;
};

struct Answer {
  int http_status = 0;
  std::string body;
};

// Plain http is allowed only to this machine, where the test doubles live:
// basic credentials and evidence never cross a network in clear.
bool IsLoopbackHttp(std::string_view url) {
  if (url.rfind("http://", 0) != 0) return false;
  std::string_view rest = url.substr(7);
  std::string_view host = rest.substr(0, rest.find('/'));
  if (!host.empty() && host.front() == '[') {
    host = host.substr(0, host.find(']') + 1);
  } else {
    host = host.substr(0, host.find(':'));
  }
  return host == "127.0.0.1" || host == "localhost" || host == "[::1]";
}

Status CheckOptions(const CyberTiplineClient::Options& o) {
  if (o.base_url.rfind("https://", 0) != 0 && !IsLoopbackHttp(o.base_url)) {
    return Status::InvalidArgument("CyberTipline base URL must be https:// (" +
                                   std::string(kCyberTiplineProductionUrl) + ", or the test environment " +
                                   std::string(kCyberTiplineTestUrl) + ")");
  }
  if (o.username.empty() || o.password.empty()) {
    return Status::InvalidArgument("no CyberTipline username or password is set; NCMEC issues both");
  }
  return Status::Ok();
}

Status Perform(const CyberTiplineClient::Options& o, const Request& req, Answer* answer) {
  answer->http_status = 0;
  answer->body.clear();
  Status s = CheckOptions(o);
  if (!s.ok()) return s;
  const std::string where = "CyberTipline " + std::string(req.get ? "GET " : "POST ") + req.endpoint;
  GlobalInitOnce();
  std::unique_ptr<CURL, CurlDeleter> curl(curl_easy_init());
  if (!curl) return Status::Internal("cannot create a curl handle");
  CURL* c = curl.get();

  std::unique_ptr<curl_slist, SlistDeleter> headers;
  auto add_header = [&headers](const char* h) {
    curl_slist* next = curl_slist_append(headers.get(), h);
    if (next == nullptr) return false;
    headers.release();
    headers.reset(next);
    return true;
  };
  // "Expect:" stops curl waiting for a 100-continue some servers never send.
  bool ok = add_header("Accept: application/xml, text/xml") && add_header("Expect:");
  if (ok && !req.get && !req.form) ok = add_header("Content-Type: text/xml; charset=utf-8");
  if (!ok) return Status::Internal("out of memory building HTTP headers");

  std::unique_ptr<curl_mime, MimeDeleter> mime;
  FileCursor cursor{req.file, 0};
  if (req.form) {
    mime.reset(curl_mime_init(c));
    if (!mime) return Status::Internal("cannot create a multipart body");
    curl_mimepart* id = curl_mime_addpart(mime.get());
    curl_mime_name(id, "id");
    curl_mime_data(id, req.form_id.c_str(), CURL_ZERO_TERMINATED);
    if (req.has_file) {
      curl_mimepart* file = curl_mime_addpart(mime.get());
      curl_mime_name(file, "file");
      curl_mime_filename(file, req.file_name.c_str());
      curl_mime_type(file, "application/octet-stream");
      curl_mime_data_cb(file, static_cast<curl_off_t>(req.file.size()), &ReadFile, &SeekFile, nullptr,
                        &cursor);
    }
  }

  char error[CURL_ERROR_SIZE] = {0};
  Sink sink{&answer->body, o.max_response_bytes};
  const std::string url = o.base_url + req.endpoint;
  const long timeout_ms = std::max(1, o.timeout_ms);
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(c, CURLOPT_USERAGENT, "safeguard-report/1");
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &WriteBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(o.max_response_bytes));
  curl_easy_setopt(c, CURLOPT_HTTPAUTH, static_cast<long>(CURLAUTH_BASIC));
  curl_easy_setopt(c, CURLOPT_USERNAME, o.username.c_str());
  curl_easy_setopt(c, CURLOPT_PASSWORD, o.password.c_str());
  if (req.get) {
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
  } else if (req.form) {
    curl_easy_setopt(c, CURLOPT_MIMEPOST, mime.get());
  } else {
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.xml.size()));
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, req.xml.data());
  }

  const CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK) {
    answer->body.clear();
    if (sink.too_large || rc == CURLE_FILESIZE_EXCEEDED) {
      return Status::TooLarge(where + ": the answer is larger than the limit of " +
                              std::to_string(o.max_response_bytes) + " bytes");
    }
    if (rc == CURLE_OPERATION_TIMEDOUT) {
      return Status::Unavailable(where + ": no complete answer within " + std::to_string(timeout_ms) +
                                 " ms (timed out); check the network or raise the timeout");
    }
    // The error buffer names hosts and system errors, never request data.
    const std::string detail = error[0] != 0 ? std::string(error) : std::string(curl_easy_strerror(rc));
    return Status::Unavailable(where + ": " + detail);
  }
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  answer->http_status = static_cast<int>(status);
  return Status::Ok();
}

// ---- answers -----------------------------------------------------------------------

struct Parsed {
  bool xml = false;  // the body was a <reportResponse>/<reportDoneResponse>
  int code = -1;
  std::string description;
  std::string report_id;
  std::string file_id;
  std::string hash;
  std::vector<std::string> file_ids;
};

std::string Trimmed(const pugi::xml_node& n) {
  std::string_view s = n.text().get();
  const auto blank = [](char ch) { return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n'; };
  while (!s.empty() && blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && blank(s.back())) s.remove_suffix(1);
  return std::string(s);
}

// Reads an answer. Returns false (and says why in *why) when the body is not
// one of NCMEC's answer documents with a numeric <responseCode>.
bool ParseAnswer(std::string_view body, Parsed* p, std::string* why) {
  pugi::xml_document doc;
  const pugi::xml_parse_result r =
      doc.load_buffer(body.data(), body.size(), pugi::parse_default, pugi::encoding_auto);
  if (!r) {
    *why = std::string("not XML (") + r.description() + ")";
    return false;
  }
  pugi::xml_node root = doc.document_element();
  const std::string_view name = root.name();
  if (name != "reportResponse" && name != "reportDoneResponse") {
    *why = "the root element is <" + Printable(name, 40) + ">, not <reportResponse> or <reportDoneResponse>";
    return false;
  }
  const std::string code = Trimmed(root.child("responseCode"));
  if (!IsDigits(code) || code.size() > 9) {
    *why = "it has no numeric <responseCode>";
    return false;
  }
  p->xml = true;
  p->code = std::stoi(code);
  p->description = Trimmed(root.child("responseDescription"));
  p->report_id = Trimmed(root.child("reportId"));
  p->file_id = Trimmed(root.child("fileId"));
  p->hash = Trimmed(root.child("hash"));
  for (pugi::xml_node f = root.child("files").child("fileId"); f; f = f.next_sibling("fileId")) {
    p->file_ids.push_back(Trimmed(f));
  }
  return true;
}

Status CodeError(const std::string& where, const Parsed& p) {
  std::string msg = where + ": NCMEC responseCode " + std::to_string(p.code);
  if (!p.description.empty()) msg += " (" + Printable(p.description) + ")";
  switch (p.code) {
    case kCyberTiplineServerError:
      return Status::Unavailable(msg + ": a server error at NCMEC; try again later");
    case kCyberTiplineAuthenticationRequired:
    case kCyberTiplineNotAuthorized:
    case 3100:  // no submission authorization
      return Status::PermissionDenied(msg +
                                      ": check the username and password, and that NCMEC has "
                                      "authorised the account to submit reports");
    case kCyberTiplineValidationFailed:
      return Status::InvalidArgument(msg +
                                     ": the document did not validate against NCMEC's schema (GET /xsd)");
    case kCyberTiplineReportNotFound:
      return Status::NotFound(msg +
                              ": NCMEC has no such open report (unfinished reports are deleted 24 h "
                              "after opening or 1 h after their last change)");
    case kCyberTiplineReportAlreadyFinished:
      return Status::InvalidArgument(msg +
                                     ": the report is already finished and can no longer be changed or "
                                     "retracted");
    default:
      return Status::IoError(msg);
  }
}

// Performs `req` and reads NCMEC's answer into *p. Any answer whose XML says
// responseCode != 0 is an error with NCMEC's code, whatever the HTTP status;
// otherwise a non-2xx status is. `quote_body` allows the start of a
// non-XML error body into the message; never for /upload, where a proxy
// echoing the request would echo the file.
Status Call(const CyberTiplineClient::Options& o, const Request& req, bool quote_body, Parsed* p) {
  *p = Parsed();
  Answer a;
  Status s = Perform(o, req, &a);
  if (!s.ok()) return s;
  const std::string where = "CyberTipline " + std::string(req.get ? "GET " : "POST ") + req.endpoint;
  std::string why;
  const bool parsed = ParseAnswer(a.body, p, &why);
  if (parsed && p->code != kCyberTiplineOk) return CodeError(where, *p);
  const int st = a.http_status;
  if (st < 200 || st > 299) {
    std::string msg = where + " answered HTTP " + std::to_string(st);
    if (st == 401 || st == 403) {
      return Status::PermissionDenied(msg +
                                      ": the credentials were refused; check the username and password");
    }
    if (st >= 300 && st < 400) return Status::IoError(msg + ": a redirect, which is not followed");
    if (quote_body && !a.body.empty()) msg += ": " + Printable(a.body, 200);
    if (st == 429 || st >= 500) return Status::Unavailable(msg + "; try again later");
    return Status::IoError(msg);
  }
  if (!parsed) return Status::Corrupt(where + ": the answer is not NCMEC's answer document: " + why);
  return Status::Ok();
}

int64_t SystemNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Status CheckReportId(const std::string& where, const std::string& report_id) {
  if (!IsDigits(report_id)) {
    return Status::InvalidArgument("CyberTipline " + where + ": report id '" + Printable(report_id, 40) +
                                   "' is not NCMEC's numeric report id");
  }
  return Status::Ok();
}

Status RetractImpl(const CyberTiplineClient::Options& o, const std::string& report_id, int* code) {
  *code = -1;
  Status s = CheckReportId("/retract", report_id);
  if (!s.ok()) return s;
  Request req;
  req.endpoint = "/retract";
  req.form = true;
  req.form_id = report_id;
  Parsed p;
  s = Call(o, req, /*quote_body=*/true, &p);
  if (p.xml) *code = p.code;
  return s;
}

}  // namespace

CyberTiplineClient::CyberTiplineClient(Options options) : options_(std::move(options)) {
  while (!options_.base_url.empty() && options_.base_url.back() == '/') options_.base_url.pop_back();
}

Status CyberTiplineClient::CheckStatus(std::string* description) const {
  if (description != nullptr) description->clear();
  Request req;
  req.endpoint = "/status";
  req.get = true;
  Parsed p;
  Status s = Call(options_, req, /*quote_body=*/true, &p);
  if (!s.ok()) return s;
  if (description != nullptr) *description = Printable(p.description);
  return Status::Ok();
}

Status CyberTiplineClient::Submit(const CyberTiplineReport& report, std::string* report_id) const {
  report_id->clear();
  Request req;
  req.endpoint = "/submit";
  const int64_t now = options_.clock_ms ? options_.clock_ms() : SystemNowMs();
  Status s = BuildCyberTiplineReportXml(report, now, &req.xml);
  if (!s.ok()) return s;
  Parsed p;
  s = Call(options_, req, /*quote_body=*/true, &p);
  if (!s.ok()) return s;
  if (!IsDigits(p.report_id)) {
    return Status::Corrupt("CyberTipline POST /submit: the answer has no numeric <reportId>");
  }
  *report_id = p.report_id;
  return Status::Ok();
}

Status CyberTiplineClient::Upload(const std::string& report_id, const std::string& file_name,
                                  std::span<const uint8_t> bytes, std::string* file_id) const {
  file_id->clear();
  Status s = CheckReportId("/upload", report_id);
  if (!s.ok()) return s;
  if (bytes.empty()) return Status::InvalidArgument("CyberTipline /upload: the file is empty");
  // The name goes into a Content-Disposition header: no quotes, slashes or
  // control characters.
  s = CheckText("upload file name", file_name, 255);
  if (s.ok() && (file_name.empty() || file_name.find_first_of("\"\\/") != std::string::npos)) {
    s = Status::InvalidArgument(
        "CyberTipline /upload: the file name must be non-empty, without quotes or slashes");
  }
  if (!s.ok()) return s;
  Request req;
  req.endpoint = "/upload";
  req.form = true;
  req.form_id = report_id;
  req.has_file = true;
  req.file_name = file_name;
  req.file = bytes;
  Parsed p;
  s = Call(options_, req, /*quote_body=*/false, &p);
  if (!s.ok()) {
    return WithMessage(
        s, s.message() + " (report " + report_id + ", file of " + std::to_string(bytes.size()) + " bytes)");
  }
  if (p.file_id.empty()) return Status::Corrupt("CyberTipline POST /upload: the answer has no <fileId>");
  s = CheckText("fileId", p.file_id, 256);
  if (!s.ok()) return Status::Corrupt("CyberTipline POST /upload: the answer's <fileId> is unusable");
  if (!p.hash.empty()) {
    std::string theirs = p.hash;
    std::transform(theirs.begin(), theirs.end(), theirs.begin(),
                   [](char ch) { return ch >= 'A' && ch <= 'F' ? static_cast<char>(ch - 'A' + 'a') : ch; });
    if (theirs != hash::ToHex(hash::Md5(bytes))) {
      return Status::Corrupt("CyberTipline POST /upload: NCMEC's MD5 of file " + Printable(p.file_id, 64) +
                             " differs from the bytes sent; the file arrived damaged");
    }
  }
  *file_id = p.file_id;
  return Status::Ok();
}

Status CyberTiplineClient::FileInfo(const std::string& report_id, const std::string& file_id,
                                    const CyberTiplineFileDetails& details) const {
  Request req;
  req.endpoint = "/fileinfo";
  Status s = BuildCyberTiplineFileDetailsXml(report_id, file_id, details, &req.xml);
  if (!s.ok()) return s;
  Parsed p;
  return Call(options_, req, /*quote_body=*/true, &p);
}

Status CyberTiplineClient::Finish(const std::string& report_id, std::vector<std::string>* file_ids) const {
  if (file_ids != nullptr) file_ids->clear();
  Status s = CheckReportId("/finish", report_id);
  if (!s.ok()) return s;
  Request req;
  req.endpoint = "/finish";
  req.form = true;
  req.form_id = report_id;
  Parsed p;
  s = Call(options_, req, /*quote_body=*/true, &p);
  if (!s.ok()) return s;
  if (!p.report_id.empty() && p.report_id != report_id) {
    return Status::Corrupt("CyberTipline POST /finish: the answer names report " +
                           Printable(p.report_id, 40) + ", not " + report_id);
  }
  if (file_ids != nullptr) *file_ids = std::move(p.file_ids);
  return Status::Ok();
}

Status CyberTiplineClient::Retract(const std::string& report_id) const {
  int code = -1;
  return RetractImpl(options_, report_id, &code);
}

Status CyberTiplineClient::SendReport(const CyberTiplineReport& report,
                                      const std::vector<CyberTiplineFile>& files,
                                      CyberTiplineResult* result) const {
  *result = CyberTiplineResult();
  std::string report_id;
  Status s = Submit(report, &report_id);
  if (!s.ok()) return s;
  result->report_id = report_id;
  std::vector<std::string> uploaded;
  bool finishing = false;
  for (const CyberTiplineFile& f : files) {
    std::string file_id;
    s = Upload(report_id, f.file_name, f.bytes, &file_id);
    if (!s.ok()) break;
    uploaded.push_back(file_id);
    s = FileInfo(report_id, file_id, f.details);
    if (!s.ok()) break;
  }
  if (s.ok()) {
    finishing = true;
    s = Finish(report_id, &result->file_ids);
    if (s.ok()) return s;
  }
  // A report left open would linger at NCMEC for up to a day; retract it.
  int code = -1;
  Status r = RetractImpl(options_, report_id, &code);
  if (finishing && code == kCyberTiplineReportAlreadyFinished) {
    // Finish's answer was lost but NCMEC finished the report.
    result->file_ids = uploaded;
    return Status::Ok();
  }
  if (r.ok()) {
    result->retracted = true;
    return WithMessage(s, s.message() + "; report " + report_id + " was retracted");
  }
  return WithMessage(s, s.message() + "; retracting report " + report_id + " failed too (" + r.message() +
                            "); NCMEC deletes an unfinished report 1 hour after its last change");
}

}  // namespace safeguard::report
