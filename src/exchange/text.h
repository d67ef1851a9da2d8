// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// Byte-level helpers shared by the hash list reader and writer: hex, UTF-8
// validation, trimming, CSV fields, JSON strings, and quoting untrusted bytes
// for error messages. Internal to src/exchange. All functions are
// thread-safe.

#ifndef SAFEGUARD_SRC_EXCHANGE_TEXT_H_
#define SAFEGUARD_SRC_EXCHANGE_TEXT_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "safeguard/exchange/entry.h"

namespace safeguard::exchange::internal {

/// Returns `s` without leading and trailing spaces, tabs and carriage returns.
std::string_view TrimBlanks(std::string_view s);

/// Returns true if `a` equals `b` ignoring ASCII case.
bool EqualsIgnoreCase(std::string_view a, std::string_view b);

/// Returns true if every byte of `s` is a hex digit (either case).
bool IsHex(std::string_view s);

/// Parses `text` (already trimmed) as a value of `type` into *value (unused
/// bytes zeroed). Returns false and sets *error to a message such as
/// "value 'abc' is not a PDQ hash: expected 64 hex digits, got 3".
bool ParseValue(SignalType type, std::string_view text, std::array<uint8_t, 32>* value, std::string* error);

/// Parses `text` (already trimmed) as a quality: empty gives -1, otherwise
/// an integer 0..100. Returns false and sets *error otherwise.
bool ParseQuality(std::string_view text, int* quality, std::string* error);

/// Returns the offset of the first byte of `s` that is not part of a valid
/// UTF-8 sequence (overlongs, surrogates and code points above U+10FFFF are
/// invalid), or std::string_view::npos if `s` is valid UTF-8.
size_t FindInvalidUtf8(std::string_view s);

/// Returns `s` in single quotes for an error message: at most `max_bytes`
/// bytes of it (then "..." and the total length), with quotes, backslashes
/// and bytes outside printable ASCII written as \xHH.
std::string Quote(std::string_view s, size_t max_bytes = 40);

/// Appends `s` to *out as a JSON string literal (quotes included). `s` must
/// be valid UTF-8; control characters are escaped.
void AppendJsonString(std::string* out, std::string_view s);

/// Appends `field` to *out as one CSV field: bare when it can be read back
/// unchanged, else in double quotes with inner quotes doubled (RFC 4180).
void AppendCsvField(std::string* out, std::string_view field);

/// Returns whether a CSV record is still inside a quoted field at the end of
/// `line`, given whether it was at its start. Only a quote at the start of a
/// field (after optional blanks) opens a quoted field, so a stray quote in
/// an unquoted field does not join the following lines to the record.
bool InQuotesAfter(std::string_view line, bool in_quotes);

/// Splits one complete CSV record (no trailing line break) into *fields per
/// RFC 4180. Quoted fields are unescaped into *scratch and kept exactly;
/// unquoted fields are trimmed with TrimBlanks. The views point into
/// `record` or *scratch and stay valid until either changes. Returns false
/// and sets *error for a quote inside an unquoted field, text after a
/// closing quote, or a quote that is never closed.
bool SplitCsvRecord(std::string_view record, std::vector<std::string_view>* fields, std::string* scratch,
                    std::string* error);

}  // namespace safeguard::exchange::internal

#endif  // SAFEGUARD_SRC_EXCHANGE_TEXT_H_
