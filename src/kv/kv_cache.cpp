#include "dari/kv/kv_cache.h"

#include <algorithm>
#include <cstring>

#include "dari/core/checked.h"
#include "dari/core/strings.h"

namespace dari {

Result<KvCache> KvCache::create(const KvCacheOptions& opts) {
  if (opts.dtype != GgmlType::F16 && opts.dtype != GgmlType::F32) {
    return make_error("kv cache: dtype must be F16 or F32, got " +
                      std::string(ggml_type_name(opts.dtype)));
  }
  if (opts.n_layers == 0 || opts.n_kv_heads == 0 || opts.head_dim == 0 || opts.block_tokens == 0 ||
      opts.n_blocks == 0) {
    return make_error(str_format(
        "kv cache: every dimension must be > 0 (layers %u, kv heads %u, "
        "head dim %u, block tokens %u, blocks %u)",
        opts.n_layers, opts.n_kv_heads, opts.head_dim, opts.block_tokens, opts.n_blocks));
  }
  if (opts.n_blocks > static_cast<uint32_t>(INT32_MAX)) {
    return make_error("kv cache: too many blocks");
  }
  const uint64_t elem = opts.dtype == GgmlType::F16 ? 2 : 4;
  auto row = checked_product({opts.n_kv_heads, opts.head_dim, elem});
  auto total =
      row ? checked_product({*row, opts.block_tokens, opts.n_blocks, opts.n_layers}) : std::nullopt;
  // Addressing uses int32 positions; keep the token capacity and byte size sane.
  auto tokens = checked_product({opts.block_tokens, opts.n_blocks});
  if (!total || !tokens || *tokens > static_cast<uint64_t>(INT32_MAX) ||
      *total > (uint64_t{1} << 46)) {
    return make_error("kv cache: size overflows");
  }
  if (!opts.layer_backends.empty() && opts.layer_backends.size() != opts.n_layers) {
    return make_error(str_format("kv cache: %zu layer backends for %u layers",
                                 opts.layer_backends.size(), opts.n_layers));
  }
  KvCache kv;
  kv.opts_ = opts;
  kv.row_bytes_ = *row;
  const uint64_t layer_bytes = *total / opts.n_layers;  // K (or V) bytes of one layer
  kv.device_.resize(opts.n_layers);
  kv.k_base_.assign(opts.n_layers, nullptr);
  kv.v_base_.assign(opts.n_layers, nullptr);
  uint32_t n_host = 0;
  for (uint32_t l = 0; l < opts.n_layers; ++l) {
    const std::shared_ptr<Backend> be =
        opts.layer_backends.empty() ? nullptr : opts.layer_backends[l];
    if (be == nullptr || be->device().host_memory) {
      ++n_host;
      continue;
    }
    DeviceLayer& d = kv.device_[l];
    d.backend = be;
    for (std::unique_ptr<Buffer>* buf : {&d.k, &d.v}) {
      auto r = be->alloc(layer_bytes);
      if (!r.ok()) {
        return make_error(str_format("kv cache: layer %u: cannot allocate %s on %s: %s", l,
                                     human_bytes(layer_bytes).c_str(), be->device().name.c_str(),
                                     r.message().c_str()));
      }
      *buf = std::move(r).value();
    }
    kv.k_base_[l] = static_cast<uint8_t*>(d.k->data());
    kv.v_base_[l] = static_cast<uint8_t*>(d.v->data());
  }
  try {
    kv.k_.assign(layer_bytes * n_host, 0);
    kv.v_.assign(layer_bytes * n_host, 0);
    kv.blocks_.resize(opts.n_blocks);
  } catch (const std::bad_alloc&) {
    return make_error("kv cache: cannot allocate 2 x " + human_bytes(layer_bytes * n_host));
  }
  for (uint32_t l = 0, h = 0; l < opts.n_layers; ++l) {
    if (kv.k_base_[l] != nullptr) continue;
    kv.k_base_[l] = kv.k_.data() + layer_bytes * h;
    kv.v_base_[l] = kv.v_.data() + layer_bytes * h;
    ++h;
  }
  kv.free_list_.reserve(opts.n_blocks);
  // Pop from the back: hand out low block ids first.
  for (uint32_t b = opts.n_blocks; b-- > 0;) kv.free_list_.push_back(static_cast<int32_t>(b));
  return kv;
}

SeqId KvCache::add_sequence() {
  for (size_t i = 0; i < seqs_.size(); ++i) {
    if (!seqs_[i].live) {
      seqs_[i] = SeqState{};
      seqs_[i].live = true;
      return static_cast<SeqId>(i);
    }
  }
  seqs_.push_back(SeqState{});
  seqs_.back().live = true;
  return static_cast<SeqId>(seqs_.size() - 1);
}

bool KvCache::has_sequence(SeqId seq) const {
  return seq >= 0 && static_cast<size_t>(seq) < seqs_.size() && seqs_[seq].live;
}

uint32_t KvCache::live_sequences() const {
  uint32_t n = 0;
  for (const auto& s : seqs_) n += s.live ? 1 : 0;
  return n;
}

void KvCache::free_sequence(SeqId seq) {
  if (!has_sequence(seq)) return;
  SeqState& s = seqs_[seq];
  // Release in reverse so the next allocation reuses the same ids in order.
  for (auto it = s.blocks.rbegin(); it != s.blocks.rend(); ++it) release_block(*it);
  s = SeqState{};
}

SeqId KvCache::fork(SeqId src) {
  if (!has_sequence(src)) return -1;
  const SeqId id = add_sequence();  // may reallocate seqs_: index afterwards
  SeqState& d = seqs_[id];
  const SeqState& s = seqs_[src];
  d.length = s.length;
  d.blocks = s.blocks;
  d.track = s.track;
  d.tokens = s.tokens;
  d.hashes = s.hashes;
  for (int32_t b : d.blocks) ++blocks_[b].refs;
  return id;
}

uint32_t KvCache::length(SeqId seq) const {
  return has_sequence(seq) ? seqs_[seq].length : 0;
}

uint32_t KvCache::ref_count(int32_t block) const {
  if (block < 0 || static_cast<uint32_t>(block) >= opts_.n_blocks) return 0;
  return blocks_[block].refs;
}

uint32_t KvCache::blocks_for_tokens(uint32_t n_tokens) const {
  return static_cast<uint32_t>((uint64_t{n_tokens} + opts_.block_tokens - 1) / opts_.block_tokens);
}

uint32_t KvCache::blocks_needed(SeqId seq, uint32_t n_new) const {
  if (!has_sequence(seq) || n_new == 0) return 0;
  const SeqState& s = seqs_[seq];
  const uint64_t want = (uint64_t{s.length} + n_new + opts_.block_tokens - 1) / opts_.block_tokens;
  uint64_t extra = want > s.blocks.size() ? want - s.blocks.size() : 0;
  // A partially filled shared last block is copied before it is written.
  if (s.length % opts_.block_tokens != 0 && s.length / opts_.block_tokens < s.blocks.size() &&
      blocks_[s.blocks[s.length / opts_.block_tokens]].refs > 1) {
    ++extra;
  }
  return static_cast<uint32_t>(std::min<uint64_t>(extra, UINT32_MAX));
}

int32_t KvCache::take_block() {
  if (free_list_.empty()) {  // evict the least recently released cached block
    DARI_CHECK(!lru_.empty());
    unregister_block(lru_.front());  // moves it to the free list
    ++prefix_stats_.evictions;
  }
  const int32_t b = free_list_.back();
  free_list_.pop_back();
  DARI_CHECK(blocks_[b].refs == 0);
  blocks_[b].refs = 1;
  return b;
}

void KvCache::release_block(int32_t b) {
  BlockState& st = blocks_[b];
  DARI_CHECK(st.refs > 0);
  if (--st.refs > 0) return;
  if (st.registered) {
    st.lru_pos = lru_.insert(lru_.end(), b);
  } else {
    free_list_.push_back(b);
  }
}

Status KvCache::copy_block(int32_t dst, int32_t src, uint32_t slots) {
  const uint64_t bytes = row_bytes_ * slots;
  for (uint32_t l = 0; l < opts_.n_layers; ++l) {
    if (Backend* be = device_[l].backend.get()) {  // device memory: copy on the device
      DARI_TRY(be->copy_bytes(k_row(l, dst, 0), k_row(l, src, 0), bytes));
      DARI_TRY(be->copy_bytes(v_row(l, dst, 0), v_row(l, src, 0), bytes));
    } else {
      std::memcpy(k_row(l, dst, 0), k_row(l, src, 0), bytes);
      std::memcpy(v_row(l, dst, 0), v_row(l, src, 0), bytes);
    }
  }
  return Status::Ok();
}

KvCache::DeviceLayer& KvCache::DeviceLayer::operator=(DeviceLayer&& o) noexcept {
  if (this != &o) {
    k.reset();  // our buffers go back to our backend before we drop it
    v.reset();
    backend = std::move(o.backend);
    k = std::move(o.k);
    v = std::move(o.v);
  }
  return *this;
}

KvCache::DeviceLayer::~DeviceLayer() {
  k.reset();
  v.reset();
}

Backend* KvCache::layer_backend(uint32_t layer) const {
  return layer < device_.size() ? device_[layer].backend.get() : nullptr;
}

Status KvCache::reserve(SeqId seq, uint32_t n_new) {
  if (!has_sequence(seq)) return make_error(str_format("kv cache: unknown sequence %d", seq));
  SeqState& s = seqs_[seq];
  uint64_t want_tokens = static_cast<uint64_t>(s.length) + n_new;
  uint64_t capacity = static_cast<uint64_t>(opts_.block_tokens) * opts_.n_blocks;
  if (want_tokens > capacity) {
    return make_error(str_format("kv cache: sequence %d needs %llu tokens, pool holds %llu", seq,
                                 static_cast<unsigned long long>(want_tokens),
                                 static_cast<unsigned long long>(capacity)));
  }
  const uint32_t extra = blocks_needed(seq, n_new);
  if (extra > free_blocks()) {
    return make_error(str_format("kv cache full: sequence %d needs %u more blocks, %u free", seq,
                                 extra, free_blocks()));
  }
  if (n_new == 0) return Status::Ok();
  const uint32_t bt = opts_.block_tokens;
  const size_t last = s.length / bt;
  if (s.length % bt != 0 && last < s.blocks.size()) {
    const int32_t old = s.blocks[last];
    if (blocks_[old].refs > 1) {  // copy-on-write
      const int32_t b = take_block();
      if (Status st = copy_block(b, old, s.length % bt); !st.ok()) {
        release_block(b);  // nothing changed for the sequence
        return make_error(str_format("kv cache: copy-on-write of block %d for sequence %d: %s", old,
                                     seq, st.message().c_str()));
      }
      release_block(old);
      s.blocks[last] = b;
    } else if (blocks_[old].registered) {
      unregister_block(old);  // only holder: its cached content is about to change
    }
  }
  const uint64_t want_blocks = (want_tokens + bt - 1) / bt;
  while (s.blocks.size() < want_blocks) s.blocks.push_back(take_block());
  return Status::Ok();
}

void KvCache::commit(SeqId seq, uint32_t n_new) {
  DARI_CHECK(has_sequence(seq));
  SeqState& s = seqs_[seq];
  uint64_t len = static_cast<uint64_t>(s.length) + n_new;
  // Committing beyond the reserved blocks is a caller bug (the data was never stored).
  DARI_CHECK(len <= static_cast<uint64_t>(s.blocks.size()) * opts_.block_tokens);
  s.length = static_cast<uint32_t>(len);
  if (n_new > 0) {
    s.track = false;
    s.tokens.clear();
    s.hashes.clear();
  }
}

void KvCache::truncate(SeqId seq, uint32_t new_length) {
  if (!has_sequence(seq)) return;
  SeqState& s = seqs_[seq];
  if (new_length >= s.length) return;
  s.length = new_length;
  size_t keep = (static_cast<size_t>(new_length) + opts_.block_tokens - 1) / opts_.block_tokens;
  while (s.blocks.size() > keep) {
    release_block(s.blocks.back());
    s.blocks.pop_back();
  }
  if (s.track) {
    s.tokens.resize(new_length);
    s.hashes.resize(std::min<size_t>(s.hashes.size(), new_length / opts_.block_tokens));
  }
}

const std::vector<int32_t>& KvCache::block_table(SeqId seq) const {
  static const std::vector<int32_t> kEmpty;
  return has_sequence(seq) ? seqs_[seq].blocks : kEmpty;
}

uint32_t KvCache::free_blocks() const {
  return static_cast<uint32_t>(free_list_.size() + lru_.size());
}

uint8_t* KvCache::k_row(uint32_t layer, int32_t block, uint32_t slot) {
  DARI_CHECK(layer < opts_.n_layers && block >= 0 &&
             static_cast<uint32_t>(block) < opts_.n_blocks && slot < opts_.block_tokens);
  const uint64_t idx = static_cast<uint64_t>(block) * opts_.block_tokens + slot;
  return k_base_[layer] + idx * row_bytes_;
}

uint8_t* KvCache::v_row(uint32_t layer, int32_t block, uint32_t slot) {
  DARI_CHECK(layer < opts_.n_layers && block >= 0 &&
             static_cast<uint32_t>(block) < opts_.n_blocks && slot < opts_.block_tokens);
  const uint64_t idx = static_cast<uint64_t>(block) * opts_.block_tokens + slot;
  return v_base_[layer] + idx * row_bytes_;
}

}  // namespace dari
