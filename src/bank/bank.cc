// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.

#include "safeguard/bank/bank.h"

#include <openssl/evp.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <string>

#include "common/utf8.h"

namespace safeguard::bank {
namespace {

bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
         c == '-';
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Quotes user text in an error message without letting a control character
// or a megabyte of input into a log line.
std::string Quote(std::string_view s) {
  std::string out = "'";
  for (size_t i = 0; i < s.size() && i < 80; ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    out += (c < 0x20 || c == 0x7f) ? '?' : static_cast<char>(c);
  }
  if (s.size() > 80) out += "...";
  return out + "'";
}

// PostgreSQL rejects text that is not UTF-8 or holds NUL, SQLite would keep
// it; checking here makes both backends accept exactly the same input.
bool IsUtf8WithoutNul(std::string_view s) { return s.find('\0') == std::string_view::npos && IsUtf8(s); }

Status CheckText(std::string_view field, std::string_view value, size_t max_bytes) {
  if (value.size() > max_bytes) {
    return Status::InvalidArgument(std::string(field) + " is " + std::to_string(value.size()) +
                                   " bytes; the limit is " + std::to_string(max_bytes));
  }
  if (!IsUtf8WithoutNul(value)) {
    return Status::InvalidArgument(std::string(field) + " is not valid UTF-8 text (or contains a NUL byte)");
  }
  return Status::Ok();
}

// OpenSSL directly rather than safeguard/hash/digest.h: the hash block brings
// the image decoders along, which the bank has no use for.
Status Sha256(std::span<const uint8_t> bytes, std::array<uint8_t, 32>* out) {
  unsigned int len = 0;
  // Fails only when OpenSSL cannot allocate; a made-up digest would then be
  // stored, or compared, as if it were the content's.
  if (EVP_Digest(bytes.data(), bytes.size(), out->data(), &len, EVP_sha256(), nullptr) != 1 || len != 32) {
    return Status::Internal("cannot compute a SHA-256 (OpenSSL failed)");
  }
  return Status::Ok();
}

// The content rules shared by ValidateNewSignal and MakeContentSignal.
Status CheckContentSize(SignalType type, size_t bytes) {
  const std::string name(SignalTypeName(type));
  if (bytes == 0) {
    return Status::InvalidArgument(name + " signal has no content: a " + name +
                                   " signal needs its content (the video hash), not only its digest");
  }
  if (bytes > kMaxSignalContentBytes) {
    return Status::InvalidArgument(name + " content is " + std::to_string(bytes) + " bytes; the limit is " +
                                   std::to_string(kMaxSignalContentBytes));
  }
  return Status::Ok();
}

}  // namespace

std::string_view CategoryName(Category category) {
  switch (category) {
    case Category::kCsam:
      return "csam";
    case Category::kNcii:
      return "ncii";
    case Category::kTerrorism:
      return "terrorism";
    case Category::kOther:
      return "other";
    case Category::kAllow:
      return "allow";
  }
  return "other";
}

Status ParseCategory(std::string_view name, Category* out) {
  for (Category c :
       {Category::kCsam, Category::kNcii, Category::kTerrorism, Category::kOther, Category::kAllow}) {
    if (name == CategoryName(c)) {
      *out = c;
      return Status::Ok();
    }
  }
  return Status::InvalidArgument("unknown bank category " + Quote(name) +
                                 "; use one of csam, ncii, terrorism, other, allow");
}

Status ParseSignalType(std::string_view name, SignalType* out) {
  std::string supported;
  for (SignalType t : kAllSignalTypes) {
    if (name == SignalTypeName(t)) {
      *out = t;
      return Status::Ok();
    }
    supported += (supported.empty() ? "" : ", ") + std::string(SignalTypeName(t));
  }
  return Status::InvalidArgument("unknown signal type " + Quote(name) + "; this build supports " + supported);
}

Status ParseSignalValue(SignalType type, std::string_view hex, std::vector<uint8_t>* value) {
  const size_t n = SignalValueSize(type);
  if (hex.size() != 2 * n) {
    return Status::InvalidArgument(std::string(SignalTypeName(type)) + " value " + Quote(hex) + " has " +
                                   std::to_string(hex.size()) + " characters; expected " +
                                   std::to_string(2 * n) + " hex digits");
  }
  value->resize(n);
  for (size_t i = 0; i < n; ++i) {
    int hi = HexDigit(hex[2 * i]);
    int lo = HexDigit(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      return Status::InvalidArgument(std::string(SignalTypeName(type)) + " value " + Quote(hex) +
                                     " is not hexadecimal (0-9, a-f)");
    }
    (*value)[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return Status::Ok();
}

std::string SignalValueHex(std::span<const uint8_t> value) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(2 * value.size(), '0');
  for (size_t i = 0; i < value.size(); ++i) {
    out[2 * i] = kDigits[value[i] >> 4];
    out[2 * i + 1] = kDigits[value[i] & 15];
  }
  return out;
}

Status ValidateBankName(std::string_view name) {
  bool ok = !name.empty() && name.size() <= kMaxBankNameBytes && name != "." && name != "..";
  for (char c : name) ok = ok && IsNameChar(c);
  if (!ok) {
    return Status::InvalidArgument("bank name " + Quote(name) +
                                   " is not valid: use 1 to 64 characters from A-Z a-z 0-9 _ . - "
                                   "(and not '.' or '..')");
  }
  return Status::Ok();
}

Status ValidatePdqDistance(int distance) {
  // Two unrelated PDQ hashes differ in about 128 of 256 bits with a standard
  // deviation of 8; up to 63 the chance of a random false match stays
  // negligible even against 10M signals, beyond it it does not.
  if (distance < 0 || distance > kMaxPdqDistance) {
    return Status::InvalidArgument("PDQ distance " + std::to_string(distance) +
                                   " is out of range: use 0 to 63 (the usual value is 31)");
  }
  return Status::Ok();
}

Status ValidateBankSpec(const BankSpec& spec) {
  Status s = ValidateBankName(spec.name);
  if (!s.ok()) return s;
  s = ValidatePdqDistance(spec.pdq_distance);
  if (!s.ok()) return s;
  bool ok = !spec.source.empty() && spec.source.size() <= kMaxSourceBytes;
  for (char c : spec.source) ok = ok && IsNameChar(c);
  if (!ok) {
    return Status::InvalidArgument("bank source " + Quote(spec.source) +
                                   " is not valid: use 1 to 64 characters from A-Z a-z 0-9 _ . - "
                                   "(e.g. file, stopncii, ncmec)");
  }
  return Status::Ok();
}

Status ValidateNewSignal(const NewSignal& signal) {
  const size_t n = SignalValueSize(signal.type);
  if (signal.value.size() != n) {
    return Status::InvalidArgument(std::string(SignalTypeName(signal.type)) + " value is " +
                                   std::to_string(signal.value.size()) + " bytes; expected " +
                                   std::to_string(n));
  }
  if (SignalHasContent(signal.type)) {
    Status s = CheckContentSize(signal.type, signal.content.size());
    if (!s.ok()) return s;
    std::array<uint8_t, 32> digest;
    s = Sha256(signal.content, &digest);
    if (!s.ok()) return s;
    if (!std::equal(digest.begin(), digest.end(), signal.value.begin())) {
      return Status::InvalidArgument(std::string(SignalTypeName(signal.type)) + " value " +
                                     SignalValueHex(signal.value) + " is not the SHA-256 of its content (" +
                                     SignalValueHex(digest) +
                                     "); set the value to the content's SHA-256 (MakeContentSignal does)");
    }
  } else if (!signal.content.empty()) {
    return Status::InvalidArgument(std::string(SignalTypeName(signal.type)) + " signal has " +
                                   std::to_string(signal.content.size()) +
                                   " bytes of content; only vpdq and tmk signals carry content");
  }
  Status s = CheckText("external id", signal.external_id, kMaxExternalIdBytes);
  if (!s.ok()) return s;
  s = CheckText("source list", signal.source_list, kMaxSourceListBytes);
  if (!s.ok()) return s;
  s = CheckText("source version", signal.source_version, kMaxSourceVersionBytes);
  if (!s.ok()) return s;
  if (signal.metadata_json.size() > kMaxMetadataBytes) {
    return Status::TooLarge("metadata is " + std::to_string(signal.metadata_json.size()) +
                            " bytes; the limit is " + std::to_string(kMaxMetadataBytes));
  }
  if (!signal.metadata_json.empty()) {
    s = CheckText("metadata", signal.metadata_json, kMaxMetadataBytes);
    if (!s.ok()) return s;
    // accept() checks syntax without building a document.
    if (!nlohmann::json::accept(signal.metadata_json)) {
      return Status::InvalidArgument("metadata " + Quote(signal.metadata_json) + " is not valid JSON");
    }
  }
  return Status::Ok();
}

Status MakeContentSignal(SignalType type, std::vector<uint8_t> content, NewSignal* out) {
  if (!SignalHasContent(type)) {
    return Status::InvalidArgument(std::string(SignalTypeName(type)) +
                                   " signals carry no content; only vpdq and tmk signals do");
  }
  Status s = CheckContentSize(type, content.size());
  if (!s.ok()) return s;
  std::array<uint8_t, 32> digest;
  s = Sha256(content, &digest);
  if (!s.ok()) return s;
  out->type = type;
  out->value.assign(digest.begin(), digest.end());
  out->content = std::move(content);
  return Status::Ok();
}

Status ValidateCheckpoint(std::string_view key, std::string_view value) {
  if (key.empty()) return Status::InvalidArgument("checkpoint key is empty");
  Status s = CheckText("checkpoint key", key, kMaxCheckpointKeyBytes);
  if (!s.ok()) return s;
  if (value.size() > kMaxCheckpointValueBytes) {
    return Status::TooLarge("checkpoint value is " + std::to_string(value.size()) + " bytes; the limit is " +
                            std::to_string(kMaxCheckpointValueBytes));
  }
  return CheckText("checkpoint value", value, kMaxCheckpointValueBytes);
}

}  // namespace safeguard::bank
