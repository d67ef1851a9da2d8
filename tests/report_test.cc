// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// The reports half of the report block (docs/reports.md):
//  - the NCA report document: fields, validation, the priority rule and the
//    "not_available" list;
//  - the CyberTipline client against a fake CyberTipline on 127.0.0.1
//    (cpp-httplib) that follows NCMEC's documented protocol: basic auth,
//    XML <report> and <fileDetails> checked element by element and in
//    schema order, multipart uploads, report ids, finish and retract, and
//    the failures a real service produces;
//  - the report ledger on real SQLite files.
// The "evidence" uploaded is a benign photo of a flower from
// ../shared/media and made-up byte strings; every hash is of those bytes or
// made up.

#include <gtest/gtest.h>
#include <httplib.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <pugixml.hpp>
#include <string>
#include <thread>
#include <vector>

#include "common/sqlite.h"
#include "fake_cybertipline.h"
#include "safeguard/hash/digest.h"
#include "safeguard/report/cybertipline.h"
#include "safeguard/report/nca_report.h"
#include "safeguard/report/report_ledger.h"

namespace safeguard::report {
namespace {

using testing::AsBytes;
using testing::FakeCyberTipline;
using testing::FakeReport;
using testing::kPassword;
using testing::kUser;

namespace fs = std::filesystem;
using nlohmann::json;

constexpr int64_t kDayMs = int64_t{24} * 3600 * 1000;
// 2026-04-12T13:20:00Z, after the UK regulations came into force.
constexpr int64_t kNow = 1'776'000'000'000;

const std::string kShaA = std::string(32, 'a') + std::string(32, '1');
const std::string kShaB = std::string(32, 'b') + std::string(32, '2');

std::vector<uint8_t> ReadPhoto() {
  const std::string path = std::string(SAFEGUARD_SHARED_DIR) + "/media/photos/python3-sklearn/flower.jpg";
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "missing benign test photo " << path;
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// ============================================================================
// The NCA report document
// ============================================================================

NcaReportInput FullInput() {
  NcaReportInput in;
  in.service_name = "Example Photos";
  in.reporter = {.name = "Trust & Safety, Example Ltd", .contact = "safety@example.org"};
  in.case_id = 42;
  in.content.sha256 = std::string(64, 'A');
  in.content.pdq = std::string(64, 'f');
  in.content.media_type = "image/jpeg";
  in.content.size = 12345;
  in.content.evidence_item_id = "ev_0123456789abcdef0123456789abcdef";
  in.content.url = "https://photos.example.org/p/123";
  in.content.ai_generated = false;
  in.content.metadata = {{"Make", "ExampleCam"}, {"DateTimeOriginal", "2026:04:01 10:00:00"}};
  in.detection = {.method = "hash_match",
                  .bank = "ncmec-csam",
                  .list_source = "NCMEC hash sharing",
                  .distance = 6,
                  .moderator_confirmed = true,
                  .detected_ms = kNow};
  in.upload = {.uploaded_ms = kNow - 2 * kDayMs, .ip_address = "203.0.113.7", .port = 51234};
  in.account = {.account_id = "u-998", .username = "example_user", .email = "user@example.net"};
  in.reach = 12;
  in.moderator_notes = "Account also posted two other matched files (cases 40 and 41).";
  return in;
}

json Build(const NcaReportInput& in) {
  std::string text;
  Status s = BuildNcaReport(in, &text);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return json::parse(text);
}

TEST(NcaReport, FullInputFillsEveryScheduleOneField) {
  const json j = Build(FullInput());
  EXPECT_EQ(j["format"], "safeguard.nca_report");
  EXPECT_EQ(j["version"], kNcaReportVersion);
  EXPECT_NE(j["legal_basis"].get<std::string>().find("SI 2026/268"), std::string::npos);
  EXPECT_EQ(j["service"]["name"], "Example Photos");
  EXPECT_EQ(j["reporter"]["name"], "Trust & Safety, Example Ltd");
  EXPECT_EQ(j["reporter"]["contact"], "safety@example.org");
  EXPECT_EQ(j["case_id"], 42);
  // Hashes are normalised to lowercase.
  EXPECT_EQ(j["content"]["sha256"], std::string(64, 'a'));
  EXPECT_EQ(j["content"]["pdq"], std::string(64, 'f'));
  EXPECT_EQ(j["content"]["media_type"], "image/jpeg");
  EXPECT_EQ(j["content"]["size_bytes"], 12345);
  EXPECT_EQ(j["content"]["evidence_item_id"], "ev_0123456789abcdef0123456789abcdef");
  EXPECT_EQ(j["content"]["url"], "https://photos.example.org/p/123");
  EXPECT_EQ(j["content"]["ai_generated"], false);
  EXPECT_EQ(j["content"]["metadata"]["Make"], "ExampleCam");
  EXPECT_EQ(j["detection"]["method"], "hash_match");
  EXPECT_EQ(j["detection"]["detected_at"], "2026-04-12T13:20:00.000Z");
  EXPECT_EQ(j["detection"]["moderator_confirmed"], true);
  EXPECT_EQ(j["detection"]["hash_match"]["bank"], "ncmec-csam");
  EXPECT_EQ(j["detection"]["hash_match"]["list_source"], "NCMEC hash sharing");
  EXPECT_EQ(j["detection"]["hash_match"]["distance"], 6);
  EXPECT_EQ(j["upload"]["uploaded_at"], "2026-04-10T13:20:00.000Z");
  EXPECT_EQ(j["upload"]["ip_address"], "203.0.113.7");
  EXPECT_EQ(j["upload"]["port"], 51234);
  EXPECT_EQ(j["user"]["account_id"], "u-998");
  EXPECT_EQ(j["user"]["username"], "example_user");
  EXPECT_EQ(j["user"]["email"], "user@example.net");
  EXPECT_EQ(j["moderator_notes"], "Account also posted two other matched files (cases 40 and 41).");
  // Known-list match uploaded two days before detection: priority 2.
  EXPECT_EQ(j["priority"]["level"], 2);
  EXPECT_EQ(j["priority"]["reason"].get<std::string>().rfind("known_recent", 0), 0u);
  EXPECT_TRUE(j["not_available"].empty()) << j["not_available"].dump();
}

TEST(NcaReport, MinimalInputNamesEveryMissingItemInNotAvailable) {
  NcaReportInput in;
  in.service_name = "Example Photos";
  in.content.sha256 = kShaA;
  in.detection.method = "hash_match";
  in.detection.detected_ms = kNow;
  const json j = Build(in);
  const std::vector<std::string> expected = {"reporter.name",
                                             "reporter.contact",
                                             "case_id",
                                             "content.pdq",
                                             "content.media_type",
                                             "content.size_bytes",
                                             "content.evidence_item_id",
                                             "content.url",
                                             "content.ai_generated",
                                             "content.metadata",
                                             "detection.hash_match.bank",
                                             "detection.hash_match.list_source",
                                             "detection.hash_match.distance",
                                             "upload.uploaded_at",
                                             "upload.ip_address",
                                             "upload.port",
                                             "user.account_id",
                                             "user.username",
                                             "user.email"};
  EXPECT_EQ(j["not_available"].get<std::vector<std::string>>(), expected);
  // Absent items are left out, not written as empty strings.
  EXPECT_FALSE(j["content"].contains("pdq"));
  EXPECT_FALSE(j["upload"].contains("ip_address"));
  EXPECT_TRUE(j["user"].empty());
  EXPECT_FALSE(j.contains("case_id"));
  // Required items are there.
  EXPECT_EQ(j["content"]["sha256"], kShaA);
  EXPECT_EQ(j["detection"]["detected_at"], "2026-04-12T13:20:00.000Z");
}

TEST(NcaReport, ClassifierDetectionHasNoHashMatchBlock) {
  NcaReportInput in = FullInput();
  in.detection.method = "classifier";
  const json j = Build(in);
  EXPECT_FALSE(j["detection"].contains("hash_match"));
  for (const auto& item : j["not_available"]) {
    EXPECT_EQ(item.get<std::string>().find("hash_match"), std::string::npos) << item;
  }
}

TEST(NcaReport, MissingRequiredFieldsAreRefusedByName) {
  struct Case {
    void (*clear)(NcaReportInput*);
    const char* field;
  };
  const Case cases[] = {
      {[](NcaReportInput* in) { in->service_name.clear(); }, "service.name"},
      {[](NcaReportInput* in) { in->content.sha256.clear(); }, "content.sha256"},
      {[](NcaReportInput* in) { in->detection.method.clear(); }, "detection.method"},
      {[](NcaReportInput* in) { in->detection.detected_ms = 0; }, "detection.detected_at"},
  };
  for (const Case& c : cases) {
    NcaReportInput in = FullInput();
    c.clear(&in);
    std::string out = "stale";
    Status s = BuildNcaReport(in, &out);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << c.field;
    EXPECT_NE(s.message().find(c.field), std::string::npos) << s.message();
    EXPECT_NE(s.message().find("required"), std::string::npos) << s.message();
    EXPECT_TRUE(out.empty()) << "no half-built report on error";
  }
}

TEST(NcaReport, MalformedFieldsAreRefusedByName) {
  struct Case {
    void (*spoil)(NcaReportInput*);
    const char* field;
  };
  const Case cases[] = {
      {[](NcaReportInput* in) { in->content.sha256 = "abc"; }, "content.sha256"},
      {[](NcaReportInput* in) { in->content.pdq = std::string(63, '0'); }, "content.pdq"},
      {[](NcaReportInput* in) { in->detection.method = "guess"; }, "detection.method"},
      {[](NcaReportInput* in) { in->upload.ip_address = "203.0.113.999"; }, "upload.ip_address"},
      {[](NcaReportInput* in) { in->upload.port = 70000; }, "upload.port"},
      {[](NcaReportInput* in) { in->content.url = "ftp://example.org/x"; }, "content.url"},
      {[](NcaReportInput* in) { in->upload.uploaded_ms = kNow + 1000; }, "upload.uploaded_at"},
      {[](NcaReportInput* in) { in->account.email = "no-at-sign"; }, "user.email"},
      {[](NcaReportInput* in) { in->account.username = std::string("bad\xff\xfe", 5); }, "user.username"},
      {[](NcaReportInput* in) { in->detection.distance = 300; }, "detection.hash_match.distance"},
  };
  for (const Case& c : cases) {
    NcaReportInput in = FullInput();
    c.spoil(&in);
    std::string out;
    Status s = BuildNcaReport(in, &out);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << c.field;
    EXPECT_NE(s.message().find(c.field), std::string::npos) << s.message();
  }
  // IPv6 is an IP address too.
  NcaReportInput v6 = FullInput();
  v6.upload.ip_address = "2001:db8::7";
  EXPECT_EQ(Build(v6)["upload"]["ip_address"], "2001:db8::7");
}

TEST(NcaPriority, FollowsTheDocumentedRuleInOrder) {
  const NcaPriorityOptions opts;
  std::string why;
  NcaReportInput known = FullInput();  // hash_match, uploaded 2 days before detection, reach 12

  EXPECT_EQ(NcaPriority(known, opts, &why), 2);

  NcaReportInput old_known = known;
  old_known.upload.uploaded_ms = kNow - 30 * kDayMs;
  EXPECT_EQ(NcaPriority(old_known, opts, &why), 3);
  EXPECT_EQ(why.rfind("other", 0), 0u);

  NcaReportInput widely_shared = old_known;
  widely_shared.reach = 5000;
  EXPECT_EQ(NcaPriority(widely_shared, opts, &why), 2);
  EXPECT_EQ(why.rfind("known_high_reach", 0), 0u);

  NcaReportInput unknown_times = known;
  unknown_times.upload.uploaded_ms = 0;
  unknown_times.reach = -1;
  EXPECT_EQ(NcaPriority(unknown_times, opts, &why), 3) << "unknown is not recent";

  // Any indication of risk to a child comes first, even for old known material.
  NcaReportInput at_risk = old_known;
  at_risk.risk_to_child = true;
  EXPECT_EQ(NcaPriority(at_risk, opts, &why), 1);
  EXPECT_EQ(why.rfind("risk_to_child", 0), 0u);

  // Unmatched content a moderator confirmed: possibly first-generation.
  NcaReportInput first_gen = old_known;
  first_gen.detection.method = "classifier";
  first_gen.detection.moderator_confirmed = true;
  EXPECT_EQ(NcaPriority(first_gen, opts, &why), 1);
  EXPECT_EQ(why.rfind("unmatched_confirmed", 0), 0u);
  first_gen.detection.method = "user_report";
  EXPECT_EQ(NcaPriority(first_gen, opts, &why), 1);

  // ... but not before a moderator confirmed it.
  NcaReportInput unconfirmed = first_gen;
  unconfirmed.detection.moderator_confirmed = false;
  EXPECT_EQ(NcaPriority(unconfirmed, opts, &why), 3);

  // The thresholds are options.
  NcaPriorityOptions strict;
  strict.recent_upload_days = 1;
  strict.high_reach = 100000;
  EXPECT_EQ(NcaPriority(known, strict, nullptr), 3);

  // The document carries the same priority.
  EXPECT_EQ(Build(at_risk)["priority"]["level"], 1);
  EXPECT_EQ(Build(old_known)["priority"]["level"], 3);
  EXPECT_EQ(Build(at_risk)["risk_to_child"], true);
}

class CyberTiplineTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(fake_.started()); }

