// Runs the built `dari` binary from a test with stdin, stdout and stderr in files, for the CLI
// tests of several folders (engine, perf, tools). Header-only; any thread, but each call's
// `name` must be unique among calls running at the same time (it names the files).
#pragma once

#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

namespace dari::test {

struct CliOutput {
  int status = -1;  // exit status, -1 when killed by a signal
  std::string out;
  std::string err;
};

inline std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Runs `dari args` (args already shell-quoted) with `stdin_text` as its input; the files
// <dir>/<name>.in/.out/.err are kept for a failing test to look at.
inline CliOutput run_cli(const std::string& dari, const std::string& dir, const std::string& name,
                         const std::string& args, const std::string& stdin_text = "") {
  std::filesystem::create_directories(dir);
  const std::string in = dir + "/" + name + ".in";
  const std::string out = dir + "/" + name + ".out";
  const std::string err = dir + "/" + name + ".err";
  std::ofstream(in, std::ios::binary) << stdin_text;
  const std::string cmd =
      "'" + dari + "' " + args + " <'" + in + "' >'" + out + "' 2>'" + err + "'";
  const int rc = std::system(cmd.c_str());
  CliOutput o;
  o.status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  o.out = slurp(out);
  o.err = slurp(err);
  return o;
}

}  // namespace dari::test
