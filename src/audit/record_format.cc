// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.

#include "audit/record_format.h"

#include <array>
#include <nlohmann/json.hpp>
#include <span>
#include <utility>
#include <vector>

#include "common/utf8.h"
#include "safeguard/hash/digest.h"

namespace safeguard::audit::internal {
namespace {

using Json = nlohmann::json;  // std::map objects: dump() sorts keys by bytes

// Deep enough for any real description of a decision; shallow enough that
// the recursive dump (and an auditor's recursive re-serialisation) is safe.
constexpr int kMaxDepth = 32;

// The domain tag of format v1, hashed first so that no other use of SHA-256
// over length-prefixed fields can collide with an audit record.
constexpr std::string_view kDomainV1 = "safeguard-audit-v1";

Status CheckText(const char* name, std::string_view v, bool required) {
  if (required && v.empty())
    return Status::InvalidArgument(std::string("audit event: ") + name + " is empty");
  if (v.size() > kMaxFieldBytes) {
    return Status::TooLarge(std::string("audit event: ") + name + " is " + std::to_string(v.size()) +
                            " bytes, above the limit of " + std::to_string(kMaxFieldBytes));
  }
  if (v.find('\0') != std::string_view::npos || !IsUtf8(v)) {
    return Status::InvalidArgument(std::string("audit event: ") + name + " is not UTF-8 text without NUL");
  }
  return Status::Ok();
}

// Iterative, so that hostile nesting cannot exhaust the stack before the
// depth limit is seen.
Status CheckValues(const Json& root) {
  std::vector<std::pair<const Json*, int>> pending{{&root, 1}};
  while (!pending.empty()) {
    auto [j, depth] = pending.back();
    pending.pop_back();
    if (depth > kMaxDepth) {
      return Status::InvalidArgument("audit event: details nest deeper than " + std::to_string(kMaxDepth) +
                                     " levels");
    }
    if (j->is_number_float()) {
      return Status::InvalidArgument("audit event: details hold the number " + j->dump() +
                                     "; only integers from -2^63 to 2^64-1 are allowed (write other numbers "
                                     "as strings, so every verifier reads the same bytes)");
    }
    if (j->is_structured()) {
      for (const Json& child : *j) pending.emplace_back(&child, depth + 1);
    }
  }
  return Status::Ok();
}

void AppendU64(std::string* out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out->push_back(static_cast<char>((v >> shift) & 0xff));
}

void AppendField(std::string* out, std::string_view bytes) {
  AppendU64(out, bytes.size());
  out->append(bytes);
}

}  // namespace

bool IsHashHex(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

Status CanonicalDetails(std::string_view json, std::string* canonical) {
  if (json.size() > kMaxDetailsBytes) {
    return Status::TooLarge("audit event: details are " + std::to_string(json.size()) +
                            " bytes, above the limit of " + std::to_string(kMaxDetailsBytes) +
                            " (describe what happened; never include media)");
  }
  Json j;
  try {
    j = Json::parse(json);
  } catch (const Json::exception& e) {
    return Status::InvalidArgument(std::string("audit event: details are not valid JSON: ") + e.what());
  }
  if (!j.is_object()) return Status::InvalidArgument("audit event: details must be a JSON object");
  Status s = CheckValues(j);
  if (!s.ok()) return s;
  std::string out;
  try {
    out = j.dump();
  } catch (const Json::exception& e) {
    // The parser already refuses text that is not UTF-8; this is the
    // belt to its braces, as a throw here would escape a server's append.
    return Status::InvalidArgument(std::string("audit event: details cannot be written as JSON: ") +
                                   e.what());
  }
  if (out.size() > kMaxDetailsBytes) {
    return Status::TooLarge("audit event: canonical details are " + std::to_string(out.size()) +
                            " bytes, above the limit of " + std::to_string(kMaxDetailsBytes));
  }
  *canonical = std::move(out);
  return Status::Ok();
}

Status ValidateEventText(const Event& e) {
  Status s = CheckText("actor", e.actor, true);
  if (s.ok()) s = CheckText("action", e.action, true);
  if (s.ok()) s = CheckText("subject", e.subject, false);
  return s;
}

std::string RecordHash(uint64_t seq, int64_t time_ms, const Event& e, std::string_view prev_hash) {
  std::string bytes;
  bytes.reserve(128 + e.actor.size() + e.action.size() + e.subject.size() + e.details_json.size());
  AppendField(&bytes, kDomainV1);
  AppendU64(&bytes, seq);
  AppendU64(&bytes, static_cast<uint64_t>(time_ms));  // two's complement, as the format says
  AppendField(&bytes, e.actor);
  AppendField(&bytes, e.action);
  AppendField(&bytes, e.subject);
  AppendField(&bytes, e.details_json);
  AppendField(&bytes, prev_hash);
  return hash::ToHex(
      hash::Sha256(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size())));
}

}  // namespace safeguard::audit::internal
