// dari_simd's attention helpers on every ISA the CPU supports against the generic loops:
// scores and V sums within the fp32 reassociation bound, exp within a few ulp of std::exp, and
// each output independent of how many rows one call covers (the batch-invariance property the
// CPU attention relies on).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "simd/simd_test_util.h"

namespace dari::simd {
namespace {

constexpr GgmlType kKvTypes[] = {GgmlType::F32, GgmlType::F16, GgmlType::BF16};
constexpr double kEps = 1.1920928955078125e-07;

// count rows of hd elements, stride padded by 24 bytes.
struct KvRows {
  GgmlType t;
  int64_t hd, count;
  uint64_t stride;
  std::vector<uint8_t> bytes;
  std::vector<float> values;  // the stored values as floats
};

KvRows make_rows(GgmlType t, int64_t hd, int64_t count, uint32_t seed) {
  std::mt19937 rng(seed);
  KvRows r{t, hd, count, testing::bytes_of(t, hd) + 24, {}, {}};
  r.bytes.assign(r.stride * static_cast<uint64_t>(count), 0xff);  // NaN padding if ever read
  r.values.resize(static_cast<size_t>(hd * count));
  for (int64_t i = 0; i < count; ++i) {
    const std::vector<uint8_t> row = testing::quantized_row(t, rng, hd, 2.0f);
    std::copy(row.begin(), row.end(), r.bytes.begin() + static_cast<int64_t>(r.stride) * i);
    type_traits(t)->to_float(row.data(), r.values.data() + i * hd, hd);
  }
  return r;
}

TEST(SimdAttention, KvAxpyMatchesTheReferenceOnEveryIsa) {
  std::mt19937 rng(7);
  for (GgmlType t : kKvTypes) {
    for (int64_t hd : {8, 64, 72, 100, 128}) {
      const int64_t count = 13;
      const KvRows kv = make_rows(t, hd, count, static_cast<uint32_t>(hd));
      std::vector<float> w = testing::random_floats(rng, count, 1.0f);
      for (float& x : w) x = std::fabs(x);
      for (Isa isa : supported_isas()) {
        std::vector<float> acc(static_cast<size_t>(hd), 0.25f);
        kv_axpy_fn(t, isa)(w.data(), kv.bytes.data(), kv.stride, count, hd, acc.data());
        for (int64_t d = 0; d < hd; ++d) {
          double ref = 0.25, mag = 0.25;
          for (int64_t i = 0; i < count; ++i) {
            const double p = static_cast<double>(w[static_cast<size_t>(i)]) *
                             kv.values[static_cast<size_t>(i * hd + d)];
            ref += p;
            mag += std::fabs(p);
          }
          EXPECT_NEAR(acc[static_cast<size_t>(d)], ref,
                      2.0 * kEps * static_cast<double>(count + 2) * mag)
              << ggml_type_name(t) << " hd=" << hd << " isa=" << isa_name(isa);
        }
      }
    }
  }
}

// Rows converted once with kv_load, then read by the F32 axpy, give the same bits as the typed
// axpy on the stored rows: the CPU attention converts each run of V rows once per group of
// query heads and relies on this to stay identical to per-head reads.
TEST(SimdAttention, KvLoadIsExactAndF32AxpyOnItMatchesTypedAxpy) {
  std::mt19937 rng(11);
  for (GgmlType t : kKvTypes) {
    for (int64_t hd : {8, 64, 72, 100}) {
      const int64_t count = 9;
      const KvRows kv = make_rows(t, hd, count, static_cast<uint32_t>(hd + 1));
      const std::vector<float> w = testing::random_floats(rng, count, 1.0f);
      for (Isa isa : supported_isas()) {
        std::vector<float> rows(static_cast<size_t>(hd * count), -1.0f);
        kv_load_fn(t, isa)(kv.bytes.data(), kv.stride, count, hd, rows.data());
        EXPECT_EQ(rows, kv.values) << ggml_type_name(t) << " hd=" << hd << " isa=" << isa_name(isa);
        const auto* loaded = reinterpret_cast<const uint8_t*>(rows.data());
        const uint64_t loaded_stride = static_cast<uint64_t>(hd) * sizeof(float);
        std::vector<float> acc_typed(static_cast<size_t>(hd), 0.5f), acc_f32 = acc_typed;
        kv_axpy_fn(t, isa)(w.data(), kv.bytes.data(), kv.stride, count, hd, acc_typed.data());
        kv_axpy_fn(GgmlType::F32, isa)(w.data(), loaded, loaded_stride, count, hd, acc_f32.data());
        EXPECT_EQ(acc_typed, acc_f32)
            << ggml_type_name(t) << " hd=" << hd << " isa=" << isa_name(isa);
      }
    }
  }
}

// kv_load_t writes exact fp32 columns padded with zeros; kv_scores_t gives the same bits on every
// ISA, near the double reference, and each score does not depend on how many rows one call
// covers or on the layout's padding (ld).
TEST(SimdAttention, TransposedScoresSameBitsOnEveryIsaAndIndependentOfCount) {
  std::mt19937 rng(13);
  for (GgmlType t : kKvTypes) {
    for (int64_t hd : {8, 13, 64, 128}) {
      for (int64_t count : {1, 7, 16, 21}) {
        const KvRows kv = make_rows(t, hd, count, static_cast<uint32_t>(hd * 31 + count));
        const std::vector<float> q = testing::random_floats(rng, hd, 1.0f);
        const int64_t ld = kv_t_ld(count);
        ASSERT_EQ(ld % 8, 0);
        ASSERT_GE(ld, count);
        std::vector<float> generic(static_cast<size_t>(count));
        for (Isa isa : supported_isas()) {
          std::vector<float> kt(static_cast<size_t>(ld * hd), -7.0f);
          kv_load_t_fn(t, isa)(kv.bytes.data(), kv.stride, count, hd, kt.data());
          for (int64_t d = 0; d < hd; ++d) {
            for (int64_t r = 0; r < ld; ++r) {
              const float want = r < count ? kv.values[static_cast<size_t>(r * hd + d)] : 0.0f;
              ASSERT_EQ(kt[static_cast<size_t>(d * ld + r)], want)
                  << ggml_type_name(t) << " d=" << d << " r=" << r << " " << isa_name(isa);
            }
          }
          std::vector<float> scores(static_cast<size_t>(count));
          kv_scores_t_fn(isa)(q.data(), kt.data(), ld, count, hd, 0.5f, scores.data());
          if (isa == Isa::kGeneric) generic = scores;
          EXPECT_EQ(scores, generic) << ggml_type_name(t) << " hd=" << hd << " " << isa_name(isa);
          for (int64_t r = 0; r < count; ++r) {
            double ref = 0.0, mag = 0.0;
            for (int64_t d = 0; d < hd; ++d) {
              const double p = static_cast<double>(q[static_cast<size_t>(d)]) *
                               kv.values[static_cast<size_t>(r * hd + d)];
              ref += p;
              mag += std::fabs(p);
            }
            EXPECT_NEAR(scores[static_cast<size_t>(r)], 0.5 * ref,
                        2.0 * kEps * static_cast<double>(hd + 2) * mag);
            // The same row loaded alone (ld 8) scores the same bits.
            std::vector<float> one_kt(static_cast<size_t>(8 * hd));
            kv_load_t_fn(t, isa)(kv.bytes.data() + kv.stride * static_cast<uint64_t>(r), kv.stride,
                                 1, hd, one_kt.data());
            float one = 0.0f;
            kv_scores_t_fn(isa)(q.data(), one_kt.data(), 8, 1, hd, 0.5f, &one);
            EXPECT_EQ(one, scores[static_cast<size_t>(r)]) << "r=" << r << " " << isa_name(isa);
          }
        }
      }
    }
  }
}

TEST(SimdAttention, ExpSumCloseToStdExp) {
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> dist(-100.0f, 0.0f);
  for (int64_t n : {1, 7, 8, 9, 64, 203}) {
    std::vector<float> x(static_cast<size_t>(n));
    for (float& v : x) v = dist(rng);
    x[0] = 1.5f;  // the max
    for (Isa isa : supported_isas()) {
      std::vector<float> got = x;
      const float sum = exp_sum_fn(isa)(got.data(), n, 1.5f);
      double ref_sum = 0.0;
      for (int64_t i = 0; i < n; ++i) {
        // exp of the fp32 difference the kernels form (its rounding is not the exp's error).
        const float diff = x[static_cast<size_t>(i)] - 1.5f;
        const double ref = std::exp(static_cast<double>(diff));
        ref_sum += ref;
        // A few ulp relative, plus an absolute floor for results near the clamp (~1e-38).
        EXPECT_NEAR(got[static_cast<size_t>(i)], ref, 4.0 * kEps * ref + 1e-37)
            << "n=" << n << " i=" << i << " isa=" << isa_name(isa);
      }
      EXPECT_NEAR(sum, ref_sum, 2.0 * kEps * static_cast<double>(n + 4) * ref_sum) << isa_name(isa);
    }
  }
}

TEST(SimdActivation, SiluMulCloseToReferenceAndSplitInvariant) {
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> dist(-30.0f, 30.0f);
  for (int64_t n : {1, 5, 8, 13, 64, 203}) {
    std::vector<float> g(static_cast<size_t>(n)), u(g.size());
    for (size_t i = 0; i < g.size(); ++i) {
      g[i] = dist(rng);
      u[i] = dist(rng);
    }
    g[0] = n > 1 ? -120.0f : 0.0f;  // exp(-g) past the float range: SiLU is -0
    for (Isa isa : supported_isas()) {
      std::vector<float> y(g.size());
      silu_mul_fn(isa)(g.data(), u.data(), n, y.data());
      for (size_t i = 0; i < g.size(); ++i) {
        const double gd = g[i];
        const double ref = gd / (1.0 + std::exp(-gd)) * u[i];
        EXPECT_NEAR(y[i], ref, 8.0 * kEps * std::fabs(ref) + 1e-30)
            << "n=" << n << " i=" << i << " g=" << g[i] << " isa=" << isa_name(isa);
      }
      // Any split of the row gives the same bits (here: element by element, and in place).
      std::vector<float> pieces = g;
      for (int64_t i = 0; i < n; ++i) {
        silu_mul_fn(isa)(pieces.data() + i, u.data() + i, 1, pieces.data() + i);
      }
      EXPECT_EQ(pieces, y) << "n=" << n << " isa=" << isa_name(isa);
    }
  }
}

TEST(SimdAttention, UnsupportedKvTypeHasNoKernel) {
  for (Isa isa : supported_isas()) {
    EXPECT_EQ(kv_axpy_fn(GgmlType::Q8_0, isa), nullptr);
    EXPECT_EQ(kv_axpy_fn(GgmlType::Q4_0, isa), nullptr);
    EXPECT_EQ(kv_load_fn(GgmlType::Q8_0, isa), nullptr);
    EXPECT_EQ(kv_load_t_fn(GgmlType::Q4_K, isa), nullptr);
    EXPECT_NE(kv_scores_t_fn(isa), nullptr);
    EXPECT_NE(exp_sum_fn(isa), nullptr);
  }
}

}  // namespace
}  // namespace dari::simd
