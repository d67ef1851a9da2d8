// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.

#include "safeguard/bank/store.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <string_view>
#include <utility>
#include <vector>

#include "store_internal.h"

namespace safeguard::bank {

Status Store::OpenSqlite(const std::string& data_dir, std::unique_ptr<Store>* store) {
  return OpenSqlite(data_dir, StoreOptions(), store);
}

Status Store::OpenPostgres(const std::string& conninfo, std::unique_ptr<Store>* store) {
  return OpenPostgres(conninfo, StoreOptions(), store);
}

Status Store::Import(const std::string& bank, std::span<const NewSignal> signals, ApplyResult* result) {
  SignalBatch batch;
  batch.add = signals;
  return Apply(bank, batch, result);
}

Status Store::Withdraw(const std::string& bank, const WithdrawSpec& spec, uint64_t* withdrawn) {
  SignalBatch batch;
  batch.withdraw = spec;
  ApplyResult result;
  Status s = Apply(bank, batch, &result);
  if (withdrawn != nullptr) *withdrawn = result.withdrawn;
  return s;
}

Status Store::SetCheckpoint(const std::string& bank, const std::string& key, const std::string& value) {
  // Checked here as well as in Apply: an empty key means "no checkpoint" to
  // Apply, which would silently do nothing.
  Status s = ValidateCheckpoint(key, value);
  if (!s.ok()) return s;
  SignalBatch batch;
  batch.checkpoint_key = key;
  batch.checkpoint_value = value;
  return Apply(bank, batch, nullptr);
}

Status Store::CountSignals(const std::string& bank, bool live_only, uint64_t* count) {
  Bank b;
  Status s = GetBank(bank, &b);
  if (!s.ok()) return s;
  *count = live_only ? b.live_signals : b.total_signals;
  return Status::Ok();
}

namespace internal {

int64_t NowMs(const StoreOptions& options) {
  if (options.clock) return options.clock();
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::vector<uint32_t> InsertionOrder(std::span<const NewSignal> signals, uint64_t* repeats) {
  // Sorting 16-byte keys (type rank, first 8 value bytes big-endian,
  // position) is several times faster than sorting by the value vectors;
  // full values are compared only when the first 8 bytes tie.
  static const auto kRank = [] {
    std::array<uint8_t, 256> rank{};
    std::vector<std::pair<std::string_view, SignalType>> names;
    for (SignalType t : kAllSignalTypes) names.emplace_back(SignalTypeName(t), t);
    std::sort(names.begin(), names.end());
    for (size_t i = 0; i < names.size(); ++i)
      rank[static_cast<uint8_t>(names[i].second)] = static_cast<uint8_t>(i);
    return rank;
  }();
  struct Key {
    uint64_t prefix;
    uint32_t pos;
    uint8_t rank;
  };
  std::vector<Key> keys(signals.size());
  for (size_t i = 0; i < signals.size(); ++i) {
    const std::vector<uint8_t>& v = signals[i].value;
    uint64_t prefix = 0;
    for (size_t b = 0; b < 8; ++b) prefix = prefix << 8 | (b < v.size() ? v[b] : 0);
    keys[i] = Key{prefix, static_cast<uint32_t>(i), kRank[static_cast<uint8_t>(signals[i].type)]};
  }
  auto value_cmp = [&](const Key& a, const Key& b) {
    if (a.rank != b.rank) return a.rank < b.rank ? -1 : 1;
    if (a.prefix != b.prefix) return a.prefix < b.prefix ? -1 : 1;
    const std::vector<uint8_t>& x = signals[a.pos].value;
    const std::vector<uint8_t>& y = signals[b.pos].value;
    int c = std::memcmp(x.data(), y.data(), std::min(x.size(), y.size()));
    if (c != 0) return c;
    return x.size() == y.size() ? 0 : (x.size() < y.size() ? -1 : 1);
  };
  std::sort(keys.begin(), keys.end(), [&](const Key& a, const Key& b) {
    int c = value_cmp(a, b);
    return c != 0 ? c < 0 : a.pos < b.pos;  // equal values: batch order, so the first wins
  });
  std::vector<uint32_t> order;
  order.reserve(keys.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    if (i > 0 && value_cmp(keys[i - 1], keys[i]) == 0) continue;
    order.push_back(keys[i].pos);
  }
  *repeats = keys.size() - order.size();
  return order;
}

Status ValidateBatch(const SignalBatch& batch) {
  if (batch.add.size() > kMaxBatchSignals) {
    return Status::TooLarge("a batch may add at most " + std::to_string(kMaxBatchSignals) + " signals");
  }
  for (size_t i = 0; i < batch.add.size(); ++i) {
    Status s = ValidateNewSignal(batch.add[i]);
    if (!s.ok()) {
      std::string message =
          "signal " + std::to_string(i + 1) + " of " + std::to_string(batch.add.size()) + ": " + s.message();
      return s.code() == StatusCode::kTooLarge ? Status::TooLarge(std::move(message))
                                               : Status::InvalidArgument(std::move(message));
    }
  }
  for (const std::string& id : batch.withdraw.external_ids) {
    if (id.empty()) return Status::InvalidArgument("cannot withdraw by an empty external id");
    if (id.size() > kMaxExternalIdBytes) {
      return Status::InvalidArgument("external id to withdraw is longer than " +
                                     std::to_string(kMaxExternalIdBytes) + " bytes");
    }
  }
  for (const WithdrawSpec::Value& v : batch.withdraw.values) {
    if (v.value.size() != SignalValueSize(v.type)) {
      return Status::InvalidArgument(std::string(SignalTypeName(v.type)) + " value to withdraw is " +
                                     std::to_string(v.value.size()) + " bytes; expected " +
                                     std::to_string(SignalValueSize(v.type)));
    }
  }
  if (!batch.checkpoint_key.empty()) return ValidateCheckpoint(batch.checkpoint_key, batch.checkpoint_value);
  return Status::Ok();
}

Status NewerSchemaError(const std::string& where, int64_t version) {
  return Status::UnsupportedFormat(where + " has bank schema version " + std::to_string(version) +
                                   ", newer than this build of Safeguard understands (" +
                                   std::to_string(kSchemaVersion) +
                                   "); upgrade Safeguard or point it at another database");
}

}  // namespace internal
}  // namespace safeguard::bank
