// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// The multipart/form-data reader of the scan endpoint: which part is the
// file, and refusals of malformed bodies (never a crash, never a read past
// the body).

#include "server/multipart.h"

#include <string>

#include "gtest/gtest.h"

namespace safeguard::server {
namespace {

TEST(Multipart, PicksThePartNamedFileThenOneWithAFilenameThenTheFirst) {
  const std::string ct = "multipart/form-data; boundary=XyZ";
  std::string_view file;
  const std::string body =
      "preamble\r\n--XyZ\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n"
      "--XyZ\r\nContent-Disposition: form-data; name=\"upload\"; filename=\"a.jpg\"\r\n"
      "Content-Type: image/jpeg\r\n\r\nAAA\r\n"
      "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; "
      "filename=\"b.jpg\"\r\n\r\nB\r\nB\r\n--XyZ--\r\n";
  ASSERT_TRUE(ExtractMultipartFile(ct, body, &file).ok());
  EXPECT_EQ(file, "B\r\nB");

  const std::string no_file_name =
      "--XyZ\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n"
      "--XyZ\r\nContent-Disposition: form-data; name=\"upload\"; filename=\"a.jpg\"\r\n\r\nAAA\r\n--XyZ--";
  ASSERT_TRUE(ExtractMultipartFile(ct, no_file_name, &file).ok());
  EXPECT_EQ(file, "AAA");

  const std::string only = "--XyZ\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\n\r\n--XyZ--";
  ASSERT_TRUE(ExtractMultipartFile(ct, only, &file).ok());
  EXPECT_EQ(file, "");

  ASSERT_TRUE(ExtractMultipartFile("multipart/form-data; boundary=\"XyZ\"", only, &file).ok());
}

TEST(Multipart, RefusesMalformedBodies) {
  const std::string ct = "multipart/form-data; boundary=XyZ";
  std::string_view file;
  for (const std::string body :
       {"", "no delimiter at all", "--XyZ", "--XyZ\r\nheaders without end",
        "--XyZ\r\nA: b\r\n\r\ncontent but no closing", "--XyZxx", "--XyZ\r\n\r\n\r\n--XyZ"}) {
    Status s = ExtractMultipartFile(ct, body, &file);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << body;
  }
  EXPECT_EQ(ExtractMultipartFile("multipart/form-data", "--x--", &file).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ExtractMultipartFile("multipart/form-data; boundary=", "--x--", &file).code(),
            StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace safeguard::server
