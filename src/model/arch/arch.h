// Architecture registry and the pieces each architecture file provides.
//
// Every architecture dari runs is a llama-family decoder (pre-norm attention + SwiGLU FFN); an
// architecture file says how its weights are named and shaped, its RoPE layout, and any extra
// per-layer tensors (QKV biases, per-head Q/K norms). The forward pass (transformer.cpp) reads
// those optional tensors generically, so a new weight format or architecture does not fork it.
#pragma once

#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include "dari/backend/backend.h"
#include "dari/io/gguf.h"
#include "dari/model/model.h"

namespace dari {

// Views into the GGUF mapping (or into WeightBinder-owned F32 copies). Empty view = absent.
struct LayerWeights {
  TensorView attn_norm;          // [n_embd] F32
  TensorView wq, wk, wv, wo;     // [n_embd, n_head*hd], [n_embd, n_kv*hd] x2, [n_head*hd, n_embd]
  TensorView bq, bk, bv;         // optional [n_head*hd], [n_kv*hd] x2 F32
  TensorView q_norm, k_norm;     // optional [hd] F32
  TensorView ffn_norm;           // [n_embd] F32
  TensorView w_gate, w_up;       // [n_embd, n_ff]
  TensorView w_down;             // [n_ff, n_embd]
};

struct ModelWeights {
  TensorView token_embd;   // [n_embd, n_vocab]
  TensorView output_norm;  // [n_embd] F32
  TensorView output;       // [n_embd, n_vocab] (token_embd when tied)
  TensorView rope_freqs;   // optional [rope_dim / 2] F32
  std::vector<LayerWeights> layers;
};

// Looks tensors up by name and checks presence, type support and exact shape. Messages name the
// tensor, the expected and the found shape. Small vectors of other float types are converted to
// F32 copies owned by the binder (stable addresses).
class WeightBinder {
 public:
  WeightBinder(const GgufFile& file, const Backend& backend) : file_(file), backend_(backend) {}

  bool has(const std::string& name) const { return file_.find_tensor(name) != nullptr; }
  // A matmul weight: ne = [in, out], any type the backend can multiply.
  Result<TensorView> matrix(const std::string& name, uint64_t in, uint64_t out) const;
  // An embedding table: ne = [n_embd, n_vocab], any type the backend can read rows of.
  Result<TensorView> embedding(const std::string& name, uint64_t n_embd, uint64_t n_vocab) const;
  // A 1-D vector of n floats (converted to F32 if stored otherwise).
  Result<TensorView> vector(const std::string& name, uint64_t n);

  std::deque<std::vector<float>>& owned() { return owned_; }

 private:
  Result<const GgufTensorInfo*> find(const std::string& name, std::vector<uint64_t> ne) const;
  const GgufFile& file_;
  const Backend& backend_;
  std::deque<std::vector<float>> owned_;
};

struct ArchSpec {
  std::string_view name;  // general.architecture
  RopeType rope_type;
  // Binds layer `il`'s tensors (names "blk.<il>.*") into *out.
  Status (*bind_layer)(WeightBinder& binder, const ModelConfig& cfg, uint32_t il,
                       LayerWeights* out);
};

// Shared by the architecture files: the llama layer tensors (norms, q/k/v/o, gate/up/down).
// Binds blk.<il>.attn_{q,k,v}.bias (shapes from cfg); missing or mis-shaped -> Error.
Status bind_qkv_biases(WeightBinder& binder, const ModelConfig& cfg, uint32_t il,
                       LayerWeights* out);
Status bind_llama_layer(WeightBinder& binder, const ModelConfig& cfg, uint32_t il,
                        LayerWeights* out);

const ArchSpec& llama_arch();
const ArchSpec& qwen2_arch();
const ArchSpec& qwen3_arch();

// nullptr for an unknown architecture.
const ArchSpec* find_arch(std::string_view name);
std::string known_arch_names();

}  // namespace dari
