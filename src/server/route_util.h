// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// Small helpers the route files share (routes.cc, case_routes.cc).

#ifndef SAFEGUARD_SRC_SERVER_ROUTE_UTIL_H_
#define SAFEGUARD_SRC_SERVER_ROUTE_UTIL_H_

#include <initializer_list>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "http_server.h"
#include "safeguard/common/status.h"

namespace safeguard::server {

/// Answers are built with keys in insertion order.
using Json = nlohmann::ordered_json;

/// `j` as compact JSON (invalid UTF-8 replaced).
std::string Dump(const Json& j);

/// Sets a JSON answer.
void JsonResponse(HttpResponse* res, int status, const Json& j);

/// Parses the request body as a JSON object; kInvalidArgument otherwise.
Status ParseBody(const HttpRequest& req, nlohmann::json* j);

/// kInvalidArgument naming the allowed methods unless req.method is one.
Status RequireMethod(const HttpRequest& req, std::initializer_list<const char*> allowed);

/// Percent-decodes a path segment or query part ('+' is a space).
std::string PercentDecode(std::string_view s);

/// The query's parameters, decoded, in order.
std::vector<std::pair<std::string, std::string>> QueryParams(std::string_view query);

/// The first value of parameter `name`, or "".
std::string Param(const std::vector<std::pair<std::string, std::string>>& params, std::string_view name);

/// The period [*from_ms, *to_ms) of the last `days` days (the query's
/// `days`, 1 to `max_days`, else 30) up to and including `now_ms`, so that
/// something done a moment ago counts. kInvalidArgument for another value.
Status DaysWindow(const HttpRequest& req, int max_days, int64_t now_ms, int64_t* from_ms, int64_t* to_ms);

}  // namespace safeguard::server

#endif  // SAFEGUARD_SRC_SERVER_ROUTE_UTIL_H_
