// The CPU backend's matmul on every SIMD ISA this CPU supports (forced in turn): each ISA is
// batch invariant (a row alone equals the row inside a batch of 16, bit for bit), thread-count
// invariant (1 and 2 threads give the same bits), and within the fp32 reassociation tolerance of
// the scalar path (BackendOptions::simd = false) for every type with a SIMD kernel.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "backend/cpu/simd/simd_kernels.h"
#include "backend/op_test_util.h"
#include "dari/tensor/dtype.h"

namespace dari {
namespace {

using test::f32_view;
using test::random_floats;

std::unique_ptr<Backend> make_cpu(uint32_t threads, bool simd) {
  BackendOptions o;
  o.n_threads = threads;
  o.simd = simd;
  auto b = create_backend("cpu", o);
  EXPECT_TRUE(b.ok()) << b.message();
  return std::move(b).value();
}

// Restores automatic ISA selection when a test ends (even on failure).
struct IsaGuard {
  ~IsaGuard() { simd::clear_forced_isa(); }
};

class IsaMatmul : public ::testing::TestWithParam<GgmlType> {};

TEST_P(IsaMatmul, EveryIsaBatchAndThreadInvariantNearScalar) {
  const GgmlType t = GetParam();
  // k = 768: three k-quant super-blocks, 24 Q8_0 blocks; n = 37 leaves a partial 4-row tile.
  const int64_t k = 768, n = 37, m = 16;
  const std::vector<float> wf = random_floats(static_cast<size_t>(k * n), 11);
  auto wq = quantize_tensor(t, wf.data(), n, k);
  ASSERT_TRUE(wq.ok()) << wq.message();
  const TensorView w = TensorView::contiguous(wq->data(), t, k, n);
  std::vector<float> x = random_floats(static_cast<size_t>(k * m), 12);
  std::vector<float> ref(static_cast<size_t>(n * m));
  ASSERT_TRUE(make_cpu(2, false)->matmul(w, f32_view(x, k, m), f32_view(ref, n, m)).ok());
  // |w| |x| per output for the tolerance (dequantised weights, fp32 activations: an upper
  // bound on the quantised activations' magnitude up to rounding).
  auto wd = dequantize_tensor(t, wq->data(), wq->size(), n, k);
  ASSERT_TRUE(wd.ok());
  IsaGuard guard;
  for (simd::Isa isa : simd::supported_isas()) {
    ASSERT_TRUE(simd::set_forced_isa(isa));
    std::vector<float> y2(ref.size()), y1(ref.size());
    ASSERT_TRUE(make_cpu(2, true)->matmul(w, f32_view(x, k, m), f32_view(y2, n, m)).ok());
    ASSERT_TRUE(make_cpu(1, true)->matmul(w, f32_view(x, k, m), f32_view(y1, n, m)).ok());
    EXPECT_EQ(std::memcmp(y1.data(), y2.data(), y1.size() * sizeof(float)), 0)
        << ggml_type_name(t) << " " << simd::isa_name(isa) << ": thread count changed bits";
    for (int64_t r : {int64_t{0}, int64_t{5}, m - 1}) {
      std::vector<float> xr(x.begin() + r * k, x.begin() + (r + 1) * k), yr(static_cast<size_t>(n));
      ASSERT_TRUE(make_cpu(2, true)->matmul(w, f32_view(xr, k, 1), f32_view(yr, n, 1)).ok());
      EXPECT_EQ(std::memcmp(yr.data(), y2.data() + r * n, static_cast<size_t>(n) * sizeof(float)),
                0)
          << ggml_type_name(t) << " " << simd::isa_name(isa) << ": row " << r << " alone differs";
    }
    // fp32 reassociation bound: 4 eps (blocks + 16) sum |w x| (see tests/simd/simd_test_util.h),
    // doubled for the activation quantisation's effect on |x|.
    const int64_t chain =
        type_traits(t)->block_elems == 1 ? k / 8 : k / type_traits(t)->block_elems;
    for (int64_t r = 0; r < m; ++r) {
      for (int64_t j = 0; j < n; ++j) {
        double mag = 0.0;
        for (int64_t i = 0; i < k; ++i)
          mag += std::fabs(static_cast<double>((*wd)[j * k + i]) * x[r * k + i]);
        const double tol =
            8.0 * 1.1920928955078125e-07 * static_cast<double>(chain + 16) * mag + 1e-30;
        const size_t o = static_cast<size_t>(r * n + j);
        EXPECT_NEAR(y2[o], ref[o], tol)
            << ggml_type_name(t) << " " << simd::isa_name(isa) << " " << r << "," << j;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(SimdTypes, IsaMatmul,
                         ::testing::Values(GgmlType::F32, GgmlType::F16, GgmlType::BF16,
                                           GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::Q4_K,
                                           GgmlType::Q5_K, GgmlType::Q6_K),
                         [](const auto& i) { return std::string(ggml_type_name(i.param)); });

}  // namespace
}  // namespace dari
