// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// The evidence store (docs/evidence.md): the content of reported cases, kept
// encrypted at rest, every access recorded in the audit log, and deleted
// when its retention ends. It is the only place Safeguard keeps matched
// media; logs, records and case details hold hashes only.
//
// Each item is one file, DIR/evidence/ID.sgev: a magic, a random 24-byte
// nonce and the content sealed with XChaCha20-Poly1305 (libsodium) under the
// store's 32-byte key, with the item id as associated data, so a file moved
// to another id, altered or read with another key is refused. The index
// (case, SHA-256, size, retention dates) lives in service.db.
//
//   std::unique_ptr<EvidenceStore> evidence;
//   Status s = EvidenceStore::Open(data_dir, conn, key, audit_log, RetentionPolicy(), {}, &evidence);
//   EvidenceItem item;
//   s = evidence->Put(case_id, bytes, "image/jpeg", "key:abc", &item);
//   std::vector<uint8_t> back;
//   s = evidence->Get(item.id, "key:mod1", "reviewing case 12", &back, nullptr);  // audited first

#ifndef SAFEGUARD_REPORT_EVIDENCE_STORE_H_
#define SAFEGUARD_REPORT_EVIDENCE_STORE_H_

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "safeguard/common/status.h"

namespace safeguard::sqlite {
class Conn;
}  // namespace safeguard::sqlite

namespace safeguard::audit {
class AuditLog;
}  // namespace safeguard::audit

namespace safeguard::report {

/// The store's secret key: 32 random bytes. Without it the evidence cannot
/// be read; keep it apart from the data directory's backups.
struct EvidenceKey {
  std::array<uint8_t, 32> bytes{};
};

/// Parses 64 hexadecimal digits into *key; kInvalidArgument otherwise.
Status ParseEvidenceKey(std::string_view hex, EvidenceKey* key);

/// A new random key (libsodium's generator).
Status NewEvidenceKey(EvidenceKey* key);

/// How long evidence is kept, from when it was stored.
struct RetentionPolicy {
  /// The content: one year, then the file is erased.
  int64_t content_ms = int64_t{365} * 24 * 3600 * 1000;
  /// The reference (id, case, SHA-256, size, dates): five years, then the
  /// row is deleted.
  int64_t reference_ms = int64_t{5} * 365 * 24 * 3600 * 1000;
};

/// One item as indexed.
struct EvidenceItem {
  std::string id;  ///< "ev_" + 32 hex digits
  int64_t case_id = 0;
  std::string sha256;      ///< of the content, hex
  int64_t size = 0;        ///< bytes of content
  std::string media_type;  ///< as given ("image/jpeg")
  int64_t created_ms = 0;
  int64_t content_expires_ms = 0;
  int64_t reference_expires_ms = 0;
  /// The content's retention ended and its file was erased.
  bool content_erased = false;
};

/// What one Sweep did.
struct SweepResult {
  int contents_erased = 0;
  int references_deleted = 0;
  /// Files in the evidence folder that no item names (left by a write whose
  /// transaction was rolled back, or by a crash between the two), removed
  /// once an hour old.
  int orphans_removed = 0;
};

/// Encrypted evidence with audited access and enforced retention. Not
/// thread-safe: the caller serialises (the server holds its database
/// mutex).
class EvidenceStore {
 public:
  /// Opens the store: files under `dir`/evidence (created, mode 0700), the
  /// index in `conn`, access recorded in `audit`; all must outlive it.
  /// `clock_ms` gives milliseconds since the epoch (empty: the system clock).
  static Status Open(const std::string& dir, sqlite::Conn* conn, const EvidenceKey& key,
                     audit::AuditLog* audit, const RetentionPolicy& retention,
                     std::function<int64_t()> clock_ms, std::unique_ptr<EvidenceStore>* out);

  ~EvidenceStore();
  EvidenceStore(const EvidenceStore&) = delete;
  EvidenceStore& operator=(const EvidenceStore&) = delete;

  /// Seals `content` (1 byte to 256 MiB) for case `case_id` and records
  /// "evidence.put" (id, case, SHA-256, size; never the content).
  Status Put(int64_t case_id, std::span<const uint8_t> content, std::string_view media_type,
             const std::string& actor, EvidenceItem* out);

  /// Reads item `id` for `actor`, who must give a reason (1 to 1000 bytes).
  /// The access is recorded ("evidence.read" with actor and reason) before
  /// the content is opened; a failed record means no content. kNotFound for
  /// an unknown id or content past its retention; kCorrupt if the file was
  /// altered, moved, or sealed under another key.
  Status Get(const std::string& id, const std::string& actor, std::string_view reason,
             std::vector<uint8_t>* content, EvidenceItem* item);

  /// The items of a case (references included after their content was
  /// erased), oldest first.
  Status List(int64_t case_id, std::vector<EvidenceItem>* out);

  /// Enforces retention now: erases the files of contents past
  /// content_expires_ms (overwritten, then unlinked) and deletes references
  /// past reference_expires_ms; each recorded ("evidence.expire",
  /// "evidence.forget"). Run by the server's background job; idempotent.
  Status Sweep(SweepResult* result);

 private:
  EvidenceStore(std::string dir, sqlite::Conn* conn, const EvidenceKey& key, audit::AuditLog* audit,
                const RetentionPolicy& retention, std::function<int64_t()> clock_ms);
  int64_t Now() const;
  std::string PathOf(const std::string& id) const;
  Status ReadItem(const std::string& id, EvidenceItem* item);

  std::string dir_;
  sqlite::Conn* conn_;
  EvidenceKey key_;
  audit::AuditLog* audit_;
  RetentionPolicy retention_;
  std::function<int64_t()> clock_ms_;
};

}  // namespace safeguard::report

#endif  // SAFEGUARD_REPORT_EVIDENCE_STORE_H_
