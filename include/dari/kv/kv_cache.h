// Paged KV cache: a pool of fixed-size blocks shared by all sequences, and a block table per
// sequence mapping logical token positions to physical blocks.
//
// Storage layout (per layer, per block): K and V each [block_tokens][n_kv_heads * head_dim]
// elements of `dtype` (F16 by default, or F32). Token position p of a sequence lives in block
// table[p / block_tokens], slot p % block_tokens.
//
// Blocks are reference counted: fork() makes a sequence that shares every block of another
// (copy-on-write: reserve() copies a shared, partially filled last block before it is written).
//
// Automatic prefix caching (options.prefix_cache): a sequence whose tokens are committed with
// commit_tokens() registers each block once it is full, keyed by a hash chain (the block's tokens
// and the previous block's key). A later sequence with the same leading tokens attaches those
// blocks with match_prefix() instead of recomputing them. Registered blocks that no sequence
// references stay cached (their K/V intact) until the pool needs them: allocation takes never-
// registered free blocks first, then evicts the least recently released cached block.
//
// Device memory (options.layer_backends): each layer's K and V may live in a Backend's buffers
// (the backend that runs that layer, chosen by the model: Model::kv_options fills it). Such a
// layer's k_row()/v_row() are addresses in that device's address space (pointer arithmetic only;
// never dereference them unless the device has host memory), and copy-on-write copies go through
// Backend::copy_bytes. Layers without a backend use host memory owned by the cache (zeroed).
// Device blocks start with unspecified contents: attention reads only positions already written.
//
// Ownership: KvCache owns all block memory (host vectors and device buffers) and shares
// ownership of the backends its buffers came from, so they outlive the buffers. Sequence ids are
// small integers handed out by add_sequence() and valid until free_sequence().
// Thread safety: not thread-safe; owned and called by one thread (the engine thread). The model's
// forward pass may read/write block memory from worker threads while the owner waits for it.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <span>
#include <unordered_map>
#include <vector>

#include "dari/backend/backend.h"
#include "dari/core/result.h"
#include "dari/io/ggml_type.h"

namespace dari {

struct KvCacheOptions {
  uint32_t n_layers = 0;
  uint32_t n_kv_heads = 0;
  uint32_t head_dim = 0;
  uint32_t block_tokens = 16;      // tokens per block
  uint32_t n_blocks = 0;           // blocks in the pool (capacity = n_blocks * block_tokens tokens)
  GgmlType dtype = GgmlType::F16;  // F16 or F32
  bool prefix_cache = false;       // keep and reuse full blocks (see above)
  // Empty (all host memory), or one entry per layer: the backend whose memory holds that layer's
  // K/V blocks; a null entry, or a backend with host memory, means host memory owned by the
  // cache. A device layer allocates two buffers (K and V) of n_blocks * block_tokens rows; an
  // allocation failure (out of device memory) makes create() return an error.
  std::vector<std::shared_ptr<Backend>> layer_backends = {};
};

// Prefix-cache counters, cumulative since create().
struct KvPrefixStats {
  uint64_t query_tokens = 0;  // tokens offered to match_prefix()
  uint64_t hit_tokens = 0;    // of those, attached from the cache
  uint64_t evictions = 0;     // cached blocks reused for new data
};

using SeqId = int32_t;

class KvCache {
 public:
  static Result<KvCache> create(const KvCacheOptions& opts);

  const KvCacheOptions& options() const { return opts_; }

  SeqId add_sequence();
  void free_sequence(SeqId seq);  // returns all its blocks to the pool
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

  // Like commit(), and records the tokens (tokens.size() new ones) so that blocks they fill are
  // registered in the prefix cache. A sequence committed with plain commit() registers nothing.
  void commit_tokens(SeqId seq, std::span<const int32_t> tokens);

  // A new sequence sharing all of src's blocks and tokens (each block's reference count + 1).
  // Returns -1 if src is unknown.
  SeqId fork(SeqId src);

  // Attaches to the empty sequence `seq` the cached blocks holding the longest prefix of `tokens`
  // made of whole blocks, at most max_tokens tokens; returns the tokens attached (the new
  // length). Counts query/hit tokens. No-op (0) without prefix caching or if seq is not empty.
  uint32_t match_prefix(SeqId seq, std::span<const int32_t> tokens, uint32_t max_tokens);
  // How many tokens match_prefix() would attach, without attaching or counting. *unreferenced
  // (optional) receives how many of those blocks are cached with no holder (attaching them takes
  // them out of free_blocks()).
  uint32_t peek_prefix(std::span<const int32_t> tokens, uint32_t max_tokens,
                       uint32_t* unreferenced = nullptr) const;

