// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// The routes of API v1 (docs/openapi.json). Each route checks its scope,
// calls the same library function as the CLI command that does the same
// thing, and answers JSON; every failure is {"error":{"code","message"}}
// with the status HttpStatusFor gives.

#include <arpa/inet.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <sstream>

#include "bank/bank_json.h"
#include "common/sqlite.h"
#include "multipart.h"
#include "openapi_json.h"
#include "route_util.h"
#include "safeguard/exchange/bank_io.h"
#include "safeguard/hash/digest.h"
#include "safeguard/index/hamming.h"
#include "safeguard/policy/scan.h"
#include "safeguard/video/tmk.h"
#include "safeguard/video/vpdq.h"
#include "service.h"

namespace safeguard::server {
namespace {

// The content of a video signal from its API value: vPDQ as the reference's
// text (frame,quality,pdq,timestamp lines), kept as its canonical text; TMK as
// the .tmk file in base64. Both are parsed first: the matcher only ever loads
// content that parses.
// Base64 without whitespace. EVP_DecodeBlock counts the padding as zero
// bytes, which are removed after. False if `value` is not base64.
bool DecodeBase64(std::string_view value, std::vector<uint8_t>* out) {
  if (value.empty() || value.size() % 4 != 0 || value.size() > size_t{INT32_MAX}) return false;
  out->resize(value.size() / 4 * 3);
  const int n = EVP_DecodeBlock(out->data(), reinterpret_cast<const unsigned char*>(value.data()),
                                static_cast<int>(value.size()));
  if (n < 0) return false;
  size_t size = static_cast<size_t>(n);
  if (value.back() == '=') --size;
  if (value.size() >= 2 && value[value.size() - 2] == '=') --size;
  out->resize(size);
  return true;
}

// Base64 of `bytes`, without line breaks.
std::string EncodeBase64(std::string_view bytes) {
  std::string b64(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  b64.resize(static_cast<size_t>(EVP_EncodeBlock(reinterpret_cast<unsigned char*>(b64.data()),
                                                 reinterpret_cast<const unsigned char*>(bytes.data()),
                                                 static_cast<int>(bytes.size()))));
  return b64;
}

Status VideoSignalContent(bank::SignalType type, const std::string& value, std::vector<uint8_t>* content) {
  if (type == bank::SignalType::kVpdq) {
    std::vector<video::VpdqFrame> frames;
    Status s = video::ParseVpdqText(value, &frames);
    if (!s.ok()) return s;
    if (frames.empty()) return Status::InvalidArgument("vpdq value has no frames");
    const std::string text = video::VpdqToText(frames);
    content->assign(text.begin(), text.end());
    return Status::Ok();
  }
  if (!DecodeBase64(value, content)) {
    return Status::InvalidArgument("tmk value must be the .tmk file in base64 (no whitespace)");
  }
  video::TmkFeatures features;
  Status s = video::TmkFeatures::Parse(
      std::string_view(reinterpret_cast<const char*>(content->data()), content->size()), &features);
  if (!s.ok()) return Status::InvalidArgument("tmk value: " + s.message());
  return Status::Ok();
}

}  // namespace

std::string Dump(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

void JsonResponse(HttpResponse* res, int status, const Json& j) {
  res->status = status;
  res->content_type = "application/json";
  res->body = Dump(j);
}

Status ParseBody(const HttpRequest& req, nlohmann::json* j) {
  *j = nlohmann::json::parse(req.body, nullptr, /*allow_exceptions=*/false);
  if (j->is_discarded() || !j->is_object())
    return Status::InvalidArgument("the request body must be a JSON object");
  return Status::Ok();
}

Status RequireMethod(const HttpRequest& req, std::initializer_list<const char*> allowed) {
  for (const char* m : allowed) {
    if (req.method == m) return Status::Ok();
  }
  std::string list;
  for (const char* m : allowed) list += (list.empty() ? "" : ", ") + std::string(m);
  return Status::InvalidArgument("method " + req.method + " is not allowed here (allowed: " + list + ")");
}

namespace {
int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string PercentDecode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && HexValue(s[i + 1]) >= 0 && HexValue(s[i + 2]) >= 0) {
      out += static_cast<char>(HexValue(s[i + 1]) * 16 + HexValue(s[i + 2]));
      i += 2;
    } else {
      out += s[i] == '+' ? ' ' : s[i];
    }
  }
  return out;
}

// The query's parameters, decoded, in order.
std::vector<std::pair<std::string, std::string>> QueryParams(std::string_view query) {
  std::vector<std::pair<std::string, std::string>> out;
  size_t start = 0;
  while (start < query.size()) {
    size_t amp = query.find('&', start);
    if (amp == std::string_view::npos) amp = query.size();
    const std::string_view kv = query.substr(start, amp - start);
    const size_t eq = kv.find('=');
    if (!kv.empty()) {
      out.emplace_back(PercentDecode(kv.substr(0, eq)),
                       eq == std::string_view::npos ? "" : PercentDecode(kv.substr(eq + 1)));
    }
    start = amp + 1;
  }
  return out;
}

std::string Param(const std::vector<std::pair<std::string, std::string>>& params, std::string_view name) {
  for (const auto& [k, v] : params) {
    if (k == name) return v;
  }
  return "";
}

Status DaysWindow(const HttpRequest& req, int max_days, int64_t now_ms, int64_t* from_ms, int64_t* to_ms) {
  long days = 30;
  if (const std::string d = Param(QueryParams(req.query), "days"); !d.empty()) {
    char* end = nullptr;
    days = std::strtol(d.c_str(), &end, 10);
    if (*end != '\0' || days < 1 || days > max_days) {
      return Status::InvalidArgument("\"days\" must be 1 to " + std::to_string(max_days));
    }
  }
  *to_ms = now_ms + 1;
  *from_ms = *to_ms - int64_t{days} * 24 * 3600 * 1000;
  return Status::Ok();
}

namespace {

// {"error":{"code","message"}} for a failed status.
Json ErrorJson(const Status& s) {
  Json e;
  e["error"]["code"] = std::string(StatusCodeName(s.code()));
  e["error"]["message"] = s.message();
  return e;
}

void ErrorResponse(HttpResponse* res, const Status& s) {
  JsonResponse(res, HttpStatusFor(s.code()), ErrorJson(s));
}

bool Truthy(const std::string& v) { return v == "1" || v == "true" || v == "yes"; }

std::vector<std::string> SplitPath(std::string_view path) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (start < path.size()) {
    if (path[start] == '/') {
      ++start;
      continue;
    }
    size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) slash = path.size();
    parts.push_back(PercentDecode(path.substr(start, slash - start)));
    start = slash;
  }
  return parts;
}

std::string PdqHex(const pdq::Hash256& h) {
  char buf[65];
  h.ToHex(buf);
  return std::string(buf, 64);
}

void AddMatches(const bank::MatchResult& r, const std::vector<bank::Signal>& signals, Json* j) {
  Json matches = Json::array();
  for (const bank::Hit& h : r.hits) matches.push_back(bank::HitJson(h, signals));
  (*j)["matches"] = std::move(matches);
  if (!r.allowed.empty()) {
    Json allowed = Json::array();
    for (const bank::Hit& h : r.allowed) allowed.push_back(bank::HitJson(h, signals));
    (*j)["allowed"] = std::move(allowed);
    (*j)["suppressed"] = r.suppressed;
  }
}

// The uploaded file: the raw body, or the file part of a multipart form.
Status UploadedBytes(const HttpRequest& req, std::string_view* bytes) {
  const std::string_view type = req.Header("content-type");
  if (type.substr(0, 19) == "multipart/form-data") return ExtractMultipartFile(type, req.body, bytes);
  *bytes = req.body;
  return Status::Ok();
}

