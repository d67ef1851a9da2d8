// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// Policy: from what a scan found to what the platform does with the upload.
//
//   policy::Policy p = policy::DefaultPolicy();
//   Status s = policy::ParsePolicy(config_json_text, &p);  // optional overrides
//   policy::Decision d = policy::Decide(p, facts);
//
// A decision is a set of actions (block, quarantine, review, report) and the
// single word that summarises them, the most severe one present:
// block > quarantine > review > allow. Each bank category has its own
// actions; the actions of every category matched are combined. Defaults
// (docs/policy.md): csam -> block + quarantine + report candidate; ncii ->
// block + review; terrorism -> block + review; other -> review. An
// allow-list match suppresses every other match (the Matcher already does
// that), so the upload is allowed.
//
// Thread-safety: Policy is a value; Decide is a pure function.

#ifndef SAFEGUARD_POLICY_POLICY_H_
#define SAFEGUARD_POLICY_POLICY_H_

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "safeguard/bank/bank.h"
#include "safeguard/bank/matcher.h"
#include "safeguard/common/status.h"

namespace safeguard::policy {

/// What to do with an upload, most severe last.
enum class Action : uint8_t {
  kAllow,       ///< "allow": publish.
  kReview,      ///< "review": hold for a moderator before (or instead of) publishing.
  kQuarantine,  ///< "quarantine": do not publish; preserve the file as evidence.
  kBlock,       ///< "block": refuse the upload.
};

/// Returns the stable lowercase name of `action`, e.g. "quarantine".
std::string_view ActionName(Action action);

/// The actions one cause (a category matched, or an undecodable upload)
/// calls for.
struct Actions {
  bool block = false;       ///< Refuse the upload.
  bool quarantine = false;  ///< Keep the file as evidence, unpublished.
  bool review = false;      ///< Put it in front of a moderator.
  bool report = false;      ///< A candidate for a report to NCA / NCMEC.
};

/// The configuration of decisions.
struct Policy {
  /// Actions per matched category (kAllow is never looked up).
  std::map<bank::Category, Actions> on_match;
  /// PDQ hashes of lower quality are not matched (exact digests still are).
  int min_quality = 50;
  /// Also look up the 8 dihedral variants (rotations and mirrors) of the
  /// upload's PDQ hash.
  bool dihedral = false;
  /// Uploads that cannot be decoded (corrupt, unsupported, over the limits)
  /// and whose digests match nothing. Default: block (fail closed: what was
  /// not checked is not published).
  Actions on_undecodable{.block = true};
};

/// The safe defaults described at the top of this file.
Policy DefaultPolicy();

/// Applies the overrides in `json` (the "policy" object of the server's
/// configuration file, docs/policy.md) to *policy. Unknown keys, categories
/// and actions, and values of the wrong type are refused with
/// kInvalidArgument naming the key; *policy is unchanged then.
Status ParsePolicy(std::string_view json, Policy* policy);

/// Returns *policy as the canonical JSON object ParsePolicy reads (keys
/// sorted), so the policy in force can be recorded and compared.
std::string PolicyToJson(const Policy& policy);

/// What a scan found.
struct ScanFacts {
  /// Whether the upload decoded (PDQ was computed).
  bool decoded = false;
  /// PDQ quality when decoded.
  int quality = 0;
  /// Matches of the upload's digests and (if quality allowed) PDQ hashes.
  const bank::MatchResult* matches = nullptr;
};

/// Why a decision was taken: one per cause.
struct Reason {
  /// "match" (a bank's category), "allow_list", "undecodable" or "no_match".
  std::string kind;
  /// For "match": the category matched.
  bank::Category category = bank::Category::kOther;
};

/// A decision: the combined actions and the word that summarises them.
struct Decision {
  Action action = Action::kAllow;
  Actions actions;
  std::vector<Reason> reasons;
  /// Whether PDQ matching was skipped because the quality was too low.
  bool low_quality = false;
};

/// Decides what to do with an upload. Pure; never fails.
Decision Decide(const Policy& policy, const ScanFacts& facts);

}  // namespace safeguard::policy

#endif  // SAFEGUARD_POLICY_POLICY_H_
