// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// Scanning one upload: hash it, match it against every bank, decide. This
// is what `POST /v1/scan` runs for each upload.
//
//   policy::ScanResult r;
//   Status s = policy::ScanBytes(bytes, &hasher, *matcher, store, policy, &r);
//
// An upload that cannot be decoded is not an error here: its MD5 and SHA-256
// are still matched (exact lists hold such files too) and the policy's
// on_undecodable rule decides; r.decode_status says why it did not decode.
//
// Images (judged by their signature) go to the image hasher; anything else is
// tried as a video: vPDQ at one frame a second and TMK+PDQF, matched against
// the banks' video signals (docs/video.md).
//
// Thread-safety: as the arguments are (use one ImageHasher per thread; the
// Matcher and Store may be shared).

#ifndef SAFEGUARD_POLICY_SCAN_H_
#define SAFEGUARD_POLICY_SCAN_H_

#include <cstdint>
#include <span>
#include <vector>

#include "safeguard/bank/matcher.h"
#include "safeguard/bank/store.h"
#include "safeguard/common/status.h"
#include "safeguard/hash/image_hasher.h"
#include "safeguard/policy/policy.h"
#include "safeguard/video/video_hasher.h"

namespace safeguard::policy {

/// Everything a scan found and decided.
struct ScanResult {
  /// OK if the upload decoded; otherwise why not (too large, corrupt, ...).
  Status decode_status;
  /// Digests always; PDQ (and dihedral hashes if the policy asks) only when
  /// decode_status is OK.
  hash::FileHashes hashes;
  /// Whether the PDQ hash took part in matching (decoded and quality at
  /// least policy.min_quality).
  bool pdq_matched = false;
  /// True when the upload was read as a video; `video` then holds its
  /// hashes (digests, vPDQ frames, TMK) and `hashes` only the digests.
  bool is_video = false;
  video::VideoHashes video;
  /// What matched.
  bank::MatchResult matches;
  /// The matched signals' records (external ids, source list and version),
  /// in no particular order; empty if no store was given.
  std::vector<bank::Signal> signals;
  /// What to do.
  Decision decision;
};

/// Scans `bytes` as described at the top of this file. `hasher` must have
/// been built with dihedral hashing on if policy.dihedral is. `store` may be
/// null (no signal records then). Returns an error only if matching or the
/// store failed; *result is then unspecified.
Status ScanBytes(std::span<const uint8_t> bytes, hash::ImageHasher* hasher, const bank::Matcher& matcher,
                 bank::Store* store, const Policy& policy, ScanResult* result,
                 const video::VideoHashOptions& video_options = video::VideoHashOptions());

/// The PDQ codes a scan matches with: the hash, or its 8 dihedral variants
/// when `dihedral` (and the hasher computed them).
std::vector<index::Code256> ScanCodes(const hash::PdqResult& pdq, bool dihedral);

}  // namespace safeguard::policy

#endif  // SAFEGUARD_POLICY_SCAN_H_
