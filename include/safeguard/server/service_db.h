// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// The server's own records live in one SQLite file, `<data dir>/service.db`,
// beside the bank store: API keys, decisions, the webhook outbox and the
// audit log. One file, so that a decision, its audit record and its webhook
// events are written in one transaction: either all of them survive a crash
// or none does (docs/server.md).

#ifndef SAFEGUARD_SERVER_SERVICE_DB_H_
#define SAFEGUARD_SERVER_SERVICE_DB_H_

#include <memory>
#include <string>

#include "safeguard/common/status.h"

namespace safeguard::sqlite {
class Conn;
}  // namespace safeguard::sqlite

namespace safeguard::server {

/// The service file's path in `data_dir`.
std::string ServiceDbPath(const std::string& data_dir);

/// Opens (with `create`, creating the directory and file if missing) the
/// service file of `data_dir` in WAL mode with synchronous=FULL (a
/// committed decision survives a power cut, not just a crash) and stores
/// the connection in *out. Returns kNotFound if the file is missing and
/// `create` is false, kIoError or kCorrupt otherwise. The connection is used
/// by one thread at a time (the caller serialises).
Status OpenServiceDb(const std::string& data_dir, bool create, std::unique_ptr<sqlite::Conn>* out);

}  // namespace safeguard::server

#endif  // SAFEGUARD_SERVER_SERVICE_DB_H_