  // Blocks reserve(seq, n_new) would take from the pool (new blocks plus a copy-on-write copy).
  uint32_t blocks_needed(SeqId seq, uint32_t n_new) const;
  // Blocks that hold n_tokens tokens (rounded up).
  uint32_t blocks_for_tokens(uint32_t n_tokens) const;
  bool can_allocate(uint32_t n_blocks) const { return n_blocks <= free_blocks(); }

  const std::vector<int32_t>& block_table(SeqId seq) const;
  // Blocks that can be allocated now: never-used/free ones plus unreferenced cached ones.
  uint32_t free_blocks() const;
  uint32_t total_blocks() const { return opts_.n_blocks; }
  uint32_t used_blocks() const { return opts_.n_blocks - free_blocks(); }  // referenced
  uint32_t cached_blocks() const { return static_cast<uint32_t>(lru_.size()); }
  uint32_t ref_count(int32_t block) const;
  uint32_t live_sequences() const;
  const KvPrefixStats& prefix_stats() const { return prefix_stats_; }
  // Drops every unreferenced cached block (they become plain free blocks).
  void clear_prefix_cache();

  // Address of the K (or V) row for (layer, physical block, slot): n_kv_heads * head_dim elements
  // of options().dtype. For a device layer (layer_backend(layer) != nullptr) this is a device
  // address: compute views from it, never dereference it. Rows of one layer are contiguous in
  // (block, slot) order, so k_row(layer, 0, 0) is the base of a [row][n_blocks * block_tokens]
  // tensor.
  uint8_t* k_row(uint32_t layer, int32_t block, uint32_t slot);
  uint8_t* v_row(uint32_t layer, int32_t block, uint32_t slot);
  uint64_t row_bytes() const { return row_bytes_; }
  // The backend holding this layer's blocks in device memory, or nullptr for host memory.
  Backend* layer_backend(uint32_t layer) const;
  // Bytes of K plus V storage for one layer (what a device layer allocates).
  uint64_t layer_bytes() const { return 2 * row_bytes_ * opts_.block_tokens * opts_.n_blocks; }

 private:
  // One layer's device storage. The buffers are freed before the backend reference is dropped
  // (explicit destructor and move assignment: member order alone would not guarantee it).
  struct DeviceLayer {
    std::shared_ptr<Backend> backend;  // null: host memory
    std::unique_ptr<Buffer> k, v;
    DeviceLayer() = default;
    DeviceLayer(DeviceLayer&&) noexcept = default;
    DeviceLayer& operator=(DeviceLayer&& o) noexcept;
    ~DeviceLayer();
  };

  KvCacheOptions opts_;
  uint64_t row_bytes_ = 0;
  std::vector<uint8_t> k_;  // host layers: [host layer][n_blocks][block_tokens][row]
  std::vector<uint8_t> v_;
  std::vector<DeviceLayer> device_;  // [n_layers]
  std::vector<uint8_t*> k_base_;     // [n_layers] base address of each layer's K rows
  std::vector<uint8_t*> v_base_;
  struct SeqState {
    bool live = false;
    uint32_t length = 0;
    std::vector<int32_t> blocks;
    bool track = true;             // tokens/hashes valid (only commit_tokens() used so far)
    std::vector<int32_t> tokens;   // committed tokens when track
    std::vector<uint64_t> hashes;  // chain key of each full block when track
  };
  struct BlockState {
    uint32_t refs = 0;
    bool registered = false;               // in index_ (full, content fixed)
    uint64_t key = 0;                      // chain key when registered
    uint64_t parent = 0;                   // previous block's key (0 for the first)
    std::vector<int32_t> tokens;           // the block's tokens when registered (collision check)
    std::list<int32_t>::iterator lru_pos;  // valid while refs == 0 && registered
  };

  int32_t take_block();           // free list first, then evicts the LRU cached block
  void release_block(int32_t b);  // refs - 1; at 0 to the LRU (registered) or the free list
  void unregister_block(int32_t b);
  Status copy_block(int32_t dst, int32_t src, uint32_t slots);
  void register_full_blocks(SeqState& s);
  int32_t lookup(uint64_t parent, std::span<const int32_t> tokens, uint64_t* key) const;

  std::vector<SeqState> seqs_;
  std::vector<int32_t> free_list_;
  std::vector<BlockState> blocks_;
  std::list<int32_t> lru_;                       // unreferenced registered blocks, oldest first
  std::unordered_map<uint64_t, int32_t> index_;  // chain key -> block
  KvPrefixStats prefix_stats_;
};

}  // namespace dari