std::string NewDecisionId(int64_t now_ms) {
  // Time first, so ids sort by time; 64 random bits after it.
  uint8_t r[8];
  if (RAND_bytes(r, sizeof r) != 1) return "";
  char buf[64];
  std::snprintf(buf, sizeof buf, "d_%012llx", static_cast<unsigned long long>(now_ms));
  return buf + hash::ToHex(std::span<const uint8_t>(r, sizeof r));
}

}  // namespace

void Service::Handle(const HttpRequest& request, HttpResponse* response) {
  const auto t0 = std::chrono::steady_clock::now();
  size_t route = Metrics::RouteIndex("other");
  Route(request, response, &route);
  metrics_.Request(route, response->status,
                   std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
}

Status Service::Authorize(const HttpRequest& req, uint32_t scope, ApiKey* key, bool* unauthenticated) {
  std::string_view auth = req.Header("authorization");
  if (auth.empty()) {
    // No API key: a console user's session cookie, if there is one.
    bool found = false;
    Status s = SessionPrincipal(req, key, &found);
    if (found) {
      *unauthenticated = !s.ok() && s.code() == StatusCode::kPermissionDenied && key->role.empty();
      if (!s.ok()) return s;
      if ((key->scopes & (scope | kScopeAdmin)) == 0) {
        return Status::PermissionDenied("the " + key->role + " role may not do this");
      }
      return Status::Ok();
    }
  }
  std::string_view token;
  if (auth.size() > 7 && (auth.substr(0, 7) == "Bearer " || auth.substr(0, 7) == "bearer "))
    token = auth.substr(7);
  Status s = keys_->Authenticate(token, key);
  if (!s.ok()) {
    *unauthenticated = s.code() == StatusCode::kPermissionDenied;
    return s;
  }
  if ((key->scopes & (scope | kScopeAdmin)) == 0) {
    return Status::PermissionDenied("this API key lacks the '" + ScopesText(scope) + "' scope (it has " +
                                    ScopesText(key->scopes) + ")");
  }
  return Status::Ok();
}

void Service::Route(const HttpRequest& req, HttpResponse* res, size_t* route) {
  const std::vector<std::string> parts = SplitPath(req.path);
  Status s;
  ApiKey key;
  bool unauthenticated = false;
  auto with_scope = [&](uint32_t scope) {
    s = Authorize(req, scope, &key, &unauthenticated);
    return s.ok();
  };
  if (parts.size() == 1 && (parts[0] == "healthz" || parts[0] == "readyz")) {
    *route = Metrics::RouteIndex("health");
    if (parts[0] == "healthz") return JsonResponse(res, 200, Json{{"status", "ok"}});
    s = Readyz(res);
  } else if (parts.size() == 1 && parts[0] == "metrics") {
    *route = Metrics::RouteIndex("metrics");
    return MetricsText(res);
  } else if (!parts.empty() && parts[0] == "console") {
    *route = Metrics::RouteIndex("console");
    s = ConsoleFile(req, res);
  } else if (parts.size() == 2 && parts[0] == "v1" && parts[1] == "session") {
    *route = Metrics::RouteIndex("console");
    s = SessionRoute(req, res, &unauthenticated);
  } else if (parts.size() == 4 && parts[0] == "v1" && parts[1] == "public" && parts[2] == "reports" &&
             parts[3] == "ncii") {
    *route = Metrics::RouteIndex("reports");
    s = RequireMethod(req, {"POST"});
    if (s.ok()) s = PublicNciiReport(req, res);
  } else if (parts.size() == 1 && parts[0] == "report") {
    // The public form for reporting an intimate image (web/public/report.html).
    *route = Metrics::RouteIndex("console");
    HttpRequest page = req;
    page.path = "/console/report.html";
    s = ConsoleFile(page, res);
  } else if (parts.size() == 2 && parts[0] == "v1" && parts[1] == "dashboard") {
    *route = Metrics::RouteIndex("console");
    if (with_scope(kScopeReview)) s = Dashboard(req, res);
  } else if (parts.size() < 2 || parts[0] != "v1") {
    s = Status::NotFound("no such endpoint: " + req.path + " (see /v1/openapi.json)");
  } else if (parts.size() == 2 && parts[1] == "openapi.json") {
    *route = Metrics::RouteIndex("openapi");
    res->status = 200;
    res->body = kOpenApiJson;
    return;
  } else if (parts.size() == 2 && parts[1] == "scan") {
    *route = Metrics::RouteIndex("scan");
    s = RequireMethod(req, {"POST"});
    if (s.ok() && with_scope(kScopeScan)) s = Scan(req, key, res);
  } else if (parts.size() == 2 && parts[1] == "hash") {
    *route = Metrics::RouteIndex("hash");
    s = RequireMethod(req, {"POST"});
    if (s.ok() && with_scope(kScopeScan)) s = HashOnly(req, res);
  } else if (parts.size() == 2 && parts[1] == "lookup") {
    *route = Metrics::RouteIndex("lookup");
    s = RequireMethod(req, {"GET"});
    if (s.ok() && with_scope(kScopeScan)) s = Lookup(req, res);
  } else if (parts.size() == 3 && parts[1] == "decisions") {
    *route = Metrics::RouteIndex("decisions");
    s = RequireMethod(req, {"GET"});
    if (s.ok() && with_scope(kScopeReview)) s = GetDecision(parts[2], res);
  } else if (parts.size() == 3 && parts[1] == "guard" && parts[2] == "prompt") {
    *route = Metrics::RouteIndex("guard");
    s = RequireMethod(req, {"POST"});
    if (s.ok() && with_scope(kScopeScan)) s = GuardPrompt(req, key, res);
  } else if (parts.size() == 3 && parts[1] == "guard" && parts[2] == "output") {
    *route = Metrics::RouteIndex("guard");
    s = RequireMethod(req, {"POST"});
    if (s.ok() && with_scope(kScopeScan)) s = GuardOutput(req, key, res);
  } else if ((parts.size() == 4 || parts.size() == 5) && parts[1] == "guard" && parts[2] == "accounts") {
    *route = Metrics::RouteIndex("guard");
    if (parts.size() == 4) {
      s = RequireMethod(req, {"GET"});
      if (s.ok() && with_scope(kScopeReview)) s = GuardAccount(parts[3], res);
    } else if (parts[4] == "reinstate") {
      s = RequireMethod(req, {"POST"});
      if (s.ok() && with_scope(kScopeReview)) s = GuardReinstate(req, key, parts[3], res);
    } else {
      s = Status::NotFound("no such endpoint: " + req.path + " (see /v1/openapi.json)");
    }
  } else if (parts.size() == 3 && parts[1] == "guard" && parts[2] == "input") {
    *route = Metrics::RouteIndex("guard");
    s = RequireMethod(req, {"POST"});
    if (s.ok() && with_scope(kScopeScan)) s = GuardInput(req, key, res);
  } else if (parts[1] == "cases") {
    *route = Metrics::RouteIndex("cases");
    if (with_scope(kScopeReview)) s = Cases(req, key, parts, res);
  } else if (parts.size() == 2 && parts[1] == "appeals") {
    *route = Metrics::RouteIndex("reports");
    s = RequireMethod(req, {"POST"});
    if (s.ok() && with_scope(kScopeScan)) s = Appeal(req, key, res);
  } else if (parts.size() == 2 && parts[1] == "reports") {
    *route = Metrics::RouteIndex("reports");
    if (with_scope(kScopeReview)) s = ListReports(req, res);
  } else if (parts.size() == 3 && parts[1] == "reports" && parts[2] == "ncii") {
    *route = Metrics::RouteIndex("reports");
    s = RequireMethod(req, {"POST"});
    if (s.ok() && with_scope(kScopeScan)) s = NciiReport(req, key, res);
  } else if (parts[1] == "banks") {
    *route = Metrics::RouteIndex("banks");
    if (with_scope(kScopeCurate)) s = Banks(req, key, parts, res, route);
  } else {
    s = Status::NotFound("no such endpoint: " + req.path + " (see /v1/openapi.json)");
  }
  if (s.ok()) return;
  ErrorResponse(res, s);
  if (unauthenticated) {
    // No key, or not one of ours: 401 with the challenge; a known key
    // without the scope stays 403.
    res->status = 401;
    res->headers.emplace_back("WWW-Authenticate", "Bearer");
  }
}

Status Service::Readyz(HttpResponse* res) {
  std::shared_ptr<bank::Matcher> m;
  Status s = Matcher(&m);
  if (!s.ok()) return s;
  JsonResponse(
      res, 200,
      Json{{"ready", true}, {"pdq_entries", m->pdq_entries()}, {"digest_entries", m->digest_entries()}});
  return Status::Ok();
}

void Service::MetricsText(HttpResponse* res) {
  std::vector<std::pair<std::string, std::pair<std::string, double>>> gauges;
  std::shared_ptr<bank::Matcher> m;
  const bool loaded = Matcher(&m).ok();
  gauges.push_back({"safeguard_ready", {"1 when the index is loaded.", loaded ? 1.0 : 0.0}});
  gauges.push_back({"safeguard_index_pdq_entries",
                    {"Live PDQ signals in the index.", loaded ? double(m->pdq_entries()) : 0.0}});
  gauges.push_back(
      {"safeguard_index_digest_entries",
       {"Live MD5 and SHA-256 signals in the index.", loaded ? double(m->digest_entries()) : 0.0}});
  gauges.push_back({"safeguard_index_vpdq_signals",
                    {"Live vPDQ signals in the video index.", loaded ? double(m->vpdq_signals()) : 0.0}});
  gauges.push_back({"safeguard_index_tmk_signals",
                    {"Live TMK+PDQF signals in the video index.", loaded ? double(m->tmk_signals()) : 0.0}});
  gauges.push_back({"safeguard_index_unreadable_video_signals",
                    {"Video signals skipped because their stored content does not parse.",
                     loaded ? double(m->unreadable_video_signals()) : 0.0}});
  OutboxStats os;
  if (outbox_ && outbox_->Stats(&os).ok()) {
    gauges.push_back(
        {"safeguard_webhook_backlog", {"Webhook events waiting for delivery.", double(os.pending)}});
    gauges.push_back({"safeguard_webhook_failed", {"Webhook events given up on.", double(os.failed)}});
    gauges.push_back({"safeguard_webhook_delivered", {"Webhook events delivered.", double(os.delivered)}});
  }
  res->status = 200;
  res->content_type = "text/plain; version=0.0.4; charset=utf-8";
  res->body = metrics_.Render(gauges);
}

Status Service::HashOnly(const HttpRequest& req, HttpResponse* res) {
  std::string_view bytes;
  Status s = UploadedBytes(req, &bytes);
  if (!s.ok()) return s;
  if (bytes.empty())
    return Status::InvalidArgument("the request body is empty: send the image or video bytes");
  const auto head = std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(bytes.data()),
                                             std::min<size_t>(bytes.size(), 64));
  if (!video::LooksLikeImage(head)) return HashVideoOnly(req, bytes, res);
  std::unique_ptr<hash::ImageHasher> hasher = TakeHasher();
  hash::FileHashes h;
  const auto data = std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  s = hasher->HashBytes(data, &h);
  ReturnHasher(std::move(hasher));
  if (!s.ok()) return s;
  Json j;
  j["pdq"] = PdqHex(h.pdq.hash);
  j["quality"] = h.pdq.quality;
  j["md5"] = hash::ToHex(h.md5);
  j["sha256"] = hash::ToHex(h.sha256);
  j["width"] = h.width;
  j["height"] = h.height;
  if (config_.policy.dihedral) {
    Json d = Json::array();
    for (const pdq::Hash256& x : h.pdq.dihedral) d.push_back(PdqHex(x));
    j["dihedral"] = std::move(d);
  }
  JsonResponse(res, 200, j);
  return Status::Ok();
}

