// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.

#include "safeguard/policy/scan.h"

#include <utility>

#include "safeguard/hash/digest.h"
#include "safeguard/index/hamming.h"

namespace safeguard::policy {

std::vector<index::Code256> ScanCodes(const hash::PdqResult& pdq, bool dihedral) {
  std::vector<index::Code256> codes;
  if (dihedral) {
    for (const pdq::Hash256& d : pdq.dihedral) codes.push_back(index::FromPdq(d));
  } else {
    codes.push_back(index::FromPdq(pdq.hash));
  }
  return codes;
}

Status ScanBytes(std::span<const uint8_t> bytes, hash::ImageHasher* hasher, const bank::Matcher& matcher,
                 bank::Store* store, const Policy& policy, ScanResult* result) {
  *result = ScanResult();
  result->decode_status = hasher->HashBytes(bytes, &result->hashes);
  const bool decoded = result->decode_status.ok();
  if (!decoded) {
    // The hasher stops at the failure; the digests are of the bytes alone.
    result->hashes = hash::FileHashes();
    result->hashes.md5 = hash::Md5(bytes);
    result->hashes.sha256 = hash::Sha256(bytes);
  }
  std::vector<index::Code256> codes;
  result->pdq_matched = decoded && result->hashes.pdq.quality >= policy.min_quality;
  if (result->pdq_matched) {
    codes = ScanCodes(result->hashes.pdq, policy.dihedral && hasher->options().dihedral);
  }
  bank::MatchQuery q;
  q.pdq = codes;
  q.md5 = result->hashes.md5;
  q.sha256 = result->hashes.sha256;
  Status s = matcher.Match(q, &result->matches);
  if (!s.ok()) return s;
  if (store != nullptr) {
    std::vector<uint64_t> ids;
    for (const bank::Hit& h : result->matches.hits) ids.push_back(h.signal_id);
    for (const bank::Hit& h : result->matches.allowed) ids.push_back(h.signal_id);
    if (!ids.empty()) {
      s = store->GetSignals(ids, &result->signals);
      if (!s.ok()) return s;
    }
  }
  result->decision = Decide(policy, ScanFacts{.decoded = decoded,
                                              .quality = decoded ? result->hashes.pdq.quality : 0,
                                              .matches = &result->matches});
  return Status::Ok();
}

}  // namespace safeguard::policy
