// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// Moving hash lists between files and banks: import a list file (any format
// of docs/formats.md) into a bank in one transaction, and export a bank's
// live signals as a list. The `safeguard bank import` and `bank export`
// commands call these; so will the HTTP API.
//
//   exchange::ImportOptions options;           // format detected, all or nothing
//   exchange::ImportResult result;
//   Status s = exchange::ImportHashListFile(store, "ncii", "list.csv", options, &result);
//
// Thread-safety: the functions are thread-safe to the extent the Store is
// (every Store is); each call is independent.

#ifndef SAFEGUARD_EXCHANGE_BANK_IO_H_
#define SAFEGUARD_EXCHANGE_BANK_IO_H_

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <string>

#include "safeguard/bank/store.h"
#include "safeguard/common/status.h"
#include "safeguard/exchange/hash_list.h"

namespace safeguard::exchange {

/// How to import a hash list into a bank.
struct ImportOptions {
  /// Format, skip_invalid and limits of the read (docs/formats.md).
  ReadOptions read;
  /// Recorded on every signal as its source list; empty: the file's name
  /// (without directories), or "stdin".
  std::string source_list;
  /// Recorded on every signal as the source list's version (may be empty).
  std::string source_version;
  /// If set, called with (signals written, signals to write) while the
  /// transaction runs (see SignalBatch::progress).
  std::function<void(size_t done, size_t total)> progress;
};

/// What an import did.
struct ImportResult {
  /// What the read saw: lines, entries, malformed lines with their numbers.
  ReadReport report;
  /// What the store did: added, duplicates skipped.
  bank::ApplyResult applied;
};

/// Reads the hash list at `path` and adds its entries to bank `bank_name` in
/// one transaction. Without options.read.skip_invalid, one malformed line
/// fails the import and nothing is applied (the status names the first bad
/// line; result->report lists up to max_errors_reported of them); with it,
/// the valid lines are applied and the bad ones are listed. A PDQ quality
/// given in the list is kept in the signal's metadata as "quality" (unless
/// the metadata has that key). Returns the read's errors (see
/// ReadHashListFile), kNotFound for an unknown bank, or the store's errors.
/// `result` may be null.
Status ImportHashListFile(bank::Store* store, const std::string& bank_name, const std::string& path,
                          const ImportOptions& options, ImportResult* result);

/// As ImportHashListFile, reading `in` to its end (standard input, an HTTP
/// body). Does not take ownership of `in`.
Status ImportHashList(bank::Store* store, const std::string& bank_name, std::istream& in,
                      const ImportOptions& options, ImportResult* result);

/// Writes the live signals of bank `bank_name` to `out` in `format` (kCsv,
/// kJsonl or kPdqList; a plain PDQ list refuses a bank holding digests), in
/// the order they were added, with external ids and metadata. Stores the
/// number written in *written (if not null). Returns kNotFound for an
/// unknown bank, kInvalidArgument for a format that cannot hold the bank,
/// kIoError if `out` fails.
Status ExportBank(bank::Store* store, const std::string& bank_name, std::ostream& out, Format format,
                  uint64_t* written);

}  // namespace safeguard::exchange

#endif  // SAFEGUARD_EXCHANGE_BANK_IO_H_
