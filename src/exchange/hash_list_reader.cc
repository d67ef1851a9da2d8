// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// One pass over the input, line by line, with the format decided by the
// first content line, so nothing is read twice and no input is held whole.
// Importing 10M PDQ hashes must take under a minute end to end, so the CSV
// and plain-list paths avoid allocation per line: fields are views into the
// line buffer and entries are built in place in the output batch. JSON
// Lines go through nlohmann::json, which is several times slower; it is the
// format for lists with metadata, which are small.
//
// All-or-nothing without skip_invalid: once a record is malformed, entries
// are no longer collected (the rest of the file is still parsed, only to
// report every error at once), and what was collected is dropped.

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>
#include <memory>
#include <utility>

#include "line_reader.h"
#include "safeguard/exchange/hash_list.h"
#include "text.h"

namespace safeguard::exchange {
namespace {

using internal::LineReader;
using internal::Quote;
using internal::TrimBlanks;

// Metadata may nest this deep, counting the line's own object as level 1.
// nlohmann::json parses deep input without recursion, but dump() and the
// bank's later processing recurse, and a 64 KiB line of '[' would otherwise
// mean 64K stack frames.
constexpr size_t kMaxJsonDepth = 32;
constexpr size_t kMaxLineBytesLimit = size_t{64} << 20;
constexpr std::string_view kBom = "\xEF\xBB\xBF";
constexpr std::string_view kVersionComment = "# safeguard hash list v";

enum class Column : int8_t { kIgnored = -1, kType, kValue, kExternalId, kQuality, kMetadata };

std::string_view StripCr(std::string_view s) {
  return (!s.empty() && s.back() == '\r') ? s.substr(0, s.size() - 1) : s;
}

bool StartsWith(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

// The first field (before a comma) is a 64-digit hex token: a plain PDQ list.
bool LooksLikePdqLine(std::string_view trimmed) {
  const std::string_view first = TrimBlanks(trimmed.substr(0, trimmed.find(',')));
  return first.size() == 64 && internal::IsHex(first);
}

// Column names such as "hash" or "pdq_hash,quality": letters, '_', '-' and
// spaces only, and not only hex letters, so that neither a hash (hashes
// contain digits) nor a short hex typo such as "face" is taken for one.
bool IsHeaderWords(std::string_view trimmed) {
  bool has_word_char = false;
  for (char c : trimmed) {
    const char lower = static_cast<char>(c | 0x20);
    const bool letter = lower >= 'a' && lower <= 'z';
    if (!letter && c != '_' && c != '-' && c != ' ' && c != '\t' && c != ',') return false;
    has_word_char |= (letter && lower > 'f') || c == '_';
  }
  return has_word_char;
}

// Names the kind of file when its first bytes are a well-known signature:
// the usual mistakes are passing an image or a compressed list.
std::string_view SniffBinary(std::string_view head) {
  static const struct {
    std::string_view magic;
    std::string_view what;
  } kMagic[] = {
      {"\xFF\xD8\xFF", "a JPEG image"},
      {"\x89PNG", "a PNG image"},
      {"GIF8", "a GIF image"},
      {"RIFF", "a RIFF file (WebP image or media)"},
      {"%PDF", "a PDF document"},
      {"\x1F\x8B", "gzip-compressed; decompress it first"},
      {"PK\x03\x04", "a zip archive; extract it first"},
      {"\xFD\x37\x7A\x58\x5A\x00", "xz-compressed; decompress it first"},
      {"\x28\xB5\x2F\xFD", "zstd-compressed; decompress it first"},
      {"BZh", "bzip2-compressed; decompress it first"},
  };
  for (const auto& m : kMagic) {
    if (StartsWith(head, m.magic)) return m.what;
  }
  return {};
}

// Returns the deepest nesting of arrays and objects in JSON text, ignoring
// brackets inside strings. Malformed text gives some number; the parser
// then reports the real problem.
size_t JsonDepth(std::string_view s) {
  size_t depth = 0, max_depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      max_depth = std::max(max_depth, ++depth);
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return max_depth;
}

// nlohmann's messages start with "[json.exception.parse_error.101] parse
// error at line 1, column 7: ..."; the list's line number is already in
// front of ours, so keep the column and the explanation.
std::string JsonErrorMessage(const std::exception& e) {
  std::string_view what = e.what();
  const size_t bracket = what.find("] ");
  if (bracket != std::string_view::npos) what.remove_prefix(bracket + 2);
  if (StartsWith(what, "parse error at line 1, ")) what.remove_prefix(23);
  // It may echo input bytes; keep the message printable and short.
  std::string out;
  for (char c : what.substr(0, 200)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  return out;
}

bool ParseMetadata(std::string_view text, std::string* out, std::string* error) {
  if (JsonDepth(text) + 1 > kMaxJsonDepth) {
    *error = "metadata nests deeper than " + std::to_string(kMaxJsonDepth - 1) + " levels";
    return false;
  }
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    *error = "metadata is not valid JSON: " + JsonErrorMessage(e);
    return false;
  }
  if (j.is_null()) {
    out->clear();
    return true;
  }
  if (!j.is_object()) {
    *error = std::string("metadata must be a JSON object, not ") + j.type_name();
    return false;
  }
  *out = j.dump();
  return true;
}

bool CheckExternalId(std::string_view id, std::string* error) {
  const size_t bad = internal::FindInvalidUtf8(id);
  if (bad != std::string_view::npos) {
    *error = "external_id " + Quote(id) + " is not valid UTF-8 (byte " + std::to_string(bad + 1) + ")";
    return false;
  }
  if (id.find('\0') != std::string_view::npos) {  // memchr must not see an empty view's null data()
    *error = "external_id holds a NUL character";
    return false;
  }
  return true;
}

class Parser {
 public:
  // Entries go to *batch; with a sink, the batch is handed over and cleared
  // whenever it holds options.batch_size entries.
  Parser(const ReadOptions& options, ReadReport* report, std::vector<Entry>* batch, const EntrySink* sink)
      : options_(options), report_(report), batch_(batch), sink_(sink) {
    switch (options.format) {
      case Format::kAuto:
        mode_ = Mode::kDetect;
        break;
      case Format::kCsv:
        mode_ = Mode::kCsvHeader;
        report_->format = Format::kCsv;
        break;
      case Format::kJsonl:
        mode_ = Mode::kJsonl;
        report_->format = Format::kJsonl;
        break;
      case Format::kPdqList:
        mode_ = Mode::kPdqList;
        report_->format = Format::kPdqList;
        break;
    }
  }

  Status Run(LineReader* lines) {
    std::string_view raw;
    bool too_long = false, end = false;
    while (true) {
      Status s = lines->Next(&raw, &too_long, &end);
      if (!s.ok()) return Fatal(s.code(), 0, s.message());
      if (end) break;
      const uint64_t line = lines->line_number();
      report_->lines = line;
      if (line == 1 && StartsWith(raw, kBom)) raw.remove_prefix(kBom.size());
      s = OnLine(raw, too_long, line);
      if (!s.ok()) return s;
    }
    if (in_record_) {
      return Fatal(StatusCode::kInvalidArgument, record_line_,
                   "a quoted field opened on this line is never closed before the end of the file");
    }
    if (mode_ == Mode::kDetect && pending_plain_header_) report_->format = Format::kPdqList;
    if (report_->invalid > 0 && !options_.skip_invalid) {
      batch_->clear();
      std::string msg = first_error_.ToString() + " (";
      if (report_->invalid > 1)
        msg += "the first of " + std::to_string(report_->invalid) + " invalid records; ";
      msg += "nothing was read: fix ";
      msg += report_->invalid > 1 ? "them" : "it";
      msg += ", or skip invalid records to keep the rest)";
      return Status::InvalidArgument(std::move(msg));
    }
    return Flush();
  }

 private:
  enum class Mode { kDetect, kCsvHeader, kCsv, kJsonl, kPdqList };

  Status OnLine(std::string_view raw, bool too_long, uint64_t line) {
    if (in_record_) return ContinueCsvRecord(raw, too_long, line);
    if (too_long) return OnTooLong(raw, line);
    const std::string_view trimmed = TrimBlanks(raw);
    if (trimmed.empty()) return Status::Ok();
    if (trimmed[0] == '#') return OnComment(trimmed, line);
    switch (mode_) {
      case Mode::kDetect:
        return Detect(raw, trimmed, line);
      case Mode::kCsvHeader:
        return CsvHeader(raw, line);
      case Mode::kCsv:
        if (internal::InQuotesAfter(raw, false)) {
          in_record_ = true;
          record_line_ = line;
          record_.assign(raw);
          return Status::Ok();
        }
        return CsvRecord(StripCr(raw), line);
      case Mode::kJsonl:
        return JsonlLine(trimmed, line);
      case Mode::kPdqList:
        return PdqLine(trimmed, line);
    }
    return Status::Ok();
  }

  Status OnTooLong(std::string_view prefix, uint64_t line) {
    const std::string limit = std::to_string(options_.max_line_bytes);
    if (mode_ == Mode::kDetect) {
      const std::string_view what = line == 1 ? SniffBinary(prefix) : std::string_view();
      if (!what.empty()) return NotAHashList(line, what);
      return Fatal(StatusCode::kUnsupportedFormat, line,
                   "line is longer than " + limit + " bytes; this does not look like a hash list");
    }
    // A CSV line may belong to a quoted field spanning lines, so once one is
    // cut the record boundaries after it are unknown: skipping it could drop
    // or misread any number of entries.
    if (mode_ == Mode::kCsv || mode_ == Mode::kCsvHeader) {
      return Fatal(StatusCode::kTooLarge, line,
                   "CSV record is longer than " + limit + " bytes (is a quote unclosed?); nothing was read");
    }
    return RecordError(line, "line is longer than " + limit + " bytes");
  }

  Status OnComment(std::string_view comment, uint64_t line) {
    if (!StartsWith(comment, kVersionComment)) return Status::Ok();
    const std::string_view version = TrimBlanks(comment.substr(kVersionComment.size()));
    if (version != "1") {
      return Fatal(StatusCode::kUnsupportedFormat, line,
                   "the list declares format version " + Quote(version) + "; this Safeguard reads version " +
                       std::to_string(kHashListFormatVersion) + " (docs/formats.md)");
    }
    return Status::Ok();
  }

  Status NotAHashList(uint64_t line, std::string_view what) {
    return Fatal(StatusCode::kUnsupportedFormat, line,
                 "this is not a hash list: the file looks like " + std::string(what));
  }

  Status Detect(std::string_view raw, std::string_view trimmed, uint64_t line) {
    if (line == 1) {
      const std::string_view what = SniffBinary(raw);
      if (!what.empty()) return NotAHashList(line, what);
    }
    if (raw.find('\0') != std::string_view::npos) return NotAHashList(line, "binary data");
    if (trimmed[0] == '{') {
      mode_ = Mode::kJsonl;
      report_->format = Format::kJsonl;
      return JsonlLine(trimmed, line);
    }
    if (LooksLikePdqLine(trimmed)) {
      mode_ = Mode::kPdqList;
      report_->format = Format::kPdqList;
      plain_header_allowed_ = false;
      return PdqLine(trimmed, line);
    }
    if (!pending_plain_header_) {
      if (!internal::InQuotesAfter(raw, false) &&
          internal::SplitCsvRecord(StripCr(raw), &fields_, &scratch_, &error_)) {
        bool has_type = false, has_value = false;
        for (std::string_view f : fields_) {
          has_type |= internal::EqualsIgnoreCase(TrimBlanks(f), "type");
          has_value |= internal::EqualsIgnoreCase(TrimBlanks(f), "value");
        }
        if (has_type && has_value) {
          mode_ = Mode::kCsvHeader;
          report_->format = Format::kCsv;
          return CsvHeader(raw, line);
        }
        SignalType type;
        if (!fields_.empty() && ParseSignalType(fields_[0], &type)) {
          return Fatal(StatusCode::kUnsupportedFormat, line,
                       "this looks like a CSV row without a header: add the line type,value,external_id "
                       "at the top");
        }
      }
      if (IsHeaderWords(trimmed)) {
        // Maybe a plain PDQ list with a header such as "hash"; the next
        // content line decides.
        pending_plain_header_ = true;
        pending_line_ = line;
        return Status::Ok();
      }
    }
    const size_t bad = internal::FindInvalidUtf8(raw);
    if (bad != std::string_view::npos) return NotAHashList(line, "binary data (it is not UTF-8 text)");
    std::string msg = "cannot tell the format of the hash list from " + Quote(trimmed);
    if (pending_plain_header_) {
      msg += " after the line " + std::to_string(pending_line_) + " header";
    }
    msg +=
        ": expected a CSV header with type and value columns, a JSON object, or a 64-digit hex PDQ hash "
        "(or give the format explicitly)";
    return Fatal(StatusCode::kUnsupportedFormat, line, std::move(msg));
  }

  Status CsvHeader(std::string_view raw, uint64_t line) {
    if (internal::InQuotesAfter(raw, false)) {
      return Fatal(StatusCode::kInvalidArgument, line, "the CSV header opens a quote that is never closed");
    }
    if (!internal::SplitCsvRecord(StripCr(raw), &fields_, &scratch_, &error_)) {
      return Fatal(StatusCode::kInvalidArgument, line, "the CSV header is malformed: " + error_);
    }
    static const struct {
      std::string_view name;
      Column column;
    } kColumns[] = {{"type", Column::kType},
                    {"value", Column::kValue},
                    {"external_id", Column::kExternalId},
                    {"quality", Column::kQuality},
                    {"metadata", Column::kMetadata}};
    columns_.assign(fields_.size(), Column::kIgnored);
    int index[5] = {-1, -1, -1, -1, -1};
    for (size_t i = 0; i < fields_.size(); ++i) {
      const std::string_view name = TrimBlanks(fields_[i]);
      bool known = false;
      for (const auto& c : kColumns) {
        if (!internal::EqualsIgnoreCase(name, c.name)) continue;
        int& slot = index[static_cast<int>(c.column)];
        if (slot >= 0) {
          return Fatal(StatusCode::kInvalidArgument, line,
                       "the CSV header names the column '" + std::string(c.name) + "' twice");
        }
        slot = static_cast<int>(i);
        columns_[i] = c.column;
        known = true;
      }
      if (!known) report_->ignored_columns.emplace_back(name);
    }
    if (index[0] < 0 || index[1] < 0) {
      return Fatal(StatusCode::kInvalidArgument, line,
                   "expected a CSV header naming the columns type and value (e.g. type,value,external_id), "
                   "found " +
                       Quote(TrimBlanks(raw), 80));
    }
    mode_ = Mode::kCsv;
    return Status::Ok();
  }

  Status ContinueCsvRecord(std::string_view raw, bool too_long, uint64_t line) {
    if (too_long || record_.size() + 1 + raw.size() > options_.max_line_bytes) {
      in_record_ = false;
      return Fatal(StatusCode::kTooLarge, record_line_,
                   "CSV record is longer than " + std::to_string(options_.max_line_bytes) +
                       " bytes (is a quote unclosed?); nothing was read");
    }
    // The line break inside the quotes is part of the field: '\n' here, and
    // a '\r' before it is still at the end of the previous line.
    record_ += '\n';
    record_ += raw;
    if (internal::InQuotesAfter(raw, true)) return Status::Ok();
    in_record_ = false;
    return CsvRecord(StripCr(record_), record_line_);
  }

  Status CsvRecord(std::string_view record, uint64_t line) {
    if (record.find('\0') != std::string_view::npos) {
      return RecordError(line, "the record holds a NUL byte; binary data is not a hash list");
    }
    if (!internal::SplitCsvRecord(record, &fields_, &scratch_, &error_)) return RecordError(line, error_);
    if (fields_.size() > columns_.size()) {
      return RecordError(line, std::to_string(fields_.size()) + " fields, but the header has " +
                                   std::to_string(columns_.size()) +
                                   " columns; quote fields that contain commas");
    }
    std::string_view type_text, value_text, id, quality_text, metadata_text;
    for (size_t i = 0; i < fields_.size(); ++i) {
      switch (columns_[i]) {
        case Column::kType:
          type_text = TrimBlanks(fields_[i]);
          break;
        case Column::kValue:
          value_text = TrimBlanks(fields_[i]);
          break;
        case Column::kExternalId:
          id = fields_[i];
          break;
        case Column::kQuality:
          quality_text = TrimBlanks(fields_[i]);
          break;
        case Column::kMetadata:
          metadata_text = TrimBlanks(fields_[i]);
          break;
        case Column::kIgnored:
          break;
      }
    }
    SignalType type;
    std::array<uint8_t, 32> value;
    int quality;
    if (!ParseTypeValueQuality(type_text, value_text, quality_text, &type, &value, &quality)) {
      return RecordError(line, error_);
    }
    if (!CheckExternalId(id, &error_)) return RecordError(line, error_);
    metadata_.clear();
    if (!metadata_text.empty() && !ParseMetadata(metadata_text, &metadata_, &error_)) {
      return RecordError(line, error_);
    }
    Entry* e = NewEntry();
    e->type = type;
    e->value = value;
    e->quality = quality;
    e->external_id.assign(id);
    e->metadata_json.swap(metadata_);
    return EntryDone();
  }

  Status JsonlLine(std::string_view trimmed, uint64_t line) {
    if (trimmed.find('\0') != std::string_view::npos) {
      return RecordError(line, "the line holds a NUL byte; binary data is not a hash list");
    }
    if (trimmed[0] != '{') {
      return RecordError(line, "expected a JSON object starting with '{', found " + Quote(trimmed));
    }
    if (JsonDepth(trimmed) > kMaxJsonDepth) {
      return RecordError(line, "the JSON nests deeper than " + std::to_string(kMaxJsonDepth) + " levels");
    }
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(trimmed);
    } catch (const nlohmann::json::exception& e) {
      return RecordError(line, "not valid JSON: " + JsonErrorMessage(e));
    }
    if (!j.is_object()) return RecordError(line, "expected a JSON object");
    std::string_view type_text, value_text;
    if (!GetJsonString(j, "type", &type_text, true) || !GetJsonString(j, "value", &value_text, true)) {
      return RecordError(line, error_);
    }
    std::string id;
    if (auto it = j.find("external_id"); it != j.end() && !it->is_null()) {
      // ThreatExchange ids are numbers; accept integers as their decimal text.
      if (it->is_string()) {
        id = it->get<std::string>();
      } else if (it->is_number_integer()) {
        id = it->dump();
      } else {
        return RecordError(line, std::string("\"external_id\" must be a string, not ") + it->type_name());
      }
    }
    if (!CheckExternalId(id, &error_)) return RecordError(line, error_);
    std::string quality_text;
    if (auto it = j.find("quality"); it != j.end() && !it->is_null()) {
      if (!it->is_number_integer()) {
        return RecordError(line, "\"quality\" must be an integer from 0 to 100, not " + Quote(it->dump()));
      }
      quality_text = it->dump();
    }
    SignalType type;
    std::array<uint8_t, 32> value;
    int quality;
    if (!ParseTypeValueQuality(TrimBlanks(type_text), TrimBlanks(value_text), quality_text, &type, &value,
                               &quality)) {
      return RecordError(line, error_);
    }
    metadata_.clear();
    if (auto it = j.find("metadata"); it != j.end() && !it->is_null()) {
      if (!it->is_object()) {
        return RecordError(line, std::string("\"metadata\" must be a JSON object, not ") + it->type_name());
      }
      metadata_ = it->dump();
    }
    Entry* e = NewEntry();
    e->type = type;
    e->value = value;
    e->quality = quality;
    e->external_id = std::move(id);
    e->metadata_json.swap(metadata_);
    return EntryDone();
  }

  Status PdqLine(std::string_view trimmed, uint64_t line) {
    if (plain_header_allowed_) {
      plain_header_allowed_ = false;
      if (IsHeaderWords(trimmed)) return Status::Ok();
    }
    const size_t comma = trimmed.find(',');
    std::string_view hex = trimmed, quality_text;
    if (comma != std::string_view::npos) {
      hex = TrimBlanks(trimmed.substr(0, comma));
      quality_text = TrimBlanks(trimmed.substr(comma + 1));
      if (quality_text.find(',') != std::string_view::npos) {
        return RecordError(
            line, "expected a PDQ hash, optionally followed by ',quality'; found " + Quote(trimmed, 80));
      }
    }
    std::array<uint8_t, 32> value;
    int quality;
    if (!internal::ParseValue(SignalType::kPdq, hex, &value, &error_) ||
        !internal::ParseQuality(quality_text, &quality, &error_)) {
      return RecordError(line, error_);
    }
    Entry* e = NewEntry();
    e->type = SignalType::kPdq;
    e->value = value;
    e->quality = quality;
    e->external_id.clear();
    e->metadata_json.clear();
    return EntryDone();
  }

  bool ParseTypeValueQuality(std::string_view type_text, std::string_view value_text,
                             std::string_view quality_text, SignalType* type, std::array<uint8_t, 32>* value,
                             int* quality) {
    if (!ParseSignalType(type_text, type)) {
      error_ = type_text.empty() ? "type is empty" : "unknown type " + Quote(type_text);
      for (SignalType t : kAllSignalTypes) {
        if (SignalHasContent(t) && internal::EqualsIgnoreCase(type_text, SignalTypeName(t))) {
          error_ = "type " + Quote(type_text) + " is a video signal, whose content a hash list cannot carry";
        }
      }
      error_ += ": expected pdq, md5 or sha256";
      return false;
    }
    if (!internal::ParseValue(*type, value_text, value, &error_)) return false;
    if (!internal::ParseQuality(quality_text, quality, &error_)) return false;
    if (*quality >= 0 && *type != SignalType::kPdq) {
      error_ = "quality is given for a " + std::string(SignalTypeName(*type)) + " entry; only pdq has one";
      return false;
    }
    return true;
  }

  // Sets *out to the string member `key` of `j`; on failure sets error_.
  bool GetJsonString(const nlohmann::json& j, const char* key, std::string_view* out, bool required) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) {
      if (!required) return true;
      error_ = std::string("missing \"") + key + "\"";
      return false;
    }
    if (!it->is_string()) {
      error_ = std::string("\"") + key + "\" must be a string, not " + it->type_name();
      return false;
    }
    *out = it->get_ref<const std::string&>();
    return true;
  }

