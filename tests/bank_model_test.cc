// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// The bank model's names, hex values and validation rules: these are what a
// user sees when an import file or a bank setting is wrong, so the messages
// are checked as well as the codes.

#include "safeguard/bank/bank.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace safeguard::bank {
namespace {

TEST(BankModel, CategoryNamesRoundTrip) {
  for (Category c :
       {Category::kCsam, Category::kNcii, Category::kTerrorism, Category::kOther, Category::kAllow}) {
    Category parsed = Category::kOther;
    ASSERT_TRUE(ParseCategory(CategoryName(c), &parsed).ok());
    EXPECT_EQ(parsed, c);
  }
  Category parsed;
  Status s = ParseCategory("CSAM", &parsed);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("csam, ncii, terrorism, other, allow"), std::string::npos) << s.message();
}

TEST(BankModel, SignalTypesAndSizes) {
  SignalType t;
  ASSERT_TRUE(ParseSignalType("sha256", &t).ok());
  EXPECT_EQ(t, SignalType::kSha256);
  EXPECT_EQ(SignalValueSize(SignalType::kPdq), 32u);
  EXPECT_EQ(SignalValueSize(SignalType::kMd5), 16u);
  EXPECT_EQ(SignalValueSize(SignalType::kSha256), 32u);
  // The video types: a 32-byte value (the content's SHA-256) plus content.
  ASSERT_TRUE(ParseSignalType("vpdq", &t).ok());
  EXPECT_EQ(t, SignalType::kVpdq);
  ASSERT_TRUE(ParseSignalType("tmk", &t).ok());
  EXPECT_EQ(t, SignalType::kTmk);
  for (SignalType type : kAllSignalTypes) {
    SignalType parsed = SignalType::kPdq;
    ASSERT_TRUE(ParseSignalType(SignalTypeName(type), &parsed).ok()) << SignalTypeName(type);
    EXPECT_EQ(parsed, type);
    EXPECT_EQ(SignalHasContent(type), type == SignalType::kVpdq || type == SignalType::kTmk);
  }
  EXPECT_EQ(SignalValueSize(SignalType::kVpdq), 32u);
  EXPECT_EQ(SignalValueSize(SignalType::kTmk), 32u);
  Status s = ParseSignalType("url", &t);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("pdq, md5, sha256, vpdq, tmk"), std::string::npos) << s.message();
}

TEST(BankModel, ContentSignalRules) {
  // SHA-256("abc"), the FIPS 180-2 test vector.
  const std::string abc_digest = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
  NewSignal sig;
  sig.external_id = "kept";
  ASSERT_TRUE(MakeContentSignal(SignalType::kTmk, {'a', 'b', 'c'}, &sig).ok());
  EXPECT_EQ(sig.type, SignalType::kTmk);
  EXPECT_EQ(SignalValueHex(sig.value), abc_digest);
  EXPECT_EQ(sig.content, (std::vector<uint8_t>{'a', 'b', 'c'}));
  EXPECT_EQ(sig.external_id, "kept");
  EXPECT_TRUE(ValidateNewSignal(sig).ok());

  // MakeContentSignal refuses, and leaves *out alone.
  Status s = MakeContentSignal(SignalType::kPdq, {1, 2, 3}, &sig);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("pdq signals carry no content; only vpdq and tmk signals do"), std::string::npos)
      << s.message();
  s = MakeContentSignal(SignalType::kVpdq, {}, &sig);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("vpdq signal has no content"), std::string::npos) << s.message();
  s = MakeContentSignal(SignalType::kVpdq, std::vector<uint8_t>(kMaxSignalContentBytes + 1), &sig);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("vpdq content is 4194305 bytes; the limit is 4194304"), std::string::npos)
      << s.message();
  EXPECT_EQ(sig.type, SignalType::kTmk);
  EXPECT_EQ(SignalValueHex(sig.value), abc_digest);
  ASSERT_TRUE(
      MakeContentSignal(SignalType::kVpdq, std::vector<uint8_t>(kMaxSignalContentBytes, 9), &sig).ok());
  EXPECT_TRUE(ValidateNewSignal(sig).ok());

  // ValidateNewSignal: the value must be the content's digest.
  ASSERT_TRUE(MakeContentSignal(SignalType::kTmk, {'a', 'b', 'c'}, &sig).ok());
  sig.content.push_back('d');
  s = ValidateNewSignal(sig);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("tmk value " + abc_digest + " is not the SHA-256 of its content (88d4266f"),
            std::string::npos)
      << s.message();
  sig.content.clear();
  s = ValidateNewSignal(sig);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("tmk signal has no content"), std::string::npos) << s.message();

  // And the other types must have none.
  sig.type = SignalType::kSha256;
  sig.content = {1};
  s = ValidateNewSignal(sig);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("sha256 signal has 1 bytes of content; only vpdq and tmk signals carry content"),
            std::string::npos)
      << s.message();
  sig.content.clear();
  EXPECT_TRUE(ValidateNewSignal(sig).ok());
}

