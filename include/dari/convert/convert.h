// Hugging Face checkpoint (config.json + safetensors + tokenizer files) -> GGUF, for the llama
// (LlamaForCausalLM, MistralForCausalLM), qwen2 (Qwen2ForCausalLM) and qwen3 (Qwen3ForCausalLM)
// architectures, with the metadata keys and tensor names llama.cpp's converter writes.
//
// Weight layout: GGUF dims are listed fastest first, so an HF [rows, cols] matrix becomes
// ne = {cols, rows} with the same bytes. For llama, Q and K rows are permuted from HF's
// rotate-half layout (per head: first half of the rows = real parts, second half = imaginary)
// to GGUF's interleaved-pair layout (see permute_qk_rows). qwen2/qwen3 use neox-style rope in
// GGUF, which matches HF's layout, so they are not permuted.
//
// Output types (ConvertOptions::type):
//   * 1-D tensors (norms, biases, rope_freqs) are always F32, as in llama.cpp.
//   * F32 / F16 / BF16: every matrix in that type.
//   * quantized types (Q8_0, Q4_0, ...; any type whose dari traits have from_float): every
//     matrix whose row length is a multiple of the block size; others fall back to F16 (as
//     llama.cpp's converter does). token_embd.weight and output.weight use Q8_0 instead when the
//     target has fewer than 8 bits per weight (they are the most quantization-sensitive).
//
// Memory: streaming. Every tensor is validated and declared first (GgufWriter::add_tensor_info),
// the header is written, then tensors are converted and written one at a time, so peak memory is
// about one tensor as floats plus its encoding (the safetensors inputs are mmapped). The output
// goes to OUT.tmp.<pid> and is renamed over OUT only when complete.
//
// Thread safety: pure functions; the callback runs on the calling thread.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dari/core/result.h"
#include "dari/io/ggml_type.h"

namespace dari {

struct HfConfig {
  std::string hf_arch;  // architectures[0], e.g. "LlamaForCausalLM"
  std::string arch;     // GGUF architecture: "llama", "qwen2" or "qwen3"
  uint32_t n_embd = 0;  // hidden_size
  uint32_t n_ff = 0;    // intermediate_size
  uint32_t n_layer = 0;
  uint32_t n_head = 0;
  uint32_t n_head_kv = 0;
  uint32_t head_dim = 0;  // head_dim, or hidden_size / num_attention_heads
  uint32_t n_ctx = 0;     // max_position_embeddings
  uint32_t n_vocab = 0;
  float rms_eps = 1e-6f;
  float rope_theta = 10000.0f;
  bool tie_embeddings = false;
  std::string rope_scaling;  // "", "linear", "llama3" or "yarn"
  float rope_factor = 1.0f;
  float rope_low_freq_factor = 1.0f;
  float rope_high_freq_factor = 4.0f;
  uint32_t rope_orig_ctx = 0;  // original_max_position_embeddings (llama3 default 8192)
  std::optional<uint32_t> bos_token_id, eos_token_id;
  std::string name_or_path;  // "_name_or_path", if present
};

// Parses and validates config.json (sizes positive and bounded, heads dividing evenly).
Result<HfConfig> parse_hf_config(std::string_view json, const std::string& name);

// Output type from a name ("F16", "q8_0", ...; case-insensitive). Error for types dari cannot
// produce.
Result<GgmlType> parse_output_type(std::string_view name);

// llama.cpp's general.file_type number for an output type.
uint32_t gguf_file_type(GgmlType t);

// Q/K row permutation HF -> GGUF for llama: src and dst hold rows x cols floats, rows =
// n_head * head_dim. Within each head, destination row 2*i + j takes source row j*head_dim/2 + i
// (i < head_dim/2, j in {0, 1}). Works for bias vectors with cols = 1. Error when rows is not a
// multiple of 2 * n_head.
Status permute_qk_rows(const float* src, float* dst, uint64_t rows, uint64_t cols,
                       uint32_t n_head);

// llama3 rope scaling factors (rope_freqs.weight): head_dim / 2 floats.
std::vector<float> llama3_rope_factors(const HfConfig& cfg);

struct ConvertTensorEvent {
  size_t index = 0;  // 1-based
  size_t total = 0;
  std::string name;             // GGUF name
  std::vector<uint64_t> ne;     // GGUF dims, fastest first
  GgmlType type = GgmlType::F32;
  uint64_t n_bytes = 0;         // bytes written for this tensor
};

struct ConvertOptions {
  GgmlType type = GgmlType::F16;
  std::string name;  // general.name; default: config _name_or_path, else the folder name
  std::function<void(const ConvertTensorEvent&)> on_tensor;  // progress; may be empty
};

struct ConvertSummary {
  std::string arch;
  size_t n_tensors = 0;
  uint64_t n_params = 0;
  uint64_t n_tensor_bytes = 0;
  uint64_t file_bytes = 0;
  size_t n_vocab = 0;
  std::string tokenizer_model;  // "llama" or "gpt2"
};

// Converts the checkpoint in `dir` and writes `out_path`. Errors name the file and tensor.
Result<ConvertSummary> convert_hf_checkpoint(const std::string& dir, const std::string& out_path,
                                             const ConvertOptions& opts);

}  // namespace dari