  CyberTiplineClient Client(std::string password = kPassword, int timeout_ms = 10000) {
    return CyberTiplineClient({.base_url = fake_.base(),
                               .username = kUser,
                               .password = std::move(password),
                               .timeout_ms = timeout_ms,
                               .clock_ms = [] { return kNow; }});
  }

  static CyberTiplineReport Report() {
    CyberTiplineReport r;
    r.incident_ms = kNow - kDayMs;
    r.web_page_url = "https://photos.example.org/p/123";
    r.reporting_person = {
        .first_name = "Sam", .last_name = "Safety", .phone = "", .email = "safety@example.org"};
    r.contact_person = {
        .first_name = "", .last_name = "", .phone = "+44 20 7946 0000", .email = "le-liaison@example.org"};
    r.company_template = "Example Photos";
    r.legal_url = "https://example.org/legal";
    r.esp_identifier = "u-998";
    r.esp_service = "Example Photos";
    r.screen_name = "example_user";
    r.reported_email = "user@example.net";
    r.reported_ip_events = {{.ip_address = "203.0.113.7",
                             .event_name = "Upload",
                             .time_ms = kNow - kDayMs,
                             .possible_proxy = false,
                             .port = 51234}};
    r.additional_info = "Matched a known hash list; confirmed by a moderator & escalated <internally>.";
    return r;
  }

