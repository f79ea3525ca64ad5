// The conformance suite (dari/backend/conformance.h): the CPU passes it through the v2 table
// (the registry's "cpu") and the v1 table; a device whose addresses are not host pointers passes
// it too (the suite only moves data with upload/download); a broken op and an unsupported op are
// reported as such; the thresholds leave room for a device that keeps activations in f32.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "dari/backend/backend.h"
#include "dari/backend/conformance.h"
#include "dari/tensor/dtype.h"
#include "model/fake_device.h"

namespace dari {
namespace {

using conformance::CaseResult;
using conformance::Outcome;
using conformance::SuiteReport;

std::unique_ptr<Backend> reference() {
  auto r = conformance::make_reference_backend();
  EXPECT_TRUE(r.ok()) << r.message();
  return std::move(r).value();
}

SuiteReport run_suite(Backend& b, const conformance::SuiteOptions& o = {}) {
  auto ref = reference();
  auto r = conformance::run_conformance(b, *ref, o);
  EXPECT_TRUE(r.ok()) << r.message();
  return r.ok() ? std::move(r).value() : SuiteReport{};
}

void expect_all_pass(const SuiteReport& r) {
  EXPECT_EQ(r.failed, 0u);
  EXPECT_EQ(r.unsupported, 0u);
  for (const CaseResult& c : r.cases) {
    EXPECT_EQ(c.outcome, Outcome::kPass) << c.op << " " << c.type << " " << c.shape << " nmse "
                                         << c.nmse << " > " << c.threshold << ": " << c.message;
  }
}

// The registry's cpu: the CPU's v2 table behind the plugin adapter, SIMD kernels and repacking
// on. The same run shows that every op kind and weight type appears, with a documented threshold.
TEST(Conformance, CpuThroughV2TablePasses) {
  auto cpu = create_backend("cpu");
  ASSERT_TRUE(cpu.ok());
  const SuiteReport r = run_suite(**cpu);
  EXPECT_GT(r.passed, 150u);
  expect_all_pass(r);
  bool packed = false;
  std::set<std::string> ops;
  std::map<std::string, std::set<std::string>> types;
  for (const CaseResult& c : r.cases) {
    packed |= c.shape.find("packed") != std::string::npos;
    ops.insert(c.op);
    types[c.op].insert(c.type);
    EXPECT_GT(c.threshold, 0.0) << c.op << " " << c.type;
  }
  EXPECT_TRUE(packed) << "no matmul case reached a packed (repacked) weight layout";
  EXPECT_EQ(ops.size(), static_cast<size_t>(DARI_OP_COUNT) + 2);  // + graphs: ffn, decode
  for (const char* op : {"matmul", "get_rows", "set_rows"}) EXPECT_EQ(types[op].size(), 11u) << op;
  EXPECT_EQ(types["attention"].size(), 3u);
  for (const auto& t : conformance::conformance_thresholds()) {
    EXPECT_FALSE(t.why.empty()) << t.op << " " << t.type;
    EXPECT_TRUE(types[t.op].count(t.type)) << "threshold without a case: " << t.op << " " << t.type;
  }
}

TEST(Conformance, CpuThroughV1TablePasses) {
  auto v1 = wrap_plugin(dari_cpu_backend_plugin());
  ASSERT_TRUE(v1.ok()) << v1.message();
  expect_all_pass(run_suite(**v1));
}

// The same tables loaded from shared libraries with dlopen: the v2 table registered as a plugin
// library ("cpu-dl", through the registry), and the v1 test plugin (test_plugin.cpp).
TEST(Conformance, DlopenedPluginsPass) {
  auto name = register_plugin_library(DARI_CONFORMANCE_V2_PLUGIN);
  ASSERT_TRUE(name.ok()) << name.message();
  EXPECT_EQ(*name, "cpu-dl");
  auto v2 = create_backend("cpu-dl");
  ASSERT_TRUE(v2.ok()) << v2.message();
  expect_all_pass(run_suite(**v2));
  auto v1 = load_plugin(DARI_TEST_V1_PLUGIN);
  ASSERT_TRUE(v1.ok()) << v1.message();
  expect_all_pass(run_suite(**v1));
}

// Delegates everything to an inner backend; tests override what they break.
class WrapBackend : public Backend {
 public:
  explicit WrapBackend(std::unique_ptr<Backend> inner) : inner_(std::move(inner)) {}
  const DeviceInfo& device() const override { return inner_->device(); }
  Result<std::unique_ptr<Buffer>> alloc(uint64_t bytes) override { return inner_->alloc(bytes); }
  bool supports(OpKind kind, std::span<const GgmlType> types) const override {
    return inner_->supports(kind, types);
  }
  bool supports_op(const Op& op) const override { return inner_->supports_op(op); }
  Status run(const Op& op) override { return inner_->run(op); }
  Status compute(std::span<const Op> ops) override {
    for (const Op& op : ops) DARI_TRY(run(op));
    return Status::Ok();
  }
  Status upload(void* d, const void* s, uint64_t n) override { return inner_->upload(d, s, n); }
  Status download(void* d, const void* s, uint64_t n) override { return inner_->download(d, s, n); }

