// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// The `safeguard` command. Each subcommand parses its arguments here and
// calls the library function that an HTTP endpoint doing the same thing
// would call. Exit status: 0 success, 1 some input failed, 2 usage error.

#include <CLI/CLI.hpp>
#include <iostream>

#include "audit_command.h"
#include "bank_command.h"
#include "compare_command.h"
#include "guard_command.h"
#include "hash_command.h"
#include "report_command.h"
#include "serve_command.h"

namespace {

constexpr const char* kVersion = "0.1.0";

}  // namespace

int main(int argc, char** argv) {
  std::ios::sync_with_stdio(false);
  CLI::App app{"Safeguard: hash matching and takedown for CSAM and NCII (see README.md)", "safeguard"};
  app.set_version_flag("--version", kVersion);
  app.require_subcommand(1);

  safeguard::cli::HashCommandOptions hash_opts;
  bool progress_on = false, progress_off = false;
  CLI::App* hash = app.add_subcommand(
      "hash", "Compute PDQ, MD5 and SHA-256 of images; vPDQ, TMK+PDQF, MD5 and SHA-256 of videos");
  hash->add_option("paths", hash_opts.paths, "Files, directories (recursive) or - for paths on stdin")
      ->required();
  hash->add_flag("--dihedral", hash_opts.hash.dihedral, "Also output the 8 dihedral PDQ hashes");
  hash->add_flag("--fast", hash_opts.hash.fast,
                 "Reduced-resolution JPEG decoding for throughput (not bit-exact; see docs/pdq.md)");
  hash->add_option("--jobs,-j", hash_opts.jobs, "Worker threads (default: one per core)")
      ->check(CLI::Range(1, 1024));
  hash->add_option("--format", hash_opts.format, "Output format")
      ->check(CLI::IsMember({"jsonl", "csv"}))
      ->capture_default_str();
  hash->add_option("--max-pixels", hash_opts.hash.limits.max_pixels, "Refuse images above this many pixels")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  hash->add_option("--max-bytes", hash_opts.hash.limits.max_file_bytes, "Refuse files above this many bytes")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  hash->add_option("--tmk-dir", hash_opts.video_outputs.tmk_dir,
                   "Write each video's TMK+PDQF as DIR/NAME.tmk")
      ->check(CLI::ExistingDirectory);
  hash->add_option("--vpdq-dir", hash_opts.video_outputs.vpdq_dir,
                   "Write each video's vPDQ (frame,quality,pdq,timestamp lines) as DIR/NAME.vpdq")
      ->check(CLI::ExistingDirectory);
  hash->add_flag("--tmk-base64", hash_opts.video_outputs.tmk_base64,
                 "Embed each video's .tmk bytes in base64");
  hash->add_option("--vpdq-seconds", hash_opts.video.vpdq_options.seconds_between_frames,
                   "vPDQ: seconds between hashed frames; 0 hashes every frame")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  hash->add_flag("--progress", progress_on, "Always show a progress line on stderr");
  hash->add_flag("--no-progress", progress_off, "Never show a progress line");

  safeguard::cli::CompareArgs compare_args;
  CLI::App* compare = app.add_subcommand(
      "compare", "Compare two images (PDQ distance) or two videos (vPDQ and TMK+PDQF) as one JSON object");
  compare->add_option("a", compare_args.a, "Image, video, .tmk file or vPDQ text file")->required();
  compare->add_option("b", compare_args.b, "Image, video, .tmk file or vPDQ text file")->required();
  compare
      ->add_option("--vpdq-seconds", compare_args.video.vpdq_options.seconds_between_frames,
                   "vPDQ: seconds between hashed frames; 0 hashes every frame")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();

  safeguard::cli::BankCommandArgs bank_args;
  safeguard::cli::RegisterBankCommands(&app, &bank_args);
  safeguard::cli::ServeCommandArgs serve_args;
  safeguard::cli::RegisterServeCommands(&app, &serve_args);
  safeguard::cli::AuditCommandArgs audit_args;
  safeguard::cli::RegisterAuditCommands(&app, &audit_args);
  safeguard::cli::GuardCommandArgs guard_args;
  safeguard::cli::RegisterGuardCommands(&app, &guard_args);
  safeguard::cli::ReportCommandArgs report_args;
  safeguard::cli::RegisterReportCommands(&app, &report_args);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;
  }

  if (hash->parsed()) {
    if (progress_on) hash_opts.progress = 1;
    if (progress_off) hash_opts.progress = 0;
    return safeguard::cli::RunHashCommand(hash_opts, std::cin, std::cout, std::cerr);
  }
  if (compare->parsed()) return safeguard::cli::RunCompareCommand(compare_args, std::cout, std::cerr);
  int exit_code = 2;
  if (safeguard::cli::RunBankCommands(app, bank_args, std::cin, std::cout, std::cerr, &exit_code))
    return exit_code;
  if (safeguard::cli::RunServeCommands(app, serve_args, std::cout, std::cerr, &exit_code)) return exit_code;
  if (safeguard::cli::RunAuditCommands(app, audit_args, std::cout, std::cerr, &exit_code)) return exit_code;
  if (safeguard::cli::RunGuardCommands(app, guard_args, std::cin, std::cout, std::cerr, &exit_code))
    return exit_code;
  if (safeguard::cli::RunReportCommands(app, report_args, std::cout, std::cerr, &exit_code)) return exit_code;
  return 2;
}
