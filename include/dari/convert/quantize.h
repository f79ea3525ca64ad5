// Weight type mixes ("Q4_K_M", "Q8_0", ...) as llama-quantize chooses them, and `dari quantize`:
// re-encode the matrices of an F32/F16/BF16 GGUF file into a quantized type, copying metadata.
//
// Mix rules (llama.cpp's llama_tensor_get_type, for the mixes listed in parse_quant_mix):
//   * 1-D tensors (norms, biases, rope factors) are stored F32; so is anything not named
//     "*.weight".
//   * F32 / F16 / BF16 mixes: every matrix in that type, nothing else changes.
//   * quantized mixes: every matrix in the base type, except
//       - output.weight (or token_embd.weight when the model has no output.weight, i.e. tied):
//         Q6_K unless the base is Q8_0 (then Q8_0), and Q8_0 when ne0 is not a multiple of the
//         base type's block size;
//       - Q4_K_M and Q5_K_M: attn_v.weight and ffn_down.weight of the layers where
//         use_more_bits(i, n) holds (i < n/8, i >= 7n/8, or (i - n/8) % 3 == 2) are Q6_K;
//       - any choice whose block size does not divide ne0 falls back: Q4_K -> Q5_0, Q5_K -> Q5_1,
//         Q6_K -> Q8_0, and to F16 if that still does not fit.
//   token_embd.weight (when output.weight exists) keeps the base type, as in llama.cpp.
//
// Thread safety: pure functions; quantize_gguf uses its own worker threads and calls the
// progress callback on the calling thread.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "dari/core/result.h"
#include "dari/io/ggml_type.h"

namespace dari {

struct QuantMix {
  std::string name;               // canonical name, e.g. "Q4_K_M"
  GgmlType base = GgmlType::F16;  // type of most matrices
  bool k_mix = false;             // the _K_M rules for attn_v / ffn_down
  uint32_t file_type = 1;         // llama.cpp's general.file_type (LLAMA_FTYPE_*)
};

// Case-insensitive: F32, F16, BF16, Q8_0, Q4_0, Q4_K_M, Q5_K_M, Q6_K. Error naming the accepted
// list.
Result<QuantMix> parse_quant_mix(std::string_view name);
// The names parse_quant_mix accepts, in that order.
std::vector<std::string> quant_mix_names();

// The type the mix gives tensor `name` with dims `ne` (fastest first) in a model of n_layer
// layers; has_output = the model has its own output.weight.
GgmlType choose_tensor_type(const QuantMix& mix, std::string_view name,
                            const std::vector<uint64_t>& ne, uint32_t n_layer, bool has_output);

struct QuantizeEvent {
  size_t index = 0;  // 1-based
  size_t total = 0;
  std::string name;
  GgmlType from = GgmlType::F32;
  GgmlType to = GgmlType::F32;
  uint64_t in_bytes = 0;        // this tensor
  uint64_t out_bytes = 0;       // this tensor
  uint64_t done_in_bytes = 0;   // input bytes handled so far (including this tensor)
  uint64_t total_in_bytes = 0;  // all tensor bytes of the input
};

struct QuantizeOptions {
  unsigned n_threads = 0;                               // 0 = hardware concurrency
  std::function<void(const QuantizeEvent&)> on_tensor;  // progress; may be empty
};

struct QuantizeSummary {
  size_t n_tensors = 0;
  uint64_t in_file_bytes = 0;
  uint64_t out_file_bytes = 0;
  size_t n_quantized = 0;  // tensors whose type changed
};

// Reads `in_path` (every tensor F32, F16 or BF16; error otherwise, naming the tensor and type),
// writes `out_path` (streamed to OUT.tmp.<pid>, renamed when complete) with all metadata copied,
// general.file_type set to the mix's and general.quantization_version = 2.
Result<QuantizeSummary> quantize_gguf(const std::string& in_path, const std::string& out_path,
                                      const QuantMix& mix, const QuantizeOptions& opts = {});

}  // namespace dari
