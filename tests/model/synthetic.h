// Tiny random-weight GGUF models for tests, written with GgufWriter. Matrices are stored in
// `wtype` (quantised with the tensor traits), norms and biases in F32.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "dari/core/result.h"
#include "dari/io/ggml_type.h"

namespace dari::test {

struct SynthSpec {
  std::string arch = "llama";  // llama, qwen2, qwen3 (anything else is written as given)
  GgmlType wtype = GgmlType::F32;
  uint32_t n_vocab = 64;
  uint32_t n_embd = 32;
  uint32_t n_layer = 2;
  uint32_t n_head = 4;
  uint32_t n_head_kv = 2;
  uint32_t head_dim = 0;  // 0 = n_embd / n_head (written as attention.key_length if set)
  uint32_t n_ff = 64;
  float rope_base = 10000.0f;
  bool tied = false;         // omit output.weight
  bool write_vocab = true;   // write tokenizer.ggml.tokens
  std::string rope_scaling;  // "", "linear", "llama3"
  float rope_factor = 1.0f;
  uint32_t rope_orig_ctx = 0;
  bool rope_freqs_tensor = false;  // write rope_freqs.weight (llama3 style factors)
  uint32_t seed = 1;
  // Matrices stored in another type than wtype, by tensor name (e.g. "blk.1.ffn_down.weight").
  std::map<std::string, GgmlType> tensor_types;
  // Fault injection for the bad-input tests.
  std::string omit_tensor;      // leave this tensor out
  std::string misshape_tensor;  // write this tensor with its last dim + 1
};

// Writes the model to `path`.
Status write_synthetic(const SynthSpec& spec, const std::string& path);

// A writable temp path under the build tree for `name`.
std::string temp_model_path(const std::string& name);

}  // namespace dari::test