TEST(BankModel, HexValuesRoundTripInTextOrder) {
  const std::string hex = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22";
  std::vector<uint8_t> value;
  ASSERT_TRUE(ParseSignalValue(SignalType::kPdq, hex, &value).ok());
  ASSERT_EQ(value.size(), 32u);
  EXPECT_EQ(value[0], 0xf8);  // the first two digits are byte 0
  EXPECT_EQ(value[31], 0x22);
  EXPECT_EQ(SignalValueHex(value), hex);

  std::string upper = "D41D8CD98F00B204E9800998ECF8427E";
  ASSERT_TRUE(ParseSignalValue(SignalType::kMd5, upper, &value).ok());
  EXPECT_EQ(SignalValueHex(value), "d41d8cd98f00b204e9800998ecf8427e");

  Status s = ParseSignalValue(SignalType::kMd5, hex, &value);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("expected 32 hex digits"), std::string::npos) << s.message();
  s = ParseSignalValue(SignalType::kMd5, "d41d8cd98f00b204e9800998ecf8427g", &value);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("not hexadecimal"), std::string::npos) << s.message();
}

TEST(BankModel, BankNames) {
  for (const char* good : {"a", "ncii-stopncii", "CSAM_ncmec.2026", "0", "-", "a..b"}) {
    EXPECT_TRUE(ValidateBankName(good).ok()) << good;
  }
  for (std::string bad :
       {std::string(), std::string("."), std::string(".."), std::string("a b"), std::string("a/b"),
        std::string(65, 'x'), std::string("tab\t"), std::string("\xc3\xa9")}) {
    Status s = ValidateBankName(bad);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << bad;
  }
  // A control character never reaches the message (it may end up in a log).
  Status s = ValidateBankName("evil\nname");
  EXPECT_EQ(s.message().find('\n'), std::string::npos);
}

TEST(BankModel, NewSignalRules) {
  NewSignal sig;
  sig.type = SignalType::kSha256;
  sig.value.assign(32, 7);
  EXPECT_TRUE(ValidateNewSignal(sig).ok());

  sig.value.assign(16, 7);
  Status s = ValidateNewSignal(sig);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("sha256 value is 16 bytes; expected 32"), std::string::npos) << s.message();
  sig.value.assign(32, 7);

  sig.external_id = std::string(kMaxExternalIdBytes, 'e');
  EXPECT_TRUE(ValidateNewSignal(sig).ok());
  sig.external_id += 'e';
  s = ValidateNewSignal(sig);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("external id is 257 bytes; the limit is 256"), std::string::npos) << s.message();
  sig.external_id = std::string("a\0b", 3);
  EXPECT_EQ(ValidateNewSignal(sig).code(), StatusCode::kInvalidArgument);
  sig.external_id = "\xe2\x82";  // truncated UTF-8
  EXPECT_EQ(ValidateNewSignal(sig).code(), StatusCode::kInvalidArgument);
  sig.external_id = "\xed\xa0\x80";  // a UTF-16 surrogate
  EXPECT_EQ(ValidateNewSignal(sig).code(), StatusCode::kInvalidArgument);
  sig.external_id = "ref-\xe2\x82\xac-\xf0\x9f\x98\x80";  // euro sign, emoji
  EXPECT_TRUE(ValidateNewSignal(sig).ok());

  sig.source_version = std::string(300, 'v');
  EXPECT_EQ(ValidateNewSignal(sig).code(), StatusCode::kInvalidArgument);
  sig.source_version = "v1";

  for (const char* good : {"", "{}", "[1,2]", "\"text\"", "{\"a\": {\"b\": null}}"}) {
    sig.metadata_json = good;
    EXPECT_TRUE(ValidateNewSignal(sig).ok()) << good;
  }
  for (const char* bad : {"{", "{} {}", "{'a': 1}", "nul"}) {
    sig.metadata_json = bad;
    EXPECT_EQ(ValidateNewSignal(sig).code(), StatusCode::kInvalidArgument) << bad;
  }
  sig.metadata_json = "\"" + std::string(kMaxMetadataBytes, 'm') + "\"";
  EXPECT_EQ(ValidateNewSignal(sig).code(), StatusCode::kTooLarge);
}

TEST(BankModel, BankSpecAndCheckpointRules) {
  BankSpec spec;
  spec.name = "b";
  EXPECT_TRUE(ValidateBankSpec(spec).ok());
  spec.pdq_distance = 63;
  EXPECT_TRUE(ValidateBankSpec(spec).ok());
  spec.pdq_distance = 64;
  EXPECT_EQ(ValidateBankSpec(spec).code(), StatusCode::kInvalidArgument);
  spec.pdq_distance = 31;
  spec.source = "stop ncii";
  EXPECT_EQ(ValidateBankSpec(spec).code(), StatusCode::kInvalidArgument);

  EXPECT_TRUE(ValidateCheckpoint("since", "").ok());
  EXPECT_EQ(ValidateCheckpoint("", "v").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateCheckpoint(std::string(129, 'k'), "v").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateCheckpoint("k", std::string(kMaxCheckpointValueBytes + 1, 'v')).code(),
            StatusCode::kTooLarge);
}

}  // namespace
}  // namespace safeguard::bank