Status Service::HashVideoOnly(const HttpRequest& req, std::string_view bytes, HttpResponse* res) {
  const auto params = QueryParams(req.query);
  video::VideoHashOptions options;
  const std::string seconds = Param(params, "vpdq_seconds");
  if (!seconds.empty()) {
    char* end = nullptr;
    const double v = std::strtod(seconds.c_str(), &end);
    if (*end != '\0' || !(v >= 0) || v > 3600) {
      return Status::InvalidArgument("vpdq_seconds must be a number of seconds from 0 (every frame) to 3600");
    }
    options.vpdq_options.seconds_between_frames = v;
  }
  options.max_file_bytes = config_.max_body_bytes;
  video::VideoHashes h;
  Status s = video::HashVideo(video::VideoInput::Memory(bytes), options, &h);
  if (s.code() == StatusCode::kUnsupportedFormat) {
    return Status::UnsupportedFormat("neither an image Safeguard decodes nor a video FFmpeg reads");
  }
  if (!s.ok()) return s;
  Json j;
  j["media"] = "video";
  j["md5"] = hash::ToHex(h.md5);
  j["sha256"] = hash::ToHex(h.sha256);
  j["width"] = h.info.width;
  j["height"] = h.info.height;
  j["duration"] = std::round(h.info.duration_seconds * 1000) / 1000;
  j["vpdq"] = video::VpdqToText(h.vpdq);
  if (h.tmk) {
    j["tmk"] = EncodeBase64(h.tmk->Serialize());
  }
  JsonResponse(res, 200, j);
  return Status::Ok();
}