 protected:
  std::unique_ptr<Backend> inner_;
};

std::unique_ptr<Backend> cpu_backend() {
  auto b = create_backend("cpu");
  EXPECT_TRUE(b.ok());
  return std::move(b).value();
}

// The suite on a device whose buffer addresses are not host pointers: the test device of
// tests/model/fake_device.h (addresses in an unmapped range, mapped back to host memory inside
// the plugin as a GPU plugin keeps a table), reached through the v2 ABI.
TEST(Conformance, DeviceAddressesAreOnlyMovedWithUploadAndDownload) {
  auto dev = wrap_plugin_v2(test::fake_device_plugin());
  ASSERT_TRUE(dev.ok()) << dev.message();
  expect_all_pass(run_suite(**dev));
}

// Rope with the wrong pairing, and no attention at all: a failure and unsupported cases.
class BrokenRope final : public WrapBackend {
 public:
  BrokenRope() : WrapBackend(cpu_backend()) {}
  bool supports_op(const Op& op) const override {
    return op.kind != DARI_OP_ATTENTION && inner_->supports_op(op);
  }
  Status run(const Op& op) override {
    Op o = op;
    if (o.kind == DARI_OP_ROPE) o.params.rope.mode = o.params.rope.mode == DARI_ROPE_NEOX ? 0 : 1;
    return inner_->run(o);
  }
};

TEST(Conformance, ReportsFailuresAndUnsupportedOps) {
  BrokenRope b;
  conformance::SuiteOptions o;
  o.op = "rope";
  SuiteReport r = run_suite(b, o);
  EXPECT_EQ(r.passed, 0u);
  EXPECT_EQ(r.failed, r.cases.size());
  for (const CaseResult& c : r.cases) EXPECT_GT(c.nmse, 0.1) << c.shape;
  o.op = "attention";
  r = run_suite(b, o);
  EXPECT_EQ(r.unsupported, 12u);
  EXPECT_EQ(r.failed, 0u);
  o.op = "nope";
  auto ref = reference();
  auto none = conformance::run_conformance(b, *ref, o);
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.message().find("no conformance case matches op 'nope'"), std::string::npos);
}

// A device that ignores the order of a graph (runs it backwards): single ops still pass, the
// graph cases must not.
class Backwards final : public WrapBackend {
 public:
  Backwards() : WrapBackend(cpu_backend()) {}
  Status compute(std::span<const Op> ops) override {
    for (size_t i = ops.size(); i-- > 0;) DARI_TRY(inner_->run(ops[i]));
    return Status::Ok();
  }
};

TEST(Conformance, GraphCasesCatchOrderingMistakes) {
  Backwards b;
  for (const char* op : {"ffn", "decode"}) {
    conformance::SuiteOptions o;
    o.op = op;
    const SuiteReport r = run_suite(b, o);
    EXPECT_GT(r.failed, 0u) << op;
    EXPECT_EQ(r.passed, 0u) << op;
  }
  conformance::SuiteOptions o;
  o.op = "attention";
  EXPECT_EQ(run_suite(b, o).failed, 0u);
}

// A device that dequantizes weights and keeps activations in f32 (no Q8 rounding), summing in
// double: the matmul thresholds must leave it room with margin (4x).
class FloatMatmul final : public WrapBackend {
 public:
  FloatMatmul() : WrapBackend(cpu_backend()) {}
  Status run(const Op& op) override {
    if (op.kind != DARI_OP_MATMUL) return inner_->run(op);
    const TensorView w = from_c_view(op.src[0]), x = from_c_view(op.src[1]),
                     y = from_c_view(op.dst);
    const int64_t k = w.ne[0];
    std::vector<float> row(static_cast<size_t>(k));
    for (int64_t n = 0; n < w.n_rows(); ++n) {
      DARI_TRY(dequantize_row(w.type, w.flat_row(n), row.data(), k));
      for (int64_t m = 0; m < x.n_rows(); ++m) {
        double s = 0.0;
        for (int64_t i = 0; i < k; ++i)
          s += static_cast<double>(row[static_cast<size_t>(i)]) * x.f32_row(m)[i];
        y.f32_row(m)[n] = static_cast<float>(s);
      }
    }
    return Status::Ok();
  }
};

TEST(Conformance, MatmulThresholdsAllowF32Activations) {
  FloatMatmul b;
  for (const char* op : {"matmul", "ffn"}) {
    conformance::SuiteOptions o;
    o.op = op;
    const SuiteReport r = run_suite(b, o);
    EXPECT_EQ(r.failed, 0u);
    EXPECT_GT(r.passed, 0u);
    for (const CaseResult& c : r.cases) {
      EXPECT_LT(c.nmse * 4.0, c.threshold) << c.op << " " << c.type << " " << c.shape;
    }
  }
}

// Perf mode times every case once it has passed.
TEST(Conformance, PerfModeTimesCases) {
  auto cpu = create_backend("cpu");
  ASSERT_TRUE(cpu.ok());
  conformance::SuiteOptions o;
  o.op = "matmul";
  o.type = "Q4_0";
  o.mode = conformance::Mode::kPerf;
  o.perf_min_seconds = 0.0;
  o.perf_min_iters = 2;
  o.perf_graph_ops = 3;  // a graph of 3 copies per compute() call
  const SuiteReport r = run_suite(**cpu, o);
  ASSERT_EQ(r.cases.size(), 4u);
  for (const CaseResult& c : r.cases) {
    EXPECT_EQ(c.outcome, Outcome::kPass);
    EXPECT_GE(c.iters, 2u);
    EXPECT_GT(c.seconds, 0.0);
    EXPECT_GT(c.gb_per_s(), 0.0);
    EXPECT_GT(c.gflop_per_s(), 0.0);
  }
}

}  // namespace
}  // namespace dari
