// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// `safeguard bank ...` and `safeguard match` end to end: the real binary on a
// fresh data directory. Benign photos stand in for list entries: the bridge
// photo of the PDQ test vectors is "listed", its edits and rotations must
// match, unrelated photos must not.

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include "cli_util.h"
#include "test_util.h"

namespace safeguard {
namespace {

using testing::CliResult;
using testing::JsonLines;
using testing::ShellQuote;

const std::string kBridgeHash = "d8f8f0cee0f4a84f0637022a078f67f0b36e2ed596621e1d33e6339c4e9c9b22";

std::string Vector(const std::string& rel) { return testing::SharedPath("pdq-vectors/images/" + rel); }

class CliBankTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("safeguard_cli_bank_" + std::to_string(getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Runs `safeguard ARGS --data DIR`.
  CliResult Run(const std::string& args) {
    return testing::RunCli(args + " --data " + ShellQuote((dir_ / "data").string()));
  }
  std::string Write(const std::string& name, const std::string& text) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path, std::ios::binary) << text;
    return path;
  }
  // The one JSON object a command printed.
  nlohmann::json One(const CliResult& r) {
    auto lines = JsonLines(r.out);
    EXPECT_EQ(lines.size(), 1u) << r.out << r.err;
    return lines.empty() ? nlohmann::json() : lines[0];
  }
  uint64_t LiveSignals(const std::string& bank) {
    for (const auto& j : JsonLines(Run("bank list").out)) {
      if (j["name"] == bank) return j["live_signals"].get<uint64_t>();
    }
    ADD_FAILURE() << "no bank " << bank;
    return 0;
  }
  // The matches of one file.
  nlohmann::json Matches(const std::string& path, const std::string& extra = "") {
    CliResult r = Run("match " + extra + " " + ShellQuote(path));
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    return One(r)["matches"];
  }

  std::filesystem::path dir_;
};

TEST_F(CliBankTest, ImportMatchWithdrawAndExport) {
  CliResult r = Run("bank create stand-in --category csam");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(One(r)["distance"], 31);
  const std::string list =
      Write("list.csv",
            "# a benign photo stands in for a list entry\r\n"
            "type,value,external_id\r\n"
            "pdq," +
                kBridgeHash +
                ",case-1\r\n"
                "\r\n"
                "pdq,0000000000000000000000000000000000000000000000000000000000000000,case-2\r\n");
  r = Run("bank import stand-in " + ShellQuote(list));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json imported = One(r);
  EXPECT_EQ(imported["added"], 2);
  EXPECT_EQ(imported["format"], "csv");

  // The original and an edit match, with the list's external id; an
  // unrelated photo does not.
  nlohmann::json m = Matches(Vector("bridge-mods/aaa-orig.jpg"));
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0]["bank"], "stand-in");
  EXPECT_EQ(m[0]["category"], "csam");
  EXPECT_EQ(m[0]["external_id"], "case-1");
  EXPECT_EQ(m[0]["distance"], 0);
  EXPECT_GT(m[0]["signal_id"].get<uint64_t>(), 0u);
  m = Matches(Vector("bridge-mods/sharpen-a-lot.jpg"));
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0]["distance"], 14);  // the reference's hashes differ in 14 bits
  EXPECT_TRUE(Matches(Vector("misc-images/wee.jpg")).empty());

  // A rotated copy matches only with --dihedral.
  const std::string rotated = Vector("reg-test-input/dih/bridge-2-rotate-90.jpg");
  EXPECT_TRUE(Matches(rotated).empty());
  EXPECT_EQ(Matches(rotated, "--dihedral").size(), 1u);

  // Export and re-import into another bank gives the same signals.
  r = Run("bank export stand-in --format jsonl");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto exported = JsonLines(r.out);
  ASSERT_EQ(exported.size(), 2u);
  std::set<std::string> ids;
  for (const auto& e : exported) ids.insert(e["external_id"].get<std::string>());
  EXPECT_EQ(ids, (std::set<std::string>{"case-1", "case-2"}));
  const std::string copy = Write("copy.jsonl", r.out);
  ASSERT_EQ(Run("bank create copy --category other").exit_code, 0);
  r = Run("bank import copy " + ShellQuote(copy));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(One(r)["added"], 2);

  // A withdrawal stops the match at once; the other bank still matches.
  r = Run("bank withdraw stand-in case-1");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(One(r)["withdrawn"], 1);
  m = Matches(Vector("bridge-mods/aaa-orig.jpg"));
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0]["bank"], "copy");
  EXPECT_EQ(LiveSignals("stand-in"), 1u);

  // Every change is in the audit log of the data directory, in order, and
  // the chain verifies.
  r = Run("audit export");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> changes;
  for (const auto& rec : JsonLines(r.out)) {
    EXPECT_EQ(rec["actor"], "cli");
    changes.push_back(rec["action"].get<std::string>() + " " + rec["subject"].get<std::string>());
  }
  EXPECT_EQ(changes,
            (std::vector<std::string>{"bank.create stand-in", "signals.import stand-in", "bank.create copy",
                                      "signals.import copy", "signals.withdraw stand-in"}));
  EXPECT_EQ(Run("audit verify").exit_code, 0);
}

