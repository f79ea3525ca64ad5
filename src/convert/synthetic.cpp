// Random-weight GGUF models of named shapes (see dari/convert/synthetic.h).
#include "dari/convert/synthetic.h"

#include <cmath>

#include "convert/quantize_stream.h"
#include "dari/core/strings.h"
#include "dari/io/gguf.h"

namespace dari {
namespace {

const SyntheticShape kShapes[] = {
    // name, arch, vocab, embd, layers, heads, kv heads, ffn, ctx, rope base, eps, bias, tied
    {"tinyllama-1.1b", "llama", 32000, 2048, 22, 32, 4, 5632, 2048, 10000.0f, 1e-5f, false, false},
    {"llama-3.2-1b", "llama", 128256, 2048, 16, 32, 8, 8192, 131072, 500000.0f, 1e-5f, false, true},
    {"qwen2.5-0.5b", "qwen2", 151936, 896, 24, 14, 2, 4864, 32768, 1000000.0f, 1e-6f, true, true},
    {"llama-3-8b", "llama", 128256, 4096, 32, 32, 8, 14336, 8192, 500000.0f, 1e-5f, false, false},
    {"tiny", "llama", 384, 256, 2, 4, 2, 512, 512, 10000.0f, 1e-5f, false, false},
    {"tiny-qwen2", "qwen2", 320, 128, 2, 4, 2, 256, 512, 1000000.0f, 1e-6f, true, true},
};

enum class Init { kMatrix, kEmbedding, kNorm, kBias };

struct TensorSpec {
  std::string name;
  std::vector<uint64_t> ne;
  Init init;
};

std::vector<TensorSpec> tensor_list(const SyntheticShape& s) {
  const uint64_t E = s.n_embd, F = s.n_ff, V = s.n_vocab;
  const uint64_t hd = s.n_embd / s.n_head;
  const uint64_t q = hd * s.n_head, kv = hd * s.n_head_kv;
  std::vector<TensorSpec> t;
  t.push_back({"token_embd.weight", {E, V}, Init::kEmbedding});
  for (uint32_t l = 0; l < s.n_layer; ++l) {
    const std::string p = str_format("blk.%u.", l);
    t.push_back({p + "attn_norm.weight", {E}, Init::kNorm});
    t.push_back({p + "attn_q.weight", {E, q}, Init::kMatrix});
    t.push_back({p + "attn_k.weight", {E, kv}, Init::kMatrix});
    t.push_back({p + "attn_v.weight", {E, kv}, Init::kMatrix});
    if (s.qkv_bias) {
      t.push_back({p + "attn_q.bias", {q}, Init::kBias});
      t.push_back({p + "attn_k.bias", {kv}, Init::kBias});
      t.push_back({p + "attn_v.bias", {kv}, Init::kBias});
    }
    t.push_back({p + "attn_output.weight", {q, E}, Init::kMatrix});
    t.push_back({p + "ffn_norm.weight", {E}, Init::kNorm});
    t.push_back({p + "ffn_gate.weight", {E, F}, Init::kMatrix});
    t.push_back({p + "ffn_up.weight", {E, F}, Init::kMatrix});
    t.push_back({p + "ffn_down.weight", {F, E}, Init::kMatrix});
  }
  t.push_back({"output_norm.weight", {E}, Init::kNorm});
  if (!s.tied) t.push_back({"output.weight", {E, V}, Init::kMatrix});
  return t;
}

// splitmix64: a counter-based generator, so every row has its own independent stream.
uint64_t mix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// n approximately normal(mean, sd) values for one row.
void fill_row(uint64_t seed, uint64_t tensor, uint64_t row, float mean, float sd, float* out,
              uint64_t n) {
  uint64_t state = mix64(seed ^ mix64(tensor * 0x100000001B3ull ^ mix64(row)));
  // Sum of four U(-1, 1) has variance 4/3: scale by sqrt(3/4).
  const float k = sd * 0.8660254f / 32768.0f;
  for (uint64_t i = 0; i < n; ++i) {
    state += 0x9E3779B97F4A7C15ull;
    uint64_t z = state;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    const int32_t a = static_cast<int16_t>(z & 0xFFFF),
                  b = static_cast<int16_t>((z >> 16) & 0xFFFF);
    const int32_t c = static_cast<int16_t>((z >> 32) & 0xFFFF), d = static_cast<int16_t>(z >> 48);
    out[i] = mean + k * static_cast<float>(a + b + c + d);
  }
}

void write_vocab(const SyntheticShape& s, GgufWriter* w) {
  std::vector<std::string> tokens;
  std::vector<float> scores;
  std::vector<int32_t> types;
  tokens.reserve(s.n_vocab);
  const char* specials[] = {"<unk>", "<s>", "</s>"};
  for (uint32_t i = 0; i < s.n_vocab; ++i) {
    if (i < 3) {
      tokens.emplace_back(specials[i]);
      types.push_back(i == 0 ? 2 : 3);  // unknown, control
    } else if (i < 3 + 256) {
      tokens.push_back(str_format("<0x%02X>", i - 3));
      types.push_back(6);  // byte
    } else {
      // Distinct pieces: "\xE2\x96\x81" is SentencePiece's word-start marker.
      const uint32_t k = i - 259;
      std::string piece = (k % 2 == 0) ? "\xE2\x96\x81" : "";
      uint32_t v = k / 2;
      do {
        piece += static_cast<char>('a' + v % 26);
        v /= 26;
      } while (v != 0);
      tokens.push_back(piece + str_format("%u", k));
      types.push_back(1);  // normal
    }
    scores.push_back(i < 259 ? 0.0f : -static_cast<float>(i - 259));
  }
  w->set_string("tokenizer.ggml.model", "llama");
  w->set_string_array("tokenizer.ggml.tokens", tokens);
  w->set_f32_array("tokenizer.ggml.scores", scores);
  w->set_i32_array("tokenizer.ggml.token_type", types);
  w->set_u32("tokenizer.ggml.bos_token_id", 1);
  w->set_u32("tokenizer.ggml.eos_token_id", 2);
  w->set_u32("tokenizer.ggml.unknown_token_id", 0);
  w->set_bool("tokenizer.ggml.add_bos_token", true);
  w->set_bool("tokenizer.ggml.add_eos_token", false);
}

void write_metadata(const SyntheticShape& s, const QuantMix& mix, GgufWriter* w) {
  const std::string& a = s.arch;
  w->set_string("general.architecture", a);
  w->set_string("general.name", "synthetic " + s.name + " " + mix.name);
  w->set_u32("general.file_type", mix.file_type);
  w->set_u32("general.quantization_version", 2);
  w->set_u32(a + ".context_length", s.n_ctx);
  w->set_u32(a + ".embedding_length", s.n_embd);
  w->set_u32(a + ".block_count", s.n_layer);
  w->set_u32(a + ".feed_forward_length", s.n_ff);
  w->set_u32(a + ".attention.head_count", s.n_head);
  w->set_u32(a + ".attention.head_count_kv", s.n_head_kv);
  w->set_f32(a + ".attention.layer_norm_rms_epsilon", s.rms_eps);
  w->set_f32(a + ".rope.freq_base", s.rope_base);
  w->set_u32(a + ".rope.dimension_count", s.n_embd / s.n_head);
  w->set_u32(a + ".vocab_size", s.n_vocab);
}

}  // namespace

Result<SyntheticShape> synthetic_shape(std::string_view name) {
  for (const SyntheticShape& s : kShapes) {
    if (s.name == name) return s;
  }
  std::string list;
  for (const SyntheticShape& s : kShapes) list += (list.empty() ? "" : ", ") + s.name;
  return make_error(str_format("unknown synthetic model '%s' (expected one of: %s)",
                               printable(name).c_str(), list.c_str()));
}

std::vector<std::string> synthetic_shape_names() {
  std::vector<std::string> v;
  for (const SyntheticShape& s : kShapes) v.push_back(s.name);
  return v;
}

uint64_t synthetic_param_count(const SyntheticShape& s) {
  uint64_t n = 0;
  for (const TensorSpec& t : tensor_list(s)) {
    uint64_t e = 1;
    for (uint64_t d : t.ne) e *= d;
    n += e;
  }
  return n;
}

Result<SyntheticSummary> write_synthetic_model(const SyntheticShape& s, const QuantMix& mix,
                                               const std::string& path,
                                               const SyntheticOptions& opts) {
  if (s.n_head == 0 || s.n_head_kv == 0 || s.n_embd % s.n_head != 0 ||
      s.n_head % s.n_head_kv != 0 || s.n_vocab < 260 || s.n_layer == 0 || s.n_ff == 0) {
    return make_error("synthetic shape '" + s.name +
                      "': heads must divide the width and the KV heads, vocab >= 260");
  }
  GgufWriter w;
  write_metadata(s, mix, &w);
  write_vocab(s, &w);
  const std::vector<TensorSpec> specs = tensor_list(s);
  std::vector<GgmlType> types;
  uint64_t total_bytes = 0;
  SyntheticSummary sum;
  for (const TensorSpec& t : specs) {
    types.push_back(choose_tensor_type(mix, t.name, t.ne, s.n_layer, !s.tied));
    DARI_TRY(w.add_tensor_info(t.name, types.back(), t.ne));
    uint64_t rows = 1;
    for (size_t i = 1; i < t.ne.size(); ++i) rows *= t.ne[i];
    total_bytes += *ggml_row_bytes(types.back(), t.ne[0]) * rows;  // shapes are ours: no overflow
    sum.n_params += rows * t.ne[0];
  }
  DARI_ASSIGN_OR_RETURN(std::vector<uint8_t> header, w.header_bytes());
  DARI_ASSIGN_OR_RETURN(uint64_t expect_size, w.file_size());

  convert_detail::StreamOut out(path);
  DARI_TRY(out.open());
  DARI_TRY(out.write(header.data(), header.size()));
  ThreadPool pool(opts.n_threads);
  std::vector<uint8_t> bytes;
  uint64_t done = 0;
  for (size_t i = 0; i < specs.size(); ++i) {
    const TensorSpec& t = specs[i];
    const uint64_t cols = t.ne[0];
    const uint64_t rows = t.ne.size() > 1 ? t.ne[1] : 1;
    float mean = 0.0f, sd = 0.02f;
    if (t.init == Init::kNorm) mean = 1.0f;
    const uint64_t seed = opts.seed;
    DARI_TRY(convert_detail::encode_rows(
        pool, types[i], rows, cols,
        [&](uint64_t r0, uint64_t r1, float* dst) {
          for (uint64_t r = r0; r < r1; ++r) {
            fill_row(seed, i, r, mean, sd, dst + (r - r0) * cols, cols);
          }
        },
        &bytes));
    DARI_TRY(out.write(bytes.data(), bytes.size()));
    DARI_TRY(out.pad_to(32));
    done += bytes.size();
    if (opts.on_tensor) {
      opts.on_tensor({i + 1, specs.size(), t.name, types[i], bytes.size(), done, total_bytes});
    }
  }
  if (out.written() != expect_size) {
    return make_error(str_format("%s: internal error: wrote %llu bytes, layout needs %llu",
                                 path.c_str(), static_cast<unsigned long long>(out.written()),
                                 static_cast<unsigned long long>(expect_size)));
  }
  sum.n_tensors = specs.size();
  sum.file_bytes = out.written();
  DARI_TRY(out.commit());
  return sum;
}

}  // namespace dari
