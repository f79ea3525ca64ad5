// Qwen3 (dense): llama layout, no biases, RMS norm over each Q and K head (attn_q_norm /
// attn_k_norm, [head_dim]) before RoPE; RoPE on split halves (neox). head_dim comes from
// attention.key_length and may differ from n_embd / n_head.
#include "dari/core/strings.h"
#include "model/arch/arch.h"

namespace dari {
namespace {

Status bind_layer(WeightBinder& b, const ModelConfig& cfg, uint32_t il, LayerWeights* out) {
  DARI_TRY(bind_llama_layer(b, cfg, il, out));
  const std::string p = str_format("blk.%u.", il);
  DARI_ASSIGN_OR_RETURN(out->q_norm, b.vector(p + "attn_q_norm.weight", cfg.head_dim));
  DARI_ASSIGN_OR_RETURN(out->k_norm, b.vector(p + "attn_k_norm.weight", cfg.head_dim));
  return Status::Ok();
}

}  // namespace

const ArchSpec& qwen3_arch() {
  static const ArchSpec kSpec{"qwen3", RopeType::kNeox, bind_layer};
  return kSpec;
}

}  // namespace dari