  static CyberTiplineFileDetails Details(bool generative_ai) {
    CyberTiplineFileDetails d;
    d.original_file_name = "IMG_0001.jpg";
    d.location_of_file = "https://photos.example.org/f/IMG_0001.jpg";
    d.file_viewed_by_esp = true;
    d.exif_viewed_by_esp = true;
    d.publicly_available = false;
    d.file_relevance = "Reported";
    d.generative_ai = generative_ai;
    d.industry_classification = "B2";
    d.original_file_hashes = {{"SHA256", kShaA}};
    d.ip_events = {{.ip_address = "2001:db8::7",
                    .event_name = "Upload",
                    .time_ms = kNow - kDayMs,
                    .possible_proxy = std::nullopt,
                    .port = 0}};
    d.details = {{"EXIF", "Make", "ExampleCam"}, {"HASH", "PDQ", std::string(64, 'f')}};
    d.additional_info = {"Uploaded from the mobile app."};
    return d;
  }

  FakeCyberTipline fake_;
};

TEST_F(CyberTiplineTest, StatusChecksTheCredentials) {
  std::string description;
  Status s = Client().CheckStatus(&description);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_NE(description.find("Remote User : esp-test-user"), std::string::npos) << description;

  s = Client("wrong-password").CheckStatus(&description);
  EXPECT_EQ(s.code(), StatusCode::kPermissionDenied) << s.ToString();
  EXPECT_NE(s.message().find("username and password"), std::string::npos) << s.message();
  EXPECT_EQ(s.message().find("wrong-password"), std::string::npos) << "credentials never in messages";
}

TEST_F(CyberTiplineTest, SendReportRunsSubmitUploadFileInfoFinish) {
  const std::vector<uint8_t> photo = ReadPhoto();
  ASSERT_GT(photo.size(), 1000u);
  const std::string other = "BENIGN-SECOND-FILE-0123456789";
  std::vector<CyberTiplineFile> files = {
      {.file_name = "IMG_0001.jpg", .bytes = photo, .details = Details(/*generative_ai=*/true)},
      {.file_name = "note.txt", .bytes = AsBytes(other), .details = Details(/*generative_ai=*/false)},
  };
  CyberTiplineResult result;
  Status s = Client().SendReport(Report(), files, &result);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(result.report_id, "4564654");
  EXPECT_FALSE(result.retracted);
  ASSERT_EQ(result.file_ids.size(), 2u);

  const FakeReport r = fake_.report(result.report_id);
  EXPECT_TRUE(r.finished);
  EXPECT_FALSE(r.retracted);
  EXPECT_EQ(r.file_ids, result.file_ids);
  // The bytes arrived intact, under the names given.
  EXPECT_EQ(r.file_md5.at(result.file_ids[0]), hash::ToHex(hash::Md5(photo)));
  EXPECT_EQ(r.file_md5.at(result.file_ids[1]), hash::ToHex(hash::Md5(AsBytes(other))));
  EXPECT_EQ(r.file_names.at(result.file_ids[0]), "IMG_0001.jpg");
  // The generativeAi annotation reached /fileinfo for the first file only.
  EXPECT_TRUE(r.generative_ai.at(result.file_ids[0]));
  EXPECT_FALSE(r.generative_ai.at(result.file_ids[1]));

  // The submitted report carries what was given, XML-escaped and readable.
  pugi::xml_document doc;
  ASSERT_TRUE(doc.load_string(r.xml.c_str()));
  const pugi::xml_node report = doc.child("report");
  EXPECT_STREQ(report.child("incidentSummary").child_value("incidentDateTime"), "2026-04-11T13:20:00Z");
  EXPECT_STREQ(report.child("internetDetails").child("webPageIncident").child_value("url"),
               "https://photos.example.org/p/123");
  EXPECT_STREQ(report.child("reporter").child("contactPerson").child_value("phone"), "+44 20 7946 0000");
  const pugi::xml_node person = report.child("personOrUserReported");
  EXPECT_STREQ(person.child_value("espIdentifier"), "u-998");
  EXPECT_STREQ(person.child_value("screenName"), "example_user");
  EXPECT_STREQ(person.child("personOrUserReportedPerson").child_value("email"), "user@example.net");
  EXPECT_STREQ(person.child("ipCaptureEvent").child_value("ipAddress"), "203.0.113.7");
  EXPECT_STREQ(person.child("ipCaptureEvent").child_value("port"), "51234");
  EXPECT_STREQ(person.child("ipCaptureEvent").child_value("possibleProxy"), "false");
  EXPECT_STREQ(report.child_value("additionalInfo"),
               "Matched a known hash list; confirmed by a moderator & escalated <internally>.");

  // The file details as sent for the first file.
  pugi::xml_document fd;
  ASSERT_TRUE(fd.load_string(r.fileinfo_xml.at(result.file_ids[0]).c_str()));
  const pugi::xml_node d = fd.child("fileDetails");
  EXPECT_STREQ(d.child_value("reportId"), "4564654");
  EXPECT_STREQ(d.child_value("originalFileName"), "IMG_0001.jpg");
  EXPECT_STREQ(d.child_value("fileViewedByEsp"), "true");
  EXPECT_STREQ(d.child_value("publiclyAvailable"), "false");
  EXPECT_STREQ(d.child_value("industryClassification"), "B2");
  EXPECT_STREQ(d.child("originalFileHash").attribute("hashType").value(), "SHA256");
  EXPECT_STREQ(d.child("details").attribute("type").value(), "EXIF");
  EXPECT_STREQ(d.child("details").child("nameValuePair").child_value("name"), "Make");
  EXPECT_STREQ(d.child("ipCaptureEvent").child_value("ipAddress"), "2001:db8::7");
}

TEST_F(CyberTiplineTest, StepByStepThenRetract) {
  const CyberTiplineClient client = Client();
  std::string id;
  ASSERT_TRUE(client.Submit(Report(), &id).ok());
  std::string file_id;
  const std::string bytes = "BENIGN-BYTES-FOR-A-RETRACTED-REPORT";
  ASSERT_TRUE(client.Upload(id, "a.bin", AsBytes(bytes), &file_id).ok());
  EXPECT_FALSE(file_id.empty());
  ASSERT_TRUE(client.FileInfo(id, file_id, Details(/*generative_ai=*/false)).ok());
  Status s = client.Retract(id);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_TRUE(fake_.report(id).retracted);
  EXPECT_FALSE(fake_.report(id).finished);
  // A retracted report is gone: finishing it is NCMEC's 5001.
  s = client.Finish(id, nullptr);
  EXPECT_EQ(s.code(), StatusCode::kNotFound) << s.ToString();
  EXPECT_NE(s.message().find("5001"), std::string::npos) << s.message();
}

TEST_F(CyberTiplineTest, FinishedReportCannotBeRetracted) {
  const CyberTiplineClient client = Client();
  std::string id;
  ASSERT_TRUE(client.Submit(Report(), &id).ok());
  std::vector<std::string> files = {"stale"};
  ASSERT_TRUE(client.Finish(id, &files).ok());
  EXPECT_TRUE(files.empty()) << "a report without files lists none";
  Status s = client.Retract(id);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
  EXPECT_NE(s.message().find("5102"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("already finished"), std::string::npos) << s.message();
  EXPECT_TRUE(fake_.report(id).finished);
  EXPECT_FALSE(fake_.report(id).retracted);
}

TEST_F(CyberTiplineTest, ErrorAnswersBecomeClearStatuses) {
  std::string id = "stale";
  fake_.submit_code = kCyberTiplineValidationFailed;
  Status s = Client().Submit(Report(), &id);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
  EXPECT_NE(s.message().find("responseCode 4100"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("Validation failed: injected"), std::string::npos) << s.message();
  EXPECT_TRUE(id.empty());

  fake_.submit_code = kCyberTiplineServerError;
  s = Client().Submit(Report(), &id);
  EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s.ToString();
  EXPECT_NE(s.message().find("1000"), std::string::npos) << s.message();

  fake_.submit_code = kCyberTiplineNotAuthorized;
  s = Client().Submit(Report(), &id);
  EXPECT_EQ(s.code(), StatusCode::kPermissionDenied) << s.ToString();
  fake_.submit_code = 0;

  s = Client("not-the-password").Submit(Report(), &id);
  EXPECT_EQ(s.code(), StatusCode::kPermissionDenied) << s.ToString();
  EXPECT_NE(s.message().find("HTTP 401"), std::string::npos) << s.message();

  fake_.submit_http = 500;
  s = Client().Submit(Report(), &id);
  EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s.ToString();
  EXPECT_NE(s.message().find("HTTP 500"), std::string::npos) << s.message();
  fake_.submit_http = 0;

  fake_.submit_malformed = true;
  s = Client().Submit(Report(), &id);
  EXPECT_EQ(s.code(), StatusCode::kCorrupt) << s.ToString();
  EXPECT_NE(s.message().find("not XML"), std::string::npos) << s.message();
  fake_.submit_malformed = false;

  fake_.submit_delay_ms = 1500;
  const auto start = std::chrono::steady_clock::now();
  s = Client(kPassword, /*timeout_ms=*/300).Submit(Report(), &id);
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s.ToString();
  EXPECT_NE(s.message().find("timed out"), std::string::npos) << s.message();
  EXPECT_LT(took, std::chrono::milliseconds(1400)) << "the timeout, not the server, ended the call";
  fake_.submit_delay_ms = 0;

  // Nothing was opened at NCMEC by any of these (the slow one may have been).
  EXPECT_LE(fake_.report_count(), 1u);
}

TEST_F(CyberTiplineTest, SendReportRetractsAfterAnUploadFailure) {
  // A benign marker: the fake echoes the upload back in its error body, and
  // no byte of a file may reach an error message.
  const std::string marker = "BENIGN-MARKER-BYTES-7f3a";
  fake_.upload_http = 502;
  std::vector<CyberTiplineFile> files = {
      {.file_name = "x.bin", .bytes = AsBytes(marker), .details = Details(false)}};
  CyberTiplineResult result;
  Status s = Client().SendReport(Report(), files, &result);
  EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s.ToString();
  EXPECT_NE(s.message().find("/upload"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("was retracted"), std::string::npos) << s.message();
  EXPECT_EQ(s.message().find(marker), std::string::npos) << "file content leaked into: " << s.message();
  ASSERT_FALSE(result.report_id.empty());
  EXPECT_TRUE(result.retracted);
  EXPECT_TRUE(fake_.report(result.report_id).retracted);
  EXPECT_FALSE(fake_.report(result.report_id).finished);
  EXPECT_EQ(fake_.retract_calls(), 1);
}

TEST_F(CyberTiplineTest, SendReportRetractsAfterAFileInfoRefusal) {
  CyberTiplineFileDetails bad = Details(false);
  bad.exif_viewed_by_esp = true;
  bad.file_viewed_by_esp = false;  // NCMEC's rule: refused before sending
  const std::vector<uint8_t> photo = ReadPhoto();
  std::vector<CyberTiplineFile> files = {{.file_name = "flower.jpg", .bytes = photo, .details = bad}};
  CyberTiplineResult result;
  Status s = Client().SendReport(Report(), files, &result);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
  EXPECT_NE(s.message().find("fileViewedByEsp"), std::string::npos) << s.message();
  EXPECT_TRUE(result.retracted);
  EXPECT_TRUE(fake_.report(result.report_id).retracted);
}

TEST_F(CyberTiplineTest, LostFinishAnswerIsRecognisedAsFinished) {
  fake_.finish_lose_answer = true;
  const std::vector<uint8_t> photo = ReadPhoto();
  std::vector<CyberTiplineFile> files = {
      {.file_name = "flower.jpg", .bytes = photo, .details = Details(true)}};
  CyberTiplineResult result;
  Status s = Client().SendReport(Report(), files, &result);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_FALSE(result.retracted);
  EXPECT_EQ(fake_.retract_calls(), 1) << "the retraction asked, and NCMEC said 5102";
  EXPECT_TRUE(fake_.report(result.report_id).finished);
  EXPECT_EQ(result.file_ids, fake_.report(result.report_id).file_ids);
}

TEST_F(CyberTiplineTest, UploadChecksNcmecsMd5) {
  fake_.upload_wrong_hash = true;
  const CyberTiplineClient client = Client();
  std::string id, file_id;
  ASSERT_TRUE(client.Submit(Report(), &id).ok());
  Status s = client.Upload(id, "flower.jpg", ReadPhoto(), &file_id);
  EXPECT_EQ(s.code(), StatusCode::kCorrupt) << s.ToString();
  EXPECT_NE(s.message().find("MD5"), std::string::npos) << s.message();
  EXPECT_TRUE(file_id.empty());
}

TEST_F(CyberTiplineTest, RefusesBadInputWithoutCallingNcmec) {
  std::string id;
  CyberTiplineReport future = Report();
  future.incident_ms = kNow + kDayMs;
  Status s = Client().Submit(future, &id);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("future"), std::string::npos) << s.message();

  CyberTiplineReport no_email = Report();
  no_email.reporting_person.email.clear();
  s = Client().Submit(no_email, &id);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("reportingPerson.email"), std::string::npos) << s.message();

  CyberTiplineReport control = Report();
  control.screen_name = std::string("a\x01z");
  s = Client().Submit(control, &id);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("screenName"), std::string::npos) << s.message();

  CyberTiplineReport bad_event = Report();
  bad_event.reported_ip_events[0].event_name = "Sometime";
  s = Client().Submit(bad_event, &id);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);

