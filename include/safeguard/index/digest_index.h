// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// DigestIndex: exact matching of file digests (MD5, SHA-256) against the
// entries of hash lists. Maps each digest to the caller's 64-bit ids, the
// same id space as the Hamming indexes (an entry of a bank may carry a PDQ
// hash, an MD5 and a SHA-256 under one id). Several ids may share a digest
// (two lists holding the same file); one id may carry several digests.
//
// Thread-safety: every method may be called concurrently with every other.
// One reader-writer lock guards all state: Add and Remove hold it
// exclusively, Lookup, size and MemoryBytes hold it shared, so lookups run in
// parallel with each other and wait only for the short critical section of
// a writer. The lock is a RwMutex (safeguard/common/rw_mutex.h), not a
// std::shared_mutex, so that a steady stream of lookups cannot hold off a
// list update indefinitely. Each call is atomic: a lookup sees an Add or a
// Remove entirely or not at all (Remove takes out every digest of an id in
// one critical section).

#ifndef SAFEGUARD_INDEX_DIGEST_INDEX_H_
#define SAFEGUARD_INDEX_DIGEST_INDEX_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <unordered_map>
#include <vector>

#include "safeguard/common/rw_mutex.h"
#include "safeguard/common/status.h"

namespace safeguard::index {

/// Which digest a byte string is. The length of each is fixed.
enum class DigestType : uint8_t {
  kMd5,     ///< 16 bytes.
  kSha256,  ///< 32 bytes.
};

/// Returns the length in bytes of a digest of `type` (16 or 32).
size_t DigestLength(DigestType type);

class DigestIndex {
 public:
  DigestIndex() = default;
  DigestIndex(const DigestIndex&) = delete;
  DigestIndex& operator=(const DigestIndex&) = delete;

  /// Records that `id` carries `digest` (copied). Returns kInvalidArgument,
  /// changing nothing, when digest.size() is not DigestLength(type). Adding a
  /// (type, digest, id) that is already present is a no-op returning OK.
  /// Thread-safe (takes the lock exclusively).
  Status Add(DigestType type, std::span<const uint8_t> digest, uint64_t id);

  /// Removes every digest entry of `id`, of both types, in one critical
  /// section. Returns how many (digest, id) entries were removed; 0 if the id
  /// is unknown. Thread-safe (takes the lock exclusively).
  size_t Remove(uint64_t id);

  /// Stores in *ids the ids carrying `digest`, in increasing order without
  /// duplicates. *ids is cleared first; it stays empty when there is no entry
  /// or digest.size() is not DigestLength(type). Thread-safe (takes the lock
  /// shared; runs in parallel with other lookups).
  void Lookup(DigestType type, std::span<const uint8_t> digest, std::vector<uint64_t>* ids) const;

  /// Returns the number of (digest, id) entries of both types. Thread-safe.
  size_t size() const;

  /// Returns an estimate of the heap bytes held: hash-map buckets and nodes,
  /// id lists and the id -> digests map, with a typical allocator's per-block
  /// overhead. Approximate (vector capacities are not read); O(1). Thread-safe.
  size_t MemoryBytes() const;

 private:
  using Md5Key = std::array<uint8_t, 16>;
  using Sha256Key = std::array<uint8_t, 32>;

  // The digests are outputs of cryptographic hash functions, so their bytes
  // are uniformly distributed and any 8 of them are as good a hash as mixing
  // all of them (no seed, like std::hash). Only hash-list entries are
  // inserted; an uploaded file's digest is only looked up, so uploads cannot
  // lengthen a bucket, whatever digests they are crafted to have.
  template <size_t N>
  struct KeyHash {
    size_t operator()(const std::array<uint8_t, N>& key) const noexcept {
      size_t h;
      std::memcpy(&h, key.data(), sizeof(h));
      return h;
    }
  };

  // Ids sharing one digest, sorted and unique. Nearly always a single id.
  using IdList = std::vector<uint64_t>;
  using Md5Map = std::unordered_map<Md5Key, IdList, KeyHash<16>>;
  using Sha256Map = std::unordered_map<Sha256Key, IdList, KeyHash<32>>;

  // One digest of an id, pointing at the key inside its map node.
  struct DigestRef {
    const uint8_t* key;
    DigestType type;
  };

  template <class Map>
  Status AddTo(Map* map, DigestType type, std::span<const uint8_t> digest, uint64_t id);

  mutable RwMutex mu_;
  Md5Map md5_;                                                  // guarded by mu_
  Sha256Map sha256_;                                            // guarded by mu_
  std::unordered_map<uint64_t, std::vector<DigestRef>> by_id_;  // guarded by mu_
  size_t md5_entries_ = 0;                                      // guarded by mu_
  size_t sha256_entries_ = 0;                                   // guarded by mu_
};

}  // namespace safeguard::index

#endif  // SAFEGUARD_INDEX_DIGEST_INDEX_H_
