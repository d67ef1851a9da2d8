// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.

#include "guard_command.h"

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <istream>
#include <iterator>
#include <ostream>

#include "json_output.h"
#include "safeguard/bank/matcher.h"
#include "safeguard/guard/face_detector.h"
#include "safeguard/guard/image_classifier.h"
#include "safeguard/guard/input_guard.h"
#include "safeguard/guard/output_guard.h"
#include "safeguard/guard/prompt_guard.h"
#include "safeguard/guard/watermark.h"
#include "safeguard/hash/image_hasher.h"
#include "safeguard/media/decode.h"

namespace safeguard::cli {

void RegisterGuardCommands(CLI::App* app, GuardCommandArgs* args) {
  CLI::App* guard =
      app->add_subcommand("guard", "The generation guard: screen prompts before an image exists");
  guard->require_subcommand(1);
  CLI::App* prompt = guard->add_subcommand(
      "prompt", "Screen an image-generation prompt; prints one JSON object (exit 0 allowed, 3 refused)");
  prompt->add_option("text", args->prompt, "The prompt, or - to read it from standard input")->required();
  prompt->add_option("--guard-data", args->data_dir, "Folder of term lists and rules (default: data/guard)")
      ->check(CLI::ExistingDirectory);
  prompt
      ->add_option("--sexual-content", args->sexual_content,
                   "A sexual request with nothing else wrong: block (general-purpose service) or allow")
      ->check(CLI::IsMember({"block", "allow"}))
      ->capture_default_str();
  prompt->add_flag("--photo-edit", args->photo_edit, "The request edits an uploaded photo");
  prompt->add_flag("--face", args->face, "The uploaded photo has a face");

  CLI::App* input = guard->add_subcommand(
      "input", "Screen an edit request: the photo against every bank, its faces, and the prompt (exit 0/3)");
  input->add_option("photo", args->photo, "The photo to be edited")->required()->check(CLI::ExistingFile);
  input->add_option("--prompt", args->prompt, "The edit instruction, or - to read it from standard input")
      ->required();
  input->add_option("--guard-data", args->data_dir, "Folder of term lists and rules (default: data/guard)")
      ->check(CLI::ExistingDirectory);
  input->add_option("--sexual-content", args->sexual_content, "block or allow (see guard prompt)")
      ->check(CLI::IsMember({"block", "allow"}))
      ->capture_default_str();
  input->add_option("--data", args->store.data_dir,
                    "Bank data directory (default: ~/.local/share/safeguard)");
  input->add_option("--postgres", args->store.postgres,
                    "Keep banks in PostgreSQL (a libpq connection string)");

  CLI::App* output = guard->add_subcommand("output",
                                           "Check a generated image (banks, NSFW and operator classifiers, "
                                           "the prompt) and watermark it if allowed "
                                           "(exit 0 allowed, 3 refused)");
  output->add_option("image", args->photo, "The generated image")->required()->check(CLI::ExistingFile);
  output->add_option("--prompt", args->prompt, "The prompt it was generated from, or - for standard input");
  output->add_option("--edit-of", args->edit_of, "The photo that was edited, if the image is an edit")
      ->check(CLI::ExistingFile);
  output->add_option("--key-file", args->key_file, "File holding the service's watermark key (64 hex digits)")
      ->required()
      ->check(CLI::ExistingFile);
  output->add_option("--out", args->out_path, "Write the watermarked image here (only when allowed)");
  output->add_option("--generation-id", args->generation_id,
                     "The id to embed (decimal; default: a random one)");
  output->add_option("--nsfw-model", args->nsfw_model, "The converted nsfwjs model (default: the build's)")
      ->check(CLI::ExistingFile);
  output->add_option("--classifier", args->classifiers, "An operator classifier spec (JSON; repeatable)")
      ->check(CLI::ExistingFile);
  output->add_option("--guard-data", args->data_dir, "Folder of term lists and rules (default: data/guard)")
      ->check(CLI::ExistingDirectory);
  output->add_option("--sexual-content", args->sexual_content, "block or allow (see guard prompt)")
      ->check(CLI::IsMember({"block", "allow"}))
      ->capture_default_str();
  output->add_option("--data", args->store.data_dir,
                     "Bank data directory (default: ~/.local/share/safeguard)");
  output->add_option("--postgres", args->store.postgres,
                     "Keep banks in PostgreSQL (a libpq connection string)");

  CLI::App* trace = guard->add_subcommand(
      "trace",
      "Read the provenance watermark of an image: the generation id that made it (exit 0 found, 3 not)");
  trace->add_option("image", args->photo, "An image that may carry the mark")
      ->required()
      ->check(CLI::ExistingFile);
  trace->add_option("--key-file", args->key_file, "File holding the service's watermark key (64 hex digits)")
      ->required()
      ->check(CLI::ExistingFile);
}

namespace {

Status LoadPrompts(const GuardCommandArgs& args, std::unique_ptr<guard::PromptGuard>* g) {
  guard::GuardPolicy policy;
  policy.sexual_content = args.sexual_content == "allow" ? guard::Decision::kAllow : guard::Decision::kBlock;
  return guard::PromptGuard::Load(
      args.data_dir.empty() ? guard::PromptGuard::DefaultDataDir() : args.data_dir, policy, g);
}

std::string ReadPrompt(const std::string& arg, std::istream& in) {
  if (arg != "-") return arg;
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  return text;
}

// What `guard input` and `guard output` share: the lists, the face
// detector and the banks.
struct GuardTools {
  std::unique_ptr<guard::PromptGuard> prompts;
  std::unique_ptr<guard::FaceDetector> faces;
  std::unique_ptr<bank::Store> store;
  std::unique_ptr<bank::Matcher> matcher;

