// Llama family: Llama 2 / 3 / 3.1 / 3.2, Mistral, TinyLlama (GQA, RoPE on adjacent pairs, optional
// llama3 or linear RoPE scaling, tied output when output.weight is absent; handled generically).
#include "dari/core/strings.h"
#include "model/arch/arch.h"

namespace dari {

Status bind_llama_layer(WeightBinder& b, const ModelConfig& cfg, uint32_t il, LayerWeights* out) {
  const std::string p = str_format("blk.%u.", il);
  const uint64_t q_dim = uint64_t{cfg.n_head} * cfg.head_dim;
  const uint64_t kv_dim = uint64_t{cfg.n_head_kv} * cfg.head_dim;
  DARI_ASSIGN_OR_RETURN(out->attn_norm, b.vector(p + "attn_norm.weight", cfg.n_embd));
  DARI_ASSIGN_OR_RETURN(out->wq, b.matrix(p + "attn_q.weight", cfg.n_embd, q_dim));
  DARI_ASSIGN_OR_RETURN(out->wk, b.matrix(p + "attn_k.weight", cfg.n_embd, kv_dim));
  DARI_ASSIGN_OR_RETURN(out->wv, b.matrix(p + "attn_v.weight", cfg.n_embd, kv_dim));
  DARI_ASSIGN_OR_RETURN(out->wo, b.matrix(p + "attn_output.weight", q_dim, cfg.n_embd));
  DARI_ASSIGN_OR_RETURN(out->ffn_norm, b.vector(p + "ffn_norm.weight", cfg.n_embd));
  DARI_ASSIGN_OR_RETURN(out->w_gate, b.matrix(p + "ffn_gate.weight", cfg.n_embd, cfg.n_ff));
  DARI_ASSIGN_OR_RETURN(out->w_up, b.matrix(p + "ffn_up.weight", cfg.n_embd, cfg.n_ff));
  DARI_ASSIGN_OR_RETURN(out->w_down, b.matrix(p + "ffn_down.weight", cfg.n_ff, cfg.n_embd));
  return Status::Ok();
}

Status bind_qkv_biases(WeightBinder& b, const ModelConfig& cfg, uint32_t il, LayerWeights* out) {
  const std::string p = str_format("blk.%u.", il);
  const uint64_t q_dim = uint64_t{cfg.n_head} * cfg.head_dim;
  const uint64_t kv_dim = uint64_t{cfg.n_head_kv} * cfg.head_dim;
  DARI_ASSIGN_OR_RETURN(out->bq, b.vector(p + "attn_q.bias", q_dim));
  DARI_ASSIGN_OR_RETURN(out->bk, b.vector(p + "attn_k.bias", kv_dim));
  DARI_ASSIGN_OR_RETURN(out->bv, b.vector(p + "attn_v.bias", kv_dim));
  return Status::Ok();
}

namespace {

Status bind_layer(WeightBinder& b, const ModelConfig& cfg, uint32_t il, LayerWeights* out) {
  DARI_TRY(bind_llama_layer(b, cfg, il, out));
  // Some llama-architecture conversions carry attention biases; use them when present.
  if (b.has(str_format("blk.%u.attn_q.bias", il))) DARI_TRY(bind_qkv_biases(b, cfg, il, out));
  return Status::Ok();
}

}  // namespace

const ArchSpec& llama_arch() {
  static const ArchSpec kSpec{"llama", RopeType::kNormal, bind_layer};
  return kSpec;
}

}  // namespace dari
