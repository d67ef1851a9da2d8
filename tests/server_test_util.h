// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// Helpers shared by the tests of the HTTP service.

#ifndef SAFEGUARD_TESTS_SERVER_TEST_UTIL_H_
#define SAFEGUARD_TESTS_SERVER_TEST_UTIL_H_

#include <memory>
#include <mutex>
#include <string>

#include "common/sqlite.h"
#include "gtest/gtest.h"
#include "safeguard/server/api_keys.h"
#include "safeguard/server/service_db.h"

namespace safeguard::server::testing {

/// A key created the way `safeguard keys create` does, on a connection of
/// its own while the server runs; its id in *id if not null.
inline std::string CreateKey(const std::string& data_dir, const std::string& scopes,
                             std::string* id = nullptr) {
  std::unique_ptr<sqlite::Conn> conn;
  EXPECT_TRUE(OpenServiceDb(data_dir, true, &conn).ok());
  std::mutex mu;
  std::unique_ptr<KeyStore> keys;
  EXPECT_TRUE(KeyStore::Open(conn.get(), &mu, nullptr, &keys).ok());
  uint32_t bits = 0;
  EXPECT_TRUE(ParseScopes(scopes, &bits).ok());
  ApiKey key;
  std::string token;
  EXPECT_TRUE(keys->Create("test " + scopes, bits, &key, &token).ok());
  if (id != nullptr) *id = key.id;
  return token;
}

}  // namespace safeguard::server::testing

#endif  // SAFEGUARD_TESTS_SERVER_TEST_UTIL_H_
