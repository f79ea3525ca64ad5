// Random-weight GGUF models with the shapes of real ones, so speed can be measured and
// reproduced without downloads (`dari bench --synthetic NAME --type T`).
//
// Weights: matrices ~ normal(0, 0.02) (approximated by a scaled sum of four uniforms), norms
// 1 + normal(0, 0.02), biases normal(0, 0.02), token embeddings normal(0, 0.02): activations stay
// finite through every layer. Each row is drawn from its own counter-based generator seeded by
// (seed, tensor index, row), so the bytes depend only on the spec and the seed, never on the
// thread count. Matrices are typed by the weight mix (dari/convert/quantize.h: Q4_0 gives an
// Q6_K output, Q4_K_M llama.cpp's mix, ...); 1-D tensors are F32.
//
// Vocabulary: a complete SentencePiece-style ("llama") vocabulary: <unk>, <s>, </s>, the 256
// byte tokens <0x00>..<0xFF>, then synthetic pieces, with scores and token types, so Engine and
// the tokenizer accept the file. (qwen2 shapes get the same SPM vocabulary instead of BPE.)
//
// Memory and speed: tensors are generated and quantised one at a time, rows split over a thread
// pool, and streamed into the file (about one tensor's encoding in memory at once). The output
// goes to PATH.tmp.<pid> and is renamed over PATH only when complete.
//
// Thread safety: pure functions; the progress callback runs on the calling thread.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "dari/convert/quantize.h"
#include "dari/core/result.h"

namespace dari {

struct SyntheticShape {
  std::string name;  // e.g. "tinyllama-1.1b"
  std::string arch;  // "llama" or "qwen2"
  uint32_t n_vocab = 0;
  uint32_t n_embd = 0;
  uint32_t n_layer = 0;
  uint32_t n_head = 0;
  uint32_t n_head_kv = 0;
  uint32_t n_ff = 0;
  uint32_t n_ctx = 2048;  // context_length metadata
  float rope_base = 10000.0f;
  float rms_eps = 1e-5f;
  bool qkv_bias = false;  // attn_q/k/v.bias (qwen2)
  bool tied = false;      // no output.weight: the model reuses token_embd
};

// Named shapes: tinyllama-1.1b, llama-3.2-1b, qwen2.5-0.5b, llama-3-8b, and two small ones for
// tests: tiny (llama, 256 wide, 2 layers) and tiny-qwen2 (qwen2, biases, tied). Error naming
// the list for an unknown name.
Result<SyntheticShape> synthetic_shape(std::string_view name);
std::vector<std::string> synthetic_shape_names();

// Parameter count of a shape (all tensors, token_embd counted once when tied).
uint64_t synthetic_param_count(const SyntheticShape& s);

struct SyntheticProgress {
  size_t index = 0;  // 1-based
  size_t total = 0;
  std::string name;
  GgmlType type = GgmlType::F32;
  uint64_t n_bytes = 0;      // this tensor
  uint64_t done_bytes = 0;   // tensor bytes written so far
  uint64_t total_bytes = 0;  // all tensor bytes
};

struct SyntheticOptions {
  uint64_t seed = 1;
  unsigned n_threads = 0;                                   // 0 = hardware concurrency
  std::function<void(const SyntheticProgress&)> on_tensor;  // may be empty
};

struct SyntheticSummary {
  size_t n_tensors = 0;
  uint64_t n_params = 0;
  uint64_t file_bytes = 0;
};

// Writes the model to `path`.
Result<SyntheticSummary> write_synthetic_model(const SyntheticShape& shape, const QuantMix& mix,
                                               const std::string& path,
                                               const SyntheticOptions& opts = {});

}  // namespace dari
