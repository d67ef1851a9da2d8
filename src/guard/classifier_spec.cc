// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// ParseClassifierSpec: an operator's classifier, from JSON. Kept apart from
// image_classifier.cc so OpenCV and nlohmann/json are not compiled together.

#include <nlohmann/json.hpp>

#include "safeguard/guard/image_classifier.h"

namespace safeguard::guard {
namespace {

using json = nlohmann::json;

Status Bad(const std::string& what) { return Status::InvalidArgument("classifier spec: " + what); }

Status GetString(const json& j, const char* key, bool required, std::string* out) {
  if (!j.contains(key)) return required ? Bad(std::string("\"") + key + "\" is required") : Status::Ok();
  if (!j[key].is_string() || j[key].get<std::string>().empty()) {
    return Bad(std::string("\"") + key + "\" must be a non-empty string");
  }
  *out = j[key].get<std::string>();
  return Status::Ok();
}

Status GetNumber(const json& j, const char* key, float* out) {
  if (!j.contains(key)) return Status::Ok();
  if (!j[key].is_number()) return Bad(std::string("\"") + key + "\" must be a number");
  *out = j[key].get<float>();
  return Status::Ok();
}

Status GetTriple(const json& j, const char* key, std::array<float, 3>* out) {
  if (!j.contains(key)) return Status::Ok();
  const json& a = j[key];
  if (!a.is_array() || a.size() != 3)
    return Bad(std::string("\"") + key + "\" must be an array of 3 numbers");
  for (size_t i = 0; i < 3; ++i) {
    if (!a[i].is_number()) return Bad(std::string("\"") + key + "\" must be an array of 3 numbers");
    (*out)[i] = a[i].get<float>();
  }
  return Status::Ok();
}

Status GetInt(const json& j, const char* key, int* out) {
  if (!j.contains(key)) return Status::Ok();
  if (!j[key].is_number_integer()) return Bad(std::string("\"") + key + "\" must be an integer");
  const int64_t v = j[key].get<int64_t>();
  if (v < 1 || v > 4096) return Bad(std::string("\"") + key + "\" must be 1 to 4096");
  *out = static_cast<int>(v);
  return Status::Ok();
}

Status GetStrings(const json& j, const char* key, std::vector<std::string>* out) {
  if (!j.contains(key)) return Bad(std::string("\"") + key + "\" is required");
  const json& a = j[key];
  if (!a.is_array() || a.empty())
    return Bad(std::string("\"") + key + "\" must be a non-empty array of strings");
  out->clear();
  for (const json& v : a) {
    if (!v.is_string()) return Bad(std::string("\"") + key + "\" must be a non-empty array of strings");
    out->push_back(v.get<std::string>());
  }
  return Status::Ok();
}

}  // namespace

Status ParseClassifierSpec(std::string_view text, ClassifierSpec* out) {
  json j = json::parse(text.begin(), text.end(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Bad("not a JSON object");
  ClassifierSpec spec = NsfwSpec("");
  spec.name.clear();
  spec.signals.clear();
  Status s = GetString(j, "name", true, &spec.name);
  if (s.ok()) s = GetString(j, "model", true, &spec.model_path);
  if (s.ok()) s = GetStrings(j, "labels", &spec.labels);
  if (!s.ok()) return s;
  if (j.contains("softmax")) {
    if (!j["softmax"].is_boolean()) return Bad("\"softmax\" must be true or false");
    spec.softmax = j["softmax"].get<bool>();
  }
  if (j.contains("input")) {
    const json& in = j["input"];
    if (!in.is_object()) return Bad("\"input\" must be an object");
    s = GetInt(in, "width", &spec.width);
    if (s.ok()) s = GetInt(in, "height", &spec.height);
    if (s.ok()) s = GetNumber(in, "scale", &spec.scale);
    if (s.ok()) s = GetTriple(in, "mean", &spec.mean);
    if (s.ok()) s = GetTriple(in, "std", &spec.std);
    if (!s.ok()) return s;
    std::string channels = "rgb", resize = "bilinear_align_corners";
    s = GetString(in, "channels", false, &channels);
    if (s.ok()) s = GetString(in, "resize", false, &resize);
    if (!s.ok()) return s;
    if (channels != "rgb" && channels != "bgr") return Bad("\"channels\" must be \"rgb\" or \"bgr\"");
    spec.rgb = channels == "rgb";
    if (resize == "bilinear") {
      spec.resize = ClassifierResize::kBilinear;
    } else if (resize == "bilinear_align_corners") {
      spec.resize = ClassifierResize::kBilinearAlignCorners;
    } else {
      return Bad("\"resize\" must be \"bilinear\" or \"bilinear_align_corners\"");
    }
  }
  if (!j.contains("signals") || !j["signals"].is_array() || j["signals"].empty()) {
    return Bad("\"signals\" must be a non-empty array");
  }
  for (const json& sj : j["signals"]) {
    if (!sj.is_object()) return Bad("each signal must be an object");
    ClassifierSignal sig;
    s = GetString(sj, "category", true, &sig.category);
    if (s.ok()) s = GetStrings(sj, "labels", &sig.labels);
    if (!s.ok()) return s;
    if (!sj.contains("threshold") || !sj["threshold"].is_number())
      return Bad("each signal needs a \"threshold\"");
    sig.threshold = sj["threshold"].get<float>();
    spec.signals.push_back(std::move(sig));
  }
  *out = std::move(spec);
  return Status::Ok();
}

}  // namespace safeguard::guard
