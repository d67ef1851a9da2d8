// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// OpenSSL rather than hand-written digests: it is FIPS-reviewed, uses SHA-NI
// where the CPU has it, and is already a dependency for TLS and HMAC.

#include "safeguard/hash/digest.h"

#include <openssl/evp.h>

namespace safeguard::hash {
namespace {

template <size_t N>
std::array<uint8_t, N> Digest(const EVP_MD* md, std::span<const uint8_t> bytes) {
  std::array<uint8_t, N> out{};
  unsigned int len = 0;
  // EVP_Digest only fails on allocation failure inside OpenSSL; the digest
  // is then all zeros, which no list contains.
  EVP_Digest(bytes.data(), bytes.size(), out.data(), &len, md, nullptr);
  return out;
}

}  // namespace

Md5Digest Md5(std::span<const uint8_t> bytes) { return Digest<16>(EVP_md5(), bytes); }

Sha256Digest Sha256(std::span<const uint8_t> bytes) { return Digest<32>(EVP_sha256(), bytes); }

std::string ToHex(std::span<const uint8_t> bytes) {
  static const char kDigits[] = "0123456789abcdef";
  std::string out(bytes.size() * 2, '0');
  for (size_t i = 0; i < bytes.size(); ++i) {
    out[2 * i] = kDigits[bytes[i] >> 4];
    out[2 * i + 1] = kDigits[bytes[i] & 15];
  }
  return out;
}

}  // namespace safeguard::hash
