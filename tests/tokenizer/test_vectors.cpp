// The llama.cpp tokenizer test vectors: every vocab with a .gguf and .inp/.out must match exactly
// (encode with add_special = false, parse_special = false), plus extra-checks.json.
#include <nlohmann/json.hpp>

#include "test_util.h"

namespace dari::test {
namespace {

struct Case {
  std::string text;
  std::vector<TokenId> ids;
};

std::vector<Case> read_cases(const std::string& name) {
  const std::string base = vocab_path(name);
  const std::string inp = read_file_bytes(base + ".inp");
  const std::string out = read_file_bytes(base + ".out");
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> texts;
  for (size_t pos = 0; pos < inp.size();) {
    const size_t at = inp.find(sep, pos);
    if (at == std::string::npos) break;
    texts.push_back(inp.substr(pos, at - pos));
    pos = at + sep.size();
  }
  std::vector<Case> cases;
  std::istringstream lines(out);
  std::string line;
  for (size_t i = 0; std::getline(lines, line); ++i) {
    Case c;
    if (i < texts.size()) c.text = texts[i];
    std::istringstream nums(line);
    long long v = 0;
    while (nums >> v) c.ids.push_back(static_cast<TokenId>(v));
    cases.push_back(std::move(c));
  }
  EXPECT_EQ(cases.size(), texts.size()) << name;
  return cases;
}

class VocabVectors : public ::testing::TestWithParam<std::string> {};

TEST_P(VocabVectors, MatchesReferenceTokenization) {
  const std::string name = GetParam();
  const Tokenizer* tok = load_vocab(name);
  ASSERT_NE(tok, nullptr);
  const std::vector<Case> cases = read_cases(name);
  ASSERT_EQ(cases.size(), 46u) << name;
  size_t passed = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    const std::vector<TokenId> got = plain(*tok, cases[i].text);
    if (got == cases[i].ids) {
      ++passed;
    } else {
      ADD_FAILURE() << name << " case " << i << " text '" << cases[i].text << "'\n  expected "
                    << ::testing::PrintToString(cases[i].ids) << "\n  got      "
                    << ::testing::PrintToString(got);
    }
  }
  std::printf("[ vectors  ] %s: %zu/%zu passed\n", name.c_str(), passed, cases.size());
  EXPECT_EQ(passed, cases.size());
}

INSTANTIATE_TEST_SUITE_P(Tokenizer, VocabVectors,
                         ::testing::Values("llama-spm", "phi-3", "llama-bpe", "qwen2",
                                           "deepseek-llm", "deepseek-coder", "gpt-2", "falcon",
                                           "starcoder", "mpt", "refact", "bert-bge"),
                         [](const ::testing::TestParamInfo<std::string>& p) {
                           std::string n = p.param;
                           for (char& c : n) c = (c == '-') ? '_' : c;
                           return n;
                         });

TEST(TokenizerExtraChecks, AllListedCasesMatch) {
  const std::string path = std::string(DARI_TESTDATA_DIR) + "/tokenizer/extra-checks.json";
  const nlohmann::json checks = nlohmann::json::parse(read_file_bytes(path));
  ASSERT_TRUE(checks.is_array());
  ASSERT_GE(checks.size(), 14u);
  size_t passed = 0;
  for (const auto& c : checks) {
    std::string vocab = c.at("vocab").get<std::string>();
    vocab = vocab.substr(std::string("ggml-vocab-").size());
    vocab = vocab.substr(0, vocab.size() - std::string(".gguf").size());
    const Tokenizer* tok = load_vocab(vocab);
    ASSERT_NE(tok, nullptr);
    EncodeOptions o;
    o.add_special = c.at("add_special").get<bool>();
    o.parse_special = c.at("parse_special").get<bool>();
    const auto expected = c.at("ids").get<std::vector<TokenId>>();
    const auto got = tok->encode(c.at("text").get<std::string>(), o);
    EXPECT_EQ(got, expected) << vocab << ": " << c.at("note").get<std::string>();
    passed += got == expected;
  }
  std::printf("[ extra    ] %zu/%zu passed\n", passed, checks.size());
}

}  // namespace
}  // namespace dari::test
