// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.

#include "safeguard/report/transparency.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/sqlite.h"
#include "safeguard/audit/audit_log.h"

namespace safeguard::report {
namespace {

using Json = nlohmann::ordered_json;

const char* const kEea[] = {"AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR",
                            "DE", "GR", "HU", "IS", "IE", "IT", "LV", "LI", "LT", "LU",
                            "MT", "NL", "NO", "PL", "PT", "RO", "SK", "SI", "ES", "SE"};

bool TableExists(sqlite::Conn* conn, const char* name) {
  sqlite::Stmt q(conn, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1");
  q.Text(1, name);
  bool row = false;
  return q.Step(&row).ok() && row;
}

std::string Date(int64_t ms) { return audit::FormatTimeMs(ms).substr(0, 10); }

std::string Csv(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::string Html(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// Nearest-rank percentile of `v` (sorted here); 0 if empty.
int64_t Percentile(std::vector<int64_t> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t rank = static_cast<size_t>(std::ceil(p * static_cast<double>(v.size())));
  return v[std::clamp<size_t>(rank, 1, v.size()) - 1];
}

Status WriteFile(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) return Status::IoError("cannot write " + path.string());
  return Status::Ok();
}

// One horizontal bar chart as inline SVG: label, value, and an optional
// target drawn as a line.
std::string Bars(const std::vector<std::pair<std::string, double>>& rows, const std::string& unit,
                 const std::vector<double>& targets = {}) {
  double top = 1;
  for (const auto& [label, v] : rows) top = std::max(top, v);
  for (double t : targets) top = std::max(top, t);
  const int row_h = 22, label_w = 260, bar_w = 420;
  std::ostringstream svg;
  svg << "<svg xmlns='http://www.w3.org/2000/svg' width='" << label_w + bar_w + 120 << "' height='"
      << row_h * std::max<size_t>(1, rows.size()) + 8 << "' role='img'>";
  for (size_t i = 0; i < rows.size(); ++i) {
    const int y = static_cast<int>(i) * row_h + 4;
    const int w = static_cast<int>(bar_w * rows[i].second / top);
    char value[64];
    std::snprintf(value, sizeof value, "%.0f %s", rows[i].second, unit.c_str());
    svg << "<text x='0' y='" << y + 14 << "' font-size='12'>" << Html(rows[i].first) << "</text>"
        << "<rect x='" << label_w << "' y='" << y << "' width='" << std::max(w, 1)
        << "' height='16' fill='#3b6ea5'/>"
        << "<text x='" << label_w + std::max(w, 1) + 6 << "' y='" << y + 13 << "' font-size='12'>" << value
        << "</text>";
    if (i < targets.size() && targets[i] > 0) {
      const int x = label_w + static_cast<int>(bar_w * targets[i] / top);
      svg << "<line x1='" << x << "' x2='" << x << "' y1='" << y - 2 << "' y2='" << y + 18
          << "' stroke='#c0392b' stroke-width='2'><title>target</title></line>";
    }
  }
  svg << "</svg>";
  return svg.str();
}

// The DSA statement of reasons for one restricting decision, or null when
// the decision restricted nothing (allow, review only).
Json StatementOfReasons(const std::string& id, int64_t time_ms, const Json& record,
                        const std::vector<std::string>& scope) {
  const std::string action = record.value("action", "");
  const Json actions = record.value("actions", Json::object());
  const bool block = actions.value("block", false) || action == "block";
  const bool quarantine = actions.value("quarantine", false) || action == "quarantine";
  if (!block && !quarantine) return Json();
  std::string category = "none";
  std::string kind = "none";
  if (record.contains("reasons") && !record["reasons"].empty()) {
    kind = record["reasons"][0].value("kind", "none");
    category = record["reasons"][0].value("category", kind);
  }
  Json s;
  s["puid"] = id;
  s["decision_visibility"] =
      Json::array({block ? "DECISION_VISIBILITY_CONTENT_REMOVED" : "DECISION_VISIBILITY_CONTENT_DISABLED"});
  s["content_type"] =
      Json::array({record.value("media", "image") == "video" ? "CONTENT_TYPE_VIDEO" : "CONTENT_TYPE_IMAGE"});
  std::string facts;
  if (kind == "match") {
    std::string banks;
    for (const Json& m : record.value("matches", Json::array())) {
      if (!banks.empty()) banks += ", ";
      banks += m.value("bank", "?") + " (" + m.value("signal_type", m.value("type", "pdq")) + ")";
    }
    facts = "The upload matched a list of known " + category + " material: " + banks + ".";
  } else if (kind == "undecodable") {
    facts =
        "The upload could not be decoded and checked, and the service's policy refuses what it cannot check.";
  } else {
    facts = "Decision " + action + " (" + kind + ").";
  }
  if (category == "csam" || category == "ncii" || category == "terrorism") {
    s["decision_ground"] = "DECISION_GROUND_ILLEGAL_CONTENT";
    s["illegal_content_legal_ground"] =
        category == "csam"
            ? "Directive 2011/93/EU on combating the sexual abuse and sexual exploitation of children"
        : category == "ncii"
            ? "Directive (EU) 2024/1385, Article 5 (non-consensual sharing of intimate material)"
            : "Regulation (EU) 2021/784 on addressing the dissemination of terrorist content online";
    s["illegal_content_explanation"] = facts;
    s["category"] = category == "csam"   ? "STATEMENT_CATEGORY_PROTECTION_OF_MINORS"
                    : category == "ncii" ? "STATEMENT_CATEGORY_NON_CONSENSUAL_BEHAVIOUR"
                                         : "STATEMENT_CATEGORY_RISK_FOR_PUBLIC_SECURITY";
  } else {
    s["decision_ground"] = "DECISION_GROUND_INCOMPATIBLE_CONTENT";
    s["incompatible_content_ground"] = "The service's terms of use";
    s["incompatible_content_explanation"] = facts;
    s["incompatible_content_illegal"] = "No";
    s["category"] = "STATEMENT_CATEGORY_SCOPE_OF_PLATFORM_SERVICE";
  }
  s["decision_facts"] = facts;
  s["source_type"] = "SOURCE_VOLUNTARY";
  s["automated_detection"] = "Yes";
  s["automated_decision"] = "AUTOMATED_DECISION_FULLY";
  s["territorial_scope"] = scope;
  s["content_date"] = Date(time_ms);
  s["application_date"] = Date(time_ms);
  return s;
}

}  // namespace

Status WriteTransparencyReport(sqlite::Conn* db, const TransparencyOptions& o, TransparencySummary* summary) {
  if (o.to_ms <= o.from_ms) return Status::InvalidArgument("the period is empty: --to must be after --from");
  std::vector<std::string> scope = o.territorial_scope;
  if (scope.empty()) scope.assign(std::begin(kEea), std::end(kEea));
  for (const std::string& c : scope) {
    if (c.size() != 2 || !std::isupper(static_cast<unsigned char>(c[0])) ||
        !std::isupper(static_cast<unsigned char>(c[1]))) {
      return Status::InvalidArgument("territorial scope \"" + c +
                                     "\" is not a two-letter country code (e.g. DE)");
    }
  }
  std::error_code ec;
  std::filesystem::create_directories(o.out_dir, ec);
  if (ec) return Status::IoError("cannot create " + o.out_dir + ": " + ec.message());
  const std::filesystem::path out(o.out_dir);
  TransparencySummary sum;

  // Scan decisions: volumes by category, detection and action; statements
  // of reasons for the restricting ones.
  std::map<std::tuple<std::string, std::string, std::string>, int64_t> volumes;
  std::string sor;
  if (TableExists(db, "decisions")) {
    sqlite::Stmt q(
        db,
        "SELECT id, time_ms, record FROM decisions WHERE time_ms >= ?1 AND time_ms < ?2 ORDER BY time_ms");
    q.Int(1, o.from_ms);
    q.Int(2, o.to_ms);
    bool row = false;
    Status s;
    while ((s = q.Step(&row)).ok() && row) {
      const Json record = Json::parse(q.ColumnText(2), nullptr, false);
      if (!record.is_object()) continue;
      ++sum.decisions;
      std::string category = "none", detection = "none";
      if (record.contains("reasons") && !record["reasons"].empty()) {
        detection = record["reasons"][0].value("kind", "none");
        category = record["reasons"][0].value("category", detection == "match" ? "other" : "none");
      }
      if (detection == "match") {
        bool pdq = false;
        for (const Json& m : record.value("matches", Json::array())) {
          pdq = pdq || m.value("signal_type", m.value("type", "")) == "pdq";
        }
        detection = pdq ? "hash_match_pdq" : "hash_match_digest";
      }
      ++volumes[{category, detection, record.value("action", "?")}];
      const Json statement = StatementOfReasons(std::string(q.ColumnText(0)), q.ColumnInt(1), record, scope);
      if (!statement.is_null()) {
        ++sum.restricted;
        ++sum.statements;
        sor += statement.dump() + "\n";
      }
    }
    if (!s.ok()) return s;
  }

  // Guard requests, from the audit log.
  std::map<std::pair<std::string, std::string>, int64_t> guard;
  if (TableExists(db, "audit_log")) {
    std::unique_ptr<audit::AuditLog> log;
    Status s = audit::AuditLog::Open(db, {}, &log);
    if (s.ok()) {
      s = log->Export(o.from_ms, o.to_ms, [&](const audit::Record& r) {
        if (r.event.action.rfind("guard.", 0) != 0 || r.event.action == "guard.reinstate")
          return Status::Ok();
        const Json d = Json::parse(r.event.details_json, nullptr, false);
        const std::string decision = d.is_object() ? d.value("decision", "?") : "?";
        ++guard[{r.event.action.substr(6), decision}];
        ++sum.guard_requests;
        if (decision != "allow") ++sum.guard_refused;
        return Status::Ok();
      });
    }
    if (!s.ok()) return s;
  }

  // Cases: opened and closed in the period, time to action against the
  // deadline, appeals and reversals.
  struct SourceStats {
    int64_t opened = 0, closed = 0, overdue = 0;
    std::vector<int64_t> seconds;
    int64_t target_s = 0;
  };
  std::map<std::string, SourceStats> by_source;
  int64_t appeals_closed = 0;
  if (TableExists(db, "cases")) {
    static const char* kSources[] = {"scan_review", "guard", "ncii_report", "appeal"};
    sqlite::Stmt q(db,
                   "SELECT source, created_ms, deadline_ms, closed_ms, outcome FROM cases "
                   "WHERE (created_ms >= ?1 AND created_ms < ?2) OR (closed_ms >= ?1 AND closed_ms < ?2) "
                   "OR (closed_ms = 0 AND deadline_ms < ?2)");
    q.Int(1, o.from_ms);
    q.Int(2, o.to_ms);
    bool row = false;
    Status s;
    while ((s = q.Step(&row)).ok() && row) {
      const int64_t src = q.ColumnInt(0);
      const std::string source = src >= 0 && src < 4 ? kSources[src] : "unknown";
      const int64_t created = q.ColumnInt(1), deadline = q.ColumnInt(2), closed = q.ColumnInt(3);
      const std::string outcome(q.ColumnText(4));
      SourceStats& st = by_source[source];
      st.target_s = std::max(st.target_s, (deadline - created) / 1000);
      if (created >= o.from_ms && created < o.to_ms) {
        ++st.opened;
        ++sum.cases_opened;
        if (source == "appeal") ++sum.appeals;
      }
      if (closed >= o.from_ms && closed < o.to_ms && closed != 0) {
        ++st.closed;
        ++sum.cases_closed;
        st.seconds.push_back((closed - created) / 1000);
        if (closed > deadline) {
          ++st.overdue;
          ++sum.cases_overdue;
        }
        if (source == "appeal") {
          ++appeals_closed;
          if (outcome == "restore") ++sum.reversals;
        }
      } else if (closed == 0 && deadline < o.to_ms) {
        ++st.overdue;
        ++sum.cases_overdue;
      }
    }
    if (!s.ok()) return s;
  }

  // The files.
  std::string csv = "category,detection,action,count\n";
  for (const auto& [k, n] : volumes) {
    csv += Csv(std::get<0>(k)) + "," + Csv(std::get<1>(k)) + "," + Csv(std::get<2>(k)) + "," +
           std::to_string(n) + "\n";
  }
  Status s = WriteFile(out / "decisions.csv", csv);
  csv = "route,decision,count\n";
  for (const auto& [k, n] : guard) csv += Csv(k.first) + "," + Csv(k.second) + "," + std::to_string(n) + "\n";
  if (s.ok()) s = WriteFile(out / "guard.csv", csv);
  csv = "source,opened,closed,overdue,p50_s,p90_s,p99_s,target_s\n";
  for (const auto& [source, st] : by_source) {
    csv += source + "," + std::to_string(st.opened) + "," + std::to_string(st.closed) + "," +
           std::to_string(st.overdue) + "," + std::to_string(Percentile(st.seconds, 0.5)) + "," +
           std::to_string(Percentile(st.seconds, 0.9)) + "," + std::to_string(Percentile(st.seconds, 0.99)) +
           "," + std::to_string(st.target_s) + "\n";
  }
  if (s.ok()) s = WriteFile(out / "cases.csv", csv);
  if (s.ok()) {
    s = WriteFile(out / "appeals.csv", "appeals,closed,reversals,upheld\n" + std::to_string(sum.appeals) +
                                           "," + std::to_string(appeals_closed) + "," +
                                           std::to_string(sum.reversals) + "," +
                                           std::to_string(appeals_closed - sum.reversals) + "\n");
  }
  // Reports to the NCA and NCMEC made in the period (docs/reports.md), by
  // destination and where they stand now.
  std::map<std::string, std::map<std::string, int64_t>> reports;  // destination -> state -> count
  for (const char* d : {"nca", "ncmec"}) {
    for (const char* st : {"sent", "pending", "failed", "retracted"}) reports[d][st] = 0;
  }
  if (s.ok() && TableExists(db, "reports")) {
    sqlite::Stmt q(
        db,
        "SELECT destination, state, COUNT(*) FROM reports WHERE created_ms >= ? AND created_ms < ? "
        "GROUP BY destination, state");
    q.Int(1, o.from_ms);
    q.Int(2, o.to_ms);
    bool row = false;
    for (s = q.Step(&row); s.ok() && row; s = q.Step(&row)) {
      reports[std::string(q.ColumnText(0))][std::string(q.ColumnText(1))] = q.ColumnInt(2);
    }
  }
  if (s.ok()) {
    std::string rcsv = "destination,sent,pending,failed,retracted\n";
    for (auto& [d, by] : reports) {
      rcsv += (d == "nca" ? "NCA," : "NCMEC,") + std::to_string(by["sent"]) + "," +
              std::to_string(by["pending"]) + "," + std::to_string(by["failed"]) + "," +
              std::to_string(by["retracted"]) + "\n";
    }
    sum.reports_nca = reports["nca"]["sent"];
    sum.reports_ncmec = reports["ncmec"]["sent"];
    s = WriteFile(out / "reports.csv", rcsv);
  }
  if (s.ok()) s = WriteFile(out / "statements_of_reasons.jsonl", sor);
  if (!s.ok()) return s;

  // The HTML page.
  std::ostringstream h;
  h << "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>" << Html(o.service_name)
    << " transparency report</title><style>body{font-family:sans-serif;max-width:60em;margin:2em "
       "auto;color:#222}"
       "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}"
       "th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}</style></head><body>"
    << "<h1>" << Html(o.service_name) << " transparency report</h1><p>Period: " << Date(o.from_ms) << " to "
    << Date(o.to_ms - 1) << " (UTC). Generated from the service's records; the figures are counts of "
    << "decisions, not of people.</p>";
  h << "<h2>Summary</h2><table><tr><th>figure</th><th>count</th></tr>"
    << "<tr><td>uploads checked</td><td>" << sum.decisions << "</td></tr>"
    << "<tr><td>uploads removed or disabled</td><td>" << sum.restricted << "</td></tr>"
    << "<tr><td>statements of reasons (DSA)</td><td>" << sum.statements << "</td></tr>"
    << "<tr><td>image-generation requests screened</td><td>" << sum.guard_requests << "</td></tr>"
    << "<tr><td>of which refused</td><td>" << sum.guard_refused << "</td></tr>"
    << "<tr><td>cases opened</td><td>" << sum.cases_opened << "</td></tr>"
    << "<tr><td>cases closed</td><td>" << sum.cases_closed << "</td></tr>"
    << "<tr><td>cases past their deadline</td><td>" << sum.cases_overdue << "</td></tr>"
    << "<tr><td>appeals</td><td>" << sum.appeals << "</td></tr>"
    << "<tr><td>decisions reversed on appeal</td><td>" << sum.reversals << "</td></tr>"
    << "<tr><td>reports made to the NCA</td><td>" << sum.reports_nca << "</td></tr>"
    << "<tr><td>reports made to NCMEC</td><td>" << sum.reports_ncmec << "</td></tr></table>";
  std::vector<std::pair<std::string, double>> rows;
  for (const auto& [k, n] : volumes) {
    rows.push_back(
        {std::get<0>(k) + " / " + std::get<1>(k) + " / " + std::get<2>(k), static_cast<double>(n)});
  }
  h << "<h2>Decisions by category, detection and action</h2>" << Bars(rows, "");
  rows.clear();
  for (const auto& [k, n] : guard) rows.push_back({k.first + " / " + k.second, static_cast<double>(n)});
  h << "<h2>Generation guard by route and decision</h2>" << Bars(rows, "");
  rows.clear();
  std::vector<double> targets;
  for (const auto& [source, st] : by_source) {
    rows.push_back({source + " p90", static_cast<double>(Percentile(st.seconds, 0.9)) / 3600.0});
    targets.push_back(static_cast<double>(st.target_s) / 3600.0);
  }
  h << "<h2>Time to action (hours, 90th percentile; red line: the deadline)</h2>" << Bars(rows, "h", targets);
  h << "<h2>Files</h2><p>decisions.csv, guard.csv, cases.csv, appeals.csv, reports.csv, "
       "statements_of_reasons.jsonl (one DSA statement of reasons per restricting "
       "decision).</p></body></html>\n";
  s = WriteFile(out / "transparency.html", h.str());
  if (!s.ok()) return s;
  if (summary != nullptr) *summary = sum;
  return Status::Ok();
}

}  // namespace safeguard::report
