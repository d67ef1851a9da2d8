// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.

#include "safeguard/index/digest_index.h"

#include <algorithm>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <type_traits>

namespace safeguard::index {
namespace {

const char* DigestName(DigestType type) { return type == DigestType::kMd5 ? "MD5" : "SHA-256"; }

// glibc malloc: an 8-byte header, 16-byte granularity, 32-byte minimum.
size_t BlockBytes(size_t payload) { return std::max<size_t>(32, (payload + 8 + 15) & ~size_t{15}); }

// A libstdc++ unordered_map node holds the next pointer and the value; the
// hash code is not cached because KeyHash is noexcept and cheap.
template <class Map>
size_t MapBytes(const Map& map) {
  return map.bucket_count() * sizeof(void*) +
         map.size() * BlockBytes(sizeof(void*) + sizeof(typename Map::value_type));
}

}  // namespace

size_t DigestLength(DigestType type) { return type == DigestType::kMd5 ? 16 : 32; }

template <class Map>
Status DigestIndex::AddTo(Map* map, DigestType type, std::span<const uint8_t> digest, uint64_t id) {
  typename Map::key_type key;
  if (digest.size() != key.size()) {
    return Status::InvalidArgument(std::string(DigestName(type)) + " digest must be " +
                                   std::to_string(key.size()) + " bytes, got " +
                                   std::to_string(digest.size()));
  }
  std::copy(digest.begin(), digest.end(), key.begin());

  std::unique_lock lock(mu_);
  auto [it, unused] = map->try_emplace(key);
  IdList& ids = it->second;
  const auto pos = std::lower_bound(ids.begin(), ids.end(), id);
  if (pos != ids.end() && *pos == id) return Status::Ok();
  ids.insert(pos, id);
  // Node-based maps never move their elements, so the key's address stays
  // valid until the node is erased, which only happens once no id refers to
  // it. A pointer costs 8 bytes per entry where a copy of a SHA-256 costs 32.
  by_id_[id].push_back(DigestRef{it->first.data(), type});
  ++(type == DigestType::kMd5 ? md5_entries_ : sha256_entries_);
  return Status::Ok();
}

Status DigestIndex::Add(DigestType type, std::span<const uint8_t> digest, uint64_t id) {
  return type == DigestType::kMd5 ? AddTo(&md5_, type, digest, id) : AddTo(&sha256_, type, digest, id);
}

size_t DigestIndex::Remove(uint64_t id) {
  std::unique_lock lock(mu_);
  const auto node = by_id_.find(id);
  if (node == by_id_.end()) return 0;
  const auto erase_from = [id](auto* map, const uint8_t* key_bytes) {
    typename std::remove_pointer_t<decltype(map)>::key_type key;
    std::copy(key_bytes, key_bytes + key.size(), key.begin());
    const auto it = map->find(key);
    IdList& ids = it->second;
    ids.erase(std::lower_bound(ids.begin(), ids.end(), id));
    if (ids.empty()) map->erase(it);
  };
  const size_t removed = node->second.size();
  for (const DigestRef& ref : node->second) {
    if (ref.type == DigestType::kMd5) {
      erase_from(&md5_, ref.key);
      --md5_entries_;
    } else {
      erase_from(&sha256_, ref.key);
      --sha256_entries_;
    }
  }
  by_id_.erase(node);
  return removed;
}

void DigestIndex::Lookup(DigestType type, std::span<const uint8_t> digest, std::vector<uint64_t>* ids) const {
  ids->clear();
  if (digest.size() != DigestLength(type)) return;
  // The key is built before taking the lock; inside it there is one probe
  // and a copy of (nearly always) one id.
  if (type == DigestType::kMd5) {
    Md5Key key;
    std::copy(digest.begin(), digest.end(), key.begin());
    std::shared_lock lock(mu_);
    const auto it = md5_.find(key);
    if (it != md5_.end()) ids->assign(it->second.begin(), it->second.end());
  } else {
    Sha256Key key;
    std::copy(digest.begin(), digest.end(), key.begin());
    std::shared_lock lock(mu_);
    const auto it = sha256_.find(key);
    if (it != sha256_.end()) ids->assign(it->second.begin(), it->second.end());
  }
}

size_t DigestIndex::size() const {
  std::shared_lock lock(mu_);
  return md5_entries_ + sha256_entries_;
}

size_t DigestIndex::MemoryBytes() const {
  std::shared_lock lock(mu_);
  // Vector capacities are not read (that would walk every node under the
  // lock). Most digests carry one id and most ids one digest of each type,
  // so each vector is taken as one block for its first element plus the
  // payload of the others.
  const size_t entries = md5_entries_ + sha256_entries_;
  const size_t lists = md5_.size() + sha256_.size();
  size_t bytes = MapBytes(md5_) + MapBytes(sha256_) + MapBytes(by_id_);
  bytes += lists * BlockBytes(sizeof(uint64_t)) + (entries - lists) * sizeof(uint64_t);
  bytes += by_id_.size() * BlockBytes(sizeof(DigestRef)) + (entries - by_id_.size()) * sizeof(DigestRef);
  return bytes;
}

}  // namespace safeguard::index
