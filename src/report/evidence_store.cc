// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// libsodium does the cryptography (XChaCha20-Poly1305, random nonces and
// keys): a well-kept library instead of hand-written primitives.

#include "safeguard/report/evidence_store.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "common/sqlite.h"
#include "safeguard/audit/audit_log.h"
#include "safeguard/hash/digest.h"

namespace safeguard::report {
namespace {

constexpr char kMagic[8] = {'S', 'G', 'E', 'V', '1', 0, 0, 0};
constexpr size_t kNonceBytes = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
constexpr size_t kTagBytes = crypto_aead_xchacha20poly1305_ietf_ABYTES;
constexpr size_t kMaxContentBytes = size_t{256} << 20;

const char* const kMigrations[] = {
    R"sql(
CREATE TABLE evidence (
  id                   TEXT PRIMARY KEY,
  case_id              INTEGER NOT NULL,
  sha256               TEXT NOT NULL,
  size                 INTEGER NOT NULL,
  media_type           TEXT NOT NULL,
  created_ms           INTEGER NOT NULL,
  content_expires_ms   INTEGER NOT NULL,
  reference_expires_ms INTEGER NOT NULL,
  content_erased       INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX evidence_case ON evidence (case_id);
CREATE INDEX evidence_expiry ON evidence (content_erased, content_expires_ms);
)sql",
};

constexpr const char* kColumns =
    "id, case_id, sha256, size, media_type, created_ms, content_expires_ms, reference_expires_ms, "
    "content_erased";

void ReadRow(const sqlite::Stmt& q, EvidenceItem* it) {
  it->id = std::string(q.ColumnText(0));
  it->case_id = q.ColumnInt(1);
  it->sha256 = std::string(q.ColumnText(2));
  it->size = q.ColumnInt(3);
  it->media_type = std::string(q.ColumnText(4));
  it->created_ms = q.ColumnInt(5);
  it->content_expires_ms = q.ColumnInt(6);
  it->reference_expires_ms = q.ColumnInt(7);
  it->content_erased = q.ColumnInt(8) != 0;
}

Status Sodium() {
  if (sodium_init() < 0) return Status::Internal("evidence: libsodium failed to initialise");
  return Status::Ok();
}

std::string Details(const nlohmann::ordered_json& j) { return j.dump(); }

// Writes `bytes` to `path` durably: a temporary file (mode 0600), fsync,
// rename, fsync of the folder.
Status WriteFileDurably(const std::string& path, const std::vector<uint8_t>& bytes) {
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status::IoError("evidence: cannot create " + tmp + ": " + std::strerror(errno));
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ::close(fd);
      ::unlink(tmp.c_str());
      return Status::IoError("evidence: cannot write " + tmp + ": " + std::strerror(errno));
    }
    done += static_cast<size_t>(n);
  }
  const bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (!synced || std::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return Status::IoError("evidence: cannot store " + path + ": " + std::strerror(errno));
  }
  const std::string folder = std::filesystem::path(path).parent_path().string();
  const int dfd = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return Status::Ok();
}

// Overwrites the file with zeros, syncs, unlinks. On copy-on-write or
// journalled file systems the old blocks may survive the overwrite; the
// encryption is what protects them (docs/evidence.md).
Status EraseFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return Status::Ok();
    return Status::IoError("evidence: cannot erase " + path + ": " + std::strerror(errno));
  }
  struct stat st {};
  if (::fstat(fd, &st) == 0 && st.st_size > 0) {
    std::vector<uint8_t> zeros(std::min<size_t>(static_cast<size_t>(st.st_size), 1 << 20), 0);
    off_t left = st.st_size;
    while (left > 0) {
      const ssize_t n = ::write(fd, zeros.data(), std::min<size_t>(zeros.size(), static_cast<size_t>(left)));
      if (n <= 0) break;
      left -= n;
    }
    ::fsync(fd);
  }
  ::close(fd);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return Status::IoError("evidence: cannot remove " + path + ": " + std::strerror(errno));
  }
  return Status::Ok();
}

}  // namespace

Status ParseEvidenceKey(std::string_view hex, EvidenceKey* key) {
  if (hex.size() != 64) return Status::InvalidArgument("an evidence key is 64 hexadecimal digits");
  EvidenceKey k;
  size_t len = 0;
  if (sodium_hex2bin(k.bytes.data(), k.bytes.size(), hex.data(), hex.size(), nullptr, &len, nullptr) != 0 ||
      len != k.bytes.size()) {
    return Status::InvalidArgument("an evidence key is 64 hexadecimal digits");
  }
  *key = k;
  sodium_memzero(k.bytes.data(), k.bytes.size());
  return Status::Ok();
}

