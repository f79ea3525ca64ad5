// Conformance: the CPU backend reached through the C plugin ABI (plugin_abi.h) must give
// bitwise the same results as the C++ path, for single ops and for a whole model forward pass.
// Any out-of-tree backend can be run through the same checks by wrapping its table.
#include <gtest/gtest.h>

#include <array>
#include <cstring>

#include "backend/op_test_util.h"
#include "dari/model/model.h"
#include "dari/tensor/dtype.h"

namespace dari {
namespace {

std::unique_ptr<Backend> plugin_backend() {
  auto b = wrap_plugin(dari_cpu_backend_plugin());
  EXPECT_TRUE(b.ok()) << b.message();
  return std::move(b).value();
}

TEST(PluginAbi, RejectsBadTables) {
  EXPECT_FALSE(wrap_plugin(nullptr).ok());
  DariBackendPlugin t = *dari_cpu_backend_plugin();
  t.abi_version = 99;
  auto r = wrap_plugin(&t);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.message().find("ABI version 99"), std::string::npos);
  t = *dari_cpu_backend_plugin();
  t.struct_size = 8;
  EXPECT_FALSE(wrap_plugin(&t).ok());
  t = *dari_cpu_backend_plugin();
  t.run = nullptr;
  EXPECT_FALSE(wrap_plugin(&t).ok());
  EXPECT_FALSE(load_plugin("/nonexistent/libdari_npu.so").ok());
}

TEST(PluginAbi, DeviceBuffersSupports) {
  auto p = plugin_backend();
  auto c = create_backend("cpu");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(p->device().name, "cpu");
  EXPECT_TRUE(p->device().host_memory);
  auto buf = p->alloc(4096);
  ASSERT_TRUE(buf.ok());
  std::memset((*buf)->data(), 1, 4096);
  const std::array<GgmlType, 6> types = {GgmlType::F32, GgmlType::F16, GgmlType::BF16,
                                         GgmlType::Q8_0, GgmlType::Q4_K, GgmlType::IQ2_XXS};
  for (uint32_t k = 0; k < DARI_OP_COUNT; ++k) {
    for (GgmlType a : types) {
      for (GgmlType b : types) {
        std::array<GgmlType, 3> t3 = {a, b, GgmlType::F32};
        std::array<GgmlType, 2> t2 = {a, b};
        std::array<GgmlType, 4> t4 = {GgmlType::F32, a, b, GgmlType::F32};
        const auto kind = static_cast<OpKind>(k);
        EXPECT_EQ(p->supports(kind, t3), (*c)->supports(kind, t3));
        EXPECT_EQ(p->supports(kind, t2), (*c)->supports(kind, t2));
        EXPECT_EQ(p->supports(kind, t4), (*c)->supports(kind, t4));
      }
    }
  }
}

TEST(PluginAbi, OpsBitwiseEqualAndErrorsPropagate) {
  auto p = plugin_backend();
  auto c = create_backend("cpu");
  ASSERT_TRUE(c.ok());
  const int64_t k = 256, n = 24, m = 3;
  std::vector<float> wf = test::random_floats(k * n, 1), x = test::random_floats(k * m, 2);
  for (GgmlType t : {GgmlType::F32, GgmlType::F16, GgmlType::Q4_0, GgmlType::Q6_K}) {
    auto wq = quantize_tensor(t, wf.data(), n, k);
    ASSERT_TRUE(wq.ok());
    TensorView w = TensorView::contiguous(wq->data(), t, k, n);
    std::vector<float> y1(n * m), y2(n * m);
    ASSERT_TRUE((*c)->matmul(w, test::f32_view(x, k, m), test::f32_view(y1, n, m)).ok());
    ASSERT_TRUE(p->matmul(w, test::f32_view(x, k, m), test::f32_view(y2, n, m)).ok());
    EXPECT_EQ(std::memcmp(y1.data(), y2.data(), y1.size() * 4), 0) << ggml_type_name(t);
  }
  std::vector<float> nw = test::random_floats(k, 3), a(k * m), b(k * m);
  ASSERT_TRUE((*c)->rms_norm(test::f32_view(x, k, m), test::f32_view(nw, k), 1e-6f, test::f32_view(a, k, m)).ok());
  ASSERT_TRUE(p->rms_norm(test::f32_view(x, k, m), test::f32_view(nw, k), 1e-6f, test::f32_view(b, k, m)).ok());
  EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * 4), 0);
  std::vector<int32_t> pos = {3, 100, 1000};
  DariRopeParams rp{8, DARI_ROPE_NEOX, 1e6f, 1.0f, nullptr, pos.data()};
  ASSERT_TRUE((*c)->rope(test::f32_view(x, 8, 32, 3), rp, test::f32_view(a, 8, 32, 3)).ok());
  ASSERT_TRUE(p->rope(test::f32_view(x, 8, 32, 3), rp, test::f32_view(b, 8, 32, 3)).ok());
  EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * 4), 0);
  // An error inside the plugin comes back as a Status with the kernel's message.
  Status s = p->matmul(test::f32_view(wf, k, n), test::f32_view(x, 128, m), test::f32_view(a, n, m));
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("matmul: shapes do not match"), std::string::npos) << s.message();
  Op bogus = make_op(OpKind::kAdd, {}, test::f32_view(a, k, m));
  bogus.kind = 77;
  EXPECT_FALSE(p->run(bogus).ok());
}

