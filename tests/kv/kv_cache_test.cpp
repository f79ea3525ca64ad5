#include "dari/kv/kv_cache.h"

#include <gtest/gtest.h>

#include <cstring>
#include <set>

namespace dari {
namespace {

KvCacheOptions small(GgmlType dtype = GgmlType::F16) {
  KvCacheOptions o;
  o.n_layers = 2;
  o.n_kv_heads = 2;
  o.head_dim = 4;
  o.block_tokens = 4;
  o.n_blocks = 6;
  o.dtype = dtype;
  return o;
}

TEST(KvCache, CreateValidates) {
  EXPECT_TRUE(KvCache::create(small()).ok());
  KvCacheOptions o = small(GgmlType::Q8_0);
  auto r = KvCache::create(o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.message().find("F16 or F32"), std::string::npos);
  o = small();
  o.n_blocks = 0;
  EXPECT_FALSE(KvCache::create(o).ok());
  o = small();
  o.head_dim = 0;
  EXPECT_FALSE(KvCache::create(o).ok());
  o = small();
  o.n_blocks = 4000000000u;
  o.block_tokens = 4000000000u;
  EXPECT_FALSE(KvCache::create(o).ok());  // overflow / absurd size, no abort
}

TEST(KvCache, RowBytesByDtype) {
  EXPECT_EQ(KvCache::create(small(GgmlType::F16))->row_bytes(), 2u * 4 * 2);
  EXPECT_EQ(KvCache::create(small(GgmlType::F32))->row_bytes(), 2u * 4 * 4);
}

TEST(KvCache, ReserveCommitTruncateFree) {
  auto kv = KvCache::create(small());
  ASSERT_TRUE(kv.ok());
  EXPECT_EQ(kv->free_blocks(), 6u);
  EXPECT_EQ(kv->total_blocks(), 6u);
  SeqId a = kv->add_sequence();
  SeqId b = kv->add_sequence();
  EXPECT_NE(a, b);
  EXPECT_TRUE(kv->has_sequence(a));
  EXPECT_EQ(kv->length(a), 0u);
  ASSERT_TRUE(kv->reserve(a, 5).ok());  // 2 blocks
  EXPECT_EQ(kv->block_table(a).size(), 2u);
  EXPECT_EQ(kv->free_blocks(), 4u);
  ASSERT_TRUE(kv->reserve(a, 3).ok());  // still fits in 2 blocks (length is 0)
  EXPECT_EQ(kv->block_table(a).size(), 2u);
  kv->commit(a, 5);
  EXPECT_EQ(kv->length(a), 5u);
  ASSERT_TRUE(kv->reserve(a, 4).ok());  // 9 tokens -> 3 blocks
  EXPECT_EQ(kv->block_table(a).size(), 3u);
  ASSERT_TRUE(kv->reserve(b, 12).ok());  // 3 blocks: pool now empty
  EXPECT_EQ(kv->free_blocks(), 0u);
  std::set<int32_t> ids(kv->block_table(a).begin(), kv->block_table(a).end());
  ids.insert(kv->block_table(b).begin(), kv->block_table(b).end());
  EXPECT_EQ(ids.size(), 6u);  // no block handed out twice
  Status full = kv->reserve(b, 13);
  ASSERT_FALSE(full.ok());
  EXPECT_NE(full.message().find("full"), std::string::npos);
  EXPECT_EQ(kv->block_table(b).size(), 3u);  // unchanged after the failure
  kv->truncate(a, 4);  // keeps 1 block
  EXPECT_EQ(kv->length(a), 4u);
  EXPECT_EQ(kv->block_table(a).size(), 1u);
  EXPECT_EQ(kv->free_blocks(), 2u);
  kv->truncate(a, 0);
  EXPECT_EQ(kv->block_table(a).size(), 0u);
  EXPECT_EQ(kv->free_blocks(), 3u);
  kv->free_sequence(b);
  EXPECT_FALSE(kv->has_sequence(b));
  EXPECT_EQ(kv->free_blocks(), 6u);
  EXPECT_TRUE(kv->block_table(b).empty());
  EXPECT_EQ(kv->length(b), 0u);
  SeqId c = kv->add_sequence();
  EXPECT_EQ(c, b);  // ids are reused
  EXPECT_FALSE(kv->reserve(c, 25).ok());  // more than the whole pool
  EXPECT_FALSE(kv->reserve(99, 1).ok());
  EXPECT_FALSE(kv->reserve(-1, 1).ok());
  kv->free_sequence(99);  // no-op
}

TEST(KvCache, RowsAreDistinctAndWritable) {
  auto kv = KvCache::create(small(GgmlType::F32));
  ASSERT_TRUE(kv.ok());
  const KvCacheOptions& o = kv->options();
  std::set<uint8_t*> seen;
  for (uint32_t l = 0; l < o.n_layers; ++l) {
    for (int32_t b = 0; b < static_cast<int32_t>(o.n_blocks); ++b) {
      for (uint32_t s = 0; s < o.block_tokens; ++s) {
        uint8_t* k = kv->k_row(l, b, s);
        uint8_t* v = kv->v_row(l, b, s);
        EXPECT_TRUE(seen.insert(k).second);
        EXPECT_TRUE(seen.insert(v).second);
        float val = static_cast<float>(l * 1000 + b * 10 + s);
        std::memcpy(k, &val, 4);
        val = -val;
        std::memcpy(v, &val, 4);
      }
    }
  }
  // Layer-major layout: a layer's rows are contiguous, block after block.
  EXPECT_EQ(kv->k_row(0, 1, 0) - kv->k_row(0, 0, 0),
            static_cast<ptrdiff_t>(kv->row_bytes() * o.block_tokens));
  EXPECT_EQ(kv->k_row(1, 0, 0) - kv->k_row(0, 0, 0),
            static_cast<ptrdiff_t>(kv->row_bytes() * o.block_tokens * o.n_blocks));
  float got = 0;
  std::memcpy(&got, kv->k_row(1, 3, 2), 4);
  EXPECT_EQ(got, 1032.0f);
  std::memcpy(&got, kv->v_row(1, 3, 2), 4);
  EXPECT_EQ(got, -1032.0f);
}

}  // namespace
}  // namespace dari
