// End-to-end test of `dari inspect`: runs the built binary and checks its output and exit code.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "dari/io/gguf.h"
#include "dari/io/gguf_summary.h"
#include "gguf_test_util.h"

namespace dari {
namespace {

using ::testing::HasSubstr;

const std::string kDari = std::string(DARI_BINARY_DIR) + "/dari";
const std::string kStories = std::string(DARI_TESTDATA_DIR) + "/models/stories260K.gguf";

struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

RunResult run_dari(const std::string& args) {
  auto dir = test::temp_dir();
  std::string out = (dir / "stdout").string(), err = (dir / "stderr").string();
  std::string cmd = "'" + kDari + "' " + args + " >'" + out + "' 2>'" + err + "'";
  int status = std::system(cmd.c_str());
  RunResult r;
  if (status != -1 && WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  r.out = slurp(out);
  r.err = slurp(err);
  std::filesystem::remove_all(dir);
  return r;
}

TEST(InspectCli, JsonOnStories260K) {
  RunResult r = run_dari("inspect --json '" + kStories + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["version"], 3);
  EXPECT_EQ(j["n_kv"], 19);
  EXPECT_EQ(j["n_tensors"], 48);
  EXPECT_EQ(j["alignment"], 32);
  EXPECT_EQ(j["data_offset"], 14176);
  EXPECT_EQ(j["file_size"], 1185376);
  EXPECT_EQ(j["architecture"], "llama");
  EXPECT_TRUE(j["file_type"].is_null());
  EXPECT_EQ(j["total_parameters"], 292800);
  EXPECT_EQ(j["total_tensor_bytes"], 292800 * 4);
  const auto& hp = j["hyperparameters"];
  EXPECT_EQ(hp["context_length"], 2048);
  EXPECT_EQ(hp["embedding_length"], 64);
  EXPECT_EQ(hp["block_count"], 5);
  EXPECT_EQ(hp["feed_forward_length"], 172);
  EXPECT_EQ(hp["attention.head_count"], 8);
  EXPECT_EQ(hp["attention.head_count_kv"], 4);
  EXPECT_EQ(hp["rope.dimension_count"], 8);
  EXPECT_NEAR(hp["attention.layer_norm_rms_epsilon"].get<double>(), 1e-5, 1e-10);
  const auto& tok = j["tokenizer"];
  EXPECT_EQ(tok["model"], "llama");
  EXPECT_EQ(tok["n_tokens"], 512);
  EXPECT_EQ(tok["n_merges"], 0);
  EXPECT_EQ(tok["bos_id"], 1);
  EXPECT_EQ(tok["eos_id"], 2);
  EXPECT_EQ(tok["unk_id"], 0);
  EXPECT_EQ(tok["pad_id"], 4294967295u);
  EXPECT_EQ(tok["has_chat_template"], false);
  ASSERT_EQ(j["tensors"].size(), 48u);
  EXPECT_EQ(j["tensors"][0]["name"], "token_embd.weight");
  EXPECT_EQ(j["tensors"][0]["type"], "F32");
  EXPECT_EQ(j["tensors"][0]["shape"], nlohmann::json({64, 512}));
  EXPECT_EQ(j["tensors"][0]["n_bytes"], 131072);
  EXPECT_EQ(j["tensors"][9]["name"], "blk.0.ffn_down.weight");
  EXPECT_EQ(j["tensors"][9]["shape"], nlohmann::json({172, 64}));
  ASSERT_EQ(j["metadata"].size(), 19u);
  EXPECT_EQ(j["metadata"][0]["key"], "tokenizer.ggml.tokens");
  EXPECT_EQ(j["metadata"][0]["type"], "array of string");
}

TEST(InspectCli, TextOnLlamaTinyRandom) {
  RunResult r = run_dari("inspect '" + std::string(DARI_TESTDATA_DIR) + "/models/llama-2-tiny-random.gguf'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("version 3, 18 metadata keys, 12 tensors, alignment 32, data at byte 724416"));
  EXPECT_THAT(r.out, HasSubstr("file type:     1 (MOSTLY_F16)"));
  EXPECT_THAT(r.out, HasSubstr("32000 tokens"));
  EXPECT_THAT(r.out, HasSubstr("token_embd.weight"));
  EXPECT_THAT(r.out, HasSubstr("[8, 32000]"));
}

TEST(InspectCli, MalformedFileGivesOneLineAndExitCode1) {
  auto dir = test::temp_dir();
  std::string bad = (dir / "bad.gguf").string();
  test::RawGguf b;
  b.header(3, 1, 0).tensor("w", {1ull << 32, 1ull << 32}, 0, 0).pad(32).zeros(64);
  {
    std::ofstream out(bad, std::ios::binary);
    out.write(reinterpret_cast<const char*>(b.bytes.data()), static_cast<std::streamsize>(b.size()));
  }
  RunResult r = run_dari("inspect --json '" + bad + "'");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "dari: error: " + bad + ": offset 33: tensor 0 'w': dims product overflows\n");
  RunResult missing = run_dari("inspect '" + (dir / "nope.gguf").string() + "'");
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.err, HasSubstr("dari: error: "));
  EXPECT_EQ(std::count(missing.err.begin(), missing.err.end(), '\n'), 1);
  std::filesystem::remove_all(dir);
}

TEST(GgufSummary, FileTypeNamesAndDisplay) {
  EXPECT_EQ(gguf_file_type_name(0), "ALL_F32");
  EXPECT_EQ(gguf_file_type_name(1), "MOSTLY_F16");
  EXPECT_EQ(gguf_file_type_name(2), "MOSTLY_Q4_0");
  EXPECT_EQ(gguf_file_type_name(7), "MOSTLY_Q8_0");
  EXPECT_EQ(gguf_file_type_name(15), "MOSTLY_Q4_K_M");
  EXPECT_EQ(gguf_file_type_name(18), "MOSTLY_Q6_K");
  EXPECT_EQ(gguf_file_type_name(30), "MOSTLY_IQ4_XS");
  EXPECT_EQ(gguf_file_type_name(32), "MOSTLY_BF16");
  EXPECT_EQ(gguf_file_type_name(38), "MOSTLY_MXFP4_MOE");
  EXPECT_EQ(gguf_file_type_name(5), "UNKNOWN");
  EXPECT_EQ(gguf_file_type_name(39), "UNKNOWN");
  EXPECT_EQ(gguf_value_display(GgufValue(GgufValue::Storage(std::string("a\nb")))), "\"a\\x0ab\"");
  EXPECT_EQ(gguf_value_display(GgufValue(GgufValue::Storage(int8_t{-3}))), "-3");
  EXPECT_EQ(gguf_value_display(GgufValue(GgufValue::Storage(true))), "true");
}

TEST(GgufSummary, TokenizerVocabSummary) {
  auto f = GgufFile::open(std::string(DARI_TESTDATA_DIR) + "/tokenizer/ggml-vocab-qwen2.gguf");
  ASSERT_TRUE(f.ok()) << f.message();
  GgufSummary s = summarize_gguf(*f);
  EXPECT_EQ(s.architecture, "qwen2");
  EXPECT_EQ(s.tokenizer.model, "gpt2");
  EXPECT_EQ(s.tokenizer.pre, "qwen2");
  EXPECT_EQ(s.tokenizer.n_tokens, 151936u);
  EXPECT_EQ(s.tokenizer.n_merges, 151387u);
  EXPECT_EQ(s.tokenizer.bos_id, 151643);
  EXPECT_EQ(s.tokenizer.pad_id, 151643);
  EXPECT_TRUE(s.tensors.empty());
  nlohmann::json j = nlohmann::json::parse(gguf_summary_to_json(s, -1));
  EXPECT_EQ(j["tokenizer"]["n_merges"], 151387);
}

}  // namespace
}  // namespace dari
