#include "model/synthetic.h"

#include <cmath>
#include <filesystem>
#include <random>

#include "dari/core/strings.h"
#include "dari/io/gguf.h"
#include "dari/tensor/dtype.h"

namespace dari::test {
namespace {

struct Writer {
  const SynthSpec& spec;
  GgufWriter w;
  std::mt19937 rng;

  std::vector<float> random(size_t n, float scale, float offset = 0.0f) {
    std::uniform_real_distribution<float> d(-1.0f, 1.0f);
    std::vector<float> v(n);
    for (float& x : v) x = offset + scale * d(rng);
    return v;
  }

  // ne = {cols, rows...}; stored as `type`.
  Status add(const std::string& name, GgmlType type, std::vector<uint64_t> ne,
             const std::vector<float>& data) {
    if (name == spec.omit_tensor) return Status::Ok();
    if (name == spec.misshape_tensor) ne.back() += 1;
    uint64_t rows = 1;
    for (size_t i = 1; i < ne.size(); ++i) rows *= ne[i];
    std::vector<float> vals = data;
    vals.resize(rows * ne[0], 0.5f);
    DARI_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes,
                          quantize_tensor(type, vals.data(), rows, ne[0]));
    return w.add_tensor(name, type, ne, bytes.data(), bytes.size());
  }

  Status matrix(const std::string& name, uint32_t in, uint32_t out) {
    const auto it = spec.tensor_types.find(name);
    return add(name, it != spec.tensor_types.end() ? it->second : spec.wtype, {in, out},
               random(size_t{in} * out, 1.7f / std::sqrt(static_cast<float>(in))));
  }
  Status vec(const std::string& name, uint32_t n, float scale, float offset) {
    return add(name, GgmlType::F32, {n}, random(n, scale, offset));
  }
};

}  // namespace

Status write_synthetic(const SynthSpec& s, const std::string& path) {
  Writer x{s, {}, std::mt19937(s.seed)};
  const std::string a = s.arch;
  const uint32_t hd = s.head_dim ? s.head_dim : s.n_embd / s.n_head;
  x.w.set_string("general.architecture", a);
  x.w.set_string("general.name", "synthetic-" + a);
  x.w.set_u32(a + ".context_length", 4096);
  x.w.set_u32(a + ".embedding_length", s.n_embd);
  x.w.set_u32(a + ".block_count", s.n_layer);
  x.w.set_u32(a + ".feed_forward_length", s.n_ff);
  x.w.set_u32(a + ".attention.head_count", s.n_head);
  x.w.set_u32(a + ".attention.head_count_kv", s.n_head_kv);
  if (s.head_dim) x.w.set_u32(a + ".attention.key_length", s.head_dim);
  x.w.set_f32(a + ".attention.layer_norm_rms_epsilon", 1e-5f);
  x.w.set_f32(a + ".rope.freq_base", s.rope_base);
  x.w.set_u32(a + ".rope.dimension_count", hd);
  if (!s.rope_scaling.empty()) {
    x.w.set_string(a + ".rope.scaling.type", s.rope_scaling);
    x.w.set_f32(a + ".rope.scaling.factor", s.rope_factor);
    x.w.set_u32(a + ".rope.scaling.original_context_length", s.rope_orig_ctx);
  }
  if (s.write_vocab) {
    std::vector<std::string> toks;
    for (uint32_t i = 0; i < s.n_vocab; ++i) toks.push_back(str_format("t%u", i));
    x.w.set_string_array("tokenizer.ggml.tokens", toks);
  }
  const uint32_t qd = s.n_head * hd, kvd = s.n_head_kv * hd;
  DARI_TRY(x.add("token_embd.weight", s.wtype, {s.n_embd, s.n_vocab},
                 x.random(size_t{s.n_embd} * s.n_vocab, 1.0f)));
  DARI_TRY(x.vec("output_norm.weight", s.n_embd, 0.2f, 1.0f));
  if (!s.tied) DARI_TRY(x.matrix("output.weight", s.n_embd, s.n_vocab));
  if (s.rope_freqs_tensor) {
    std::vector<float> f(hd / 2);
    for (size_t i = 0; i < f.size(); ++i) f[i] = 1.0f + static_cast<float>(i % 4);
    DARI_TRY(x.add("rope_freqs.weight", GgmlType::F32, {hd / 2}, f));
  }
  for (uint32_t il = 0; il < s.n_layer; ++il) {
    const std::string p = str_format("blk.%u.", il);
    DARI_TRY(x.vec(p + "attn_norm.weight", s.n_embd, 0.2f, 1.0f));
    DARI_TRY(x.matrix(p + "attn_q.weight", s.n_embd, qd));
    DARI_TRY(x.matrix(p + "attn_k.weight", s.n_embd, kvd));
    DARI_TRY(x.matrix(p + "attn_v.weight", s.n_embd, kvd));
    DARI_TRY(x.matrix(p + "attn_output.weight", qd, s.n_embd));
    if (a == "qwen2") {
      DARI_TRY(x.vec(p + "attn_q.bias", qd, 0.3f, 0.0f));
      DARI_TRY(x.vec(p + "attn_k.bias", kvd, 0.3f, 0.0f));
      DARI_TRY(x.vec(p + "attn_v.bias", kvd, 0.3f, 0.0f));
    }
    if (a == "qwen3") {
      DARI_TRY(x.vec(p + "attn_q_norm.weight", hd, 0.2f, 1.0f));
      DARI_TRY(x.vec(p + "attn_k_norm.weight", hd, 0.2f, 1.0f));
    }
    DARI_TRY(x.vec(p + "ffn_norm.weight", s.n_embd, 0.2f, 1.0f));
    DARI_TRY(x.matrix(p + "ffn_gate.weight", s.n_embd, s.n_ff));
    DARI_TRY(x.matrix(p + "ffn_up.weight", s.n_embd, s.n_ff));
    DARI_TRY(x.matrix(p + "ffn_down.weight", s.n_ff, s.n_embd));
  }
  return x.w.write(path);
}

std::string temp_model_path(const std::string& name) {
  std::filesystem::path dir = std::filesystem::path(DARI_BINARY_DIR) / "tests" / "model" / "tmp";
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  return (dir / (name + ".gguf")).string();
}

}  // namespace dari::test
