// Synthetic random-weight models (dari/convert/synthetic.h) and the llama.cpp type mixes.
#include "dari/convert/synthetic.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "dari/io/gguf.h"
#include "dari/model/model.h"

namespace dari {
namespace {

std::string tmp_path(const std::string& name) {
  const std::filesystem::path dir =
      std::filesystem::path(DARI_BINARY_DIR) / "tests" / "convert" / "synthetic_tmp";
  std::filesystem::create_directories(dir);
  return (dir / name).string();
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::string write(const std::string& shape, const std::string& type, const std::string& name,
                  uint64_t seed = 1, unsigned threads = 2) {
  auto s = synthetic_shape(shape);
  EXPECT_TRUE(s.ok()) << s.message();
  auto mix = parse_quant_mix(type);
  EXPECT_TRUE(mix.ok()) << mix.message();
  const std::string path = tmp_path(name);
  SyntheticOptions o;
  o.seed = seed;
  o.n_threads = threads;
  auto r = write_synthetic_model(*s, *mix, path, o);
  EXPECT_TRUE(r.ok()) << r.message();
  if (r.ok()) {
    EXPECT_EQ(r->n_params, synthetic_param_count(*s));
    EXPECT_EQ(r->file_bytes, std::filesystem::file_size(path));
  }
  return path;
}

TEST(Synthetic, NamedShapesMatchTheRealModels) {
  auto t = synthetic_shape("tinyllama-1.1b");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->n_embd, 2048u);
  EXPECT_EQ(t->n_layer, 22u);
  EXPECT_EQ(t->n_head, 32u);
  EXPECT_EQ(t->n_head_kv, 4u);
  EXPECT_EQ(t->n_ff, 5632u);
  EXPECT_EQ(t->n_vocab, 32000u);
  // TinyLlama-1.1B has 1,100,048,384 parameters.
  EXPECT_EQ(synthetic_param_count(*t), 1100048384ull);
  auto q = synthetic_shape("qwen2.5-0.5b");
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->arch, "qwen2");
  EXPECT_TRUE(q->qkv_bias);
  EXPECT_TRUE(q->tied);
  EXPECT_TRUE(synthetic_shape("llama-3.2-1b").ok());
  EXPECT_TRUE(synthetic_shape("llama-3-8b").ok());
  auto bad = synthetic_shape("gpt-5");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.message().find("tinyllama-1.1b"), std::string::npos) << bad.message();
}

TEST(Synthetic, TinyModelLoadsWithItsShapeAndGivesFiniteLogits) {
  const std::string path = write("tiny", "F32", "tiny-f32.gguf");
  auto m = Model::load(path, {.n_threads = 2});
  ASSERT_TRUE(m.ok()) << m.message();
  const ModelConfig& c = (*m)->config();
  EXPECT_EQ(c.arch, "llama");
  EXPECT_EQ(c.n_embd, 256u);
  EXPECT_EQ(c.n_layer, 2u);
  EXPECT_EQ(c.n_head, 4u);
  EXPECT_EQ(c.n_head_kv, 2u);
  EXPECT_EQ(c.n_ff, 512u);
  EXPECT_EQ(c.n_vocab, 384u);
  auto kv = KvCache::create((*m)->kv_options(64));
  ASSERT_TRUE(kv.ok()) << kv.message();
  const SeqId seq = kv->add_sequence();
  ASSERT_TRUE(kv->reserve(seq, 4).ok());
  ForwardBatch b{{1, 300, 17, 5}, {0, 1, 2, 3}, {seq, seq, seq, seq}, {0, 0, 0, 1}};
  std::vector<float> logits;
  ASSERT_TRUE((*m)->forward(b, *kv, &logits).ok());
  ASSERT_EQ(logits.size(), 384u);
  double ss = 0;
  for (float v : logits) {
    ASSERT_TRUE(std::isfinite(v));
    ss += double{v} * v;
  }
  EXPECT_GT(ss, 0.0);
}

TEST(Synthetic, QwenShapeHasBiasesAndNoOutputTensor) {
  const std::string path = write("tiny-qwen2", "Q8_0", "tiny-qwen2-q8.gguf");
  auto f = GgufFile::open(path);
  ASSERT_TRUE(f.ok()) << f.message();
  EXPECT_NE(f->find_tensor("blk.0.attn_q.bias"), nullptr);
  EXPECT_EQ(f->find_tensor("output.weight"), nullptr);
  // Tied: token_embd plays the output's part, so it gets the output's type (Q8_0 base -> Q8_0).
  EXPECT_EQ(f->find_tensor("token_embd.weight")->type, GgmlType::Q8_0);
  auto m = Model::load(path, {.n_threads = 1});
  ASSERT_TRUE(m.ok()) << m.message();
  EXPECT_EQ((*m)->config().arch, "qwen2");
  EXPECT_TRUE((*m)->config().tied_output);
}

