// Qwen2 / Qwen2.5: llama layout plus Q/K/V biases; RoPE on split halves (neox).
#include "model/arch/arch.h"

namespace dari {
namespace {

Status bind_layer(WeightBinder& b, const ModelConfig& cfg, uint32_t il, LayerWeights* out) {
  DARI_TRY(bind_llama_layer(b, cfg, il, out));
  return bind_qkv_biases(b, cfg, il, out);  // required for qwen2
}

}  // namespace

const ArchSpec& qwen2_arch() {
  static const ArchSpec kSpec{"qwen2", RopeType::kNeox, bind_layer};
  return kSpec;
}

}  // namespace dari
