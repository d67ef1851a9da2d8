// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// `safeguard hash` end to end: the real binary, run through the shell.

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli_util.h"
#include "test_util.h"

namespace safeguard {
namespace {

using Result = testing::CliResult;
using testing::RunCli;

std::vector<nlohmann::json> Lines(const std::string& out) { return testing::JsonLines(out); }

const std::string kBridge = "images/bridge-mods/aaa-orig.jpg";
const std::string kBridgeHash = "d8f8f0cee0f4a84f0637022a078f67f0b36e2ed596621e1d33e6339c4e9c9b22";

TEST(CliHash, OneFileGivesTheDocumentedRecord) {
  const std::string path = testing::SharedPath("pdq-vectors/" + kBridge);
  Result r = RunCli("hash '" + path + "'");
  ASSERT_EQ(r.exit_code, 0);
  auto lines = Lines(r.out);
  ASSERT_EQ(lines.size(), 1u);
  const auto& j = lines[0];
  EXPECT_EQ(j["path"], path);
  EXPECT_EQ(j["pdq"], kBridgeHash);
  EXPECT_EQ(j["quality"], 100);
  EXPECT_EQ(j["width"], 1600);
  EXPECT_EQ(j["height"], 1004);
  EXPECT_EQ(j["md5"].get<std::string>().size(), 32u);
  EXPECT_EQ(j["sha256"].get<std::string>().size(), 64u);
  EXPECT_FALSE(j.contains("dihedral"));
  // Field order is part of the format.
  EXPECT_EQ(r.out.find("{\"path\":"), 0u);
  EXPECT_LT(r.out.find("\"pdq\""), r.out.find("\"quality\""));
  EXPECT_LT(r.out.find("\"sha256\""), r.out.find("\"width\""));
}

TEST(CliHash, DihedralListsEightHashesInOrder) {
  Result r = RunCli("hash --dihedral '" + testing::SharedPath("pdq-vectors/" + kBridge) + "'");
  ASSERT_EQ(r.exit_code, 0);
  auto j = Lines(r.out).at(0);
  ASSERT_EQ(j["dihedral"].size(), 8u);
  EXPECT_EQ(j["dihedral"][0], kBridgeHash);
  EXPECT_EQ(j["dihedral"][1], "f0a10efd51c83d429053d48d0fffbc52e34e0e17ada956a9d29685211ea9e58f");
}

TEST(CliHash, DirectoryIsRecursiveSortedAndStableAcrossJobCounts) {
  const std::string dir = testing::SharedPath("pdq-vectors/images");
  Result one = RunCli("hash --jobs 1 '" + dir + "'");
  Result two = RunCli("hash --jobs 2 '" + dir + "'");
  Result many = RunCli("hash --jobs 7 '" + dir + "'");
  ASSERT_EQ(one.exit_code, 0);
  EXPECT_EQ(one.out, two.out);
  EXPECT_EQ(one.out, many.out);
  auto lines = Lines(one.out);
  EXPECT_EQ(lines.size(), testing::ListFiles(dir).size());
  for (size_t i = 1; i < lines.size(); ++i) {
    EXPECT_LT(lines[i - 1]["path"].get<std::string>(), lines[i]["path"].get<std::string>());
  }
}

TEST(CliHash, PathsFromStdin) {
  const std::string a = testing::SharedPath("pdq-vectors/" + kBridge);
  const std::string b = testing::SharedPath("pdq-vectors/images/misc-images/wee.jpg");
  Result r = RunCli("hash - <<'EOF'\n" + a + "\n" + b + "\nEOF\n");
  ASSERT_EQ(r.exit_code, 0);
  auto lines = Lines(r.out);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0]["path"], a);
  EXPECT_EQ(lines[1]["path"], b);
  EXPECT_EQ(lines[1]["pdq"], "6227401f601ff4ccafcc9fad4b0d95d371a2eb7265a3285234d228ca94deeb2d");
}

TEST(CliHash, FailuresAreRecordsAndExitOne) {
  const auto tmp = std::filesystem::temp_directory_path() / "safeguard_cli_test";
  std::filesystem::create_directories(tmp);
  const std::string text = (tmp / "notes.txt").string();
  std::ofstream(text) << "not an image\n";
  const std::string good = testing::SharedPath("pdq-vectors/" + kBridge);
  Result r = RunCli("hash '" + good + "' '" + text + "' /nonexistent/file.jpg");
  EXPECT_EQ(r.exit_code, 1);
  auto lines = Lines(r.out);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0]["pdq"], kBridgeHash);
  EXPECT_EQ(lines[1]["path"], text);
  EXPECT_EQ(lines[1]["error"]["code"], "unsupported_format");
  EXPECT_FALSE(lines[1]["error"]["message"].get<std::string>().empty());
  EXPECT_EQ(lines[2]["error"]["code"], "not_found");
}

TEST(CliHash, UsageErrorsExitTwo) {
  EXPECT_EQ(RunCli("hash").exit_code, 2);
  EXPECT_EQ(RunCli("hash --format xml x.jpg").exit_code, 2);
  EXPECT_EQ(RunCli("hash --jobs 0 x.jpg").exit_code, 2);
  EXPECT_EQ(RunCli("frobnicate").exit_code, 2);
  EXPECT_EQ(RunCli("--help").exit_code, 0);
}

TEST(CliHash, CsvHasHeaderAndQuotesPaths) {
  const auto tmp = std::filesystem::temp_directory_path() / "safeguard_cli_test";
  std::filesystem::create_directories(tmp);
  const std::string odd = (tmp / "a,b \"c\".jpg").string();
  std::filesystem::copy_file(testing::SharedPath("pdq-vectors/" + kBridge), odd,
                             std::filesystem::copy_options::overwrite_existing);
  Result r = RunCli("hash --format csv '" + odd + "'");
  ASSERT_EQ(r.exit_code, 0);
  std::stringstream ss(r.out);
  std::string header, row;
  std::getline(ss, header);
  std::getline(ss, row);
  EXPECT_EQ(header, "path,pdq,quality,md5,sha256,width,height,error_code,error_message");
  EXPECT_EQ(row.find("\"" + tmp.string() + "/a,b \"\"c\"\".jpg\"," + kBridgeHash + ",100,"), 0u) << row;
}

TEST(CliHash, LimitsAreEnforced) {
  Result r = RunCli("hash --max-pixels 1000 '" + testing::SharedPath("pdq-vectors/" + kBridge) + "'");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(Lines(r.out).at(0)["error"]["code"], "too_large");
}

}  // namespace
}  // namespace safeguard
