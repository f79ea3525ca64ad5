// Shared helpers of the tokenizer tests: test-data paths and a per-process cache of loaded vocabs.
#pragma once

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>

#include "dari/tokenizer/tokenizer.h"

namespace dari::test {

inline std::string vocab_path(const std::string& name) {
  return std::string(DARI_TESTDATA_DIR) + "/tokenizer/ggml-vocab-" + name + ".gguf";
}

inline std::string read_file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Loads each vocab once per process (the big ones take a noticeable fraction of a second).
inline const Tokenizer* load_vocab(const std::string& name) {
  static std::map<std::string, std::unique_ptr<Tokenizer>> cache;
  auto it = cache.find(name);
  if (it != cache.end()) return it->second.get();
  auto tok = Tokenizer::open(vocab_path(name));
  EXPECT_TRUE(tok.ok()) << name << ": " << (tok.ok() ? "" : tok.message());
  if (!tok.ok()) return nullptr;
  auto* raw = new Tokenizer(std::move(tok).value());
  cache.emplace(name, std::unique_ptr<Tokenizer>(raw));
  return raw;
}

inline std::vector<TokenId> plain(const Tokenizer& t, std::string_view text) {
  EncodeOptions o;
  o.add_special = false;
  o.parse_special = false;
  return t.encode(text, o);
}

}  // namespace dari::test