  std::string file_id;
  s = Client().Upload("12a", "x.bin", AsBytes("BENIGN"), &file_id);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  s = Client().Upload("1", "bad\"name", AsBytes("BENIGN"), &file_id);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);

  // Plain http only to this machine; credentials are required.
  CyberTiplineClient::Options remote;
  remote.base_url = "http://report.example.org/ispws";
  remote.username = kUser;
  remote.password = kPassword;
  CyberTiplineClient remote_http(remote);
  s = remote_http.CheckStatus(nullptr);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("https://"), std::string::npos) << s.message();
  CyberTiplineClient::Options unset = remote;
  unset.base_url = fake_.base();
  unset.password.clear();
  CyberTiplineClient no_password(unset);
  s = no_password.CheckStatus(nullptr);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);

  EXPECT_EQ(fake_.report_count(), 0u) << "nothing reached the fake";
}

TEST(CyberTiplineXml, FileDetailsRulesAndOrder) {
  std::string xml;
  CyberTiplineFileDetails d;
  d.generative_ai = true;
  d.viral = true;
  ASSERT_TRUE(BuildCyberTiplineFileDetailsXml("4564654", "abc", d, &xml).ok());
  pugi::xml_document doc;
  ASSERT_TRUE(doc.load_string(xml.c_str()));
  const pugi::xml_node tags = doc.child("fileDetails").child("fileAnnotations");
  ASSERT_TRUE(tags);
  EXPECT_STREQ(tags.first_child().name(), "viral");
  EXPECT_STREQ(tags.last_child().name(), "generativeAi");
  EXPECT_EQ(xml.rfind("<?xml version=\"1.0\" encoding=\"UTF-8\"?>", 0), 0u) << xml;

  CyberTiplineFileDetails supplemental;
  supplemental.file_relevance = "Supplemental Reported";
  supplemental.industry_classification = "A1";
  EXPECT_EQ(BuildCyberTiplineFileDetailsXml("1", "abc", supplemental, &xml).code(),
            StatusCode::kInvalidArgument);
  CyberTiplineFileDetails bad_class;
  bad_class.industry_classification = "C3";
  EXPECT_EQ(BuildCyberTiplineFileDetailsXml("1", "abc", bad_class, &xml).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(BuildCyberTiplineFileDetailsXml("1", "", CyberTiplineFileDetails(), &xml).code(),
            StatusCode::kInvalidArgument);
  EXPECT_TRUE(xml.empty());
}

// ============================================================================
// The report ledger
// ============================================================================

class ReportLedgerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static std::atomic<int> counter{0};
    dir_ = fs::temp_directory_path() /
           ("sg-report-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    Reopen();
  }
  void TearDown() override {
    ledger_.reset();
    conn_.reset();
    fs::remove_all(dir_);
  }
  void Reopen() {
    ledger_.reset();
    conn_.reset();
    ASSERT_TRUE(sqlite::Conn::Open((dir_ / "service.db").string(), /*create=*/true, 4, &conn_).ok());
    Status s = ReportLedger::Open(
        conn_.get(), [this] { return now_ms_; }, &ledger_);
    ASSERT_TRUE(s.ok()) << s.ToString();
  }

  fs::path dir_;
  std::unique_ptr<sqlite::Conn> conn_;
  std::unique_ptr<ReportLedger> ledger_;
  int64_t now_ms_ = kNow;
};

