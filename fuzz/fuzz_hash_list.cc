// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// libFuzzer target for the hash list reader and writer (docs/formats.md).
// The last byte picks the format (auto, CSV, JSONL, plain PDQ list) and
// whether invalid records are skipped; the rest is the file. Beyond not
// crashing, it checks the reader's promises: a failed read returns nothing
// and says why, a successful read without skip_invalid saw no invalid
// record, and whatever the reader accepts the writer writes as CSV and
// JSONL that read back to equal entries.

#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string_view>
#include <vector>

#include "safeguard/exchange/hash_list.h"

namespace {

using safeguard::Status;
using namespace safeguard::exchange;

void RoundTrip(const std::vector<Entry>& entries, Format format) {
  std::ostringstream out;
  if (!WriteHashList(out, format, entries).ok()) __builtin_trap();  // accepted entries must be writable
  ReadOptions options;
  options.format = format;
  options.max_line_bytes = 1 << 20;  // escaping may lengthen a line up to 6 times
  std::vector<Entry> back;
  if (!ReadHashListFromString(out.str(), options, &back, nullptr).ok()) __builtin_trap();
  if (back != entries) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t control = data[size - 1];
  const std::string_view text(reinterpret_cast<const char*>(data), size - 1);
  ReadOptions options;
  options.format = static_cast<Format>(control % 4);
  options.skip_invalid = (control & 4) != 0;
  options.max_line_bytes = 4096;
  options.max_errors_reported = 8;
  std::vector<Entry> entries;
  ReadReport report;
  const Status status = ReadHashListFromString(text, options, &entries, &report);
  if (!status.ok()) {
    if (status.message().empty() || !entries.empty() || report.errors.empty()) __builtin_trap();
    return 0;
  }
  if (entries.size() != report.entries) __builtin_trap();
  if (!options.skip_invalid && report.invalid != 0) __builtin_trap();
  RoundTrip(entries, Format::kCsv);
  RoundTrip(entries, Format::kJsonl);
  return 0;
}
