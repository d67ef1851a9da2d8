// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.

#include "bank_command.h"

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <fstream>
#include <iostream>

#include "bank/bank_json.h"
#include "common/sqlite.h"
#include "json_output.h"
#include "media_hash.h"
#include "ordered_run.h"
#include "path_walker.h"
#include "safeguard/audit/audit_log.h"
#include "safeguard/bank/matcher.h"
#include "safeguard/exchange/bank_io.h"
#include "safeguard/exchange/sync.h"
#include "safeguard/hash/digest.h"
#include "safeguard/server/service_db.h"
#include "safeguard/video/vpdq.h"

namespace safeguard::cli {
namespace {

// One place that turns a failed Status into the message and exit code a
// user sees.
int Fail(std::ostream& err, const Status& s) {
  err << "safeguard: " << s.message() << " (" << StatusCodeName(s.code()) << ")\n";
  return ExitCodeFor(s.code());
}

void AddStoreOptions(CLI::App* cmd, BankCommandArgs* args) {
  cmd->add_option(
      "--data", args->store.data_dir,
      "Data directory of the SQLite store (default: $SAFEGUARD_DATA, else ~/.local/share/safeguard)");
  cmd->add_option("--postgres", args->store.postgres,
                  "Use the PostgreSQL store at this libpq connection string instead of --data");
}

// Records a bank change made from the command line in the audit log of the
// data directory's service file (docs/server.md), as the server records the
// changes made over HTTP. The change is already committed: a failure here
// is reported (exit 1) so scripts notice, not undone.
int RecordChange(const BankCommandArgs& a, const std::string& action, const Json& details,
                 std::ostream& err) {
  std::unique_ptr<sqlite::Conn> conn;
  Status s = server::OpenServiceDb(a.store.DataDir(), /*create=*/true, &conn);
  std::unique_ptr<audit::AuditLog> log;
  if (s.ok()) s = audit::AuditLog::Open(conn.get(), nullptr, &log);
  if (s.ok()) {
    s = log->Append(
        audit::Event{.actor = "cli", .action = action, .subject = a.name, .details_json = DumpJson(details)},
        nullptr);
  }
  if (!s.ok()) {
    err << "safeguard: the change was made but could not be recorded in the audit log: " << s.message()
        << '\n';
    return 1;
  }
  return 0;
}

int RunCreate(bank::Store* store, const BankCommandArgs& a, std::ostream& out, std::ostream& err) {
  bank::BankSpec spec;
  spec.name = a.name;
  Status s = bank::ParseCategory(a.category, &spec.category);
  if (!s.ok()) return Fail(err, s);
  if (a.distance >= 0) spec.pdq_distance = a.distance;
  spec.enabled = !a.disabled;
  spec.source = a.source;
  bank::Bank b;
  s = store->CreateBank(spec, &b);
  if (!s.ok()) return Fail(err, s);
  out << DumpJson(bank::BankJson(b)) << '\n';
  return RecordChange(a, "bank.create", bank::BankJson(b), err);
}

int RunList(bank::Store* store, std::ostream& out, std::ostream& err) {
  std::vector<bank::Bank> banks;
  Status s = store->ListBanks(&banks);
  if (!s.ok()) return Fail(err, s);
  for (const bank::Bank& b : banks) out << DumpJson(bank::BankJson(b)) << '\n';
  return 0;
}

int RunUpdate(bank::Store* store, const BankCommandArgs& a, std::ostream& out, std::ostream& err) {
  bank::BankUpdate update;
  if (a.distance >= 0) update.pdq_distance = a.distance;
  if (a.enable) update.enabled = true;
  if (a.disabled) update.enabled = false;
  bank::Bank b;
  Status s = store->UpdateBank(a.name, update, &b);
  if (!s.ok()) return Fail(err, s);
  out << DumpJson(bank::BankJson(b)) << '\n';
  return RecordChange(a, "bank.update", bank::BankJson(b), err);
}

int RunDelete(bank::Store* store, const BankCommandArgs& a, std::ostream& out, std::ostream& err) {
  uint64_t withdrawn = 0;
  Status s = store->DeleteBank(a.name, &withdrawn);
  if (!s.ok()) return Fail(err, s);
  out << DumpJson(Json{{"deleted", a.name}, {"withdrawn", withdrawn}}) << '\n';
  return RecordChange(a, "bank.delete", Json{{"withdrawn", withdrawn}}, err);
}

int RunImport(bank::Store* store, const BankCommandArgs& a, std::istream& in, std::ostream& out,
              std::ostream& err) {
  exchange::ImportOptions options;
  if (!exchange::ParseFormat(a.format, &options.read.format)) {
    return Fail(err,
                Status::InvalidArgument("unknown --format '" + a.format + "': use auto, csv, jsonl or pdq"));
  }
  options.read.skip_invalid = a.skip_invalid;
  options.source_list = a.source_list;
  options.source_version = a.source_version;
  exchange::ImportResult r;
  Status s = a.file == "-" ? exchange::ImportHashList(store, a.name, in, options, &r)
                           : exchange::ImportHashListFile(store, a.name, a.file, options, &r);
  for (const exchange::LineError& e : r.report.errors) err << a.file << ": " << e.ToString() << '\n';
  if (r.report.invalid > r.report.errors.size()) {
    err << a.file << ": ... and " << (r.report.invalid - r.report.errors.size()) << " more malformed lines\n";
  }
  if (!s.ok()) {
    if (s.code() == StatusCode::kInvalidArgument && r.report.invalid > 0) {
      err << "safeguard: nothing was imported; fix the lines above or pass --skip-invalid to import the "
             "rest\n";
      return 1;
    }
    return Fail(err, s);
  }
  Json j;
  j["bank"] = a.name;
  j["format"] = std::string(exchange::FormatName(r.report.format));
  j["lines"] = r.report.lines;
  j["entries"] = r.report.entries;
  j["added"] = r.applied.added;
  j["duplicates"] = r.applied.duplicates;
  j["invalid"] = r.report.invalid;
  out << DumpJson(j) << '\n';
  const int recorded = RecordChange(a, "signals.import",
                                    Json{{"added", r.applied.added},
                                         {"duplicates", r.applied.duplicates},
                                         {"source_list", a.source_list},
                                         {"source_version", a.source_version}},
                                    err);
  return r.report.invalid == 0 ? recorded : 1;
}

int RunExport(bank::Store* store, const BankCommandArgs& a, std::ostream& out, std::ostream& err) {
  exchange::Format format;
  if (!exchange::ParseFormat(a.format == "auto" ? "csv" : a.format, &format) ||
      format == exchange::Format::kAuto) {
    return Fail(err, Status::InvalidArgument("unknown --format '" + a.format + "': use csv, jsonl or pdq"));
  }
  uint64_t written = 0;
  if (a.output.empty() || a.output == "-") {
    Status s = exchange::ExportBank(store, a.name, out, format, &written);
    if (!s.ok()) return Fail(err, s);
    out.flush();
    return 0;
  }
  // Through a temporary file renamed at the end, so a failed export never
  // leaves a partial list where a complete one is expected.
  const std::string tmp = a.output + ".tmp";
  std::ofstream file(tmp, std::ios::binary | std::ios::trunc);
  if (!file) return Fail(err, Status::IoError("cannot write '" + tmp + "'"));
  Status s = exchange::ExportBank(store, a.name, file, format, &written);
  file.close();
  if (s.ok() && !file) s = Status::IoError("writing '" + tmp + "' failed (disk full?)");
  if (s.ok() && std::rename(tmp.c_str(), a.output.c_str()) != 0) {
    s = Status::IoError("cannot rename '" + tmp + "' to '" + a.output + "'");
  }
  if (!s.ok()) {
    std::remove(tmp.c_str());
    return Fail(err, s);
  }
  err << "safeguard: exported " << written << " signals of bank '" << a.name << "' to " << a.output << '\n';
  return 0;
}

int RunWithdraw(bank::Store* store, const BankCommandArgs& a, std::ostream& out, std::ostream& err) {
  bank::WithdrawSpec spec;
  spec.external_ids = a.external_ids;
  spec.signal_ids = a.signal_ids;
  if (spec.empty()) return Fail(err, Status::InvalidArgument("name at least one EXTERNAL_ID or --signal-id"));
  uint64_t withdrawn = 0;
  Status s = store->Withdraw(a.name, spec, &withdrawn);
  if (!s.ok()) return Fail(err, s);
  out << DumpJson(Json{{"bank", a.name}, {"withdrawn", withdrawn}}) << '\n';
  return RecordChange(a, "signals.withdraw", Json{{"withdrawn", withdrawn}}, err);
}

// Credentials come from the environment only: a command line is visible to
// every user of the machine (ps) and lands in shell histories.
exchange::SyncOptions SyncOptionsFromEnv(const BankCommandArgs& a, std::ostream& err) {
  auto env = [](const char* name) -> std::string {
    const char* v = std::getenv(name);
    return v != nullptr ? v : "";
  };
  exchange::SyncOptions o;
  o.endpoint = a.endpoint;
  o.timeout_ms = a.timeout_s * 1000;
  o.api_key = env("SAFEGUARD_STOPNCII_API_KEY");
  o.function_key = env("SAFEGUARD_STOPNCII_FUNCTION_KEY");
  o.feedback_function_key = env("SAFEGUARD_STOPNCII_FEEDBACK_FUNCTION_KEY");
  o.user = env("SAFEGUARD_NCMEC_USER");
  o.password = env("SAFEGUARD_NCMEC_PASSWORD");
  o.progress = [&err](const std::string& line) { err << "safeguard: " << line << '\n'; };
  return o;
}

int RunSync(bank::Store* store, const BankCommandArgs& a, std::ostream& out, std::ostream& err) {
  exchange::SyncResult r;
  Status s = exchange::SyncBank(store, a.name, SyncOptionsFromEnv(a, err), &r);
  Json j;
  j["bank"] = a.name;
  j["complete"] = s.ok();
  j["pages"] = r.pages;
  j["fetched"] = r.fetched;
  j["added"] = r.added;
  j["duplicates"] = r.duplicates;
  j["withdrawn"] = r.withdrawn;
  j["skipped"] = r.skipped;
  if (!r.skip_reasons.empty()) j["skip_reasons"] = r.skip_reasons;
  j["checkpoint"] = r.checkpoint;
  // What was applied before a failure stays applied; say so either way.
  out << DumpJson(j) << '\n';
  if (r.added + r.withdrawn > 0 &&
      RecordChange(a, "signals.sync",
                   Json{{"added", r.added}, {"withdrawn", r.withdrawn}, {"checkpoint", r.checkpoint}},
                   err) != 0 &&
      s.ok()) {
    return 1;
  }
  if (!s.ok()) {
    Fail(err, s);
    err << "safeguard: the " << r.pages
        << " pages applied before the failure are kept; run the sync again to "
        << "continue from the checkpoint\n";
    return ExitCodeFor(s.code()) == 2 ? 2 : 1;
  }
  return 0;
}

int RunFeedback(bank::Store* store, const BankCommandArgs& a, std::ostream& out, std::ostream& err) {
  exchange::StopNciiFeedback value;
  Status parsed = exchange::ParseStopNciiFeedback(a.feedback, &value);
  if (!parsed.ok()) return Fail(err, parsed);
  std::vector<exchange::FeedbackItem> items;
  for (uint64_t id : a.signal_ids) {
    exchange::FeedbackItem item;
    item.signal_id = id;
    item.value = value;
    item.tags = a.tags;
    items.push_back(std::move(item));
  }
  for (const std::string& ext : a.external_ids) {
    exchange::FeedbackItem item;
    item.external_id = ext;
    item.value = value;
    item.tags = a.tags;
    items.push_back(std::move(item));
  }
  if (items.empty())
    return Fail(err, Status::InvalidArgument("name at least one EXTERNAL_ID or --signal-id"));
  uint64_t sent = 0;
  Status s = exchange::SubmitFeedback(store, a.name, items, SyncOptionsFromEnv(a, err), &sent);
  out << DumpJson(Json{{"bank", a.name}, {"sent", sent}, {"value", a.feedback}}) << '\n';
  if (!s.ok()) return Fail(err, s);
  return 0;
}

// Hashes one file and matches it: the line `safeguard match` prints.
// Adds the hits (and allow-list hits) of `result` to `j`, with their
// signals' records from the store.
Status AddMatchesJson(const bank::MatchResult& result, bank::Store* store, Json* j) {
  std::vector<bank::Signal> signals;
  std::vector<uint64_t> ids;
  for (const bank::Hit& hit : result.hits) ids.push_back(hit.signal_id);
  for (const bank::Hit& hit : result.allowed) ids.push_back(hit.signal_id);
  if (!ids.empty()) {
    Status s = store->GetSignals(ids, &signals);
    if (!s.ok()) return s;
  }
  Json matches = Json::array();
  for (const bank::Hit& hit : result.hits) matches.push_back(bank::HitJson(hit, signals));
  (*j)["matches"] = std::move(matches);
  if (!result.allowed.empty()) {
    Json allowed = Json::array();
    for (const bank::Hit& hit : result.allowed) allowed.push_back(bank::HitJson(hit, signals));
    (*j)["allowed"] = std::move(allowed);
    (*j)["suppressed"] = result.suppressed;
  }
  return Status::Ok();
}

// A video: its file digests, vPDQ frames and TMK features against every bank.
std::string MatchVideo(const std::string& path, const video::VideoHashes& h, bank::Matcher* matcher,
                       bank::Store* store, bool* failed) {
  Json j;
  j["path"] = path;
  j["media"] = "video";
  j["md5"] = hash::ToHex(h.md5);
  j["sha256"] = hash::ToHex(h.sha256);
  const std::vector<pdq::Hash256> frames = video::VpdqMatchableHashes(h.vpdq);
  j["vpdq_frames"] = frames.size();
  bank::MatchQuery q;
  q.md5 = h.md5;
  q.sha256 = h.sha256;
  q.vpdq = frames;
  q.tmk = h.tmk ? &*h.tmk : nullptr;
  bank::MatchResult result;
  Status s = matcher->Match(q, &result);
  if (s.ok()) s = AddMatchesJson(result, store, &j);
  if (!s.ok()) {
    *failed = true;
    j["error"] = ErrorJson(s);
  }
  return DumpJson(j);
}

std::string MatchOneFile(const std::string& path, hash::ImageHasher* hasher, bank::Matcher* matcher,
                         bank::Store* store, bool dihedral, const video::VideoHashOptions& video_options,
                         bool* failed) {
  Json j;
  j["path"] = path;
  MediaHashes media;
  Status s = HashMedia(path, hasher, video_options, &media);
  if (s.ok() && media.is_video) return MatchVideo(path, media.video, matcher, store, failed);
  const hash::FileHashes& h = media.image;
  bank::MatchResult result;
  if (s.ok()) {
    std::vector<index::Code256> codes;
    const bool pdq_usable = h.pdq.quality >= pdq::kMinMatchQuality;
    if (pdq_usable) {
      if (dihedral) {
        for (const pdq::Hash256& d : h.pdq.dihedral) codes.push_back(index::FromPdq(d));
      } else {
        codes.push_back(index::FromPdq(h.pdq.hash));
      }
    }
    bank::MatchQuery q;
    q.pdq = codes;
    q.md5 = h.md5;
    q.sha256 = h.sha256;
    s = matcher->Match(q, &result);
    if (s.ok()) {
      j["pdq"] = PdqHex(h.pdq.hash);
      j["quality"] = h.pdq.quality;
      if (!pdq_usable) {
        j["pdq_skipped"] = "quality " + std::to_string(h.pdq.quality) + " is below " +
                           std::to_string(pdq::kMinMatchQuality) + "; matched on MD5 and SHA-256 only";
      }
      s = AddMatchesJson(result, store, &j);
      if (s.ok()) return DumpJson(j);
    }
  }
  *failed = true;
  j["error"] = ErrorJson(s);
  return DumpJson(j);
}

// The signals a bank keeps for one video: the file's MD5 and SHA-256 (lists
// of exact copies), its vPDQ at every frame (dense, so that uploads scanned
// at one frame a second find their frames in it, docs/video.md) and its TMK.
Status VideoSignals(const std::string& path, const BankCommandArgs& a, std::vector<bank::NewSignal>* out,
                    Json* summary) {
  video::VideoHashOptions options = a.video;
  options.vpdq_options.seconds_between_frames = 0;
  video::VideoHashes h;
  Status s = video::HashVideo(video::VideoInput::File(path), options, &h);
  if (!s.ok()) return s;
  auto add = [&](bank::SignalType type, std::vector<uint8_t> value, std::vector<uint8_t> content) -> Status {
    bank::NewSignal sig;
    if (bank::SignalHasContent(type)) {
      Status c = bank::MakeContentSignal(type, std::move(content), &sig);
      if (!c.ok()) return c;
    } else {
      sig.type = type;
      sig.value = std::move(value);
    }
    sig.external_id = a.external_id;
    sig.source_list = a.source_list;
    sig.source_version = a.source_version;
    out->push_back(std::move(sig));
    return Status::Ok();
  };
  s = add(bank::SignalType::kMd5, std::vector<uint8_t>(h.md5.begin(), h.md5.end()), {});
  if (s.ok()) s = add(bank::SignalType::kSha256, std::vector<uint8_t>(h.sha256.begin(), h.sha256.end()), {});
  // Only the frames matching can use (distinct, quality >= 50): a static
  // scene of an hour is a few lines, not 108,000.
  std::vector<video::VpdqFrame> kept;
  std::vector<pdq::Hash256> seen;
  const std::vector<pdq::Hash256> matchable = video::VpdqMatchableHashes(h.vpdq);
  size_t next = 0;
  for (const video::VpdqFrame& f : h.vpdq) {
    if (next < matchable.size() && f.quality >= video::kVpdqMinQuality && f.hash == matchable[next]) {
      kept.push_back(f);
      ++next;
    }
  }
  std::string text = video::VpdqToText(kept);
  size_t step = 1, stored = kept.size();
  while (text.size() > bank::kMaxSignalContentBytes) {
    // Longer than a bank signal holds (~46,000 distinct frames): keep every
    // step-th frame, still far denser than one a second.
    ++step;
    std::vector<video::VpdqFrame> thinned;
    for (size_t i = 0; i < kept.size(); i += step) thinned.push_back(kept[i]);
    text = video::VpdqToText(thinned);
    stored = thinned.size();
  }
  if (s.ok() && !kept.empty())
    s = add(bank::SignalType::kVpdq, {}, std::vector<uint8_t>(text.begin(), text.end()));
  if (s.ok() && h.tmk) {
    const std::string tmk = h.tmk->Serialize();
    s = add(bank::SignalType::kTmk, {}, std::vector<uint8_t>(tmk.begin(), tmk.end()));
  }
  if (!s.ok()) return s;
  (*summary)["md5"] = hash::ToHex(h.md5);
  (*summary)["sha256"] = hash::ToHex(h.sha256);
  (*summary)["vpdq_frames"] = stored;
  if (step > 1) (*summary)["vpdq_every_nth_frame"] = step;
  (*summary)["tmk_frames"] = h.tmk ? h.tmk->frame_count : 0;
  return Status::Ok();
}

int RunAddVideo(bank::Store* store, const BankCommandArgs& a, std::ostream& out, std::ostream& err) {
  int exit_code = 0;
  uint64_t added = 0, duplicates = 0;
  for (const std::string& path : a.paths) {
    Json j;
    j["path"] = path;
    std::vector<bank::NewSignal> signals;
    Status s = VideoSignals(path, a, &signals, &j);
    bank::ApplyResult r;
    if (s.ok()) s = store->Import(a.name, signals, &r);
    if (!s.ok()) {
      j["error"] = ErrorJson(s);
      exit_code = 1;
    } else {
      j["added"] = r.added;
      j["duplicates"] = r.duplicates;
      added += r.added;
      duplicates += r.duplicates;
    }
    out << DumpJson(j) << '\n';
  }
  out.flush();
  if (added + duplicates == 0) return exit_code;
  const int recorded = RecordChange(a, "signals.add_video",
                                    Json{{"videos", a.paths.size()},
                                         {"added", added},
                                         {"duplicates", duplicates},
                                         {"source_list", a.source_list}},
                                    err);
  return exit_code != 0 ? exit_code : recorded;
}

int RunMatch(bank::Store* store, const BankCommandArgs& a, std::istream& in, std::ostream& out,
             std::ostream& err) {
  bank::MatcherOptions options;
  options.snapshot_path = a.snapshot;
  if (options.snapshot_path.empty() && a.store.postgres.empty()) {
    options.snapshot_path = a.store.DataDir() + "/pdq-index.snapshot";
  }
  std::unique_ptr<bank::Matcher> matcher;
  Status s = bank::Matcher::Open(store, options, &matcher);
  if (!s.ok()) return Fail(err, s);
  // A large index loaded from the store is saved as a snapshot, so the next
  // start loads it and replays only the changes since.
  constexpr size_t kSnapshotMinEntries = 100000;
  if (!options.snapshot_path.empty() && matcher->load_source() != "snapshot" &&
      matcher->pdq_entries() >= kSnapshotMinEntries) {
    s = matcher->SaveSnapshot();
    if (!s.ok()) err << "safeguard: warning: could not save the index snapshot: " << s.message() << '\n';
  }
  const int jobs = ResolveJobs(a.jobs);
  PathWalker walker(a.paths, &in);
  bank::Matcher* m = matcher.get();
  const bool dihedral = a.hash.dihedral;
  OrderedRun run(a.hash, &walker, out, jobs,
                 [m, store, dihedral, &a](const std::string& path, hash::ImageHasher* hasher, bool* failed) {
                   return MatchOneFile(path, hasher, m, store, dihedral, a.video, failed);
                 });
  RunWorkers(&run, jobs, a.progress, "matching", err);
  out.flush();
  return run.failed() == 0 ? 0 : 1;
}

}  // namespace

void RegisterBankCommands(CLI::App* app, BankCommandArgs* args) {
  CLI::App* bank = app->add_subcommand("bank", "Create, fill and manage banks of hashes (docs/cli.md)");
  bank->require_subcommand(1);

  CLI::App* create = bank->add_subcommand("create", "Create a bank");
  create->add_option("name", args->name, "Bank name: 1-64 of A-Z a-z 0-9 _ . -")->required();
  create->add_option("--category", args->category, "csam, ncii, terrorism, other, or allow (an allow-list)")
      ->required();
  create->add_option("--distance", args->distance, "Largest PDQ distance that matches (0-63, default 31)")
      ->check(CLI::Range(0, 63));
  create->add_option("--source", args->source, "Where its signals come from: file, stopncii, ncmec, ...")
      ->capture_default_str();
  create->add_flag("--disabled", args->disabled, "Create it disabled (its matches are ignored)");

  bank->add_subcommand("list", "List the banks as JSON lines");

  CLI::App* update = bank->add_subcommand("update", "Change a bank's distance or enabled flag");
  update->add_option("name", args->name, "Bank name")->required();
  update->add_option("--distance", args->distance, "Largest PDQ distance that matches (0-63)")
      ->check(CLI::Range(0, 63));
  auto* en = update->add_flag("--enable", args->enable, "Enable the bank");
  update->add_flag("--disable", args->disabled, "Disable the bank (keep its signals, ignore its matches)")
      ->excludes(en);

  CLI::App* del = bank->add_subcommand("delete", "Delete a bank: withdraw all its signals, free its name");
  del->add_option("name", args->name, "Bank name")->required();

  CLI::App* import = bank->add_subcommand("import", "Import a hash list file (docs/formats.md) into a bank");
  import->add_option("name", args->name, "Bank name")->required();
  import->add_option("file", args->file, "CSV, JSONL or plain PDQ list; - for standard input")->required();
  import->add_option("--format", args->format, "auto, csv, jsonl or pdq")->capture_default_str();
  import->add_flag("--skip-invalid", args->skip_invalid,
                   "Import the valid lines and report the malformed ones (default: one bad line fails all)");
  import->add_option("--source-list", args->source_list,
                     "Source list recorded on each signal (default: file name)");
  import->add_option("--source-version", args->source_version, "Version of the source list");

  CLI::App* add_video = bank->add_subcommand(
      "add-video", "Hash videos (MD5, SHA-256, vPDQ at every frame, TMK+PDQF) and add them to a bank");
  add_video->add_option("name", args->name, "Bank name")->required();
  add_video->add_option("videos", args->paths, "Video files")->required()->check(CLI::ExistingFile);
  add_video->add_option("--external-id", args->external_id,
                        "External id recorded on each video's signals (withdraw them all by it)");
  add_video->add_option("--source-list", args->source_list, "Source list recorded on each signal");
  add_video->add_option("--source-version", args->source_version, "Version of the source list");

  CLI::App* exp = bank->add_subcommand("export", "Write a bank's live signals as a hash list");
  exp->add_option("name", args->name, "Bank name")->required();
  exp->add_option("--format", args->format, "csv, jsonl or pdq (default csv)");
  exp->add_option("--output,-o", args->output, "Write to this file (atomically) instead of standard output");

  CLI::App* withdraw = bank->add_subcommand("withdraw", "Withdraw signals: they stop matching at once");
  withdraw->add_option("name", args->name, "Bank name")->required();
  withdraw->add_option("external_ids", args->external_ids, "External ids of the signals to withdraw");
  withdraw->add_option("--signal-id", args->signal_ids, "Signal ids to withdraw");

  CLI::App* sync =
      bank->add_subcommand("sync", "Fetch what changed from the bank's exchange (stopncii, ncmec)");
  sync->add_option("name", args->name, "Bank name")->required();
  sync->add_option("--endpoint", args->endpoint, "Base URL of the exchange (default: its production URL)");
  sync->add_option("--timeout", args->timeout_s, "Seconds per HTTP request")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();

  CLI::App* feedback = bank->add_subcommand(
      "feedback", "Tell StopNCII what was done about matches of a stopncii bank's signals");
  feedback->add_option("name", args->name, "Bank name")->required();
  feedback->add_option("external_ids", args->external_ids,
                       "External ids (StopNCII hash values) of the signals");
  feedback->add_option("--signal-id", args->signal_ids, "Signal ids, as safeguard match reports them");
  feedback->add_option("--value", args->feedback, "Blocked, NotBlocked, PendingReview, QualityUnknown, ...")
      ->capture_default_str();
  feedback->add_option("--tag", args->tags, "A tag to send with the feedback (repeatable)");
  feedback->add_option("--endpoint", args->endpoint, "Base URL of StopNCII (default: its production URL)");
  feedback->add_option("--timeout", args->timeout_s, "Seconds per HTTP request")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();

  for (CLI::App* cmd : {create, bank->get_subcommand("list"), update, del, import, add_video, exp, withdraw,
                        sync, feedback}) {
    AddStoreOptions(cmd, args);
  }

  CLI::App* match =
      app->add_subcommand("match", "Hash images and videos and match them against every enabled bank");
  match->add_option("paths", args->paths, "Files, directories (recursive) or - for paths on stdin")
      ->required();
  match->add_flag("--dihedral", args->hash.dihedral,
                  "Also match rotated and mirrored copies (8 dihedral hashes)");
  match->add_option("--jobs,-j", args->jobs, "Worker threads (default: one per core)")
      ->check(CLI::Range(1, 1024));
  match->add_option(
      "--snapshot", args->snapshot,
      "Index snapshot file (default: DATA/pdq-index.snapshot with SQLite; none with PostgreSQL)");
  match->add_option("--max-pixels", args->hash.limits.max_pixels, "Refuse images above this many pixels")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  match->add_option("--max-bytes", args->hash.limits.max_file_bytes, "Refuse files above this many bytes")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  match
      ->add_option("--vpdq-seconds", args->video.vpdq_options.seconds_between_frames,
                   "Videos: seconds between the frames hashed for vPDQ; 0 hashes every frame")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  AddStoreOptions(match, args);
}

bool RunBankCommands(const CLI::App& app, const BankCommandArgs& args, std::istream& in, std::ostream& out,
                     std::ostream& err, int* exit_code) {
  const CLI::App* bank = app.get_subcommand("bank");
  const CLI::App* match = app.get_subcommand("match");
  if (!bank->parsed() && !match->parsed()) return false;
  std::unique_ptr<bank::Store> store;
  Status s = args.store.Open(&store);
  if (!s.ok()) {
    *exit_code = Fail(err, s);
    return true;
  }
  if (match->parsed()) {
    *exit_code = RunMatch(store.get(), args, in, out, err);
    return true;
  }
  auto parsed = [&](const char* name) { return bank->get_subcommand(name)->parsed(); };
  if (parsed("create")) {
    *exit_code = RunCreate(store.get(), args, out, err);
  } else if (parsed("list")) {
    *exit_code = RunList(store.get(), out, err);
  } else if (parsed("update")) {
    *exit_code = RunUpdate(store.get(), args, out, err);
  } else if (parsed("delete")) {
    *exit_code = RunDelete(store.get(), args, out, err);
  } else if (parsed("import")) {
    *exit_code = RunImport(store.get(), args, in, out, err);
  } else if (parsed("add-video")) {
    *exit_code = RunAddVideo(store.get(), args, out, err);
  } else if (parsed("export")) {
    *exit_code = RunExport(store.get(), args, out, err);
  } else if (parsed("withdraw")) {
    *exit_code = RunWithdraw(store.get(), args, out, err);
  } else if (parsed("sync")) {
    *exit_code = RunSync(store.get(), args, out, err);
  } else if (parsed("feedback")) {
    *exit_code = RunFeedback(store.get(), args, out, err);
  } else {
    *exit_code = 2;
  }
  return true;
}

}  // namespace safeguard::cli