Status NewEvidenceKey(EvidenceKey* key) {
  Status s = Sodium();
  if (!s.ok()) return s;
  crypto_aead_xchacha20poly1305_ietf_keygen(key->bytes.data());
  return Status::Ok();
}

EvidenceStore::EvidenceStore(std::string dir, sqlite::Conn* conn, const EvidenceKey& key,
                             audit::AuditLog* audit, const RetentionPolicy& retention,
                             std::function<int64_t()> clock_ms)
    : dir_(std::move(dir)),
      conn_(conn),
      key_(key),
      audit_(audit),
      retention_(retention),
      clock_ms_(std::move(clock_ms)) {}

EvidenceStore::~EvidenceStore() { sodium_memzero(key_.bytes.data(), key_.bytes.size()); }

Status EvidenceStore::Open(const std::string& dir, sqlite::Conn* conn, const EvidenceKey& key,
                           audit::AuditLog* audit, const RetentionPolicy& retention,
                           std::function<int64_t()> clock_ms, std::unique_ptr<EvidenceStore>* out) {
  Status s = Sodium();
  if (!s.ok()) return s;
  if (retention.content_ms <= 0 || retention.reference_ms < retention.content_ms) {
    return Status::InvalidArgument("evidence retention: content > 0 and reference >= content");
  }
  const std::string folder = dir + "/evidence";
  std::error_code ec;
  std::filesystem::create_directories(folder, ec);
  if (ec) return Status::IoError("evidence: cannot create " + folder + ": " + ec.message());
  ::chmod(folder.c_str(), 0700);
  s = sqlite::Migrate(conn, "evidence", kMigrations);
  if (!s.ok()) return s;
  out->reset(new EvidenceStore(folder, conn, key, audit, retention, std::move(clock_ms)));
  return Status::Ok();
}

int64_t EvidenceStore::Now() const {
  if (clock_ms_) return clock_ms_();
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string EvidenceStore::PathOf(const std::string& id) const { return dir_ + "/" + id + ".sgev"; }

Status EvidenceStore::Put(int64_t case_id, std::span<const uint8_t> content, std::string_view media_type,
                          const std::string& actor, EvidenceItem* out) {
  if (content.empty() || content.size() > kMaxContentBytes) {
    return Status::InvalidArgument("evidence content must be 1 byte to 256 MiB");
  }
  if (media_type.empty() || media_type.size() > 100)
    return Status::InvalidArgument("evidence needs a media type");
  uint8_t rid[16];
  randombytes_buf(rid, sizeof rid);
  EvidenceItem it;
  it.id = "ev_" + hash::ToHex(std::span<const uint8_t>(rid, sizeof rid));
  it.case_id = case_id;
  it.sha256 = hash::ToHex(hash::Sha256(content));
  it.size = static_cast<int64_t>(content.size());
  it.media_type = std::string(media_type);
  it.created_ms = Now();
  it.content_expires_ms = it.created_ms + retention_.content_ms;
  it.reference_expires_ms = it.created_ms + retention_.reference_ms;

  std::vector<uint8_t> sealed(sizeof kMagic + kNonceBytes + content.size() + kTagBytes);
  std::memcpy(sealed.data(), kMagic, sizeof kMagic);
  uint8_t* nonce = sealed.data() + sizeof kMagic;
  randombytes_buf(nonce, kNonceBytes);
  unsigned long long sealed_len = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(nonce + kNonceBytes, &sealed_len, content.data(), content.size(),
                                             reinterpret_cast<const uint8_t*>(it.id.data()), it.id.size(),
                                             nullptr, nonce, key_.bytes.data());
  sealed.resize(sizeof kMagic + kNonceBytes + sealed_len);
  Status s = WriteFileDurably(PathOf(it.id), sealed);
  if (!s.ok()) return s;
  // The index row and its audit record together; on failure the file goes.
  s = conn_->Exec("SAVEPOINT evidence_put");
  if (s.ok()) {
    const std::string sql =
        std::string("INSERT INTO evidence (") + kColumns + ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 0)";
    sqlite::Stmt ins(conn_, sql.c_str());
    ins.Text(1, it.id);
    ins.Int(2, it.case_id);
    ins.Text(3, it.sha256);
    ins.Int(4, it.size);
    ins.Text(5, it.media_type);
    ins.Int(6, it.created_ms);
    ins.Int(7, it.content_expires_ms);
    ins.Int(8, it.reference_expires_ms);
    s = ins.Run();
  }
  if (s.ok()) {
    s = audit_->Append(audit::Event{.actor = actor,
                                    .action = "evidence.put",
                                    .subject = it.id,
                                    .details_json = Details({{"case", it.case_id},
                                                             {"sha256", it.sha256},
                                                             {"size", it.size},
                                                             {"media_type", it.media_type}})},
                       nullptr);
  }
  if (s.ok()) s = conn_->Exec("RELEASE evidence_put");
  if (!s.ok()) {
    conn_->Exec("ROLLBACK TO evidence_put");
    conn_->Exec("RELEASE evidence_put");
    EraseFile(PathOf(it.id));
    return s;
  }
  if (out != nullptr) *out = it;
  return Status::Ok();
}

