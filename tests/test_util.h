// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
// Helpers shared by the tests: paths to test media and CSV reading.
#ifndef SAFEGUARD_TESTS_TEST_UTIL_H_
#define SAFEGUARD_TESTS_TEST_UTIL_H_

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace safeguard::testing {

/// Returns the path of `rel` under ../shared (SAFEGUARD_SHARED_DIR).
std::string SharedPath(const std::string& rel);
/// Returns the path of `rel` under tests/data.
std::string TestDataPath(const std::string& rel);
/// Reads a comma-separated file without quoting; skips the header line.
std::vector<std::vector<std::string>> ReadCsv(const std::string& path);
/// Returns every regular file under `dir`, sorted.
std::vector<std::string> ListFiles(const std::string& dir);
/// Returns the whole file at `path` ("" if it cannot be read).
std::string ReadBytes(const std::string& path);
/// `s`'s bytes as a span (valid while `s` is).
std::span<const uint8_t> Span(const std::string& s);
/// Standard base64 (RFC 4648, with padding) of `in`: for HTTP basic
/// authentication and JSON bodies in the tests' fakes and clients.
std::string Base64(const std::string& in);

}  // namespace safeguard::testing

#endif  // SAFEGUARD_TESTS_TEST_UTIL_H_