TEST_F(ReportLedgerTest, RecordThenSentIsFinal) {
  ReportRecord r;
  ASSERT_TRUE(ledger_->Record(7, kDestinationNcmec, kShaA, 0, &r).ok());
  EXPECT_GT(r.id, 0);
  EXPECT_EQ(r.state, "pending");
  EXPECT_EQ(r.created_ms, kNow);
  bool reported = false;
  ASSERT_TRUE(ledger_->ReportedTo(kShaA, "ncmec", &reported).ok());
  EXPECT_TRUE(reported) << "pending counts as reported";
  ASSERT_TRUE(ledger_->ReportedTo(kShaA, "nca", &reported).ok());
  EXPECT_FALSE(reported);

  now_ms_ += 5000;
  ASSERT_TRUE(ledger_->MarkSent(r.id, "4564654").ok());
  ReportRecord got;
  ASSERT_TRUE(ledger_->Get(r.id, &got).ok());
  EXPECT_EQ(got.state, "sent");
  EXPECT_EQ(got.external_id, "4564654");
  EXPECT_EQ(got.sent_ms, kNow + 5000);
  EXPECT_EQ(got.case_id, 7);

  // Sent is final.
  Status s = ledger_->MarkFailed(r.id, "late failure");
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("not pending"), std::string::npos) << s.message();
  EXPECT_EQ(ledger_->MarkSent(r.id, "again").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ledger_->MarkRetracted(r.id, "", "why").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ledger_->MarkSent(999, "x").code(), StatusCode::kNotFound);
  EXPECT_EQ(ledger_->MarkSent(r.id, "").code(), StatusCode::kInvalidArgument) << "a sent report needs its id";
}

