// An independent, plain double-precision forward pass for llama / qwen2 / qwen3 GGUF files, used
// as the reference in the synthetic-model tests. Weights are DEQUANTISED with the tensor traits
// (to_float) and everything after that is double arithmetic, one token at a time, with no
// sharing of code with src/model or the backend.
#pragma once

#include <cstdint>
#include <vector>

#include "dari/core/result.h"
#include "dari/io/gguf.h"

namespace dari::test {

// Logits (n_vocab doubles) for every position of `tokens`, processed as one sequence from
// position 0.
Result<std::vector<std::vector<double>>> reference_forward(const GgufFile& file,
                                                           const std::vector<int32_t>& tokens);

}  // namespace dari::test
