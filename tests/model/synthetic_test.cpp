// Synthetic random-weight models (every weight type, every architecture) against the independent
// double-precision reference over the dequantised weights (reference_forward.cpp).
//
// Error metric: for each logits row, max |dari - reference| / max |reference|; the test reports
// the worst row. Tolerances come from the activation rounding the weight type's vec_dot implies
// (F32: float accumulation only; F16/BF16: activations rounded to 11/8 significant bits; quantised
// types: activations quantised to Q8_0 / Q8_K).
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "model/reference_forward.h"
#include "model/synthetic.h"
#include "model/test_util.h"

namespace dari {
namespace {

std::vector<int32_t> random_tokens(size_t n, uint32_t vocab, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<int32_t> t(n);
  for (auto& x : t) x = static_cast<int32_t>(rng() % vocab);
  return t;
}

double row_error(const float* got, const std::vector<double>& want) {
  double scale = 1e-12, err = 0.0;
  for (size_t i = 0; i < want.size(); ++i) {
    scale = std::max(scale, std::fabs(want[i]));
    err = std::max(err, std::fabs(static_cast<double>(got[i]) - want[i]));
  }
  return err / scale;
}

// Writes the model, runs `tokens` through dari (prefill in chunks of `chunk`) and the reference,
// and returns the worst row error.
double run_and_compare(const test::SynthSpec& spec, const std::string& name,
                       const std::vector<int32_t>& tokens, size_t chunk,
                       GgmlType kv_type = GgmlType::F32) {
  const std::string path = test::temp_model_path(name);
  Status w = test::write_synthetic(spec, path);
  EXPECT_TRUE(w.ok()) << w.message();
  auto m = Model::load(path);
  EXPECT_TRUE(m.ok()) << m.message();
  if (!m.ok()) return INFINITY;
  auto kv = KvCache::create((*m)->kv_options(static_cast<uint32_t>(tokens.size()), kv_type));
  EXPECT_TRUE(kv.ok()) << kv.message();
  SeqId s = kv->add_sequence();
  auto got = test::run_tokens(**m, *kv, s, tokens, chunk);
  EXPECT_TRUE(got.ok()) << got.message();
  auto ref = test::reference_forward((*m)->gguf(), tokens);
  EXPECT_TRUE(ref.ok()) << ref.message();
  if (!got.ok() || !ref.ok()) return INFINITY;
  const size_t nv = (*m)->config().n_vocab;
  double worst = 0.0;
  for (size_t i = 0; i < tokens.size(); ++i) {
    worst = std::max(worst, row_error(got->data() + i * nv, (*ref)[i]));
  }
  return worst;
}

struct TypeCase {
  GgmlType type;
  double tol;
};

class WeightTypes : public ::testing::TestWithParam<TypeCase> {};

TEST_P(WeightTypes, LlamaMatchesReference) {
  test::SynthSpec s;
  s.wtype = GetParam().type;
  s.n_embd = 256;  // k-quants need rows that are multiples of 256
  s.n_ff = 512;
  s.n_head = 4;
  s.n_head_kv = 2;
  s.n_vocab = 96;
  const std::string name = "llama_" + std::string(ggml_type_name(s.wtype));
  double err = run_and_compare(s, name, random_tokens(10, s.n_vocab, 7), 4);
  std::printf("%-6s max row error %.3g (tolerance %.3g)\n",
              std::string(ggml_type_name(s.wtype)).c_str(), err, GetParam().tol);
  EXPECT_LE(err, GetParam().tol);
}

INSTANTIATE_TEST_SUITE_P(
    All, WeightTypes,
    ::testing::Values(TypeCase{GgmlType::F32, 1e-5}, TypeCase{GgmlType::F16, 5e-3},
                      TypeCase{GgmlType::BF16, 4e-2}, TypeCase{GgmlType::Q8_0, 4e-2},
                      TypeCase{GgmlType::Q4_0, 4e-2}, TypeCase{GgmlType::Q4_1, 4e-2},
                      TypeCase{GgmlType::Q5_0, 4e-2}, TypeCase{GgmlType::Q5_1, 4e-2},
                      TypeCase{GgmlType::Q2_K, 4e-2}, TypeCase{GgmlType::Q3_K, 4e-2},
                      TypeCase{GgmlType::Q4_K, 4e-2}, TypeCase{GgmlType::Q5_K, 4e-2},
                      TypeCase{GgmlType::Q6_K, 4e-2}),
    [](const ::testing::TestParamInfo<TypeCase>& i) {
      return std::string(ggml_type_name(i.param.type));
    });

TEST(Architectures, Qwen2BiasesNeox) {
  test::SynthSpec s;
  s.arch = "qwen2";
  EXPECT_LE(run_and_compare(s, "qwen2_f32", random_tokens(9, s.n_vocab, 3), 5), 1e-5);
  s.wtype = GgmlType::Q8_0;
  EXPECT_LE(run_and_compare(s, "qwen2_q8", random_tokens(9, s.n_vocab, 3), 5), 3e-2);
}

TEST(Architectures, Qwen3QkNormWideHeads) {
  test::SynthSpec s;
  s.arch = "qwen3";
  s.head_dim = 16;  // n_head * head_dim = 64 != n_embd = 32
  EXPECT_LE(run_and_compare(s, "qwen3_f32", random_tokens(9, s.n_vocab, 4), 2), 1e-5);
  s.wtype = GgmlType::Q4_K;
  s.n_embd = 256;
  s.n_ff = 256;
  s.head_dim = 128;
  EXPECT_LE(run_and_compare(s, "qwen3_q4k", random_tokens(9, s.n_vocab, 4), 3), 3e-2);
}

TEST(Architectures, LlamaTiedOutputNoVocabKeyNoGqa) {
  test::SynthSpec s;
  s.tied = true;
  s.write_vocab = false;  // vocab size from token_embd
  s.n_head_kv = s.n_head;
  EXPECT_LE(run_and_compare(s, "llama_tied", random_tokens(7, s.n_vocab, 5), 7), 1e-5);
}

TEST(Architectures, LlamaRopeScaling) {
  test::SynthSpec s;
  s.rope_scaling = "linear";
  s.rope_factor = 4.0f;
  EXPECT_LE(run_and_compare(s, "llama_linear", random_tokens(40, s.n_vocab, 6), 16), 1e-5);
  s.rope_scaling = "llama3";
  s.rope_factor = 8.0f;
  s.rope_orig_ctx = 64;  // small, so the smoothing band covers some of the 4 rotated pairs
  s.rope_base = 500000.0f;
  EXPECT_LE(run_and_compare(s, "llama_llama3", random_tokens(40, s.n_vocab, 6), 16), 1e-5);
  s.rope_freqs_tensor = true;
  EXPECT_LE(run_and_compare(s, "llama_freqs", random_tokens(40, s.n_vocab, 6), 16), 1e-5);
}

// 2,048 positions: prefill in uneven chunks (crossing 16-token blocks), then decode one token at
// a time; every row compared with the reference (RoPE at large positions, paged blocks).
TEST(LongContext, Llama2048Positions) {
  test::SynthSpec s;
  s.n_layer = 1;
  s.n_head = 4;
  s.n_head_kv = 1;
  s.n_embd = 32;
  s.n_vocab = 32;
  std::vector<int32_t> tokens = random_tokens(2048, s.n_vocab, 11);
  const std::string path = test::temp_model_path("llama_long");
  ASSERT_TRUE(test::write_synthetic(s, path).ok());
  auto m = Model::load(path);
  ASSERT_TRUE(m.ok()) << m.message();
  auto kv = KvCache::create((*m)->kv_options(2048, GgmlType::F32));
  ASSERT_TRUE(kv.ok());
  SeqId seq = kv->add_sequence();
  std::vector<int32_t> prefill(tokens.begin(), tokens.end() - 48);
  auto got = test::run_tokens(**m, *kv, seq, prefill, 333);
  ASSERT_TRUE(got.ok()) << got.message();
  for (size_t i = prefill.size(); i < tokens.size(); ++i) {
    auto step = test::run_tokens(**m, *kv, seq, {tokens[i]});
    ASSERT_TRUE(step.ok()) << step.message();
    got->insert(got->end(), step->begin(), step->end());
  }
  EXPECT_EQ(kv->length(seq), 2048u);
  auto ref = test::reference_forward((*m)->gguf(), tokens);
  ASSERT_TRUE(ref.ok()) << ref.message();
  double worst = 0.0;
  for (size_t pos : {0, 1, 15, 16, 17, 332, 333, 1000, 1023, 1024, 1999, 2000, 2001, 2047}) {
    worst = std::max(worst, row_error(got->data() + pos * s.n_vocab, (*ref)[pos]));
  }
  std::printf("long context: max row error %.3g\n", worst);
  EXPECT_LE(worst, 1e-4);
}

}  // namespace
}  // namespace dari
