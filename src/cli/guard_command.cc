// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.

#include "guard_command.h"

#include <CLI/CLI.hpp>
#include <istream>
#include <iterator>
#include <ostream>

#include "json_output.h"
#include "safeguard/guard/prompt_guard.h"

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
}

bool RunGuardCommands(const CLI::App& app, const GuardCommandArgs& args, std::istream& in, std::ostream& out,
                      std::ostream& err, int* exit_code) {
  const CLI::App* guard = app.get_subcommand("guard");
  if (!guard->parsed()) return false;
  if (!guard->get_subcommand("prompt")->parsed()) {
    *exit_code = 2;
    return true;
  }
  guard::GuardPolicy policy;
  policy.sexual_content = args.sexual_content == "allow" ? guard::Decision::kAllow : guard::Decision::kBlock;
  std::unique_ptr<guard::PromptGuard> g;
  Status s = guard::PromptGuard::Load(
      args.data_dir.empty() ? guard::PromptGuard::DefaultDataDir() : args.data_dir, policy, &g);
  if (!s.ok()) {
    err << "safeguard guard: " << s.ToString() << "\n";
    *exit_code = 1;
    return true;
  }
  std::string text = args.prompt;
  if (text == "-") {
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  }
  guard::PromptContext context;
  context.photo_edit = args.photo_edit;
  context.input_has_face = args.face;
  const guard::PromptVerdict verdict = g->Screen(text, context);
  out << guard::VerdictToJson(verdict) << "\n";
  *exit_code = verdict.decision == guard::Decision::kAllow ? 0 : 3;
  return true;
}

}  // namespace safeguard::cli
