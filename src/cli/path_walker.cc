// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.

#include "path_walker.h"

#include <algorithm>
#include <filesystem>
#include <system_error>

namespace safeguard::cli {

namespace fs = std::filesystem;

PathWalker::PathWalker(std::vector<std::string> args, std::istream* stdin_stream)
    : args_(std::move(args)), stdin_(stdin_stream) {}

bool PathWalker::ExpandDirectory(const std::string& path) {
  std::error_code ec;
  fs::directory_iterator it(path, ec);
  if (ec) return false;
  Dir dir;
  const bool slash = !path.empty() && path.back() == '/';
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    if (ec) return false;
    dir.entries.push_back(path + (slash ? "" : "/") + it->path().filename().string());
  }
  std::sort(dir.entries.begin(), dir.entries.end());
  stack_.push_back(std::move(dir));
  return true;
}

bool PathWalker::Next(std::string* path) {
  for (;;) {
    // Inside a directory walk: depth first, in sorted order.
    while (!stack_.empty()) {
      Dir& top = stack_.back();
      if (top.next == top.entries.size()) {
        stack_.pop_back();
        continue;
      }
      std::string entry = top.entries[top.next++];
      std::error_code ec;
      // Symbolic links to directories are not followed: a walk must end.
      const fs::file_status st = fs::symlink_status(entry, ec);
      if (!ec && fs::is_directory(st)) {
        if (!ExpandDirectory(entry)) {
          *path = entry;
          return true;
        }
        continue;
      }
      if (!ec && fs::is_symlink(st)) {
        const fs::file_status target = fs::status(entry, ec);
        if (!ec && fs::is_directory(target)) continue;
      }
      if (!ec && !fs::is_regular_file(st) && !fs::is_symlink(st)) continue;  // sockets, fifos
      *path = std::move(entry);
      return true;
    }
    if (reading_stdin_) {
      std::string line;
      bool got = false;
      while (std::getline(*stdin_, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.empty()) continue;
        got = true;
        break;
      }
      if (!got) {
        reading_stdin_ = false;
        continue;
      }
      if (TakeArgument(line, path)) return true;
      continue;
    }
    if (next_arg_ == args_.size()) return false;
    const std::string& arg = args_[next_arg_++];
    if (arg == "-") {
      reading_stdin_ = true;
      continue;
    }
    if (TakeArgument(arg, path)) return true;
  }
}

bool PathWalker::TakeArgument(const std::string& arg, std::string* path) {
  std::error_code ec;
  if (fs::is_directory(arg, ec) && ExpandDirectory(arg)) return false;
  *path = arg;
  return true;
}

}  // namespace safeguard::cli
