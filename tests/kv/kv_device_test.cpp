// KV blocks in device memory: per-layer placement (host and device layers side by side), opaque
// row addresses, copy-on-write through Backend::copy_bytes, and out of device memory as an error.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "dari/kv/kv_cache.h"
#include "model/fake_device.h"

namespace dari {
namespace {

std::shared_ptr<Backend> fake_backend(const test::FakeDeviceConfig& cfg = {}) {
  test::register_fake_device(cfg);
  auto b = create_backend("fakedev");
  EXPECT_TRUE(b.ok()) << b.message();
  return b.ok() ? std::shared_ptr<Backend>(std::move(b).value()) : nullptr;
}

KvCacheOptions options(std::shared_ptr<Backend> dev) {
  KvCacheOptions o;
  o.n_layers = 2;
  o.n_kv_heads = 2;
  o.head_dim = 4;
  o.block_tokens = 4;
  o.n_blocks = 8;
  o.dtype = GgmlType::F32;
  o.layer_backends = {nullptr, std::move(dev)};  // layer 0 host, layer 1 device
  return o;
}

// Row contents for (layer, position): 8 floats.
std::vector<float> row_of(uint32_t layer, uint32_t pos, float base) {
  std::vector<float> r(8);
  for (size_t i = 0; i < r.size(); ++i) r[i] = base + 100.0f * layer + pos + 0.01f * i;
  return r;
}

void write_row(KvCache& kv, Backend& dev, uint32_t layer, int32_t block, uint32_t slot,
               const std::vector<float>& k) {
  if (kv.layer_backend(layer) != nullptr) {
    ASSERT_TRUE(dev.upload(kv.k_row(layer, block, slot), k.data(), kv.row_bytes()).ok());
    ASSERT_TRUE(dev.upload(kv.v_row(layer, block, slot), k.data(), kv.row_bytes()).ok());
  } else {
    std::memcpy(kv.k_row(layer, block, slot), k.data(), kv.row_bytes());
    std::memcpy(kv.v_row(layer, block, slot), k.data(), kv.row_bytes());
  }
}

std::vector<float> read_row(KvCache& kv, Backend& dev, uint32_t layer, int32_t block, uint32_t slot,
                            bool v) {
  std::vector<float> r(8);
  uint8_t* src = v ? kv.v_row(layer, block, slot) : kv.k_row(layer, block, slot);
  if (kv.layer_backend(layer) != nullptr) {
    EXPECT_TRUE(dev.download(r.data(), src, kv.row_bytes()).ok());
  } else {
    std::memcpy(r.data(), src, kv.row_bytes());
  }
  return r;
}

TEST(KvDevice, LayersLiveWhereTheyAreTold) {
  auto dev = fake_backend();
  ASSERT_TRUE(dev);
  const uint64_t before = test::fake_device_stats().allocated;
  {
    auto kv = KvCache::create(options(dev));
    ASSERT_TRUE(kv.ok()) << kv.message();
    EXPECT_EQ(kv->layer_backend(0), nullptr);
    EXPECT_EQ(kv->layer_backend(1), dev.get());
    EXPECT_FALSE(test::is_fake_device_address(kv->k_row(0, 0, 0)));
    EXPECT_TRUE(test::is_fake_device_address(kv->k_row(1, 0, 0)));
    EXPECT_TRUE(test::is_fake_device_address(kv->v_row(1, 7, 3)));
    // Rows of a layer are contiguous in (block, slot) order on the device too.
    EXPECT_EQ(kv->k_row(1, 2, 1) - kv->k_row(1, 0, 0),
              static_cast<ptrdiff_t>(kv->row_bytes() * (2 * 4 + 1)));
    EXPECT_EQ(test::fake_device_stats().allocated - before, kv->layer_bytes());
    // A moved cache keeps its buffers; the backend outlives them even if dropped here.
    KvCache moved = std::move(kv).value();
    dev.reset();
    EXPECT_TRUE(test::is_fake_device_address(moved.k_row(1, 0, 0)));
  }
  EXPECT_EQ(test::fake_device_stats().allocated, before);
}

TEST(KvDevice, ForkCopiesSharedBlockOnDevice) {
  auto dev = fake_backend();
  ASSERT_TRUE(dev);
  auto kv = KvCache::create(options(dev));
  ASSERT_TRUE(kv.ok()) << kv.message();
  const SeqId a = kv->add_sequence();
  ASSERT_TRUE(kv->reserve(a, 6).ok());  // blocks 0 (full) and 1 (2 of 4 slots)
  for (uint32_t p = 0; p < 6; ++p) {
    const int32_t b = kv->block_table(a)[p / 4];
    for (uint32_t l = 0; l < 2; ++l) write_row(*kv, *dev, l, b, p % 4, row_of(l, p, 1.0f));
  }
  kv->commit(a, 6);
  const SeqId c = kv->fork(a);
  ASSERT_TRUE(kv->reserve(c, 1).ok());  // copy-on-write of the partly filled block 1
  const int32_t shared = kv->block_table(a)[1], copied = kv->block_table(c)[1];
  ASSERT_NE(shared, copied);
  EXPECT_EQ(kv->block_table(a)[0], kv->block_table(c)[0]);
  for (uint32_t l = 0; l < 2; ++l) {
    for (uint32_t slot = 0; slot < 2; ++slot) {
      const std::vector<float> want = row_of(l, 4 + slot, 1.0f);
      EXPECT_EQ(read_row(*kv, *dev, l, copied, slot, false), want) << "layer " << l;
      EXPECT_EQ(read_row(*kv, *dev, l, copied, slot, true), want) << "layer " << l;
    }
  }
}

TEST(KvDevice, OutOfDeviceMemoryIsAnError) {
  test::FakeDeviceConfig cfg;
  cfg.memory_limit = 1000;  // less than one layer's K
  auto dev = fake_backend(cfg);
  ASSERT_TRUE(dev);
  auto kv = KvCache::create(options(dev));
  ASSERT_FALSE(kv.ok());
  EXPECT_NE(kv.message().find("layer 1"), std::string::npos) << kv.message();
  EXPECT_NE(kv.message().find("out of device memory"), std::string::npos) << kv.message();
  KvCacheOptions bad = options(dev);
  bad.layer_backends.pop_back();
  EXPECT_FALSE(KvCache::create(bad).ok());
  test::set_fake_device_config({});
}

}  // namespace
}  // namespace dari
