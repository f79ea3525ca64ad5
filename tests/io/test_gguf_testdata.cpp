// Opens the real GGUF files in the shared test data and checks the values their SOURCES.md
// files state.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <string>

#include "dari/io/gguf.h"

namespace dari {
namespace {

using ::testing::HasSubstr;

const std::string kModels = std::string(DARI_TESTDATA_DIR) + "/models/";
const std::string kTokenizer = std::string(DARI_TESTDATA_DIR) + "/tokenizer/";

GgufFile open_or_die(const std::string& path) {
  auto r = GgufFile::open(path);
  if (!r.ok()) ADD_FAILURE() << r.message();
  return std::move(r).value();
}

std::vector<uint64_t> shape(const GgufTensorInfo& t) { return {t.ne, t.ne + t.n_dims}; }

float f32_at(const GgufTensorInfo& t, size_t i) {
  float v = 0;
  std::memcpy(&v, t.data + i * sizeof(float), sizeof(float));
  return v;
}

TEST(GgufTestdata, EveryFileOpens) {
  int n = 0;
  for (const std::string& dir : {kModels, kTokenizer}) {
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
      if (entry.path().extension() != ".gguf") continue;
      auto r = GgufFile::open(entry.path().string());
      EXPECT_TRUE(r.ok()) << r.message();
      if (r.ok()) {
        EXPECT_EQ(r->version(), 3u) << entry.path();
        EXPECT_EQ(r->file_size(), std::filesystem::file_size(entry.path()));
      }
      ++n;
    }
  }
  EXPECT_EQ(n, 16);  // 2 models + 14 vocabularies
}

TEST(GgufTestdata, Stories260KHeader) {
  GgufFile f = open_or_die(kModels + "stories260K.gguf");
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.metadata().size(), 19u);
  EXPECT_EQ(f.tensors().size(), 48u);
  EXPECT_EQ(f.alignment(), 32u);
  EXPECT_EQ(f.data_offset(), 14176u);
  EXPECT_EQ(f.file_size(), 1185376u);
  EXPECT_EQ(f.metadata()[0].first.rfind("tokenizer.", 0), 0u);  // general.* is not first
  EXPECT_EQ(f.get_string("general.architecture").value(), "llama");
  EXPECT_EQ(f.get_string("general.name").value(), "llama");
  EXPECT_EQ(f.get_u32("llama.context_length").value(), 2048u);
  EXPECT_EQ(f.get_u32("llama.embedding_length").value(), 64u);
  EXPECT_EQ(f.get_u32("llama.block_count").value(), 5u);
  EXPECT_EQ(f.get_u32("llama.feed_forward_length").value(), 172u);
  EXPECT_EQ(f.get_u32("llama.attention.head_count").value(), 8u);
  EXPECT_EQ(f.get_u32("llama.attention.head_count_kv").value(), 4u);
  EXPECT_EQ(f.get_u32("llama.rope.dimension_count").value(), 8u);
  EXPECT_FLOAT_EQ(f.get_f32("llama.attention.layer_norm_rms_epsilon").value(), 1e-5f);
  EXPECT_FALSE(f.has("general.file_type"));
  EXPECT_FALSE(f.has("general.alignment"));
  EXPECT_FALSE(f.has("tokenizer.chat_template"));
  EXPECT_EQ(f.find("llama.context_length")->type(), GgufValueType::UINT32);
}

