#include "dari/convert/convert.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>

#include "convert/hf_fixture.h"
#include "dari/io/gguf.h"
#include "dari/tensor/dtype.h"

namespace dari {
namespace {

using test::TinyModel;

TEST(Permute, ExplicitRowOrder) {
  // 2 heads of head_dim 4: per head, rows [r0 r1 | i0 i1] -> [r0 i0 r1 i1].
  std::vector<float> src = {0, 1, 2, 3, 4, 5, 6, 7};
  std::vector<float> dst(8);
  ASSERT_TRUE(permute_qk_rows(src.data(), dst.data(), 8, 1, 2).ok());
  EXPECT_EQ(dst, (std::vector<float>{0, 2, 1, 3, 4, 6, 5, 7}));
  // Whole rows move (cols = 2).
  std::vector<float> m = {0, 10, 1, 11, 2, 12, 3, 13};
  std::vector<float> md(8);
  ASSERT_TRUE(permute_qk_rows(m.data(), md.data(), 4, 2, 1).ok());
  EXPECT_EQ(md, (std::vector<float>{0, 10, 2, 12, 1, 11, 3, 13}));
  EXPECT_FALSE(permute_qk_rows(src.data(), dst.data(), 6, 1, 4).ok());
  EXPECT_FALSE(permute_qk_rows(src.data(), dst.data(), 8, 1, 0).ok());
}

// Rotate-half rope (HF) on W x equals adjacent-pair rope (GGUF "normal") on permuted(W) x,
// read through the permutation.
TEST(Permute, MakesAdjacentPairRopeMatchRotateHalf) {
  const int hd = 8, heads = 2, rows = hd * heads, cols = 3, pos = 5;
  std::vector<float> w(rows * cols), x = {0.3f, -1.2f, 0.7f};
  for (int i = 0; i < rows * cols; ++i) w[i] = std::sin(0.37f * static_cast<float>(i + 1));
  std::vector<float> wp(w.size());
  ASSERT_TRUE(permute_qk_rows(w.data(), wp.data(), rows, cols, heads).ok());
  auto matvec = [&](const std::vector<float>& m) {
    std::vector<double> y(rows, 0.0);
    for (int r = 0; r < rows; ++r)
      for (int c = 0; c < cols; ++c) y[r] += double{m[r * cols + c]} * x[c];
    return y;
  };
  std::vector<double> q = matvec(w), qp = matvec(wp);
  for (int h = 0; h < heads; ++h) {
    for (int i = 0; i < hd / 2; ++i) {
      double th = pos * std::pow(10000.0, -2.0 * i / hd);
      double re = q[h * hd + i], im = q[h * hd + i + hd / 2];
      double hf_re = re * std::cos(th) - im * std::sin(th);
      double hf_im = im * std::cos(th) + re * std::sin(th);
      double a = qp[h * hd + 2 * i], b = qp[h * hd + 2 * i + 1];
      EXPECT_NEAR(a * std::cos(th) - b * std::sin(th), hf_re, 1e-9);
      EXPECT_NEAR(b * std::cos(th) + a * std::sin(th), hf_im, 1e-9);
    }
  }
}

std::vector<float> read_f32(const GgufTensorInfo& t) {
  std::vector<float> out(t.n_elements);
  if (t.type == GgmlType::F32) {
    std::memcpy(out.data(), t.data, t.n_bytes);
  } else {
    const TypeTraits* tr = type_traits(t.type);
    tr->to_float(t.data, out.data(), static_cast<int64_t>(t.n_elements));
  }
  return out;
}

std::vector<float> permuted(const test::StTensor& t, uint32_t heads) {
  std::vector<float> out(t.values.size());
  uint64_t cols = t.shape.size() == 2 ? t.shape[1] : 1;
  EXPECT_TRUE(permute_qk_rows(t.values.data(), out.data(), t.shape[0], cols, heads).ok());
  return out;
}

struct Converted {
  std::string dir, out;
  Result<ConvertSummary> sum = make_error("not run");
};

Converted convert_tiny(const TinyModel& m, const std::string& name, int shards, bool spm,
                       GgmlType type = GgmlType::F32) {
  Converted c;
  c.dir = test::fresh_dir(name);
  m.write(c.dir, shards, spm);
  c.out = c.dir + "/out.gguf";
  ConvertOptions opts;
  opts.type = type;
  c.sum = convert_hf_checkpoint(c.dir, c.out, opts);
  return c;
}

TEST(Convert, LlamaSingleFileF32MetadataAndTensors) {
  TinyModel m;
  m.generate(1);
  auto c = convert_tiny(m, "llama_f32", 1, /*spm=*/true);
  ASSERT_TRUE(c.sum.ok()) << c.sum.message();
  EXPECT_EQ(c.sum->arch, "llama");
  EXPECT_EQ(c.sum->n_tensors, 3u + 9u * 2u);
  auto g = GgufFile::open(c.out);
  ASSERT_TRUE(g.ok()) << g.message();
  EXPECT_EQ(*g->get_string("general.architecture"), "llama");
  EXPECT_EQ(*g->get_string("general.name"), "llama_f32");
  EXPECT_EQ(*g->get_u32("general.file_type"), 0u);
  EXPECT_EQ(*g->get_u32("llama.context_length"), 256u);
  EXPECT_EQ(*g->get_u32("llama.embedding_length"), 32u);
  EXPECT_EQ(*g->get_u32("llama.block_count"), 2u);
  EXPECT_EQ(*g->get_u32("llama.feed_forward_length"), 48u);
  EXPECT_EQ(*g->get_u32("llama.attention.head_count"), 4u);
  EXPECT_EQ(*g->get_u32("llama.attention.head_count_kv"), 2u);
  EXPECT_EQ(*g->get_u32("llama.rope.dimension_count"), 8u);
  EXPECT_EQ(*g->get_u32("llama.vocab_size"), 64u);
  EXPECT_FLOAT_EQ(*g->get_f32("llama.rope.freq_base"), 10000.0f);
  EXPECT_FLOAT_EQ(*g->get_f32("llama.attention.layer_norm_rms_epsilon"), 1e-5f);
  EXPECT_FALSE(g->has("llama.attention.key_length"));
  // Tokenizer (SentencePiece, padded to vocab_size).
  EXPECT_EQ(*g->get_string("tokenizer.ggml.model"), "llama");
  auto toks = *g->get_string_array("tokenizer.ggml.tokens");
  ASSERT_EQ(toks.size(), 64u);
  EXPECT_EQ(toks[1], "<s>");
  EXPECT_EQ(toks[63], "[PAD63]");
  EXPECT_EQ(*g->get_u32("tokenizer.ggml.bos_token_id"), 1u);
  EXPECT_EQ(*g->get_u32("tokenizer.ggml.eos_token_id"), 2u);
  EXPECT_EQ(*g->get_bool("tokenizer.ggml.add_bos_token"), true);
  // Tensors: names, dims (fastest first), data (Q/K permuted, everything else verbatim).
  const auto* q = g->find_tensor("blk.1.attn_q.weight");
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(q->type, GgmlType::F32);
  EXPECT_EQ(q->ne[0], 32u);
  EXPECT_EQ(q->ne[1], 32u);
  EXPECT_EQ(read_f32(*q), permuted(m.weights.at("model.layers.1.self_attn.q_proj.weight"), 4));
  const auto* k = g->find_tensor("blk.0.attn_k.weight");
  ASSERT_NE(k, nullptr);
  EXPECT_EQ(k->ne[1], 16u);
  EXPECT_EQ(read_f32(*k), permuted(m.weights.at("model.layers.0.self_attn.k_proj.weight"), 2));
  EXPECT_EQ(read_f32(*g->find_tensor("blk.0.attn_v.weight")),
            m.weights.at("model.layers.0.self_attn.v_proj.weight").values);
  const auto* down = g->find_tensor("blk.1.ffn_down.weight");
  ASSERT_NE(down, nullptr);
  EXPECT_EQ(down->ne[0], 48u);
  EXPECT_EQ(down->ne[1], 32u);
  EXPECT_EQ(read_f32(*down), m.weights.at("model.layers.1.mlp.down_proj.weight").values);
  EXPECT_EQ(read_f32(*g->find_tensor("output.weight")), m.weights.at("lm_head.weight").values);
  EXPECT_EQ(read_f32(*g->find_tensor("output_norm.weight")), m.weights.at("model.norm.weight").values);
  EXPECT_EQ(g->find_tensor("blk.0.ffn_norm.weight")->n_dims, 1u);
}

TEST(Convert, Qwen2ShardedBf16WithBiasesTiedAndNoPermutation) {
  TinyModel m;
  m.hf_arch = "Qwen2ForCausalLM";
  m.qkv_bias = true;
  m.tied = true;
  m.dtype = "BF16";
  m.generate(2);
  auto c = convert_tiny(m, "qwen2_shards", 3, /*spm=*/false, GgmlType::F16);
  ASSERT_TRUE(c.sum.ok()) << c.sum.message();
  auto g = GgufFile::open(c.out);
  ASSERT_TRUE(g.ok()) << g.message();
  EXPECT_EQ(*g->get_string("general.architecture"), "qwen2");
  EXPECT_EQ(*g->get_u32("general.file_type"), 1u);
  EXPECT_EQ(*g->get_u32("qwen2.block_count"), 2u);
  EXPECT_EQ(g->find_tensor("output.weight"), nullptr);  // tied
  const auto* q = g->find_tensor("blk.0.attn_q.weight");
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(q->type, GgmlType::F16);
  // BF16 values with 8 mantissa bits are exact in F16 at these magnitudes; no permutation.
  EXPECT_EQ(read_f32(*q), m.weights.at("model.layers.0.self_attn.q_proj.weight").values);
  const auto* qb = g->find_tensor("blk.1.attn_q.bias");
  ASSERT_NE(qb, nullptr);
  EXPECT_EQ(qb->type, GgmlType::F32);
  EXPECT_EQ(read_f32(*qb), m.weights.at("model.layers.1.self_attn.q_proj.bias").values);
  ASSERT_NE(g->find_tensor("blk.1.attn_v.bias"), nullptr);
  // BPE tokenizer with qwen2 pre-tokenizer, chat template, eos from tokenizer_config.
  EXPECT_EQ(*g->get_string("tokenizer.ggml.model"), "gpt2");
  EXPECT_EQ(*g->get_string("tokenizer.ggml.pre"), "qwen2");
  EXPECT_EQ(g->get_string_array("tokenizer.ggml.merges")->size(), 2u);
  EXPECT_EQ(*g->get_u32("tokenizer.ggml.eos_token_id"), 58u);
  EXPECT_FALSE(g->has("tokenizer.ggml.bos_token_id"));
  EXPECT_EQ(g->get_i32_array("tokenizer.ggml.token_type")->at(58), 3);
  EXPECT_EQ(*g->get_string("tokenizer.chat_template"),
            "{% for m in messages %}{{ m.content }}{% endfor %}");
}

TEST(Convert, Qwen3HeadDimKeysAndQkNorm) {
  TinyModel m;
  m.hf_arch = "Qwen3ForCausalLM";
  m.qk_norm = true;
  m.head_dim = 16;  // != 32 / 4
  m.explicit_head_dim = true;
  m.generate(3);
  auto c = convert_tiny(m, "qwen3", 1, false);
  ASSERT_TRUE(c.sum.ok()) << c.sum.message();
  auto g = GgufFile::open(c.out);
  ASSERT_TRUE(g.ok()) << g.message();
  EXPECT_EQ(*g->get_u32("qwen3.attention.key_length"), 16u);
  EXPECT_EQ(*g->get_u32("qwen3.attention.value_length"), 16u);
  EXPECT_EQ(*g->get_u32("qwen3.rope.dimension_count"), 16u);
  const auto* qn = g->find_tensor("blk.1.attn_q_norm.weight");
  ASSERT_NE(qn, nullptr);
  EXPECT_EQ(qn->ne[0], 16u);
  EXPECT_EQ(read_f32(*qn), m.weights.at("model.layers.1.self_attn.q_norm.weight").values);
  ASSERT_NE(g->find_tensor("blk.0.attn_k_norm.weight"), nullptr);
  EXPECT_EQ(g->find_tensor("blk.0.attn_q.weight")->ne[1], 64u);
  EXPECT_EQ(g->find_tensor("blk.0.attn_output.weight")->ne[0], 64u);
  EXPECT_EQ(*g->get_string("tokenizer.ggml.pre"), "qwen2");
}

TEST(Convert, QuantizedTypesAndFallbacks) {
  TinyModel m;
  m.generate(4);
  auto c = convert_tiny(m, "llama_q4", 1, false, GgmlType::Q4_0);
  ASSERT_TRUE(c.sum.ok()) << c.sum.message();
  auto g = GgufFile::open(c.out);
  ASSERT_TRUE(g.ok()) << g.message();
  EXPECT_EQ(*g->get_u32("general.file_type"), 2u);
  EXPECT_EQ(g->find_tensor("blk.0.attn_q.weight")->type, GgmlType::Q4_0);
  EXPECT_EQ(g->find_tensor("blk.0.ffn_down.weight")->type, GgmlType::F16);  // 48 % 32 != 0
  EXPECT_EQ(g->find_tensor("token_embd.weight")->type, GgmlType::Q8_0);
  EXPECT_EQ(g->find_tensor("output.weight")->type, GgmlType::Q8_0);
  EXPECT_EQ(g->find_tensor("blk.0.attn_norm.weight")->type, GgmlType::F32);
  EXPECT_EQ(*g->get_string("tokenizer.ggml.pre"), "llama-bpe");
  // Q4_0 values stay close to the (permuted) originals: error below half a quantization step.
  auto deq = read_f32(*g->find_tensor("blk.0.attn_q.weight"));
  auto ref = permuted(m.weights.at("model.layers.0.self_attn.q_proj.weight"), 4);
  double max_err = 0;
  for (size_t i = 0; i < deq.size(); ++i) max_err = std::max(max_err, double{std::fabs(deq[i] - ref[i])});
  EXPECT_LT(max_err, 0.35 / 7.0 * 1.01);
  EXPECT_GT(max_err, 0.0);

  auto c8 = convert_tiny(m, "llama_q8", 1, false, GgmlType::Q8_0);
  ASSERT_TRUE(c8.sum.ok()) << c8.sum.message();
  auto g8 = GgufFile::open(c8.out);
  ASSERT_TRUE(g8.ok());
  EXPECT_EQ(*g8->get_u32("general.file_type"), 7u);
  EXPECT_EQ(g8->find_tensor("blk.1.ffn_up.weight")->type, GgmlType::Q8_0);
  EXPECT_LT(c8.sum->file_bytes, std::filesystem::file_size(convert_tiny(m, "llama_f32b", 1, false)
                                                                .out));
}

TEST(Convert, Llama3RopeFreqs) {
  HfConfig cfg;
  cfg.head_dim = 8;
  cfg.rope_theta = 500000.0f;
  cfg.rope_factor = 8.0f;
  cfg.rope_low_freq_factor = 1.0f;
  cfg.rope_high_freq_factor = 4.0f;
  cfg.rope_orig_ctx = 8192;
  auto f = llama3_rope_factors(cfg);
  ASSERT_EQ(f.size(), 4u);
  // Wavelengths 2*pi*500000^(i/8): 6.28 (< 2048: factor 1), ~168 (1), ~4470 (smoothed),
  // ~119000 (> 8192: factor 8).
  EXPECT_FLOAT_EQ(f[0], 1.0f);
  EXPECT_FLOAT_EQ(f[1], 1.0f);
  double wl = 2 * 3.14159265358979323846 / (1.0 / std::pow(500000.0, 4.0 / 8.0));
  double smooth = (8192.0 / wl - 1.0) / 3.0;
  EXPECT_NEAR(f[2], 1.0 / ((1 - smooth) / 8.0 + smooth), 1e-3);
  EXPECT_FLOAT_EQ(f[3], 8.0f);

  TinyModel m;
  m.generate(5);
  std::string dir = test::fresh_dir("llama3_rope");
  m.write(dir, 1, false);
  auto conf = m.config();
  conf["rope_scaling"] = {{"rope_type", "llama3"}, {"factor", 8.0}, {"low_freq_factor", 1.0},
                          {"high_freq_factor", 4.0}, {"original_max_position_embeddings", 8192}};
  test::write_text(dir + "/config.json", conf.dump());
  ConvertOptions opts;
  auto sum = convert_hf_checkpoint(dir, dir + "/o.gguf", opts);
  ASSERT_TRUE(sum.ok()) << sum.message();
  auto g = GgufFile::open(dir + "/o.gguf");
  ASSERT_TRUE(g.ok());
  const auto* rf = g->find_tensor("rope_freqs.weight");
  ASSERT_NE(rf, nullptr);
  EXPECT_EQ(rf->ne[0], 4u);
  EXPECT_FALSE(g->has("llama.rope.scaling.type"));

  conf["rope_scaling"] = {{"type", "yarn"}, {"factor", 4.0},
                          {"original_max_position_embeddings", 64}};
  test::write_text(dir + "/config.json", conf.dump());
  ASSERT_TRUE(convert_hf_checkpoint(dir, dir + "/y.gguf", opts).ok());
  auto gy = GgufFile::open(dir + "/y.gguf");
  ASSERT_TRUE(gy.ok());
  EXPECT_EQ(*gy->get_string("llama.rope.scaling.type"), "yarn");
  EXPECT_FLOAT_EQ(*gy->get_f32("llama.rope.scaling.factor"), 4.0f);
  EXPECT_EQ(*gy->get_u32("llama.rope.scaling.original_context_length"), 64u);
  EXPECT_EQ(gy->find_tensor("rope_freqs.weight"), nullptr);
}

void expect_convert_error(const std::string& dir, const std::string& expect) {
  auto r = convert_hf_checkpoint(dir, dir + "/o.gguf", ConvertOptions{});
  ASSERT_FALSE(r.ok()) << expect;
  EXPECT_NE(r.message().find(expect), std::string::npos) << r.message();
  EXPECT_FALSE(std::filesystem::exists(dir + "/o.gguf"));
}

TEST(Convert, ClearErrors) {
  TinyModel m;
  m.generate(6);
  std::string dir = test::fresh_dir("errors");
  m.write(dir, 1, false);
  auto conf = m.config();

  conf["architectures"] = {"GPT2LMHeadModel"};
  test::write_text(dir + "/config.json", conf.dump());
  expect_convert_error(dir, "unsupported architecture 'GPT2LMHeadModel'");
  conf = m.config();
  conf["num_key_value_heads"] = 3;
  test::write_text(dir + "/config.json", conf.dump());
  expect_convert_error(dir, "not a multiple of num_key_value_heads 3");
  conf = m.config();
  conf["hidden_size"] = -4;
  test::write_text(dir + "/config.json", conf.dump());
  expect_convert_error(dir, "hidden_size is not a positive integer");
  conf = m.config();
  conf["intermediate_size"] = 40;
  test::write_text(dir + "/config.json", conf.dump());
  expect_convert_error(dir, "tensor 'model.layers.0.mlp.gate_proj.weight': shape [48, 32], "
                            "expected [40, 32]");
  conf = m.config();
  conf["num_hidden_layers"] = 3;
  test::write_text(dir + "/config.json", conf.dump());
  expect_convert_error(dir, "no tensor 'model.layers.2.input_layernorm.weight'");
  conf = m.config();
  conf["num_hidden_layers"] = 1;
  test::write_text(dir + "/config.json", conf.dump());
  expect_convert_error(dir, "has no GGUF mapping");
  conf = m.config();
  conf["vocab_size"] = 50;
  test::write_text(dir + "/config.json", conf.dump());
  expect_convert_error(dir, "tokenizer has 60 tokens but vocab_size is 50");
  test::write_text(dir + "/config.json", "{\"architectures\": [");
  expect_convert_error(dir, "config.json: invalid JSON");

  test::write_text(dir + "/config.json", m.config().dump());
  std::filesystem::remove(dir + "/tokenizer.json");
  expect_convert_error(dir, "no tokenizer.json or tokenizer.model");

  EXPECT_FALSE(parse_output_type("Q9_9").ok());
  EXPECT_FALSE(parse_output_type("IQ2_XXS").ok());
  EXPECT_EQ(*parse_output_type("q8_0"), GgmlType::Q8_0);
  EXPECT_EQ(*parse_output_type("bf16"), GgmlType::BF16);
}

TEST(Convert, IntegerDtypeWeightIsRejected) {
  TinyModel m;
  m.generate(7);
  std::string dir = test::fresh_dir("int_weight");
  m.write(dir, 1, false);
  // Rewrite the checkpoint with the final norm stored as I32.
  std::vector<test::StTensor> ts;
  for (const auto& [n, t] : m.weights) {
    if (n != "model.norm.weight") ts.push_back(t);
  }
  // Store the I32 tensor through the raw writer.
  nlohmann::json h = nlohmann::json::object();
  std::vector<uint8_t> data;
  for (const auto& t : ts) {
    uint64_t b = data.size();
    const auto* p = reinterpret_cast<const uint8_t*>(t.values.data());
    data.insert(data.end(), p, p + t.values.size() * 4);
    h[t.name] = {{"dtype", "F32"}, {"shape", t.shape}, {"data_offsets", {b, data.size()}}};
  }
  h["model.norm.weight"] = {{"dtype", "I32"}, {"shape", {32}},
                            {"data_offsets", {data.size(), data.size() + 128}}};
  data.resize(data.size() + 128);
  test::write_file(dir + "/model.safetensors", test::make_raw_safetensors(h.dump(), data));
  expect_convert_error(dir, "model.safetensors: tensor 'model.norm.weight': dtype I32 is not "
                            "supported for conversion");
}

}  // namespace
}  // namespace dari