TEST_F(ReportLedgerTest, SecondReportToTheSameDestinationIsRefused) {
  ReportRecord first;
  ASSERT_TRUE(ledger_->Record(1, kDestinationNcmec, kShaA, 0, &first).ok());
  // The same content, spelled in uppercase, is the same content.
  std::string upper = kShaA;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  Status s = ledger_->Record(2, kDestinationNcmec, upper, 0, nullptr);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("already reported to ncmec"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("report " + std::to_string(first.id)), std::string::npos) << s.message();
  EXPECT_EQ(ledger_->CheckNoDuplicate("ncmec", kShaA).code(), StatusCode::kInvalidArgument);
  // Other content is fine.
  EXPECT_TRUE(ledger_->Record(2, kDestinationNcmec, kShaB, 0, nullptr).ok());

  // A failed report blocks nothing: report again.
  ASSERT_TRUE(ledger_->MarkFailed(first.id, "CyberTipline POST /upload answered HTTP 502").ok());
  EXPECT_TRUE(ledger_->CheckNoDuplicate("ncmec", kShaA).ok());
  ReportRecord retry;
  ASSERT_TRUE(ledger_->Record(1, kDestinationNcmec, kShaA, 0, &retry).ok());
  EXPECT_NE(retry.id, first.id);
  ReportRecord failed;
  ASSERT_TRUE(ledger_->Get(first.id, &failed).ok());
  EXPECT_EQ(failed.state, "failed");
  EXPECT_EQ(failed.error, "CyberTipline POST /upload answered HTTP 502");
}