TEST(GgufTestdata, Stories260KTokenizer) {
  GgufFile f = open_or_die(kModels + "stories260K.gguf");
  EXPECT_EQ(f.get_string("tokenizer.ggml.model").value(), "llama");
  auto tokens = f.get_string_array("tokenizer.ggml.tokens").value();
  ASSERT_EQ(tokens.size(), 512u);
  EXPECT_EQ(tokens[0], "<unk>");
  EXPECT_EQ(tokens[1], "<s>");
  EXPECT_EQ(tokens[2], "</s>");
  EXPECT_EQ(tokens[3], "<0x00>");
  EXPECT_EQ(tokens[258], "<0xFF>");
  EXPECT_EQ(f.get_f32_array("tokenizer.ggml.scores").value().size(), 512u);
  auto types = f.get_i32_array("tokenizer.ggml.token_type").value();
  ASSERT_EQ(types.size(), 512u);
  int counts[7] = {};
  for (int32_t t : types) {
    ASSERT_GE(t, 0);
    ASSERT_LT(t, 7);
    ++counts[t];
  }
  EXPECT_EQ(counts[1], 253);
  EXPECT_EQ(counts[2], 1);
  EXPECT_EQ(counts[3], 2);
  EXPECT_EQ(counts[6], 256);
  EXPECT_EQ(f.get_u32("tokenizer.ggml.unknown_token_id").value(), 0u);
  EXPECT_EQ(f.get_u32("tokenizer.ggml.bos_token_id").value(), 1u);
  EXPECT_EQ(f.get_u32("tokenizer.ggml.eos_token_id").value(), 2u);
  EXPECT_EQ(f.get_u32("tokenizer.ggml.padding_token_id").value(), 4294967295u);
  EXPECT_EQ(f.get_u64_array("tokenizer.ggml.token_type").value()[3], 6u);
}

TEST(GgufTestdata, Stories260KTensors) {
  GgufFile f = open_or_die(kModels + "stories260K.gguf");
  const auto& ts = f.tensors();
  ASSERT_EQ(ts.size(), 48u);
  EXPECT_EQ(ts[0].name, "token_embd.weight");
  EXPECT_EQ(ts[1].name, "output_norm.weight");
  EXPECT_EQ(ts[2].name, "output.weight");
  EXPECT_EQ(ts[3].name, "blk.0.attn_q.weight");
  EXPECT_EQ(ts[47].name, "blk.4.ffn_norm.weight");
  uint64_t total = 0;
  for (const auto& t : ts) {
    EXPECT_EQ(t.type, GgmlType::F32) << t.name;
    EXPECT_EQ(t.n_bytes, t.n_elements * 4) << t.name;
    total += t.n_elements;
  }
  EXPECT_EQ(total, 292800u);
  const std::vector<std::pair<std::string, std::vector<uint64_t>>> expected = {
      {"token_embd.weight", {64, 512}},       {"output_norm.weight", {64}},
      {"output.weight", {64, 512}},           {"blk.0.attn_q.weight", {64, 64}},
      {"blk.2.attn_k.weight", {64, 32}},      {"blk.3.attn_v.weight", {64, 32}},
      {"blk.4.attn_output.weight", {64, 64}}, {"blk.1.attn_norm.weight", {64}},
      {"blk.0.ffn_gate.weight", {64, 172}},   {"blk.0.ffn_down.weight", {172, 64}},
      {"blk.4.ffn_up.weight", {64, 172}},     {"blk.4.ffn_norm.weight", {64}},
  };
  for (const auto& [name, dims] : expected) {
    const GgufTensorInfo* t = f.find_tensor(name);
    ASSERT_NE(t, nullptr) << name;
    EXPECT_EQ(shape(*t), dims) << name;
  }
  EXPECT_EQ(f.find_tensor("blk.5.attn_q.weight"), nullptr);
  // The last tensor ends exactly at the end of the file.
  const GgufTensorInfo& last = ts.back();
  EXPECT_EQ(f.data_offset() + last.offset + last.n_bytes, f.file_size());
  // Spot values from SOURCES.md.
  const GgufTensorInfo* embd = f.find_tensor("token_embd.weight");
  EXPECT_NEAR(f32_at(*embd, 64 + 0), -0.127086f, 1e-6);
  EXPECT_NEAR(f32_at(*embd, 64 + 1), -0.524081f, 1e-6);
  EXPECT_NEAR(f32_at(*embd, 64 + 2), 0.606290f, 1e-6);
  EXPECT_NEAR(f32_at(*embd, 64 + 3), -0.271661f, 1e-6);
  const GgufTensorInfo* norm = f.find_tensor("output_norm.weight");
  EXPECT_NEAR(f32_at(*norm, 0), 2.458309f, 1e-6);
  EXPECT_NEAR(f32_at(*norm, 3), 1.107832f, 1e-6);
  const GgufTensorInfo* out = f.find_tensor("output.weight");
  EXPECT_EQ(std::memcmp(embd->data, out->data, embd->n_bytes), 0);  // tied, stored twice
}