  Entry* NewEntry() {
    if (!collecting()) return &discarded_;
    return &batch_->emplace_back();
  }

  Status EntryDone() {
    if (++report_->entries > options_.max_entries) {
      return Fatal(StatusCode::kTooLarge, report_->lines,
                   "the list holds more than " + std::to_string(options_.max_entries) +
                       " entries, the limit for this read; nothing was read");
    }
    if (sink_ != nullptr && collecting() && batch_->size() >= options_.batch_size) return Flush();
    return Status::Ok();
  }

  Status Flush() {
    if (sink_ == nullptr || batch_->empty()) return Status::Ok();
    Status s = (*sink_)(std::span<Entry>(*batch_));
    batch_->clear();
    return s;
  }

  bool collecting() const { return options_.skip_invalid || report_->invalid == 0; }

  Status RecordError(uint64_t line, std::string message) {
    if (++report_->invalid == 1) {
      first_error_ = {line, message};
      if (!options_.skip_invalid) batch_->clear();
    }
    if (report_->errors.size() < options_.max_errors_reported) {
      report_->errors.push_back({line, std::move(message)});
    }
    return Status::Ok();
  }

  // An error after which the read cannot go on. It is always reported, even
  // past max_errors_reported, as the last error.
  Status Fatal(StatusCode code, uint64_t line, std::string message) {
    batch_->clear();
    report_->errors.push_back({line, std::move(message)});
    const LineError& e = report_->errors.back();
    switch (code) {
      case StatusCode::kNotFound:
        return Status::NotFound(e.ToString());
      case StatusCode::kIoError:
        return Status::IoError(e.ToString());
      case StatusCode::kUnsupportedFormat:
        return Status::UnsupportedFormat(e.ToString());
      case StatusCode::kTooLarge:
        return Status::TooLarge(e.ToString());
      default:
        return Status::InvalidArgument(e.ToString());
    }
  }

