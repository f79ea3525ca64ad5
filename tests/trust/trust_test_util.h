// Shared helpers for the trust tests: a fresh folder in the build tree per test.
#pragma once

#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "dari/trust/trust.h"

namespace dari::trust::testing {

inline std::string fresh_dir() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::filesystem::path dir = std::filesystem::path(DARI_BINARY_DIR) / "tests-tmp" / "trust" /
                              (std::string(info->test_suite_name()) + "." + info->name());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

inline std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void spit(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

// A policy whose files live in `dir`.
inline Policy policy_in(const std::string& dir) {
  Policy p = default_policy();
  p.signing_key_file = dir + "/operator.key";
  p.audit_db = dir + "/audit.db";
  p.keys_db = dir + "/keys.db";
  return p;
}

// A sample audit record number i (distinct id, time, prompt and output).
inline AuditRecord sample(int i) {
  AuditRecord r;
  r.time_ms = 1764000000000 + i * 1000;
  r.request_id = "req-" + std::to_string(i);
  r.key_id = "k1";
  r.client = "127.0.0.1";
  r.endpoint = "/v1/chat/completions";
  r.model = "dari-tiny";
  r.sampling_json = "{\"temperature\":0.7,\"seed\":42}";
  r.prompt_tokens = 10;
  r.completion_tokens = 20;
  r.finish_reason = "stop";
  r.prompt = "prompt " + std::to_string(i);
  r.output = "output " + std::to_string(i);
  return r;
}

// Runs the built `dari` with args (shell words); exit code and stdout+stderr.
struct CliRun {
  int code = -1;
  std::string out;
};

inline CliRun dari(const std::string& args) {
  std::string cmd = std::string(DARI_BINARY_DIR) + "/dari " + args + " 2>&1";
  CliRun r;
  std::FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  int status = pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

}  // namespace dari::trust::testing
