// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.

#include "store_args.h"

#include <cstdlib>

namespace safeguard::cli {

std::string DefaultDataDir() {
  auto env = [](const char* name) -> std::string {
    const char* v = std::getenv(name);
    return v != nullptr ? v : "";
  };
  if (std::string d = env("SAFEGUARD_DATA"); !d.empty()) return d;
  if (std::string d = env("XDG_DATA_HOME"); !d.empty()) return d + "/safeguard";
  if (std::string d = env("HOME"); !d.empty()) return d + "/.local/share/safeguard";
  return "safeguard-data";
}

std::string StoreArgs::DataDir() const { return data_dir.empty() ? DefaultDataDir() : data_dir; }

Status StoreArgs::Open(std::unique_ptr<bank::Store>* store) const {
  if (!postgres.empty()) return bank::Store::OpenPostgres(postgres, store);
  return bank::Store::OpenSqlite(DataDir(), store);
}

}  // namespace safeguard::cli
