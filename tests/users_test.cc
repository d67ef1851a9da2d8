// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// The console's users and sessions (UserStore) on a real SQLite file, with a
// fake clock for the timers.

#include "safeguard/server/users.h"

#include <memory>
#include <mutex>

#include "bank_test_env.h"
#include "common/sqlite.h"
#include "gtest/gtest.h"
#include "safeguard/server/service_db.h"

namespace safeguard::server {
namespace {

using bank::testing::TempDir;

class UsersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(OpenServiceDb(dir_.path(), true, &conn_).ok());
    ASSERT_TRUE(UserStore::Open(
                    conn_.get(), &mu_, SessionPolicy(), [this] { return now_; }, &users_)
                    .ok());
  }
  TempDir dir_;
  std::unique_ptr<sqlite::Conn> conn_;
  std::mutex mu_;
  int64_t now_ = 1'800'000'000'000;
  std::unique_ptr<UserStore> users_;
};

TEST_F(UsersTest, CreateRefusesBadNamesRolesPasswordsAndDuplicates) {
  User u;
  EXPECT_TRUE(users_->Create("alice", "moderator", "correct horse battery", &u).ok());
  EXPECT_EQ(u.role, "moderator");
  EXPECT_EQ(users_->Create("alice", "admin", "correct horse battery", &u).code(),
            StatusCode::kInvalidArgument);
  Status s = users_->Create("bob", "superuser", "correct horse battery", &u);
  EXPECT_NE(s.message().find("senior_moderator"), std::string::npos) << s.message();
  s = users_->Create("bob", "admin", "short", &u);
  EXPECT_NE(s.message().find("12 characters"), std::string::npos) << s.message();
  EXPECT_FALSE(users_->Create("bob smith", "admin", "correct horse battery", &u).ok());
  EXPECT_FALSE(users_->Create("", "admin", "correct horse battery", &u).ok());
  std::vector<User> all;
  ASSERT_TRUE(users_->List(&all).ok());
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].name, "alice");
}

TEST_F(UsersTest, SignInStartsASessionThatResolvesAndEnds) {
  ASSERT_TRUE(users_->Create("alice", "senior_moderator", "correct horse battery", nullptr).ok());
  Session session;
  std::string token;
  Status s = users_->SignIn("alice", "wrong horse battery", &session, &token);
  EXPECT_EQ(s.code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(s.message(), "wrong username or password");
  s = users_->SignIn("nobody", "correct horse battery", &session, &token);
  EXPECT_EQ(s.message(), "wrong username or password");  // the same answer
  ASSERT_TRUE(users_->SignIn("alice", "correct horse battery", &session, &token).ok());
  EXPECT_EQ(token.size(), 64u);
  EXPECT_EQ(session.csrf_token.size(), 64u);
  EXPECT_NE(session.csrf_token, token);
  EXPECT_EQ(session.user.role, "senior_moderator");
  Session again;
  ASSERT_TRUE(users_->Resolve(token, &again).ok());
  EXPECT_EQ(again.user.name, "alice");
  EXPECT_EQ(again.csrf_token, session.csrf_token);
  // Only the token's hash is stored.
  sqlite::Stmt q(conn_.get(), "SELECT token_sha256 FROM console_sessions");
  bool row = false;
  ASSERT_TRUE(q.Step(&row).ok());
  ASSERT_TRUE(row);
  EXPECT_NE(std::string(q.ColumnText(0)), token);
  q.Reset();
  EXPECT_FALSE(users_->Resolve(std::string(64, 'a'), &again).ok());
  ASSERT_TRUE(users_->SignOut(token).ok());
  EXPECT_EQ(users_->Resolve(token, &again).code(), StatusCode::kPermissionDenied);
}

TEST_F(UsersTest, SessionsEndWhenIdleOrOldAndWhenThePasswordChanges) {
  ASSERT_TRUE(users_->Create("alice", "moderator", "correct horse battery", nullptr).ok());
  Session session;
  std::string token;
  ASSERT_TRUE(users_->SignIn("alice", "correct horse battery", &session, &token).ok());
  // Used every 20 minutes, the session lasts until its 12 hours are up.
  for (int i = 0; i < 35; ++i) {
    now_ += 20 * 60 * 1000;
    ASSERT_TRUE(users_->Resolve(token, &session).ok()) << i;
  }
  now_ += 20 * 60 * 1000;  // 12 h 0 min after sign-in
  EXPECT_FALSE(users_->Resolve(token, &session).ok());
  // Idle for 30 minutes: ended.
  ASSERT_TRUE(users_->SignIn("alice", "correct horse battery", &session, &token).ok());
  now_ += 29 * 60 * 1000;
  EXPECT_TRUE(users_->Resolve(token, &session).ok());
  now_ += 29 * 60 * 1000;
  EXPECT_TRUE(users_->Resolve(token, &session).ok());  // the last request moved the timer
  now_ += 31 * 60 * 1000;
  EXPECT_FALSE(users_->Resolve(token, &session).ok());
  // A new password ends every session of the user.
  ASSERT_TRUE(users_->SignIn("alice", "correct horse battery", &session, &token).ok());
  ASSERT_TRUE(users_->SetPassword("alice", "another long passphrase").ok());
  EXPECT_FALSE(users_->Resolve(token, &session).ok());
  EXPECT_FALSE(users_->SignIn("alice", "correct horse battery", &session, &token).ok());
  EXPECT_TRUE(users_->SignIn("alice", "another long passphrase", &session, &token).ok());
  // So does disabling the user, who then cannot sign in.
  ASSERT_TRUE(users_->Disable("alice").ok());
  EXPECT_FALSE(users_->Resolve(token, &session).ok());
  EXPECT_EQ(users_->SignIn("alice", "another long passphrase", &session, &token).message(),
            "wrong username or password");
  EXPECT_EQ(users_->Disable("nobody").code(), StatusCode::kNotFound);
}

TEST_F(UsersTest, FiveWrongPasswordsLockTheNameForFifteenMinutes) {
  ASSERT_TRUE(users_->Create("alice", "moderator", "correct horse battery", nullptr).ok());
  Session session;
  std::string token;
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(users_->SignIn("alice", "guess " + std::to_string(i) + " abcdefgh", &session, &token).message(),
              "wrong username or password");
  }
  // Even the right password is refused while locked, saying so.
  Status s = users_->SignIn("alice", "correct horse battery", &session, &token);
  EXPECT_EQ(s.code(), StatusCode::kPermissionDenied);
  EXPECT_NE(s.message().find("locked for 15"), std::string::npos) << s.message();
  now_ += 15 * 60 * 1000;
  EXPECT_TRUE(users_->SignIn("alice", "correct horse battery", &session, &token).ok());
  // A success clears the count: four more wrong ones do not lock.
  for (int i = 0; i < 4; ++i) EXPECT_FALSE(users_->SignIn("alice", "nope nope nope", &session, &token).ok());
  EXPECT_TRUE(users_->SignIn("alice", "correct horse battery", &session, &token).ok());
}

}  // namespace
}  // namespace safeguard::server