namespace {

// The media type of an upload, judged from its bytes.
std::string MediaTypeOf(std::string_view bytes) {
  const media::ImageFormat f = media::DetectFormat(
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
  switch (f) {
    case media::ImageFormat::kUnknown:
      return "application/octet-stream";
    case media::ImageFormat::kPnm:
      return "image/x-portable-anymap";
    default: {
      std::string name(media::ImageFormatName(f));
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      return "image/" + name;
    }
  }
}

// The case a scan decision held for review opens: the most severe category
// matched decides its severity (CSAM and NCII 1, terrorism 2, others 3).
// What the platform says about an upload, for reports (SI 2026/268
// Schedule 1: upload time, IP address and port, URL, account): the scan's
// optional account_id, uploaded_at, uploader_ip, uploader_port and url
// parameters, checked. Kept only in the case a decision opens.
Status ParseUploadParams(const std::vector<std::pair<std::string, std::string>>& params, Json* upload) {
  *upload = Json::object();
  for (const char* k : {"account_id", "uploaded_at", "uploader_ip", "uploader_port", "url"}) {
    const std::string v = Param(params, k);
    if (v.empty()) continue;
    if (v.size() > 2048) return Status::InvalidArgument(std::string(k) + " is longer than 2048 characters");
    if (std::string_view(k) == "uploaded_at") {
      int64_t ms = 0;
      if (!audit::ParseTimeMs(v, &ms).ok()) {
        return Status::InvalidArgument("uploaded_at must be a time like 2026-11-30T12:00:00Z");
      }
    } else if (std::string_view(k) == "uploader_ip") {
      in6_addr a6;
      in_addr a4;
      if (inet_pton(AF_INET, v.c_str(), &a4) != 1 && inet_pton(AF_INET6, v.c_str(), &a6) != 1) {
        return Status::InvalidArgument("uploader_ip must be an IPv4 or IPv6 address");
      }
    } else if (std::string_view(k) == "uploader_port") {
      char* end = nullptr;
      const long port = std::strtol(v.c_str(), &end, 10);
      if (*end != '\0' || port < 1 || port > 65535) {
        return Status::InvalidArgument("uploader_port must be 1 to 65535");
      }
      (*upload)[k] = port;
      continue;
    } else if (std::string_view(k) == "url" && v.rfind("http://", 0) != 0 && v.rfind("https://", 0) != 0) {
      return Status::InvalidArgument("url must start with http:// or https://");
    }
    (*upload)[k] = v;
  }
  return Status::Ok();
}

cases::NewCase ReviewCase(const policy::ScanResult& r, const std::string& decision_id,
                          const std::string& content_id, const Json& upload) {
  cases::NewCase c;
  c.source = cases::Source::kScanReview;
  c.subject = decision_id;
  c.content_id = content_id;
  c.category = r.decode_status.ok() ? "other" : "undecodable";
  c.severity = 3;
  Json banks = Json::array();
  for (const bank::Hit& h : r.matches.hits) {
    const int sev = h.category == bank::Category::kCsam || h.category == bank::Category::kNcii ? 1
                    : h.category == bank::Category::kTerrorism                                 ? 2
                                                                                               : 3;
    if (sev < c.severity || banks.empty()) {
      c.severity = std::min(c.severity, sev);
      if (sev == c.severity) c.category = std::string(bank::CategoryName(h.category));
    }
    banks.push_back(bank::HitJson(h, r.signals));
  }
  Json details{{"decision_id", decision_id}, {"sha256", hash::ToHex(r.hashes.sha256)}};
  if (r.decode_status.ok() && !r.is_video) details["pdq"] = PdqHex(r.hashes.pdq.hash);
  details["matches"] = banks;
  if (!upload.empty()) details["upload"] = upload;
  c.account_id = upload.value("account_id", "");
  c.details_json = Dump(details);
  return c;
}

}  // namespace

Status Service::Scan(const HttpRequest& req, const ApiKey& key, HttpResponse* res) {
  std::shared_ptr<bank::Matcher> matcher;
  Status s = Matcher(&matcher);
  if (!s.ok()) return s;
  std::string_view bytes;
  s = UploadedBytes(req, &bytes);
  if (!s.ok()) return s;
  if (bytes.empty()) return Status::InvalidArgument("the request body is empty: send the upload's bytes");
  const auto params = QueryParams(req.query);
  const std::string content_id = Param(params, "content_id");
  if (content_id.size() > 256) return Status::InvalidArgument("content_id is longer than 256 characters");
  Json upload;
  s = ParseUploadParams(params, &upload);
  if (!s.ok()) return s;

  policy::ScanResult r;
  std::unique_ptr<hash::ImageHasher> hasher = TakeHasher();
  s = policy::ScanBytes(
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()), hasher.get(),
      *matcher, store_.get(), config_.policy, &r);
  ReturnHasher(std::move(hasher));
  if (!s.ok()) return s;

  const int64_t now = NowMs();
  const std::string id = NewDecisionId(now);
  if (id.empty()) return Status::Internal("the system's random generator failed");
  const policy::Decision& d = r.decision;
  Json j;
  j["decision_id"] = id;
  j["action"] = std::string(policy::ActionName(d.action));
  j["actions"] = Json{{"block", d.actions.block},
                      {"quarantine", d.actions.quarantine},
                      {"review", d.actions.review},
                      {"report", d.actions.report}};
  Json reasons = Json::array();
  for (const policy::Reason& why : d.reasons) {
    Json w{{"kind", why.kind}};
    if (why.kind == "match") w["category"] = std::string(bank::CategoryName(why.category));
    reasons.push_back(std::move(w));
  }
  j["reasons"] = std::move(reasons);
  if (!content_id.empty()) j["content_id"] = content_id;
  Json hashes;
  if (r.decode_status.ok() && !r.is_video) {
    hashes["pdq"] = PdqHex(r.hashes.pdq.hash);
    hashes["quality"] = r.hashes.pdq.quality;
  }
  hashes["md5"] = hash::ToHex(r.hashes.md5);
  hashes["sha256"] = hash::ToHex(r.hashes.sha256);
  if (r.is_video) {
    hashes["vpdq_frames"] = r.video.vpdq.size();
    hashes["vpdq_matchable_frames"] = video::VpdqMatchableHashes(r.video.vpdq).size();
    if (r.video.tmk) hashes["tmk_frames"] = r.video.tmk->frame_count;
  }
  j["media"] = r.is_video ? "video" : "image";
  if (r.is_video) j["duration"] = std::round(r.video.info.duration_seconds * 1000) / 1000;
  j["hashes"] = std::move(hashes);
  j["decoded"] = r.decode_status.ok();
  if (!r.decode_status.ok()) {
    j["decode_error"] = Json{{"code", std::string(StatusCodeName(r.decode_status.code()))},
                             {"message", r.decode_status.message()}};
  }
  j["pdq_matched"] = r.pdq_matched;
  AddMatches(r.matches, r.signals, &j);
  j["policy_version"] = policy_version_;
  j["time"] = audit::FormatTimeMs(now);
  std::string record;

  // The decision, the case it opens if a person must look (held for review,
  // or a report candidate: reports are built from cases), its audit records
  // and its webhook events: one transaction, committed before the client
  // hears of the decision.
  nlohmann::json audit_details;
  audit_details["action"] = std::string(policy::ActionName(d.action));
  audit_details["content_id"] = content_id;
  audit_details["sha256"] = hash::ToHex(r.hashes.sha256);
  audit_details["policy_version"] = policy_version_;
  nlohmann::json hit_ids = nlohmann::json::array();
  for (const bank::Hit& h : r.matches.hits) hit_ids.push_back(h.signal_id);
  audit_details["signal_ids"] = std::move(hit_ids);
  const std::string actor = ActorOf(key);
  {
    std::lock_guard<std::mutex> lock(db_mu_);
    s = db_->Exec("BEGIN IMMEDIATE");
    if (!s.ok()) return s;
    if (d.actions.review || d.actions.report) {
      cases::Case opened;
      s = OpenCaseLocked(ReviewCase(r, id, content_id, upload), actor, &opened);
      // The upload itself goes to the evidence store (sealed, audited), the
      // only place media is kept, for the moderator who works the case.
      if (s.ok()) {
        s = evidence_->Put(
            opened.id, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()),
            MediaTypeOf(bytes), actor, nullptr);
      }
      if (!s.ok()) {
        db_->Exec("ROLLBACK");
        return s;
      }
      j["case_id"] = opened.id;
    }
    record = Dump(j);
    {
      sqlite::Stmt ins(db_.get(),
                       "INSERT INTO decisions (id, time_ms, actor, content_id, action, record) "
                       "VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
      ins.Text(1, id);
      ins.Int(2, now);
      ins.Text(3, actor);  // bound without a copy: must outlive Run
      ins.Text(4, content_id);
      ins.Text(5, policy::ActionName(d.action));
      ins.Text(6, record);
      s = ins.Run();
    }
    if (s.ok()) {
      s = audit_->Append(audit::Event{.actor = ActorOf(key),
                                      .action = "decision",
                                      .subject = id,
                                      .details_json = audit_details.dump()},
                         nullptr);
    }
    if (s.ok())
      s = outbox_->Enqueue(db_.get(), "decision." + std::string(policy::ActionName(d.action)), id, record);
    if (s.ok()) s = db_->Exec("COMMIT");
    if (!s.ok()) {
      db_->Exec("ROLLBACK");
      return s;
    }
  }
  outbox_->Wake();
  metrics_.Decision(static_cast<size_t>(d.action));
  for (const bank::Hit& h : r.matches.hits) metrics_.Match(static_cast<size_t>(h.category));
  for (const bank::Hit& h : r.matches.allowed) metrics_.Match(static_cast<size_t>(h.category));
  res->status = 200;
  res->body = record;
  return Status::Ok();
}