TEST(GgufTestdata, LlamaTinyRandom) {
  GgufFile f = open_or_die(kModels + "llama-2-tiny-random.gguf");
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.metadata().size(), 18u);
  EXPECT_EQ(f.tensors().size(), 12u);
  EXPECT_EQ(f.data_offset(), 724416u);
  EXPECT_EQ(f.get_string("general.name").value(), "LLaMA v2");
  EXPECT_EQ(f.get_u32("general.file_type").value(), 1u);
  EXPECT_EQ(f.get_u32("llama.context_length").value(), 4096u);
  EXPECT_EQ(f.get_u32("llama.embedding_length").value(), 8u);
  EXPECT_EQ(f.get_u32("llama.block_count").value(), 1u);
  EXPECT_EQ(f.get_u32("llama.feed_forward_length").value(), 32u);
  EXPECT_EQ(f.get_u32("llama.attention.head_count").value(), 2u);
  EXPECT_EQ(f.get_u32("llama.attention.head_count_kv").value(), 2u);
  EXPECT_EQ(f.get_string_array("tokenizer.ggml.tokens").value().size(), 32000u);
  uint64_t total = 0;
  for (const auto& t : f.tensors()) total += t.n_elements;
  EXPECT_EQ(total, 513048u);
  const GgufTensorInfo* embd = f.find_tensor("token_embd.weight");
  ASSERT_NE(embd, nullptr);
  EXPECT_EQ(embd->type, GgmlType::F16);
  EXPECT_EQ(shape(*embd), (std::vector<uint64_t>{8, 32000}));
  EXPECT_EQ(embd->n_bytes, 8u * 32000u * 2u);
  EXPECT_EQ(f.find_tensor("output.weight")->type, GgmlType::F16);
  EXPECT_EQ(shape(*f.find_tensor("blk.0.ffn_down.weight")), (std::vector<uint64_t>{32, 8}));
  for (const char* name : {"blk.0.attn_norm.weight", "blk.0.ffn_norm.weight", "output_norm.weight"}) {
    const GgufTensorInfo* t = f.find_tensor(name);
    ASSERT_NE(t, nullptr) << name;
    EXPECT_EQ(t->type, GgmlType::F32);
    EXPECT_EQ(shape(*t), (std::vector<uint64_t>{8}));
    for (size_t i = 0; i < 8; ++i) EXPECT_EQ(f32_at(*t, i), 1.0f) << name;
  }
}

struct VocabCase {
  const char* file;
  const char* model;
  const char* pre;  // "" = key absent
  uint64_t n_tokens;
};

