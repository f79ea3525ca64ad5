// Every CPU backend op against a plain double-precision reference written here.
#include <gtest/gtest.h>

#include <array>
#include <cstring>

#include "backend/op_test_util.h"
#include "dari/tensor/dtype.h"

namespace dari {
namespace {

using test::f32_view;
using test::random_floats;

std::unique_ptr<Backend> cpu(uint32_t threads = 3, bool simd = true) {
  BackendOptions o;
  o.n_threads = threads;
  o.simd = simd;
  auto b = create_backend("cpu", o);
  EXPECT_TRUE(b.ok()) << b.message();
  return std::move(b).value();
}

class MatmulTypes : public ::testing::TestWithParam<GgmlType> {};

// Reference: double dot of the dequantised weights with the activations after the same rounding
// to vec_dot_type; tolerance 1e-5 of sum |w x| (float accumulation inside vec_dot), except Q8_1.
TEST_P(MatmulTypes, MatchesDequantisedReference) {
  const GgmlType t = GetParam();
  const int64_t k = 512, n = 37, m = 5;
  std::vector<float> wf = random_floats(static_cast<size_t>(k * n), 1);
  auto wq = quantize_tensor(t, wf.data(), n, k);
  ASSERT_TRUE(wq.ok()) << wq.message();
  auto wd = dequantize_tensor(t, wq->data(), wq->size(), n, k);
  ASSERT_TRUE(wd.ok());
  std::vector<float> x = random_floats(static_cast<size_t>(k * m), 2);
  const TypeTraits* vt = type_traits(type_traits(t)->vec_dot_type);
  std::vector<float> xr(x.size());  // activations after the vec_dot_type round trip
  if (vt->type == GgmlType::F32) {
    xr = x;
  } else {
    std::vector<uint8_t> q(static_cast<size_t>(k / vt->block_elems * vt->block_bytes));
    for (int64_t r = 0; r < m; ++r) {
      vt->from_float(x.data() + r * k, q.data(), k);
      vt->to_float(q.data(), xr.data() + r * k, k);
    }
  }
  // SIMD path (where dari_simd has a kernel for the type) with 3 and 1 threads, scalar path.
  std::vector<float> y(static_cast<size_t>(n * m)), y1(y.size()), ys(y.size());
  TensorView w = TensorView::contiguous(wq->data(), t, k, n);
  ASSERT_TRUE(cpu()->matmul(w, f32_view(x, k, m), f32_view(y, n, m)).ok());
  ASSERT_TRUE(cpu(1)->matmul(w, f32_view(x, k, m), f32_view(y1, n, m)).ok());
  ASSERT_TRUE(cpu(2, false)->matmul(w, f32_view(x, k, m), f32_view(ys, n, m)).ok());
  EXPECT_EQ(std::memcmp(y.data(), y1.data(), y.size() * 4), 0) << "thread count changed bits";
  // One activation row alone gives the same bits as inside the batch (batch invariance).
  std::vector<float> x1(x.begin() + k, x.begin() + 2 * k), yrow(static_cast<size_t>(n));
  ASSERT_TRUE(cpu()->matmul(w, f32_view(x1, k, 1), f32_view(yrow, n, 1)).ok());
  EXPECT_EQ(std::memcmp(yrow.data(), y.data() + n, n * 4), 0) << "batch changed bits";
  // Q8_1 activations (for Q4_1 / Q5_1) carry each block's sum rounded to F16, which the min term
  // uses instead of the exact sum: allow 3e-4 of sum |w x| there (measured 9e-5).
  const double rel = vt->type == GgmlType::Q8_1 ? 3e-4 : 1e-5;
  for (int64_t r = 0; r < m; ++r) {
    for (int64_t j = 0; j < n; ++j) {
      double ref = 0.0, mag = 0.0;
      for (int64_t i = 0; i < k; ++i) {
        double p = static_cast<double>((*wd)[j * k + i]) * xr[r * k + i];
        ref += p;
        mag += std::fabs(p);
      }
      EXPECT_NEAR(y[r * n + j], ref, rel * mag + 1e-6) << ggml_type_name(t) << " " << r << "," << j;
      EXPECT_NEAR(ys[r * n + j], ref, rel * mag + 1e-6) << "scalar " << r << "," << j;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(All, MatmulTypes,
                         ::testing::Values(GgmlType::F32, GgmlType::F16, GgmlType::BF16,
                                           GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::Q4_1,
                                           GgmlType::Q5_0, GgmlType::Q5_1, GgmlType::Q2_K,
                                           GgmlType::Q3_K, GgmlType::Q4_K, GgmlType::Q5_K,
                                           GgmlType::Q6_K),
                         [](const auto& i) { return std::string(ggml_type_name(i.param)); });

TEST(CpuOps, MatmulShapeErrors) {
  auto be = cpu();
  std::vector<float> w(64 * 4), x(64 * 2), y(4 * 2);
  Status s = be->matmul(f32_view(w, 64, 4), f32_view(x, 32, 4), f32_view(y, 4, 2));
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("matmul: shapes do not match"), std::string::npos) << s.message();
  TensorView bad = f32_view(w, 64, 4);
  bad.data = nullptr;
  EXPECT_FALSE(be->matmul(bad, f32_view(x, 64, 2), f32_view(y, 4, 2)).ok());
  TensorView q = TensorView::contiguous(w.data(), GgmlType::Q8_0, 30, 1);  // not a block multiple
  EXPECT_FALSE(be->matmul(q, f32_view(x, 30, 1), f32_view(y, 1, 1)).ok());
}

TEST(CpuOps, RmsNormPerRowAndPerHead) {
  auto be = cpu();
  std::vector<float> x = random_floats(16 * 6, 3), w = random_floats(16, 4), y(x.size());
  ASSERT_TRUE(be->rms_norm(f32_view(x, 16, 6), f32_view(w, 16), 1e-5f, f32_view(y, 16, 6)).ok());
  for (int r = 0; r < 6; ++r) {
    double ss = 0;
    for (int i = 0; i < 16; ++i) ss += double(x[r * 16 + i]) * x[r * 16 + i];
    double s = 1.0 / std::sqrt(ss / 16 + 1e-5);
    for (int i = 0; i < 16; ++i) EXPECT_NEAR(y[r * 16 + i], x[r * 16 + i] * s * w[i], 1e-5);
  }
  // In place, viewed as [4, 24] (per-head norm) with a [4] weight, and without a weight.
  std::vector<float> w4 = {1, 2, 3, 4}, z = x;
  ASSERT_TRUE(be->rms_norm(f32_view(z, 4, 24), f32_view(w4, 4), 0.0f, f32_view(z, 4, 24)).ok());
  for (int r = 0; r < 24; ++r) {
    double ss = 0;
    for (int i = 0; i < 4; ++i) ss += double(x[r * 4 + i]) * x[r * 4 + i];
    for (int i = 0; i < 4; ++i) EXPECT_NEAR(z[r * 4 + i], x[r * 4 + i] / std::sqrt(ss / 4) * w4[i], 1e-4);
  }
  EXPECT_TRUE(be->rms_norm(f32_view(x, 16, 6), TensorView{}, 1e-5f, f32_view(y, 16, 6)).ok());
  EXPECT_FALSE(be->rms_norm(f32_view(x, 16, 6), f32_view(w4, 4), 1e-5f, f32_view(y, 16, 6)).ok());
}

void rope_reference(const std::vector<float>& x, int hd, int heads, const std::vector<int32_t>& pos,
                    const DariRopeParams& p, std::vector<double>* out) {
  out->assign(x.begin(), x.end());
  const int half = p.n_dims / 2;
  for (size_t t = 0; t < pos.size(); ++t) {
    for (int h = 0; h < heads; ++h) {
      const size_t o = (t * heads + h) * hd;
      for (int i = 0; i < half; ++i) {
        double theta = pos[t] * double(p.freq_scale) * std::pow(double(p.freq_base), -2.0 * i / p.n_dims);
        if (p.freq_factors) theta /= p.freq_factors[i];
        int a = p.mode == DARI_ROPE_NEOX ? i : 2 * i, b = p.mode == DARI_ROPE_NEOX ? i + half : 2 * i + 1;
        (*out)[o + a] = x[o + a] * std::cos(theta) - x[o + b] * std::sin(theta);
        (*out)[o + b] = x[o + a] * std::sin(theta) + x[o + b] * std::cos(theta);
      }
    }
  }
}

TEST(CpuOps, RopeNormalNeoxScaledPartial) {
  auto be = cpu();
  const int hd = 8, heads = 3;
  std::vector<int32_t> pos = {0, 1, 7, 300, 2047};
  std::vector<float> factors = {1.0f, 2.0f, 8.0f};
  for (int mode : {DARI_ROPE_NORMAL, DARI_ROPE_NEOX}) {
    for (int variant = 0; variant < 3; ++variant) {
      DariRopeParams p{};
      p.n_dims = variant == 2 ? 6 : 8;  // partial rotation leaves dims 6..7 untouched
      p.mode = mode;
      p.freq_base = 10000.0f;
      p.freq_scale = variant == 1 ? 0.25f : 1.0f;
      p.freq_factors = variant == 2 ? factors.data() : nullptr;
      p.positions = pos.data();
      std::vector<float> x = random_floats(hd * heads * pos.size(), 5), y(x.size());
      std::vector<double> ref;
      rope_reference(x, hd, heads, pos, p, &ref);
      ASSERT_TRUE(be->rope(f32_view(x, hd, heads, 5), p, f32_view(y, hd, heads, 5)).ok());
      for (size_t i = 0; i < y.size(); ++i) EXPECT_NEAR(y[i], ref[i], 1e-6) << mode << variant << i;
      ASSERT_TRUE(be->rope(f32_view(x, hd, heads, 5), p, f32_view(x, hd, heads, 5)).ok());
      EXPECT_EQ(std::memcmp(x.data(), y.data(), y.size() * 4), 0);  // in place == out of place
    }
  }
  DariRopeParams bad{};
  bad.n_dims = 7;
  bad.freq_base = 10000.0f;
  bad.freq_scale = 1.0f;
  bad.positions = pos.data();
  std::vector<float> x(hd * 5);
  EXPECT_FALSE(be->rope(f32_view(x, hd, 1, 5), bad, f32_view(x, hd, 1, 5)).ok());
}

TEST(CpuOps, SoftmaxSiluMulAddMul) {
  auto be = cpu();
  std::vector<float> a = random_floats(40 * 3, 6, 4.0f), b = random_floats(40 * 3, 7), y(a.size());
  ASSERT_TRUE(be->softmax(f32_view(a, 40, 3), 0.5f, f32_view(y, 40, 3)).ok());
  for (int r = 0; r < 3; ++r) {
    double z = 0;
    for (int i = 0; i < 40; ++i) z += std::exp(0.5 * a[r * 40 + i]);
    for (int i = 0; i < 40; ++i) EXPECT_NEAR(y[r * 40 + i], std::exp(0.5 * a[r * 40 + i]) / z, 1e-6);
  }
  ASSERT_TRUE(be->silu_mul(f32_view(a, 40, 3), f32_view(b, 40, 3), f32_view(y, 40, 3)).ok());
  for (size_t i = 0; i < y.size(); ++i) {
    EXPECT_NEAR(y[i], a[i] / (1.0 + std::exp(-double(a[i]))) * b[i], 1e-5);
  }
  ASSERT_TRUE(be->add(f32_view(a, 40, 3), f32_view(b, 40, 3), f32_view(y, 40, 3)).ok());
  for (size_t i = 0; i < y.size(); ++i) EXPECT_EQ(y[i], a[i] + b[i]);
  std::vector<float> bias = random_floats(40, 8);  // one row: broadcast
  ASSERT_TRUE(be->add(f32_view(a, 40, 3), f32_view(bias, 40), f32_view(y, 40, 3)).ok());
  for (size_t i = 0; i < y.size(); ++i) EXPECT_EQ(y[i], a[i] + bias[i % 40]);
  ASSERT_TRUE(be->mul(f32_view(a, 40, 3), f32_view(b, 40, 3), f32_view(y, 40, 3)).ok());
  for (size_t i = 0; i < y.size(); ++i) EXPECT_EQ(y[i], a[i] * b[i]);
  EXPECT_FALSE(be->add(f32_view(a, 40, 3), f32_view(b, 20, 2), f32_view(y, 40, 3)).ok());
}

TEST(CpuOps, GetRowsSetRowsCopy) {
  auto be = cpu();
  const int64_t d = 64, rows = 10;
  std::vector<float> table = random_floats(d * rows, 9);
  for (GgmlType t : {GgmlType::F32, GgmlType::F16, GgmlType::BF16, GgmlType::Q8_0, GgmlType::Q4_K}) {
    const int64_t dd = t == GgmlType::Q4_K ? 256 : d;
    std::vector<float> src = random_floats(dd * rows, 10);
    auto q = quantize_tensor(t, src.data(), rows, dd);
    ASSERT_TRUE(q.ok());
    auto deq = dequantize_tensor(t, q->data(), q->size(), rows, dd);
    ASSERT_TRUE(deq.ok());
    std::vector<int32_t> ids = {3, 0, 9, 3};
    std::vector<float> y(dd * ids.size());
    TensorView tv = TensorView::contiguous(q->data(), t, dd, rows);
    ASSERT_TRUE(be->get_rows(tv, ids, f32_view(y, dd, 4)).ok());
    for (size_t r = 0; r < ids.size(); ++r) {
      EXPECT_EQ(std::memcmp(y.data() + r * dd, deq->data() + ids[r] * dd, dd * 4), 0);
    }
    std::vector<int32_t> bad = {3, 10, 0, 0};
    Status s = be->get_rows(tv, bad, f32_view(y, dd, 4));
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.message().find("row id 10"), std::string::npos);
  }
  // set_rows F32 -> F16 scatter, then copy back to F32.
  std::vector<uint16_t> cache(d * rows, 0);
  TensorView cv = TensorView::contiguous(cache.data(), GgmlType::F16, d, rows);
  std::vector<float> x = random_floats(d * 2, 11);
  std::vector<int32_t> dst_ids = {7, 2};
  ASSERT_TRUE(be->set_rows(f32_view(x, d, 2), dst_ids, cv).ok());
  for (int64_t i = 0; i < d; ++i) {
    EXPECT_EQ(cache[7 * d + i], fp32_to_fp16(x[i]));
    EXPECT_EQ(cache[2 * d + i], fp32_to_fp16(x[d + i]));
    EXPECT_EQ(cache[0 * d + i], 0);
  }
  std::vector<int32_t> oob = {7, -1};
  EXPECT_FALSE(be->set_rows(f32_view(x, d, 2), oob, cv).ok());
  std::vector<float> back(d * rows);
  ASSERT_TRUE(be->copy(cv, f32_view(back, d, rows)).ok());
  for (int64_t i = 0; i < d; ++i) EXPECT_EQ(back[7 * d + i], fp16_to_fp32(fp32_to_fp16(x[i])));
  std::vector<uint8_t> q8(static_cast<size_t>(d / 32 * 34 * rows));
  ASSERT_TRUE(be->copy(f32_view(back, d, rows), TensorView::contiguous(q8.data(), GgmlType::Q8_0, d, rows)).ok());
  EXPECT_FALSE(be->copy(f32_view(back, d, rows), f32_view(back, d, rows - 1)).ok());
}

TEST(CpuOps, RegistryAndSupports) {
  auto names = backend_names();
  EXPECT_NE(std::find(names.begin(), names.end(), "cpu"), names.end());
  auto missing = create_backend("no-such-device");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.message().find("registered: "), std::string::npos);
  auto be = cpu();
  EXPECT_EQ(be->device().name, "cpu");
  EXPECT_TRUE(be->device().host_memory);
  using T = GgmlType;
  EXPECT_TRUE(be->supports(OpKind::kMatmul, std::array{T::Q4_K, T::F32, T::F32}));
  EXPECT_FALSE(be->supports(OpKind::kMatmul, std::array{T::IQ2_XXS, T::F32, T::F32}));
  EXPECT_FALSE(be->supports(OpKind::kMatmul, std::array{T::F32, T::F16, T::F32}));
  EXPECT_TRUE(be->supports(OpKind::kGetRows, std::array{T::Q6_K, T::F32}));
  EXPECT_TRUE(be->supports(OpKind::kSetRows, std::array{T::F32, T::F16}));
  EXPECT_TRUE(be->supports(OpKind::kAttention, std::array{T::F32, T::F16, T::F16, T::F32}));
  EXPECT_FALSE(be->supports(OpKind::kAttention, std::array{T::F32, T::Q8_0, T::Q8_0, T::F32}));
  EXPECT_FALSE(be->supports(OpKind::kRmsNorm, std::array{T::F16, T::F32}));
  auto buf = be->alloc(1000);
  ASSERT_TRUE(buf.ok());
  EXPECT_EQ((*buf)->size(), 1000u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>((*buf)->data()) % 64, 0u);
}

}  // namespace
}  // namespace dari
