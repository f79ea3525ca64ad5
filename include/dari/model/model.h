// A loaded model: configuration from GGUF metadata, bound and validated weights, and a forward
// pass that turns a batch of tokens into logits, reading and writing K/V through a KvCache.
//
// Ownership: Model owns its GgufFile mapping (weights are views into it, or repacked copies) and
// its backends; weights placed on a device without host memory are uploaded at load into device
// buffers the model owns. Backends are shared (std::shared_ptr) with KvCaches made from
// kv_options(), so a cache may outlive the model that made it.
// Thread safety: a Model is immutable after load(); forward() may be called by one thread at a
// time per KvCache (it uses the backend's thread pool internally; concurrent calls are serialised
// by an internal mutex).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dari/backend/backend.h"
#include "dari/core/result.h"
#include "dari/io/gguf.h"
#include "dari/kv/kv_cache.h"

namespace dari {

enum class RopeType { kNormal, kNeox };  // adjacent pairs (llama) vs split halves (qwen2/qwen3)
enum class RopeScaling { kNone, kLinear, kYarn, kLlama3 };

struct ModelConfig {
  std::string arch;  // general.architecture
  std::string name;  // general.name, if present
  uint32_t n_vocab = 0;
  uint32_t n_embd = 0;
  uint32_t n_layer = 0;
  uint32_t n_head = 0;
  uint32_t n_head_kv = 0;
  uint32_t head_dim = 0;  // n_embd / n_head unless attention.key_length says otherwise
  uint32_t n_ff = 0;
  uint32_t n_ctx_train = 0;
  float rms_eps = 1e-5f;
  float rope_freq_base = 10000.0f;
  uint32_t rope_dim = 0;  // rotated dims per head
  RopeType rope_type = RopeType::kNormal;
  RopeScaling rope_scaling = RopeScaling::kNone;
  float rope_scale_factor = 1.0f;
  // llama3 scaling parameters
  float rope_low_freq_factor = 1.0f;
  float rope_high_freq_factor = 4.0f;
  uint32_t rope_orig_ctx = 0;
  bool tied_output = false;  // output projection reuses token_embd
};

struct ModelLoadOptions {
  uint32_t n_threads = 0;  // 0 = hardware concurrency
  // Backend spec NAME or NAME:DEVICE (dari/backend/backend.h create_backend), e.g. "vulkan:0".
  std::string backend = "cpu";
  // With a backend other than "cpu": how many of the model's layers run on it, counted from the
  // last layer (llama.cpp's -ngl): -1 = all of them, 0 = none; the output norm and projection go
  // with the last layer. The other layers, and their KV cache, stay on the CPU.
  int32_t n_gpu_layers = -1;
  // Let the backend copy weight matrices into a faster layout at load (BackendOptions::repack;
  // the CPU packs Q4_0, Q4_K and Q5_K matrices, taking about as long as reading them once).
  bool repack = true;
  // Time every backend op (BackendOptions::profile; read with Model::op_profile).
  bool profile = false;
  // For the load-time fit check on a device: tokens of KV cache (of kv_dtype) that will be made
  // for the device's layers, counted beside the weights and a scratch estimate. 0 = weights and
  // scratch only (a KV cache too large for the device then fails at KvCache::create instead).
  // kv_dtype is also the KV type whose attention the device must support to run a layer.
  uint32_t n_ctx = 0;
  GgmlType kv_dtype = GgmlType::F16;
};

// Where a loaded model runs: the device name (DeviceInfo::name) of each layer's backend, of the
// token embedding lookup and of the output norm + projection, and the bytes of weights the model
// uploaded to device memory (0 when everything runs on host-memory backends).
struct ModelPlacement {
  std::vector<std::string> layers;
  std::string embedding;
  std::string output;
  uint64_t device_weight_bytes = 0;
};

// One step's work for the model. All vectors are indexed by token row i in [0, n_tokens).
// Tokens of one sequence must appear in increasing position order, and position[i] must equal
// kv.length(seq) + (index of this token among the sequence's tokens in this batch): the model
// appends K/V for every row, and the caller commits them after forward() returns.
struct ForwardBatch {
  std::vector<int32_t> tokens;
  std::vector<int32_t> positions;
  std::vector<SeqId> seq_ids;
  std::vector<uint8_t> need_logits;  // 1 where a logits row is wanted
  // Optional (empty: no row): 1 where the row's final hidden state is wanted, the n_embd vector
  // after the output norm that the output projection reads (embeddings; Model::forward_hidden).
  std::vector<uint8_t> need_hidden = {};
};

class Model {
 public:
  virtual ~Model() = default;

  // Opens the GGUF file, reads the config, binds and validates every tensor; clear error on a
  // missing/mis-shaped tensor or unknown architecture.
  static Result<std::unique_ptr<Model>> load(const std::string& path,
                                             const ModelLoadOptions& opts = {});

  virtual const ModelConfig& config() const = 0;
  virtual const GgufFile& gguf() const = 0;

  // KvCache options matching this model (layers, kv heads, head dim) for a given capacity, with
  // each layer's KV placed on the backend that runs that layer (KvCacheOptions::layer_backends).
  KvCacheOptions kv_options(uint32_t n_ctx_tokens, GgmlType dtype = GgmlType::F16) const;
  // Per layer: the backend whose device memory must hold that layer's K/V, or null for host
  // memory. Empty when every layer runs on a host-memory backend.
  virtual std::vector<std::shared_ptr<Backend>> kv_backends() const { return {}; }

  // Where layers run (see ModelPlacement). Fixed at load; any thread.
  virtual ModelPlacement placement() const { return {}; }
  // Host <-> device bytes moved by the model's backends since load (weights uploaded at load
  // included): per decode step, only the logits come down, plus the activation rows that cross
  // between the CPU and the device once with partial offload (and hidden rows when asked). Same
  // thread as forward() (or while no forward() runs).
  virtual Backend::Transfers transfers() const { return {}; }

  // Runs the batch. Writes logits rows (n_vocab floats each) for the rows with need_logits, in row
  // order, into *logits (resized). Reserves nothing: the caller reserve()s KV space beforehand and
  // commit()s afterwards.
  virtual Status forward(const ForwardBatch& batch, KvCache& kv, std::vector<float>* logits) = 0;
  // Like forward(), and also writes the final hidden state (after the output norm, n_embd floats:
  // what the output projection reads) of each row with batch.need_hidden, in row order, into
  // *hidden (resized; may be null when no row needs it). A row may want both, either or neither.
  // Computed with the logits path's own ops, so it does not depend on the rest of the batch. The
  // default serves batches without need_hidden rows only (error otherwise).
  virtual Status forward_hidden(const ForwardBatch& batch, KvCache& kv, std::vector<float>* logits,
                                std::vector<float>* hidden);

  // The backend's time per op since the last reset (ModelLoadOptions::profile; empty otherwise).
  // Same thread as forward().
  virtual std::vector<OpProfile> op_profile() const { return {}; }
  virtual void reset_op_profile() {}
};

}  // namespace dari
