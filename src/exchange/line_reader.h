// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// LineReader splits a byte stream into lines with bounded memory: one buffer
// of max_line_bytes plus 1 MiB, refilled in chunks, whatever the input size.
// ByteSource is where the bytes come from (a file, an istream, a string).
// Internal to src/exchange. Not thread-safe; one reader per read.

#ifndef SAFEGUARD_SRC_EXCHANGE_LINE_READER_H_
#define SAFEGUARD_SRC_EXCHANGE_LINE_READER_H_

#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <limits>
#include <memory>
#include <string>
#include <string_view>

#include "safeguard/common/status.h"

namespace safeguard::exchange::internal {

/// A sequential source of bytes.
class ByteSource {
 public:
  virtual ~ByteSource() = default;
  /// Reads up to `capacity` bytes into `buf`; *got is 0 only at the end.
  /// Returns kIoError if reading failed.
  virtual Status Read(char* buf, size_t capacity, size_t* got) = 0;
  /// Returns the exact number of bytes left, or SIZE_MAX if unknown (a file
  /// may grow while it is read, so only in-memory sources know).
  virtual size_t SizeHint() const { return std::numeric_limits<size_t>::max(); }
};

/// Opens `path` for reading. Stores the source in *source; returns kNotFound
/// if the file does not exist and kIoError if it cannot be opened or is a
/// directory.
Status OpenFileSource(const std::string& path, std::unique_ptr<ByteSource>* source);
/// Returns a source over `in` (not owned; must outlive the source).
std::unique_ptr<ByteSource> MakeStreamSource(std::istream& in);
/// Returns a source over `text` (not copied; must outlive the source).
std::unique_ptr<ByteSource> MakeStringSource(std::string_view text);

class LineReader {
 public:
  /// Reads from `source` (not owned). max_line_bytes must be at least 1.
  /// Allocates max_line_bytes + 1 MiB, or less when the source is smaller.
  LineReader(ByteSource* source, size_t max_line_bytes);

  /// Reads the next line, without its '\n' (a '\r' before it is kept). On a
  /// line longer than max_line_bytes, sets *too_long, stores at most the
  /// first 256 bytes of it in *line and skips the rest. Sets *end and leaves
  /// *line empty when there are no more lines. *line stays valid until the
  /// next call. Returns the source's error, if any.
  Status Next(std::string_view* line, bool* too_long, bool* end);

  /// Returns the 1-based number of the line last returned.
  uint64_t line_number() const { return line_number_; }

 private:
  Status Fill();

  ByteSource* source_;
  size_t max_line_bytes_;
  std::unique_ptr<char[]> buf_;
  size_t capacity_;
  size_t begin_ = 0;  // unread bytes are buf_[begin_, end_)
  size_t end_ = 0;
  bool eof_ = false;
  uint64_t line_number_ = 0;
  std::string long_prefix_;
};

}  // namespace safeguard::exchange::internal

#endif  // SAFEGUARD_SRC_EXCHANGE_LINE_READER_H_
