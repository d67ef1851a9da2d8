// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// Exact digests of file bytes (MD5 for StopNCII video lists and legacy
// lists, SHA-256 for evidence and modern lists), through OpenSSL.
// Thread-safe.

#ifndef SAFEGUARD_HASH_DIGEST_H_
#define SAFEGUARD_HASH_DIGEST_H_

#include <array>
#include <cstdint>
#include <span>
#include <string>

namespace safeguard::hash {

/// A 16-byte MD5 digest.
using Md5Digest = std::array<uint8_t, 16>;
/// A 32-byte SHA-256 digest.
using Sha256Digest = std::array<uint8_t, 32>;

/// Returns the MD5 of `bytes`.
Md5Digest Md5(std::span<const uint8_t> bytes);
/// Returns the SHA-256 of `bytes`.
Sha256Digest Sha256(std::span<const uint8_t> bytes);
/// Returns `bytes` as lowercase hex, two digits per byte.
std::string ToHex(std::span<const uint8_t> bytes);

}  // namespace safeguard::hash

#endif  // SAFEGUARD_HASH_DIGEST_H_
