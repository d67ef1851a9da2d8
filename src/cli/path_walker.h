// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// PathWalker turns the PATH arguments of a command into a stream of files in
// a stable order: a file as given; a directory recursively, entries sorted
// byte-wise at every level; "-" as one path per line on standard input.
// Paths come out exactly as given or as found under a given directory.
// Lazy, so a directory of millions of files or an endless stdin starts at
// once. Not thread-safe: callers serialise Next().

#ifndef SAFEGUARD_SRC_CLI_PATH_WALKER_H_
#define SAFEGUARD_SRC_CLI_PATH_WALKER_H_

#include <istream>
#include <string>
#include <vector>

namespace safeguard::cli {

class PathWalker {
 public:
  /// `args` are the PATH arguments; `stdin_stream` is read for "-".
  PathWalker(std::vector<std::string> args, std::istream* stdin_stream);

  /// Stores the next path in *path and returns true, or returns false at the
  /// end. A directory that cannot be listed yields its own path, so hashing
  /// it reports the error for that path.
  bool Next(std::string* path);

 private:
  struct Dir {
    std::vector<std::string> entries;  // sorted, full paths
    size_t next = 0;
  };
  bool ExpandDirectory(const std::string& path);
  // A file (or unlistable path) is stored in *path (returns true); a
  // directory is pushed for walking (returns false).
  bool TakeArgument(const std::string& arg, std::string* path);

  std::vector<std::string> args_;
  size_t next_arg_ = 0;
  std::istream* stdin_;
  bool reading_stdin_ = false;
  std::vector<Dir> stack_;
};

}  // namespace safeguard::cli

#endif  // SAFEGUARD_SRC_CLI_PATH_WALKER_H_