Status EvidenceStore::ReadItem(const std::string& id, EvidenceItem* item) {
  const std::string sql = std::string("SELECT ") + kColumns + " FROM evidence WHERE id = ?1";
  sqlite::Stmt q(conn_, sql.c_str());
  q.Text(1, id);
  bool row = false;
  Status s = q.Step(&row);
  if (!s.ok()) return s;
  if (!row) return Status::NotFound("no evidence " + id);
  ReadRow(q, item);
  return Status::Ok();
}

Status EvidenceStore::Get(const std::string& id, const std::string& actor, std::string_view reason,
                          std::vector<uint8_t>* content, EvidenceItem* item) {
  content->clear();
  if (reason.empty() || reason.size() > 1000) {
    return Status::InvalidArgument("reading evidence needs a reason (1 to 1000 bytes): it is recorded");
  }
  EvidenceItem it;
  Status s = ReadItem(id, &it);
  if (!s.ok()) return s;
  if (it.content_erased || Now() >= it.content_expires_ms) {
    return Status::NotFound("evidence " + id + ": the content's retention ended; only its reference is kept");
  }
  // The access is recorded first: no record, no content.
  s = audit_->Append(
      audit::Event{.actor = actor,
                   .action = "evidence.read",
                   .subject = id,
                   .details_json = Details({{"case", it.case_id}, {"reason", std::string(reason)}})},
      nullptr);
  if (!s.ok()) return s;
  std::error_code ec;
  const std::string path = PathOf(id);
  const uintmax_t size = std::filesystem::file_size(path, ec);
  if (ec) return Status::Corrupt("evidence " + id + ": its file is missing: " + ec.message());
  if (size < sizeof kMagic + kNonceBytes + kTagBytes || size > kMaxContentBytes + 1024) {
    return Status::Corrupt("evidence " + id + ": its file has the wrong size");
  }
  std::vector<uint8_t> sealed(size);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::IoError("evidence " + id + ": cannot open its file: " + std::strerror(errno));
  size_t done = 0;
  while (done < sealed.size()) {
    const ssize_t n = ::read(fd, sealed.data() + done, sealed.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  if (done != sealed.size() || std::memcmp(sealed.data(), kMagic, sizeof kMagic) != 0) {
    return Status::Corrupt("evidence " + id + ": not an evidence file");
  }
  const uint8_t* nonce = sealed.data() + sizeof kMagic;
  const uint8_t* body = nonce + kNonceBytes;
  const size_t body_len = sealed.size() - sizeof kMagic - kNonceBytes;
  content->resize(body_len - kTagBytes);
  unsigned long long len = 0;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(content->data(), &len, nullptr, body, body_len,
                                                 reinterpret_cast<const uint8_t*>(id.data()), id.size(),
                                                 nonce, key_.bytes.data()) != 0) {
    content->clear();
    return Status::Corrupt("evidence " + id + ": the file was altered, moved, or sealed under another key");
  }
  content->resize(len);
  if (hash::ToHex(hash::Sha256(*content)) != it.sha256) {
    content->clear();
    return Status::Corrupt("evidence " + id + ": the content does not match its recorded SHA-256");
  }
  if (item != nullptr) *item = it;
  return Status::Ok();
}

Status EvidenceStore::List(int64_t case_id, std::vector<EvidenceItem>* out) {
  out->clear();
  const std::string sql =
      std::string("SELECT ") + kColumns + " FROM evidence WHERE case_id = ?1 ORDER BY created_ms, id";
  sqlite::Stmt q(conn_, sql.c_str());
  q.Int(1, case_id);
  bool row = false;
  Status s;
  while ((s = q.Step(&row)).ok() && row) {
    EvidenceItem it;
    ReadRow(q, &it);
    out->push_back(std::move(it));
  }
  return s;
}

Status EvidenceStore::Sweep(SweepResult* result) {
  SweepResult r;
  const int64_t now = Now();
  std::vector<EvidenceItem> expired, forgotten;
  {
    const std::string sql = std::string("SELECT ") + kColumns +
                            " FROM evidence WHERE (content_erased = 0 AND content_expires_ms <= ?1) "
                            "OR reference_expires_ms <= ?1";
    sqlite::Stmt q(conn_, sql.c_str());
    q.Int(1, now);
    bool row = false;
    Status s;
    while ((s = q.Step(&row)).ok() && row) {
      EvidenceItem it;
      ReadRow(q, &it);
      (it.reference_expires_ms <= now ? forgotten : expired).push_back(std::move(it));
    }
    if (!s.ok()) return s;
  }
  // Content first (the file, then the row saying so, with its record), then
  // references whose time is up (their file too, should it remain).
  for (const EvidenceItem& it : expired) {
    Status s = EraseFile(PathOf(it.id));
    if (!s.ok()) return s;
    sqlite::Stmt up(conn_, "UPDATE evidence SET content_erased = 1 WHERE id = ?1");
    up.Text(1, it.id);
    s = up.Run();
    if (s.ok()) {
      s = audit_->Append(audit::Event{.actor = "system",
                                      .action = "evidence.expire",
                                      .subject = it.id,
                                      .details_json = Details({{"case", it.case_id}, {"sha256", it.sha256}})},
                         nullptr);
    }
    if (!s.ok()) return s;
    ++r.contents_erased;
  }
  for (const EvidenceItem& it : forgotten) {
    Status s = EraseFile(PathOf(it.id));
    if (!s.ok()) return s;
    sqlite::Stmt del(conn_, "DELETE FROM evidence WHERE id = ?1");
    del.Text(1, it.id);
    s = del.Run();
    if (s.ok()) {
      s = audit_->Append(audit::Event{.actor = "system",
                                      .action = "evidence.forget",
                                      .subject = it.id,
                                      .details_json = Details({{"case", it.case_id}})},
                         nullptr);
    }
    if (!s.ok()) return s;
    if (!it.content_erased) ++r.contents_erased;
    ++r.references_deleted;
  }
  // Files no item names: sealed content whose row was never committed (the
  // caller's transaction rolled back, or the process died in between), and
  // temporary files of interrupted writes. Only those an hour old (by the
  // file system's clock), so a write in progress elsewhere is never touched.
  std::error_code ec;
  const auto cutoff = std::filesystem::file_time_type::clock::now() - std::chrono::hours(1);
  for (const auto& entry : std::filesystem::directory_iterator(dir_, ec)) {
    const std::string name = entry.path().filename().string();
    std::string id;
    if (name.size() > 5 && name.ends_with(".sgev")) {
      id = name.substr(0, name.size() - 5);
    } else if (name.size() > 9 && name.ends_with(".sgev.tmp")) {
      id = name.substr(0, name.size() - 9);
    } else {
      continue;
    }
    std::error_code fe;
    if (!entry.is_regular_file(fe) || entry.last_write_time(fe) > cutoff || fe) continue;
    sqlite::Stmt q(conn_, "SELECT 1 FROM evidence WHERE id = ?1");
    q.Text(1, id);
    bool row = false;
    Status s = q.Step(&row);
    if (!s.ok()) return s;
    if (row && !name.ends_with(".tmp")) continue;
    s = EraseFile(entry.path().string());
    if (s.ok()) {
      s = audit_->Append(audit::Event{.actor = "system",
                                      .action = "evidence.orphan",
                                      .subject = id,
                                      .details_json = Details({{"file", name}})},
                         nullptr);
    }
    if (!s.ok()) return s;
    ++r.orphans_removed;
  }
  if (result != nullptr) *result = r;
  return Status::Ok();
}

}  // namespace safeguard::report
