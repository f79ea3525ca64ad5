// Helpers shared by the model tests: run a prompt through a Model with a fresh KV cache.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "dari/model/model.h"

namespace dari::test {

// Runs `tokens` for sequence `seq` (already added) starting at kv.length(seq), in chunks of
// `chunk` tokens, returning the logits of every row (n_tokens x n_vocab).
inline Result<std::vector<float>> run_tokens(Model& model, KvCache& kv, SeqId seq,
                                             const std::vector<int32_t>& tokens,
                                             size_t chunk = 1u << 30) {
  std::vector<float> all;
  for (size_t start = 0; start < tokens.size(); start += chunk) {
    size_t n = std::min(chunk, tokens.size() - start);
    ForwardBatch b;
    for (size_t i = 0; i < n; ++i) {
      b.tokens.push_back(tokens[start + i]);
      b.positions.push_back(static_cast<int32_t>(kv.length(seq) + i));
      b.seq_ids.push_back(seq);
      b.need_logits.push_back(1);
    }
    DARI_TRY(kv.reserve(seq, static_cast<uint32_t>(n)));
    std::vector<float> logits;
    DARI_TRY(model.forward(b, kv, &logits));
    kv.commit(seq, static_cast<uint32_t>(n));
    all.insert(all.end(), logits.begin(), logits.end());
  }
  return all;
}

inline int32_t argmax(const float* row, size_t n) {
  return static_cast<int32_t>(std::max_element(row, row + n) - row);
}

}  // namespace dari::test
