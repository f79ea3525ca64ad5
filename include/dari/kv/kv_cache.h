// Paged KV cache: a pool of fixed-size blocks shared by all sequences, and a block table per
// sequence mapping logical token positions to physical blocks.
//
// Storage layout (per layer, per block): K and V each [block_tokens][n_kv_heads * head_dim]
// elements of `dtype` (F16 by default, or F32). Token position p of a sequence lives in block
// table[p / block_tokens], slot p % block_tokens.
//
// Ownership: KvCache owns all block memory. Sequence ids are small integers handed out by
// add_sequence() and valid until free_sequence().
// Thread safety: not thread-safe; owned and called by one thread (the engine thread). The model's
// forward pass may read/write block memory from worker threads while the owner waits for it.
#pragma once

#include <cstdint>
#include <vector>

#include "dari/core/result.h"
#include "dari/io/ggml_type.h"

namespace dari {

struct KvCacheOptions {
  uint32_t n_layers = 0;
  uint32_t n_kv_heads = 0;
  uint32_t head_dim = 0;
  uint32_t block_tokens = 16;  // tokens per block
  uint32_t n_blocks = 0;       // blocks in the pool (capacity = n_blocks * block_tokens tokens)
  GgmlType dtype = GgmlType::F16;  // F16 or F32
};

using SeqId = int32_t;

class KvCache {
 public:
  static Result<KvCache> create(const KvCacheOptions& opts);

  const KvCacheOptions& options() const { return opts_; }

  SeqId add_sequence();
  void free_sequence(SeqId seq);     // returns all its blocks to the pool
  bool has_sequence(SeqId seq) const;

  // Number of tokens whose K/V are stored for seq (the next position to write).
  uint32_t length(SeqId seq) const;
  // Ensures capacity for n_new more tokens after length(seq); allocates blocks. Error (and no
  // change) when the pool has too few free blocks.
  Status reserve(SeqId seq, uint32_t n_new);
  // Marks n_new more tokens as written (after the forward pass stored them).
  void commit(SeqId seq, uint32_t n_new);
  // Drops tokens at positions >= new_length (frees whole blocks no longer needed).
  void truncate(SeqId seq, uint32_t new_length);

  const std::vector<int32_t>& block_table(SeqId seq) const;
  uint32_t free_blocks() const;
  uint32_t total_blocks() const { return opts_.n_blocks; }

  // Pointer to the K (or V) row for (layer, physical block, slot): n_kv_heads * head_dim elements
  // of options().dtype.
  uint8_t* k_row(uint32_t layer, int32_t block, uint32_t slot);
  uint8_t* v_row(uint32_t layer, int32_t block, uint32_t slot);
  uint64_t row_bytes() const { return row_bytes_; }

 private:
  KvCacheOptions opts_;
  uint64_t row_bytes_ = 0;
  std::vector<uint8_t> k_;  // [n_layers][n_blocks][block_tokens][row]
  std::vector<uint8_t> v_;
  struct SeqState {
    bool live = false;
    uint32_t length = 0;
    std::vector<int32_t> blocks;
  };
  std::vector<SeqState> seqs_;
  std::vector<int32_t> free_list_;
};

}  // namespace dari