Status Service::Lookup(const HttpRequest& req, HttpResponse* res) {
  std::shared_ptr<bank::Matcher> matcher;
  Status s = Matcher(&matcher);
  if (!s.ok()) return s;
  const auto params = QueryParams(req.query);
  std::vector<index::Code256> codes;
  bank::MatchQuery q;
  bool any = false;
  for (const auto& [k, v] : params) {
    std::vector<uint8_t> raw;
    if (k == "pdq") {
      s = bank::ParseSignalValue(SignalType::kPdq, v, &raw);
      if (!s.ok()) return Status::InvalidArgument("pdq: " + s.message());
      codes.push_back(bank::CodeFromPdqValue(raw));
      any = true;
    } else if (k == "md5") {
      s = bank::ParseSignalValue(SignalType::kMd5, v, &raw);
      if (!s.ok()) return Status::InvalidArgument("md5: " + s.message());
      std::array<uint8_t, 16> d;
      std::copy(raw.begin(), raw.end(), d.begin());
      q.md5 = d;
      any = true;
    } else if (k == "sha256") {
      s = bank::ParseSignalValue(SignalType::kSha256, v, &raw);
      if (!s.ok()) return Status::InvalidArgument("sha256: " + s.message());
      std::array<uint8_t, 32> d;
      std::copy(raw.begin(), raw.end(), d.begin());
      q.sha256 = d;
      any = true;
    } else {
      return Status::InvalidArgument("unknown parameter " + k + " (accepted: pdq, md5, sha256)");
    }
  }
  if (!any) return Status::InvalidArgument("give at least one of pdq=, md5=, sha256= (hex)");
  if (codes.size() > 8)
    return Status::InvalidArgument("at most 8 pdq= values (an image's dihedral set) per lookup");
  q.pdq = codes;
  bank::MatchResult r;
  s = matcher->Match(q, &r);
  if (!s.ok()) return s;
  std::vector<bank::Signal> signals;
  std::vector<uint64_t> ids;
  for (const bank::Hit& h : r.hits) ids.push_back(h.signal_id);
  for (const bank::Hit& h : r.allowed) ids.push_back(h.signal_id);
  if (!ids.empty()) {
    // The cache is dropped when the matcher's cursor moves, so its records
    // are never older than the index this lookup matched against.
    s = signal_cache_->Get(store_.get(), matcher.get(), matcher->cursor(), ids, &signals);
    if (!s.ok()) return s;
  }
  for (const bank::Hit& h : r.hits) metrics_.Match(static_cast<size_t>(h.category));
  Json j;
  AddMatches(r, signals, &j);
  JsonResponse(res, 200, j);
  return Status::Ok();
}

Status Service::GetDecision(const std::string& id, HttpResponse* res) {
  std::lock_guard<std::mutex> lock(db_mu_);
  sqlite::Stmt q(db_.get(), "SELECT record FROM decisions WHERE id = ?1");
  q.Text(1, id);
  bool row;
  Status s = q.Step(&row);
  if (!s.ok()) return s;
  if (!row) return Status::NotFound("no decision with id " + id);
  res->status = 200;
  res->body = std::string(q.ColumnText(0));
  return Status::Ok();
}

namespace {

// A guard request's fields, checked (docs/guard.md).
struct GuardRequest {
  std::string prompt;
  std::string account_id;
  std::vector<uint8_t> image;        // input: the photo; output: the generated image
  std::vector<uint8_t> input_image;  // output: the photo that was edited, if any
  uint64_t generation_id = 0;        // output: 0 picks one
};

enum class GuardRoute { kPrompt, kInput, kOutput };

// Bank hits as the guard's audit records keep them.
Json AuditHits(const std::vector<bank::Hit>& hits) {
  Json matches = Json::array();
  for (const bank::Hit& h : hits) {
    matches.push_back(Json{{"bank", h.bank_name}, {"signal_id", h.signal_id}, {"distance", h.distance}});
  }
  return matches;
}

// A guard route's answer: the record's id, the account, the case it opened
// (if any), the verdict's fields, then `more`.
void GuardAnswer(const std::string& id, const std::string& account_id, int64_t case_id,
                 const std::string& verdict_json, const Json& more, HttpResponse* res) {
  Json answer{{"id", id}, {"account_id", account_id}};
  if (case_id != 0) answer["case_id"] = case_id;
  const Json parsed = Json::parse(verdict_json);  // kept alive for the loop
  for (const auto& [k, v] : parsed.items()) answer[k] = v;
  for (const auto& [k, v] : more.items()) answer[k] = v;
  JsonResponse(res, 200, answer);
}

Status ParseGuardRequest(const HttpRequest& req, GuardRoute route, GuardRequest* out) {
  nlohmann::json body;
  Status s = ParseBody(req, &body);
  if (!s.ok()) return s;
  constexpr size_t kMaxPromptBytes = 64 * 1024;
  constexpr size_t kMaxAccountBytes = 256;
  const bool with_image = route != GuardRoute::kPrompt;
  const bool output = route == GuardRoute::kOutput;
  for (const auto& [k, v] : body.items()) {
    if (k != "prompt" && k != "account_id" && !(with_image && k == "image_base64") &&
        !(output && (k == "input_image_base64" || k == "generation_id"))) {
      return Status::InvalidArgument("unknown field \"" + k + "\" (known: prompt, account_id" +
                                     (output       ? ", image_base64, input_image_base64, generation_id)"
                                      : with_image ? ", image_base64)"
                                                   : ")"));
    }
  }
  auto prompt = body.find("prompt");
  if (output && prompt == body.end()) {
    out->prompt.clear();  // an output may come without its prompt
  } else if (prompt == body.end() || !prompt->is_string()) {
    return Status::InvalidArgument("\"prompt\" (a string) is required");
  }
  auto account = body.find("account_id");
  if (account == body.end() || !account->is_string() || account->get_ref<const std::string&>().empty()) {
    return Status::InvalidArgument(
        "\"account_id\" (a non-empty string naming the user who asked) is required");
  }
  if (prompt != body.end()) {
    if (!prompt->is_string()) return Status::InvalidArgument("\"prompt\" must be a string");
    out->prompt = prompt->get<std::string>();
  }
  out->account_id = account->get<std::string>();
  if (out->prompt.size() > kMaxPromptBytes) {
    return Status::TooLarge("the prompt is " + std::to_string(out->prompt.size()) + " bytes; the limit is " +
                            std::to_string(kMaxPromptBytes));
  }
  if (out->account_id.size() > kMaxAccountBytes) {
    return Status::InvalidArgument("\"account_id\" is longer than " + std::to_string(kMaxAccountBytes) +
                                   " bytes");
  }
  if (with_image) {
    auto image = body.find("image_base64");
    if (image == body.end() || !image->is_string()) {
      return Status::InvalidArgument("\"image_base64\" (the photo to edit, in base64) is required");
    }
    if (!DecodeBase64(image->get_ref<const std::string&>(), &out->image)) {
      return Status::InvalidArgument(
          "\"image_base64\" is not base64 (no whitespace, padded to a multiple of 4)");
    }
  }
  if (output) {
    auto input = body.find("input_image_base64");
    if (input != body.end()) {
      if (!input->is_string() || !DecodeBase64(input->get_ref<const std::string&>(), &out->input_image) ||
          out->input_image.empty()) {
        return Status::InvalidArgument(
            "\"input_image_base64\" (the photo that was edited) is not base64 (no whitespace, padded to a "
            "multiple of 4)");
      }
    }
    auto gid = body.find("generation_id");
    if (gid != body.end()) {
      const std::string text = gid->is_string() ? gid->get<std::string>() : std::string();
      char* end = nullptr;
      errno = 0;
      const unsigned long long v =
          text.empty() || text[0] < '0' || text[0] > '9' ? 0 : std::strtoull(text.c_str(), &end, 10);
      if (v == 0 || errno != 0 || end == nullptr || *end != '\0') {
        return Status::InvalidArgument(
            "\"generation_id\" must be a decimal string from 1 to 18446744073709551615 (a string: 64-bit ids "
            "do "
            "not survive JSON numbers)");
      }
      out->generation_id = v;
    }
  }
  return Status::Ok();
}

}  // namespace

