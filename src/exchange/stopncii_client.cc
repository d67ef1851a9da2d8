// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// The wire format follows python-threatexchange's StopNCII client
// (exchanges/clients/stopncii/api.py and its tests), the only public
// description of the API. Parsing is strict about the fields paging depends
// on (a page we misread could move the checkpoint past data we never
// stored) and lenient about the rest (metadata is kept as the feed sent it).

#include "safeguard/exchange/stopncii_client.h"

#include <nlohmann/json.hpp>

#include <array>
#include <utility>

#include "http_client.h"
#include "text.h"

namespace safeguard::exchange {
namespace {

// What a refused StopNCII request should make the operator check.
constexpr std::string_view kCredentialHint = "check the API key (subscription and function keys)";

using nlohmann::json;

constexpr int kMaxJsonDepth = 64;
constexpr size_t kMaxMetadataBytes = 64 * 1024;  // bank::kMaxMetadataBytes; bank.h is not needed here

constexpr std::array<std::pair<StopNciiFeedback, std::string_view>, 7> kFeedbackNames = {{
    {StopNciiFeedback::kNone, "None"},
    {StopNciiFeedback::kQualityUnknown, "QualityUnknown"},
    {StopNciiFeedback::kPendingReview, "PendingReview"},
    {StopNciiFeedback::kBlocked, "Blocked"},
    {StopNciiFeedback::kNotBlocked, "NotBlocked"},
    {StopNciiFeedback::kWithdrawn, "Withdrawn"},
    {StopNciiFeedback::kDeleted, "Deleted"},
}};

Status Corrupt(const std::string& what) {
  return Status::Corrupt("StopNCII FetchHashes response is malformed: " + what);
}

std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

std::string RecordMetadata(const json& record) {
  json meta = json::object();
  for (const char* key :
       {"signalType", "hashStatus", "lastModtimestamp", "caseNumbers", "CSPFeedbacks", "hashRegions"}) {
    auto it = record.find(key);
    if (it != record.end() && !it->is_null()) meta[key] = *it;
  }
  std::string out = Dump(meta);
  if (out.size() <= kMaxMetadataBytes) return out;
  // A hash reported in thousands of cases: keep what identifies the record
  // rather than fail the whole page on the bank's metadata limit.
  meta.erase("caseNumbers");
  meta.erase("CSPFeedbacks");
  meta.erase("hashRegions");
  meta["truncated"] = true;
  return Dump(meta);
}

}  // namespace

std::string_view StopNciiFeedbackName(StopNciiFeedback value) {
  for (const auto& [v, name] : kFeedbackNames) {
    if (v == value) return name;
  }
  return "None";
}

Status ParseStopNciiFeedback(std::string_view name, StopNciiFeedback* value) {
  std::string accepted;
  for (const auto& [v, n] : kFeedbackNames) {
    if (internal::EqualsIgnoreCase(name, n)) {
      *value = v;
      return Status::Ok();
    }
    if (!accepted.empty()) accepted += ", ";
    accepted += n;
  }
  return Status::InvalidArgument("unknown StopNCII feedback value " + internal::Quote(name) +
                                 "; accepted: " + accepted);
}

bool StopNciiHashRecord::withdrawn() const {
  return internal::EqualsIgnoreCase(hash_status, "Withdrawn") ||
         internal::EqualsIgnoreCase(hash_status, "Deleted");
}

Status ParseStopNciiPage(std::string_view body, StopNciiPage* page) {
  *page = StopNciiPage();
  // nlohmann::json parses without recursion, but dump() recurses; refusing
  // deep documents here keeps a hostile page from exhausting the stack later.
  bool too_deep = false;
  json::parser_callback_t depth_check = [&too_deep](int depth, json::parse_event_t, json&) {
    if (depth > kMaxJsonDepth) too_deep = true;
    return true;
  };
  json doc = json::parse(body.begin(), body.end(), depth_check, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return Corrupt("not JSON (starts " + internal::Quote(body, 60) + ")");
  if (too_deep) return Corrupt("JSON nested deeper than " + std::to_string(kMaxJsonDepth) + " levels");
  if (!doc.is_object()) return Corrupt("not a JSON object");

  auto count = doc.find("count");
  if (count != doc.end() && count->is_number_unsigned()) page->count = count->get<uint64_t>();
  auto next_set = doc.find("nextSetTimestamp");
  if (next_set == doc.end() || !next_set->is_number_integer()) {
    return Corrupt("nextSetTimestamp is missing or not an integer");
  }
  page->next_set_timestamp = next_set->get<int64_t>();
  auto has_more = doc.find("hasMoreRecords");
  if (has_more == doc.end() || !has_more->is_boolean()) {
    return Corrupt("hasMoreRecords is missing or not true/false");
  }
  page->has_more = has_more->get<bool>();
  auto token = doc.find("nextPageToken");
  if (token != doc.end() && !token->is_null()) {
    if (!token->is_string()) return Corrupt("nextPageToken is not a string");
    page->next_page_token = token->get<std::string>();
  }
  if (page->has_more && page->next_page_token.empty()) {
    return Corrupt("hasMoreRecords is true but there is no nextPageToken");
  }
  auto records = doc.find("hashRecords");
  if (records == doc.end() || !records->is_array()) return Corrupt("hashRecords is missing or not an array");
  page->records.reserve(records->size());
  for (size_t i = 0; i < records->size(); ++i) {
    const json& r = (*records)[i];
    const std::string where = "hashRecords[" + std::to_string(i) + "]";
    if (!r.is_object()) return Corrupt(where + " is not an object");
    StopNciiHashRecord rec;
    auto type = r.find("signalType");
    if (type == r.end() || !type->is_string())
      return Corrupt(where + ".signalType is missing or not a string");
    rec.signal_type = type->get<std::string>();
    auto value = r.find("hashValue");
    if (value == r.end() || !value->is_string())
      return Corrupt(where + ".hashValue is missing or not a string");
    rec.hash_value = value->get<std::string>();
    auto status = r.find("hashStatus");
    if (status != r.end() && status->is_string()) rec.hash_status = status->get<std::string>();
    auto modified = r.find("lastModtimestamp");
    if (modified != r.end() && modified->is_number_integer()) rec.last_modified = modified->get<int64_t>();
    rec.metadata_json = RecordMetadata(r);
    page->records.push_back(std::move(rec));
  }
  return Status::Ok();
}

std::string StopNciiFeedbackBody(std::span<const StopNciiFeedbackItem> items) {
  json feedbacks = json::array();
  for (const StopNciiFeedbackItem& item : items) {
    feedbacks.push_back({{"tags", item.tags},
                         {"feedbackValue", std::string(StopNciiFeedbackName(item.value))},
                         {"hashValue", item.hash_value}});
  }
  json body = {{"count", items.size()}, {"hashFeedbacks", std::move(feedbacks)}};
  return Dump(body);
}

StopNciiClient::StopNciiClient(StopNciiClientOptions options) : options_(std::move(options)) {
  if (options_.endpoint.empty()) options_.endpoint = std::string(kStopNciiProductionUrl);
  while (!options_.endpoint.empty() && options_.endpoint.back() == '/') options_.endpoint.pop_back();
}

Status StopNciiClient::FetchHashes(int64_t start_timestamp, const std::string& page_token, int page_size,
                                   StopNciiPage* page, int* http_status) const {
  *page = StopNciiPage();
  if (http_status != nullptr) *http_status = 0;
  if (options_.subscription_key.empty()) {
    return Status::InvalidArgument("no StopNCII API key is set; check the API key");
  }
  internal::HttpRequest req;
  req.url = options_.endpoint + "/FetchHashes?startTimestamp=" + std::to_string(start_timestamp) +
            "&pageSize=" + std::to_string(page_size > 0 ? page_size : kStopNciiDefaultPageSize);
  if (!page_token.empty()) req.url += "&nextPageToken=" + internal::UrlEncode(page_token);
  req.headers.push_back("Ocp-Apim-Subscription-Key: " + options_.subscription_key);
  if (!options_.fetch_function_key.empty())
    req.headers.push_back("x-functions-key: " + options_.fetch_function_key);
  req.headers.push_back("Accept: application/json");
  req.timeout_ms = options_.timeout_ms;
  req.max_response_bytes = options_.max_response_bytes;
  internal::HttpResponse resp;
  Status s = internal::FetchChecked("StopNCII", req, options_.retries, kCredentialHint, &resp, http_status);
  if (!s.ok()) return s;
  return ParseStopNciiPage(resp.body, page);
}

Status StopNciiClient::SubmitFeedback(std::span<const StopNciiFeedbackItem> items) const {
  if (options_.subscription_key.empty()) {
    return Status::InvalidArgument("no StopNCII API key is set; check the API key");
  }
  if (items.size() > 1000) {
    return Status::InvalidArgument("at most 1000 feedback items per SubmitFeedback request, got " +
                                   std::to_string(items.size()));
  }
  internal::HttpRequest req;
  req.method = "POST";
  req.url = options_.endpoint + "/SubmitFeedback";
  req.body = StopNciiFeedbackBody(items);
  req.headers.push_back("Ocp-Apim-Subscription-Key: " + options_.subscription_key);
  const std::string& function_key =
      options_.feedback_function_key.empty() ? options_.fetch_function_key : options_.feedback_function_key;
  if (!function_key.empty()) req.headers.push_back("x-functions-key: " + function_key);
  req.headers.push_back("Content-Type: application/json");
  req.timeout_ms = options_.timeout_ms;
  req.max_response_bytes = options_.max_response_bytes;
  internal::HttpResponse resp;
  // Never retried: a POST that failed half-way may have been applied.
  return internal::FetchChecked("StopNCII", req, /*retries=*/0, kCredentialHint, &resp, nullptr);
}

}  // namespace safeguard::exchange