  Status Open(const GuardCommandArgs& args) {
    Status s = LoadPrompts(args, &prompts);
    if (s.ok()) s = guard::FaceDetector::Load(guard::FaceDetector::Options(), &faces);
    if (s.ok()) s = args.store.Open(&store);
    if (s.ok()) s = bank::Matcher::Open(store.get(), bank::MatcherOptions(), &matcher);
    return s;
  }
};

int RunInput(const GuardCommandArgs& args, std::istream& in, std::ostream& out, std::ostream& err) {
  auto fail = [&](const Status& s) {
    err << "safeguard guard input: " << s.ToString() << "\n";
    return 1;
  };
  GuardTools tools;
  Status s = tools.Open(args);
  if (!s.ok()) return fail(s);
  std::ifstream file(args.photo, std::ios::binary);
  const std::string photo((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  if (!file.good() && !file.eof()) return fail(Status::IoError("cannot read " + args.photo));
  hash::ImageHasher hasher;
  guard::InputGuardParts parts{tools.prompts.get(), tools.faces.get(), tools.matcher.get(), &hasher,
                               media::DecodeLimits()};
  guard::InputVerdict verdict;
  s = guard::CheckInput(
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(photo.data()), photo.size()),
      ReadPrompt(args.prompt, in), parts, &verdict);
  if (!s.ok()) return fail(s);
  out << guard::InputVerdictToJson(verdict) << "\n";
  return verdict.verdict.decision == guard::Decision::kAllow ? 0 : 3;
}

Status ReadKey(const std::string& path, guard::WatermarkKey* key) {
  std::ifstream key_in(path);
  std::string key_text((std::istreambuf_iterator<char>(key_in)), std::istreambuf_iterator<char>());
  while (!key_text.empty() &&
         (key_text.back() == '\n' || key_text.back() == '\r' || key_text.back() == ' ')) {
    key_text.pop_back();
  }
  Status s = guard::ParseWatermarkKey(key_text, key);
  if (!s.ok()) return Status::InvalidArgument(path + ": " + s.message());
  return Status::Ok();
}

Status ReadWhole(const std::string& path, std::string* bytes) {
  std::ifstream file(path, std::ios::binary);
  bytes->assign(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
  if (!file.good() && !file.eof()) return Status::IoError("cannot read " + path);
  return Status::Ok();
}

std::span<const uint8_t> Bytes(const std::string& s) {
  return std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

int RunOutput(const GuardCommandArgs& args, std::istream& in, std::ostream& out, std::ostream& err) {
  auto fail = [&](const Status& s) {
    err << "safeguard guard output: " << s.ToString() << "\n";
    return 1;
  };
  guard::WatermarkKey key;
  Status s = ReadKey(args.key_file, &key);
  if (!s.ok()) return fail(s);
  guard::OutputRequest request;
  if (!args.generation_id.empty()) {
    char* end = nullptr;
    errno = 0;
    request.generation_id = std::strtoull(args.generation_id.c_str(), &end, 10);
    if (errno != 0 || *end != '\0' || request.generation_id == 0 || args.generation_id[0] == '-') {
      fail(Status::InvalidArgument("--generation-id: a decimal number from 1 to 2^64-1, got \"" +
                                   args.generation_id + "\""));
      return 2;
    }
  }
  std::vector<std::unique_ptr<guard::ImageClassifier>> classifiers;
  std::vector<std::string> specs;
  for (const std::string& path : args.classifiers) {
    std::string text;
    s = ReadWhole(path, &text);
    guard::ClassifierSpec spec;
    if (s.ok()) s = guard::ParseClassifierSpec(text, &spec);
    if (!s.ok()) return fail(Status::InvalidArgument(path + ": " + s.message()));
    classifiers.emplace_back();
    s = guard::ImageClassifier::Load(spec, &classifiers.back());
    if (!s.ok()) return fail(s);
  }
  classifiers.emplace_back();
  s = guard::ImageClassifier::Load(
      guard::NsfwSpec(args.nsfw_model.empty() ? guard::NsfwModelPath() : args.nsfw_model),
      &classifiers.back());
  if (!s.ok()) return fail(s);
  GuardTools tools;
  s = tools.Open(args);
  if (!s.ok()) return fail(s);
  std::string image, photo;
  s = ReadWhole(args.photo, &image);
  if (s.ok() && !args.edit_of.empty()) s = ReadWhole(args.edit_of, &photo);
  if (!s.ok()) return fail(s);
  hash::ImageHasher hasher;
  guard::OutputGuardParts parts;
  parts.prompts = tools.prompts.get();
  parts.faces = tools.faces.get();
  parts.matcher = tools.matcher.get();
  parts.hasher = &hasher;
  parts.key = &key;
  // The NSFW model first, then the operator's, in the order given.
  parts.classifiers.push_back(classifiers.back().get());
  for (size_t i = 0; i + 1 < classifiers.size(); ++i) parts.classifiers.push_back(classifiers[i].get());
  const std::string prompt = args.prompt.empty() ? std::string() : ReadPrompt(args.prompt, in);
  request.image = Bytes(image);
  request.prompt = prompt;
  request.input_photo = Bytes(photo);
  guard::OutputVerdict verdict;
  s = guard::CheckOutput(request, parts, &verdict);
  if (!s.ok()) return fail(s);
  if (!verdict.marked.empty() && !args.out_path.empty()) {
    std::ofstream file(args.out_path, std::ios::binary | std::ios::trunc);
    file.write(verdict.marked.data(), static_cast<std::streamsize>(verdict.marked.size()));
    file.close();
    if (!file) return fail(Status::IoError("cannot write " + args.out_path));
  }
  out << guard::OutputVerdictToJson(verdict) << "\n";
  return verdict.verdict.decision == guard::Decision::kAllow ? 0 : 3;
}

int RunTrace(const GuardCommandArgs& args, std::ostream& out, std::ostream& err) {
  auto fail = [&](const Status& s) {
    err << "safeguard guard trace: " << s.ToString() << "\n";
    return 1;
  };
  guard::WatermarkKey key;
  Status s = ReadKey(args.key_file, &key);
  if (!s.ok()) return fail(s);
  std::string bytes;
  s = ReadWhole(args.photo, &bytes);
  if (!s.ok()) return fail(s);
  media::Image image;
  s = media::DecodeImage(
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()),
      media::DecodeOptions(), &image);
  if (!s.ok()) {
    err << "safeguard guard trace: " << args.photo << ": " << s.ToString() << "\n";
    return 1;
  }
  guard::WatermarkTrace trace;
  s = guard::TraceWatermark(image, key, &trace);
  if (!s.ok()) return fail(s);
  Json j{{"path", args.photo}, {"found", trace.found}};
  // A string: 64-bit ids do not survive JavaScript numbers.
  if (trace.found) j["generation_id"] = std::to_string(trace.generation_id);
  j["confidence"] = static_cast<double>(static_cast<int>(trace.confidence * 1000 + 0.5)) / 1000;
  j["tags_checked"] = trace.tags_checked;
  if (trace.found) {
    j["shows"] =
        Json{{"left", trace.left}, {"top", trace.top}, {"right", trace.right}, {"bottom", trace.bottom}};
  }
  out << DumpJson(j) << "\n";
  return trace.found ? 0 : 3;
}

}  // namespace

bool RunGuardCommands(const CLI::App& app, const GuardCommandArgs& args, std::istream& in, std::ostream& out,
                      std::ostream& err, int* exit_code) {
  const CLI::App* guard = app.get_subcommand("guard");
  if (!guard->parsed()) return false;
  if (guard->get_subcommand("input")->parsed()) {
    *exit_code = RunInput(args, in, out, err);
    return true;
  }
  if (guard->get_subcommand("output")->parsed()) {
    *exit_code = RunOutput(args, in, out, err);
    return true;
  }
  if (guard->get_subcommand("trace")->parsed()) {
    *exit_code = RunTrace(args, out, err);
    return true;
  }
  if (!guard->get_subcommand("prompt")->parsed()) {
    *exit_code = 2;
    return true;
  }
  std::unique_ptr<guard::PromptGuard> g;
  Status s = LoadPrompts(args, &g);
  if (!s.ok()) {
    err << "safeguard guard: " << s.ToString() << "\n";
    *exit_code = 1;
    return true;
  }
  const std::string text = ReadPrompt(args.prompt, in);
  guard::PromptContext context;
  context.photo_edit = args.photo_edit;
  context.input_has_face = args.face;
  const guard::PromptVerdict verdict = g->Screen(text, context);
  out << guard::VerdictToJson(verdict) << "\n";
  *exit_code = verdict.decision == guard::Decision::kAllow ? 0 : 3;
  return true;
}

}  // namespace safeguard::cli