TEST(Synthetic, SameSeedSameBytesWhateverTheThreadCount) {
  const std::string a = write("tiny", "Q4_0", "det-a.gguf", 7, 1);
  const std::string b = write("tiny", "Q4_0", "det-b.gguf", 7, 2);
  const std::string c = write("tiny", "Q4_0", "det-c.gguf", 8, 2);
  const std::string ba = slurp(a);
  ASSERT_GT(ba.size(), 100000u);
  EXPECT_TRUE(ba == slurp(b));
  EXPECT_FALSE(ba == slurp(c));
}

TEST(Synthetic, Q4KMMixFollowsLlamaCppsRule) {
  const std::string path = write("tiny", "Q4_K_M", "tiny-q4km.gguf");
  auto f = GgufFile::open(path);
  ASSERT_TRUE(f.ok()) << f.message();
  EXPECT_EQ(f->find_tensor("output.weight")->type, GgmlType::Q6_K);
  EXPECT_EQ(f->find_tensor("token_embd.weight")->type, GgmlType::Q4_K);
  EXPECT_EQ(f->find_tensor("blk.0.attn_q.weight")->type, GgmlType::Q4_K);
  EXPECT_EQ(f->find_tensor("blk.0.attn_norm.weight")->type, GgmlType::F32);
  // 2 layers: use_more_bits(0, 2) is false, use_more_bits(1, 2) is true (1 >= 7 * 2 / 8).
  EXPECT_EQ(f->find_tensor("blk.0.attn_v.weight")->type, GgmlType::Q4_K);
  EXPECT_EQ(f->find_tensor("blk.1.attn_v.weight")->type, GgmlType::Q6_K);
  EXPECT_EQ(f->find_tensor("blk.1.ffn_down.weight")->type, GgmlType::Q6_K);
  EXPECT_EQ(f->get_u32("general.file_type").value(), 15u);
  ASSERT_TRUE(Model::load(path, {.n_threads = 1}).ok());

  // TinyLlama's 22 layers: Q6_K attn_v / ffn_down on layers 0, 1, 4, 7, 10, 13, 16, 19, 20, 21.
  const QuantMix km = parse_quant_mix("q4_k_m").value();
  std::string six;
  for (int l = 0; l < 22; ++l) {
    const GgmlType t = choose_tensor_type(km, "blk." + std::to_string(l) + ".ffn_down.weight",
                                          {5632, 2048}, 22, true);
    if (t == GgmlType::Q6_K) six += std::to_string(l) + ",";
  }
  EXPECT_EQ(six, "0,1,4,7,10,13,16,19,20,21,");
  // Rows not a multiple of 256 fall back (qwen2.5-0.5b is 896 wide).
  EXPECT_EQ(choose_tensor_type(km, "blk.3.attn_q.weight", {896, 896}, 24, false), GgmlType::Q5_0);
  EXPECT_EQ(choose_tensor_type(km, "token_embd.weight", {896, 151936}, 24, false), GgmlType::Q8_0);
  // Q5_K_M: the same layers get Q6_K; rows not a multiple of 256 fall back to Q5_1.
  const QuantMix k5 = parse_quant_mix("q5_k_m").value();
  EXPECT_EQ(k5.file_type, 17u);
  std::string six5;
  for (int l = 0; l < 22; ++l) {
    const std::string blk = "blk." + std::to_string(l);
    const GgmlType down = choose_tensor_type(k5, blk + ".ffn_down.weight", {5632, 2048}, 22, true);
    const GgmlType v = choose_tensor_type(k5, blk + ".attn_v.weight", {2048, 256}, 22, true);
    EXPECT_EQ(v, down) << l;
    if (down == GgmlType::Q6_K)
      six5 += std::to_string(l) + ",";
    else
      EXPECT_EQ(down, GgmlType::Q5_K) << l;
  }
  EXPECT_EQ(six5, "0,1,4,7,10,13,16,19,20,21,");
  EXPECT_EQ(choose_tensor_type(k5, "blk.3.attn_q.weight", {896, 896}, 24, false), GgmlType::Q5_1);
  EXPECT_EQ(choose_tensor_type(k5, "output.weight", {2048, 32000}, 22, true), GgmlType::Q6_K);
  const QuantMix q40 = parse_quant_mix("Q4_0").value();
  EXPECT_EQ(choose_tensor_type(q40, "output.weight", {2048, 32000}, 22, true), GgmlType::Q6_K);
  EXPECT_EQ(choose_tensor_type(q40, "token_embd.weight", {2048, 32000}, 22, true), GgmlType::Q4_0);
  const QuantMix f16 = parse_quant_mix("F16").value();
  EXPECT_EQ(choose_tensor_type(f16, "output.weight", {2048, 32000}, 22, true), GgmlType::F16);
  EXPECT_EQ(choose_tensor_type(f16, "output_norm.weight", {2048}, 22, true), GgmlType::F32);
}

}  // namespace
}  // namespace dari
