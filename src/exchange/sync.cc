// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// One Store::Apply per page, carrying the checkpoint, is what makes a sync
// resumable: the store commits the page's signals and the position after it
// together, so after a crash the checkpoint never points past data that did
// not land, nor before data that did (beyond one page, which re-applies
// harmlessly).
//
// The checkpoint records the cursor inside a set (StopNCII page token, NCMEC
// next link) as well as where the set starts, because the cursor lets a
// killed sync continue with the very next page. Cursors expire; when the
// exchange refuses a saved one, the set is fetched again from its start.

#include "safeguard/exchange/sync.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <ctime>
#include <unordered_map>
#include <utility>

#include "safeguard/bank/bank.h"
#include "safeguard/exchange/ncmec_client.h"
#include "text.h"

namespace safeguard::exchange {
namespace {

using nlohmann::json;

// The reference NCMEC client stops this far before now: entries arrive out
// of time order, and an entry stamped in the last seconds may not be
// visible yet.
constexpr int64_t kNcmecSafetyLagSeconds = 5;
constexpr size_t kFeedbackBatch = 1000;
constexpr size_t kMaxSkipReasons = 100;
constexpr int kMaxEmptyPagesInARow = 100;

std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

int64_t NowSeconds(const SyncOptions& o) {
  return o.now ? o.now() : static_cast<int64_t>(std::time(nullptr));
}

void Progress(const SyncOptions& o, const std::string& line) {
  if (o.progress) o.progress(line);
}

void Skip(SyncResult* r, const std::string& reason) {
  ++r->skipped;
  // Reasons quote the feed (an unknown type name); a feed full of distinct
  // names must not grow the map without bound.
  if (r->skip_reasons.size() >= kMaxSkipReasons && r->skip_reasons.count(reason) == 0) {
    ++r->skip_reasons["other reasons"];
    return;
  }
  ++r->skip_reasons[reason];
}

// A server that keeps announcing more pages without sending anything would
// otherwise keep a sync running for ever.
Status CheckProgress(std::string_view exchange, size_t records, bool more, int* empty_pages) {
  *empty_pages = (records == 0 && more) ? *empty_pages + 1 : 0;
  if (*empty_pages < kMaxEmptyPagesInARow) return Status::Ok();
  return Status::Corrupt(std::string(exchange) + " sent " + std::to_string(kMaxEmptyPagesInARow) +
                         " empty pages in a row, each announcing another; stopping");
}

// A refused cursor (expired token or link) is a 4xx other than an auth
// failure; anything else is a real error that restarting would not fix.
bool CursorRefused(int http_status) {
  return http_status >= 400 && http_status < 500 && http_status != 401 && http_status != 403 &&
         http_status != 429;
}

// Reads the checkpoint `key` of `bank` into *cp. *found is false when the
// bank has none (a first sync).
Status LoadCheckpoint(bank::Store* store, const std::string& bank, std::string_view key, json* cp,
                      bool* found, std::string* raw) {
  *found = false;
  Status s = store->GetCheckpoint(bank, std::string(key), raw);
  if (s.code() == StatusCode::kNotFound) return Status::Ok();
  if (!s.ok()) return s;
  *cp = json::parse(*raw, nullptr, /*allow_exceptions=*/false);
  if (cp->is_discarded() || !cp->is_object()) {
    return Status::Corrupt("the " + std::string(key) + " checkpoint of bank '" + bank + "' is damaged (" +
                           internal::Quote(*raw) + "); set it to a valid value or recreate the bank");
  }
  *found = true;
  return Status::Ok();
}

bool GetInt(const json& cp, const char* key, int64_t* out) {
  auto it = cp.find(key);
  if (it == cp.end() || !it->is_number_integer()) return false;
  *out = it->get<int64_t>();
  return true;
}

std::string GetString(const json& cp, const char* key) {
  auto it = cp.find(key);
  return (it != cp.end() && it->is_string()) ? it->get<std::string>() : std::string();
}

// Adds `signal` to *adds if the bank would accept it, else counts it as
// skipped: one odd entry must not stop a sync forever (the same page would
// fail again on every run).
void AddChecked(bank::NewSignal signal, std::vector<bank::NewSignal>* adds, SyncResult* result) {
  Status s = bank::ValidateNewSignal(signal);
  if (!s.ok()) {
    Skip(result, "entry the bank refuses: " + s.message());
    return;
  }
  adds->push_back(std::move(signal));
}

Status ApplyPage(bank::Store* store, const std::string& bank_name, std::string_view source,
                 std::span<const bank::NewSignal> adds, bank::WithdrawSpec withdraw, std::string_view key,
                 const std::string& checkpoint, uint64_t fetched, uint64_t skipped_before,
                 const SyncOptions& options, SyncResult* result) {
  bank::SignalBatch batch;
  batch.withdraw = std::move(withdraw);
  batch.add = adds;
  batch.checkpoint_key = std::string(key);
  batch.checkpoint_value = checkpoint;
  bank::ApplyResult applied;
  Status s = store->Apply(bank_name, batch, &applied);
  if (!s.ok()) return s;
  result->fetched += fetched;
  result->added += applied.added;
  result->duplicates += applied.duplicates;
  result->withdrawn += applied.withdrawn;
  result->pages += 1;
  result->checkpoint = checkpoint;
  Progress(options, std::string(source) + ": page " + std::to_string(result->pages) + ": " +
                        std::to_string(fetched) + " received, " + std::to_string(applied.added) + " added, " +
                        std::to_string(applied.duplicates) + " duplicates, " +
                        std::to_string(applied.withdrawn) + " withdrawn, " +
                        std::to_string(result->skipped - skipped_before) + " skipped");
  return Status::Ok();
}

void Summary(std::string_view source, const SyncOptions& options, const SyncResult& r) {
  std::string line = std::string(source) + ": done: " + std::to_string(r.pages) + " pages, " +
                     std::to_string(r.fetched) + " received, " + std::to_string(r.added) + " added, " +
                     std::to_string(r.duplicates) + " duplicates, " + std::to_string(r.withdrawn) +
                     " withdrawn, " + std::to_string(r.skipped) + " skipped";
  for (const auto& [reason, n] : r.skip_reasons) line += "\n  skipped " + std::to_string(n) + ": " + reason;
  Progress(options, line);
}

// ---- StopNCII -----------------------------------------------------------------

bool StopNciiType(std::string_view name, bank::SignalType* type) {
  if (internal::EqualsIgnoreCase(name, "ImagePDQ")) {
    *type = bank::SignalType::kPdq;
    return true;
  }
  if (internal::EqualsIgnoreCase(name, "VideoMD5")) {
    *type = bank::SignalType::kMd5;
    return true;
  }
  return false;
}

std::string StopNciiCheckpoint(int64_t start, const std::string& token, uint64_t page) {
  return Dump(json{{"start_timestamp", start}, {"page_token", token}, {"page", page}});
}

Status SyncStopNcii(bank::Store* store, const std::string& bank_name, const SyncOptions& options,
                    SyncResult* result) {
  if (options.api_key.empty()) {
    return Status::InvalidArgument("no StopNCII API key was given; check the API key");
  }
  StopNciiClientOptions co;
  co.endpoint = options.endpoint;
  co.subscription_key = options.api_key;
  co.fetch_function_key = options.function_key;
  co.feedback_function_key = options.feedback_function_key;
  co.timeout_ms = options.timeout_ms;
  co.max_response_bytes = options.max_response_bytes;
  co.retries = options.retries;
  StopNciiClient client(co);

  int64_t start = kStopNciiDefaultStartTimestamp;
  std::string token;
  int64_t page_no = 0;
  json cp;
  bool found = false;
  Status s = LoadCheckpoint(store, bank_name, kStopNciiCheckpointKey, &cp, &found, &result->checkpoint);
  if (!s.ok()) return s;
  if (found) {
    if (!GetInt(cp, "start_timestamp", &start)) {
      return Status::Corrupt("the stopncii checkpoint of bank '" + bank_name + "' has no start_timestamp");
    }
    token = GetString(cp, "page_token");
    GetInt(cp, "page", &page_no);
  }
  bool resumed = !token.empty();
  int empty_pages = 0;
  Progress(options, "stopncii: fetching from " + client.endpoint() + ", startTimestamp " +
                        std::to_string(start) +
                        (resumed ? ", continuing at page " + std::to_string(page_no + 1) : std::string()));

  for (;;) {
    StopNciiPage page;
    int http_status = 0;
    s = client.FetchHashes(start, token, options.page_size, &page, &http_status);
    if (!s.ok() && resumed && CursorRefused(http_status)) {
      Progress(options, "stopncii: the saved page token was refused (HTTP " + std::to_string(http_status) +
                            "); fetching the set from startTimestamp " + std::to_string(start) + " again");
      token.clear();
      page_no = 0;
      resumed = false;
      continue;
    }
    resumed = false;
    if (!s.ok()) return s;
    if (page.has_more && page.next_page_token == token) {
      return Status::Corrupt("StopNCII answered page token " + internal::Quote(token) +
                             " with the same token as the next one; stopping rather than loop");
    }
    s = CheckProgress("StopNCII", page.records.size(), page.has_more, &empty_pages);
    if (!s.ok()) return s;
    ++page_no;
    const uint64_t skipped_before = result->skipped;
    const std::string version =
        "startTimestamp=" + std::to_string(start) + ";page=" + std::to_string(page_no);

    // Records are snapshots of one (type, value): the last one of the page wins.
    struct Op {
      bank::SignalType type;
      std::vector<uint8_t> value;
      const StopNciiHashRecord* record;
    };
    std::vector<Op> ops;
    std::unordered_map<std::string, size_t> last;
    for (const StopNciiHashRecord& rec : page.records) {
      bank::SignalType type;
      if (!StopNciiType(rec.signal_type, &type)) {
        Skip(result, "unsupported StopNCII signal type " + internal::Quote(rec.signal_type));
        continue;
      }
      std::vector<uint8_t> value;
      if (!bank::ParseSignalValue(type, rec.hash_value, &value).ok()) {
        Skip(result, "malformed " + rec.signal_type + " hash value");
        continue;
      }
      last[std::string(bank::SignalTypeName(type)) + ":" + bank::SignalValueHex(value)] = ops.size();
      ops.push_back(Op{type, std::move(value), &rec});
    }
    std::vector<bank::NewSignal> adds;
    bank::WithdrawSpec withdraw;
    for (size_t i = 0; i < ops.size(); ++i) {
      Op& op = ops[i];
      if (last[std::string(bank::SignalTypeName(op.type)) + ":" + bank::SignalValueHex(op.value)] != i)
        continue;
      if (op.record->withdrawn()) {
        withdraw.values.push_back(bank::WithdrawSpec::Value{op.type, std::move(op.value)});
        continue;
      }
      bank::NewSignal sig;
      sig.type = op.type;
      sig.value = std::move(op.value);
      sig.external_id = op.record->hash_value;
      sig.source_list = std::string(kStopNciiSource);
      sig.source_version = version;
      sig.metadata_json = op.record->metadata_json;
      AddChecked(std::move(sig), &adds, result);
    }
    // A set ends with the timestamp to start the next one from; until then
    // the checkpoint holds this set's start and the cursor to its next page.
    const int64_t next_start = page.next_set_timestamp > 0 ? page.next_set_timestamp : start;
    const std::string checkpoint = page.has_more ? StopNciiCheckpoint(start, page.next_page_token, page_no)
                                                 : StopNciiCheckpoint(next_start, "", 0);
    s = ApplyPage(store, bank_name, "stopncii", adds, std::move(withdraw), kStopNciiCheckpointKey, checkpoint,
                  page.records.size(), skipped_before, options, result);
    if (!s.ok()) return s;
    if (!page.has_more) break;
    token = page.next_page_token;
  }
  Summary("stopncii", options, *result);
  return Status::Ok();
}

// ---- NCMEC ----------------------------------------------------------------------

bool NcmecType(std::string_view name, bank::SignalType* type) {
  if (name == "md5") {
    *type = bank::SignalType::kMd5;
  } else if (name == "sha256" || name == "sha-256" || name == "sha_256") {
    *type = bank::SignalType::kSha256;
  } else if (name == "pdq") {
    *type = bank::SignalType::kPdq;
  } else {
    return false;
  }
  return true;
}

std::string NcmecCheckpoint(int64_t from, int64_t to, const std::string& next, uint64_t page) {
  return Dump(json{{"from", from}, {"to", to}, {"next", next}, {"page", page}});
}

std::string NcmecMetadata(const NcmecEntry& e) {
  json meta = {{"id", e.id}, {"member_id", e.member_id}, {"entry_type", e.entry_type}};
  if (!e.member_name.empty()) meta["member"] = e.member_name;
  if (!e.classification.empty()) meta["classification"] = e.classification;
  if (!e.timestamp.empty()) meta["timestamp"] = e.timestamp;
  return Dump(meta);
}

Status SyncNcmec(bank::Store* store, const std::string& bank_name, const SyncOptions& options,
                 SyncResult* result) {
  if (options.user.empty() || options.password.empty()) {
    return Status::InvalidArgument("no NCMEC user or password was given; check user and password");
  }
  NcmecClientOptions co;
  co.endpoint = options.endpoint;
  co.user = options.user;
  co.password = options.password;
  co.timeout_ms = options.timeout_ms;
  co.max_response_bytes = options.max_response_bytes;
  co.retries = options.retries;
  NcmecClient client(co);

  const int64_t now = NowSeconds(options) - kNcmecSafetyLagSeconds;
  int64_t from = 0, to = now, page_no = 0;
  std::string next;
  json cp;
  bool found = false;
  Status s = LoadCheckpoint(store, bank_name, kNcmecCheckpointKey, &cp, &found, &result->checkpoint);
  if (!s.ok()) return s;
  if (found) {
    int64_t cp_from = 0, cp_to = 0;
    if (!GetInt(cp, "from", &cp_from) || !GetInt(cp, "to", &cp_to)) {
      return Status::Corrupt("the ncmec checkpoint of bank '" + bank_name + "' has no from/to");
    }
    next = GetString(cp, "next");
    if (!next.empty()) {  // a window left half-way: finish it first
      from = cp_from;
      to = cp_to;
      GetInt(cp, "page", &page_no);
    } else {
      from = cp_to;
    }
  }
  if (next.empty() && to <= from) {
    Progress(options, "ncmec: nothing to fetch: up to date until " + NcmecTime(from));
    return Status::Ok();
  }
  bool resumed = !next.empty();
  int empty_pages = 0;
  Progress(options, "ncmec: fetching from " + client.endpoint() + ", entries changed from " +
                        NcmecTime(from) + " to " + NcmecTime(to) +
                        (resumed ? ", continuing at page " + std::to_string(page_no + 1) : std::string()));

  for (;;) {
    NcmecPage page;
    int http_status = 0;
    s = next.empty() ? client.GetEntries(from, to, &page, &http_status)
                     : client.GetNext(next, &page, &http_status);
    if (!s.ok() && resumed && CursorRefused(http_status)) {
      Progress(options, "ncmec: the saved next link was refused (HTTP " + std::to_string(http_status) +
                            "); fetching the window from " + NcmecTime(from) + " again");
      next.clear();
      page_no = 0;
      resumed = false;
      continue;
    }
    resumed = false;
    if (!s.ok()) return s;
    if (!page.next.empty() && page.next == next) {
      return Status::Corrupt("NCMEC answered next link " + internal::Quote(next) +
                             " with the same link again; stopping rather than loop");
    }
    s = CheckProgress("NCMEC", page.entries.size(), !page.next.empty(), &empty_pages);
    if (!s.ok()) return s;
    ++page_no;
    const uint64_t skipped_before = result->skipped;
    const std::string version =
        "from=" + NcmecTime(from) + ";to=" + NcmecTime(to) + ";page=" + std::to_string(page_no);

    // An entry may appear more than once in a page (updated, then deleted):
    // the last one wins.
    std::unordered_map<std::string, size_t> last;
    for (size_t i = 0; i < page.entries.size(); ++i) last[page.entries[i].ExternalId()] = i;
    std::vector<bank::NewSignal> adds;
    bank::WithdrawSpec withdraw;
    for (size_t i = 0; i < page.entries.size(); ++i) {
      const NcmecEntry& e = page.entries[i];
      const std::string external_id = e.ExternalId();
      if (last[external_id] != i) continue;
      if (e.deleted) {
        withdraw.external_ids.push_back(external_id);
        continue;
      }
      const std::string metadata = NcmecMetadata(e);
      for (const auto& [name, text] : e.fingerprints) {
        bank::SignalType type;
        if (!NcmecType(name, &type)) {
          Skip(result, "unsupported NCMEC fingerprint type " + internal::Quote(name));
          continue;
        }
        bank::NewSignal sig;
        sig.type = type;
        if (text.empty()) {
          Skip(result, "NCMEC " + name + " fingerprint without a value");
          continue;
        }
        if (!bank::ParseSignalValue(type, text, &sig.value).ok()) {
          Skip(result, "malformed NCMEC " + name + " fingerprint");
          continue;
        }
        sig.external_id = external_id;
        sig.source_list = std::string(kNcmecSource);
        sig.source_version = version;
        sig.metadata_json = metadata;
        AddChecked(std::move(sig), &adds, result);
      }
    }
    const std::string checkpoint = NcmecCheckpoint(from, to, page.next, page.next.empty() ? 0 : page_no);
    s = ApplyPage(store, bank_name, "ncmec", adds, std::move(withdraw), kNcmecCheckpointKey, checkpoint,
                  page.entries.size(), skipped_before, options, result);
    if (!s.ok()) return s;
    if (!page.next.empty()) {
      next = page.next;
      continue;
    }
    // A window left half-way by an earlier run is done; what changed since
    // its end is one more window.
    if (to >= now) break;
    next.clear();
    from = to;
    to = now;
    page_no = 0;
    Progress(options, "ncmec: entries changed from " + NcmecTime(from) + " to " + NcmecTime(to));
  }
  Summary("ncmec", options, *result);
  return Status::Ok();
}

}  // namespace

Status SyncBank(bank::Store* store, const std::string& bank_name, const SyncOptions& options,
                SyncResult* result) {
  SyncResult local;
  SyncResult* r = result != nullptr ? result : &local;
  *r = SyncResult();
  bank::Bank bank;
  Status s = store->GetBank(bank_name, &bank);
  if (!s.ok()) return s;
  if (bank.source == kStopNciiSource) return SyncStopNcii(store, bank_name, options, r);
  if (bank.source == kNcmecSource) return SyncNcmec(store, bank_name, options, r);
  return Status::InvalidArgument("bank '" + bank_name + "' has source '" + bank.source +
                                 "'; only banks with source 'stopncii' or 'ncmec' can be synced");
}

Status SubmitFeedback(bank::Store* store, const std::string& bank_name, std::span<const FeedbackItem> items,
                      const SyncOptions& options, uint64_t* sent) {
  if (sent != nullptr) *sent = 0;
  bank::Bank bank;
  Status s = store->GetBank(bank_name, &bank);
  if (!s.ok()) return s;
  if (bank.source != kStopNciiSource) {
    return Status::InvalidArgument("bank '" + bank_name + "' has source '" + bank.source +
                                   "'; feedback can only be sent for banks with source 'stopncii'");
  }
  if (items.empty()) return Status::InvalidArgument("no feedback items were given");
  if (options.api_key.empty()) {
    return Status::InvalidArgument("no StopNCII API key was given; check the API key");
  }

  std::vector<uint64_t> ids;
  for (const FeedbackItem& item : items) {
    if (item.signal_id != 0) ids.push_back(item.signal_id);
  }
  std::unordered_map<uint64_t, bank::Signal> by_id;
  if (!ids.empty()) {
    std::vector<bank::Signal> signals;
    s = store->GetSignals(ids, &signals);
    if (!s.ok()) return s;
    for (bank::Signal& sig : signals) by_id.emplace(sig.id, std::move(sig));
  }

  std::vector<StopNciiFeedbackItem> wire;
  wire.reserve(items.size());
  for (const FeedbackItem& item : items) {
    StopNciiFeedbackItem w;
    w.value = item.value;
    w.tags = item.tags;
    if (item.signal_id != 0) {
      auto it = by_id.find(item.signal_id);
      if (it == by_id.end())
        return Status::NotFound("signal " + std::to_string(item.signal_id) + " does not exist");
      if (it->second.bank_name != bank_name) {
        return Status::InvalidArgument("signal " + std::to_string(item.signal_id) + " belongs to bank '" +
                                       it->second.bank_name + "', not '" + bank_name + "'");
      }
      w.hash_value =
          it->second.external_id.empty() ? bank::SignalValueHex(it->second.value) : it->second.external_id;
    } else {
      // A StopNCII bank's external ids are the hash values the feed sent:
      // 64 hex digits (ImagePDQ) or 32 (VideoMD5).
      const std::string& id = item.external_id;
      if (!((id.size() == 64 || id.size() == 32) && internal::IsHex(id))) {
        return Status::InvalidArgument("external id " + internal::Quote(id) +
                                       " is not a StopNCII hash value (32 or 64 hex digits)");
      }
      w.hash_value = id;
    }
    wire.push_back(std::move(w));
  }

  StopNciiClientOptions co;
  co.endpoint = options.endpoint;
  co.subscription_key = options.api_key;
  co.fetch_function_key = options.function_key;
  co.feedback_function_key = options.feedback_function_key;
  co.timeout_ms = options.timeout_ms;
  co.max_response_bytes = options.max_response_bytes;
  co.retries = options.retries;
  StopNciiClient client(co);
  for (size_t i = 0; i < wire.size(); i += kFeedbackBatch) {
    const size_t n = std::min(kFeedbackBatch, wire.size() - i);
    s = client.SubmitFeedback(std::span<const StopNciiFeedbackItem>(wire).subspan(i, n));
    if (!s.ok()) return s;
    if (sent != nullptr) *sent += n;
    Progress(options, "stopncii: feedback sent for " + std::to_string(i + n) + " of " +
                          std::to_string(wire.size()) + " signals");
  }
  return Status::Ok();
}

}  // namespace safeguard::exchange
