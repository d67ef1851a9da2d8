// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
#include <gtest/gtest.h>

#include "safeguard/common/status.h"

namespace safeguard {
namespace {

TEST(Status, OkAndErrors) {
  EXPECT_TRUE(Status().ok());
  EXPECT_EQ(Status::Ok().ToString(), "ok");
  Status s = Status::TooLarge("PNG declares 65535x65535 pixels");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kTooLarge);
  EXPECT_EQ(s.ToString(), "too_large: PNG declares 65535x65535 pixels");
}

TEST(Status, OneMappingToExitCodesAndHttp) {
  EXPECT_EQ(ExitCodeFor(StatusCode::kOk), 0);
  EXPECT_EQ(ExitCodeFor(StatusCode::kInvalidArgument), 2);
  EXPECT_EQ(ExitCodeFor(StatusCode::kCorrupt), 1);
  EXPECT_EQ(HttpStatusFor(StatusCode::kTooLarge), 413);
  EXPECT_EQ(HttpStatusFor(StatusCode::kUnsupportedFormat), 415);
  EXPECT_EQ(HttpStatusFor(StatusCode::kCorrupt), 422);
  EXPECT_EQ(HttpStatusFor(StatusCode::kNotFound), 404);
  EXPECT_EQ(HttpStatusFor(StatusCode::kPermissionDenied), 403);
  EXPECT_EQ(HttpStatusFor(StatusCode::kUnavailable), 503);
  EXPECT_EQ(ExitCodeFor(StatusCode::kPermissionDenied), 1);
  EXPECT_EQ(StatusCodeName(StatusCode::kUnavailable), "unavailable");
  EXPECT_EQ(StatusCodeName(StatusCode::kUnsupportedFormat), "unsupported_format");
}

}  // namespace
}  // namespace safeguard
