// config.json parsing and validation, output type names, llama3 rope factors.
#include <cctype>
#include <cmath>

#include "convert/json_util.h"
#include "dari/convert/convert.h"
#include "dari/core/strings.h"
#include "dari/tensor/dtype.h"

namespace dari {
namespace {

// Upper bounds for config sizes: far above any real model, low enough that products of them
// cannot overflow 64 bits.
constexpr uint64_t kMaxDim = 1u << 20;
constexpr uint64_t kMaxLayers = 4096;
constexpr uint64_t kMaxHeads = 4096;
constexpr uint64_t kMaxVocabSize = 1u << 22;
constexpr uint64_t kMaxCtx = 1u << 26;

struct Reader {
  const nlohmann::json& j;
  const std::string& name;

  // Required (or defaulted when `def` is set) integer in [1, max].
  Result<uint32_t> u32(const char* key, uint64_t max, std::optional<uint32_t> def = {}) const {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) {
      if (def) return *def;
      return make_error(name + ": missing " + key);
    }
    if (!it->is_number_unsigned()) return make_error(name + ": " + key + " is not a positive integer");
    uint64_t v = it->get<uint64_t>();
    if (v == 0 || v > max) {
      return make_error(str_format("%s: %s = %llu is out of range [1, %llu]", name.c_str(), key,
                                   static_cast<unsigned long long>(v),
                                   static_cast<unsigned long long>(max)));
    }
    return static_cast<uint32_t>(v);
  }

  Result<float> f32(const nlohmann::json& o, const char* key, float def) const {
    auto it = o.find(key);
    if (it == o.end() || it->is_null()) return def;
    if (!it->is_number()) return make_error(name + ": " + key + " is not a number");
    double v = it->get<double>();
    if (!std::isfinite(v) || v <= 0.0 || v > 1e30) {
      return make_error(str_format("%s: %s = %g is out of range", name.c_str(), key, v));
    }
    return static_cast<float>(v);
  }

  std::optional<uint32_t> token_id(const char* key) const {
    auto it = j.find(key);
    if (it == j.end()) return std::nullopt;
    const nlohmann::json* v = &*it;
    if (v->is_array() && !v->empty()) v = &(*v)[0];  // eos_token_id may be a list
    if (v->is_number_unsigned() && v->get<uint64_t>() < kMaxVocabSize) {
      return static_cast<uint32_t>(v->get<uint64_t>());
    }
    return std::nullopt;
  }
};

Result<std::string> gguf_arch_for(const std::string& hf_arch, const std::string& name) {
  if (hf_arch == "LlamaForCausalLM" || hf_arch == "MistralForCausalLM") return std::string("llama");
  if (hf_arch == "Qwen2ForCausalLM") return std::string("qwen2");
  if (hf_arch == "Qwen3ForCausalLM") return std::string("qwen3");
  return make_error(name + ": unsupported architecture '" + printable(hf_arch) +
                    "' (supported: LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, "
                    "Qwen3ForCausalLM)");
}

Status parse_rope_scaling(const Reader& r, HfConfig* c) {
  auto it = r.j.find("rope_scaling");
  if (it == r.j.end() || it->is_null()) return Status::Ok();
  if (!it->is_object()) return make_error(r.name + ": rope_scaling is not an object");
  const auto& rs = *it;
  std::string type;
  for (const char* k : {"rope_type", "type"}) {
    auto t = rs.find(k);
    if (t != rs.end() && t->is_string()) {
      type = t->get<std::string>();
      break;
    }
  }
  if (type == "default" || type.empty()) return Status::Ok();
  if (type != "linear" && type != "llama3" && type != "yarn") {
    return make_error(r.name + ": unsupported rope_scaling type '" + printable(type) + "'");
  }
  c->rope_scaling = type;
  DARI_ASSIGN_OR_RETURN(c->rope_factor, r.f32(rs, "factor", type == "llama3" ? 8.0f : 1.0f));
  DARI_ASSIGN_OR_RETURN(c->rope_low_freq_factor, r.f32(rs, "low_freq_factor", 1.0f));
  DARI_ASSIGN_OR_RETURN(c->rope_high_freq_factor, r.f32(rs, "high_freq_factor", 4.0f));
  if (type == "llama3" && c->rope_high_freq_factor <= c->rope_low_freq_factor) {
    return make_error(r.name + ": rope_scaling high_freq_factor must exceed low_freq_factor");
  }
  auto oc = rs.find("original_max_position_embeddings");
  if (oc != rs.end() && oc->is_number_unsigned() && oc->get<uint64_t>() > 0 &&
      oc->get<uint64_t>() <= kMaxCtx) {
    c->rope_orig_ctx = static_cast<uint32_t>(oc->get<uint64_t>());
  } else if (type == "llama3") {
    c->rope_orig_ctx = 8192;
  }
  return Status::Ok();
}

}  // namespace