TEST_F(ReportLedgerTest, NcaReportOfContentAlreadyReportedToNcmecIsRefused) {
  ReportRecord ncmec;
  ASSERT_TRUE(ledger_->Record(3, kDestinationNcmec, kShaA, 0, &ncmec).ok());
  Status s = ledger_->Record(3, kDestinationNca, kShaA, 2, nullptr);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("already reported to NCMEC"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("exempt"), std::string::npos) << s.message();
  EXPECT_EQ(ledger_->CheckNoDuplicate(kDestinationNca, kShaA).code(), StatusCode::kInvalidArgument);

  // Still refused once the NCMEC report is sent.
  ASSERT_TRUE(ledger_->MarkSent(ncmec.id, "4564654").ok());
  EXPECT_EQ(ledger_->Record(3, kDestinationNca, kShaA, 2, nullptr).code(), StatusCode::kInvalidArgument);

  // Content never reported to NCMEC goes to the NCA; and a later NCMEC
  // report of content already reported to the NCA is allowed (the US duty
  // stands on its own).
  ReportRecord nca;
  ASSERT_TRUE(ledger_->Record(4, kDestinationNca, kShaB, 1, &nca).ok());
  EXPECT_EQ(nca.priority, 1);
  EXPECT_TRUE(ledger_->Record(4, kDestinationNcmec, kShaB, 0, nullptr).ok());
}

