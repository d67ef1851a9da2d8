// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.

#include "cli_util.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace safeguard::testing {

CliResult RunCli(const std::string& args, const std::string& env) {
  char err_path[] = "/tmp/safeguard-cli-err-XXXXXX";
  const int fd = mkstemp(err_path);
  if (fd >= 0) close(fd);
  const std::string cmd =
      "exec 2>" + std::string(err_path) + "; " + env + " " + std::string(SAFEGUARD_CLI_PATH) + " " + args;
  CliResult r;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) r.out.append(buf, n);
  const int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream in(err_path);
  std::stringstream ss;
  ss << in.rdbuf();
  r.err = ss.str();
  std::remove(err_path);
  return r;
}

std::vector<nlohmann::json> JsonLines(const std::string& out) {
  std::vector<nlohmann::json> v;
  std::stringstream ss(out);
  std::string line;
  while (std::getline(ss, line)) v.push_back(nlohmann::json::parse(line));
  return v;
}

std::string ShellQuote(const std::string& s) {
  std::string q = "'";
  for (char c : s) {
    if (c == '\'') {
      q += "'\\''";
    } else {
      q += c;
    }
  }
  return q + "'";
}

}  // namespace safeguard::testing