TEST_F(CliBankTest, MalformedListImportsNothingUnlessSkipInvalid) {
  ASSERT_EQ(Run("bank create b --category ncii").exit_code, 0);
  const std::string list = Write("bad.csv",
                                 "type,value,external_id\n"
                                 "pdq," +
                                     kBridgeHash +
                                     ",ok-1\n"
                                     "pdq,not-a-hash,bad-1\n"
                                     "md5,0123456789abcdef0123456789abcdef,ok-2\n"
                                     "sha1,0123,bad-2\n");
  CliResult r = Run("bank import b " + ShellQuote(list));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("line 3:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("line 5:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("nothing was imported"), std::string::npos) << r.err;
  EXPECT_EQ(LiveSignals("b"), 0u);

  r = Run("bank import b --skip-invalid " + ShellQuote(list));
  EXPECT_EQ(r.exit_code, 1);  // some input failed, and each failure was reported
  nlohmann::json j = One(r);
  EXPECT_EQ(j["added"], 2);
  EXPECT_EQ(j["invalid"], 2);
  EXPECT_EQ(LiveSignals("b"), 2u);

  // Importing the same list again adds nothing: duplicates are skipped.
  r = Run("bank import b --skip-invalid " + ShellQuote(list));
  EXPECT_EQ(One(r)["duplicates"], 2);
  EXPECT_EQ(LiveSignals("b"), 2u);
}

TEST_F(CliBankTest, DigestsMatchExactlyAndPlainPdqListsImport) {
  ASSERT_EQ(Run("bank create digests --category csam").exit_code, 0);
  const std::string photo = Vector("misc-images/wee.jpg");
  CliResult h = testing::RunCli("hash " + ShellQuote(photo));
  ASSERT_EQ(h.exit_code, 0);
  const nlohmann::json hashes = JsonLines(h.out).at(0);
  const std::string list =
      Write("d.csv", "type,value,external_id\nmd5," + hashes["md5"].get<std::string>() + ",by-md5\nsha256," +
                         hashes["sha256"].get<std::string>() + ",by-sha\n");
  ASSERT_EQ(Run("bank import digests " + ShellQuote(list)).exit_code, 0);
  nlohmann::json m = Matches(photo);
  ASSERT_EQ(m.size(), 2u);
  std::set<std::string> types;
  for (const auto& x : m) types.insert(x["type"].get<std::string>());
  EXPECT_EQ(types, (std::set<std::string>{"md5", "sha256"}));
  // A plain PDQ list export refuses a bank of digests, with advice.
  CliResult r = Run("bank export digests --format pdq");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("export it as csv or jsonl"), std::string::npos) << r.err;

  ASSERT_EQ(Run("bank create plain --category other --distance 10").exit_code, 0);
  const std::string plain = Write("plain.txt", kBridgeHash + "\n");
  ASSERT_EQ(Run("bank import plain " + ShellQuote(plain)).exit_code, 0);
  nlohmann::json orig = Matches(Vector("bridge-mods/aaa-orig.jpg"));
  ASSERT_EQ(orig.size(), 1u);
  EXPECT_EQ(orig[0]["bank"], "plain");
  // sharpen-a-lot is 14 bits from the original: beyond this bank's 10.
  EXPECT_TRUE(Matches(Vector("bridge-mods/sharpen-a-lot.jpg")).empty());
}