TEST_F(ReportLedgerTest, RetractedNcmecReportNoLongerBlocksTheNca) {
  ReportRecord ncmec;
  ASSERT_TRUE(ledger_->Record(5, kDestinationNcmec, kShaA, 0, &ncmec).ok());
  ASSERT_TRUE(ledger_->MarkRetracted(ncmec.id, "4564655", "upload failed; retracted at NCMEC").ok());
  ReportRecord got;
  ASSERT_TRUE(ledger_->Get(ncmec.id, &got).ok());
  EXPECT_EQ(got.state, "retracted");
  EXPECT_EQ(got.external_id, "4564655");
  EXPECT_EQ(got.sent_ms, 0);
  bool reported = true;
  ASSERT_TRUE(ledger_->ReportedTo(kShaA, kDestinationNcmec, &reported).ok());
  EXPECT_FALSE(reported);
  EXPECT_TRUE(ledger_->Record(5, kDestinationNca, kShaA, 3, nullptr).ok());
}

TEST_F(ReportLedgerTest, RefusesMalformedArguments) {
  EXPECT_EQ(ledger_->Record(1, "iwf", kShaA, 0, nullptr).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ledger_->Record(1, kDestinationNcmec, "abc", 0, nullptr).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ledger_->Record(1, kDestinationNcmec, std::string(64, 'g'), 0, nullptr).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(ledger_->Record(1, kDestinationNca, kShaA, 0, nullptr).code(), StatusCode::kInvalidArgument)
      << "an NCA report needs its priority";
  EXPECT_EQ(ledger_->Record(1, kDestinationNcmec, kShaA, 2, nullptr).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ledger_->MarkFailed(1, "").code(), StatusCode::kInvalidArgument);
  bool reported;
  EXPECT_EQ(ledger_->ReportedTo(kShaA, "elsewhere", &reported).code(), StatusCode::kInvalidArgument);
  std::vector<ReportRecord> none;
  EXPECT_TRUE(ledger_->List(0, INT64_MAX, &none).ok());
  EXPECT_TRUE(none.empty()) << "refused records leave no rows";
}

TEST_F(ReportLedgerTest, TheDatabaseItselfRefusesASecondActiveReport) {
  ReportRecord r;
  ASSERT_TRUE(ledger_->Record(1, kDestinationNcmec, kShaA, 0, &r).ok());
  // Another writer that skips the check still cannot add a second one.
  Status s = conn_->Exec(
      "INSERT INTO reports (case_id, destination, content_sha256, state, created_ms) VALUES (2, 'ncmec', '" +
      kShaA + "', 'pending', 1)");
  EXPECT_FALSE(s.ok());
  // A failed row next to it is fine.
  EXPECT_TRUE(conn_
                  ->Exec("INSERT INTO reports (case_id, destination, content_sha256, state, created_ms) "
                         "VALUES (2, 'ncmec', '" +
                         kShaA + "', 'failed', 1)")
                  .ok());
}

TEST_F(ReportLedgerTest, PersistsAcrossReopenAndListsByPeriod) {
  ReportRecord a, b, c;
  now_ms_ = kNow;
  ASSERT_TRUE(ledger_->Record(1, kDestinationNcmec, kShaA, 0, &a).ok());
  now_ms_ = kNow + 1000;
  ASSERT_TRUE(ledger_->Record(2, kDestinationNca, kShaB, 2, &b).ok());
  now_ms_ = kNow + 2000;
  ASSERT_TRUE(ledger_->Record(3, kDestinationNca, std::string(64, 'c'), 3, &c).ok());
  ASSERT_TRUE(ledger_->MarkSent(a.id, "4564654").ok());
  ASSERT_TRUE(ledger_->MarkFailed(c.id, "the NCA portal was down").ok());

  Reopen();  // a new connection to the same file: nothing was only in memory
  ReportRecord got;
  ASSERT_TRUE(ledger_->Get(a.id, &got).ok());
  EXPECT_EQ(got.state, "sent");
  EXPECT_EQ(got.external_id, "4564654");
  ASSERT_TRUE(ledger_->Get(b.id, &got).ok());
  EXPECT_EQ(got.state, "pending");
  EXPECT_EQ(got.priority, 2);
  EXPECT_EQ(got.destination, "nca");
  EXPECT_EQ(got.content_sha256, kShaB);
  ASSERT_TRUE(ledger_->Get(c.id, &got).ok());
  EXPECT_EQ(got.error, "the NCA portal was down");

  std::vector<ReportRecord> all;
  ASSERT_TRUE(ledger_->List(kNow, kNow + 3000, &all).ok());
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].id, a.id);
  EXPECT_EQ(all[2].id, c.id);
  std::vector<ReportRecord> middle;
  ASSERT_TRUE(ledger_->List(kNow + 1000, kNow + 2000, &middle).ok());
  ASSERT_EQ(middle.size(), 1u) << "[from, to): the end is excluded";
  EXPECT_EQ(middle[0].id, b.id);
  EXPECT_EQ(ledger_->List(10, 5, &middle).code(), StatusCode::kInvalidArgument);

  // The rules hold after reopening too.
  EXPECT_EQ(ledger_->Record(9, kDestinationNca, kShaA, 1, nullptr).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ledger_->Record(9, kDestinationNca, kShaB, 1, nullptr).code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace safeguard::report
