// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.

#include "report_command.h"

#include <CLI/CLI.hpp>
#include <filesystem>
#include <iostream>

#include "common/sqlite.h"
#include "json_output.h"
#include "safeguard/audit/audit_log.h"
#include "safeguard/report/transparency.h"
#include "store_args.h"

namespace safeguard::cli {
namespace {

Status ParseDay(const std::string& text, const char* flag, int64_t* ms) {
  std::string t = text;
  if (t.size() == 10) t += "T00:00:00Z";
  Status s = audit::ParseTimeMs(t, ms);
  if (!s.ok()) {
    return Status::InvalidArgument(std::string(flag) + " \"" + text +
                                   "\" is not a date (YYYY-MM-DD) or an RFC 3339 time");
  }
  return Status::Ok();
}

}  // namespace

void RegisterReportCommands(CLI::App* app, ReportCommandArgs* args) {
  CLI::App* report = app->add_subcommand("report", "Reports for regulators (docs/transparency.md)");
  report->require_subcommand(1);
  CLI::App* t = report->add_subcommand(
      "transparency", "Write the transparency report (HTML, CSV, DSA statements of reasons) for a period");
  t->add_option("--from", args->from, "First day (YYYY-MM-DD, UTC) or RFC 3339 time")->required();
  t->add_option("--to", args->to, "Day after the last (YYYY-MM-DD, UTC) or RFC 3339 time; exclusive")
      ->required();
  t->add_option("--out", args->out_dir, "Folder to write the files into")->required();
  t->add_option("--data", args->data_dir, "The server's data directory (default: ~/.local/share/safeguard)");
  t->add_option("--territorial-scope", args->territorial_scope,
                "Country codes the decisions apply in, comma-separated (default: every EEA country)");
  t->add_option("--name", args->name, "The service's name, for the title")->capture_default_str();
}

bool RunReportCommands(const CLI::App& app, const ReportCommandArgs& args, std::ostream& out,
                       std::ostream& err, int* exit_code) {
  const CLI::App* report = app.get_subcommand("report");
  if (!report->parsed()) return false;
  auto fail = [&](const Status& s) {
    err << "safeguard: " << s.message() << " (" << StatusCodeName(s.code()) << ")\n";
    *exit_code = ExitCodeFor(s.code());
    return true;
  };
  report::TransparencyOptions o;
  o.out_dir = args.out_dir;
  o.service_name = args.name;
  Status s = ParseDay(args.from, "--from", &o.from_ms);
  if (s.ok()) s = ParseDay(args.to, "--to", &o.to_ms);
  if (!s.ok()) return fail(s);
  size_t start = 0;
  while (start < args.territorial_scope.size()) {
    size_t comma = args.territorial_scope.find(',', start);
    if (comma == std::string::npos) comma = args.territorial_scope.size();
    if (comma > start) o.territorial_scope.push_back(args.territorial_scope.substr(start, comma - start));
    start = comma + 1;
  }
  const std::string dir = args.data_dir.empty() ? DefaultDataDir() : args.data_dir;
  const std::string path = (std::filesystem::path(dir) / "service.db").string();
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return fail(Status::NotFound("no service database at " + path +
                                 " (pass --data DIR: the server's data directory)"));
  }
  std::unique_ptr<sqlite::Conn> conn;
  s = sqlite::Conn::Open(path, /*create=*/false, 16, &conn);
  report::TransparencySummary sum;
  if (s.ok()) s = report::WriteTransparencyReport(conn.get(), o, &sum);
  if (!s.ok()) return fail(s);
  Json j{{"out", args.out_dir},
         {"decisions", sum.decisions},
         {"restricted", sum.restricted},
         {"statements_of_reasons", sum.statements},
         {"guard_requests", sum.guard_requests},
         {"guard_refused", sum.guard_refused},
         {"cases_opened", sum.cases_opened},
         {"cases_closed", sum.cases_closed},
         {"cases_overdue", sum.cases_overdue},
         {"appeals", sum.appeals},
         {"reversals", sum.reversals}};
  out << DumpJson(j) << "\n";
  *exit_code = 0;
  return true;
}

}  // namespace safeguard::cli
