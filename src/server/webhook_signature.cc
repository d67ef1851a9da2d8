// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// The Safeguard-Signature scheme (docs/webhooks.md). The timestamp is inside
// the MAC so a captured request cannot be replayed later with a fresh "t";
// the "v1" label lets a later scheme be added beside it without breaking
// receivers that check only v1.

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <array>
#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "safeguard/hash/digest.h"
#include "safeguard/server/webhooks.h"

namespace safeguard::server {
namespace {

using Mac = std::array<uint8_t, 32>;

Mac HmacSha256(std::string_view secret, int64_t timestamp_s, std::string_view body) {
  std::string message = std::to_string(timestamp_s);
  message.push_back('.');
  message.append(body);
  Mac mac{};
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(message.data()), message.size(), mac.data(), &len);
  return mac;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

std::string SignWebhook(std::string_view secret, int64_t timestamp_s, std::string_view body) {
  return "t=" + std::to_string(timestamp_s) + ",v1=" + hash::ToHex(HmacSha256(secret, timestamp_s, body));
}

Status VerifyWebhookSignature(std::string_view header, std::string_view secret, std::string_view body,
                              int64_t now_s, int64_t tolerance_s) {
  // The header comes from the network: bound the work before parsing.
  if (header.size() > 4096) return Status::InvalidArgument("signature header is longer than 4096 bytes");
  bool have_t = false;
  int64_t t = 0;
  std::vector<Mac> candidates;
  size_t pos = 0;
  while (pos <= header.size()) {
    size_t comma = header.find(',', pos);
    if (comma == std::string_view::npos) comma = header.size();
    const std::string_view item = Trim(header.substr(pos, comma - pos));
    pos = comma + 1;
    const size_t eq = item.find('=');
    if (eq == std::string_view::npos || eq == 0) {
      return Status::InvalidArgument("signature header item is not key=value");
    }
    const std::string_view key = item.substr(0, eq);
    const std::string_view value = item.substr(eq + 1);
    if (key == "t") {
      if (have_t) return Status::InvalidArgument("signature header has more than one t");
      if (value.empty() || value.size() > 18) {
        return Status::InvalidArgument("signature header's t is not a Unix time in seconds");
      }
      for (char c : value) {
        if (c < '0' || c > '9')
          return Status::InvalidArgument("signature header's t is not a Unix time in seconds");
      }
      std::from_chars(value.data(), value.data() + value.size(), t);
      have_t = true;
    } else if (key == "v1") {
      if (value.size() != 64) return Status::InvalidArgument("signature header's v1 is not 64 hex digits");
      Mac mac{};
      for (size_t i = 0; i < mac.size(); ++i) {
        const int hi = HexValue(value[2 * i]);
        const int lo = HexValue(value[2 * i + 1]);
        if (hi < 0 || lo < 0) return Status::InvalidArgument("signature header's v1 is not 64 hex digits");
        mac[i] = static_cast<uint8_t>(hi << 4 | lo);
      }
      candidates.push_back(mac);
    }
    // Other keys are later schemes a receiver of v1 ignores.
  }
  if (!have_t) return Status::InvalidArgument("signature header has no t");
  if (candidates.empty()) return Status::InvalidArgument("signature header has no v1");

  const Mac expected = HmacSha256(secret, t, body);
  bool match = false;
  for (const Mac& mac : candidates) {
    // Constant time, so response timing does not reveal how many leading
    // bytes of a forged signature were right.
    match |= CRYPTO_memcmp(mac.data(), expected.data(), mac.size()) == 0;
  }
  if (!match) return Status::PermissionDenied("webhook signature does not match the body and secret");
  const int64_t skew = now_s > t ? now_s - t : t - now_s;
  if (skew > tolerance_s) {
    return Status::PermissionDenied("webhook signature timestamp " + std::to_string(t) + " is " +
                                    std::to_string(skew) + " s from now, more than the tolerance of " +
                                    std::to_string(tolerance_s) + " s");
  }
  return Status::Ok();
}

}  // namespace safeguard::server
