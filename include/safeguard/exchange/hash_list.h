// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// Reading and writing hash lists in the exchange formats of docs/formats.md
// (version 1): CSV with a `type,value[,external_id,...]` header, JSON Lines,
// and the plain PDQ list (one 64-digit hex hash per line).
//
//   exchange::ReadOptions options;             // format detected from content
//   std::vector<exchange::Entry> entries;
//   exchange::ReadReport report;
//   Status s = exchange::ReadHashListFile("list.csv", options, &entries, &report);
//   if (!s.ok()) return s;                     // entries is empty: nothing applied
//
// Reading streams: a file is read in 1 MiB chunks, never whole, and every
// line is bounded by ReadOptions::max_line_bytes. Every malformed record is
// reported with its line number. Without ReadOptions::skip_invalid one bad
// record fails the whole read and no entry is returned; with it, the valid
// records are returned and the bad ones listed in the ReadReport.
//
// Nothing here depends on the bank store: these functions turn bytes into
// Entry values and back.
//
// Thread-safety: every free function is thread-safe (no shared state); a
// HashListWriter is used by one thread at a time.

#ifndef SAFEGUARD_EXCHANGE_HASH_LIST_H_
#define SAFEGUARD_EXCHANGE_HASH_LIST_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "safeguard/common/status.h"
#include "safeguard/exchange/entry.h"

namespace safeguard::exchange {

/// The version of docs/formats.md that this code reads and writes. CSV files
/// carry it in their first line, "# safeguard hash list v1"; a file declaring
/// another version is refused with kUnsupportedFormat.
inline constexpr int kHashListFormatVersion = 1;

/// A hash list file format.
enum class Format : uint8_t {
  kAuto = 0,  ///< Reading only: decide from the first non-comment line.
  kCsv,       ///< CSV with a header naming at least `type` and `value`.
  kJsonl,     ///< One JSON object per line.
  kPdqList,   ///< One 64-digit hex PDQ hash per line, optionally ",quality".
};

/// Returns "auto", "csv", "jsonl" or "pdq".
std::string_view FormatName(Format format);

/// Parses a format name as FormatName() spells it, ignoring ASCII case
/// ("pdq-list" is also accepted for kPdqList). Returns false, leaving
/// *format unchanged, for anything else.
bool ParseFormat(std::string_view name, Format* format);

/// How to read a hash list.
struct ReadOptions {
  /// The format, or kAuto to detect it from the first non-comment line.
  Format format = Format::kAuto;
  /// false: any malformed record fails the read and nothing is returned.
  /// true: malformed records are reported and skipped; the rest is returned.
  bool skip_invalid = false;
  /// At most this many errors are kept in ReadReport::errors; all are counted.
  size_t max_errors_reported = 100;
  /// A line (for CSV, a record, which may span lines inside quotes) longer
  /// than this many bytes, not counting its line break, is an error.
  /// 1 .. 64 MiB; the reader's buffer is this plus 1 MiB.
  size_t max_line_bytes = 64 << 10;
  /// More valid entries than this fail the read with kTooLarge.
  uint64_t max_entries = 1'000'000'000;
  /// StreamHashList*: entries per call of the sink (at least 1).
  size_t batch_size = 4096;
};

/// One malformed record or one reason a whole file was refused.
struct LineError {
  /// 1-based line where the record starts; 0 when the error is not about a
  /// line (the file could not be opened).
  uint64_t line = 0;
  /// What is wrong and, where it helps, how to fix it; without the
  /// "line N: " prefix. Bytes from the file are quoted with non-printable
  /// bytes escaped and long values cut short, so the message is safe to print.
  std::string message;

