// Model hyperparameters from GGUF metadata.
#include <cmath>
#include <numbers>

#include "dari/core/strings.h"
#include "model/transformer.h"

namespace dari {
namespace {

constexpr uint32_t kMaxDim = 1u << 20;  // sanity bound for widths read from files

Status check_range(const std::string& key, uint64_t v, uint64_t lo, uint64_t hi) {
  if (v < lo || v > hi) {
    return make_error(str_format("%s = %llu is out of range [%llu, %llu]", key.c_str(),
                                 static_cast<unsigned long long>(v),
                                 static_cast<unsigned long long>(lo),
                                 static_cast<unsigned long long>(hi)));
  }
  return Status::Ok();
}

Status read_rope_scaling(const GgufFile& f, const std::string& a, ModelConfig* c) {
  DARI_ASSIGN_OR_RETURN(std::string type, f.get_string_or(a + ".rope.scaling.type", "none"));
  DARI_ASSIGN_OR_RETURN(c->rope_scale_factor, f.get_f32_or(a + ".rope.scaling.factor", 1.0f));
  // Older files store a linear factor under rope.scale_linear.
  if (type == "none" && f.has(a + ".rope.scale_linear")) {
    DARI_ASSIGN_OR_RETURN(c->rope_scale_factor, f.get_f32(a + ".rope.scale_linear"));
    type = "linear";
  }
  DARI_ASSIGN_OR_RETURN(c->rope_orig_ctx,
                        f.get_u32_or(a + ".rope.scaling.original_context_length", c->n_ctx_train));
  DARI_ASSIGN_OR_RETURN(c->rope_low_freq_factor,
                        f.get_f32_or(a + ".rope.scaling.low_freq_factor", 1.0f));
  DARI_ASSIGN_OR_RETURN(c->rope_high_freq_factor,
                        f.get_f32_or(a + ".rope.scaling.high_freq_factor", 4.0f));
  if (type == "none" || (type == "linear" && c->rope_scale_factor == 1.0f)) {
    c->rope_scaling = RopeScaling::kNone;
  } else if (type == "linear") {
    c->rope_scaling = RopeScaling::kLinear;
  } else if (type == "llama3") {
    c->rope_scaling = RopeScaling::kLlama3;
  } else if (type == "yarn") {
    return make_error(a + ".rope.scaling.type = yarn is not supported yet");
  } else {
    return make_error(a + ".rope.scaling.type: unknown value '" + printable(type) + "'");
  }
  if (!(c->rope_scale_factor > 0.0f) || !std::isfinite(c->rope_scale_factor)) {
    return make_error(a + ".rope.scaling.factor must be a positive number");
  }
  if (c->rope_scaling == RopeScaling::kLlama3 &&
      (c->rope_orig_ctx == 0 || !(c->rope_high_freq_factor > c->rope_low_freq_factor) ||
       !(c->rope_low_freq_factor > 0.0f))) {
    return make_error(a + ": llama3 rope scaling needs original_context_length > 0 and "
                          "0 < low_freq_factor < high_freq_factor");
  }
  return Status::Ok();
}

}  // namespace

Result<ModelConfig> read_model_config(const GgufFile& f, const ArchSpec& arch) {
  ModelConfig c;
  c.arch = std::string(arch.name);
  const std::string a = c.arch;
  DARI_ASSIGN_OR_RETURN(c.name, f.get_string_or("general.name", ""));
  DARI_ASSIGN_OR_RETURN(c.n_ctx_train, f.get_u32_or(a + ".context_length", 0));
  DARI_ASSIGN_OR_RETURN(c.n_embd, f.get_u32(a + ".embedding_length"));
  DARI_ASSIGN_OR_RETURN(c.n_layer, f.get_u32(a + ".block_count"));
  DARI_ASSIGN_OR_RETURN(c.n_ff, f.get_u32(a + ".feed_forward_length"));
  DARI_ASSIGN_OR_RETURN(c.n_head, f.get_u32(a + ".attention.head_count"));
  DARI_TRY(check_range(a + ".embedding_length", c.n_embd, 1, kMaxDim));
  DARI_TRY(check_range(a + ".block_count", c.n_layer, 1, 4096));
  DARI_TRY(check_range(a + ".feed_forward_length", c.n_ff, 1, kMaxDim));
  DARI_TRY(check_range(a + ".attention.head_count", c.n_head, 1, 4096));
  DARI_ASSIGN_OR_RETURN(c.n_head_kv, f.get_u32_or(a + ".attention.head_count_kv", c.n_head));
  DARI_TRY(check_range(a + ".attention.head_count_kv", c.n_head_kv, 1, c.n_head));
  if (c.n_head % c.n_head_kv != 0) {
    return make_error(str_format("%s: head_count %u is not a multiple of head_count_kv %u",
                                 a.c_str(), c.n_head, c.n_head_kv));
  }
  DARI_ASSIGN_OR_RETURN(c.head_dim,
                        f.get_u32_or(a + ".attention.key_length", c.n_embd / c.n_head));
  DARI_TRY(check_range(a + ".attention.key_length", c.head_dim, 1, 65536));
  DARI_ASSIGN_OR_RETURN(uint32_t v_len, f.get_u32_or(a + ".attention.value_length", c.head_dim));
  if (v_len != c.head_dim) {
    return make_error(str_format("%s: attention.value_length %u != key_length %u (unsupported)",
                                 a.c_str(), v_len, c.head_dim));
  }
  DARI_ASSIGN_OR_RETURN(c.rms_eps, f.get_f32_or(a + ".attention.layer_norm_rms_epsilon", 1e-5f));
  if (!(c.rms_eps >= 0.0f && c.rms_eps < 1.0f)) {
    return make_error(a + ".attention.layer_norm_rms_epsilon must be in [0, 1)");
  }
  DARI_ASSIGN_OR_RETURN(c.rope_freq_base, f.get_f32_or(a + ".rope.freq_base", 10000.0f));
  if (!(c.rope_freq_base > 1.0f) || !std::isfinite(c.rope_freq_base)) {
    return make_error(a + ".rope.freq_base must be a finite number > 1");
  }
  DARI_ASSIGN_OR_RETURN(c.rope_dim, f.get_u32_or(a + ".rope.dimension_count", c.head_dim));
  if (c.rope_dim == 0 || c.rope_dim % 2 != 0 || c.rope_dim > c.head_dim) {
    return make_error(str_format("%s.rope.dimension_count %u must be even and in (0, %u]",
                                 a.c_str(), c.rope_dim, c.head_dim));
  }
  c.rope_type = arch.rope_type;
  DARI_TRY(read_rope_scaling(f, a, &c));
  if (const GgufValue* tokens = f.find("tokenizer.ggml.tokens")) {
    const GgufArray* arr = tokens->as_array();
    if (arr == nullptr) return make_error("tokenizer.ggml.tokens is not an array");
    if (arr->items.empty() || arr->items.size() > (size_t{1} << 24)) {
      return make_error("tokenizer.ggml.tokens: bad vocabulary size");
    }
    c.n_vocab = static_cast<uint32_t>(arr->items.size());
  }
  return c;
}

std::vector<float> llama3_freq_factors(const ModelConfig& c) {
  const uint32_t half = c.rope_dim / 2;
  std::vector<float> out(half, 1.0f);
  const double low_wavelen = c.rope_orig_ctx / static_cast<double>(c.rope_low_freq_factor);
  const double high_wavelen = c.rope_orig_ctx / static_cast<double>(c.rope_high_freq_factor);
  for (uint32_t i = 0; i < half; ++i) {
    const double freq = std::pow(static_cast<double>(c.rope_freq_base), -2.0 * i / c.rope_dim);
    const double wavelen = 2.0 * std::numbers::pi / freq;
    if (wavelen < high_wavelen) {
      out[i] = 1.0f;
    } else if (wavelen > low_wavelen) {
      out[i] = c.rope_scale_factor;
    } else {
      const double smooth = (c.rope_orig_ctx / wavelen - c.rope_low_freq_factor) /
                            (c.rope_high_freq_factor - c.rope_low_freq_factor);
      const double new_freq = (1.0 - smooth) * freq / c.rope_scale_factor + smooth * freq;
      out[i] = static_cast<float>(freq / new_freq);
    }
  }
  return out;
}

}  // namespace dari
