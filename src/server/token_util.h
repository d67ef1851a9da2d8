// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// Secrets the server hands out (API keys, console sessions and their CSRF
// tokens) and the digests it keeps of them instead.

#ifndef SAFEGUARD_SRC_SERVER_TOKEN_UTIL_H_
#define SAFEGUARD_SRC_SERVER_TOKEN_UTIL_H_

#include <openssl/rand.h>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "safeguard/hash/digest.h"

namespace safeguard::server {

/// `bytes` random bytes from OpenSSL's generator, as lowercase hex; "" if
/// the generator failed (callers refuse to go on).
inline std::string RandomHex(size_t bytes) {
  std::vector<uint8_t> b(bytes);
  if (RAND_bytes(b.data(), static_cast<int>(b.size())) != 1) return "";
  return hash::ToHex(b);
}

/// The lowercase hex SHA-256 of `text`: what is stored of a secret that is
/// 256 random bits (a slow hash would add nothing).
inline std::string Sha256Hex(std::string_view text) {
  return hash::ToHex(
      hash::Sha256(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(text.data()), text.size())));
}

}  // namespace safeguard::server

#endif  // SAFEGUARD_SRC_SERVER_TOKEN_UTIL_H_
