// Backend::pack_weight on the CPU backend: Q4_0, Q4_K and Q5_K matrices with whole groups of 8
// rows get a Q4_0x8 / Q4_Kx8 / Q5_Kx8 copy that matmul reads for exactly that view (same
// results), other views and types are read as given, and BackendOptions::repack = false turns
// packing off.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "backend/cpu/simd/packed.h"
#include "backend/cpu/simd/simd_kernels.h"
#include "dari/backend/backend.h"
#include "dari/tensor/blocks.h"
#include "dari/tensor/dtype.h"
#include "op_test_util.h"

namespace dari {
namespace {

constexpr int64_t kK = 128;

std::vector<uint8_t> q4_0_matrix(int64_t rows, uint32_t seed) {
  const std::vector<float> f = test::random_floats(static_cast<size_t>(rows * kK), seed);
  std::vector<uint8_t> q(static_cast<size_t>(rows * kK / kQK4_0) * sizeof(BlockQ4_0));
  type_traits(GgmlType::Q4_0)->from_float(f.data(), q.data(), rows * kK);
  return q;
}

std::unique_ptr<Backend> cpu(bool repack) {
  BackendOptions o;
  o.n_threads = 2;
  o.repack = repack;
  auto b = create_backend("cpu", o);
  EXPECT_TRUE(b.ok()) << b.message();
  return std::move(b).value();
}

std::vector<float> run_matmul(Backend& be, const TensorView& w, std::vector<float>& x) {
  std::vector<float> y(static_cast<size_t>(w.ne[1] * (static_cast<int64_t>(x.size()) / kK)));
  const Status st = be.matmul(w, test::f32_view(x, kK, static_cast<int64_t>(x.size()) / kK),
                              test::f32_view(y, w.ne[1], static_cast<int64_t>(x.size()) / kK));
  EXPECT_TRUE(st.ok()) << st.message();
  return y;
}

TEST(CpuPackWeight, PackedCopyGivesTheSameOutputsAndIsWhatMatmulReads) {
  std::vector<uint8_t> q = q4_0_matrix(32, 1);
  std::vector<float> x = test::random_floats(static_cast<size_t>(5 * kK), 2);
  const TensorView w = TensorView::contiguous(q.data(), GgmlType::Q4_0, kK, 32);
  auto be = cpu(true);
  const std::vector<float> before = run_matmul(*be, w, x);
  auto packed = be->pack_weight(w);
  ASSERT_TRUE(packed.ok()) << packed.message();
  EXPECT_TRUE(*packed);
  EXPECT_EQ(be->packed_bytes(), q.size());
  const std::vector<float> after = run_matmul(*be, w, x);
  // Whole groups of 8 run the row-group arithmetic packed or not (AVX2), so the bits match;
  // the portable path's unpacked matmul uses the per-row dot, so only closeness is promised.
  if (simd::active_isa() == simd::Isa::kAvx2 && simd::group_kernels_enabled()) {
    EXPECT_EQ(after, before);
  }
  for (size_t i = 0; i < before.size(); ++i) EXPECT_NEAR(after[i], before[i], 1e-3);
  // Break the original: the packed view still gives its results, proving matmul reads the copy;
  // a different view of the same bytes (first 16 rows) is not the packed one and sees the change.
  std::memset(q.data(), 0, q.size());
  EXPECT_EQ(run_matmul(*be, w, x), after);
  const TensorView first16 = TensorView::contiguous(q.data(), GgmlType::Q4_0, kK, 16);
  const std::vector<float> zeros = run_matmul(*be, first16, x);
  for (float v : zeros) EXPECT_EQ(v, 0.0f);
  // A second, different view of packed bytes is refused.
  EXPECT_FALSE(be->pack_weight(first16).ok());
}

// The K-quant layouts: the same bits as the unpacked SIMD row kernels, and the copy is read.
class CpuPackWeightK : public ::testing::TestWithParam<GgmlType> {};

TEST_P(CpuPackWeightK, PackedCopyGivesTheSameBitsAndIsWhatMatmulReads) {
  const GgmlType t = GetParam();
  constexpr int64_t k = 2 * kQK_K, rows = 24;
  const std::vector<float> f = test::random_floats(static_cast<size_t>(rows * k), 7);
  std::vector<uint8_t> q(static_cast<size_t>(rows * k / kQK_K) * type_traits(t)->block_bytes);
  type_traits(t)->from_float(f.data(), q.data(), rows * k);
  std::vector<float> x = test::random_floats(static_cast<size_t>(3 * k), 8);
  const TensorView w = TensorView::contiguous(q.data(), t, k, rows);
  auto be = cpu(true);
  auto matmul = [&](const TensorView& wv) {
    std::vector<float> y(static_cast<size_t>(rows * 3));
    const Status st = be->matmul(wv, test::f32_view(x, k, 3), test::f32_view(y, wv.ne[1], 3));
    EXPECT_TRUE(st.ok()) << st.message();
    return y;
  };
  const std::vector<float> before = matmul(w);
  auto packed = be->pack_weight(w);
  ASSERT_TRUE(packed.ok()) << packed.message();
  EXPECT_TRUE(*packed);
  EXPECT_EQ(be->packed_bytes(), q.size());  // the size of the rows
  const std::vector<float> after = matmul(w);
  if (simd::active_isa() != simd::Isa::kGeneric) {
    EXPECT_EQ(after, before);
  }
  for (size_t i = 0; i < before.size(); ++i) {
    EXPECT_NEAR(after[i], before[i], 1e-4 * (1.0 + std::fabs(before[i])));
  }
  std::memset(q.data(), 0, q.size());  // the copy is what matmul reads
  EXPECT_EQ(matmul(w), after);
}

INSTANTIATE_TEST_SUITE_P(KQuants, CpuPackWeightK, ::testing::Values(GgmlType::Q4_K, GgmlType::Q5_K),
                         [](const auto& i) { return std::string(ggml_type_name(i.param)); });

TEST(CpuPackWeight, OtherTypesShapesAndRepackOffAreReadAsGiven) {
  std::vector<uint8_t> q = q4_0_matrix(12, 3);  // 12 rows: not whole groups of 8
  auto be = cpu(true);
  auto r = be->pack_weight(TensorView::contiguous(q.data(), GgmlType::Q4_0, kK, 12));
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(*r);
  std::vector<float> f = test::random_floats(static_cast<size_t>(8 * kK), 4);
  r = be->pack_weight(TensorView::contiguous(f.data(), GgmlType::F32, kK, 8));
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(*r);
  EXPECT_EQ(be->packed_bytes(), 0u);
  std::vector<uint8_t> q8 = q4_0_matrix(8, 5);
  auto off = cpu(false);
  r = off->pack_weight(TensorView::contiguous(q8.data(), GgmlType::Q4_0, kK, 8));
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(*r);
  EXPECT_EQ(off->packed_bytes(), 0u);
}

}  // namespace
}  // namespace dari
