// The model on a device without host memory ("fakedev", fake_device.h: opaque addresses in an
// unmapped range, the CPU's kernels inside), against the CPU backend. The fake device runs the
// very same kernels on the same data, so logits must be bit-identical, whole-device and split
// (-ngl), and greedy tokens equal. Also: bytes crossing per decode step, per-layer fallback when
// the device declines an op, the load-time fit check and out-of-memory as errors.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "model/device_test_util.h"

namespace dari {
namespace {

using test::DeviceCase;

class DeviceModelTest : public ::testing::TestWithParam<DeviceCase> {
 protected:
  void SetUp() override {
    test::register_fake_device();
    path_ = test::case_path(GetParam());
    ASSERT_FALSE(path_.empty());
  }
  std::string path_;
};

TEST_P(DeviceModelTest, WholeDeviceMatchesCpu) {
  auto cpu = test::load_model(path_, "cpu");
  auto dev = test::load_model(path_, "fakedev");
  ASSERT_TRUE(cpu.ok()) << cpu.message();
  ASSERT_TRUE(dev.ok()) << dev.message();
  const ModelPlacement pl = (*dev)->placement();
  for (const std::string& l : pl.layers) EXPECT_EQ(l, "fakedev0");
  EXPECT_EQ(pl.embedding, "fakedev0");
  EXPECT_EQ(pl.output, "fakedev0");
  EXPECT_GT(pl.device_weight_bytes, 0u);
  // The KV cache the model asks for lives on the device (opaque addresses).
  auto kv = KvCache::create((*dev)->kv_options(64));
  ASSERT_TRUE(kv.ok()) << kv.message();
  EXPECT_TRUE(test::is_fake_device_address(kv->k_row(0, 0, 0)));
  for (GgmlType kv_type : {GgmlType::F16, GgmlType::F32}) {
    auto want = test::greedy(**cpu, kv_type);
    auto got = test::greedy(**dev, kv_type);
    ASSERT_TRUE(want.ok()) << want.message();
    ASSERT_TRUE(got.ok()) << got.message();
    EXPECT_EQ(got->tokens, want->tokens);
    test::expect_identical(*got, *want, "fakedev vs cpu");
  }
}

TEST_P(DeviceModelTest, SplitMatchesCpu) {
  auto cpu = test::load_model(path_, "cpu");
  ASSERT_TRUE(cpu.ok()) << cpu.message();
  const uint32_t n = (*cpu)->config().n_layer;
  auto want = test::greedy(**cpu, GgmlType::F16);
  ASSERT_TRUE(want.ok()) << want.message();
  for (int32_t ngl : {0, static_cast<int32_t>(n / 2), static_cast<int32_t>(n) - 1}) {
    auto dev = test::load_model(path_, "fakedev", ngl);
    ASSERT_TRUE(dev.ok()) << dev.message();
    const ModelPlacement pl = (*dev)->placement();
    for (uint32_t il = 0; il < n; ++il) {
      EXPECT_EQ(pl.layers[il], il + ngl >= n ? "fakedev0" : "cpu") << "ngl " << ngl;
    }
    EXPECT_EQ(pl.output, ngl > 0 ? "fakedev0" : "cpu");
    EXPECT_EQ(pl.embedding, ngl == static_cast<int32_t>(n) ? "fakedev0" : "cpu");
    EXPECT_EQ(pl.device_weight_bytes == 0, ngl == 0);
    EXPECT_EQ((*dev)->kv_backends().empty(), ngl == 0);
    auto got = test::greedy(**dev, GgmlType::F16);
    ASSERT_TRUE(got.ok()) << got.message();
    EXPECT_EQ(got->tokens, want->tokens) << "ngl " << ngl;
    test::expect_identical(*got, *want, "ngl " + std::to_string(ngl));
  }
}

// Per decode step, whole device: nothing goes up (token ids, positions and block tables are op
// parameters), only the logits come down, and the step is one compute() call. With -ngl in the
// middle, the activation rows go up once more.
TEST_P(DeviceModelTest, BytesPerDecodeStep) {
  auto probe = test::load_model(path_, "cpu");
  ASSERT_TRUE(probe.ok());
  const ModelConfig cfg = (*probe)->config();
  for (int32_t ngl : {-1, static_cast<int32_t>(cfg.n_layer / 2)}) {
    if (ngl == 0) continue;
    auto dev = test::load_model(path_, "fakedev", ngl);
    ASSERT_TRUE(dev.ok()) << dev.message();
    auto kv = KvCache::create((*dev)->kv_options(64));
    ASSERT_TRUE(kv.ok()) << kv.message();
    const SeqId a = kv->add_sequence(), b = kv->add_sequence();
    ASSERT_TRUE(test::run_tokens(**dev, *kv, a, {1, 2, 3}).ok());
    ASSERT_TRUE(test::run_tokens(**dev, *kv, b, {4, 5}).ok());
    for (int step = 0; step < 3; ++step) {
      const Backend::Transfers t0 = (*dev)->transfers();
      const uint64_t computes0 = test::fake_device_stats().computes;
      ForwardBatch fb;
      for (SeqId s : {a, b}) {
        ASSERT_TRUE(kv->reserve(s, 1).ok());
        fb.tokens.push_back(7 + step);
        fb.positions.push_back(static_cast<int32_t>(kv->length(s)));
        fb.seq_ids.push_back(s);
        fb.need_logits.push_back(1);
      }
      std::vector<float> logits;
      ASSERT_TRUE((*dev)->forward(fb, *kv, &logits).ok());
      for (SeqId s : {a, b}) kv->commit(s, 1);
      const Backend::Transfers t1 = (*dev)->transfers();
      const uint64_t logits_bytes = 2ull * cfg.n_vocab * sizeof(float);
      const uint64_t x_bytes = ngl < 0 ? 0 : 2ull * cfg.n_embd * sizeof(float);
      EXPECT_EQ(t1.uploaded - t0.uploaded, x_bytes) << "ngl " << ngl;
      EXPECT_EQ(t1.downloaded - t0.downloaded, logits_bytes) << "ngl " << ngl;
      EXPECT_EQ(test::fake_device_stats().computes - computes0, 1u) << "ngl " << ngl;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Models, DeviceModelTest, ::testing::ValuesIn(test::device_cases()),
                         [](const auto& p) { return p.param.name; });

// A layer with a weight type the device declines runs on the CPU, the rest on the device; the
// activations cross at each boundary and the results stay the CPU's.
TEST(DeviceModel, DeclinedLayerRunsOnCpu) {
  test::SynthSpec spec;
  spec.n_layer = 4;
  spec.tensor_types["blk.1.ffn_down.weight"] = GgmlType::Q8_0;
  const std::string path = test::temp_model_path("device_declined_layer");
  ASSERT_TRUE(test::write_synthetic(spec, path).ok());
  test::FakeDeviceConfig cfg;
  cfg.decline = [](const DariOp& op) {
    return op.kind == DARI_OP_MATMUL && op.src[0].type == static_cast<uint32_t>(GgmlType::Q8_0);
  };
  test::register_fake_device(cfg);
  auto dev = test::load_model(path, "fakedev");
  test::register_fake_device();
  auto cpu = test::load_model(path, "cpu");
  ASSERT_TRUE(dev.ok()) << dev.message();
  ASSERT_TRUE(cpu.ok()) << cpu.message();
  const ModelPlacement pl = (*dev)->placement();
  EXPECT_EQ(pl.layers, (std::vector<std::string>{"fakedev0", "cpu", "fakedev0", "fakedev0"}));
  EXPECT_EQ(pl.embedding, "fakedev0");
  EXPECT_EQ(pl.output, "fakedev0");
  auto want = test::greedy(**cpu, GgmlType::F16);
  auto got = test::greedy(**dev, GgmlType::F16);
  ASSERT_TRUE(want.ok() && got.ok()) << got.message();
  EXPECT_EQ(got->tokens, want->tokens);
  test::expect_identical(*got, *want, "declined layer");
}

// The device declines the output projection: the last layer stays on the device and only the
// selected rows cross to the CPU for the output head.
TEST(DeviceModel, DeclinedOutputRunsOnCpu) {
  const std::string path = std::string(DARI_TESTDATA_DIR) + "/models/stories260K.gguf";
  test::FakeDeviceConfig cfg;
  cfg.decline = [](const DariOp& op) {
    return op.kind == DARI_OP_MATMUL && op.src[0].ne[1] == 512;
  };
  test::register_fake_device(cfg);
  auto dev = test::load_model(path, "fakedev");
  test::register_fake_device();
  auto cpu = test::load_model(path, "cpu");
  ASSERT_TRUE(dev.ok()) << dev.message();
  ASSERT_TRUE(cpu.ok()) << cpu.message();
  ASSERT_EQ((*cpu)->config().n_vocab, 512u);
  EXPECT_EQ((*dev)->placement().output, "cpu");
  EXPECT_EQ((*dev)->placement().layers.back(), "fakedev0");
  auto want = test::greedy(**cpu, GgmlType::F16);
  auto got = test::greedy(**dev, GgmlType::F16);
  ASSERT_TRUE(want.ok() && got.ok()) << got.message();
  test::expect_identical(*got, *want, "declined output");
}

// Weights split over several buffers when the device's largest buffer is small; a tensor larger
// than it is a clear error.
TEST(DeviceModel, MaxBufferSplitsWeights) {
  const std::string path = std::string(DARI_TESTDATA_DIR) + "/models/stories260K.gguf";
  test::FakeDeviceConfig cfg;
  cfg.max_buffer = 160 << 10;  // stories260K's largest tensor is 128 KiB
  test::register_fake_device(cfg);
  auto dev = test::load_model(path, "fakedev");
  ASSERT_TRUE(dev.ok()) << dev.message();
  auto cpu = test::load_model(path, "cpu");
  ASSERT_TRUE(cpu.ok());
  EXPECT_GT((*dev)->placement().device_weight_bytes, uint64_t{cfg.max_buffer});
  auto want = test::greedy(**cpu, GgmlType::F16);
  auto got = test::greedy(**dev, GgmlType::F16);
  ASSERT_TRUE(want.ok() && got.ok()) << got.message();
  test::expect_identical(*got, *want, "max_buffer");
  dev = Result<std::unique_ptr<Model>>(make_error("released"));
  cfg.max_buffer = 64 << 10;
  test::register_fake_device(cfg);
  auto small = test::load_model(path, "fakedev");
  ASSERT_FALSE(small.ok());
  EXPECT_NE(small.message().find("largest buffer"), std::string::npos) << small.message();
  test::register_fake_device();
}

}  // namespace
}  // namespace dari