  const ReadOptions& options_;
  ReadReport* report_;
  std::vector<Entry>* batch_;
  const EntrySink* sink_;
  Mode mode_ = Mode::kDetect;

  // Detection and the plain list's optional header line.
  bool pending_plain_header_ = false;
  uint64_t pending_line_ = 0;
  bool plain_header_allowed_ = true;

  // CSV: the role of each header column, and a record spanning lines.
  std::vector<Column> columns_;
  bool in_record_ = false;
  uint64_t record_line_ = 0;
  std::string record_;

  // Scratch reused across records so that steady state allocates nothing.
  std::vector<std::string_view> fields_;
  std::string scratch_;
  std::string error_;
  std::string metadata_;
  Entry discarded_;
  LineError first_error_;
};

Status CheckOptions(const ReadOptions& options) {
  if (options.max_line_bytes < 1 || options.max_line_bytes > kMaxLineBytesLimit) {
    return Status::InvalidArgument("max_line_bytes must be from 1 to " + std::to_string(kMaxLineBytesLimit) +
                                   ", not " + std::to_string(options.max_line_bytes));
  }
  if (options.batch_size < 1) return Status::InvalidArgument("batch_size must be at least 1");
  return Status::Ok();
}

// Runs one read. Without a sink, entries accumulate in *out; with one,
// *out is the batch handed to it.
Status Read(internal::ByteSource* source, const ReadOptions& options, std::vector<Entry>* out,
            const EntrySink* sink, ReadReport* report) {
  LineReader lines(source, options.max_line_bytes);
  Parser parser(options, report, out, sink);
  Status s = parser.Run(&lines);
  if (!s.ok()) out->clear();
  return s;
}

