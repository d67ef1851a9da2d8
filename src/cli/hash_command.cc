// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.

#include "hash_command.h"

#include <cstdio>
#include <ostream>

#include "json_output.h"
#include "ordered_run.h"
#include "path_walker.h"
#include "safeguard/hash/digest.h"

namespace safeguard::cli {
namespace {

std::string CsvField(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

const char* kDihedralNames[8] = {"pdq",   "rot90", "rot180",    "rot270",
                                 "flipx", "flipy", "flipplus1", "flipminus1"};

std::string CsvHeader(bool dihedral) {
  std::string h = "path,pdq,quality,md5,sha256,width,height";
  if (dihedral) {
    for (int d = 1; d < 8; ++d) h += std::string(",") + kDihedralNames[d];
  }
  return h + ",error_code,error_message";
}

std::string FormatVideoRecord(const std::string& path, const video::VideoHashes& h,
                              const HashCommandOptions& options, bool* failed) {
  Json j;
  j["path"] = path;
  Status s = AddVideoJson(path, h, options.video_outputs, &j);
  if (options.format == "csv") {
    // Videos have no single PDQ: those columns stay empty.
    std::string line = CsvField(path) + ",,," + hash::ToHex(h.md5) + "," + hash::ToHex(h.sha256) + "," +
                       std::to_string(h.info.width) + "," + std::to_string(h.info.height);
    if (options.hash.dihedral) line += ",,,,,,,";
    if (!s.ok()) {
      *failed = true;
      return line + "," + std::string(StatusCodeName(s.code())) + "," + CsvField(s.message());
    }
    return line + ",,";
  }
  if (!s.ok()) {
    *failed = true;
    j["error"] = ErrorJson(s);
  }
  return DumpJson(j);
}

std::string FormatRecord(const std::string& path, const Status& status, const hash::FileHashes& h,
                         const HashCommandOptions& options) {
  const bool csv = options.format == "csv";
  const bool dihedral = options.hash.dihedral;
  if (!status.ok()) {
    if (csv) {
      std::string line = CsvField(path) + ",,,,,,";
      if (dihedral) line += ",,,,,,,";
      return line + "," + std::string(StatusCodeName(status.code())) + "," + CsvField(status.message());
    }
    Json j;
    j["path"] = path;
    j["error"] = ErrorJson(status);
    return DumpJson(j);
  }
  if (csv) {
    std::string line = CsvField(path) + "," + PdqHex(h.pdq.hash) + "," + std::to_string(h.pdq.quality) + "," +
                       hash::ToHex(h.md5) + "," + hash::ToHex(h.sha256) + "," + std::to_string(h.width) +
                       "," + std::to_string(h.height);
    if (dihedral) {
      for (int d = 1; d < 8; ++d) line += "," + PdqHex(h.pdq.dihedral[d]);
    }
    return line + ",,";
  }
  Json j;
  j["path"] = path;
  j["pdq"] = PdqHex(h.pdq.hash);
  j["quality"] = h.pdq.quality;
  j["md5"] = hash::ToHex(h.md5);
  j["sha256"] = hash::ToHex(h.sha256);
  j["width"] = h.width;
  j["height"] = h.height;
  if (dihedral) {
    Json list = Json::array();
    for (int d = 0; d < 8; ++d) list.push_back(PdqHex(h.pdq.dihedral[d]));
    j["dihedral"] = std::move(list);
  }
  return DumpJson(j);
}

}  // namespace

int RunHashCommand(const HashCommandOptions& options, std::istream& in, std::ostream& out,
                   std::ostream& err) {
  const int jobs = ResolveJobs(options.jobs);
  PathWalker walker(options.paths, &in);
  if (options.format == "csv") out << CsvHeader(options.hash.dihedral) << '\n';
  OrderedRun run(options.hash, &walker, out, jobs,
                 [&options](const std::string& path, hash::ImageHasher* hasher, bool* failed) {
                   MediaHashes h;
                   const Status s = HashMedia(path, hasher, options.video, &h);
                   *failed = !s.ok();
                   if (s.ok() && h.is_video) return FormatVideoRecord(path, h.video, options, failed);
                   return FormatRecord(path, s, h.image, options);
                 });
  RunWorkers(&run, jobs, options.progress, "hashing", err);
  out.flush();
  return run.failed() == 0 ? 0 : 1;
}

}  // namespace safeguard::cli
