// The llama-family decoder shared by every architecture file (private to dari_model).
//
// Placement: the model runs on one or two backends ("execs"): the backend named in
// ModelLoadOptions::backend, and, when that is a device and some layers stay on the host (-ngl,
// or a layer whose ops the device declines), a CPU backend. Each layer, the embedding lookup and
// the output head run on exactly one exec; consecutive layers on the same exec form one OpGraph
// handed to Backend::compute() once per step, and the activation rows cross between execs once
// per boundary. Weights on a device without host memory are uploaded at load (placement.cpp).
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

// Feature sizes of the activation scratch (all F32).
struct ScratchDims {
  int64_t e = 0, qd = 0, kvd = 0, ff = 0, vocab = 0;  // n_embd, n_head*hd, n_kv*hd, n_ff, n_vocab
};

// Addresses of the scratch regions on one backend (device addresses unless host memory): each
// region holds [features][rows] F32 for up to the scratch's row capacity (sel and logits: its
// logit-row capacity). All null in a layout made for a supports_op() query.
struct ScratchViews {
  uint8_t *x = nullptr, *cur = nullptr, *q = nullptr, *k = nullptr, *v = nullptr, *att = nullptr;
  uint8_t *gate = nullptr, *up = nullptr, *sel = nullptr, *logits = nullptr;
};

// Activation scratch on one backend: one buffer carved into ScratchViews regions, reallocated
// (larger) when a batch needs more rows. Owned by its Exec; used by forward() under its mutex.
class Scratch {
 public:
  // Bytes a scratch for `rows` activation rows and `out_rows` logits rows occupies.
  static uint64_t bytes(const ScratchDims& d, int64_t rows, int64_t out_rows);
  // Makes room for rows / out_rows (keeps the buffer when it is big enough). Error (and an empty
  // scratch) when the backend is out of memory.
  Status ensure(Backend& be, const ScratchDims& d, int64_t rows, int64_t out_rows);
  const ScratchViews& views() const { return views_; }
  void reset() {
    buf_.reset();
    views_ = {};
    rows_ = out_rows_ = 0;
  }

 private:
  std::unique_ptr<Buffer> buf_;
  ScratchViews views_;
  int64_t rows_ = 0, out_rows_ = 0;
};

// One backend the model runs on, with the device copies of the weights it runs and its scratch.
// Buffers are released before the backend reference (explicit destructor).
struct Exec {
  std::shared_ptr<Backend> backend;
  bool host = true;  // backend->device().host_memory: weights stay in the mapping, no uploads
  std::vector<std::unique_ptr<Buffer>> weights;  // device weight buffers (few, large)
  Scratch scratch;
  ~Exec() {
    scratch.reset();
    weights.clear();
  }
};

class TransformerModel final : public Model {
 public:
  static Result<std::unique_ptr<Model>> create(GgufFile file, const ModelLoadOptions& opts);

  const ModelConfig& config() const override { return cfg_; }
  const GgufFile& gguf() const override { return file_; }
  Status forward(const ForwardBatch& batch, KvCache& kv, std::vector<float>* logits) override;
  Status forward_hidden(const ForwardBatch& batch, KvCache& kv, std::vector<float>* logits,
                        std::vector<float>* hidden) override;
  std::vector<OpProfile> op_profile() const override;
  void reset_op_profile() override;
  std::vector<std::shared_ptr<Backend>> kv_backends() const override;
  ModelPlacement placement() const override;
  Backend::Transfers transfers() const override;

  // Row bookkeeping for one forward() call. Everything here is host memory passed to ops as
  // parameters (token ids, positions, block tables, row ids), never uploaded by the model.
  struct Plan {
    int64_t n_rows = 0;
    std::vector<int32_t> cache_rows;     // [rows] KV cache row each token is written to
    std::vector<int32_t> row_seq;        // [rows] index into tables
    std::vector<const int32_t*> tables;  // per distinct sequence in the batch
    std::vector<int32_t> table_sizes;
    std::vector<int32_t> logit_rows;   // rows needing logits, in row order
    std::vector<int32_t> hidden_rows;  // rows needing their hidden state, in row order
    DariAttentionParams attn{};
    DariRopeParams rope{};
  };

 private:
  explicit TransformerModel(GgufFile file) : file_(std::move(file)) {}
  Status bind(const ArchSpec& arch, const Backend& checker);
  // placement.cpp: decides where each layer runs (n_gpu_layers, supports_op, fit check),
  // uploads device weights and offers matrices to pack_weight.
  Status place(const ModelLoadOptions& opts, std::shared_ptr<Backend> main,
               std::shared_ptr<Backend> cpu);
  bool layer_supported(const Backend& be, uint32_t il, GgmlType kv_dtype) const;
  bool output_supported(const Backend& be) const;
  bool embedding_supported(const Backend& be) const;
  Status upload_weights(uint8_t exec);
  Status pack_weights();
  ScratchDims dims() const;

  Status plan_batch(const ForwardBatch& batch, const KvCache& kv, Plan* plan) const;
  // Fills plan->attn and plan->rope (tables, row_seq etc. must be filled already).
  void fill_params(Plan* plan, const int32_t* positions, int32_t block_tokens) const;
  // Appends layer il's ops to g: activations in s (rows = plan.n_rows), K/V caches kc / vc.
  void record_layer(OpGraph& g, uint32_t il, const Plan& plan, const ScratchViews& s,
                    const TensorView& kc, const TensorView& vc) const;
  // Runs the graph recorded so far on exec `from` and moves `bytes` at offset 0 of region
  // `region` of `from`'s scratch into the same region of `to` (one download + upload at most).
  Status flush(uint8_t exec);
  Status cross(uint8_t from, uint8_t to, uint8_t* ScratchViews::*region, uint64_t bytes);

  GgufFile file_;
  ModelConfig cfg_;
  ModelWeights w_;  // views: mapping / owned_ (host execs) or device addresses (device execs)
  std::deque<std::vector<float>> owned_;  // F32 copies of small tensors, rope freq factors
  const float* freq_factors_ = nullptr;   // [rope_dim / 2] host memory (an op parameter) or null
  std::vector<std::unique_ptr<Exec>> execs_;  // [0]: ModelLoadOptions::backend; [1]: CPU, if used
  std::vector<uint8_t> layer_exec_;           // [n_layer] index into execs_
  uint8_t embd_exec_ = 0, out_exec_ = 0;
  std::mutex forward_mu_;     // forward() calls are serialised: the scratch and backends are shared
  OpGraph graph_;             // the ops recorded for the current exec (reused across calls)
  std::vector<float> stage_;  // host staging between two device execs
};

}  // namespace dari
