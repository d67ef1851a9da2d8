// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// DigestIndex: exact MD5 / SHA-256 matching. Checked against a std::map
// reference on many random operations, with digests shared between ids and
// ids carrying several digests, and raced: a writer adds and removes while
// readers look up, and every lookup must be consistent with some moment
// between its start and its end (run under ASan/UBSan in `make test-asan`).

#include "safeguard/index/digest_index.h"
#include "synthetic_codes.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace safeguard::index {
namespace {

using Bytes = std::vector<uint8_t>;

using safeguard::testing::SplitMix;

// A digest-like byte string derived from `seed` (distinct seeds give
// distinct strings with overwhelming probability).
Bytes Derive(uint64_t seed, size_t len) {
  Bytes b(len);
  for (size_t i = 0; i < len; ++i) b[i] = static_cast<uint8_t>(SplitMix(seed * 64 + i / 8) >> (8 * (i % 8)));
  return b;
}

Bytes Md5Of(uint64_t seed) { return Derive(2 * seed, 16); }
Bytes Sha256Of(uint64_t seed) { return Derive(2 * seed + 1, 32); }

std::vector<uint64_t> LookupIds(const DigestIndex& index, DigestType type, const Bytes& digest) {
  std::vector<uint64_t> ids = {12345};  // Lookup must clear it
  index.Lookup(type, digest, &ids);
  return ids;
}

using Ids = std::vector<uint64_t>;

TEST(DigestIndexTest, AddLookupRemove) {
  DigestIndex index;
  ASSERT_TRUE(index.Add(DigestType::kMd5, Md5Of(1), 100).ok());
  ASSERT_TRUE(index.Add(DigestType::kSha256, Sha256Of(1), 100).ok());
  ASSERT_TRUE(index.Add(DigestType::kSha256, Sha256Of(2), 200).ok());
  EXPECT_EQ(index.size(), 3u);
  EXPECT_EQ(LookupIds(index, DigestType::kMd5, Md5Of(1)), Ids{100});
  EXPECT_EQ(LookupIds(index, DigestType::kSha256, Sha256Of(1)), Ids{100});
  EXPECT_EQ(LookupIds(index, DigestType::kSha256, Sha256Of(2)), Ids{200});
  EXPECT_EQ(LookupIds(index, DigestType::kMd5, Md5Of(2)), Ids{});

  EXPECT_EQ(index.Remove(100), 2u);  // both digests of id 100
  EXPECT_EQ(LookupIds(index, DigestType::kMd5, Md5Of(1)), Ids{});
  EXPECT_EQ(LookupIds(index, DigestType::kSha256, Sha256Of(1)), Ids{});
  EXPECT_EQ(LookupIds(index, DigestType::kSha256, Sha256Of(2)), Ids{200});
  EXPECT_EQ(index.Remove(100), 0u);
  EXPECT_EQ(index.Remove(999), 0u);
  EXPECT_EQ(index.size(), 1u);

  // An id can come back after removal.
  ASSERT_TRUE(index.Add(DigestType::kMd5, Md5Of(1), 100).ok());
  EXPECT_EQ(LookupIds(index, DigestType::kMd5, Md5Of(1)), Ids{100});
}

TEST(DigestIndexTest, WrongLengthsAreRefusedAndChangeNothing) {
  DigestIndex index;
  for (size_t len : {0, 1, 15, 17, 20, 32, 64}) {
    const Status s = index.Add(DigestType::kMd5, Bytes(len, 7), 1);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << "MD5 of " << len << " bytes";
    EXPECT_NE(s.message().find(std::to_string(len)), std::string::npos) << s.message();
  }
  for (size_t len : {0, 16, 31, 33, 64}) {
    EXPECT_EQ(index.Add(DigestType::kSha256, Bytes(len, 7), 1).code(), StatusCode::kInvalidArgument)
        << "SHA-256 of " << len << " bytes";
  }
  EXPECT_EQ(index.size(), 0u);
  EXPECT_EQ(index.Remove(1), 0u);

  ASSERT_TRUE(index.Add(DigestType::kMd5, Bytes(16, 7), 1).ok());
  ASSERT_TRUE(index.Add(DigestType::kSha256, Bytes(32, 7), 1).ok());
  // A lookup with the wrong length finds nothing rather than reading past
  // the span or matching a prefix.
  EXPECT_EQ(LookupIds(index, DigestType::kMd5, Bytes(15, 7)), Ids{});
  EXPECT_EQ(LookupIds(index, DigestType::kMd5, Bytes(32, 7)), Ids{});
  EXPECT_EQ(LookupIds(index, DigestType::kSha256, Bytes(16, 7)), Ids{});
  EXPECT_EQ(LookupIds(index, DigestType::kSha256, Bytes(32, 7)), Ids{1});
}

TEST(DigestIndexTest, DuplicateAddIsNoOp) {
  DigestIndex index;
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(index.Add(DigestType::kSha256, Sha256Of(5), 42).ok());
  EXPECT_EQ(index.size(), 1u);
  EXPECT_EQ(LookupIds(index, DigestType::kSha256, Sha256Of(5)), Ids{42});
  EXPECT_EQ(index.Remove(42), 1u);
  EXPECT_EQ(index.size(), 0u);
}

TEST(DigestIndexTest, SharedDigestsKeepSortedIds) {
  DigestIndex index;
  for (uint64_t id : {9, 3, 5, 3, 7}) ASSERT_TRUE(index.Add(DigestType::kMd5, Md5Of(1), id).ok());
  ASSERT_TRUE(index.Add(DigestType::kMd5, Md5Of(2), 5).ok());
  EXPECT_EQ(LookupIds(index, DigestType::kMd5, Md5Of(1)), (Ids{3, 5, 7, 9}));
  EXPECT_EQ(index.Remove(5), 2u);
  EXPECT_EQ(LookupIds(index, DigestType::kMd5, Md5Of(1)), (Ids{3, 7, 9}));
  EXPECT_EQ(LookupIds(index, DigestType::kMd5, Md5Of(2)), Ids{});
  EXPECT_EQ(index.Remove(3) + index.Remove(7) + index.Remove(9), 3u);
  EXPECT_EQ(LookupIds(index, DigestType::kMd5, Md5Of(1)), Ids{});
  EXPECT_EQ(index.size(), 0u);
}

// The hash function reads only the first 8 bytes, so keys that agree there
// land in the same bucket and must still be told apart by the full bytes.
// Likewise an MD5 equal to the first 16 bytes of a SHA-256 is another key.
TEST(DigestIndexTest, KeysAgreeingOnTheHashedPrefixStayDistinct) {
  DigestIndex index;
  Bytes a = Sha256Of(1), b = a;
  b[31] ^= 1;
  Bytes c = a;
  c[8] ^= 0x80;
  const Bytes md5(a.begin(), a.begin() + 16);
  ASSERT_TRUE(index.Add(DigestType::kSha256, a, 1).ok());
  ASSERT_TRUE(index.Add(DigestType::kSha256, b, 2).ok());
  ASSERT_TRUE(index.Add(DigestType::kSha256, c, 3).ok());
  ASSERT_TRUE(index.Add(DigestType::kMd5, md5, 4).ok());
  EXPECT_EQ(LookupIds(index, DigestType::kSha256, a), Ids{1});
  EXPECT_EQ(LookupIds(index, DigestType::kSha256, b), Ids{2});
  EXPECT_EQ(LookupIds(index, DigestType::kSha256, c), Ids{3});
  EXPECT_EQ(LookupIds(index, DigestType::kMd5, md5), Ids{4});
  EXPECT_EQ(index.Remove(2), 1u);
  EXPECT_EQ(LookupIds(index, DigestType::kSha256, a), Ids{1});
  EXPECT_EQ(LookupIds(index, DigestType::kSha256, c), Ids{3});
}

// Random adds (from small pools of digests and ids, so digests are shared
// and ids carry many digests), removes and lookups, against std::map.
TEST(DigestIndexTest, MatchesMapReferenceOnRandomOperations) {
  std::mt19937_64 rng(20240611);
  DigestIndex index;
  std::map<std::pair<DigestType, Bytes>, std::set<uint64_t>> ref;
  std::map<uint64_t, std::set<std::pair<DigestType, Bytes>>> ref_by_id;
  size_t ref_size = 0;
  const auto random_digest = [&rng](DigestType* type) {
    *type = (rng() % 2) ? DigestType::kMd5 : DigestType::kSha256;
    const uint64_t seed = rng() % 3000;
    return *type == DigestType::kMd5 ? Md5Of(seed) : Sha256Of(seed);
  };
  std::vector<uint64_t> got;
  for (int op = 0; op < 60000; ++op) {
    const int kind = static_cast<int>(rng() % 10);
    DigestType type;
    const Bytes digest = random_digest(&type);
    const uint64_t id = SplitMix(rng() % 2000);  // spread over the whole 64-bit range
    if (kind < 5) {
      ASSERT_TRUE(index.Add(type, digest, id).ok());
      ref_size += ref[{type, digest}].insert(id).second;
      ref_by_id[id].insert({type, digest});
    } else if (kind < 6) {
      size_t expected = 0;
      for (const auto& key : ref_by_id[id]) {
        auto it = ref.find(key);
        expected += it->second.erase(id);
        if (it->second.empty()) ref.erase(it);
      }
      ref_by_id.erase(id);
      ASSERT_EQ(index.Remove(id), expected) << "op " << op;
      ref_size -= expected;
    } else {
      index.Lookup(type, digest, &got);
      const auto it = ref.find({type, digest});
      const Ids want = it == ref.end() ? Ids{} : Ids(it->second.begin(), it->second.end());
      ASSERT_EQ(got, want) << "op " << op;
    }
    ASSERT_EQ(index.size(), ref_size) << "op " << op;
  }
  EXPECT_GT(ref_size, 1000u);
  // Every entry of the reference, a final time.
  for (const auto& [key, ids] : ref) {
    index.Lookup(key.first, key.second, &got);
    ASSERT_EQ(got, Ids(ids.begin(), ids.end()));
  }
}

TEST(DigestIndexTest, MemoryBytesIsPlausible) {
  DigestIndex index;
  const size_t empty = index.MemoryBytes();
  constexpr size_t kN = 20000;
  for (uint64_t i = 0; i < kN; ++i) {
    ASSERT_TRUE(index.Add(DigestType::kMd5, Md5Of(i), i).ok());
    ASSERT_TRUE(index.Add(DigestType::kSha256, Sha256Of(i), i).ok());
  }
  const size_t full = index.MemoryBytes();
  // At least the digests themselves; at most a few hundred bytes per entry.
  EXPECT_GT(full - empty, kN * (16 + 32 + 2 * 8));
  EXPECT_LT(full - empty, kN * 2 * 300);
  for (uint64_t i = 0; i < kN; ++i) ASSERT_EQ(index.Remove(i), 2u);
  EXPECT_LT(index.MemoryBytes(), full);
}

// One writer adds ids 0, 1, 2, ... (each with its MD5 and a SHA-256 shared
// by the pair 2k, 2k+1) and removes them again kWindow ids later, publishing
// how far it has got in atomics; two readers look up while it runs. Each
// lookup must agree with the index at some moment between its start and end:
// - an id removed before the lookup began never appears;
// - an id appears only if its Add had at least started;
// - an id added before the lookup began and not yet being removed at its
//   end always appears.
// Ids are sorted and unique in every result. Under ASan this also catches
// any unguarded access to the maps.
TEST(DigestIndexTest, ConcurrentReadersSeeConsistentStates) {
  constexpr uint64_t kWindow = 200;
  DigestIndex index;
  std::atomic<uint64_t> added{0};     // ids < added have both digests
  std::atomic<uint64_t> removing{0};  // Remove(id) may have started for ids < removing
  std::atomic<uint64_t> removed{0};   // Remove(id) has returned for ids < removed
  std::atomic<bool> done{false};
  std::atomic<size_t> failures{0};
  std::mutex first_failure_mu;
  std::string first_failure;

  const auto fail = [&](const std::string& what) {
    if (failures.fetch_add(1) == 0) {
      std::lock_guard lock(first_failure_mu);
      first_failure = what;
    }
  };

  std::thread writer([&] {
    const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(200);
    uint64_t id = 0;
    while (std::chrono::steady_clock::now() < end) {
      if (!index.Add(DigestType::kMd5, Md5Of(id), id).ok() ||
          !index.Add(DigestType::kSha256, Sha256Of(id / 2), id).ok()) {
        fail("Add failed");
      }
      added.store(id + 1, std::memory_order_release);
      if (id >= kWindow) {
        const uint64_t old = id - kWindow;
        removing.store(old + 1, std::memory_order_release);
        if (index.Remove(old) != 2) fail("Remove(" + std::to_string(old) + ") did not remove 2 entries");
        removed.store(old + 1, std::memory_order_release);
      }
      ++id;
    }
    done.store(true, std::memory_order_release);
  });

  std::atomic<size_t> lookups{0}, hits{0};
  const auto reader = [&](uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::vector<uint64_t> ids;
    while (!done.load(std::memory_order_acquire)) {
      const uint64_t lo = removed.load(std::memory_order_acquire);
      const uint64_t hi = added.load(std::memory_order_acquire);
      // Mostly live ids, some just removed, some not yet added.
      const uint64_t start = lo > 20 ? lo - 20 : 0;
      const uint64_t target = start + rng() % (hi - start + 20);
      const bool md5 = rng() % 2;
      // For SHA-256 the digest is shared by the pair target & ~1, target | 1.
      const std::vector<uint64_t> candidates =
          md5 ? std::vector<uint64_t>{target} : std::vector<uint64_t>{target & ~1ull, target | 1};

      const uint64_t removed_before = removed.load(std::memory_order_acquire);
      const uint64_t added_before = added.load(std::memory_order_acquire);
      if (md5) {
        index.Lookup(DigestType::kMd5, Md5Of(target), &ids);
      } else {
        index.Lookup(DigestType::kSha256, Sha256Of(target / 2), &ids);
      }
      const uint64_t added_after = added.load(std::memory_order_acquire);
      const uint64_t removing_after = removing.load(std::memory_order_acquire);

      lookups.fetch_add(1, std::memory_order_relaxed);
      hits.fetch_add(!ids.empty(), std::memory_order_relaxed);
      if (!std::is_sorted(ids.begin(), ids.end()) ||
          std::adjacent_find(ids.begin(), ids.end()) != ids.end()) {
        fail("ids not sorted and unique");
      }
      for (uint64_t id : ids) {
        if (std::find(candidates.begin(), candidates.end(), id) == candidates.end()) {
          fail("id " + std::to_string(id) + " returned for another id's digest");
        } else if (id < removed_before) {
          fail("id " + std::to_string(id) + " seen after its removal");
        } else if (id > added_after) {
          fail("id " + std::to_string(id) + " seen before its Add started");
        }
      }
      for (uint64_t id : candidates) {
        const bool present = std::find(ids.begin(), ids.end(), id) != ids.end();
        if (id < added_before && id >= removing_after && !present) {
          fail("live id " + std::to_string(id) + " missing");
        }
      }
    }
  };
  std::thread r1(reader, 1), r2(reader, 2);
  writer.join();
  r1.join();
  r2.join();

  EXPECT_EQ(failures.load(), 0u) << first_failure;
  EXPECT_GT(lookups.load(), 100u);
  EXPECT_GT(hits.load(), 10u);
  // With a reader-preferring lock (std::shared_mutex on glibc) the readers
  // held the writer to about 100 adds in some runs.
  EXPECT_GT(removed.load(), 0u) << "the writer was starved by the readers";
  EXPECT_EQ(index.size(), 2 * (added.load() - removed.load()));
}

}  // namespace
}  // namespace safeguard::index