// The shared front of every public entry point: reset the report, check
// the options, open the source.
template <typename OpenFn>
Status ReadWith(OpenFn open, const ReadOptions& options, std::vector<Entry>* out, const EntrySink* sink,
                ReadReport* report) {
  ReadReport local;
  if (report == nullptr) report = &local;
  *report = ReadReport();
  out->clear();
  Status s = CheckOptions(options);
  if (s.ok()) {
    std::unique_ptr<internal::ByteSource> source;
    s = open(&source);
    if (s.ok()) return Read(source.get(), options, out, sink, report);
  }
  report->errors.push_back({0, s.message()});
  return s;
}

}  // namespace

Status ReadHashListFile(const std::string& path, const ReadOptions& options, std::vector<Entry>* out,
                        ReadReport* report) {
  return ReadWith([&](auto* source) { return internal::OpenFileSource(path, source); }, options, out, nullptr,
                  report);
}

Status ReadHashList(std::istream& in, const ReadOptions& options, std::vector<Entry>* out,
                    ReadReport* report) {
  return ReadWith(
      [&](auto* source) {
        *source = internal::MakeStreamSource(in);
        return Status::Ok();
      },
      options, out, nullptr, report);
}

Status ReadHashListFromString(std::string_view text, const ReadOptions& options, std::vector<Entry>* out,
                              ReadReport* report) {
  return ReadWith(
      [&](auto* source) {
        *source = internal::MakeStringSource(text);
        return Status::Ok();
      },
      options, out, nullptr, report);
}

Status StreamHashListFile(const std::string& path, const ReadOptions& options, const EntrySink& sink,
                          ReadReport* report) {
  std::vector<Entry> batch;
  batch.reserve(std::min<size_t>(options.batch_size, 1 << 16));
  return ReadWith([&](auto* source) { return internal::OpenFileSource(path, source); }, options, &batch,
                  &sink, report);
}

Status StreamHashList(std::istream& in, const ReadOptions& options, const EntrySink& sink,
                      ReadReport* report) {
  std::vector<Entry> batch;
  batch.reserve(std::min<size_t>(options.batch_size, 1 << 16));
  return ReadWith(
      [&](auto* source) {
        *source = internal::MakeStreamSource(in);
        return Status::Ok();
      },
      options, &batch, &sink, report);
}

}  // namespace safeguard::exchange