Result<HfConfig> parse_hf_config(std::string_view json, const std::string& name) {
  DARI_ASSIGN_OR_RETURN(nlohmann::json j, parse_json_limited(json, name));
  if (!j.is_object()) return make_error(name + ": not a JSON object");
  HfConfig c;
  auto archs = j.find("architectures");
  if (archs == j.end() || !archs->is_array() || archs->empty() || !(*archs)[0].is_string()) {
    return make_error(name + ": missing architectures list");
  }
  c.hf_arch = (*archs)[0].get<std::string>();
  DARI_ASSIGN_OR_RETURN(c.arch, gguf_arch_for(c.hf_arch, name));
  Reader r{j, name};
  DARI_ASSIGN_OR_RETURN(c.n_embd, r.u32("hidden_size", kMaxDim));
  DARI_ASSIGN_OR_RETURN(c.n_ff, r.u32("intermediate_size", kMaxDim * 4));
  DARI_ASSIGN_OR_RETURN(c.n_layer, r.u32("num_hidden_layers", kMaxLayers));
  DARI_ASSIGN_OR_RETURN(c.n_head, r.u32("num_attention_heads", kMaxHeads));
  DARI_ASSIGN_OR_RETURN(c.n_head_kv, r.u32("num_key_value_heads", kMaxHeads, c.n_head));
  DARI_ASSIGN_OR_RETURN(c.n_vocab, r.u32("vocab_size", kMaxVocabSize));
  DARI_ASSIGN_OR_RETURN(c.n_ctx, r.u32("max_position_embeddings", kMaxCtx, 4096));
  if (j.contains("head_dim") && !j["head_dim"].is_null()) {
    DARI_ASSIGN_OR_RETURN(c.head_dim, r.u32("head_dim", 4096));
  } else {
    if (c.n_embd % c.n_head != 0) {
      return make_error(str_format("%s: hidden_size %u is not a multiple of num_attention_heads %u",
                                   name.c_str(), c.n_embd, c.n_head));
    }
    c.head_dim = c.n_embd / c.n_head;
  }
  if (c.head_dim % 2 != 0) return make_error(name + ": head_dim must be even for rope");
  if (c.n_head % c.n_head_kv != 0) {
    return make_error(str_format("%s: num_attention_heads %u is not a multiple of "
                                 "num_key_value_heads %u", name.c_str(), c.n_head, c.n_head_kv));
  }
  DARI_ASSIGN_OR_RETURN(c.rms_eps, r.f32(j, "rms_norm_eps", 1e-6f));
  DARI_ASSIGN_OR_RETURN(c.rope_theta, r.f32(j, "rope_theta", 10000.0f));
  auto tie = j.find("tie_word_embeddings");
  if (tie != j.end() && tie->is_boolean()) c.tie_embeddings = tie->get<bool>();
  auto np = j.find("_name_or_path");
  if (np != j.end() && np->is_string()) c.name_or_path = np->get<std::string>();
  c.bos_token_id = r.token_id("bos_token_id");
  c.eos_token_id = r.token_id("eos_token_id");
  DARI_TRY(parse_rope_scaling(r, &c));
  return c;
}

Result<GgmlType> parse_output_type(std::string_view name) {
  std::string up(name);
  for (char& ch : up) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  auto t = ggml_type_from_name(up);
  if (!t) return make_error("unknown output type '" + printable(name) + "'");
  if (*t == GgmlType::F32 || *t == GgmlType::F16 || *t == GgmlType::BF16) return *t;
  const TypeTraits* tr = type_traits(*t);
  if (tr == nullptr || tr->from_float == nullptr) {
    return make_error("output type " + up + " cannot be produced by dari (no quantizer)");
  }
  return *t;
}

uint32_t gguf_file_type(GgmlType t) {
  switch (t) {
    case GgmlType::F32: return 0;
    case GgmlType::F16: return 1;
    case GgmlType::Q4_0: return 2;
    case GgmlType::Q4_1: return 3;
    case GgmlType::Q8_0: return 7;
    case GgmlType::Q5_0: return 8;
    case GgmlType::Q5_1: return 9;
    case GgmlType::Q2_K: return 10;
    case GgmlType::Q3_K: return 11;  // Q3_K_S: every matrix Q3_K
    case GgmlType::Q4_K: return 14;  // Q4_K_S
    case GgmlType::Q5_K: return 16;  // Q5_K_S
    case GgmlType::Q6_K: return 18;
    case GgmlType::BF16: return 32;
    default: return 1024;  // guessed (no llama.cpp ftype for a pure file of this type)
  }
}

std::vector<float> llama3_rope_factors(const HfConfig& cfg) {
  const double base = cfg.rope_theta;
  const double dim = cfg.head_dim;
  const double factor = cfg.rope_factor;
  const double lo = cfg.rope_low_freq_factor;
  const double hi = cfg.rope_high_freq_factor;
  const double old_ctx = cfg.rope_orig_ctx;
  const double low_freq_wavelen = old_ctx / lo;
  const double high_freq_wavelen = old_ctx / hi;
  const double pi = 3.14159265358979323846;
  std::vector<float> out;
  for (uint32_t i = 0; i < cfg.head_dim; i += 2) {
    // Computed in float like the reference converter, so the tensor matches it bit for bit.
    float freq = 1.0f / static_cast<float>(std::pow(base, static_cast<float>(i) / dim));
    double wavelen = 2.0 * pi / freq;
    double f = 1.0;
    if (wavelen < high_freq_wavelen) {
      f = 1.0;
    } else if (wavelen > low_freq_wavelen) {
      f = factor;
    } else {
      double smooth = (old_ctx / wavelen - lo) / (hi - lo);
      f = 1.0 / ((1.0 - smooth) / factor + smooth);
    }
    out.push_back(static_cast<float>(f));
  }
  return out;
}

}  // namespace dari
