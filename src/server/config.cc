// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.

#include "config.h"

#include "safeguard/guard/image_classifier.h"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <sstream>

namespace safeguard::server {
namespace {

using Json = nlohmann::json;

Status Bad(const std::string& key, const std::string& what) {
  return Status::InvalidArgument("configuration: " + key + ": " + what);
}

Status Unknown(const std::string& where, const std::string& key, const char* accepted) {
  return Status::InvalidArgument("configuration: unknown key " + where + key + " (accepted: " + accepted +
                                 ")");
}

Status GetInt(const Json& v, const std::string& key, int64_t lo, int64_t hi, int64_t* out) {
  if (!v.is_number_integer() || v.get<int64_t>() < lo || v.get<int64_t>() > hi) {
    return Bad(key, "must be an integer from " + std::to_string(lo) + " to " + std::to_string(hi));
  }
  *out = v.get<int64_t>();
  return Status::Ok();
}

Status GetString(const Json& v, const std::string& key, std::string* out) {
  if (!v.is_string() || v.get<std::string>().empty()) return Bad(key, "must be a non-empty string");
  *out = v.get<std::string>();
  return Status::Ok();
}

// A secret from the environment variable `env` or the file `file` (one of
// them set), without its trailing newline.
Status ReadSecret(const std::string& where, const std::string& env, const std::string& file,
                  std::string* out) {
  if (!env.empty()) {
    const char* value = std::getenv(env.c_str());
    if (value == nullptr || *value == '\0') {
      return Bad(where + "_env", "the environment variable " + env + " is not set");
    }
    *out = value;
    return Status::Ok();
  }
  std::ifstream in(file, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string secret = ss.str();
  while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r')) secret.pop_back();
  if (!in || secret.empty()) return Bad(where + "_file", "cannot read a secret from " + file);
  *out = secret;
  return Status::Ok();
}

// "reports": where confirmed CSAM is reported (docs/reports.md).
Status ParseReports(const Json& v, ServerConfig* c) {
  if (!v.is_object()) return Bad("reports", "must be an object");
  Status s;
  for (const auto& [k, f] : v.items()) {
    if (k == "destinations") {
      if (!f.is_array()) return Bad("reports.destinations", "must be a list of \"nca\" and \"ncmec\"");
      c->reports_destinations.clear();
      for (const Json& d : f) {
        if (!d.is_string() || (d != "nca" && d != "ncmec") ||
            std::find(c->reports_destinations.begin(), c->reports_destinations.end(), d.get<std::string>()) !=
                c->reports_destinations.end()) {
          return Bad("reports.destinations", "must be a list of \"nca\" and \"ncmec\", each at most once");
        }
        c->reports_destinations.push_back(d.get<std::string>());
      }
    } else if (k == "service_name") {
      s = GetString(f, "reports.service_name", &c->reports_service_name);
    } else if (k == "reporter") {
      if (!f.is_object()) return Bad("reports.reporter", "must be {\"name\", \"email\", \"phone\"}");
      for (const auto& [rk, rv] : f.items()) {
        if (rk == "name") {
          s = GetString(rv, "reports.reporter.name", &c->reports_reporter_name);
        } else if (rk == "email") {
          s = GetString(rv, "reports.reporter.email", &c->reports_reporter_email);
        } else if (rk == "phone") {
          s = GetString(rv, "reports.reporter.phone", &c->reports_reporter_phone);
        } else {
          return Unknown("reports.reporter.", rk, "name, email, phone");
        }
        if (!s.ok()) return s;
      }
    } else if (k == "nca_dir") {
      s = GetString(f, "reports.nca_dir", &c->reports_nca_dir);
    } else if (k == "ncmec") {
      if (!f.is_object()) return Bad("reports.ncmec", "must be an object");
      std::string env, file;
      for (const auto& [nk, nv] : f.items()) {
        if (nk == "url") {
          s = GetString(nv, "reports.ncmec.url", &c->reports_ncmec_url);
        } else if (nk == "username") {
          s = GetString(nv, "reports.ncmec.username", &c->reports_ncmec_username);
        } else if (nk == "password_env") {
          s = GetString(nv, "reports.ncmec.password_env", &env);
        } else if (nk == "password_file") {
          s = GetString(nv, "reports.ncmec.password_file", &file);
        } else {
          return Unknown("reports.ncmec.", nk, "url, username, password_env, password_file");
        }
        if (!s.ok()) return s;
      }
      if (c->reports_ncmec_url.empty() || c->reports_ncmec_username.empty() || env.empty() == file.empty()) {
        return Bad("reports.ncmec", "needs url, username and one of password_env or password_file");
      }
      s = ReadSecret("reports.ncmec.password", env, file, &c->reports_ncmec_password);
    } else if (k == "retry_s") {
      int64_t n = 0;
      s = GetInt(f, "reports.retry_s", 1, 86400, &n);
      c->reports_retry_s = static_cast<int>(n);
    } else {
      return Unknown("reports.", k, "destinations, service_name, reporter, nca_dir, ncmec, retry_s");
    }
    if (!s.ok()) return s;
  }
  const bool ncmec = std::find(c->reports_destinations.begin(), c->reports_destinations.end(), "ncmec") !=
                     c->reports_destinations.end();
  if (ncmec && c->reports_ncmec_url.empty()) {
    return Bad("reports.destinations", "\"ncmec\" needs reports.ncmec (url, username, password)");
  }
  if (ncmec && c->reports_reporter_email.empty()) {
    return Bad("reports.reporter.email", "is required to report to NCMEC (the reporting person's email)");
  }
  return Status::Ok();
}

Status ParseWebhook(const Json& j, size_t i, WebhookEndpoint* e) {
  const std::string where = "webhooks.endpoints[" + std::to_string(i) + "].";
  if (!j.is_object()) return Bad(where, "must be an object");
  std::string secret_env, secret_file;
  for (const auto& [k, v] : j.items()) {
    Status s;
    if (k == "name") {
      s = GetString(v, where + k, &e->name);
    } else if (k == "url") {
      s = GetString(v, where + k, &e->url);
    } else if (k == "secret_env") {
      s = GetString(v, where + k, &secret_env);
    } else if (k == "secret_file") {
      s = GetString(v, where + k, &secret_file);
    } else if (k == "events") {
      if (!v.is_array()) return Bad(where + k, "must be a list of event types");
      for (const auto& ev : v) {
        if (!ev.is_string()) return Bad(where + k, "must be a list of event types");
        e->events.push_back(ev.get<std::string>());
      }
    } else {
      return Unknown(where, k, "name, url, secret_env, secret_file, events");
    }
    if (!s.ok()) return s;
  }
  if (e->name.empty() || e->url.empty()) return Bad(where, "needs a name and a url");
  if (secret_env.empty() == secret_file.empty()) {
    return Bad(where, "needs exactly one of secret_env (an environment variable) or secret_file");
  }
  Status s = ReadSecret(where + "secret", secret_env, secret_file, &e->secret);
  if (!s.ok()) return s;
  if (e->events.empty()) e->events = DefaultWebhookEvents();
  return Status::Ok();
}

}  // namespace

std::vector<std::string> DefaultWebhookEvents() {
  return {"decision.block", "decision.quarantine", "decision.review",
          "case.confirm",   "case.remove",         "case.restore"};
}

Status ParseServerConfig(const std::string& text, ServerConfig* config) {
  Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return Status::InvalidArgument("configuration: not a JSON object (docs/server.md shows the format)");
  }
  ServerConfig c;
  int64_t n = 0;
  for (const auto& [key, v] : j.items()) {
    Status s;
    if (key == "listen") {
      s = GetString(v, key, &c.listen);
    } else if (key == "threads") {
      s = GetInt(v, key, 0, 256, &n);
      c.threads = static_cast<int>(n);
    } else if (key == "tls") {
      if (!v.is_object()) return Bad(key, "must be an object with cert and key");
      for (const auto& [k, f] : v.items()) {
        if (k == "cert") {
          s = GetString(f, "tls.cert", &c.tls_cert_file);
        } else if (k == "key") {
          s = GetString(f, "tls.key", &c.tls_key_file);
        } else {
          return Unknown("tls.", k, "cert, key");
        }
        if (!s.ok()) return s;
      }
    } else if (key == "limits") {
      if (!v.is_object()) return Bad(key, "must be an object");
      for (const auto& [k, f] : v.items()) {
        if (k == "max_body_bytes") {
          s = GetInt(f, "limits." + k, 1024, int64_t{4} << 30, &n);
          c.max_body_bytes = static_cast<size_t>(n);
        } else if (k == "max_pixels") {
          s = GetInt(f, "limits." + k, 1, int64_t{1} << 34, &n);
          c.max_pixels = static_cast<uint64_t>(n);
        } else if (k == "request_timeout_s") {
          s = GetInt(f, "limits." + k, 1, 3600, &n);
          c.request_timeout_s = static_cast<int>(n);
        } else {
          return Unknown("limits.", k, "max_body_bytes, max_pixels, request_timeout_s");
        }
        if (!s.ok()) return s;
      }
    } else if (key == "policy") {
      s = policy::ParsePolicy(v.dump(), &c.policy);
      if (!s.ok()) return Status::InvalidArgument("configuration: " + s.message());
    } else if (key == "webhooks") {
      if (!v.is_object()) return Bad(key, "must be an object with endpoints");
      for (const auto& [k, f] : v.items()) {
        if (k == "endpoints") {
          if (!f.is_array()) return Bad("webhooks.endpoints", "must be a list");
          for (size_t i = 0; i < f.size(); ++i) {
            WebhookEndpoint e;
            s = ParseWebhook(f[i], i, &e);
            if (!s.ok()) return s;
            c.webhooks.push_back(std::move(e));
          }
        } else if (k == "timeout_ms") {
          s = GetInt(f, "webhooks." + k, 1, 600000, &n);
          c.webhook_timeout_ms = static_cast<int>(n);
        } else if (k == "max_attempts") {
          s = GetInt(f, "webhooks." + k, 0, 1000000, &n);
          c.webhook_max_attempts = static_cast<int>(n);
        } else {
          return Unknown("webhooks.", k, "endpoints, timeout_ms, max_attempts");
        }
        if (!s.ok()) return s;
      }
    } else if (key == "index") {
      if (!v.is_object()) return Bad(key, "must be an object");
      for (const auto& [k, f] : v.items()) {
        if (k == "snapshot") {
          if (!f.is_boolean()) return Bad("index.snapshot", "must be true or false");
          c.snapshot = f.get<bool>();
        } else if (k == "refresh_interval_ms") {
          s = GetInt(f, "index." + k, 10, 3600000, &n);
          c.refresh_interval_ms = static_cast<int>(n);
        } else if (k == "layout") {
          if (!f.is_string() || (f.get<std::string>() != "fast" && f.get<std::string>() != "compact"))
            return Bad("index.layout", "must be \"fast\" or \"compact\"");
          c.index_compact = f.get<std::string>() == "compact";
        } else if (k == "signal_cache_mib") {
          s = GetInt(f, "index." + k, 0, 65536, &n);
          c.signal_cache_mib = static_cast<size_t>(n);
        } else {
          return Unknown("index.", k, "snapshot, refresh_interval_ms, layout, signal_cache_mib");
        }
        if (!s.ok()) return s;
      }
    } else if (key == "guard") {
      if (!v.is_object()) return Bad(key, "must be an object");
      for (const auto& [k, f] : v.items()) {
        if (k == "data_dir") {
          s = GetString(f, "guard.data_dir", &c.guard_data_dir);
        } else if (k == "sexual_content") {
          s = GetString(f, "guard.sexual_content", &c.guard_sexual_content);
          if (s.ok() && c.guard_sexual_content != "block" && c.guard_sexual_content != "allow") {
            return Bad("guard.sexual_content", "must be \"block\" or \"allow\"");
          }
        } else if (k == "strikes") {
          if (!f.is_object()) return Bad("guard.strikes", "must be an object");
          auto& p = c.guard_strikes;
          for (const auto& [sk, sv] : f.items()) {
            const std::string name = "guard.strikes." + sk;
            if (sk == "window_s") {
              s = GetInt(sv, name, 1, int64_t{366} * 24 * 3600, &n);
              p.window_s = n;
            } else if (sk == "cooldown_s") {
              s = GetInt(sv, name, 1, int64_t{366} * 24 * 3600, &n);
              p.cooldown_s = n;
            } else if (sk == "cooldown_at" || sk == "suspend_at" || sk == "report_at" ||
                       sk == "rate_per_minute") {
              s = GetInt(sv, name, 0, 1000000, &n);
              (sk == "cooldown_at"  ? p.cooldown_at
               : sk == "suspend_at" ? p.suspend_at
               : sk == "report_at"  ? p.report_at
                                    : p.rate_per_minute) = static_cast<int>(n);
            } else {
              return Unknown("guard.strikes.", sk,
                             "window_s, cooldown_at, cooldown_s, suspend_at, report_at, rate_per_minute");
            }
            if (!s.ok()) return s;
          }
        } else if (k == "nsfw_model") {
          s = GetString(f, "guard.nsfw_model", &c.guard_nsfw_model);
        } else if (k == "watermark_key_file") {
          s = GetString(f, "guard.watermark_key_file", &c.guard_watermark_key_file);
        } else if (k == "check_timeout_ms") {
          s = GetInt(f, "guard.check_timeout_ms", 1, 600000, &n);
          c.guard_check_timeout_ms = static_cast<int>(n);
        } else if (k == "classifiers") {
          if (!f.is_array()) return Bad("guard.classifiers", "must be an array of classifier specs");
          c.guard_classifiers.clear();
          for (const Json& spec : f) {
            guard::ClassifierSpec parsed;
            s = guard::ParseClassifierSpec(spec.dump(), &parsed);
            if (!s.ok()) return Bad("guard.classifiers", s.message());
            c.guard_classifiers.push_back(spec.dump());
          }
        } else {
          return Unknown("guard.", k,
                         "data_dir, sexual_content, strikes, nsfw_model, classifiers, watermark_key_file, "
                         "check_timeout_ms");
        }
        if (!s.ok()) return s;
      }
    } else if (key == "cases") {
      if (!v.is_object()) return Bad(key, "must be an object");
      for (const auto& [k, f] : v.items()) {
        if (k == "ncii_bank") {
          s = GetString(f, "cases.ncii_bank", &c.cases_ncii_bank);
        } else if (k == "near_duplicate_days") {
          s = GetInt(f, "cases.near_duplicate_days", 1, 3660, &n);
          c.cases_near_duplicate_days = static_cast<int>(n);
        } else if (k == "evidence_key_file") {
          s = GetString(f, "cases.evidence_key_file", &c.cases_evidence_key_file);
        } else {
          return Unknown("cases.", k, "ncii_bank, near_duplicate_days, evidence_key_file");
        }
        if (!s.ok()) return s;
      }
    } else if (key == "reports") {
      s = ParseReports(v, &c);
    } else if (key == "console") {
      if (!v.is_object()) return Bad(key, "must be an object");
      for (const auto& [k, f] : v.items()) {
        if (k == "dir") {
          s = GetString(f, "console.dir", &c.console_dir);
        } else if (k == "session_idle_minutes") {
          s = GetInt(f, "console.session_idle_minutes", 1, 24 * 60, &n);
          c.console_session_idle_minutes = static_cast<int>(n);
        } else {
          return Unknown("console.", k, "dir, session_idle_minutes");
        }
        if (!s.ok()) return s;
      }
    } else {
      return Unknown("", key,
                     "listen, threads, tls, limits, policy, webhooks, index, guard, cases, reports, console");
    }
    if (!s.ok()) return s;
  }
  // The audit log takes integers only (so every verifier reads the same
  // bytes): a fraction (a classifier's threshold) is recorded as its text.
  std::function<void(Json&)> fractions_as_text = [&](Json& v) {
    if (v.is_number_float()) {
      v = v.dump();
    } else if (v.is_object() || v.is_array()) {
      for (auto& x : v) fractions_as_text(x);
    }
  };
  fractions_as_text(j);
  c.canonical_json = j.dump();  // nlohmann::json keeps keys sorted; secrets are only referenced
  *config = std::move(c);
  return Status::Ok();
}

Status LoadServerConfig(const std::string& path, ServerConfig* config) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound("configuration file " + path + " cannot be read");
  std::stringstream ss;
  ss << in.rdbuf();
  Status s = ParseServerConfig(ss.str(), config);
  if (!s.ok()) return Status::InvalidArgument(path + ": " + s.message());
  return Status::Ok();
}

}  // namespace safeguard::server
