// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.

#include "audit_command.h"

#include <CLI/CLI.hpp>
#include <cstdint>
#include <filesystem>
#include <iostream>
#include <limits>
#include <memory>

#include "json_output.h"
#include "safeguard/audit/audit_log.h"
#include "store_args.h"

namespace safeguard::cli {
namespace {

int Fail(std::ostream& err, const Status& s) {
  err << "safeguard: " << s.message() << " (" << StatusCodeName(s.code()) << ")\n";
  return ExitCodeFor(s.code());
}

// Opens the audit log of DATA/service.db for reading; never creates it.
Status OpenLog(const AuditCommandArgs& args, std::unique_ptr<audit::AuditLog>* log) {
  const std::string dir = args.data_dir.empty() ? DefaultDataDir() : args.data_dir;
  const std::string path = (std::filesystem::path(dir) / "service.db").string();
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return Status::NotFound("no service database at " + path +
                            " (the server creates it when it first starts; pass --data DIR or set "
                            "SAFEGUARD_DATA to the server's data directory)");
  }
  return audit::AuditLog::OpenFile(path, log);
}

int RunVerify(const AuditCommandArgs& args, std::ostream& out, std::ostream& err) {
  // Arguments first: a usage error is reported as one, whatever the file.
  audit::ExpectedHead expect;
  const bool has_expect = !args.expect_head.empty();
  Status s = has_expect ? audit::ParseExpectedHead(args.expect_head, &expect) : Status::Ok();
  std::unique_ptr<audit::AuditLog> log;
  if (s.ok()) s = OpenLog(args, &log);
  audit::VerifyResult r;
  if (s.ok()) s = has_expect ? log->Verify(expect, &r) : log->Verify(&r);
  if (!s.ok()) return Fail(err, s);
  Json j;
  j["ok"] = r.ok;
  j["records"] = r.records;
  if (r.ok) {
    j["head_seq"] = r.head_seq;
    j["head_hash"] = r.head_hash;
    out << DumpJson(j) << '\n';
    return 0;
  }
  // No head on failure: a head read from a broken log is nothing to keep.
  j["first_bad_seq"] = r.first_bad_seq;
  j["problem"] = r.problem;
  out << DumpJson(j) << '\n';
  err << "safeguard: the audit log is broken at record " << r.first_bad_seq << ": " << r.problem << '\n';
  return 1;
}

int RunExport(const AuditCommandArgs& args, std::ostream& out, std::ostream& err) {
  int64_t since = std::numeric_limits<int64_t>::min();
  int64_t until = std::numeric_limits<int64_t>::max();
  Status s;
  if (!args.since.empty()) s = audit::ParseTimeMs(args.since, &since);
  if (s.ok() && !args.until.empty()) s = audit::ParseTimeMs(args.until, &until);
  std::unique_ptr<audit::AuditLog> log;
  if (s.ok()) s = OpenLog(args, &log);
  if (!s.ok()) return Fail(err, s);
  s = log->Export(since, until, [&out](const audit::Record& r) {
    out << audit::RecordToJson(r) << '\n';
    // A closed pipe (`| head`) ends the export instead of reading on.
    return out ? Status::Ok() : Status::IoError("cannot write the export to standard output");
  });
  if (s.ok()) {
    out.flush();
    if (!out) s = Status::IoError("cannot write the export to standard output");
  }
  if (!s.ok()) return Fail(err, s);
  return 0;
}

}  // namespace

void RegisterAuditCommands(CLI::App* app, AuditCommandArgs* args) {
  CLI::App* audit =
      app->add_subcommand("audit", "Verify or export the tamper-evident audit log (docs/audit.md)");
  audit->require_subcommand(1);

  CLI::App* verify = audit->add_subcommand("verify", "Check the hash chain of the audit log; print its head");
  verify->add_option("--expect-head", args->expect_head,
                     "SEQ:HASH of a head printed by an earlier verify and kept elsewhere: also check the log "
                     "still holds that record unchanged (catches a truncated or rewritten log)");

  CLI::App* exp = audit->add_subcommand("export", "Write audit records as JSON lines, in sequence order");
  exp->add_option(
      "--since", args->since,
      "Only records at or after this time (RFC 3339 like 2026-11-29T12:00:00Z, or ms since the epoch)");
  exp->add_option("--until", args->until, "Only records before this time (same forms as --since)");

  for (CLI::App* cmd : {verify, exp}) {
    cmd->add_option(
        "--data", args->data_dir,
        "Data directory holding service.db (default: $SAFEGUARD_DATA, else ~/.local/share/safeguard)");
  }
}

bool RunAuditCommands(const CLI::App& app, const AuditCommandArgs& args, std::ostream& out, std::ostream& err,
                      int* exit_code) {
  const CLI::App* audit = app.get_subcommand("audit");
  if (!audit->parsed()) return false;
  if (audit->get_subcommand("verify")->parsed()) {
    *exit_code = RunVerify(args, out, err);
  } else if (audit->get_subcommand("export")->parsed()) {
    *exit_code = RunExport(args, out, err);
  } else {
    *exit_code = 2;
  }
  return true;
}

}  // namespace safeguard::cli