// The prompt never reaches a log or the audit trail: the record keeps its
// SHA-256, its length, the rules that fired and the byte spans (and for an
// input, the photo's SHA-256, PDQ, face count and bank matches).
Status Service::RecordGuard(const ApiKey& key, const std::string& action, const std::string& id,
                            const std::string& account_id, const std::string& prompt, guard::PromptVerdict* v,
                            const Json& extra, std::span<const uint8_t> image, int64_t* case_id) {
  *case_id = 0;
  std::lock_guard<std::mutex> lock(db_mu_);
  // The account's strikes and limits first: they can raise the decision.
  guard::AccountStanding standing;
  Status s = accounts_->Apply(account_id, v, &standing);
  if (!s.ok()) return s;
  const guard::PromptVerdict& verdict = *v;
  Json spans = Json::array();
  for (const guard::TermHit& t : verdict.terms) {
    if (!t.masked && spans.size() < 64) {
      spans.push_back(Json{{"category", t.category}, {"begin", t.begin}, {"end", t.end}});
    }
  }
  Json rules = Json::array();
  for (const guard::RuleHit& r : verdict.rules) rules.push_back(r.rule);
  Json details{{"account_id", account_id},
               {"decision", guard::DecisionName(verdict.decision)},
               {"rules", rules},
               {"spans", spans},
               {"lists_version", verdict.lists_version},
               {"prompt_sha256", hash::ToHex(hash::Sha256(std::span<const uint8_t>(
                                     reinterpret_cast<const uint8_t*>(prompt.data()), prompt.size())))},
               {"prompt_bytes", prompt.size()}};
  details["account_strikes"] = standing.strikes;
  for (const auto& [k, x] : extra.items()) details[k] = x;
  // A report candidate or a refusal for review opens a case, in the same
  // transaction as the guard's audit record.
  const bool needs_case =
      verdict.decision == guard::Decision::kBlockReport || verdict.decision == guard::Decision::kBlockReview;
  s = db_->Exec("BEGIN IMMEDIATE");
  if (!s.ok()) return s;
  s = audit_->Append(
      audit::Event{.actor = ActorOf(key), .action = action, .subject = id, .details_json = Dump(details)},
      nullptr);
  if (s.ok() && needs_case) {
    cases::NewCase c;
    c.source = cases::Source::kGuard;
    c.category = "guard";
    c.severity = verdict.decision == guard::Decision::kBlockReport ? 1 : 2;
    c.subject = id;
    c.account_id = account_id;
    Json case_details{{"guard_record", id},
                      {"route", action},
                      {"decision", guard::DecisionName(verdict.decision)},
                      {"rules", rules},
                      {"lists_version", verdict.lists_version}};
    for (const char* k : {"image_sha256", "input_sha256", "pdq", "generation_id"}) {
      if (extra.contains(k)) case_details[k] = extra[k];
    }
    c.details_json = Dump(case_details);
    cases::Case opened;
    s = OpenCaseLocked(c, ActorOf(key), &opened);
    if (s.ok()) *case_id = opened.id;
    // The request itself is the evidence: the prompt, and the photo or the
    // generated image, sealed in the evidence store (never in a record).
    if (s.ok() && !prompt.empty()) {
      s = evidence_->Put(
          opened.id, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(prompt.data()), prompt.size()),
          "text/plain; charset=utf-8", ActorOf(key), nullptr);
    }
    if (s.ok() && !image.empty()) {
      const std::string_view view(reinterpret_cast<const char*>(image.data()), image.size());
      s = evidence_->Put(opened.id, image, MediaTypeOf(view), ActorOf(key), nullptr);
    }
  }
  if (s.ok()) s = db_->Exec("COMMIT");
  if (!s.ok()) db_->Exec("ROLLBACK");
  return s;
}

Status Service::GuardPrompt(const HttpRequest& req, const ApiKey& key, HttpResponse* res) {
  if (!guard_) {
    return Status::Unavailable(
        "the generation guard has no term lists (set guard.data_dir or SAFEGUARD_GUARD_DATA)");
  }
  GuardRequest r;
  Status s = ParseGuardRequest(req, GuardRoute::kPrompt, &r);
  if (!s.ok()) return s;
  guard::PromptVerdict verdict = guard_->Screen(r.prompt);
  const std::string id = NewDecisionId(NowMs());
  int64_t case_id = 0;
  s = RecordGuard(key, "guard.prompt", id, r.account_id, r.prompt, &verdict, Json::object(), {}, &case_id);
  if (!s.ok()) return s;  // fail closed: no record, no answer
  GuardAnswer(id, r.account_id, case_id, guard::VerdictToJson(verdict), Json::object(), res);
  return Status::Ok();
}

Status Service::GuardInput(const HttpRequest& req, const ApiKey& key, HttpResponse* res) {
  if (!guard_ || !faces_) {
    return Status::Unavailable(
        "the generation guard is not available (term lists or face detection cascades missing)");
  }
  GuardRequest r;
  Status s = ParseGuardRequest(req, GuardRoute::kInput, &r);
  if (!s.ok()) return s;
  std::shared_ptr<bank::Matcher> matcher;
  s = Matcher(&matcher);
  if (!s.ok()) return s;  // not ready: the caller retries, and meanwhile must not generate
  std::unique_ptr<hash::ImageHasher> hasher = TakeHasher();
  guard::InputGuardParts parts{guard_.get(), faces_.get(), matcher.get(), hasher.get(),
                               media::DecodeLimits()};
  parts.limits.max_pixels = config_.max_pixels;  // as the hasher /v1/scan uses
  guard::InputVerdict verdict;
  s = guard::CheckInput(r.image, r.prompt, parts, &verdict);
  ReturnHasher(std::move(hasher));
  if (!s.ok()) return s;
  const std::string id = NewDecisionId(NowMs());
  Json extra{{"image_sha256", hash::ToHex(hash::Sha256(r.image))},
             {"image_bytes", r.image.size()},
             {"pdq", verdict.pdq},
             {"faces", verdict.faces.size()},
             {"input_matches", AuditHits(verdict.matches)}};
  int64_t case_id = 0;
  s = RecordGuard(key, "guard.input", id, r.account_id, r.prompt, &verdict.verdict, extra, r.image, &case_id);
  if (!s.ok()) return s;
  GuardAnswer(id, r.account_id, case_id, guard::InputVerdictToJson(verdict), Json::object(), res);
  return Status::Ok();
}