TEST(GgufTestdata, TokenizerVocabs) {
  const VocabCase cases[] = {
      {"llama-spm", "llama", "default", 32000},   {"phi-3", "llama", "default", 32064},
      {"baichuan", "llama", "", 64000},           {"bert-bge", "bert", "bert-bge", 30522},
      {"deepseek-coder", "gpt2", "deepseek-coder", 32256},
      {"deepseek-llm", "gpt2", "deepseek-llm", 102400},
      {"falcon", "gpt2", "falcon", 65024},        {"gpt-2", "gpt2", "gpt-2", 50257},
      {"gpt-neox", "gpt2", "", 50432},            {"mpt", "gpt2", "mpt", 50432},
      {"refact", "gpt2", "refact", 49216},        {"starcoder", "gpt2", "starcoder", 49152},
      {"llama-bpe", "gpt2", "llama-bpe", 128256}, {"qwen2", "gpt2", "qwen2", 151936},
  };
  for (const VocabCase& c : cases) {
    SCOPED_TRACE(c.file);
    GgufFile f = open_or_die(kTokenizer + "ggml-vocab-" + c.file + ".gguf");
    EXPECT_EQ(f.tensors().size(), 0u);
    EXPECT_EQ(f.get_string("tokenizer.ggml.model").value(), c.model);
    EXPECT_EQ(f.get_string_or("tokenizer.ggml.pre", "").value(), c.pre);
    EXPECT_EQ(f.get_string_array("tokenizer.ggml.tokens").value().size(), c.n_tokens);
  }
  GgufFile bpe = open_or_die(kTokenizer + "ggml-vocab-llama-bpe.gguf");
  EXPECT_EQ(bpe.get_string_array("tokenizer.ggml.merges").value().size(), 280147u);
  EXPECT_EQ(bpe.get_u32("tokenizer.ggml.bos_token_id").value(), 128000u);
  EXPECT_TRUE(bpe.get_bool("tokenizer.ggml.add_bos_token").value());
  GgufFile qwen = open_or_die(kTokenizer + "ggml-vocab-qwen2.gguf");
  EXPECT_EQ(qwen.get_string_array("tokenizer.ggml.merges").value().size(), 151387u);
  EXPECT_FALSE(qwen.get_bool("tokenizer.ggml.add_bos_token").value());
}

TEST(GgufAccessors, ErrorsNameKeyAndType) {
  GgufFile f = open_or_die(kModels + "stories260K.gguf");
  auto s = f.get_string("llama.block_count");
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("stories260K.gguf"));
  EXPECT_THAT(s.message(), HasSubstr("'llama.block_count'"));
  EXPECT_THAT(s.message(), HasSubstr("found uint32"));
  auto m = f.get_u32("llama.rope.freq_base");
  ASSERT_FALSE(m.ok());
  EXPECT_THAT(m.message(), HasSubstr("missing key 'llama.rope.freq_base'"));
  auto a = f.get_i32_array("tokenizer.ggml.tokens");
  ASSERT_FALSE(a.ok());
  EXPECT_THAT(a.message(), HasSubstr("found array of string"));
  auto b = f.get_bool("general.name");
  ASSERT_FALSE(b.ok());
  EXPECT_THAT(b.message(), HasSubstr("found string"));
  auto e = f.get_u32("llama.attention.layer_norm_rms_epsilon");
  ASSERT_FALSE(e.ok());
  EXPECT_THAT(e.message(), HasSubstr("found float32"));
  auto sa = f.get_string_array("tokenizer.ggml.scores");
  ASSERT_FALSE(sa.ok());
  EXPECT_THAT(sa.message(), HasSubstr("array of float32"));
  EXPECT_EQ(f.get_u32_or("llama.rope.freq_base", 7).value(), 7u);
  EXPECT_FLOAT_EQ(f.get_f32_or("llama.rope.freq_base", 10000.0f).value(), 10000.0f);
  EXPECT_FALSE(f.get_u32_or("general.name", 7).ok());  // present but wrong type
  EXPECT_EQ(f.get_string_or("general.architecture", "x").value(), "llama");
  EXPECT_TRUE(f.get_bool_or("tokenizer.ggml.add_bos_token", true).value());
  EXPECT_EQ(f.get_u64_or("llama.block_count", 0).value(), 5u);
  EXPECT_EQ(f.get_i64("tokenizer.ggml.padding_token_id").value(), 4294967295);
  EXPECT_DOUBLE_EQ(f.get_f64("llama.block_count").value(), 5.0);
}

}  // namespace
}  // namespace dari
