// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// The moderation console's side of the server (docs/console.md): sign-in and
// sessions (/v1/session), the principal a session cookie stands for, the
// dashboard's figures (/v1/dashboard), blurred previews of evidence, and the
// console's built files under /console/.

#include <openssl/crypto.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/sqlite.h"
#include "route_util.h"
#include "safeguard/audit/audit_log.h"
#include "safeguard/media/decode.h"
#include "safeguard/media/encode.h"
#include "service.h"

#ifndef SAFEGUARD_CONSOLE_DIR
#define SAFEGUARD_CONSOLE_DIR ""
#endif

namespace safeguard::server {

namespace {

constexpr std::string_view kCookie = "sg_session";

// The value of cookie `name` in a Cookie header, or "".
std::string_view CookieValue(std::string_view header, std::string_view name) {
  while (!header.empty()) {
    const size_t semi = header.find(';');
    std::string_view pair = header.substr(0, semi);
    header = semi == std::string_view::npos ? std::string_view() : header.substr(semi + 1);
    while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
    const size_t eq = pair.find('=');
    if (eq != std::string_view::npos && pair.substr(0, eq) == name) return pair.substr(eq + 1);
  }
  return {};
}

uint32_t ScopesOfRole(const std::string& role) { return role == "admin" ? kScopeAdmin : kScopeReview; }

Json SessionJson(const Session& s) {
  return Json{{"user", {{"username", s.user.name}, {"role", s.user.role}}},
              {"csrf_token", s.csrf_token},
              {"expires", audit::FormatTimeMs(s.expires_ms)}};
}

// The cookie: never readable by scripts, never sent cross-site, only over
// HTTPS (browsers treat http://localhost as secure, so a console on the
// loopback works without TLS).
std::string SetCookie(const std::string& token, int64_t max_age_s) {
  return std::string(kCookie) + "=" + token +
         "; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=" + std::to_string(max_age_s);
}

// Pixelates `in` beyond recognition: each side is cut to at most 12 blocks
// (block averages), then scaled back up to at most 320 pixels.
media::Image Blur(const media::Image& in) {
  constexpr int kBlocks = 12, kOut = 320;
  const int bw = std::max(1, std::min(kBlocks, in.width * kBlocks / std::max(in.width, in.height)));
  const int bh = std::max(1, std::min(kBlocks, in.height * kBlocks / std::max(in.width, in.height)));
  const int ch = in.channels;
  std::vector<double> sum(static_cast<size_t>(bw) * bh * 3, 0.0);
  std::vector<int64_t> n(static_cast<size_t>(bw) * bh, 0);
  for (int y = 0; y < in.height; ++y) {
    const int by = static_cast<int>(int64_t{y} * bh / in.height);
    const uint8_t* row = in.pixels.data() + static_cast<size_t>(y) * in.width * ch;
    for (int x = 0; x < in.width; ++x) {
      const int bx = static_cast<int>(int64_t{x} * bw / in.width);
      const size_t b = static_cast<size_t>(by) * bw + bx;
      const uint8_t* p = row + static_cast<size_t>(x) * ch;
      for (int c = 0; c < 3; ++c) sum[b * 3 + c] += p[ch >= 3 ? c : 0];
      ++n[b];
    }
  }
  media::Image out;
  const int scale = std::max(1, kOut / std::max(bw, bh));
  out.width = bw * scale;
  out.height = bh * scale;
  out.channels = 3;
  out.pixels.resize(static_cast<size_t>(out.width) * out.height * 3);
  for (int y = 0; y < out.height; ++y) {
    for (int x = 0; x < out.width; ++x) {
      const size_t b = static_cast<size_t>(y / scale) * bw + x / scale;
      for (int c = 0; c < 3; ++c) {
        out.pixels[(static_cast<size_t>(y) * out.width + x) * 3 + c] =
            static_cast<uint8_t>(sum[b * 3 + c] / static_cast<double>(std::max<int64_t>(1, n[b])) + 0.5);
      }
    }
  }
  return out;
}

std::string ContentTypeOf(const std::filesystem::path& p) {
  const std::string ext = p.extension().string();
  if (ext == ".html") return "text/html; charset=utf-8";
  if (ext == ".js" || ext == ".mjs") return "text/javascript; charset=utf-8";
  if (ext == ".css") return "text/css; charset=utf-8";
  if (ext == ".svg") return "image/svg+xml";
  if (ext == ".png") return "image/png";
  if (ext == ".ico") return "image/x-icon";
  if (ext == ".json") return "application/json";
  if (ext == ".woff2") return "font/woff2";
  return "application/octet-stream";
}

}  // namespace

Status Service::SessionPrincipal(const HttpRequest& req, ApiKey* key, bool* found, Session* out) {
  const std::string_view token = CookieValue(req.Header("cookie"), kCookie);
  *found = !token.empty();
  if (!*found) return Status::Ok();
  Session session;
  Status s;
  {
    std::lock_guard<std::mutex> lock(db_mu_);
    s = users_->Resolve(token, &session);
  }
  if (!s.ok()) return s;
  if (out != nullptr) *out = session;
  *key = ApiKey{.id = {},
                .name = session.user.name,
                .scopes = ScopesOfRole(session.user.role),
                .created_ms = session.created_ms,
                .revoked_ms = 0,
                .role = session.user.role};
  if (req.method == "GET" || req.method == "HEAD") return Status::Ok();
  // A request that changes something must carry the session's CSRF token
  // (which a page of another site cannot read) and, when the browser says
  // where it comes from, come from this server's own origin.
  const std::string_view sent = req.Header("x-csrf-token");
  if (sent.size() != session.csrf_token.size() ||
      CRYPTO_memcmp(sent.data(), session.csrf_token.data(), sent.size()) != 0) {
    return Status::PermissionDenied("missing or wrong X-CSRF-Token: send the csrf_token of GET /v1/session");
  }
  const std::string_view origin = req.Header("origin");
  const std::string_view host = req.Header("host");
  if (!origin.empty()) {
    const size_t scheme = origin.find("://");
    if (scheme == std::string_view::npos || origin.substr(scheme + 3) != host) {
      return Status::PermissionDenied("a console request from another origin (" + std::string(origin) +
                                      ") is refused");
    }
  }
  return Status::Ok();
}

Status Service::SessionRoute(const HttpRequest& req, HttpResponse* res, bool* unauthenticated) {
  Status s = RequireMethod(req, {"GET", "POST", "DELETE"});
  if (!s.ok()) return s;
  if (req.method == "POST") {
    nlohmann::json body;
    s = ParseBody(req, &body);
    if (!s.ok()) return s;
    for (const auto& [k, v] : body.items()) {
      if (k != "username" && k != "password")
        return Status::InvalidArgument("unknown field \"" + k + "\" (known: username, password)");
    }
    if (!body.contains("username") || !body["username"].is_string() || !body.contains("password") ||
        !body["password"].is_string()) {
      return Status::InvalidArgument("\"username\" and \"password\" are required strings");
    }
    const std::string name = body["username"].get<std::string>();
    Session session;
    std::string token;
    s = users_->SignIn(name, body["password"].get<std::string>(), &session, &token);
    *unauthenticated = s.code() == StatusCode::kPermissionDenied;
    if (!s.ok()) {
      if (s.code() == StatusCode::kPermissionDenied)
        Log("sign_in_refused", nlohmann::ordered_json{{"user", name}});
      return s;
    }
    {
      std::lock_guard<std::mutex> lock(db_mu_);
      s = audit_->Append(audit::Event{.actor = "user:" + name,
                                      .action = "console.sign_in",
                                      .subject = name,
                                      .details_json = Dump(Json{{"role", session.user.role}})},
                         nullptr);
    }
    if (!s.ok()) return s;
    res->headers.emplace_back("Set-Cookie",
                              SetCookie(token, (session.expires_ms - session.created_ms) / 1000));
    res->headers.emplace_back("Cache-Control", "no-store");
    JsonResponse(res, 200, SessionJson(session));
    return Status::Ok();
  }
  const std::string_view token = CookieValue(req.Header("cookie"), kCookie);
  *unauthenticated = true;
  if (token.empty()) return Status::PermissionDenied("not signed in");
  ApiKey key;
  bool found = false;
  Session session;
  s = SessionPrincipal(req, &key, &found, &session);
  // Signed in, but a bad CSRF token or origin: 403.
  *unauthenticated = key.role.empty();
  if (!s.ok()) return s;
  if (req.method == "GET") {
    res->headers.emplace_back("Cache-Control", "no-store");
    JsonResponse(res, 200, SessionJson(session));
    return Status::Ok();
  }
  {
    std::lock_guard<std::mutex> lock(db_mu_);
    s = users_->SignOut(token);
    if (s.ok()) {
      s = audit_->Append(
          audit::Event{
              .actor = ActorOf(key), .action = "console.sign_out", .subject = key.name, .details_json = "{}"},
          nullptr);
    }
  }
  if (!s.ok()) return s;
  res->headers.emplace_back("Set-Cookie", SetCookie("", 0));
  JsonResponse(res, 200, Json{{"signed_out", true}});
  return Status::Ok();
}

Status Service::Dashboard(const HttpRequest& req, HttpResponse* res) {
  Status s = RequireMethod(req, {"GET"});
  if (!s.ok()) return s;
  int64_t from = 0, to = 0;
  s = DaysWindow(req, 366, NowMs(), &from, &to);
  if (!s.ok()) return s;
  cases::CaseFigures f;
  {
    std::lock_guard<std::mutex> lock(db_mu_);
    s = cases_->Figures(from, to, &f);
  }
  if (!s.ok()) return s;
  auto hours = [](int64_t ms) { return static_cast<double>(ms) / 3'600'000.0; };
  Json volumes = Json::array(), tta = Json::array();
  for (const auto& v : f.volumes)
    volumes.push_back(Json{{"category", v.category}, {"source", v.source}, {"count", v.count}});
  for (const auto& t : f.time_to_action) {
    tta.push_back(Json{{"source", t.source},
                       {"target_hours", hours(t.target_ms)},
                       {"count", t.count},
                       {"p50_hours", hours(t.p50_ms)},
                       {"p90_hours", hours(t.p90_ms)},
                       {"p99_hours", hours(t.p99_ms)},
                       {"late", t.late}});
  }
  JsonResponse(res, 200,
               Json{{"from", audit::FormatTimeMs(from)},
                    {"to", audit::FormatTimeMs(to)},
                    {"volumes", volumes},
                    {"time_to_action", tta},
                    {"open_cases", f.open},
                    {"overdue_cases", f.overdue}});
  return Status::Ok();
}

Status Service::EvidencePreview(const ApiKey& key, int64_t case_id, const std::string& item_id,
                                HttpResponse* res) {
  std::vector<report::EvidenceItem> items;
  std::vector<uint8_t> content;
  report::EvidenceItem item;
  Status s;
  {
    std::lock_guard<std::mutex> lock(db_mu_);
    cases::Case c;
    s = cases_->Get(case_id, &c, nullptr);
    if (s.ok()) s = evidence_->List(case_id, &items);
    if (s.ok() && std::none_of(items.begin(), items.end(),
                               [&](const report::EvidenceItem& it) { return it.id == item_id; })) {
      s = Status::NotFound("case " + std::to_string(case_id) + " has no evidence " + item_id);
    }
    // Opening the content to blur it is a read like any other: audited.
    if (s.ok()) s = evidence_->Get(item_id, ActorOf(key), "blurred preview", &content, &item);
  }
  if (!s.ok()) return s;
  media::DecodeOptions o;
  o.limits.max_pixels = config_.max_pixels;
  o.reduce_to = 96;  // a few blocks are all the preview keeps
  media::Image image;
  s = media::DecodeImage(content, o, &image);
  std::fill(content.begin(), content.end(), 0);
  if (!s.ok() || image.width <= 0 || image.height <= 0) {
    // Not an image we decode (a video, a document): a plain grey tile.
    image = media::Image();
    image.width = 4;
    image.height = 3;
    image.channels = 1;
    image.pixels.assign(12, 160);
    res->headers.emplace_back("X-Preview", "unavailable");
  }
  std::string jpeg;
  s = media::EncodeJpeg(Blur(image), 80, &jpeg);
  if (!s.ok()) return s;
  res->status = 200;
  res->content_type = "image/jpeg";
  res->body = std::move(jpeg);
  res->headers.emplace_back("Cache-Control", "no-store");
  res->headers.emplace_back("X-Content-Type-Options", "nosniff");
  return Status::Ok();
}

Status Service::ConsoleFile(const HttpRequest& req, HttpResponse* res) {
  Status s = RequireMethod(req, {"GET", "HEAD"});
  if (!s.ok()) return s;
  const std::filesystem::path root =
      config_.console_dir.empty() ? SAFEGUARD_CONSOLE_DIR : config_.console_dir;
  if (root.empty() || !std::filesystem::exists(root / "index.html")) {
    return Status::NotFound(
        "the console is not built: run `make build` (needs Node.js and npm), or set console.dir");
  }
  // /console and /console/ are the page; anything else is a file under the
  // root, by a path of plain names (no "..", no hidden files).
  std::string rel = req.path.size() > 9 ? req.path.substr(9) : "";
  if (req.path == "/console") {
    res->status = 308;
    res->headers.emplace_back("Location", "/console/");
    return Status::Ok();
  }
  if (rel.empty()) rel = "index.html";
  std::filesystem::path file = root;
  std::stringstream parts(rel);
  for (std::string part; std::getline(parts, part, '/');) {
    if (part.empty() || part[0] == '.' || part.find('\\') != std::string::npos) {
      return Status::NotFound("no such console file: " + req.path);
    }
    file /= part;
  }
  std::ifstream in(file, std::ios::binary);
  if (!in || !std::filesystem::is_regular_file(file))
    return Status::NotFound("no such console file: " + req.path);
  std::ostringstream body;
  body << in.rdbuf();
  res->status = 200;
  res->content_type = ContentTypeOf(file);
  res->body = body.str();
  // Vite names assets by their content: cache them; never the page.
  res->headers.emplace_back(
      "Cache-Control", rel.rfind("assets/", 0) == 0 ? "public, max-age=31536000, immutable" : "no-cache");
  res->headers.emplace_back(
      "Content-Security-Policy",
      "default-src 'self'; img-src 'self' blob: data:; style-src 'self' 'unsafe-inline'; "
      "frame-ancestors 'none'; base-uri 'none'; form-action 'self'");
  res->headers.emplace_back("X-Frame-Options", "DENY");
  res->headers.emplace_back("X-Content-Type-Options", "nosniff");
  res->headers.emplace_back("Referrer-Policy", "no-referrer");
  return Status::Ok();
}

}  // namespace safeguard::server
