// KvCache's automatic prefix caching: hash-chain keys of full blocks, registration on commit,
// lookup and attachment of cached blocks, and unregistration on eviction.
#include <algorithm>

#include "dari/core/strings.h"
#include "dari/kv/kv_cache.h"

namespace dari {
namespace {

uint64_t splitmix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Key of a block: its tokens chained onto the previous block's key (0 for the first block).
uint64_t block_key(uint64_t parent, std::span<const int32_t> tokens) {
  uint64_t h = splitmix(parent ^ 0x5bd1e9955bd1e995ull);
  for (int32_t t : tokens) h = splitmix(h ^ static_cast<uint32_t>(t));
  return h == 0 ? 1 : h;  // 0 means "no parent"
}

}  // namespace

void KvCache::unregister_block(int32_t b) {
  BlockState& st = blocks_[b];
  if (!st.registered) return;
  auto it = index_.find(st.key);
  if (it != index_.end() && it->second == b) index_.erase(it);
  st.registered = false;
  st.tokens.clear();
  if (st.refs == 0) {  // was cached: move it to the free list
    lru_.erase(st.lru_pos);
    free_list_.push_back(b);
  }
}

void KvCache::clear_prefix_cache() {
  while (!lru_.empty()) unregister_block(lru_.front());
}

void KvCache::commit_tokens(SeqId seq, std::span<const int32_t> tokens) {
  DARI_CHECK(has_sequence(seq));
  SeqState& s = seqs_[seq];
  const bool track = s.track && s.tokens.size() == s.length;
  const uint64_t len = uint64_t{s.length} + tokens.size();
  DARI_CHECK(len <= static_cast<uint64_t>(s.blocks.size()) * opts_.block_tokens);
  s.length = static_cast<uint32_t>(len);
  if (!track) {
    s.track = false;
    return;
  }
  s.tokens.insert(s.tokens.end(), tokens.begin(), tokens.end());
  register_full_blocks(s);
}

void KvCache::register_full_blocks(SeqState& s) {
  const uint32_t bt = opts_.block_tokens;
  while ((s.hashes.size() + 1) * bt <= s.tokens.size()) {
    const size_t i = s.hashes.size();
    const uint64_t parent = i == 0 ? 0 : s.hashes[i - 1];
    std::span<const int32_t> toks(s.tokens.data() + i * bt, bt);
    const uint64_t key = block_key(parent, toks);
    s.hashes.push_back(key);
    if (!opts_.prefix_cache) continue;
    const int32_t b = s.blocks[i];
    BlockState& st = blocks_[b];
    if (st.registered || index_.count(key) != 0) continue;  // already cached (here or elsewhere)
    st.registered = true;
    st.key = key;
    st.parent = parent;
    st.tokens.assign(toks.begin(), toks.end());
    index_.emplace(key, b);
  }
}

int32_t KvCache::lookup(uint64_t parent, std::span<const int32_t> tokens, uint64_t* key) const {
  *key = block_key(parent, tokens);
  auto it = index_.find(*key);
  if (it == index_.end()) return -1;
  const BlockState& st = blocks_[it->second];
  if (st.parent != parent ||
      !std::equal(tokens.begin(), tokens.end(), st.tokens.begin(), st.tokens.end())) {
    return -1;  // hash collision
  }
  return it->second;
}

uint32_t KvCache::peek_prefix(std::span<const int32_t> tokens, uint32_t max_tokens,
                              uint32_t* unreferenced) const {
  if (unreferenced != nullptr) *unreferenced = 0;
  if (!opts_.prefix_cache) return 0;
  const uint32_t bt = opts_.block_tokens;
  const size_t limit = std::min<size_t>(tokens.size(), max_tokens) / bt;
  uint64_t parent = 0;
  size_t n = 0;
  for (; n < limit; ++n) {
    uint64_t key = 0;
    const int32_t b = lookup(parent, tokens.subspan(n * bt, bt), &key);
    if (b < 0) break;
    if (unreferenced != nullptr && blocks_[b].refs == 0) ++*unreferenced;
    parent = key;
  }
  return static_cast<uint32_t>(n * bt);
}

uint32_t KvCache::match_prefix(SeqId seq, std::span<const int32_t> tokens, uint32_t max_tokens) {
  if (!has_sequence(seq) || !opts_.prefix_cache) return 0;
  SeqState& s = seqs_[seq];
  if (s.length != 0 || !s.blocks.empty()) return 0;
  const uint32_t bt = opts_.block_tokens;
  const size_t limit = std::min<size_t>(tokens.size(), max_tokens) / bt;
  prefix_stats_.query_tokens += std::min<size_t>(tokens.size(), max_tokens);
  uint64_t parent = 0;
  for (size_t n = 0; n < limit; ++n) {
    uint64_t key = 0;
    std::span<const int32_t> toks = tokens.subspan(n * bt, bt);
    const int32_t b = lookup(parent, toks, &key);
    if (b < 0) break;
    BlockState& st = blocks_[b];
    if (st.refs == 0) lru_.erase(st.lru_pos);  // cached -> in use
    ++st.refs;
    s.blocks.push_back(b);
    s.hashes.push_back(key);
    s.tokens.insert(s.tokens.end(), toks.begin(), toks.end());
    parent = key;
  }
  s.length = static_cast<uint32_t>(s.blocks.size() * bt);
  s.track = true;
  prefix_stats_.hit_tokens += s.length;
  return s.length;
}

}  // namespace dari
