// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// A fake of NCMEC's CyberTipline Reporting API on 127.0.0.1 (cpp-httplib),
// following the documented protocol (docs/reports.md): basic auth, the
// <report> and <fileDetails> XML checked element by element and in schema
// order (4100 otherwise), multipart uploads answered with a file id and the
// MD5 of what arrived, report ids, finish and retract (5001/5102 where NCMEC
// answers so), and switches for the failures a real service produces. Used
// by the report block's tests and the server's report flow tests.

#ifndef SAFEGUARD_TESTS_FAKE_CYBERTIPLINE_H_
#define SAFEGUARD_TESTS_FAKE_CYBERTIPLINE_H_

#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <map>
#include <mutex>
#include <pugixml.hpp>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "safeguard/hash/digest.h"
#include "safeguard/report/cybertipline.h"
#include "test_util.h"

namespace safeguard::report::testing {

inline constexpr char kUser[] = "esp-test-user";
inline constexpr char kPassword[] = "esp-test-password-1";

inline std::span<const uint8_t> AsBytes(const std::string& s) {
  return std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

// ============================================================================
// A fake CyberTipline
// ============================================================================

// Returns "" if the element children of `node` appear in an order allowed by
// `order` (names may repeat, each only after those before it), else what is
// wrong.
inline std::string CheckOrder(const pugi::xml_node& node, const std::vector<std::string>& order) {
  size_t at = 0;
  for (pugi::xml_node c = node.first_child(); c; c = c.next_sibling()) {
    if (c.type() != pugi::node_element) continue;
    size_t i = at;
    while (i < order.size() && order[i] != c.name()) ++i;
    if (i == order.size()) {
      return std::string("<") + c.name() + "> in <" + node.name() + "> is out of order or unknown";
    }
    at = i;
  }
  return "";
}

struct FakeReport {
  std::string xml;
  bool finished = false;
  bool retracted = false;
  std::vector<std::string> file_ids;
  std::map<std::string, std::string> file_md5;      // file id -> MD5 of the bytes received
  std::map<std::string, std::string> file_names;    // file id -> multipart filename
  std::map<std::string, std::string> fileinfo_xml;  // file id -> the <fileDetails> document
  std::map<std::string, bool> generative_ai;        // file id -> <generativeAi/> present
};

class FakeCyberTipline {
 public:
  FakeCyberTipline() {
    server_.Get("/ispws/status", [this](const httplib::Request& req, httplib::Response& res) {
      if (!Authorised(req, res)) return;
      Xml(res, "<reportResponse><responseCode>0</responseCode><responseDescription>Remote User : " +
                   std::string(kUser) + ", Remote Ip : 127.0.0.1</responseDescription></reportResponse>");
    });
    server_.Post("/ispws/submit",
                 [this](const httplib::Request& req, httplib::Response& res) { Submit(req, res); });
    server_.Post("/ispws/upload",
                 [this](const httplib::Request& req, httplib::Response& res) { Upload(req, res); });
    server_.Post("/ispws/fileinfo",
                 [this](const httplib::Request& req, httplib::Response& res) { FileInfo(req, res); });
    server_.Post("/ispws/finish",
                 [this](const httplib::Request& req, httplib::Response& res) { Finish(req, res); });
    server_.Post("/ispws/retract",
                 [this](const httplib::Request& req, httplib::Response& res) { Retract(req, res); });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    // stop() before the listener runs would be lost and join() would hang.
    for (int i = 0; i < 5000 && port_ > 0 && !server_.is_running(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  ~FakeCyberTipline() {
    server_.stop();
    thread_.join();
  }

  std::string base() const { return "http://127.0.0.1:" + std::to_string(port_) + "/ispws"; }
  bool started() const { return port_ > 0; }

  FakeReport report(const std::string& id) {
    std::lock_guard<std::mutex> lock(mu_);
    return reports_.count(id) ? reports_.at(id) : FakeReport();
  }
  size_t report_count() {
    std::lock_guard<std::mutex> lock(mu_);
    return reports_.size();
  }
  int retract_calls() { return retract_calls_; }

  // Failure injection.
  std::atomic<int> submit_code{0};  // answer /submit with this responseCode
  std::atomic<int> submit_http{0};  // answer /submit with this HTTP status
  std::atomic<bool> submit_malformed{false};
  std::atomic<int> submit_delay_ms{0};
  std::atomic<int> upload_http{0};  // answer /upload with this HTTP status, echoing the file
  std::atomic<bool> upload_wrong_hash{false};
  std::atomic<bool> finish_lose_answer{false};  // finish the report but answer responseCode 1000

 private:
  static void Xml(httplib::Response& res, const std::string& body) {
    res.set_content("<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>" + body,
                    "application/xml; charset=utf-8");
  }
  static void Code(httplib::Response& res, int code, const std::string& description) {
    Xml(res, "<reportResponse><responseCode>" + std::to_string(code) +
                 "</responseCode><responseDescription>" + description +
                 "</responseDescription></reportResponse>");
  }
  // HTTP basic authentication with the test credentials.
  static bool Authorised(const httplib::Request& req, httplib::Response& res) {
    if (req.get_header_value("Authorization") ==
        "Basic " + safeguard::testing::Base64(std::string(kUser) + ":" + kPassword)) {
      return true;
    }
    res.status = 401;
    res.set_header("WWW-Authenticate", "Basic realm=\"ispws\"");
    return false;
  }
  static std::string FormValue(const httplib::Request& req, const char* name) {
    return req.has_file(name) ? req.get_file_value(name).content : std::string();
  }

  void Submit(const httplib::Request& req, httplib::Response& res) {
    if (!Authorised(req, res)) return;
    if (submit_delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(submit_delay_ms.load()));
    if (submit_http != 0) {
      res.status = submit_http;
      res.set_content("<html>upstream failure</html>", "text/html");
      return;
    }
    if (submit_malformed) {
      res.set_content("<reportResponse><responseCode>0</respon", "application/xml");
      return;
    }
    if (submit_code != 0) return Code(res, submit_code, "Validation failed: injected");
    if (req.get_header_value("Content-Type").find("text/xml") == std::string::npos) {
      return Code(res, 4100, "Validation failed: not text/xml");
    }
    pugi::xml_document doc;
    if (!doc.load_string(req.body.c_str())) return Code(res, 4100, "Validation failed: not XML");
    const pugi::xml_node r = doc.child("report");
    std::string problem;
    // Appendix B's sequence of <report>'s children (as open-source clients
    // reproduce it).
    if (!r) problem = "no <report>";
    if (problem.empty()) {
      problem = CheckOrder(r, {"incidentSummary", "internetDetails", "lawEnforcement", "reporter",
                               "personOrUserReported", "intendedRecipient", "victim", "additionalInfo"});
    }
    if (problem.empty()) {
      problem = CheckOrder(r.child("incidentSummary"),
                           {"incidentType", "escalateToHighPriority", "incidentDateTime"});
    }
    if (problem.empty() && std::string(r.child("incidentSummary").child_value("incidentType")) !=
                               std::string(kIncidentTypeCsam)) {
      problem = "unexpected incidentType";
    }
    if (problem.empty() && std::string(r.child("incidentSummary").child_value("incidentDateTime")).empty()) {
      problem = "no incidentDateTime";
    }
    if (problem.empty() &&
        std::string(r.child("reporter").child("reportingPerson").child_value("email")).empty()) {
      problem = "no reportingPerson email";
    }
    if (problem.empty()) {
      problem = CheckOrder(r.child("reporter"), {"reportingPerson", "contactPerson", "companyTemplate",
                                                 "termsOfService", "legalURL"});
    }
    if (problem.empty() && r.child("personOrUserReported")) {
      problem = CheckOrder(r.child("personOrUserReported"),
                           {"personOrUserReportedPerson", "vehicleDescription", "espIdentifier", "espService",
                            "screenName", "displayName", "profileUrl", "ipCaptureEvent", "deviceId"});
      for (pugi::xml_node e = r.child("personOrUserReported").child("ipCaptureEvent"); problem.empty() && e;
           e = e.next_sibling("ipCaptureEvent")) {
        problem = CheckOrder(e, {"ipAddress", "eventName", "dateTime", "possibleProxy", "port"});
      }
    }
    if (!problem.empty()) return Code(res, 4100, "Validation failed: " + problem);
    std::lock_guard<std::mutex> lock(mu_);
    const std::string id = std::to_string(next_report_++);
    reports_[id].xml = req.body;
    Xml(res,
        "<reportResponse><responseCode>0</responseCode><responseDescription>Success</responseDescription>"
        "<reportId>" +
            id + "</reportId></reportResponse>");
  }

  void Upload(const httplib::Request& req, httplib::Response& res) {
    if (!Authorised(req, res)) return;
    const std::string id = FormValue(req, "id");
    if (!req.has_file("file")) return Code(res, 4100, "Validation failed: no file part");
    const httplib::MultipartFormData file = req.get_file_value("file");
    if (upload_http != 0) {
      // A misbehaving proxy that echoes what it was sent.
      res.status = upload_http;
      res.set_content(file.content, "text/plain");
      return;
    }
    std::lock_guard<std::mutex> lock(mu_);
    auto it = reports_.find(id);
    if (it == reports_.end() || it->second.retracted) return Code(res, 5001, "Report does not exist");
    if (it->second.finished) return Code(res, 5102, "Report already finished");
    const std::string file_id = "f" + std::to_string(next_file_++) + "b0754af766b426f2928a02c651ed4b99";
    const std::string md5 = hash::ToHex(hash::Md5(AsBytes(file.content)));
    it->second.file_ids.push_back(file_id);
    it->second.file_md5[file_id] = md5;
    it->second.file_names[file_id] = file.filename;
    Xml(res,
        "<reportResponse><responseCode>0</responseCode><responseDescription>Success</responseDescription>"
        "<reportId>" +
            id + "</reportId><fileId>" + file_id + "</fileId><hash>" +
            (upload_wrong_hash ? std::string(32, '0') : md5) + "</hash></reportResponse>");
  }

  void FileInfo(const httplib::Request& req, httplib::Response& res) {
    if (!Authorised(req, res)) return;
    pugi::xml_document doc;
    if (!doc.load_string(req.body.c_str())) return Code(res, 4100, "Validation failed: not XML");
    const pugi::xml_node fd = doc.child("fileDetails");
    if (!fd) return Code(res, 4100, "Validation failed: no <fileDetails>");
    // Appendix C's sequence; reportId and fileId come first.
    std::string problem = CheckOrder(
        fd, {"reportId", "fileId", "originalFileName", "locationOfFile", "fileViewedByEsp", "exifViewedByEsp",
             "publiclyAvailable", "fileRelevance", "fileAnnotations", "industryClassification",
             "originalFileHash", "ipCaptureEvent", "deviceId", "details", "additionalInfo"});
    const pugi::xml_node first = fd.first_child();
    if (problem.empty() &&
        (std::string(first.name()) != "reportId" || std::string(first.next_sibling().name()) != "fileId")) {
      problem = "reportId and fileId must come first";
    }
    if (!problem.empty()) return Code(res, 4100, "Validation failed: " + problem);
    const std::string id = fd.child_value("reportId");
    const std::string file_id = fd.child_value("fileId");
    std::lock_guard<std::mutex> lock(mu_);
    auto it = reports_.find(id);
    if (it == reports_.end() || it->second.retracted) return Code(res, 5001, "Report does not exist");
    if (it->second.finished) return Code(res, 5102, "Report already finished");
    if (!it->second.file_md5.count(file_id)) return Code(res, 4100, "Validation failed: unknown fileId");
    it->second.fileinfo_xml[file_id] = req.body;
    it->second.generative_ai[file_id] = static_cast<bool>(fd.child("fileAnnotations").child("generativeAi"));
    Xml(res,
        "<reportResponse><responseCode>0</responseCode><responseDescription>Success</responseDescription>"
        "<reportId>" +
            id + "</reportId></reportResponse>");
  }

  void Finish(const httplib::Request& req, httplib::Response& res) {
    if (!Authorised(req, res)) return;
    const std::string id = FormValue(req, "id");
    std::lock_guard<std::mutex> lock(mu_);
    auto it = reports_.find(id);
    if (it == reports_.end() || it->second.retracted) return Code(res, 5001, "Report does not exist");
    if (it->second.finished) return Code(res, 5102, "Report already finished");
    it->second.finished = true;
    if (finish_lose_answer) return Code(res, 1000, "Server error");
    std::string files;
    for (const std::string& f : it->second.file_ids) files += "<fileId>" + f + "</fileId>";
    Xml(res, "<reportDoneResponse><responseCode>0</responseCode><reportId>" + id + "</reportId><files>" +
                 files + "</files></reportDoneResponse>");
  }

  void Retract(const httplib::Request& req, httplib::Response& res) {
    if (!Authorised(req, res)) return;
    ++retract_calls_;
    const std::string id = FormValue(req, "id");
    std::lock_guard<std::mutex> lock(mu_);
    auto it = reports_.find(id);
    if (it == reports_.end() || it->second.retracted) return Code(res, 5001, "Report does not exist");
    if (it->second.finished) return Code(res, 5102, "Report already finished");
    it->second.retracted = true;
    Xml(res,
        "<reportResponse><responseCode>0</responseCode><responseDescription>Success</responseDescription>"
        "<reportId>" +
            id + "</reportId></reportResponse>");
  }

  httplib::Server server_;
  std::thread thread_;
  int port_ = -1;
  std::mutex mu_;
  int64_t next_report_ = 4564654;
  int next_file_ = 1;
  std::map<std::string, FakeReport> reports_;
  std::atomic<int> retract_calls_{0};
};

}  // namespace safeguard::report::testing

#endif  // SAFEGUARD_TESTS_FAKE_CYBERTIPLINE_H_