TEST_F(CliBankTest, AllowListSuppressesAndDisabledBanksAreIgnored) {
  ASSERT_EQ(Run("bank create list --category ncii").exit_code, 0);
  ASSERT_EQ(Run("bank create known-good --category allow --distance 8").exit_code, 0);
  const std::string list = Write("l.txt", kBridgeHash + "\n");
  ASSERT_EQ(Run("bank import list " + ShellQuote(list)).exit_code, 0);
  ASSERT_EQ(Run("bank import known-good " + ShellQuote(list)).exit_code, 0);
  CliResult r = Run("match " + ShellQuote(Vector("bridge-mods/aaa-orig.jpg")));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json j = One(r);
  EXPECT_TRUE(j["matches"].empty());
  ASSERT_EQ(j["allowed"].size(), 1u);
  EXPECT_EQ(j["allowed"][0]["bank"], "known-good");
  EXPECT_EQ(j["suppressed"], 1);

  ASSERT_EQ(Run("bank update known-good --disable").exit_code, 0);
  EXPECT_EQ(Matches(Vector("bridge-mods/aaa-orig.jpg")).size(), 1u);
  ASSERT_EQ(Run("bank update list --disable").exit_code, 0);
  EXPECT_TRUE(Matches(Vector("bridge-mods/aaa-orig.jpg")).empty());

  r = Run("bank delete list");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(One(r)["withdrawn"], 1);
  EXPECT_EQ(JsonLines(Run("bank list").out).size(), 1u);
}

TEST_F(CliBankTest, ErrorsAreClear) {
  CliResult r = Run("bank import nosuch " + ShellQuote(Write("x.txt", kBridgeHash + "\n")));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("nosuch"), std::string::npos) << r.err;
  r = Run("bank create x --category porn");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("csam"), std::string::npos) << r.err;  // names the accepted values
  r = Run("bank create 'bad name' --category csam");
  EXPECT_EQ(r.exit_code, 2);
  ASSERT_EQ(Run("bank create x --category csam").exit_code, 0);
  r = Run("bank create x --category csam");
  EXPECT_NE(r.exit_code, 0);
  r = Run("bank create y --category csam --distance 99");
  EXPECT_EQ(r.exit_code, 2);
  // A JPEG given as a list is refused with a message that says so.
  r = Run("bank import x " + ShellQuote(Vector("bridge-mods/aaa-orig.jpg")));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("JPEG"), std::string::npos) << r.err;
  r = Run("bank withdraw x");
  EXPECT_EQ(r.exit_code, 2);
  // match on an empty store works and reports failures per file.
  r = Run("match /nonexistent.jpg");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(One(r)["error"]["code"], "not_found");
}

TEST_F(CliBankTest, ImportFromStdinAndLargeBanksStartFromASnapshot) {
  ASSERT_EQ(Run("bank create big --category other").exit_code, 0);
  // 120,000 made-up hashes (above the snapshot threshold) and the bridge.
  std::string text = kBridgeHash + "\n";
  uint64_t x = 88172645463325252ull;
  char hex[65];
  for (int i = 0; i < 120000; ++i) {
    for (int k = 0; k < 4; ++k) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      std::snprintf(hex + 16 * k, 17, "%016llx", static_cast<unsigned long long>(x));
    }
    text += std::string(hex, 64) + "\n";
  }
  const std::string list = Write("big.txt", text);
  CliResult r = Run("bank import big - < " + ShellQuote(list));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(One(r)["added"], 120001);
  EXPECT_EQ(Matches(Vector("bridge-mods/aaa-orig.jpg")).size(), 1u);
  EXPECT_TRUE(std::filesystem::exists(dir_ / "data" / "pdq-index.snapshot"));
  // The snapshot is used next time, and a withdrawal after it still counts.
  r = Run("bank export big --format pdq -o " + ShellQuote((dir_ / "out.txt").string()));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(std::filesystem::file_size(dir_ / "out.txt"), 120001u * 65);
  nlohmann::json m = Matches(Vector("bridge-mods/aaa-orig.jpg"));
  ASSERT_EQ(m.size(), 1u);
  r = Run("bank withdraw big --signal-id " + std::to_string(m[0]["signal_id"].get<uint64_t>()));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(Matches(Vector("bridge-mods/aaa-orig.jpg")).empty());
}

}  // namespace
}  // namespace safeguard
