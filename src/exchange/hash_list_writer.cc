// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// The writer refuses what the reader would refuse (invalid UTF-8, NUL bytes,
// metadata that is not an object), so an exported list always imports
// again. Lines are built by hand rather than through nlohmann::json: an
// export of 10M entries should take seconds, and only metadata needs a JSON
// library (to check it and write it in one canonical form).

#include <nlohmann/json.hpp>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <ostream>
#include <string>

#include "safeguard/exchange/hash_list.h"
#include "text.h"

namespace safeguard::exchange {
namespace {

Status CheckEntry(const Entry& e, Format format, std::string* canonical_metadata) {
  if (SignalHasContent(e.type)) {
    return Status::InvalidArgument("a hash list cannot hold " + std::string(SignalTypeName(e.type)) +
                                   " signals: a line has a value but no room for their content");
  }
  if (e.type != SignalType::kPdq && e.type != SignalType::kMd5 && e.type != SignalType::kSha256) {
    return Status::InvalidArgument("unknown signal type " + std::to_string(static_cast<int>(e.type)));
  }
  if (format == Format::kPdqList && e.type != SignalType::kPdq) {
    return Status::InvalidArgument("a plain PDQ list holds only pdq entries, not " +
                                   std::string(SignalTypeName(e.type)) + "; write CSV or JSONL instead");
  }
  if (e.quality < -1 || e.quality > 100) {
    return Status::InvalidArgument("quality " + std::to_string(e.quality) + " is not from 0 to 100 (or -1)");
  }
  if (e.quality >= 0 && e.type != SignalType::kPdq) {
    return Status::InvalidArgument("a " + std::string(SignalTypeName(e.type)) +
                                   " entry has a quality; only pdq has one");
  }
  const size_t bad = internal::FindInvalidUtf8(e.external_id);
  if (bad != std::string::npos) {
    return Status::InvalidArgument("external_id " + internal::Quote(e.external_id) +
                                   " is not valid UTF-8 (byte " + std::to_string(bad + 1) + ")");
  }
  if (e.external_id.find('\0') != std::string::npos) {
    return Status::InvalidArgument("external_id holds a NUL character");
  }
  canonical_metadata->clear();
  if (!e.metadata_json.empty() && format != Format::kPdqList) {
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(e.metadata_json);
    } catch (const nlohmann::json::exception&) {
      return Status::InvalidArgument("metadata_json is not valid JSON: " + internal::Quote(e.metadata_json));
    }
    if (!j.is_null()) {
      if (!j.is_object()) return Status::InvalidArgument("metadata_json is not a JSON object");
      *canonical_metadata = j.dump();
    }
  }
  return Status::Ok();
}

}  // namespace

HashListWriter::HashListWriter(std::ostream* out, const WriteOptions& options)
    : out_(out), options_(options) {}

Status HashListWriter::WriteHeaderOnce() {
  if (header_written_) return Status::Ok();
  header_written_ = true;
  if (options_.format != Format::kCsv) return Status::Ok();
  std::string header = "# safeguard hash list v" + std::to_string(kHashListFormatVersion) + "\n";
  header += "type,value,external_id";
  if (options_.csv_quality_column) header += ",quality";
  if (options_.csv_metadata_column) header += ",metadata";
  header += '\n';
  out_->write(header.data(), static_cast<std::streamsize>(header.size()));
  return Status::Ok();
}

Status HashListWriter::Write(const Entry& entry) {
  const Format format = options_.format;
  if (format != Format::kCsv && format != Format::kJsonl && format != Format::kPdqList) {
    return Status::InvalidArgument("cannot write the format '" + std::string(FormatName(format)) +
                                   "': give csv, jsonl or pdq");
  }
  std::string metadata;
  Status s = CheckEntry(entry, format, &metadata);
  if (!s.ok()) return s;
  s = WriteHeaderOnce();
  if (!s.ok()) return s;

  line_.clear();
  const std::string hex = entry.ValueHex();
  switch (format) {
    case Format::kCsv:
      line_ += SignalTypeName(entry.type);
      line_ += ',';
      line_ += hex;
      line_ += ',';
      internal::AppendCsvField(&line_, entry.external_id);
      if (options_.csv_quality_column) {
        line_ += ',';
        if (entry.quality >= 0) line_ += std::to_string(entry.quality);
      }
      if (options_.csv_metadata_column) {
        line_ += ',';
        internal::AppendCsvField(&line_, metadata);
      }
      break;
    case Format::kJsonl:
      line_ += "{\"type\":\"";
      line_ += SignalTypeName(entry.type);
      line_ += "\",\"value\":\"";
      line_ += hex;
      line_ += '"';
      if (!entry.external_id.empty()) {
        line_ += ",\"external_id\":";
        internal::AppendJsonString(&line_, entry.external_id);
      }
      if (entry.quality >= 0) line_ += ",\"quality\":" + std::to_string(entry.quality);
      if (!metadata.empty()) line_ += ",\"metadata\":" + metadata;
      line_ += '}';
      break;
    default:
      line_ += hex;
      if (entry.quality >= 0) line_ += "," + std::to_string(entry.quality);
      break;
  }
  line_ += '\n';
  out_->write(line_.data(), static_cast<std::streamsize>(line_.size()));
  if (!*out_) return Status::IoError("cannot write the hash list: the output stream failed");
  ++written_;
  return Status::Ok();
}

Status HashListWriter::Finish() {
  Status s = WriteHeaderOnce();
  if (!s.ok()) return s;
  out_->flush();
  if (!*out_) return Status::IoError("cannot write the hash list: the output stream failed");
  return Status::Ok();
}

Status WriteHashList(std::ostream& out, Format format, std::span<const Entry> entries) {
  WriteOptions options;
  options.format = format;
  options.csv_quality_column = false;
  options.csv_metadata_column = false;
  for (const Entry& e : entries) {
    options.csv_quality_column |= e.quality >= 0;
    options.csv_metadata_column |= !e.metadata_json.empty();
  }
  HashListWriter writer(&out, options);
  for (size_t i = 0; i < entries.size(); ++i) {
    Status s = writer.Write(entries[i]);
    if (!s.ok()) {
      return s.code() == StatusCode::kInvalidArgument
                 ? Status::InvalidArgument("entry " + std::to_string(i) + ": " + s.message())
                 : s;
    }
  }
  return writer.Finish();
}

Status WriteHashListFile(const std::string& path, Format format, std::span<const Entry> entries) {
  // Same directory, so the rename is atomic and never crosses file systems.
  const std::string tmp = path + ".tmp";
  Status s;
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return Status::IoError("cannot create " + tmp + ": " + std::strerror(errno));
    s = WriteHashList(out, format, entries);
    if (s.ok()) {
      out.close();
      if (!out) s = Status::IoError("cannot write " + tmp + ": " + std::strerror(errno));
    }
  }
  if (s.ok() && std::rename(tmp.c_str(), path.c_str()) != 0) {
    s = Status::IoError("cannot rename " + tmp + " to " + path + ": " + std::strerror(errno));
  }
  if (!s.ok()) std::remove(tmp.c_str());
  return s;
}

}  // namespace safeguard::exchange
