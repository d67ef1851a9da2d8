// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// `safeguard guard prompt`, run as a user would. The one refused prompt is
// a single list word, not a request for anything.

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "cli_util.h"

namespace safeguard::testing {
namespace {

TEST(CliGuardTest, PromptPrintsOneVerdictAndExitsByDecision) {
  CliResult r = RunCli("guard prompt 'a red fox in the snow'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto lines = JsonLines(r.out);
  ASSERT_EQ(lines.size(), 1u) << r.out;
  EXPECT_EQ(lines[0]["decision"], "allow");
  EXPECT_TRUE(lines[0]["rules"].empty());

  r = RunCli("guard prompt 'N4K3D'");
  EXPECT_EQ(r.exit_code, 3) << r.err;
  lines = JsonLines(r.out);
  ASSERT_EQ(lines.size(), 1u) << r.out;
  EXPECT_EQ(lines[0]["decision"], "block");
  EXPECT_EQ(lines[0]["rules"][0]["rule"], "sexual_content");
  EXPECT_EQ(lines[0]["rules"][0]["spans"][0]["text"], "naked");

  // The operator's policy, and the prompt from standard input.
  r = RunCli("guard prompt --sexual-content allow - <<'EOF'\nN4K3D\nEOF");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  // An edit of a photo with a face changes the answer for a suggestive word.
  EXPECT_EQ(RunCli("guard prompt 'a swimsuit'").exit_code, 0);
  EXPECT_EQ(RunCli("guard prompt --photo-edit --face 'a swimsuit'").exit_code, 3);
}

TEST(CliGuardTest, BadListsAndUsageAreRefusedClearly) {
  CliResult r = RunCli("guard prompt --guard-data /nonexistent/guard 'a fox'");
  EXPECT_EQ(r.exit_code, 2) << r.err;
  const std::string dir =
      std::filesystem::temp_directory_path() / ("sg-cli-guard-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir + "/terms");
  std::ofstream(dir + "/VERSION") << "t1\n";
  std::ofstream(dir + "/terms/x.txt") << "en fine\nen not.fine\n";
  std::ofstream(dir + "/rules.txt") << "r block x\n";
  r = RunCli("guard prompt --guard-data '" + dir + "' 'a fox'");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("terms/x.txt:2"), std::string::npos) << r.err;
  EXPECT_TRUE(r.out.empty());
  std::filesystem::remove_all(dir);
  EXPECT_EQ(RunCli("guard").exit_code, 2);
}

}  // namespace
}  // namespace safeguard::testing
