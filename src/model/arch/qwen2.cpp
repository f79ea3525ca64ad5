// Qwen2 / Qwen2.5: llama layout plus Q/K/V biases; RoPE on split halves (neox).
#include "dari/core/strings.h"
#include "model/arch/arch.h"

namespace dari {
namespace {

Status bind_layer(WeightBinder& b, const ModelConfig& cfg, uint32_t il, LayerWeights* out) {
  DARI_TRY(bind_llama_layer(b, cfg, il, out));
  const std::string p = str_format("blk.%u.", il);
  const uint64_t q_dim = uint64_t{cfg.n_head} * cfg.head_dim;
  const uint64_t kv_dim = uint64_t{cfg.n_head_kv} * cfg.head_dim;
  DARI_ASSIGN_OR_RETURN(out->bq, b.vector(p + "attn_q.bias", q_dim));
  DARI_ASSIGN_OR_RETURN(out->bk, b.vector(p + "attn_k.bias", kv_dim));
  DARI_ASSIGN_OR_RETURN(out->bv, b.vector(p + "attn_v.bias", kv_dim));
  return Status::Ok();
}

}  // namespace

const ArchSpec& qwen2_arch() {
  static const ArchSpec kSpec{"qwen2", RopeType::kNeox, bind_layer};
  return kSpec;
}

}  // namespace dari
