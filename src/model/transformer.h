// The llama-family decoder shared by every architecture file (private to dari_model).
#pragma once

#include <deque>
#include <memory>
#include <mutex>
#include <vector>

#include "dari/backend/backend.h"
#include "dari/model/model.h"
#include "model/arch/arch.h"

namespace dari {

// Reads and sanity-checks the hyperparameters under "<arch>.*". n_vocab is filled from
// tokenizer.ggml.tokens when present (else left 0 for the caller to take from token_embd).
Result<ModelConfig> read_model_config(const GgufFile& file, const ArchSpec& arch);

// llama3 RoPE frequency factors (one per rotated pair) computed from the scaling parameters,
// used when the file has no rope_freqs.weight tensor.
std::vector<float> llama3_freq_factors(const ModelConfig& cfg);

class TransformerModel final : public Model {
 public:
  static Result<std::unique_ptr<Model>> create(GgufFile file, const ModelLoadOptions& opts);

  const ModelConfig& config() const override { return cfg_; }
  const GgufFile& gguf() const override { return file_; }
  Status forward(const ForwardBatch& batch, KvCache& kv, std::vector<float>* logits) override;
  std::vector<OpProfile> op_profile() const override { return backend_->op_profile(); }
  void reset_op_profile() override { backend_->reset_op_profile(); }

 private:
  TransformerModel(GgufFile file, std::unique_ptr<Backend> backend)
      : file_(std::move(file)), backend_(std::move(backend)) {}
  Status bind(const ArchSpec& arch);
  // Offers every weight matrix to Backend::pack_weight; releases the mapped pages of those it
  // copied (unless the output shares token_embd, whose rows get_rows still reads).
  Status pack_weights();
  struct Plan;  // per-call row bookkeeping (see transformer.cpp)
  Status plan_batch(const ForwardBatch& batch, const KvCache& kv, Plan* plan) const;
  Status run_layer(uint32_t il, const Plan& plan, KvCache& kv, float* x);

  GgufFile file_;
  std::unique_ptr<Backend> backend_;
  ModelConfig cfg_;
  ModelWeights w_;
  std::deque<std::vector<float>> owned_;  // F32 copies of small tensors, rope freq factors
  const float* freq_factors_ = nullptr;   // [rope_dim / 2] or null
  std::mutex forward_mu_;  // forward() calls are serialised: the scratch and backend are shared
  // Scratch reused across calls (resized per batch): [features][rows] F32.
  std::vector<float> cur_, q_, k_, v_, att_, gate_, up_;
};

}  // namespace dari
