// Shared helpers for the trust tests: a fresh folder in the build tree per test.
#pragma once

#include <gtest/gtest.h>

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

}  // namespace dari::trust::testing
