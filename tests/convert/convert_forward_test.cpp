// End to end: convert tiny HF checkpoints, run dari's forward pass on the GGUF, and compare the
// logits with a plain double-precision forward pass over the ORIGINAL HF tensors using HF
// conventions (rotate-half rope for every architecture). For llama this checks the Q/K
// permutation: without it the GGUF model (adjacent-pair rope) would compute different logits.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>

#include "convert/hf_fixture.h"
#include "dari/convert/convert.h"
#include "dari/kv/kv_cache.h"
#include "dari/model/model.h"

namespace dari {
namespace {

using test::TinyModel;
using Vec = std::vector<double>;

struct Ref {
  const TinyModel& m;
  const std::vector<float>& w(const std::string& n) const { return m.weights.at(n).values; }
  bool has(const std::string& n) const { return m.weights.count(n) != 0; }

  // y = W x (+ b): W is [rows, cols] row-major.
  Vec matvec(const std::string& n, const Vec& x, const std::string& bias = "") const {
    const auto& W = w(n);
    const size_t cols = x.size(), rows = W.size() / cols;
    Vec y(rows, 0.0);
    for (size_t r = 0; r < rows; ++r) {
      double acc = 0;
      for (size_t c = 0; c < cols; ++c) acc += double{W[r * cols + c]} * x[c];
      y[r] = acc + (!bias.empty() && has(bias) ? double{w(bias)[r]} : 0.0);
    }
    return y;
  }
  // RMS norm of x[off, off + n) with weight `n_w` (in place).
  void rmsnorm(Vec* x, size_t off, size_t n, const std::string& wn) const {
    double ss = 0;
    for (size_t i = 0; i < n; ++i) ss += (*x)[off + i] * (*x)[off + i];
    double inv = 1.0 / std::sqrt(ss / static_cast<double>(n) + double{m.eps});
    for (size_t i = 0; i < n; ++i) (*x)[off + i] *= inv * double{w(wn)[i]};
  }
  void rope(Vec* v, size_t n_heads, int pos) const {
    const size_t hd = m.head_dim, half = hd / 2;
    for (size_t h = 0; h < n_heads; ++h) {
      for (size_t i = 0; i < half; ++i) {
        double th = pos * std::pow(double{m.theta}, -2.0 * static_cast<double>(i) / hd);
        double a = (*v)[h * hd + i], b = (*v)[h * hd + i + half];
        (*v)[h * hd + i] = a * std::cos(th) - b * std::sin(th);
        (*v)[h * hd + i + half] = b * std::cos(th) + a * std::sin(th);
      }
    }
  }

