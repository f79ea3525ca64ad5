#include "dari/model/model.h"

#include "model/transformer.h"

namespace dari {

Result<std::unique_ptr<Model>> Model::load(const std::string& path, const ModelLoadOptions& opts) {
  DARI_ASSIGN_OR_RETURN(GgufFile file, GgufFile::open(path));
  return TransformerModel::create(std::move(file), opts);
}

KvCacheOptions Model::kv_options(uint32_t n_ctx_tokens, GgmlType dtype) const {
  const ModelConfig& c = config();
  KvCacheOptions o;
  o.n_layers = c.n_layer;
  o.n_kv_heads = c.n_head_kv;
  o.head_dim = c.head_dim;
  o.dtype = dtype;
  const uint64_t blocks = (uint64_t{n_ctx_tokens} + o.block_tokens - 1) / o.block_tokens;
  o.n_blocks = static_cast<uint32_t>(blocks == 0 ? 1 : blocks);
  o.layer_backends = kv_backends();
  return o;
}

Status Model::forward_hidden(const ForwardBatch& batch, KvCache& kv, std::vector<float>* logits,
                             std::vector<float>* hidden) {
  for (uint8_t h : batch.need_hidden) {
    if (h != 0) return make_error("forward: this model cannot output hidden states");
  }
  if (hidden != nullptr) hidden->clear();
  return forward(batch, kv, logits);
}

}  // namespace dari
