// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// The case routes (docs/cases.md): the moderators' queue, one case with its
// history, actions on a case, and the intake of a report of an intimate
// image.

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>

#include "common/sqlite.h"
#include "route_util.h"
#include "safeguard/audit/audit_log.h"
#include "safeguard/bank/bank.h"
#include "safeguard/hash/pdq.h"
#include "service.h"

namespace safeguard::server {
namespace {

Json CaseJson(const cases::Case& c, bool with_details) {
  Json j{{"id", c.id},
         {"source", std::string(cases::SourceName(c.fields.source))},
         {"category", c.fields.category},
         {"severity", c.fields.severity},
         {"state", std::string(cases::StateName(c.state))},
         {"priority", std::round(c.priority * 10) / 10},
         {"subject", c.fields.subject},
         {"content_id", c.fields.content_id},
         {"account_id", c.fields.account_id},
         {"reach", c.fields.reach},
         {"trusted_flagger", c.fields.trusted_flagger},
         {"created", audit::FormatTimeMs(c.created_ms)},
         {"deadline", audit::FormatTimeMs(c.deadline_ms)}};
  if (c.state == cases::State::kClosed) {
    j["outcome"] = c.outcome;
    j["closed"] = audit::FormatTimeMs(c.closed_ms);
    j["time_to_action_s"] = (c.closed_ms - c.created_ms) / 1000;
  }
  if (with_details) j["details"] = Json::parse(c.fields.details_json, nullptr, false);
  return j;
}

bool IsHex(const std::string& s, size_t n) {
  if (s.size() != n) return false;
  for (char c : s) {
    if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

// A report of an intimate image, checked: the two declarations the law asks
// of a reporter, a way to reach them, and something that identifies the
// content.
Status ParseNciiReport(const nlohmann::json& body, cases::NewCase* c) {
  for (const auto& [k, v] : body.items()) {
    if (k != "declarations" && k != "reporter" && k != "content" && k != "reach" && k != "trusted_flagger" &&
        k != "description") {
      return Status::InvalidArgument("unknown field \"" + k +
                                     "\" (known: declarations, reporter, content, reach, trusted_flagger, "
                                     "description)");
    }
  }
  auto decl = body.find("declarations");
  if (decl == body.end() || !decl->is_object()) {
    return Status::InvalidArgument(
        "\"declarations\" is required: {\"intimate_image\": true, \"depicts_reporter_or_authorised\": true}");
  }
  for (const char* d : {"intimate_image", "depicts_reporter_or_authorised"}) {
    auto v = decl->find(d);
    if (v == decl->end() || !v->is_boolean() || !v->get<bool>()) {
      return Status::InvalidArgument(std::string("declarations.") + d +
                                     " must be true: the reporter declares that the content is an intimate "
                                     "image and that they are the person shown or act for them");
    }
  }
  auto reporter = body.find("reporter");
  if (reporter == body.end() || !reporter->is_object()) {
    return Status::InvalidArgument(
        "\"reporter\" is required: {\"email\": ..., \"relationship\": \"self\"|\"authorised\"}");
  }
  auto email = reporter->find("email");
  if (email == reporter->end() || !email->is_string() ||
      email->get_ref<const std::string&>().find('@') == std::string::npos ||
      email->get_ref<const std::string&>().size() > 320) {
    return Status::InvalidArgument(
        "reporter.email must be an email address (the reporter is told the outcome)");
  }
  auto rel = reporter->find("relationship");
  if (rel == reporter->end() || !rel->is_string() || (*rel != "self" && *rel != "authorised")) {
    return Status::InvalidArgument("reporter.relationship must be \"self\" or \"authorised\"");
  }
  auto content = body.find("content");
  if (content == body.end() || !content->is_object()) {
    return Status::InvalidArgument(
        "\"content\" is required: at least one of content_id, url, pdq, sha256, md5");
  }
  bool any = false;
  for (const auto& [k, v] : content->items()) {
    if (k != "content_id" && k != "url" && k != "pdq" && k != "sha256" && k != "md5") {
      return Status::InvalidArgument("unknown content field \"" + k +
                                     "\" (known: content_id, url, pdq, sha256, md5)");
    }
    if (!v.is_string() || v.get_ref<const std::string&>().empty() ||
        v.get_ref<const std::string&>().size() > 2048) {
      return Status::InvalidArgument("content." + k + " must be a non-empty string");
    }
    const std::string& text = v.get_ref<const std::string&>();
    if ((k == "pdq" && !IsHex(text, 64)) || (k == "sha256" && !IsHex(text, 64)) ||
        (k == "md5" && !IsHex(text, 32))) {
      return Status::InvalidArgument("content." + k + " must be " + (k == "md5" ? "32" : "64") +
                                     " hex digits");
    }
    any = true;
  }
  if (!any)
    return Status::InvalidArgument("\"content\" needs at least one of content_id, url, pdq, sha256, md5");
  if (auto reach = body.find("reach"); reach != body.end()) {
    if (!reach->is_number_integer() || reach->get<int64_t>() < 0) {
      return Status::InvalidArgument("\"reach\" must be a non-negative integer (views plus shares)");
    }
    c->reach = reach->get<int64_t>();
  }
  if (auto t = body.find("trusted_flagger"); t != body.end()) {
    if (!t->is_boolean()) return Status::InvalidArgument("\"trusted_flagger\" must be true or false");
    c->trusted_flagger = t->get<bool>();
  }
  if (auto d = body.find("description"); d != body.end()) {
    if (!d->is_string() || d->get_ref<const std::string&>().size() > 4000) {
      return Status::InvalidArgument("\"description\" must be a string of at most 4000 bytes");
    }
  }
  c->source = cases::Source::kNciiReport;
  c->category = "ncii";
  c->severity = 1;
  c->content_id = content->value("content_id", "");
  c->subject = c->content_id.empty()
                   ? content->value("url", content->value("sha256", content->value("pdq", "")))
                   : c->content_id;
  Json details;
  details["declarations"] = *decl;
  details["reporter"] = *reporter;
  details["content"] = *content;
  if (body.contains("description")) details["description"] = body["description"];
  c->details_json = Dump(details);
  return Status::Ok();
}

}  // namespace

Status Service::OpenCaseLocked(const cases::NewCase& c, const std::string& actor, cases::Case* out) {
  Status s = cases_->Create(c, actor, out);
  if (!s.ok()) return s;
  return audit_->Append(
      audit::Event{.actor = actor,
                   .action = "case.open",
                   .subject = std::to_string(out->id),
                   .details_json = Dump(Json{{"source", std::string(cases::SourceName(c.source))},
                                             {"category", c.category},
                                             {"subject", c.subject},
                                             {"deadline", audit::FormatTimeMs(out->deadline_ms)}})},
      nullptr);
}

// A confirmed report of an intimate image: its PDQ joins the NCII bank named
// by cases.ncii_bank (so future uploads are blocked), and past uploads
// within the bank's distance are found among the scan decisions of the
// last cases.near_duplicate_days, for the platform to take down with the
// reported content. The import comes first and is idempotent: if closing
// the case then fails, a retry finds the hash already banked.
Status Service::ConfirmNcii(const ApiKey& key, const cases::Case& c, Json* effect) {
  const Json details = Json::parse(c.fields.details_json, nullptr, false);
  std::string pdq_hex;
  if (details.is_object() && details.contains("content") && details["content"].contains("pdq")) {
    pdq_hex = details["content"]["pdq"].get<std::string>();
  }
  Json remove = Json::array();
  if (!c.fields.content_id.empty()) remove.push_back(c.fields.content_id);
  pdq::Hash256 reported;
  if (pdq_hex.empty() || !pdq::Hash256::FromHex(pdq_hex, &reported)) {
    (*effect)["remove"] = remove;
    return Status::Ok();
  }
  int distance = bank::kDefaultPdqDistance;
  if (!config_.cases_ncii_bank.empty()) {
    bank::Bank b;
    Status s = store_->GetBank(config_.cases_ncii_bank, &b);
    if (!s.ok())
      return Status::Unavailable("cases.ncii_bank " + config_.cases_ncii_bank + ": " + s.message());
    distance = b.pdq_distance;
    bank::NewSignal sig;
    sig.type = bank::SignalType::kPdq;
    s = bank::ParseSignalValue(sig.type, pdq_hex, &sig.value);
    if (!s.ok()) return s;
    sig.external_id = "case-" + std::to_string(c.id);
    sig.source_list = "safeguard-cases";
    bank::ApplyResult applied;
    s = store_->Import(config_.cases_ncii_bank, std::vector<bank::NewSignal>{sig}, &applied);
    if (!s.ok()) return s;
    s = BankChanged(key, "bank.signals.add", config_.cases_ncii_bank,
                    Json{{"case", c.id}, {"added", applied.added}, {"external_id", sig.external_id}});
    if (!s.ok()) return s;
    (*effect)["bank"] = config_.cases_ncii_bank;
  }
  (*effect)["pdq"] = pdq_hex;
  // Past uploads within the distance: a scan of the recent decisions' PDQs.
  std::lock_guard<std::mutex> lock(db_mu_);
  sqlite::Stmt q(db_.get(),
                 "SELECT content_id, record FROM decisions WHERE time_ms >= ?1 AND content_id != ''");
  q.Int(1, NowMs() - int64_t{config_.cases_near_duplicate_days} * 24 * 3600 * 1000);
  bool row = false;
  Status s;
  constexpr size_t kMaxRemovals = 10000;
  while ((s = q.Step(&row)).ok() && row && remove.size() < kMaxRemovals) {
    const Json record = Json::parse(q.ColumnText(1), nullptr, false);
    if (!record.is_object() || !record.contains("hashes") || !record["hashes"].contains("pdq")) continue;
    pdq::Hash256 h;
    if (!pdq::Hash256::FromHex(record["hashes"]["pdq"].get<std::string>(), &h)) continue;
    const std::string content_id(q.ColumnText(0));
    if (h.HammingDistance(reported) <= distance &&
        std::find(remove.begin(), remove.end(), Json(content_id)) == remove.end()) {
      remove.push_back(content_id);
    }
  }
  if (!s.ok()) return s;
  (*effect)["remove"] = remove;
  return Status::Ok();
}

Status Service::Appeal(const HttpRequest& req, const ApiKey& key, HttpResponse* res) {
  nlohmann::json body;
  Status s = ParseBody(req, &body);
  if (!s.ok()) return s;
  for (const auto& [k, v] : body.items()) {
    if (k != "decision_id" && k != "account_id" && k != "reason") {
      return Status::InvalidArgument("unknown field \"" + k + "\" (known: decision_id, account_id, reason)");
    }
  }
  if (!body.contains("decision_id") || !body["decision_id"].is_string()) {
    return Status::InvalidArgument("\"decision_id\" (the decision appealed against) is required");
  }
  if (!body.contains("reason") || !body["reason"].is_string() ||
      body["reason"].get_ref<const std::string&>().empty() ||
      body["reason"].get_ref<const std::string&>().size() > 4000) {
    return Status::InvalidArgument("\"reason\" (the user's words, at most 4000 bytes) is required");
  }
  if (body.contains("account_id") && !body["account_id"].is_string()) {
    return Status::InvalidArgument("\"account_id\" must be a string");
  }
  const std::string decision_id = body["decision_id"].get<std::string>();
  cases::NewCase c;
  c.source = cases::Source::kAppeal;
  c.severity = 3;
  c.subject = decision_id;
  c.account_id = body.value("account_id", "");
  cases::Case opened;
  {
    std::lock_guard<std::mutex> lock(db_mu_);
    sqlite::Stmt q(db_.get(), "SELECT content_id, action, record FROM decisions WHERE id = ?1");
    q.Text(1, decision_id);
    bool row = false;
    s = q.Step(&row);
    if (!s.ok()) return s;
    if (!row) return Status::NotFound("no decision " + decision_id + " to appeal against");
    c.content_id = std::string(q.ColumnText(0));
    const Json record = Json::parse(q.ColumnText(2), nullptr, false);
    c.category = "other";
    if (record.is_object() && record.contains("reasons") && !record["reasons"].empty() &&
        record["reasons"][0].contains("category")) {
      c.category = record["reasons"][0]["category"].get<std::string>();
    }
    c.details_json = Dump(Json{{"decision_id", decision_id},
                               {"decision_action", std::string(q.ColumnText(1))},
                               {"reason", body["reason"]}});
    q.Reset();
    s = OpenCaseInTransaction(c, ActorOf(key), &opened);
  }
  if (!s.ok()) return s;
  JsonResponse(res, 201, CaseJson(opened, /*with_details=*/false));
  return Status::Ok();
}

Status Service::OpenCaseInTransaction(const cases::NewCase& c, const std::string& actor, cases::Case* out) {
  Status s = db_->Exec("BEGIN IMMEDIATE");
  if (s.ok()) s = OpenCaseLocked(c, actor, out);
  if (s.ok()) s = db_->Exec("COMMIT");
  if (!s.ok()) db_->Exec("ROLLBACK");
  return s;
}

Status Service::NciiReport(const HttpRequest& req, const ApiKey& key, HttpResponse* res) {
  nlohmann::json body;
  Status s = ParseBody(req, &body);
  if (!s.ok()) return s;
  cases::NewCase c;
  s = ParseNciiReport(body, &c);
  if (!s.ok()) return s;
  cases::Case opened;
  {
    std::lock_guard<std::mutex> lock(db_mu_);
    s = OpenCaseInTransaction(c, ActorOf(key), &opened);
  }
  if (!s.ok()) return s;
  JsonResponse(res, 201, CaseJson(opened, /*with_details=*/false));
  return Status::Ok();
}

Status Service::PublicNciiReport(const HttpRequest& req, HttpResponse* res) {
  // At most this many reports per address an hour: the form is open to
  // anyone, so a flood from one place cannot bury real reports.
  constexpr int kPerHour = 10;
  const int64_t now = NowMs();
  {
    std::lock_guard<std::mutex> lock(public_mu_);
    if (public_reports_.size() > 100'000) public_reports_.clear();
    auto& times = public_reports_[req.remote];
    std::erase_if(times, [&](int64_t t) { return t <= now - 3'600'000; });
    if (static_cast<int>(times.size()) >= kPerHour) {
      return Status::Unavailable("too many reports from this address: try again within the hour");
    }
    times.push_back(now);
  }
  nlohmann::json body;
  Status s = ParseBody(req, &body);
  if (!s.ok()) return s;
  // What a person may not claim for themselves.
  if (body.is_object() && (body.contains("trusted_flagger") || body.contains("reach"))) {
    return Status::InvalidArgument(
        "\"trusted_flagger\" and \"reach\" are set by the platform, not in a public report");
  }
  cases::NewCase c;
  s = ParseNciiReport(body, &c);
  if (!s.ok()) return s;
  nlohmann::json details = nlohmann::json::parse(c.details_json);
  details["channel"] = "public_form";
  c.details_json = details.dump();
  cases::Case opened;
  {
    std::lock_guard<std::mutex> lock(db_mu_);
    s = OpenCaseInTransaction(c, "public", &opened);
  }
  if (!s.ok()) return s;
  // The person gets a reference and the time by which it will be dealt
  // with; nothing else about the case.
  JsonResponse(res, 201,
               Json{{"reference", opened.id},
                    {"received", audit::FormatTimeMs(opened.created_ms)},
                    {"respond_by", audit::FormatTimeMs(opened.deadline_ms)}});
  return Status::Ok();
}

Status Service::Cases(const HttpRequest& req, const ApiKey& key, const std::vector<std::string>& parts,
                      HttpResponse* res) {
  // /v1/cases: the queue.
  if (parts.size() == 2) {
    Status s = RequireMethod(req, {"GET"});
    if (!s.ok()) return s;
    const auto params = QueryParams(req.query);
    cases::QueueOptions o;
    o.include_closed = Param(params, "closed") == "true";
    o.source = Param(params, "source");
    o.category = Param(params, "category");
    if (const std::string limit = Param(params, "limit"); !limit.empty()) o.limit = std::atoi(limit.c_str());
    std::vector<cases::Case> queue;
    {
      std::lock_guard<std::mutex> lock(db_mu_);
      s = cases_->Queue(o, &queue);
    }
    if (!s.ok()) return s;
    Json list = Json::array();
    for (const cases::Case& c : queue) list.push_back(CaseJson(c, /*with_details=*/false));
    JsonResponse(res, 200, Json{{"cases", list}});
    return Status::Ok();
  }
  char* end = nullptr;
  const long long id = std::strtoll(parts[2].c_str(), &end, 10);
  if (parts[2].empty() || *end != '\0' || id <= 0) return Status::NotFound("no case " + parts[2]);
  // /v1/cases/{id}: the case and its history.
  if (parts.size() == 3) {
    Status s = RequireMethod(req, {"GET"});
    if (!s.ok()) return s;
    cases::Case c;
    std::vector<cases::CaseEvent> history;
    {
      std::lock_guard<std::mutex> lock(db_mu_);
      s = cases_->Get(id, &c, &history);
    }
    if (!s.ok()) return s;
    Json j = CaseJson(c, /*with_details=*/true);
    Json h = Json::array();
    for (const cases::CaseEvent& e : history) {
      h.push_back(Json{{"time", audit::FormatTimeMs(e.time_ms)},
                       {"actor", e.actor},
                       {"action", e.action},
                       {"note", e.note}});
    }
    j["history"] = h;
    JsonResponse(res, 200, j);
    return Status::Ok();
  }
  // /v1/cases/{id}/actions: a moderator acts; recorded in the case's history,
  // the audit log and (for confirm, remove, restore) a webhook event to the
  // platform, in one transaction.
  if (parts.size() == 4 && parts[3] == "actions") {
    Status s = RequireMethod(req, {"POST"});
    if (!s.ok()) return s;
    nlohmann::json body;
    s = ParseBody(req, &body);
    if (!s.ok()) return s;
    for (const auto& [k, v] : body.items()) {
      if (k != "action" && k != "note")
        return Status::InvalidArgument("unknown field \"" + k + "\" (known: action, note)");
    }
    if (!body.contains("action") || !body["action"].is_string()) {
      return Status::InvalidArgument(
          "\"action\" is required: confirm, remove, restore, dismiss, escalate or request_info");
    }
    if (body.contains("note") && !body["note"].is_string())
      return Status::InvalidArgument("\"note\" must be a string");
    const std::string action = body["action"].get<std::string>();
    const std::string note = body.value("note", "");
    // Console roles (docs/console.md): compliance reads only; confirming
    // (and so reporting) takes a senior moderator.
    if (key.role == "compliance")
      return Status::PermissionDenied("the compliance role reads cases but acts on none");
    if (key.role == "moderator" && action == "confirm") {
      return Status::PermissionDenied(
          "confirm and report takes a senior moderator: escalate the case instead");
    }
    const std::string actor = ActorOf(key);
    cases::Case before, after;
    {
      std::lock_guard<std::mutex> lock(db_mu_);
      s = cases_->Get(id, &before, nullptr);
    }
    if (!s.ok()) return s;
    // What the platform must do: the content to take down (with, for a
    // confirmed report of an intimate image, its near-duplicates among past
    // uploads) or to put back.
    Json effect = Json::object();
    if (action == "confirm" && before.fields.source == cases::Source::kNciiReport &&
        before.state != cases::State::kClosed) {
      s = ConfirmNcii(key, before, &effect);
      if (!s.ok()) return s;
    } else if ((action == "remove" || action == "confirm") && !before.fields.content_id.empty()) {
      effect["remove"] = Json::array({before.fields.content_id});
    } else if (action == "restore" && !before.fields.content_id.empty()) {
      effect["restore"] = Json::array({before.fields.content_id});
    }
    {
      std::lock_guard<std::mutex> lock(db_mu_);
      s = db_->Exec("BEGIN IMMEDIATE");
      if (s.ok()) s = cases_->Act(id, action, actor, note, &after);
      // Confirm and report: the reports are recorded with the action and
      // sent by the reporter thread (docs/reports.md).
      if (s.ok() && action == "confirm" && Reportable(after)) s = QueueReportsLocked(after, &effect);
      if (s.ok()) {
        Json details{{"state", std::string(cases::StateName(after.state))}, {"note", note}};
        for (const auto& [k, v] : effect.items()) details[k] = v;
        s = audit_->Append(audit::Event{.actor = actor,
                                        .action = "case." + action,
                                        .subject = std::to_string(id),
                                        .details_json = Dump(details)},
                           nullptr);
      }
      if (s.ok() && (action == "confirm" || action == "remove" || action == "restore")) {
        Json event{{"event", "case." + action}, {"case", CaseJson(after, /*with_details=*/false)}};
        for (const auto& [k, v] : effect.items()) event[k] = v;
        s = outbox_->Enqueue(db_.get(), "case." + action, "case-" + std::to_string(id) + "-" + action,
                             Dump(event));
      }
      if (s.ok()) s = db_->Exec("COMMIT");
      if (!s.ok()) {
        db_->Exec("ROLLBACK");
        return s;
      }
    }
    outbox_->Wake();
    if (effect.contains("reports")) {
      std::lock_guard<std::mutex> lock(stop_mu_);
      reports_wake_ = true;
      stop_cv_.notify_all();
    }
    Json answer = CaseJson(after, /*with_details=*/false);
    for (const auto& [k, v] : effect.items()) answer[k] = v;
    JsonResponse(res, 200, answer);
    return Status::Ok();
  }
  // /v1/cases/{id}/evidence: what the evidence store holds for the case;
  // /v1/cases/{id}/evidence/{item}?reason=...: one item's content, the read
  // recorded in the audit log with the reason before it is opened.
  // /v1/cases/{id}/evidence/{item}/preview: a blurred picture of an item,
  // what the console shows until a moderator asks to see it.
  if (parts.size() == 6 && parts[3] == "evidence" && parts[5] == "preview") {
    Status s = RequireMethod(req, {"GET"});
    if (!s.ok()) return s;
    return EvidencePreview(key, id, parts[4], res);
  }
  if ((parts.size() == 4 || parts.size() == 5) && parts[3] == "evidence") {
    Status s = RequireMethod(req, {"GET"});
    if (!s.ok()) return s;
    std::vector<report::EvidenceItem> items;
    {
      std::lock_guard<std::mutex> lock(db_mu_);
      cases::Case c;
      s = cases_->Get(id, &c, nullptr);
      if (s.ok()) s = evidence_->List(id, &items);
    }
    if (!s.ok()) return s;
    if (parts.size() == 4) {
      Json list = Json::array();
      for (const report::EvidenceItem& it : items) {
        list.push_back(Json{{"id", it.id},
                            {"media_type", it.media_type},
                            {"size", it.size},
                            {"sha256", it.sha256},
                            {"stored", audit::FormatTimeMs(it.created_ms)},
                            {"content_until", audit::FormatTimeMs(it.content_expires_ms)},
                            {"content_erased", it.content_erased}});
      }
      JsonResponse(res, 200, Json{{"case", id}, {"evidence", list}});
      return Status::Ok();
    }
    const bool of_case = std::any_of(items.begin(), items.end(),
                                     [&](const report::EvidenceItem& it) { return it.id == parts[4]; });
    if (!of_case) return Status::NotFound("case " + parts[2] + " has no evidence " + parts[4]);
    const std::string reason = Param(QueryParams(req.query), "reason");
    std::vector<uint8_t> content;
    report::EvidenceItem item;
    {
      std::lock_guard<std::mutex> lock(db_mu_);
      s = evidence_->Get(parts[4], ActorOf(key), reason, &content, &item);
    }
    if (!s.ok()) return s;
    res->status = 200;
    res->content_type = item.media_type;
    res->body.assign(content.begin(), content.end());
    res->headers.emplace_back("Cache-Control", "no-store");
    res->headers.emplace_back("X-Content-Type-Options", "nosniff");
    return Status::Ok();
  }
  return Status::NotFound("no such endpoint: " + req.path + " (see /v1/openapi.json)");
}

}  // namespace safeguard::server
