// Runs the real `easel` binary for the CLI tests: exit code and combined output.
#pragma once

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>

#include "test_paths.h"

namespace easel::testing {

struct CliRun {
  int code = -1;
  std::string out;  // stdout and stderr together
};

// Runs `build/easel ARGS` through the shell (arguments are quoted by the caller).
inline CliRun Easel(const std::string& args) {
  const std::string cmd = std::string(EASEL_BINARY_DIR "/easel ") + args + " 2>&1";
  CliRun r;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  const int status = ::pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

// Single-quotes a shell argument (test paths hold no quotes).
inline std::string Q(const std::string& s) {
  return "'" + s + "'";
}

}  // namespace easel::testing
