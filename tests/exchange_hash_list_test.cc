// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// The hash list formats of docs/formats.md: every tolerance the spec
// promises (BOM, comments, blank lines, CRLF, case, whitespace, quoting),
// every error with its line number, all-or-nothing versus skip_invalid,
// hostile input (binary files, huge lines, NUL bytes, invalid UTF-8, 10k
// errors), writer round trips, and the parse speed on a generated 1M-line
// list (printed, not asserted: timings belong to bench/, this is a smoke
// check that the reader is not accidentally quadratic). All hashes are
// random hex.

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "bank_test_env.h"
#include "safeguard/exchange/bank_io.h"
#include "safeguard/exchange/entry.h"
#include "safeguard/exchange/hash_list.h"
#include "safeguard/hash/pdq.h"
#include "synthetic_codes.h"

namespace safeguard::exchange {
namespace {

using safeguard::testing::SplitMix;

// `digits` random lowercase hex digits derived from `seed`.
std::string RandomHex(uint64_t seed, size_t digits) {
  static const char kDigits[] = "0123456789abcdef";
  std::string s(digits, '0');
  for (size_t i = 0; i < digits; ++i) s[i] = kDigits[SplitMix(seed * 131 + i / 16) >> (4 * (i % 16)) & 15];
  return s;
}

std::string Pdq(uint64_t seed) { return RandomHex(seed, 64); }
std::string Md5(uint64_t seed) { return RandomHex(seed + (1ull << 40), 32); }
std::string Sha(uint64_t seed) { return RandomHex(seed + (2ull << 40), 64); }

std::string Upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

struct Result {
  Status status;
  std::vector<Entry> entries;
  ReadReport report;
};

Result Read(std::string_view text, ReadOptions options = {}) {
  Result r;
  r.entries.push_back(Entry());  // must be replaced, not appended to
  r.status = ReadHashListFromString(text, options, &r.entries, &r.report);
  return r;
}

Result ReadSkipping(std::string_view text, Format format = Format::kAuto) {
  ReadOptions options;
  options.skip_invalid = true;
  options.format = format;
  return Read(text, options);
}

// The message of the only error of a one-bad-line list, read with skip_invalid.
std::string OnlyError(std::string_view text, uint64_t expected_line) {
  Result r = ReadSkipping(text);
  EXPECT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(r.report.invalid, 1u) << text;
  if (r.report.errors.size() != 1) return "<no single error>";
  EXPECT_EQ(r.report.errors[0].line, expected_line) << r.report.errors[0].ToString();
  return r.report.errors[0].message;
}

Entry Make(SignalType type, const std::string& hex, std::string id = "", int quality = -1,
           std::string metadata = "") {
  Entry e;
  e.type = type;
  for (size_t i = 0; i < hex.size() / 2; ++i)
    e.value[i] = static_cast<uint8_t>(std::stoi(hex.substr(2 * i, 2), nullptr, 16));
  e.external_id = std::move(id);
  e.quality = quality;
  e.metadata_json = std::move(metadata);
  return e;
}

std::string TempPath(const std::string& name) {
  return (std::filesystem::temp_directory_path() /
          ("safeguard-exchange-" + std::to_string(::getpid()) + "-" + name))
      .string();
}

// ---- entries ---------------------------------------------------------------

TEST(ExchangeEntry, TypeNamesAndLengths) {
  SignalType t;
  ASSERT_TRUE(ParseSignalType("PDQ", &t));
  EXPECT_EQ(t, SignalType::kPdq);
  ASSERT_TRUE(ParseSignalType("Sha256", &t));
  EXPECT_EQ(t, SignalType::kSha256);
  EXPECT_FALSE(ParseSignalType(" md5", &t));
  EXPECT_FALSE(ParseSignalType("sha-256", &t));
  // The video types are bank types but not list types: a line has no room
  // for their content.
  EXPECT_FALSE(ParseSignalType("vpdq", &t));
  EXPECT_FALSE(ParseSignalType("TMK", &t));
  EXPECT_EQ(SignalValueSize(SignalType::kMd5), 16u);
  EXPECT_EQ(SignalValueSize(SignalType::kPdq), 32u);
  EXPECT_EQ(SignalTypeName(SignalType::kSha256), "sha256");
}

// The byte order of Entry::value must agree with Hash256's text form, or
// a list imported here would match different images than the same list in
// every other PDQ tool.
TEST(ExchangeEntry, PdqHashAgreesWithHash256Hex) {
  for (uint64_t seed = 0; seed < 50; ++seed) {
    const std::string hex = Pdq(seed);
    Result r = Read(hex + "\n");
    ASSERT_TRUE(r.status.ok()) << r.status.ToString();
    ASSERT_EQ(r.entries.size(), 1u);
    pdq::Hash256 expected;
    ASSERT_TRUE(pdq::Hash256::FromHex(hex, &expected));
    EXPECT_EQ(r.entries[0].PdqHash(), expected);
    EXPECT_EQ(r.entries[0].ValueHex(), hex);
    EXPECT_EQ(Entry::FromPdq(expected), Make(SignalType::kPdq, hex));
  }
}

// ---- CSV -------------------------------------------------------------------

TEST(ExchangeCsv, ReadsTheThreeTypes) {
  const std::string text =
      "type,value,external_id\npdq," + Pdq(1) + ",a-1\nmd5," + Md5(2) + ",a-2\nsha256," + Sha(3) + ",\n";
  Result r = Read(text);
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(r.report.format, Format::kCsv);
  ASSERT_EQ(r.entries.size(), 3u);
  EXPECT_EQ(r.entries[0], Make(SignalType::kPdq, Pdq(1), "a-1"));
  EXPECT_EQ(r.entries[1], Make(SignalType::kMd5, Md5(2), "a-2"));
  EXPECT_EQ(r.entries[2], Make(SignalType::kSha256, Sha(3)));
  EXPECT_EQ(r.report.entries, 3u);
  EXPECT_EQ(r.report.invalid, 0u);
  EXPECT_EQ(r.report.lines, 4u);
}

TEST(ExchangeCsv, ToleratesBomCommentsBlankLinesCrlfCaseAndWhitespace) {
  const std::string text =
      "\xEF\xBB\xBF# exported 2026-01-01\r\n\r\n  # indented comment\r\nType , VALUE,External_ID\r\n" +
      std::string("  PDQ ,\t") + Upper(Pdq(1)) + " , id 1 \r\n\r\n   \t\r\nMd5," + Md5(2) +
      ",x\r\n# trailing comment";
  Result r = Read(text);
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  ASSERT_EQ(r.entries.size(), 2u);
  EXPECT_EQ(r.entries[0], Make(SignalType::kPdq, Pdq(1), "id 1"));
  EXPECT_EQ(r.entries[0].ValueHex(), Pdq(1));  // lowercased
  EXPECT_EQ(r.entries[1], Make(SignalType::kMd5, Md5(2), "x"));
}

TEST(ExchangeCsv, ColumnsInAnyOrderWithUnknownColumnsIgnored) {
  const std::string text = "source,external_id,value,notes,type,quality\nlist-a,e1," + Pdq(1) +
                           ",\"n, with comma\",pdq,87\nlist-b,e2," + Md5(2) + ",,md5,\n";
  Result r = Read(text);
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  ASSERT_EQ(r.entries.size(), 2u);
  EXPECT_EQ(r.entries[0], Make(SignalType::kPdq, Pdq(1), "e1", 87));
  EXPECT_EQ(r.entries[1], Make(SignalType::kMd5, Md5(2), "e2"));
  EXPECT_EQ(r.report.ignored_columns, (std::vector<std::string>{"source", "notes"}));
}

TEST(ExchangeCsv, MissingTrailingFieldsAreEmpty) {
  Result r = Read("type,value,external_id,metadata\npdq," + Pdq(1) + "\n");
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  ASSERT_EQ(r.entries.size(), 1u);
  EXPECT_EQ(r.entries[0], Make(SignalType::kPdq, Pdq(1)));
}

TEST(ExchangeCsv, QuotedFieldsFollowRfc4180) {
  const std::string text =
      "type,value,external_id\n"
      "\"pdq\",\"" +
      Pdq(1) +
      "\",\"a, \"\"quoted\"\" id\"\n"
      "pdq," +
      Pdq(2) +
      ",\"  kept blanks  \"\n"
      "pdq," +
      Pdq(3) +
      ",  \"blanks around the quotes\"  \n"
      "pdq," +
      Pdq(4) + ",\"\"\n";
  Result r = Read(text);
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  ASSERT_EQ(r.entries.size(), 4u);
  EXPECT_EQ(r.entries[0].external_id, "a, \"quoted\" id");
  EXPECT_EQ(r.entries[1].external_id, "  kept blanks  ");
  EXPECT_EQ(r.entries[2].external_id, "blanks around the quotes");
  EXPECT_EQ(r.entries[3].external_id, "");
}

// A quoted field may hold line breaks; the record's line number is where it
// starts, and lines after it are still counted.
TEST(ExchangeCsv, QuotedFieldsSpanLines) {
  const std::string text = "type,value,external_id\npdq," + Pdq(1) + ",\"two\nlines\"\npdq," + Pdq(2) +
                           ",\"crlf\r\n# not a comment\r\n\r\nend\"\r\npdq," + Pdq(3) + ",abc\n";
  Result r = Read(text);
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  ASSERT_EQ(r.entries.size(), 3u);
  EXPECT_EQ(r.entries[0].external_id, "two\nlines");
  EXPECT_EQ(r.entries[1].external_id, "crlf\r\n# not a comment\r\n\r\nend");
  EXPECT_EQ(r.entries[2].external_id, "abc");
  EXPECT_EQ(OnlyError("type,value,external_id\npdq," + Pdq(1) + ",\"a\nb\"\npdq,zz,\"c\nd\"\n", 4),
            "value 'zz' is not a PDQ hash: expected 64 hex digits, got 2");
}

TEST(ExchangeCsv, MetadataColumnHoldsAJsonObject) {
  const std::string text = "type,value,metadata\npdq," + Pdq(1) +
                           ",\"{\"\"b\"\": 2, \"\"a\"\": [1, \"\"x\"\"]}\"\npdq," + Pdq(2) + ",\n";
  Result r = Read(text);
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  ASSERT_EQ(r.entries.size(), 2u);
  EXPECT_EQ(r.entries[0].metadata_json, R"({"a":[1,"x"],"b":2})");  // canonical form
  EXPECT_EQ(r.entries[1].metadata_json, "");
}

TEST(ExchangeCsv, EachMalformedRecordIsReportedWithItsLineNumber) {
  const std::string h = "type,value,external_id\n";
  EXPECT_EQ(OnlyError(h + "pdq,abc,x\n", 2), "value 'abc' is not a PDQ hash: expected 64 hex digits, got 3");
  EXPECT_EQ(OnlyError(h + "pdq," + Pdq(1) + ",ok\n\n# c\npdq,,x\n", 5),
            "value is empty: expected a PDQ hash of 64 hex digits");
  std::string bad = Pdq(1);
  bad[9] = 'g';
  EXPECT_EQ(OnlyError(h + "pdq," + bad + ",x\n", 2),
            "value '" + bad.substr(0, 40) +
                "...' (64 bytes) is not a PDQ hash: 'g' at position 10 is not a hex digit");
  EXPECT_EQ(OnlyError(h + "pdq," + Md5(1) + ",x\n", 2),
            "value '" + Md5(1).substr(0, 40) +
                "' is not a PDQ hash: expected 64 hex digits, got 32 (32 is the length of an MD5: is the "
                "type right?)");
  EXPECT_NE(OnlyError(h + "md5," + Pdq(1) + ",x\n", 2).find("is not an MD5: expected 32 hex digits, got 64"),
            std::string::npos);
  EXPECT_EQ(OnlyError(h + "phash," + Pdq(1) + ",x\n", 2),
            "unknown type 'phash': expected pdq, md5 or sha256");
  EXPECT_EQ(OnlyError(h + "," + Pdq(1) + ",x\n", 2), "type is empty: expected pdq, md5 or sha256");
  EXPECT_EQ(
      OnlyError(h + "vpdq," + Sha(1) + ",x\n", 2),
      "type 'vpdq' is a video signal, whose content a hash list cannot carry: expected pdq, md5 or sha256");
  EXPECT_EQ(OnlyError(h + "pdq," + Pdq(1) + ",a,b\n", 2),
            "4 fields, but the header has 3 columns; quote fields that contain commas");
  EXPECT_EQ(OnlyError(h + "pdq," + Pdq(1) + ",a\"b\n", 2),
            "field 3 holds a quote but does not start with one; quote the whole field and double its quotes");
  // A stray quote does not open a quoted field: the next line is a record.
  EXPECT_EQ(OnlyError(h + "pdq," + Pdq(1) + ",5\" screen\npdq," + Pdq(2) + ",ok\n", 2),
            "field 3 holds a quote but does not start with one; quote the whole field and double its quotes");
  EXPECT_EQ(OnlyError(h + "pdq," + Pdq(1) + ",\"a\"b\n", 2),
            "unexpected 'b' after the closing quote of field 3; inside a quoted field write a quote as \"\"");
  EXPECT_EQ(OnlyError(h + "pdq," + Pdq(1) + ",id\xff\xfe\n", 2),
            "external_id 'id\\xff\\xfe' is not valid UTF-8 (byte 3)");
  EXPECT_EQ(OnlyError(h + "pdq," + Pdq(1) + ",\xc0\xaf\n", 2),
            "external_id '\\xc0\\xaf' is not valid UTF-8 (byte 1)");  // overlong '/'
  EXPECT_EQ(OnlyError(h + "pdq," + Pdq(1) + std::string(",a\0b\n", 5), 2),
            "the record holds a NUL byte; binary data is not a hash list");
  const std::string q = "type,value,quality\n";
  EXPECT_EQ(OnlyError(q + "md5," + Md5(1) + ",50\n", 2),
            "quality is given for a md5 entry; only pdq has one");
  EXPECT_EQ(OnlyError(q + "pdq," + Pdq(1) + ",101\n", 2), "quality '101' is not an integer from 0 to 100");
  EXPECT_EQ(OnlyError(q + "pdq," + Pdq(1) + ",-1\n", 2), "quality '-1' is not an integer from 0 to 100");
  const std::string m = "type,value,metadata\n";
  EXPECT_EQ(OnlyError(m + "pdq," + Pdq(1) + ",[1]\n", 2), "metadata must be a JSON object, not array");
  EXPECT_EQ(OnlyError(m + "pdq," + Pdq(1) + ",{oops}\n", 2).rfind("metadata is not valid JSON: ", 0), 0u);
  EXPECT_EQ(OnlyError(m + "pdq," + Pdq(1) + ",\"{\"\"a\"\":\"\"\xff\"\"}\"\n", 2)
                .rfind("metadata is not valid JSON", 0),
            0u);
  EXPECT_EQ(
      OnlyError(
          m + "pdq," + Pdq(1) + ",\"{\"\"a\"\":" + std::string(40, '[') + std::string(40, ']') + "}\"\n", 2),
      "metadata nests deeper than 31 levels");
}

TEST(ExchangeCsv, HeaderProblemsStopTheRead) {
  ReadOptions csv;
  csv.format = Format::kCsv;
  csv.skip_invalid = true;
  Result r = Read("# c\ntype,hash\npdq," + Pdq(1) + "\n", csv);
  EXPECT_EQ(r.status.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status.message(),
            "line 2: expected a CSV header naming the columns type and value (e.g. type,value,external_id), "
            "found 'type,hash'");
  EXPECT_TRUE(r.entries.empty());

  r = Read("pdq," + Pdq(1) + ",x\n", csv);  // explicit CSV without a header
  EXPECT_EQ(r.status.code(), StatusCode::kInvalidArgument);

  r = Read("type,value,Value\n");
  EXPECT_EQ(r.status.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status.message(), "line 1: the CSV header names the column 'value' twice");
}

TEST(ExchangeCsv, UnclosedQuoteFailsEvenWhenSkippingInvalidRecords) {
  const std::string text = "type,value,external_id\npdq," + Pdq(1) + ",ok\npdq," + Pdq(2) +
                           ",\"never closed\npdq," + Pdq(3) + ",x\n";
  Result r = ReadSkipping(text);
  EXPECT_EQ(r.status.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status.message(),
            "line 3: a quoted field opened on this line is never closed before the end of the file");
  EXPECT_TRUE(r.entries.empty());
  ASSERT_FALSE(r.report.errors.empty());
  EXPECT_EQ(r.report.errors.back().line, 3u);
}

TEST(ExchangeCsv, HeaderOnlyIsAnEmptyList) {
  Result r = Read("# safeguard hash list v1\ntype,value,external_id\r\n");
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_TRUE(r.entries.empty());
  EXPECT_EQ(r.report.format, Format::kCsv);
}

// ---- all or nothing ----------------------------------------------------------

TEST(ExchangeSkipInvalid, WithoutItOneBadLineFailsTheWholeRead) {
  std::string text = "type,value,external_id\n";
  for (int i = 0; i < 20; ++i) text += "pdq," + Pdq(i) + ",id" + std::to_string(i) + "\n";
  text += "pdq,abc,x\n";                 // line 22
  text += "pdq," + Pdq(99) + ",fine\n";  // line 23
  text += "md5,xyz,y\n";                 // line 24
  Result r = Read(text);
  EXPECT_EQ(r.status.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status.message(),
            "line 22: value 'abc' is not a PDQ hash: expected 64 hex digits, got 3 (the first of 2 invalid "
            "records; "
            "nothing was read: fix them, or skip invalid records to keep the rest)");
  EXPECT_TRUE(r.entries.empty());
  EXPECT_EQ(r.report.invalid, 2u);
  EXPECT_EQ(r.report.entries, 21u);
  ASSERT_EQ(r.report.errors.size(), 2u);
  EXPECT_EQ(r.report.errors[1].ToString(),
            "line 24: value 'xyz' is not an MD5: expected 32 hex digits, got 3");

  r = ReadSkipping(text);
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  ASSERT_EQ(r.entries.size(), 21u);
  EXPECT_EQ(r.entries[20].external_id, "fine");
  EXPECT_EQ(r.report.invalid, 2u);
  EXPECT_EQ(r.report.entries, 21u);
}

TEST(ExchangeSkipInvalid, SingleErrorMessageSaysIt) {
  Result r = Read("type,value\npdq,1\n");
  EXPECT_EQ(
      r.status.message(),
      "line 2: value '1' is not a PDQ hash: expected 64 hex digits, got 1 (nothing was read: fix it, or skip "
      "invalid records to keep the rest)");
}

// 10k bad lines: all counted, only max_errors_reported kept, and it stays
// fast (no per-error work proportional to the errors so far).
TEST(ExchangeSkipInvalid, TenThousandErrorsAreCountedButFewAreKept) {
  std::string text;
  for (int i = 0; i < 10000; ++i) text += "pdq_hash_of_nothing_" + std::to_string(i) + "\n";
  ReadOptions options;
  options.format = Format::kPdqList;
  Result r = Read(text, options);
  EXPECT_EQ(r.status.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(r.report.invalid, 10000u);
  EXPECT_EQ(r.report.errors.size(), 100u);
  EXPECT_NE(r.status.message().find("the first of 10000 invalid records"), std::string::npos);

  options.max_errors_reported = 0;
  r = Read(text, options);
  EXPECT_EQ(r.status.code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(r.report.errors.empty());
  EXPECT_EQ(r.status.message().rfind("line 1: ", 0), 0u);
}

// ---- plain PDQ list -----------------------------------------------------------

TEST(ExchangePdqList, OneHashPerLineWithOptionalQuality) {
  const std::string text =
      "# from the tool\r\n" + Upper(Pdq(1)) + "\r\n\r\n  " + Pdq(2) + " , 93 \r\n" + Pdq(3);
  Result r = Read(text);
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(r.report.format, Format::kPdqList);
  ASSERT_EQ(r.entries.size(), 3u);
  EXPECT_EQ(r.entries[0], Make(SignalType::kPdq, Pdq(1)));
  EXPECT_EQ(r.entries[1], Make(SignalType::kPdq, Pdq(2), "", 93));
  EXPECT_EQ(r.entries[2], Make(SignalType::kPdq, Pdq(3)));
}

TEST(ExchangePdqList, AHeaderLineIsSkipped) {
  for (std::string header : {"hash", "pdq_hash,quality", "PDQ Hash"}) {
    Result r = Read(header + "\n" + Pdq(1) + ",50\n");
    ASSERT_TRUE(r.status.ok()) << header << ": " << r.status.ToString();
    EXPECT_EQ(r.report.format, Format::kPdqList);
    ASSERT_EQ(r.entries.size(), 1u);
    ReadOptions options;
    options.format = Format::kPdqList;
    r = Read(header + "\n" + Pdq(1) + ",50\n", options);
    ASSERT_TRUE(r.status.ok()) << header << ": " << r.status.ToString();
    ASSERT_EQ(r.entries.size(), 1u);
  }
  // A short hex typo on the first line is an error, not a header.
  ReadOptions options;
  options.format = Format::kPdqList;
  options.skip_invalid = true;
  Result r = Read("face\n" + Pdq(1) + "\n", options);
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(r.report.invalid, 1u);
  EXPECT_EQ(r.entries.size(), 1u);
}

TEST(ExchangePdqList, Errors) {
  EXPECT_EQ(OnlyError(Pdq(1) + "\n" + Pdq(2) + ",50,x.jpg\n", 2),
            "expected a PDQ hash, optionally followed by ',quality'; found '" + Pdq(2) + ",50,x.jpg'");
  EXPECT_EQ(OnlyError(Pdq(1) + "\n" + Pdq(2) + ",high\n", 2),
            "quality 'high' is not an integer from 0 to 100");
  EXPECT_EQ(
      OnlyError(Pdq(1) + "\n\n" + Pdq(2).substr(1) + "\n", 3),
      "value '" + Pdq(2).substr(1, 40) + "...' (63 bytes) is not a PDQ hash: expected 64 hex digits, got 63");
  std::string nul = Pdq(2);
  nul[5] = '\0';
  EXPECT_EQ(OnlyError(Pdq(1) + "\n" + nul + "\n", 2),
            "value '" + Pdq(2).substr(0, 5) + "\\x00" + Pdq(2).substr(6, 34) +
                "...' (64 bytes) is not a PDQ hash: '\\x00' at position 6 is not a hex digit");
}

// ---- JSON Lines -------------------------------------------------------------

TEST(ExchangeJsonl, ReadsObjects) {
  const std::string text = "{\"type\":\"pdq\",\"value\":\"" + Upper(Pdq(1)) +
                           "\",\"external_id\":\"e1\",\"quality\":70,\"metadata\":{\"z\":1,\"a\":\"b\"}}\r\n"
                           "\n# comment\n"
                           "  {\"value\":\"" +
                           Md5(2) +
                           "\",\"type\":\"MD5\",\"external_id\":12345,\"extra\":[1]}\n"
                           "{\"type\":\"sha256\",\"value\":\"" +
                           Sha(3) + "\",\"external_id\":null,\"metadata\":null}";
  Result r = Read(text);
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(r.report.format, Format::kJsonl);
  ASSERT_EQ(r.entries.size(), 3u);
  EXPECT_EQ(r.entries[0], Make(SignalType::kPdq, Pdq(1), "e1", 70, R"({"a":"b","z":1})"));
  EXPECT_EQ(r.entries[1], Make(SignalType::kMd5, Md5(2), "12345"));
  EXPECT_EQ(r.entries[2], Make(SignalType::kSha256, Sha(3)));
}

TEST(ExchangeJsonl, Errors) {
  const std::string ok = "{\"type\":\"pdq\",\"value\":\"" + Pdq(1) + "\"}\n";
  auto line = [&](const std::string& s) { return OnlyError(ok + s + "\n", 2); };
  EXPECT_EQ(line("{\"type\":\"pdq\"}"), "missing \"value\"");
  EXPECT_EQ(line("{\"value\":\"" + Pdq(2) + "\"}"), "missing \"type\"");
  EXPECT_EQ(line("{\"type\":1,\"value\":\"" + Pdq(2) + "\"}"), "\"type\" must be a string, not number");
  EXPECT_EQ(line("{\"type\":\"pdq\",\"value\":\"abc\"}"),
            "value 'abc' is not a PDQ hash: expected 64 hex digits, got 3");
  EXPECT_EQ(line("{\"type\":\"pdq\",\"value\":\"" + Pdq(2) + "\",\"metadata\":[1]}"),
            "\"metadata\" must be a JSON object, not array");
  EXPECT_EQ(line("{\"type\":\"pdq\",\"value\":\"" + Pdq(2) + "\",\"external_id\":1.5}"),
            "\"external_id\" must be a string, not number");
  EXPECT_EQ(line("{\"type\":\"pdq\",\"value\":\"" + Pdq(2) + "\",\"external_id\":\"a\\u0000b\"}"),
            "external_id holds a NUL character");
  EXPECT_EQ(line("{\"type\":\"pdq\",\"value\":\"" + Pdq(2) + "\",\"quality\":50.5}"),
            "\"quality\" must be an integer from 0 to 100, not '50.5'");
  EXPECT_EQ(line("{\"type\":\"md5\",\"value\":\"" + Md5(2) + "\",\"quality\":50}"),
            "quality is given for a md5 entry; only pdq has one");
  EXPECT_EQ(line("[1,2]"), "expected a JSON object starting with '{', found '[1,2]'");
  EXPECT_EQ(line("{\"type\":\"pdq\",\"value\":\"" + Pdq(2) + "\"} trailing").rfind("not valid JSON: ", 0),
            0u);
  EXPECT_EQ(line("{\"type\":\"pdq\",\"value\":\"" + Pdq(2) + "\",\"external_id\":\"\xff\"}")
                .rfind("not valid JSON", 0),
            0u);
  EXPECT_EQ(line("{\"a\":" + std::string(100000, '[')), "line is longer than 65536 bytes");
  EXPECT_EQ(line("{\"a\":" + std::string(1000, '[') + std::string(1000, ']') + "}"),
            "the JSON nests deeper than 32 levels");
  EXPECT_EQ(line(std::string("{\"type\":\"pdq\"\0}", 15)),
            "the line holds a NUL byte; binary data is not a hash list");
}

// ---- detection and hostile input --------------------------------------------

TEST(ExchangeDetect, FromTheFirstContentLine) {
  EXPECT_EQ(Read("# c\n\n" + Pdq(1) + "\n").report.format, Format::kPdqList);
  EXPECT_EQ(Read("\xEF\xBB\xBF{\"type\":\"pdq\",\"value\":\"" + Pdq(1) + "\"}").report.format,
            Format::kJsonl);
  EXPECT_EQ(Read("\"value\",\"type\"\n").report.format, Format::kCsv);
  // An explicit format overrides detection: a hash line is not a CSV header.
  ReadOptions jsonl;
  jsonl.format = Format::kJsonl;
  Result r = Read(Pdq(1) + "\n", jsonl);
  EXPECT_EQ(r.status.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(r.report.format, Format::kJsonl);
}

TEST(ExchangeDetect, EmptyAndCommentOnlyFilesAreEmptyLists) {
  for (std::string text : {"", "\n\n", "\xEF\xBB\xBF", "# only a comment\r\n#\n", "   \t  "}) {
    Result r = Read(text);
    ASSERT_TRUE(r.status.ok()) << r.status.ToString();
    EXPECT_TRUE(r.entries.empty());
    EXPECT_EQ(r.report.format, Format::kAuto);
  }
}

TEST(ExchangeDetect, UnknownTextIsUnsupported) {
  Result r = Read("# c\nhello world 123\n");
  EXPECT_EQ(r.status.code(), StatusCode::kUnsupportedFormat);
  EXPECT_EQ(
      r.status.message(),
      "line 2: cannot tell the format of the hash list from 'hello world 123': expected a CSV header with "
      "type and value columns, a JSON object, or a 64-digit hex PDQ hash (or give the format explicitly)");
  r = Read("pdq," + Pdq(1) + ",x\n");
  EXPECT_EQ(r.status.code(), StatusCode::kUnsupportedFormat);
  EXPECT_EQ(
      r.status.message(),
      "line 1: this looks like a CSV row without a header: add the line type,value,external_id at the top");
  r = Read("hash\nnot a hash\n");
  EXPECT_EQ(r.status.code(), StatusCode::kUnsupportedFormat);
  EXPECT_EQ(r.report.errors.back().line, 2u);
}

TEST(ExchangeDetect, BinaryFilesAreNamed) {
  const std::string jpeg("\xFF\xD8\xFF\xE0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\n\xFF\xDB",
                         24);
  Result r = Read(jpeg);
  EXPECT_EQ(r.status.code(), StatusCode::kUnsupportedFormat);
  EXPECT_EQ(r.status.message(), "line 1: this is not a hash list: the file looks like a JPEG image");
  r = Read(std::string("\x1F\x8B\x08\x00\x00\x00", 6));
  EXPECT_EQ(r.status.message(),
            "line 1: this is not a hash list: the file looks like gzip-compressed; decompress it first");
  r = Read(std::string("abc\0def\n", 8));
  EXPECT_EQ(r.status.message(), "line 1: this is not a hash list: the file looks like binary data");
  r = Read("\x80\x81\x82\n");
  EXPECT_EQ(r.status.message(),
            "line 1: this is not a hash list: the file looks like binary data (it is not UTF-8 text)");
  // A binary file with no line break in the first 64 KiB.
  std::string blob(200000, '\x01');
  blob.replace(0, 4, "\x89PNG");
  r = Read(blob);
  EXPECT_EQ(r.status.message(), "line 1: this is not a hash list: the file looks like a PNG image");
  blob[0] = 'x';
  r = Read(blob);
  EXPECT_EQ(r.status.code(), StatusCode::kUnsupportedFormat);
  EXPECT_EQ(r.status.message(),
            "line 1: line is longer than 65536 bytes; this does not look like a hash list");
}

TEST(ExchangeDetect, NewerFormatVersionIsRefused) {
  Result r = Read("# safeguard hash list v2\ntype,value\npdq," + Pdq(1) + "\n");
  EXPECT_EQ(r.status.code(), StatusCode::kUnsupportedFormat);
  EXPECT_EQ(r.status.message(),
            "line 1: the list declares format version '2'; this Safeguard reads version 1 (docs/formats.md)");
}

TEST(ExchangeLimits, HugeLines) {
  const std::string huge(1 << 20, 'a');
  // Line-based formats skip the line and go on at the next one.
  Result r = ReadSkipping(Pdq(1) + "\n" + huge + "\n" + Pdq(2) + "\n");
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(r.entries.size(), 2u);
  ASSERT_EQ(r.report.errors.size(), 1u);
  EXPECT_EQ(r.report.errors[0].ToString(), "line 2: line is longer than 65536 bytes");
  EXPECT_EQ(r.report.lines, 3u);
  r = Read(Pdq(1) + "\n" + huge + "\n" + Pdq(2) + "\n");
  EXPECT_EQ(r.status.code(), StatusCode::kInvalidArgument);
  // The last line, without a line break, too.
  r = ReadSkipping(Pdq(1) + "\n" + huge);
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(r.entries.size(), 1u);
  EXPECT_EQ(r.report.invalid, 1u);
  // CSV cannot resynchronise after a cut record.
  r = ReadSkipping("type,value,external_id\npdq," + Pdq(1) + "," + huge + "\npdq," + Pdq(2) + ",x\n");
  EXPECT_EQ(r.status.code(), StatusCode::kTooLarge);
  EXPECT_EQ(r.status.message(),
            "line 2: CSV record is longer than 65536 bytes (is a quote unclosed?); nothing was read");
  EXPECT_TRUE(r.entries.empty());
  // An unclosed quote runs into the record limit long before the end of a big file.
  std::string unclosed = "type,value,external_id\npdq," + Pdq(1) + ",\"oops\n";
  for (int i = 0; i < 5000; ++i) unclosed += "pdq," + Pdq(i) + ",x\n";
  r = ReadSkipping(unclosed);
  EXPECT_EQ(r.status.code(), StatusCode::kTooLarge);
  EXPECT_EQ(r.report.errors.back().line, 2u);
  // A smaller limit applies to every format.
  ReadOptions options;
  options.max_line_bytes = 70;
  options.skip_invalid = true;
  r = Read(Pdq(1) + ",50\n" + Pdq(2) + ",   50\n", options);  // 67 and 70 bytes: both fit
  EXPECT_EQ(r.entries.size(), 2u);
  r = Read(Pdq(1) + ",     50\n", options);  // 72 bytes
  EXPECT_EQ(r.status.code(), StatusCode::kUnsupportedFormat);
}

TEST(ExchangeLimits, MaxEntriesAndOptions) {
  std::string text;
  for (int i = 0; i < 10; ++i) text += Pdq(i) + "\n";
  ReadOptions options;
  options.max_entries = 9;
  Result r = Read(text, options);
  EXPECT_EQ(r.status.code(), StatusCode::kTooLarge);
  EXPECT_EQ(r.status.message(),
            "line 10: the list holds more than 9 entries, the limit for this read; nothing was read");
  EXPECT_TRUE(r.entries.empty());
  options.max_entries = 10;
  EXPECT_TRUE(Read(text, options).status.ok());

  options.max_line_bytes = 0;
  r = Read(text, options);
  EXPECT_EQ(r.status.code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(r.entries.empty());
}

// Random bytes and random mutations of valid lists: any status is fine, but
// it must say what went wrong and a failed read must return nothing.
TEST(ExchangeHostile, RandomInputNeverCrashes) {
  std::mt19937_64 rng(7);
  const std::string valid = "type,value,external_id,quality,metadata\npdq," + Pdq(1) +
                            ",\"a,\"\"b\"\"\",50,\"{\"\"k\"\":1}\"\nmd5," + Md5(2) +
                            ",x,,\n{\"type\":\"pdq\"}\n" + Pdq(3) + ",9\n";
  for (int iter = 0; iter < 3000; ++iter) {
    std::string text;
    if (iter % 2 == 0) {
      text.resize(rng() % 300);
      for (char& c : text) c = static_cast<char>(rng() % 4 == 0 ? "\n\r,\"{#"[rng() % 6] : rng());
    } else {
      text = valid;
      for (int k = 0; k < 4; ++k) text[rng() % text.size()] = static_cast<char>(rng());
    }
    for (Format f : {Format::kAuto, Format::kCsv, Format::kJsonl, Format::kPdqList}) {
      for (bool skip : {false, true}) {
        ReadOptions options;
        options.format = f;
        options.skip_invalid = skip;
        options.max_line_bytes = 100;
        Result r = Read(text, options);
        if (r.status.ok()) {
          if (!skip) {
            EXPECT_EQ(r.report.invalid, 0u);
          }
          EXPECT_EQ(r.entries.size(), r.report.entries);
        } else {
          EXPECT_FALSE(r.status.message().empty());
          EXPECT_TRUE(r.entries.empty());
          EXPECT_FALSE(r.report.errors.empty() && options.max_errors_reported > 0);
        }
      }
    }
  }
}

// ---- files, streams and batches ----------------------------------------------

TEST(ExchangeFiles, MissingFileAndDirectory) {
  std::vector<Entry> out;
  ReadReport report;
  Status s = ReadHashListFile("/nonexistent/list.csv", {}, &out, &report);
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_EQ(s.message(), "hash list /nonexistent/list.csv does not exist");
  ASSERT_EQ(report.errors.size(), 1u);
  EXPECT_EQ(report.errors[0].line, 0u);
  s = ReadHashListFile(std::filesystem::temp_directory_path().string(), {}, &out, &report);
  EXPECT_EQ(s.code(), StatusCode::kIoError);
}

// Lines cross the reader's 1 MiB chunks at every offset within a line: the
// file and string readers must agree with each other and with what was
// written.
TEST(ExchangeFiles, LinesAcrossChunkBoundariesAndStreams) {
  std::vector<Entry> entries;
  for (int i = 0; i < 40000; ++i) {
    entries.push_back(Make(i % 3 == 1 ? SignalType::kMd5 : SignalType::kPdq, i % 3 == 1 ? Md5(i) : Pdq(i),
                           "id-" + std::to_string(i) + std::string(i % 7, 'x')));
  }
  const std::string path = TempPath("chunks.csv");
  ASSERT_TRUE(WriteHashListFile(path, Format::kCsv, entries).ok());
  EXPECT_GT(std::filesystem::file_size(path), 2u << 20);
  std::vector<Entry> from_file;
  ReadReport report;
  Status s = ReadHashListFile(path, {}, &from_file, &report);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(from_file, entries);
  EXPECT_EQ(report.lines, entries.size() + 2);

  std::ifstream in(path, std::ios::binary);
  std::vector<Entry> from_stream;
  ASSERT_TRUE(ReadHashList(in, {}, &from_stream, nullptr).ok());
  EXPECT_EQ(from_stream, entries);

  // Streaming in batches of 1000 hands over every entry once, in order.
  ReadOptions options;
  options.batch_size = 1000;
  std::vector<Entry> streamed;
  size_t batches = 0;
  s = StreamHashListFile(
      path, options,
      [&](std::span<Entry> batch) {
        EXPECT_LE(batch.size(), 1000u);
        ++batches;
        for (Entry& e : batch) streamed.push_back(std::move(e));
        return Status::Ok();
      },
      nullptr);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(batches, 40u);
  EXPECT_EQ(streamed, entries);
  std::remove(path.c_str());
}

TEST(ExchangeStream, SinkErrorsStopTheReadAndNoBatchFollowsABadRecord) {
  std::string text;
  for (int i = 0; i < 100; ++i) text += Pdq(i) + "\n";
  ReadOptions options;
  options.batch_size = 10;
  int calls = 0;
  std::istringstream in(text);
  Status s = StreamHashList(
      in, options,
      [&](std::span<Entry>) { return ++calls == 3 ? Status::IoError("store is full") : Status::Ok(); },
      nullptr);
  EXPECT_EQ(s.code(), StatusCode::kIoError);
  EXPECT_EQ(calls, 3);

  text.insert(text.find('\n', 65 * 25) + 1, "bad\n");  // after line 26
  size_t delivered = 0;
  std::istringstream in2(text);
  ReadReport report;
  s = StreamHashList(
      in2, options,
      [&](std::span<Entry> batch) {
        delivered += batch.size();
        return Status::Ok();
      },
      &report);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(delivered, 20u);
  EXPECT_EQ(report.errors[0].line, 27u);
}

// The examples in docs/formats.md (tests/data/hash_lists) read as documented,
// and the CSV and JSONL examples hold the same entries.
TEST(ExchangeFiles, DocumentedExamples) {
  const std::string dir = std::string(SAFEGUARD_TEST_DATA_DIR) + "/hash_lists/";
  std::vector<Entry> csv, jsonl, plain;
  ReadReport report;
  Status s = ReadHashListFile(dir + "example.csv", {}, &csv, &report);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(report.format, Format::kCsv);
  ASSERT_EQ(csv.size(), 4u);
  EXPECT_EQ(csv[1].ValueHex(), "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210");
  EXPECT_EQ(csv[1].external_id, "example-2, with a comma");
  EXPECT_EQ(csv[1].metadata_json, R"({"source":"example"})");
  EXPECT_EQ(csv[3].external_id, "example-4 \"quoted\"");
  s = ReadHashListFile(dir + "example.jsonl", {}, &jsonl, &report);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(report.format, Format::kJsonl);
  EXPECT_EQ(jsonl, csv);
  s = ReadHashListFile(dir + "example-pdq.txt", {}, &plain, &report);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(report.format, Format::kPdqList);
  ASSERT_EQ(plain.size(), 3u);
  EXPECT_EQ(plain[0].quality, 100);
  EXPECT_EQ(plain[1].value, csv[1].value);
}

// ---- writers ---------------------------------------------------------------

std::vector<Entry> AwkwardEntries() {
  return {
      Make(SignalType::kPdq, Pdq(1), "plain", 100, R"({"list":"a","n":[1,2.5,null]})"),
      Make(SignalType::kPdq, Pdq(2), "comma, \"quotes\" and\nnewline"),
      Make(SignalType::kMd5, Md5(3), "crlf\r\ninside"),
      Make(SignalType::kSha256, Sha(4), "  leading and trailing blanks\t"),
      Make(SignalType::kPdq, Pdq(5), "#looks like a comment", 0),
      Make(SignalType::kPdq, Pdq(6), "", -1, R"({"nested":{"x":"\"y\", z"}})"),
      Make(SignalType::kMd5, Md5(7), "unicode \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"),
      Make(SignalType::kPdq, Pdq(8), "control \x01\x1f chars"),
      Make(SignalType::kSha256, Sha(9), "\""),
  };
}

TEST(ExchangeWrite, CsvAndJsonlRoundTripEverything) {
  const std::vector<Entry> entries = AwkwardEntries();
  for (Format f : {Format::kCsv, Format::kJsonl}) {
    std::ostringstream out;
    ASSERT_TRUE(WriteHashList(out, f, entries).ok());
    Result r = Read(out.str());
    ASSERT_TRUE(r.status.ok()) << FormatName(f) << ": " << r.status.ToString() << "\n" << out.str();
    EXPECT_EQ(r.report.format, f);
    EXPECT_EQ(r.entries, entries) << out.str();
  }
}

TEST(ExchangeWrite, CsvLayout) {
  std::ostringstream out;
  ASSERT_TRUE(
      WriteHashList(out, Format::kCsv, std::vector<Entry>{Make(SignalType::kPdq, Pdq(1), "a,b")}).ok());
  EXPECT_EQ(out.str(), "# safeguard hash list v1\ntype,value,external_id\npdq," + Pdq(1) + ",\"a,b\"\n");
  std::ostringstream empty;
  ASSERT_TRUE(WriteHashList(empty, Format::kCsv, {}).ok());
  EXPECT_EQ(empty.str(), "# safeguard hash list v1\ntype,value,external_id\n");
  std::ostringstream jsonl;
  ASSERT_TRUE(WriteHashList(jsonl, Format::kJsonl, std::vector<Entry>{Make(SignalType::kMd5, Md5(1))}).ok());
  EXPECT_EQ(jsonl.str(), "{\"type\":\"md5\",\"value\":\"" + Md5(1) + "\"}\n");
}

TEST(ExchangeWrite, PlainListKeepsHashAndQuality) {
  std::vector<Entry> entries = {Make(SignalType::kPdq, Pdq(1), "dropped", 77),
                                Make(SignalType::kPdq, Pdq(2))};
  std::ostringstream out;
  ASSERT_TRUE(WriteHashList(out, Format::kPdqList, entries).ok());
  EXPECT_EQ(out.str(), Pdq(1) + ",77\n" + Pdq(2) + "\n");
  Result r = Read(out.str());
  ASSERT_TRUE(r.status.ok());
  entries[0].external_id.clear();
  EXPECT_EQ(r.entries, entries);
}

TEST(ExchangeWrite, RefusesWhatCannotBeReadBack) {
  auto write = [](Format f, const Entry& e) {
    std::ostringstream out;
    return WriteHashList(out, f, std::vector<Entry>{Make(SignalType::kPdq, Pdq(0)), e});
  };
  EXPECT_EQ(write(Format::kPdqList, Make(SignalType::kMd5, Md5(1))).message(),
            "entry 1: a plain PDQ list holds only pdq entries, not md5; write CSV or JSONL instead");
  EXPECT_EQ(write(Format::kCsv, Make(SignalType::kPdq, Pdq(1), "bad\xff")).message(),
            "entry 1: external_id 'bad\\xff' is not valid UTF-8 (byte 4)");
  EXPECT_EQ(write(Format::kJsonl, Make(SignalType::kPdq, Pdq(1), std::string("a\0b", 3))).message(),
            "entry 1: external_id holds a NUL character");
  EXPECT_EQ(write(Format::kCsv, Make(SignalType::kPdq, Pdq(1), "", -1, "[1]")).message(),
            "entry 1: metadata_json is not a JSON object");
  EXPECT_EQ(write(Format::kCsv, Make(SignalType::kPdq, Pdq(1), "", -1, "{")).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(write(Format::kCsv, Make(SignalType::kMd5, Md5(1), "", 50)).message(),
            "entry 1: a md5 entry has a quality; only pdq has one");
  EXPECT_EQ(write(Format::kCsv, Make(SignalType::kPdq, Pdq(1), "", 101)).message(),
            "entry 1: quality 101 is not from 0 to 100 (or -1)");
  EXPECT_EQ(write(Format::kAuto, Make(SignalType::kPdq, Pdq(1))).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(write(Format::kCsv, Make(SignalType::kTmk, Sha(1))).message(),
            "entry 1: a hash list cannot hold tmk signals: a line has a value but no room for their content");
}

TEST(ExchangeWrite, FileIsReplacedWhole) {
  const std::string path = TempPath("whole.jsonl");
  const std::vector<Entry> entries = AwkwardEntries();
  ASSERT_TRUE(WriteHashListFile(path, Format::kJsonl, entries).ok());
  // A failed write leaves the previous list and no temporary file.
  EXPECT_FALSE(WriteHashListFile(path, Format::kPdqList, entries).ok());
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  std::vector<Entry> back;
  ASSERT_TRUE(ReadHashListFile(path, {}, &back, nullptr).ok());
  EXPECT_EQ(back, entries);
  EXPECT_EQ(WriteHashListFile("/nonexistent/dir/list.csv", Format::kCsv, entries).code(),
            StatusCode::kIoError);
  std::remove(path.c_str());
}

// ---- speed -----------------------------------------------------------------

// Prints lines per second for a generated 1M-line CSV list of PDQ hashes
// with short external ids (the shape of a large NGO list), read from a file
// with all-or-nothing semantics, and for the other formats. Not asserted.
TEST(ExchangeSpeed, OneMillionLines) {
  constexpr int kLines = 1'000'000;
  std::vector<Entry> entries;
  entries.reserve(kLines);
  for (int i = 0; i < kLines; ++i) {
    entries.push_back(Make(SignalType::kPdq, Pdq(i), "ext-" + std::to_string(i)));
    if (i % 10 == 0) entries.back().quality = 90;
  }
  for (Format f : {Format::kCsv, Format::kPdqList, Format::kJsonl}) {
    const std::string path = TempPath(std::string("speed.") + std::string(FormatName(f)));
    auto t0 = std::chrono::steady_clock::now();
    ASSERT_TRUE(WriteHashListFile(path, f, entries).ok());
    auto t1 = std::chrono::steady_clock::now();
    std::vector<Entry> back;
    ReadReport report;
    Status s = ReadHashListFile(path, {}, &back, &report);
    auto t2 = std::chrono::steady_clock::now();
    ASSERT_TRUE(s.ok()) << s.ToString();
    ASSERT_EQ(back.size(), entries.size());
    const double write_s = std::chrono::duration<double>(t1 - t0).count();
    const double read_s = std::chrono::duration<double>(t2 - t1).count();
    std::printf(
        "[ speed    ] %-5s %d lines, %.1f MB: read %.3f s (%.2f M lines/s, %.0f MB/s), write %.3f s\n",
        std::string(FormatName(f)).c_str(), kLines, std::filesystem::file_size(path) / 1e6, read_s,
        kLines / read_s / 1e6, std::filesystem::file_size(path) / read_s / 1e6, write_s);
    std::remove(path.c_str());
  }
}

// A bank of video signals has nothing a list line can carry: export refuses
// it before writing a byte, rather than failing half-way.
TEST(ExchangeExport, RefusesABankWithVideoSignals) {
  bank::testing::TempDir dir;
  std::unique_ptr<bank::Store> store;
  SG_ASSERT_OK(bank::Store::OpenSqlite(dir.path(), &store));
  bank::BankSpec spec;
  spec.name = "video";
  SG_ASSERT_OK(store->CreateBank(spec, nullptr));
  std::vector<bank::NewSignal> signals(2);
  signals[0] = bank::testing::MakeSignal(1);
  SG_ASSERT_OK(bank::MakeContentSignal(SignalType::kVpdq, {1, 2, 3}, &signals[1]));
  SG_ASSERT_OK(store->Import("video", signals, nullptr));
  for (Format format : {Format::kCsv, Format::kJsonl, Format::kPdqList}) {
    std::ostringstream out;
    uint64_t written = 9;
    Status s = ExportBank(store.get(), "video", out, format, &written);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(
        s.message(),
        "bank 'video' holds vpdq signals, whose content a hash list cannot hold; it cannot be exported as "
        "a list");
    EXPECT_TRUE(out.str().empty());
    EXPECT_EQ(written, 0u);
  }
}

}  // namespace
}  // namespace safeguard::exchange