// The same table loaded from a shared library with dlopen (tests/backend/test_plugin.cpp).
TEST(PluginAbi, LoadsSharedLibrary) {
  auto p = load_plugin(DARI_TEST_PLUGIN_PATH);
  ASSERT_TRUE(p.ok()) << p.message();
  EXPECT_EQ((*p)->device().name, "cpu");
  auto c = create_backend("cpu");
  ASSERT_TRUE(c.ok());
  std::vector<float> x = test::random_floats(64 * 3, 5), w = test::random_floats(64 * 9, 6);
  std::vector<float> y1(9 * 3), y2(9 * 3);
  ASSERT_TRUE((*c)->matmul(test::f32_view(w, 64, 9), test::f32_view(x, 64, 3), test::f32_view(y1, 9, 3)).ok());
  ASSERT_TRUE((*p)->matmul(test::f32_view(w, 64, 9), test::f32_view(x, 64, 3), test::f32_view(y2, 9, 3)).ok());
  EXPECT_EQ(std::memcmp(y1.data(), y2.data(), y1.size() * 4), 0);
  auto no_entry = load_plugin(DARI_NO_ENTRY_LIB);
  ASSERT_FALSE(no_entry.ok());
  EXPECT_NE(no_entry.message().find("dari_backend_plugin_v1"), std::string::npos);
}

// A whole forward pass through the plugin path equals the built-in path bit for bit.
TEST(PluginAbi, ModelForwardThroughPluginMatchesCpu) {
  register_backend("cpu-plugin", [](const BackendOptions& o) {
    return wrap_plugin(dari_cpu_backend_plugin(), o);
  });
  const std::string path = std::string(DARI_TESTDATA_DIR) + "/models/stories260K.gguf";
  std::vector<std::vector<float>> results;
  for (const char* name : {"cpu", "cpu-plugin"}) {
    ModelLoadOptions o;
    o.backend = name;
    auto m = Model::load(path, o);
    ASSERT_TRUE(m.ok()) << m.message();
    auto kv = KvCache::create((*m)->kv_options(32));
    ASSERT_TRUE(kv.ok());
    SeqId s = kv->add_sequence();
    ASSERT_TRUE(kv->reserve(s, 5).ok());
    ForwardBatch b{{1, 403, 407, 261, 378}, {0, 1, 2, 3, 4}, {s, s, s, s, s}, {1, 1, 1, 1, 1}};
    std::vector<float> logits;
    Status st = (*m)->forward(b, *kv, &logits);
    ASSERT_TRUE(st.ok()) << st.message();
    results.push_back(logits);
  }
  ASSERT_EQ(results[0].size(), 5u * 512);
  EXPECT_EQ(std::memcmp(results[0].data(), results[1].data(), results[0].size() * 4), 0);
  ModelLoadOptions bad;
  bad.backend = "nope";
  EXPECT_FALSE(Model::load(path, bad).ok());
}

}  // namespace
}  // namespace dari
