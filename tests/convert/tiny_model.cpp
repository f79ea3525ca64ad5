// TinyModel: deterministic random HF checkpoints for llama / qwen2 / qwen3.
#include <algorithm>
#include <cmath>

#include "convert/hf_fixture.h"

namespace dari::test {
namespace {

struct Lcg {
  uint64_t s;
  float next() {  // uniform in [-1, 1)
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<float>((s >> 40) & 0xffffff) / 8388608.0f - 1.0f;
  }
};

}  // namespace

void TinyModel::generate(uint32_t seed) {
  Lcg rng{seed * 0x9E3779B97F4A7C15ull + 1};
  weights.clear();
  auto add = [&](const std::string& name, std::vector<uint64_t> shape, float scale, float offset) {
    StTensor t;
    t.name = name;
    t.dtype = dtype;
    t.shape = shape;
    uint64_t n = 1;
    for (uint64_t d : shape) n *= d;
    for (uint64_t i = 0; i < n; ++i) {
      t.values.push_back(round_to_dtype(offset + scale * rng.next(), dtype));
    }
    weights[name] = std::move(t);
  };
  const uint64_t E = embd, F = ff, Q = uint64_t{heads} * head_dim, K = uint64_t{kv_heads} * head_dim;
  add("model.embed_tokens.weight", {vocab, E}, 1.0f, 0.0f);
  for (uint32_t l = 0; l < layers; ++l) {
    std::string p = "model.layers." + std::to_string(l) + ".";
    add(p + "input_layernorm.weight", {E}, 0.2f, 1.0f);
    add(p + "post_attention_layernorm.weight", {E}, 0.2f, 1.0f);
    add(p + "self_attn.q_proj.weight", {Q, E}, 0.35f, 0.0f);
    add(p + "self_attn.k_proj.weight", {K, E}, 0.35f, 0.0f);
    add(p + "self_attn.v_proj.weight", {K, E}, 0.35f, 0.0f);
    add(p + "self_attn.o_proj.weight", {E, Q}, 0.35f, 0.0f);
    add(p + "mlp.gate_proj.weight", {F, E}, 0.35f, 0.0f);
    add(p + "mlp.up_proj.weight", {F, E}, 0.35f, 0.0f);
    add(p + "mlp.down_proj.weight", {E, F}, 0.35f, 0.0f);
    if (qkv_bias) {
      add(p + "self_attn.q_proj.bias", {Q}, 0.3f, 0.0f);
      add(p + "self_attn.k_proj.bias", {K}, 0.3f, 0.0f);
      add(p + "self_attn.v_proj.bias", {K}, 0.3f, 0.0f);
    }
    if (qk_norm) {
      add(p + "self_attn.q_norm.weight", {head_dim}, 0.2f, 1.0f);
      add(p + "self_attn.k_norm.weight", {head_dim}, 0.2f, 1.0f);
    }
  }
  add("model.norm.weight", {E}, 0.2f, 1.0f);
  if (!tied) add("lm_head.weight", {vocab, E}, 0.5f, 0.0f);
}

nlohmann::json TinyModel::config() const {
  nlohmann::json c;
  c["architectures"] = {hf_arch};
  c["hidden_size"] = embd;
  c["intermediate_size"] = ff;
  c["num_hidden_layers"] = layers;
  c["num_attention_heads"] = heads;
  c["num_key_value_heads"] = kv_heads;
  if (explicit_head_dim) c["head_dim"] = head_dim;
  c["rms_norm_eps"] = eps;
  c["rope_theta"] = theta;
  c["max_position_embeddings"] = 256;
  c["vocab_size"] = vocab;
  c["tie_word_embeddings"] = tied;
  c["rope_scaling"] = nullptr;
  c["torch_dtype"] = "float32";
  return c;
}

void TinyModel::write(const std::string& dir, int n_shards, bool spm_tokenizer) const {
  write_text(dir + "/config.json", config().dump(2));
  std::vector<std::vector<StTensor>> shards(static_cast<size_t>(n_shards));
  size_t i = 0;
  for (const auto& [name, t] : weights) shards[i++ % shards.size()].push_back(t);
  if (n_shards == 1) {
    write_file(dir + "/model.safetensors", make_safetensors(shards[0], {{"format", "pt"}}));
  } else {
    nlohmann::json index;
    index["metadata"] = {{"total_size", 0}};
    for (int s = 0; s < n_shards; ++s) {
      char fname[64];
      std::snprintf(fname, sizeof fname, "model-%05d-of-%05d.safetensors", s + 1, n_shards);
      write_file(dir + "/" + fname, make_safetensors(shards[static_cast<size_t>(s)]));
      for (const auto& t : shards[static_cast<size_t>(s)]) index["weight_map"][t.name] = fname;
    }
    write_text(dir + "/model.safetensors.index.json", index.dump(2));
  }
  const uint32_t n_tok = vocab - 4;  // the converter pads to vocab_size
  if (spm_tokenizer) {
    std::vector<SpPiece> pieces = {{"<unk>", 0, 2}, {"<s>", 0, 3}, {"</s>", 0, 3}};
    for (uint32_t t = 3; t < n_tok; ++t) {
      pieces.push_back({"\xe2\x96\x81p" + std::to_string(t), -static_cast<float>(t), 1});
    }
    std::string bytes = make_sentencepiece(pieces, 0, 1, 2, -1, true);
    write_file(dir + "/tokenizer.model", std::vector<uint8_t>(bytes.begin(), bytes.end()));
    write_text(dir + "/tokenizer_config.json",
               R"({"bos_token": "<s>", "eos_token": {"content": "</s>"}, "add_bos_token": true,
                   "add_eos_token": false})");
  } else {
    write_text(dir + "/tokenizer.json", make_bpe_tokenizer_json(n_tok));
    write_text(dir + "/tokenizer_config.json",
               R"({"bos_token": null, "eos_token": "<|endoftext|>", "add_bos_token": false,
                   "chat_template": "{% for m in messages %}{{ m.content }}{% endfor %}"})");
  }
}

}  // namespace dari::test
