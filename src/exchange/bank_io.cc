// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.

#include "safeguard/exchange/bank_io.h"

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string_view>
#include <vector>

namespace safeguard::exchange {
namespace {

// The quality a list gives is worth keeping (a list that ships low-quality
// hashes should be visible as such), but a signal has no quality column:
// it rides in the metadata, where export finds it again.
std::string MetadataWithQuality(const Entry& e) {
  if (e.quality < 0) return e.metadata_json;
  nlohmann::json meta =
      e.metadata_json.empty() ? nlohmann::json::object() : nlohmann::json::parse(e.metadata_json);
  if (!meta.contains("quality")) meta["quality"] = e.quality;
  return meta.dump();
}

std::string BaseName(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// Reads everything first: the store applies one batch in one transaction,
// and a malformed line must fail the import before anything is written.
Status ReadAndApply(bank::Store* store, const std::string& bank_name, const ImportOptions& options,
                    const std::string& default_source,
                    const std::function<Status(const EntrySink&, ReadReport*)>& stream,
                    ImportResult* result) {
  ImportResult local;
  ImportResult* r = result != nullptr ? result : &local;
  *r = ImportResult();
  bank::Bank b;
  Status s = store->GetBank(bank_name, &b);
  if (!s.ok()) return s;
  const std::string source_list = options.source_list.empty() ? default_source : options.source_list;
  std::vector<bank::NewSignal> signals;
  s = stream(
      [&](std::span<Entry> batch) -> Status {
        for (Entry& e : batch) {
          bank::NewSignal sig;
          sig.type = e.type;
          const auto bytes = e.bytes();
          sig.value.assign(bytes.begin(), bytes.end());
          sig.external_id = std::move(e.external_id);
          sig.source_list = source_list;
          sig.source_version = options.source_version;
          sig.metadata_json = MetadataWithQuality(e);
          signals.push_back(std::move(sig));
        }
        return Status::Ok();
      },
      &r->report);
  if (!s.ok()) return s;
  bank::SignalBatch batch;
  batch.add = signals;
  batch.progress = options.progress;
  return store->Apply(bank_name, batch, &r->applied);
}

}  // namespace

Status ImportHashListFile(bank::Store* store, const std::string& bank_name, const std::string& path,
                          const ImportOptions& options, ImportResult* result) {
  return ReadAndApply(
      store, bank_name, options, BaseName(path),
      [&](const EntrySink& sink, ReadReport* report) {
        return StreamHashListFile(path, options.read, sink, report);
      },
      result);
}

Status ImportHashList(bank::Store* store, const std::string& bank_name, std::istream& in,
                      const ImportOptions& options, ImportResult* result) {
  return ReadAndApply(
      store, bank_name, options, "stdin",
      [&](const EntrySink& sink, ReadReport* report) {
        return StreamHashList(in, options.read, sink, report);
      },
      result);
}

Status ExportBank(bank::Store* store, const std::string& bank_name, std::ostream& out, Format format,
                  uint64_t* written) {
  if (written != nullptr) *written = 0;
  if (format == Format::kAuto) return Status::InvalidArgument("export needs a format: csv, jsonl or pdq");
  bank::Bank b;
  Status s = store->GetBank(bank_name, &b);
  if (!s.ok()) return s;
  std::vector<uint64_t> ids;
  uint64_t cursor = 0;
  bool has_digests = false;
  std::string_view video_type;
  s = store->ForEachLiveSignal(
      [&](const bank::LiveSignal& sig) {
        if (sig.bank_id == b.id) {
          ids.push_back(sig.id);
          has_digests |= sig.type != bank::SignalType::kPdq;
          if (bank::SignalHasContent(sig.type)) video_type = bank::SignalTypeName(sig.type);
        }
        return Status::Ok();
      },
      &cursor);
  if (!s.ok()) return s;
  // Refused before anything is written: a line cannot carry the content.
  if (!video_type.empty()) {
    return Status::InvalidArgument("bank '" + bank_name + "' holds " + std::string(video_type) +
                                   " signals, whose content a hash list cannot hold; it cannot be exported "
                                   "as a list");
  }
  if (format == Format::kPdqList && has_digests) {
    return Status::InvalidArgument("bank '" + bank_name +
                                   "' holds MD5 or SHA-256 signals, which a plain PDQ list cannot hold; "
                                   "export it as csv or jsonl");
  }
  std::sort(ids.begin(), ids.end());
  WriteOptions wo;
  wo.format = format;
  HashListWriter writer(&out, wo);
  constexpr size_t kChunk = 10000;
  std::vector<bank::Signal> signals;
  uint64_t n = 0;
  for (size_t i = 0; i < ids.size(); i += kChunk) {
    const size_t end = std::min(ids.size(), i + kChunk);
    s = store->GetSignals(std::span<const uint64_t>(ids.data() + i, end - i), &signals);
    if (!s.ok()) return s;
    for (const bank::Signal& sig : signals) {
      // Withdrawn since the scan above: the export reflects the scan's
      // moment except for these, which must not be handed out again.
      if (!sig.live()) continue;
      Entry e;
      e.type = sig.type;
      std::copy(sig.value.begin(), sig.value.end(), e.value.begin());
      e.external_id = sig.external_id;
      e.metadata_json = sig.metadata_json;
      if (!e.metadata_json.empty()) {
        nlohmann::json meta = nlohmann::json::parse(e.metadata_json, nullptr, false);
        if (meta.is_object() && meta.contains("quality") && meta["quality"].is_number_integer() &&
            e.type == SignalType::kPdq) {
          const int q = meta["quality"].get<int>();
          if (q >= 0 && q <= 100) e.quality = q;
        }
        // The writers take objects only; anything else stays behind.
        if (!meta.is_object()) e.metadata_json.clear();
      }
      s = writer.Write(e);
      if (!s.ok()) return s;
      ++n;
    }
  }
  s = writer.Finish();
  if (!s.ok()) return s;
  if (written != nullptr) *written = n;
  return Status::Ok();
}

}  // namespace safeguard::exchange
