// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// Where the bank commands find their store: --data DIR (SQLite, the default)
// or --postgres CONNINFO (docs/cli.md).

#ifndef SAFEGUARD_SRC_CLI_STORE_ARGS_H_
#define SAFEGUARD_SRC_CLI_STORE_ARGS_H_

#include <memory>
#include <string>

#include "safeguard/bank/store.h"
#include "safeguard/common/status.h"

namespace safeguard::cli {

/// The store options every bank command takes.
struct StoreArgs {
  /// SQLite data directory; empty: DefaultDataDir().
  std::string data_dir;
  /// A libpq connection string; when set, PostgreSQL is used instead of SQLite.
  std::string postgres;

  /// The data directory in effect (data_dir, or the default).
  std::string DataDir() const;
  /// Opens the store these arguments name into *store (caller owns it).
  Status Open(std::unique_ptr<bank::Store>* store) const;
};

/// $SAFEGUARD_DATA if set and not empty, else $XDG_DATA_HOME/safeguard, else
/// $HOME/.local/share/safeguard, else ./safeguard-data.
std::string DefaultDataDir();

}  // namespace safeguard::cli

#endif  // SAFEGUARD_SRC_CLI_STORE_ARGS_H_
