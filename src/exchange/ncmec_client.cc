// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// The wire format follows python-threatexchange's NCMEC client
// (exchanges/clients/ncmec/hash_api.py and tests/data.py, which quote
// NCMEC's documentation). Like the reference, namespaces are ignored: the
// documents use one default namespace, and a server that switched to a
// prefix would otherwise look empty, which a sync would take as "nothing new".

#include "safeguard/exchange/ncmec_client.h"

#include <pugixml.hpp>

#include <ctime>

#include "http_client.h"
#include "text.h"

namespace safeguard::exchange {
namespace {

constexpr size_t kMaxNextLinkBytes = 8192;

Status Corrupt(const std::string& what) {
  return Status::Corrupt("NCMEC entries response is malformed: " + what);
}

// The element name without a namespace prefix ("ns2:image" -> "image").
std::string_view LocalName(const pugi::xml_node& node) {
  std::string_view name = node.name();
  const size_t colon = name.find(':');
  return colon == std::string_view::npos ? name : name.substr(colon + 1);
}

pugi::xml_node Child(const pugi::xml_node& parent, std::string_view name) {
  for (pugi::xml_node c = parent.first_child(); c; c = c.next_sibling()) {
    if (c.type() == pugi::node_element && LocalName(c) == name) return c;
  }
  return pugi::xml_node();
}

// Element text without surrounding whitespace (including line breaks,
// which pretty-printed XML puts around values).
std::string Text(const pugi::xml_node& node) {
  std::string_view s = node.text().get();
  const auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!s.empty() && blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && blank(s.back())) s.remove_suffix(1);
  return std::string(s);
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool ParseInt64(std::string_view s, int64_t* out) {
  if (s.empty() || s.size() > 18) return false;
  int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *out = v;
  return true;
}

Status ParseEntry(const pugi::xml_node& node, const std::string& where, NcmecEntry* entry) {
  std::string kind = Lower(LocalName(node));
  entry->deleted = kind.rfind("deleted", 0) == 0;
  if (entry->deleted) kind.erase(0, 7);
  if (kind != "image" && kind != "video") {
    return Corrupt(where + " is <" + std::string(LocalName(node)) + ">, not an image or video entry");
  }
  entry->entry_type = kind;
  pugi::xml_node id = Child(node, "id");
  if (!id || Text(id).empty()) return Corrupt(where + " has no <id>");
  entry->id = Text(id);
  pugi::xml_node member = Child(node, "member");
  if (!member || !ParseInt64(member.attribute("id").value(), &entry->member_id)) {
    return Corrupt(where + " (id " + internal::Quote(entry->id) + ") has no <member id=\"N\">");
  }
  entry->member_name = Text(member);
  if (pugi::xml_node c = Child(node, "classification")) entry->classification = Text(c);
  if (pugi::xml_node t = Child(node, "timestamp")) entry->timestamp = Text(t);
  if (pugi::xml_node fps = Child(node, "fingerprints")) {
    for (pugi::xml_node fp = fps.first_child(); fp; fp = fp.next_sibling()) {
      if (fp.type() != pugi::node_element) continue;
      entry->fingerprints.emplace_back(Lower(LocalName(fp)), Text(fp));
    }
  }
  return Status::Ok();
}

}  // namespace

std::string NcmecEntry::ExternalId() const { return std::to_string(member_id) + "-" + id; }

std::string NcmecTime(int64_t unix_seconds) {
  const std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

Status ParseNcmecPage(std::string_view body, NcmecPage* page) {
  *page = NcmecPage();
  pugi::xml_document doc;
  // parse_default decodes the predefined entities (&amp; in next links) and
  // character references, and leaves anything a DTD declares unexpanded.
  const pugi::xml_parse_result parsed =
      doc.load_buffer(body.data(), body.size(), pugi::parse_default, pugi::encoding_auto);
  if (!parsed) {
    return Corrupt(std::string("not XML (") + parsed.description() + " at byte " +
                   std::to_string(parsed.offset) + ", body starts " + internal::Quote(body, 60) + ")");
  }
  pugi::xml_node root = doc.document_element();
  if (!root || LocalName(root) != "queryResult") {
    return Corrupt("the root element is <" + std::string(root ? LocalName(root) : "") +
                   ">, not <queryResult>");
  }
  for (std::string_view container : {"images", "videos"}) {
    pugi::xml_node list = Child(root, container);
    if (!list) continue;
    size_t i = 0;
    for (pugi::xml_node e = list.first_child(); e; e = e.next_sibling()) {
      if (e.type() != pugi::node_element) continue;
      NcmecEntry entry;
      Status s = ParseEntry(e, std::string(container) + " entry " + std::to_string(i), &entry);
      if (!s.ok()) return s;
      page->entries.push_back(std::move(entry));
      ++i;
    }
  }
  if (pugi::xml_node paging = Child(root, "paging")) {
    if (pugi::xml_node next = Child(paging, "next")) page->next = Text(next);
  }
  if (!page->next.empty()) {
    bool ok = page->next.front() == '/' && page->next.size() <= kMaxNextLinkBytes;
    for (char c : page->next) ok = ok && static_cast<unsigned char>(c) > 0x20 && c != 0x7f;
    // The link is appended to the endpoint; anything but a plain path could
    // point the credentials at another host.
    if (!ok)
      return Corrupt("the next link " + internal::Quote(page->next) + " is not a path starting with '/'");
  }
  return Status::Ok();
}

NcmecClient::NcmecClient(NcmecClientOptions options) : options_(std::move(options)) {
  if (options_.endpoint.empty()) options_.endpoint = std::string(kNcmecProductionUrl);
  while (!options_.endpoint.empty() && options_.endpoint.back() == '/') options_.endpoint.pop_back();
}

Status NcmecClient::GetEntries(int64_t from, int64_t to, NcmecPage* page, int* http_status) const {
  return Get(options_.endpoint + "/v2/entries?from=" + internal::UrlEncode(NcmecTime(from)) +
                 "&to=" + internal::UrlEncode(NcmecTime(to)),
             page, http_status);
}

Status NcmecClient::GetNext(const std::string& next, NcmecPage* page, int* http_status) const {
  if (next.empty() || next.front() != '/') {
    *page = NcmecPage();
    if (http_status != nullptr) *http_status = 0;
    return Status::InvalidArgument("NCMEC next link " + internal::Quote(next) + " is not a path");
  }
  return Get(options_.endpoint + next, page, http_status);
}

Status NcmecClient::Get(const std::string& url, NcmecPage* page, int* http_status) const {
  *page = NcmecPage();
  if (http_status != nullptr) *http_status = 0;
  if (options_.user.empty() || options_.password.empty()) {
    return Status::InvalidArgument("no NCMEC user or password is set; check user and password");
  }
  internal::HttpRequest req;
  req.url = url;
  req.basic_auth = true;
  req.user = options_.user;
  req.password = options_.password;
  req.headers.push_back("Accept: application/xml");
  req.timeout_ms = options_.timeout_ms;
  req.max_response_bytes = options_.max_response_bytes;
  internal::HttpResponse resp;
  Status s =
      internal::FetchChecked("NCMEC", req, options_.retries, "check user and password", &resp, http_status);
  if (!s.ok()) return s;
  return ParseNcmecPage(resp.body, page);
}

}  // namespace safeguard::exchange
