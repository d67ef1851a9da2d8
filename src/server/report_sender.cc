// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// Reports of confirmed CSAM (docs/reports.md). A senior moderator's
// `confirm` of a reportable case records one pending report per configured
// destination in the report ledger, in the same transaction as the action;
// the reporter thread then builds and sends them:
//
//   nca    the Schedule 1 document (BuildNcaReport), written to the NCA
//          folder for the provider's authorised person to submit (the NCA's
//          channel is not public); "sent" means written there
//   ncmec  the CyberTipline flow (submit, upload, fileinfo, finish), with
//          the evidence item as the file
//
// Content already reported to NCMEC is not reported to the NCA again (the
// UK regulations exempt it); content is never reported twice to one place.
// A destination that does not answer is tried again after reports.retry_s;
// one that refuses the report marks it failed, with the reason, for a
// person to look at.

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "common/sqlite.h"
#include "route_util.h"
#include "safeguard/audit/audit_log.h"
#include "safeguard/report/cybertipline.h"
#include "safeguard/report/nca_report.h"
#include "service.h"

namespace safeguard::server {

namespace {

// What a report is made from: the case, its details and its first item of
// evidence.
struct ReportSource {
  cases::Case c;
  nlohmann::json details;
  report::EvidenceItem item;
  bool has_item = false;
};

std::string Text(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// The content's SHA-256: the evidence item's, else the case details'.
std::string ContentSha256(const ReportSource& src) {
  if (src.has_item) return src.item.sha256;
  std::string s = Text(src.details, "sha256");
  return s.empty() ? Text(src.details, "image_sha256") : s;
}

report::NcaReportInput NcaInputOf(const ServerConfig& config, const ReportSource& src) {
  report::NcaReportInput in;
  in.service_name = config.reports_service_name;
  in.reporter.name = config.reports_reporter_name;
  in.reporter.contact =
      config.reports_reporter_email.empty() ? config.reports_reporter_phone : config.reports_reporter_email;
  in.case_id = src.c.id;
  in.content.sha256 = ContentSha256(src);
  in.content.pdq = Text(src.details, "pdq");
  if (src.has_item) {
    in.content.media_type = src.item.media_type;
    in.content.size = src.item.size;
    in.content.evidence_item_id = src.item.id;
  }
  const nlohmann::json upload = src.details.value("upload", nlohmann::json::object());
  in.content.url = Text(upload, "url");
  const bool generated = src.c.fields.source == cases::Source::kGuard;
  if (generated) in.content.ai_generated = true;
  // How it was found: the closest list match, else the guard's classifier.
  const nlohmann::json matches = src.details.value("matches", nlohmann::json::array());
  if (!matches.empty() && matches.is_array()) {
    const nlohmann::json& m = matches[0];
    in.detection.method = "hash_match";
    in.detection.bank = Text(m, "bank");
    in.detection.list_source = Text(m, "source_list");
    in.detection.distance = m.value("distance", -1);
  } else {
    in.detection.method = generated ? "classifier" : "moderator";
  }
  in.detection.moderator_confirmed = true;
  in.detection.detected_ms = src.c.created_ms;
  int64_t uploaded = 0;
  if (!Text(upload, "uploaded_at").empty()) (void)audit::ParseTimeMs(Text(upload, "uploaded_at"), &uploaded);
  in.upload.uploaded_ms = std::min(uploaded, in.detection.detected_ms);
  in.upload.ip_address = Text(upload, "uploader_ip");
  in.upload.port = upload.value("uploader_port", 0);
  in.account.account_id = src.c.fields.account_id;
  in.reach = src.c.fields.reach;
  return in;
}

report::CyberTiplineReport NcmecReportOf(const ServerConfig& config, const ReportSource& src) {
  report::CyberTiplineReport r;
  const nlohmann::json upload = src.details.value("upload", nlohmann::json::object());
  int64_t when = src.c.created_ms;
  int64_t uploaded = 0;
  if (!Text(upload, "uploaded_at").empty() &&
      audit::ParseTimeMs(Text(upload, "uploaded_at"), &uploaded).ok()) {
    when = std::min(when, uploaded);
  }
  r.incident_ms = when;
  r.web_page_url = Text(upload, "url");
  const std::string& name = config.reports_reporter_name;
  const size_t space = name.find(' ');
  r.reporting_person.first_name = name.substr(0, space);
  if (space != std::string::npos) r.reporting_person.last_name = name.substr(space + 1);
  r.reporting_person.email = config.reports_reporter_email;
  r.reporting_person.phone = config.reports_reporter_phone;
  r.esp_identifier = src.c.fields.account_id;
  r.esp_service = config.reports_service_name;
  if (!Text(upload, "uploader_ip").empty()) {
    report::CyberTiplineIpEvent e;
    e.ip_address = Text(upload, "uploader_ip");
    e.event_name = "Upload";
    e.time_ms = uploaded;
    e.port = upload.value("uploader_port", 0);
    r.reported_ip_events.push_back(e);
  }
  r.additional_info = "Safeguard case " + std::to_string(src.c.id) + " (" +
                      std::string(cases::SourceName(src.c.fields.source)) + "), confirmed by a moderator.";
  return r;
}

}  // namespace

bool Service::Reportable(const cases::Case& c) {
  return !config_.reports_destinations.empty() &&
         (c.fields.category == "csam" ||
          (c.fields.source == cases::Source::kGuard && c.fields.severity == 1));
}

Status Service::QueueReportsLocked(const cases::Case& c, nlohmann::ordered_json* effect) {
  std::vector<report::EvidenceItem> items;
  Status s = evidence_->List(c.id, &items);
  if (!s.ok()) return s;
  ReportSource src;
  src.c = c;
  src.details = nlohmann::json::parse(c.fields.details_json, nullptr, false);
  if (src.details.is_discarded()) src.details = nlohmann::json::object();
  for (const report::EvidenceItem& it : items) {
    if (it.media_type.rfind("image/", 0) == 0 || it.media_type.rfind("video/", 0) == 0) {
      src.item = it;
      src.has_item = true;
      break;
    }
  }
  const std::string sha = ContentSha256(src);
  Json reports = Json::array();
  if (sha.size() != 64) {
    (*effect)["reports"] = reports;
    (*effect)["report_skipped"] = "no image or video content to report (the case holds none)";
    return Status::Ok();
  }
  const auto& dests = config_.reports_destinations;
  const bool to_ncmec = std::find(dests.begin(), dests.end(), "ncmec") != dests.end();
  for (const std::string& dest : dests) {
    bool already = false;
    s = reports_->ReportedTo(sha, dest, &already);
    if (!s.ok()) return s;
    bool exempt = false;
    if (dest == "nca") {
      s = reports_->ReportedTo(sha, "ncmec", &exempt);
      if (!s.ok()) return s;
      exempt = exempt || to_ncmec;
    }
    if (already || exempt) {
      reports.push_back(Json{{"destination", dest},
                             {"state", "not_needed"},
                             {"why", already ? "this content was already reported there"
                                             : "reported to NCMEC instead (the UK regulations exempt content "
                                               "reported to NCMEC)"}});
      continue;
    }
    int priority = 0;
    std::string why;
    if (dest == "nca") priority = report::NcaPriority(NcaInputOf(config_, src), {}, &why);
    report::ReportRecord rec;
    s = reports_->Record(c.id, dest, sha, priority, &rec);
    if (!s.ok()) return s;
    Json j{{"id", rec.id}, {"destination", dest}, {"state", rec.state}};
    if (priority != 0) {
      j["priority"] = priority;
      j["priority_reason"] = why;
    }
    reports.push_back(j);
  }
  (*effect)["reports"] = reports;
  return Status::Ok();
}

Status Service::ListReports(const HttpRequest& req, HttpResponse* res) {
  Status s = RequireMethod(req, {"GET"});
  if (!s.ok()) return s;
  int64_t from = 0, to = 0;
  s = DaysWindow(req, 3660, NowMs(), &from, &to);
  if (!s.ok()) return s;
  std::vector<report::ReportRecord> list;
  {
    std::lock_guard<std::mutex> lock(db_mu_);
    s = reports_->List(from, to, &list);
  }
  if (!s.ok()) return s;
  Json out = Json::array();
  // Newest first: what a compliance officer looks at.
  for (auto it = list.rbegin(); it != list.rend(); ++it) {
    Json j{{"id", it->id},
           {"case", it->case_id},
           {"destination", it->destination},
           {"state", it->state},
           {"content_sha256", it->content_sha256},
           {"created", audit::FormatTimeMs(it->created_ms)}};
    if (it->priority != 0) j["priority"] = it->priority;
    if (!it->external_id.empty()) j["external_id"] = it->external_id;
    if (it->sent_ms != 0) j["sent"] = audit::FormatTimeMs(it->sent_ms);
    if (!it->error.empty()) j["error"] = it->error;
    out.push_back(std::move(j));
  }
  JsonResponse(res, 200, Json{{"reports", out}});
  return Status::Ok();
}

void Service::ReportLoop() {
  using Clock = std::chrono::steady_clock;
  // The ledger is read only when a report may be waiting: at start (pending
  // from before a restart), when a confirm wakes the thread, and when a
  // report that got no answer is due again; not on a timer.
  std::map<int64_t, Clock::time_point> not_before;  // pending reports that got no answer
  Clock::time_point next_look = Clock::now();
  while (!stopping_.load()) {
    const Clock::time_point now = Clock::now();
    bool due = next_look <= now;
    for (const auto& [id, t] : not_before) due = due || t <= now;
    if (due) {
      next_look = Clock::time_point::max();
      std::vector<report::ReportRecord> pending;
      Status listed;
      {
        std::lock_guard<std::mutex> lock(db_mu_);
        listed = reports_->Pending(&pending);
      }
      if (!listed.ok()) {
        Log("report_list_failed", nlohmann::ordered_json{{"error", listed.message()}});
        next_look = now + std::chrono::seconds(config_.reports_retry_s);
      } else {
        // Kept: only the reports still pending that wait for their time.
        std::map<int64_t, Clock::time_point> waiting;
        for (const report::ReportRecord& r : pending) {
          if (stopping_.load()) break;
          auto it = not_before.find(r.id);
          if (it != not_before.end() && Clock::now() < it->second) {
            waiting.insert(*it);
            continue;
          }
          bool retry = false;
          Status s = SendOneReport(r, &retry);
          if (retry) {
            waiting[r.id] = Clock::now() + std::chrono::seconds(config_.reports_retry_s);
            Log("report_retry",
                nlohmann::ordered_json{
                    {"report", r.id}, {"destination", r.destination}, {"error", s.message()}});
          }
        }
        not_before = std::move(waiting);
      }
    }
    // Sleep until woken or until the next report that got no answer is due.
    Clock::time_point until = next_look;
    for (const auto& [id, t] : not_before) until = std::min(until, t);
    std::unique_lock<std::mutex> lock(stop_mu_);
    auto woken = [this] { return stopping_.load() || reports_wake_; };
    if (until == Clock::time_point::max()) {
      stop_cv_.wait(lock, woken);
    } else {
      stop_cv_.wait_until(lock, until, woken);
    }
    if (reports_wake_) next_look = Clock::now();
    reports_wake_ = false;
  }
}

Status Service::SendOneReport(const report::ReportRecord& r, bool* retry) {
  *retry = false;
  const std::string actor = "system:reports";
  ReportSource src;
  std::vector<uint8_t> content;
  Status s;
  {
    std::lock_guard<std::mutex> lock(db_mu_);
    s = cases_->Get(r.case_id, &src.c, nullptr);
    std::vector<report::EvidenceItem> items;
    if (s.ok()) s = evidence_->List(r.case_id, &items);
    for (const report::EvidenceItem& it : items) {
      if (s.ok() && it.sha256 == r.content_sha256) {
        src.item = it;
        src.has_item = true;
      }
    }
    // NCMEC receives the file itself: reading it is audited like any other.
    if (s.ok() && src.has_item && r.destination == "ncmec") {
      s = evidence_->Get(src.item.id, actor, "report " + std::to_string(r.id) + " to NCMEC", &content,
                         nullptr);
    }
  }
  if (!s.ok()) return FinishReport(r, s, "", false);
  src.details = nlohmann::json::parse(src.c.fields.details_json, nullptr, false);
  if (src.details.is_discarded()) src.details = nlohmann::json::object();

  if (r.destination == "nca") {
    std::string doc;
    s = report::BuildNcaReport(NcaInputOf(config_, src), &doc);
    const std::filesystem::path dir =
        config_.reports_nca_dir.empty() ? options_.data_dir + "/reports/nca" : config_.reports_nca_dir;
    const std::string name = "nca-report-" + std::to_string(r.id) + ".json";
    if (s.ok()) {
      std::error_code ec;
      std::filesystem::create_directories(dir, ec);
      const std::filesystem::path tmp = dir / (name + ".tmp");
      {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        out << doc;
        out.flush();
        if (!out) s = Status::IoError("cannot write " + tmp.string());
      }
      if (s.ok()) {
        ::chmod(tmp.c_str(), 0600);  // it names an account and an address
        std::filesystem::rename(tmp, dir / name, ec);
        if (ec) s = Status::IoError("cannot write " + (dir / name).string() + ": " + ec.message());
      }
      // A disk that refuses the file may take it later.
      if (!s.ok()) *retry = true;
    }
    if (*retry) return s;
    return FinishReport(r, s, name, false);
  }

  // NCMEC's CyberTipline.
  report::CyberTiplineClient::Options o;
  o.base_url = config_.reports_ncmec_url;
  o.username = config_.reports_ncmec_username;
  o.password = config_.reports_ncmec_password;
  o.clock_ms = options_.clock_ms;
  report::CyberTiplineClient client(o);
  std::vector<report::CyberTiplineFile> files;
  if (src.has_item) {
    report::CyberTiplineFile f;
    f.file_name =
        (src.c.fields.content_id.empty() ? "case-" + std::to_string(src.c.id) : src.c.fields.content_id);
    f.bytes = content;
    f.details.file_viewed_by_esp = true;
    f.details.generative_ai = src.c.fields.source == cases::Source::kGuard;
    f.details.original_file_hashes.emplace_back("SHA256", src.item.sha256);
    if (!Text(src.details, "pdq").empty())
      f.details.original_file_hashes.emplace_back("PDQ", Text(src.details, "pdq"));
    f.details.location_of_file = Text(src.details.value("upload", nlohmann::json::object()), "url");
    files.push_back(std::move(f));
  }
  report::CyberTiplineResult result;
  s = client.SendReport(NcmecReportOf(config_, src), files, &result);
  std::fill(content.begin(), content.end(), 0);
  if (!s.ok() && s.code() == StatusCode::kUnavailable && result.report_id.empty()) {
    *retry = true;  // nothing was opened at NCMEC: try again later
    return s;
  }
  return FinishReport(r, s, result.report_id, result.retracted);
}

Status Service::FinishReport(const report::ReportRecord& r, const Status& outcome,
                             const std::string& external_id, bool retracted) {
  std::lock_guard<std::mutex> lock(db_mu_);
  Status s = db_->Exec("BEGIN IMMEDIATE");
  if (!s.ok()) return s;
  std::string action;
  if (outcome.ok()) {
    action = "report.sent";
    s = reports_->MarkSent(r.id, external_id);
  } else if (retracted) {
    action = "report.retracted";
    s = reports_->MarkRetracted(r.id, external_id, outcome.message());
  } else {
    action = "report.failed";
    s = reports_->MarkFailed(r.id, outcome.message());
  }
  if (s.ok()) {
    Json details{{"destination", r.destination}, {"case", r.case_id}, {"sha256", r.content_sha256}};
    if (!external_id.empty()) details["external_id"] = external_id;
    if (r.priority != 0) details["priority"] = r.priority;
    if (!outcome.ok()) details["error"] = outcome.message();
    s = audit_->Append(audit::Event{.actor = "system:reports",
                                    .action = action,
                                    .subject = std::to_string(r.id),
                                    .details_json = Dump(details)},
                       nullptr);
  }
  if (s.ok()) s = db_->Exec("COMMIT");
  if (!s.ok()) {
    db_->Exec("ROLLBACK");
    return s;
  }
  Log(action, nlohmann::ordered_json{{"report", r.id}, {"destination", r.destination}, {"case", r.case_id}});
  return outcome;
}

}  // namespace safeguard::server