Status Service::GuardOutput(const HttpRequest& req, const ApiKey& key, HttpResponse* res) {
  if (!guard_ || !faces_ || !nsfw_ready_ || !wm_key_) {
    return Status::Unavailable(
        "the output guard is not available (term lists, face detection cascades or the NSFW model missing)");
  }
  GuardRequest r;
  Status s = ParseGuardRequest(req, GuardRoute::kOutput, &r);
  if (!s.ok()) return s;
  std::shared_ptr<bank::Matcher> matcher;
  s = Matcher(&matcher);
  if (!s.ok()) return s;  // not ready: the caller retries, and meanwhile must not publish
  std::unique_ptr<hash::ImageHasher> hasher = TakeHasher();
  guard::OutputGuardParts parts;
  parts.prompts = guard_.get();
  parts.faces = faces_.get();
  parts.matcher = matcher.get();
  parts.hasher = hasher.get();
  parts.key = wm_key_.get();
  for (const auto& c : classifiers_) parts.classifiers.push_back(c.get());
  parts.limits.max_pixels = config_.max_pixels;
  parts.check_timeout = std::chrono::milliseconds(config_.guard_check_timeout_ms);
  guard::OutputRequest request;
  request.image = r.image;
  request.prompt = r.prompt;
  request.input_photo = r.input_image;
  request.generation_id = r.generation_id;
  guard::OutputVerdict verdict;
  s = guard::CheckOutput(request, parts, &verdict);
  ReturnHasher(std::move(hasher));
  if (!s.ok()) return s;
  const std::string id = NewDecisionId(NowMs());
  Json classified = Json::object();
  for (const guard::ClassifierResult& c : verdict.classifications) classified[c.name] = c.categories;
  Json extra{{"generation_id", std::to_string(verdict.generation_id)},
             {"image_sha256", hash::ToHex(hash::Sha256(r.image))},
             {"image_bytes", r.image.size()},
             {"pdq", verdict.pdq},
             {"output_matches", AuditHits(verdict.matches)},
             {"classifiers", classified}};
  if (!r.input_image.empty()) {
    extra["input_sha256"] = hash::ToHex(hash::Sha256(r.input_image));
    extra["input_faces"] = verdict.input_faces.size();
  }
  // The verdict as recorded: strikes may still turn an allow into a block,
  // and then the marked image is withheld.
  int64_t case_id = 0;
  s = RecordGuard(key, "guard.output", id, r.account_id, r.prompt, &verdict.verdict, extra, r.image,
                  &case_id);
  if (!s.ok()) return s;
  if (verdict.verdict.decision != guard::Decision::kAllow) verdict.marked.clear();
  Json image = Json::object();
  if (!verdict.marked.empty()) {
    image["image_base64"] = EncodeBase64(verdict.marked);
    image["image_format"] = verdict.marked_format;
  }
  GuardAnswer(id, r.account_id, case_id, guard::OutputVerdictToJson(verdict), image, res);
  return Status::Ok();
}

namespace {

Json StandingJson(const std::string& account, const guard::AccountStanding& st) {
  Json j{{"account_id", account},
         {"strikes", st.strikes},
         {"suspended", st.suspended},
         {"report_candidate", st.report_candidate},
         {"requests_last_minute", st.requests_last_minute}};
  j["cooldown_until"] =
      st.cooldown_until_ms > 0 ? Json(audit::FormatTimeMs(st.cooldown_until_ms)) : Json(nullptr);
  return j;
}

}  // namespace

Status Service::GuardAccount(const std::string& account, HttpResponse* res) {
  guard::AccountStanding st;
  std::lock_guard<std::mutex> lock(db_mu_);
  Status s = accounts_->Standing(account, &st);
  if (!s.ok()) return s;
  JsonResponse(res, 200, StandingJson(account, st));
  return Status::Ok();
}

// A moderator's decision: recorded with the key that made it and the reason
// given, before the account is told it may ask again.
Status Service::GuardReinstate(const HttpRequest& req, const ApiKey& key, const std::string& account,
                               HttpResponse* res) {
  std::string reason;
  if (!req.body.empty()) {
    nlohmann::json body;
    Status s = ParseBody(req, &body);
    if (!s.ok()) return s;
    for (const auto& [k, v] : body.items()) {
      if (k != "reason") return Status::InvalidArgument("unknown field \"" + k + "\" (known: reason)");
      if (!v.is_string() || v.get_ref<const std::string&>().size() > 1000) {
        return Status::InvalidArgument("\"reason\" must be a string of at most 1000 bytes");
      }
      reason = v.get<std::string>();
    }
  }
  std::lock_guard<std::mutex> lock(db_mu_);
  guard::AccountStanding before, after;
  Status s = accounts_->Standing(account, &before);
  if (!s.ok()) return s;
  Json details{{"account_id", account}, {"reason", reason}, {"before", StandingJson(account, before)}};
  s = audit_->Append(audit::Event{.actor = ActorOf(key),
                                  .action = "guard.reinstate",
                                  .subject = account,
                                  .details_json = Dump(details)},
                     nullptr);
  if (!s.ok()) return s;
  s = accounts_->Reinstate(account);
  if (s.ok()) s = accounts_->Standing(account, &after);
  if (!s.ok()) return s;
  JsonResponse(res, 200, StandingJson(account, after));
  return Status::Ok();
}

Status Service::BankChanged(const ApiKey& key, const std::string& action, const std::string& subject,
                            const Json& details) {
  // Applied to this server's index before the client hears of the change
  // (a withdrawal no longer matches once the answer arrives), then recorded.
  Status s = RefreshNow();
  if (!s.ok()) return s;
  std::lock_guard<std::mutex> lock(db_mu_);
  return audit_->Append(
      audit::Event{
          .actor = ActorOf(key), .action = action, .subject = subject, .details_json = Dump(details)},
      nullptr);
}

