// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.

#include "safeguard/server/service_db.h"

#include <filesystem>
#include <system_error>

#include "common/sqlite.h"

namespace safeguard::server {

std::string ServiceDbPath(const std::string& data_dir) { return data_dir + "/service.db"; }

Status OpenServiceDb(const std::string& data_dir, bool create, std::unique_ptr<sqlite::Conn>* out) {
  const std::string path = ServiceDbPath(data_dir);
  std::error_code ec;
  if (!create && !std::filesystem::exists(path, ec)) {
    return Status::NotFound("no service records at " + path +
                            " (the server creates them on its first start; check --data)");
  }
  if (create) {
    std::filesystem::create_directories(data_dir, ec);
    if (ec) return Status::IoError("cannot create the data directory " + data_dir + ": " + ec.message());
  }
  std::unique_ptr<sqlite::Conn> conn;
  Status s = sqlite::Conn::Open(path, create, /*cache_mib=*/16, &conn);
  if (!s.ok()) return s;
  // WAL: readers (decision lookups, the outbox's own connection) never
  // wait for the writer. FULL: a decision the client was told about is on
  // disk, also after a power cut.
  s = conn->Exec("PRAGMA journal_mode = WAL");
  if (s.ok()) s = conn->Exec("PRAGMA synchronous = FULL");
  if (!s.ok()) return s;
  *out = std::move(conn);
  return Status::Ok();
}

}  // namespace safeguard::server