  /// Returns "line N: message", or the message alone when line is 0.
  std::string ToString() const;
};

/// What a read saw. Filled in on success and on failure.
struct ReadReport {
  /// The format that was parsed (kAuto if detection failed).
  Format format = Format::kAuto;
  /// Physical lines read (line breaks seen, plus a final unterminated line).
  uint64_t lines = 0;
  /// Valid entries found. On a failed read none of them was returned.
  uint64_t entries = 0;
  /// Malformed records found (all of them, not just those in `errors`).
  uint64_t invalid = 0;
  /// The first ReadOptions::max_errors_reported errors, in file order. A
  /// failure that stops the read (an unreadable file, an unknown format, an
  /// unclosed quote) is the last one.
  std::vector<LineError> errors;
  /// CSV: header columns that are not part of the format, in header order.
  /// Their values are ignored.
  std::vector<std::string> ignored_columns;
};

/// Reads the hash list at `path` into *out, replacing its contents.
///
/// Returns OK when the list was read; with skip_invalid that includes lists
/// with malformed records (see report->invalid). Otherwise *out is left
/// empty and the status is kInvalidArgument for malformed records (the
/// message names the first and counts them all), kUnsupportedFormat when the
/// format cannot be detected or the file declares another format version,
/// kTooLarge when max_entries is exceeded or a CSV record is longer than
/// max_line_bytes, kNotFound / kIoError when the file cannot be read.
/// `report` may be null; if not, it is reset and filled in.
Status ReadHashListFile(const std::string& path, const ReadOptions& options, std::vector<Entry>* out,
                        ReadReport* report);

/// As ReadHashListFile, reading `in` to its end. Does not take ownership.
Status ReadHashList(std::istream& in, const ReadOptions& options, std::vector<Entry>* out,
                    ReadReport* report);

/// As ReadHashListFile, reading `text` (e.g. an HTTP request body).
Status ReadHashListFromString(std::string_view text, const ReadOptions& options, std::vector<Entry>* out,
                              ReadReport* report);

/// Receives the entries of a streamed read in order, in batches of at most
/// ReadOptions::batch_size. It may move from the entries; they are discarded
/// after it returns. A non-OK return stops the read and is returned by
/// StreamHashList*.
using EntrySink = std::function<Status(std::span<Entry> batch)>;

/// Reads the hash list at `path`, handing entries to `sink` as they are
/// parsed, so that a list of any size needs memory for one batch only.
/// Returns as ReadHashListFile does.
///
/// Without skip_invalid, batches parsed before the first malformed record
/// have already been handed over when the read fails: a caller that must
/// apply all or nothing stages what the sink receives and commits only when
/// this returns OK. No batch is handed over after the first malformed record.
Status StreamHashListFile(const std::string& path, const ReadOptions& options, const EntrySink& sink,
                          ReadReport* report);

/// As StreamHashListFile, reading `in` to its end. Does not take ownership.
Status StreamHashList(std::istream& in, const ReadOptions& options, const EntrySink& sink,
                      ReadReport* report);

/// How to write a hash list.
struct WriteOptions {
  /// kCsv, kJsonl or kPdqList (kAuto is refused).
  Format format = Format::kCsv;
  /// CSV: write a `quality` column. Without it qualities are not written.
  bool csv_quality_column = true;
  /// CSV: write a `metadata` column. Without it metadata is not written.
  bool csv_metadata_column = true;
};

/// Writes entries one at a time in a format ReadHashList reads back to equal
/// entries (the plain PDQ list keeps only the hash and quality). CSV starts
/// with "# safeguard hash list v1" and the header; lines end in "\n".
///
/// Not thread-safe: one thread at a time.
class HashListWriter {
 public:
  /// Writes to `out`, which must outlive the writer (not owned).
  HashListWriter(std::ostream* out, const WriteOptions& options);
  HashListWriter(const HashListWriter&) = delete;
  HashListWriter& operator=(const HashListWriter&) = delete;

  /// Writes one entry (the CSV header first, on the first call). Returns
  /// kInvalidArgument, writing nothing, for an entry the format cannot hold
  /// or the reader would refuse: a non-PDQ entry in a plain PDQ list, an
  /// external_id that is not UTF-8 or holds a NUL byte, metadata_json that is
  /// not a JSON object, a quality outside -1..100 or on a non-PDQ entry.
  /// Returns kIoError if the stream has failed.
  Status Write(const Entry& entry);

  /// Writes the header if no entry was written, flushes the stream and
  /// returns kIoError if any write failed. Call once, last.
  Status Finish();

 private:
  Status WriteHeaderOnce();

  std::ostream* out_;
  WriteOptions options_;
  bool header_written_ = false;
  uint64_t written_ = 0;
  std::string line_;
};

/// Writes `entries` to `out` as a whole list (HashListWriter, then Finish).
/// For CSV the quality and metadata columns are written only when some
/// entry has a quality or metadata. Returns the first error, naming the
/// index of the entry; `out` may then hold a partial list.
Status WriteHashList(std::ostream& out, Format format, std::span<const Entry> entries);

/// Writes `entries` to the file `path` as WriteHashList does, through a
/// temporary file in the same directory that is renamed over `path` only when
/// everything was written, so `path` never holds a partial list. Returns
/// kIoError when the file cannot be written.
Status WriteHashListFile(const std::string& path, Format format, std::span<const Entry> entries);

}  // namespace safeguard::exchange

#endif  // SAFEGUARD_EXCHANGE_HASH_LIST_H_
