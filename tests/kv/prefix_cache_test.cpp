// KvCache reference counts, copy-on-write fork, and automatic prefix caching (hash-chain keys,
// reuse across sequences, LRU eviction of unreferenced blocks, hit counters).
#include <gtest/gtest.h>

#include <cstring>
#include <numeric>

#include "dari/kv/kv_cache.h"

namespace dari {
namespace {

KvCache make(uint32_t n_blocks, bool prefix = true) {
  KvCacheOptions o;
  o.n_layers = 2;
  o.n_kv_heads = 1;
  o.head_dim = 2;
  o.block_tokens = 4;
  o.n_blocks = n_blocks;
  o.dtype = GgmlType::F32;
  o.prefix_cache = prefix;
  auto kv = KvCache::create(o);
  EXPECT_TRUE(kv.ok());
  return std::move(kv).value();
}

// Stores token values as K (and -token as V) for positions [len, len + n) of seq, then commits.
void write(KvCache& kv, SeqId s, const std::vector<int32_t>& toks) {
  ASSERT_TRUE(kv.reserve(s, static_cast<uint32_t>(toks.size())).ok());
  const uint32_t base = kv.length(s);
  for (size_t i = 0; i < toks.size(); ++i) {
    const uint32_t p = base + static_cast<uint32_t>(i);
    const int32_t b = kv.block_table(s)[p / 4];
    for (uint32_t l = 0; l < 2; ++l) {
      float k[2] = {static_cast<float>(toks[i]), static_cast<float>(l)};
      float v[2] = {-static_cast<float>(toks[i]), static_cast<float>(l)};
      std::memcpy(kv.k_row(l, b, p % 4), k, sizeof k);
      std::memcpy(kv.v_row(l, b, p % 4), v, sizeof v);
    }
  }
  kv.commit_tokens(s, toks);
}

float k_at(KvCache& kv, SeqId s, uint32_t p, uint32_t layer = 1) {
  float k[2];
  std::memcpy(k, kv.k_row(layer, kv.block_table(s)[p / 4], p % 4), sizeof k);
  return k[0];
}

std::vector<int32_t> iota(int32_t n, int32_t start) {
  std::vector<int32_t> v(static_cast<size_t>(n));
  std::iota(v.begin(), v.end(), start);
  return v;
}

TEST(KvRefCount, ForkSharesBlocksUntilWritten) {
  KvCache kv = make(8);
  SeqId a = kv.add_sequence();
  write(kv, a, iota(6, 10));  // blocks: full + half
  SeqId b = kv.fork(a);
  ASSERT_GE(b, 0);
  EXPECT_EQ(kv.block_table(a), kv.block_table(b));
  EXPECT_EQ(kv.length(b), 6u);
  EXPECT_EQ(kv.ref_count(kv.block_table(a)[0]), 2u);
  EXPECT_EQ(kv.ref_count(kv.block_table(a)[1]), 2u);
  EXPECT_EQ(kv.used_blocks(), 2u);
  EXPECT_EQ(kv.blocks_needed(b, 1), 1u);  // the shared partial block is copied
  write(kv, b, {99});
  EXPECT_EQ(kv.used_blocks(), 3u);
  EXPECT_EQ(kv.block_table(a)[0], kv.block_table(b)[0]);  // full block still shared
  EXPECT_NE(kv.block_table(a)[1], kv.block_table(b)[1]);
  EXPECT_EQ(k_at(kv, b, 5), 15.0f);  // copied data
  EXPECT_EQ(k_at(kv, b, 6), 99.0f);
  EXPECT_EQ(kv.ref_count(kv.block_table(a)[1]), 1u);
  EXPECT_EQ(kv.blocks_needed(a, 1), 0u);  // a is now the only holder: writes in place
  write(kv, a, {77});
  EXPECT_EQ(k_at(kv, a, 6), 77.0f);
  EXPECT_EQ(k_at(kv, b, 6), 99.0f);
  kv.free_sequence(a);
  kv.free_sequence(b);
  EXPECT_EQ(kv.used_blocks(), 0u);
  EXPECT_EQ(kv.free_blocks(), 8u);
}

TEST(KvPrefixCache, FullBlocksAreReusedAcrossSequences) {
  KvCache kv = make(16);
  SeqId a = kv.add_sequence();
  const auto toks = iota(10, 1);
  write(kv, a, toks);
  EXPECT_EQ(kv.peek_prefix(toks, 10), 8u);  // 2 full blocks registered
  kv.free_sequence(a);
  EXPECT_EQ(kv.used_blocks(), 0u);
  EXPECT_EQ(kv.cached_blocks(), 2u);  // kept, evictable
  EXPECT_EQ(kv.free_blocks(), 16u);
  SeqId b = kv.add_sequence();
  auto longer = toks;
  longer.push_back(50);
  EXPECT_EQ(kv.match_prefix(b, longer, 10), 8u);
  EXPECT_EQ(kv.length(b), 8u);
  EXPECT_EQ(kv.cached_blocks(), 0u);
  EXPECT_EQ(k_at(kv, b, 7), 8.0f);  // the cached K/V
  EXPECT_EQ(kv.prefix_stats().query_tokens, 10u);
  EXPECT_EQ(kv.prefix_stats().hit_tokens, 8u);
  // A prompt differing in the first block matches nothing (hash chain).
  auto other = toks;
  other[0] = 500;
  EXPECT_EQ(kv.peek_prefix(other, 10), 0u);
  auto second_differs = toks;
  second_differs[5] = 500;
  EXPECT_EQ(kv.peek_prefix(second_differs, 10), 4u);
}

TEST(KvPrefixCache, LruEvictionWhenThePoolIsFull) {
  KvCache kv = make(4);
  SeqId a = kv.add_sequence();
  write(kv, a, iota(8, 1));  // 2 blocks
  kv.free_sequence(a);
  SeqId b = kv.add_sequence();
  write(kv, b, iota(8, 100));  // 2 more blocks
  kv.free_sequence(b);
  EXPECT_EQ(kv.cached_blocks(), 4u);
  // A new sequence needing 2 blocks evicts a's (released first).
  SeqId c = kv.add_sequence();
  write(kv, c, iota(8, 200));
  EXPECT_EQ(kv.prefix_stats().evictions, 2u);
  EXPECT_EQ(kv.peek_prefix(iota(8, 1), 8), 0u);
  EXPECT_EQ(kv.peek_prefix(iota(8, 100), 8), 8u);
  kv.free_sequence(c);
  kv.clear_prefix_cache();
  EXPECT_EQ(kv.cached_blocks(), 0u);
  EXPECT_EQ(kv.free_blocks(), 4u);
}

TEST(KvPrefixCache, TruncatedBlockIsNotReusedAfterRewrite) {
  KvCache kv = make(8);
  SeqId a = kv.add_sequence();
  write(kv, a, iota(8, 1));
  kv.truncate(a, 6);  // the second block's registered content is about to change
  write(kv, a, {90, 91});
  EXPECT_EQ(k_at(kv, a, 6), 90.0f);
  EXPECT_EQ(kv.peek_prefix(iota(8, 1), 8), 4u);  // only the untouched first block
  auto rewritten = iota(6, 1);
  rewritten.push_back(90);
  rewritten.push_back(91);
  EXPECT_EQ(kv.peek_prefix(rewritten, 8), 8u);
  kv.free_sequence(a);
  EXPECT_EQ(kv.used_blocks(), 0u);
}

TEST(KvPrefixCache, PlainCommitRegistersNothingAndDisabledCacheFreesBlocks) {
  KvCache kv = make(8);
  SeqId a = kv.add_sequence();
  ASSERT_TRUE(kv.reserve(a, 8).ok());
  kv.commit(a, 8);
  kv.free_sequence(a);
  EXPECT_EQ(kv.cached_blocks(), 0u);
  KvCache off = make(8, false);
  SeqId b = off.add_sequence();
  write(off, b, iota(8, 1));
  off.free_sequence(b);
  EXPECT_EQ(off.cached_blocks(), 0u);
  SeqId c = off.add_sequence();
  EXPECT_EQ(off.match_prefix(c, iota(8, 1), 8), 0u);
}

}  // namespace
}  // namespace dari
