// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// Status is the one error type at Safeguard's library boundary. Every
// fallible call returns a Status (results come back through out-parameters),
// in the manner of LevelDB:
//
//   Status s = DecodeImage(bytes, options, &image);
//   if (!s.ok()) return s;
//
// A Status carries a machine-readable code and a message a user can act on
// ("PNG declares 65535x65535 pixels, above the limit of 100000000 pixels;
// raise --max-pixels if this is expected"). Status is a value type; it is
// thread-compatible (const methods may be called concurrently).

#ifndef SAFEGUARD_COMMON_STATUS_H_
#define SAFEGUARD_COMMON_STATUS_H_

#include <cstdint>
#include <string>
#include <string_view>

namespace safeguard {

/// What went wrong. The snake_case names returned by StatusCodeName() are
/// part of the public interface (JSON output, HTTP error bodies) and never
/// change meaning.
enum class StatusCode : uint8_t {
  kOk = 0,
  kInvalidArgument,    ///< The caller asked for something malformed.
  kNotFound,           ///< A named file or object does not exist.
  kIoError,            ///< Reading or writing failed (permissions, disk).
  kUnsupportedFormat,  ///< The bytes are not a format Safeguard decodes.
  kCorrupt,            ///< The bytes claim a format but are damaged or truncated.
  kTooLarge,           ///< A size or pixel limit was exceeded; nothing large was allocated.
  kInternal,           ///< A broken invariant inside Safeguard (a bug).
  kPermissionDenied,   ///< Credentials were refused (by us or by a service we called).
  kUnavailable,        ///< A service we depend on did not answer or asked us to retry later.
};

/// Returns the stable snake_case name of `code`, e.g. "too_large".
std::string_view StatusCodeName(StatusCode code);

/// Returns the process exit status a command-line tool uses for a single
/// failure of this kind: 0 for kOk, 2 for kInvalidArgument (usage), 1 otherwise.
int ExitCodeFor(StatusCode code);

/// Returns the HTTP status an API response uses for this code
/// (400, 403, 404, 413, 415, 422, 500, 503).
int HttpStatusFor(StatusCode code);

/// The result of a fallible operation: kOk, or a code with a message.
class Status {
 public:
  /// Constructs an OK status.
  Status() = default;

  /// Returns an OK status.
  static Status Ok() { return Status(); }
  /// Returns a status for a malformed request or argument.
  static Status InvalidArgument(std::string message) {
    return Status(StatusCode::kInvalidArgument, std::move(message));
  }
  /// Returns a status for a missing file or object.
  static Status NotFound(std::string message) { return Status(StatusCode::kNotFound, std::move(message)); }
  /// Returns a status for a failed read or write.
  static Status IoError(std::string message) { return Status(StatusCode::kIoError, std::move(message)); }
  /// Returns a status for bytes in a format that is not supported.
  static Status UnsupportedFormat(std::string message) {
    return Status(StatusCode::kUnsupportedFormat, std::move(message));
  }
  /// Returns a status for damaged or truncated data.
  static Status Corrupt(std::string message) { return Status(StatusCode::kCorrupt, std::move(message)); }
  /// Returns a status for input beyond a configured limit.
  static Status TooLarge(std::string message) { return Status(StatusCode::kTooLarge, std::move(message)); }
  /// Returns a status for a broken internal invariant.
  static Status Internal(std::string message) { return Status(StatusCode::kInternal, std::move(message)); }
  /// Returns a kPermissionDenied status with `message`.
  static Status PermissionDenied(std::string message) {
    return Status(StatusCode::kPermissionDenied, std::move(message));
  }
  /// Returns a kUnavailable status with `message`.
  static Status Unavailable(std::string message) {
    return Status(StatusCode::kUnavailable, std::move(message));
  }

  /// Returns true if the operation succeeded.
  bool ok() const { return code_ == StatusCode::kOk; }
  /// Returns the code; kOk on success.
  StatusCode code() const { return code_; }
  /// Returns the human-readable message; empty on success.
  const std::string& message() const { return message_; }
  /// Returns "ok" or "<code name>: <message>".
  std::string ToString() const;

 private:
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

}  // namespace safeguard

#endif  // SAFEGUARD_COMMON_STATUS_H_