Status Service::Banks(const HttpRequest& req, const ApiKey& key, const std::vector<std::string>& parts,
                      HttpResponse* res, size_t* route) {
  Status s;
  nlohmann::json body;
  // /v1/banks
  if (parts.size() == 2) {
    s = RequireMethod(req, {"GET", "POST"});
    if (!s.ok()) return s;
    if (req.method == "GET") {
      std::vector<bank::Bank> banks;
      s = store_->ListBanks(&banks);
      if (!s.ok()) return s;
      Json list = Json::array();
      for (const bank::Bank& b : banks) list.push_back(bank::BankJson(b));
      JsonResponse(res, 200, Json{{"banks", std::move(list)}});
      return Status::Ok();
    }
    s = ParseBody(req, &body);
    if (!s.ok()) return s;
    bank::BankSpec spec;
    for (const auto& [k, v] : body.items()) {
      if (k == "name" && v.is_string()) {
        spec.name = v.get<std::string>();
      } else if (k == "category" && v.is_string()) {
        s = bank::ParseCategory(v.get<std::string>(), &spec.category);
        if (!s.ok()) return s;
      } else if (k == "distance" && v.is_number_integer()) {
        spec.pdq_distance = v.get<int>();
      } else if (k == "enabled" && v.is_boolean()) {
        spec.enabled = v.get<bool>();
      } else if (k == "source" && v.is_string()) {
        spec.source = v.get<std::string>();
      } else {
        return Status::InvalidArgument(
            "bank: unknown key or wrong type: " + k +
            " (name: string, category: string, distance: integer, enabled: boolean, "
            "source: string)");
      }
    }
    bank::Bank b;
    s = store_->CreateBank(spec, &b);
    if (!s.ok()) return s;
    s = BankChanged(key, "bank.create", b.name, bank::BankJson(b));
    if (!s.ok()) return s;
    JsonResponse(res, 201, bank::BankJson(b));
    return Status::Ok();
  }
  const std::string& name = parts[2];
  *route = Metrics::RouteIndex("bank");
  // /v1/banks/{name}
  if (parts.size() == 3) {
    s = RequireMethod(req, {"GET", "PATCH", "DELETE"});
    if (!s.ok()) return s;
    bank::Bank b;
    if (req.method == "GET") {
      s = store_->GetBank(name, &b);
      if (!s.ok()) return s;
      JsonResponse(res, 200, bank::BankJson(b));
      return Status::Ok();
    }
    if (req.method == "DELETE") {
      uint64_t withdrawn = 0;
      s = store_->DeleteBank(name, &withdrawn);
      if (!s.ok()) return s;
      s = BankChanged(key, "bank.delete", name, Json{{"withdrawn", withdrawn}});
      if (!s.ok()) return s;
      JsonResponse(res, 200, Json{{"deleted", name}, {"withdrawn", withdrawn}});
      return Status::Ok();
    }
    s = ParseBody(req, &body);
    if (!s.ok()) return s;
    bank::BankUpdate update;
    for (const auto& [k, v] : body.items()) {
      if (k == "distance" && v.is_number_integer()) {
        update.pdq_distance = v.get<int>();
      } else if (k == "enabled" && v.is_boolean()) {
        update.enabled = v.get<bool>();
      } else {
        return Status::InvalidArgument("bank update: unknown key or wrong type: " + k +
                                       " (distance: integer, enabled: boolean)");
      }
    }
    s = store_->UpdateBank(name, update, &b);
    if (!s.ok()) return s;
    s = BankChanged(key, "bank.update", name, bank::BankJson(b));
    if (!s.ok()) return s;
    JsonResponse(res, 200, bank::BankJson(b));
    return Status::Ok();
  }
  if (parts.size() != 4) return Status::NotFound("no such endpoint: " + req.path + " (see /v1/openapi.json)");
  s = RequireMethod(req, {"POST"});
  if (!s.ok()) return s;
  const std::string& what = parts[3];
  const auto params = QueryParams(req.query);
  if (what == "import") {
    *route = Metrics::RouteIndex("import");
    exchange::ImportOptions io;
    const std::string format = Param(params, "format");
    if (!format.empty() && !exchange::ParseFormat(format, &io.read.format)) {
      return Status::InvalidArgument("format must be csv, jsonl, pdq or auto");
    }
    io.read.skip_invalid = Truthy(Param(params, "skip_invalid"));
    io.source_list = Param(params, "source_list");
    if (io.source_list.empty()) io.source_list = "http-import";
    io.source_version = Param(params, "source_version");
    std::istringstream in(req.body);
    exchange::ImportResult result;
    s = exchange::ImportHashList(store_.get(), name, in, io, &result);
    Json j;
    j["bank"] = name;
    j["lines"] = result.report.lines;
    j["added"] = result.applied.added;
    j["duplicates"] = result.applied.duplicates;
    Json errors = Json::array();
    for (const auto& e : result.report.errors)
      errors.push_back(Json{{"line", e.line}, {"message", e.message}});
    j["invalid"] = std::move(errors);
    if (!s.ok()) {
      Json e = ErrorJson(s);
      e["error"]["invalid"] = j["invalid"];
      JsonResponse(res, HttpStatusFor(s.code()), e);
      return Status::Ok();
    }
    s = BankChanged(key, "signals.import", name,
                    Json{{"added", result.applied.added},
                         {"duplicates", result.applied.duplicates},
                         {"source_list", io.source_list},
                         {"source_version", io.source_version}});
    if (!s.ok()) return s;
    JsonResponse(res, 200, j);
    return Status::Ok();
  }
  s = ParseBody(req, &body);
  if (!s.ok()) return s;
  if (what == "signals") {
    *route = Metrics::RouteIndex("signals");
    auto list = body.find("signals");
    if (list == body.end() || !list->is_array() || body.size() != 1) {
      return Status::InvalidArgument(
          R"(expected {"signals": [{"type": "pdq", "value": "<hex>", ...}, ...]})");
    }
    std::vector<bank::NewSignal> add;
    for (size_t i = 0; i < list->size(); ++i) {
      const auto& item = (*list)[i];
      const std::string where = "signals[" + std::to_string(i) + "]: ";
      if (!item.is_object()) return Status::InvalidArgument(where + "must be an object");
      bank::NewSignal ns;
      std::string type = "pdq", value;
      for (const auto& [k, v] : item.items()) {
        if (k == "metadata") {
          if (!v.is_object()) return Status::InvalidArgument(where + "metadata must be an object");
          ns.metadata_json = v.dump();
          continue;
        }
        if (!v.is_string()) return Status::InvalidArgument(where + k + " must be a string");
        const std::string text = v.get<std::string>();
        if (k == "type") {
          type = text;
        } else if (k == "value") {
          value = text;
        } else if (k == "external_id") {
          ns.external_id = text;
        } else if (k == "source_list") {
          ns.source_list = text;
        } else if (k == "source_version") {
          ns.source_version = text;
        } else {
          return Status::InvalidArgument(where + "unknown key " + k +
                                         " (accepted: type, value, external_id, source_list, source_version, "
                                         "metadata)");
        }
      }
      s = bank::ParseSignalType(type, &ns.type);
      if (s.ok() && bank::SignalHasContent(ns.type)) {
        std::vector<uint8_t> content;
        s = VideoSignalContent(ns.type, value, &content);
        if (s.ok()) s = bank::MakeContentSignal(ns.type, std::move(content), &ns);
      } else if (s.ok()) {
        s = bank::ParseSignalValue(ns.type, value, &ns.value);
      }
      if (!s.ok()) return Status::InvalidArgument(where + s.message());
      if (ns.source_list.empty()) ns.source_list = "http-api";
      add.push_back(std::move(ns));
    }
    bank::SignalBatch batch;
    batch.add = add;
    bank::ApplyResult applied;
    s = store_->Apply(name, batch, &applied);
    if (!s.ok()) return s;
    s = BankChanged(key, "signals.add", name,
                    Json{{"added", applied.added}, {"duplicates", applied.duplicates}});
    if (!s.ok()) return s;
    JsonResponse(res, 200,
                 Json{{"bank", name}, {"added", applied.added}, {"duplicates", applied.duplicates}});
    return Status::Ok();
  }
  if (what == "withdraw") {
    *route = Metrics::RouteIndex("withdraw");
    bank::SignalBatch batch;
    for (const auto& [k, v] : body.items()) {
      if (!v.is_array()) return Status::InvalidArgument("withdraw: " + k + " must be a list");
      for (const auto& item : v) {
        if (k == "external_ids" && item.is_string()) {
          batch.withdraw.external_ids.push_back(item.get<std::string>());
        } else if (k == "signal_ids" && item.is_number_unsigned()) {
          batch.withdraw.signal_ids.push_back(item.get<uint64_t>());
        } else if (k == "values" && item.is_object() && item.contains("value") && item["value"].is_string()) {
          bank::WithdrawSpec::Value wv;
          const std::string type = item.value("type", std::string("pdq"));
          s = bank::ParseSignalType(type, &wv.type);
          if (s.ok()) s = bank::ParseSignalValue(wv.type, item["value"].get<std::string>(), &wv.value);
          if (!s.ok()) return Status::InvalidArgument("withdraw: " + s.message());
          batch.withdraw.values.push_back(std::move(wv));
        } else {
          return Status::InvalidArgument(
              "withdraw: expected external_ids (strings), signal_ids (integers) or values ({type, value}); "
              "got " +
              k);
        }
      }
    }
    if (batch.withdraw.empty()) return Status::InvalidArgument("withdraw: name at least one signal");
    bank::ApplyResult applied;
    s = store_->Apply(name, batch, &applied);
    if (!s.ok()) return s;
    // Refreshed before answering: once the client hears "withdrawn", the
    // signal no longer matches here.
    s = BankChanged(key, "signals.withdraw", name, Json{{"withdrawn", applied.withdrawn}});
    if (!s.ok()) return s;
    JsonResponse(res, 200, Json{{"bank", name}, {"withdrawn", applied.withdrawn}});
    return Status::Ok();
  }
  return Status::NotFound("no such endpoint: " + req.path + " (see /v1/openapi.json)");
}

}  // namespace safeguard::server