  // Logits for every position of `tokens` (one sequence).
  std::vector<Vec> forward(const std::vector<int>& tokens) const {
    const size_t E = m.embd, hd = m.head_dim, H = m.heads, KV = m.kv_heads, T = tokens.size();
    std::vector<Vec> x(T, Vec(E));
    for (size_t t = 0; t < T; ++t)
      for (size_t i = 0; i < E; ++i) x[t][i] = w("model.embed_tokens.weight")[tokens[t] * E + i];
    for (uint32_t l = 0; l < m.layers; ++l) {
      const std::string p = "model.layers." + std::to_string(l) + ".";
      std::vector<Vec> q(T), k(T), v(T);
      for (size_t t = 0; t < T; ++t) {
        Vec h = x[t];
        rmsnorm(&h, 0, E, p + "input_layernorm.weight");
        q[t] = matvec(p + "self_attn.q_proj.weight", h, p + "self_attn.q_proj.bias");
        k[t] = matvec(p + "self_attn.k_proj.weight", h, p + "self_attn.k_proj.bias");
        v[t] = matvec(p + "self_attn.v_proj.weight", h, p + "self_attn.v_proj.bias");
        if (m.qk_norm) {
          for (size_t hh = 0; hh < H; ++hh) rmsnorm(&q[t], hh * hd, hd, p + "self_attn.q_norm.weight");
          for (size_t hh = 0; hh < KV; ++hh) rmsnorm(&k[t], hh * hd, hd, p + "self_attn.k_norm.weight");
        }
        rope(&q[t], H, static_cast<int>(t));
        rope(&k[t], KV, static_cast<int>(t));
      }
      for (size_t t = 0; t < T; ++t) {
        Vec att(H * hd, 0.0);
        for (size_t hh = 0; hh < H; ++hh) {
          const size_t kh = hh / (H / KV);
          Vec s(t + 1);
          double mx = -1e300;
          for (size_t u = 0; u <= t; ++u) {
            double d = 0;
            for (size_t i = 0; i < hd; ++i) d += q[t][hh * hd + i] * k[u][kh * hd + i];
            s[u] = d / std::sqrt(static_cast<double>(hd));
            mx = std::max(mx, s[u]);
          }
          double sum = 0;
          for (auto& e : s) sum += (e = std::exp(e - mx));
          for (size_t u = 0; u <= t; ++u)
            for (size_t i = 0; i < hd; ++i) att[hh * hd + i] += s[u] / sum * v[u][kh * hd + i];
        }
        Vec o = matvec(p + "self_attn.o_proj.weight", att);
        for (size_t i = 0; i < E; ++i) x[t][i] += o[i];
        Vec h = x[t];
        rmsnorm(&h, 0, E, p + "post_attention_layernorm.weight");
        Vec g = matvec(p + "mlp.gate_proj.weight", h), up = matvec(p + "mlp.up_proj.weight", h);
        for (size_t i = 0; i < g.size(); ++i) g[i] = g[i] / (1.0 + std::exp(-g[i])) * up[i];
        Vec d = matvec(p + "mlp.down_proj.weight", g);
        for (size_t i = 0; i < E; ++i) x[t][i] += d[i];
      }
    }
    std::vector<Vec> logits;
    for (size_t t = 0; t < T; ++t) {
      rmsnorm(&x[t], 0, E, "model.norm.weight");
      logits.push_back(matvec(m.tied ? "model.embed_tokens.weight" : "lm_head.weight", x[t]));
    }
    return logits;
  }
};

// Converts `m`, runs dari on `tokens` and returns the max |dari - reference| over all logits.
double max_logit_error(const TinyModel& m, const std::string& name, GgmlType type,
                       double* max_ref) {
  std::string dir = test::fresh_dir(name);
  m.write(dir, 2, false);
  ConvertOptions opts;
  opts.type = type;
  auto sum = convert_hf_checkpoint(dir, dir + "/m.gguf", opts);
  EXPECT_TRUE(sum.ok()) << sum.message();
  if (!sum.ok()) return 1e9;
  auto model = Model::load(dir + "/m.gguf");
  EXPECT_TRUE(model.ok()) << model.message();
  if (!model.ok()) return 1e9;
  auto kv = KvCache::create((*model)->kv_options(32, GgmlType::F32));
  EXPECT_TRUE(kv.ok()) << kv.message();
  if (!kv.ok()) return 1e9;
  const std::vector<int> tokens = {1, 5, 17, 42, 3, 58, 9, 33};
  SeqId s = kv->add_sequence();
  EXPECT_TRUE(kv->reserve(s, static_cast<uint32_t>(tokens.size())).ok());
  ForwardBatch b;
  for (size_t i = 0; i < tokens.size(); ++i) {
    b.tokens.push_back(tokens[i]);
    b.positions.push_back(static_cast<int32_t>(i));
    b.seq_ids.push_back(s);
    b.need_logits.push_back(1);
  }
  std::vector<float> logits;
  Status st = (*model)->forward(b, *kv, &logits);
  EXPECT_TRUE(st.ok()) << st.message();
  if (!st.ok()) return 1e9;
  auto ref = Ref{m}.forward(tokens);
  EXPECT_EQ(logits.size(), tokens.size() * m.vocab);
  if (logits.size() != tokens.size() * m.vocab) return 1e9;
  double err = 0;
  *max_ref = 0;
  for (size_t t = 0; t < tokens.size(); ++t) {
    for (size_t j = 0; j < m.vocab; ++j) {
      err = std::max(err, std::fabs(logits[t * m.vocab + j] - ref[t][j]));
      *max_ref = std::max(*max_ref, std::fabs(ref[t][j]));
    }
  }
  std::printf("%s: max |logit - reference| = %.3g (max |reference logit| = %.3g)\n",
              name.c_str(), err, *max_ref);
  return err;
}

TEST(ConvertForward, LlamaMatchesHfReference) {
  TinyModel m;
  m.generate(11);
  double mx = 0;
  double err = max_logit_error(m, "fwd_llama", GgmlType::F32, &mx);
  EXPECT_GT(mx, 1.0);  // logits are not trivially small
  EXPECT_LT(err, 1e-3 * mx) << "max ref " << mx;
}

TEST(ConvertForward, Qwen2MatchesHfReference) {
  TinyModel m;
  m.hf_arch = "Qwen2ForCausalLM";
  m.qkv_bias = true;
  m.tied = true;
  m.generate(12);
  double mx = 0;
  double err = max_logit_error(m, "fwd_qwen2", GgmlType::F32, &mx);
  EXPECT_GT(mx, 1.0);
  EXPECT_LT(err, 1e-3 * mx) << "max ref " << mx;
}

TEST(ConvertForward, Qwen3MatchesHfReference) {
  TinyModel m;
  m.hf_arch = "Qwen3ForCausalLM";
  m.qk_norm = true;
  m.head_dim = 16;
  m.explicit_head_dim = true;
  m.generate(13);
  double mx = 0;
  double err = max_logit_error(m, "fwd_qwen3", GgmlType::F32, &mx);
  EXPECT_GT(mx, 1.0);
  EXPECT_LT(err, 1e-3 * mx) << "max ref " << mx;
}

TEST(ConvertForward, LlamaQ8_0StaysClose) {
  TinyModel m;
  m.generate(14);
  double mx = 0;
  double err = max_logit_error(m, "fwd_llama_q8", GgmlType::Q8_0, &mx);
  EXPECT_LT(err, 0.08 * mx) << "max ref " << mx;
}

}  // namespace
}  // namespace dari
