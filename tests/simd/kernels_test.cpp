// dari_simd kernels against the scalar traits of dari_tensor, on every ISA this CPU supports:
// activation conversion bit-exact, dot products within the fp32 reassociation tolerance of
// simd_test_util.h, and ISA selection.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <limits>

#include "simd/simd_test_util.h"

namespace dari::simd {
namespace {

using testing::bytes_of;
using testing::dot_tolerance;
using testing::kWeightTypes;  // NOLINT

// Element counts: 1 super-block, several, non-power-of-two block counts.
const int64_t kLengths[] = {256, 512, 768, 1280, 2816, 4096};

TEST(SimdIsa, GenericAlwaysFirstAndSupported) {
  const std::vector<Isa> isas = supported_isas();
  ASSERT_FALSE(isas.empty());
  EXPECT_EQ(isas.front(), Isa::kGeneric);
  EXPECT_TRUE(isa_supported(active_isa()));
  EXPECT_EQ(active_isa(), isas.back());
  for (Isa isa : isas) std::printf("supported ISA: %s\n", isa_name(isa));
}

TEST(SimdIsa, ForcingSelectsAndClears) {
  const Isa best = supported_isas().back();
  for (Isa isa : supported_isas()) {
    ASSERT_TRUE(set_forced_isa(isa));
    EXPECT_EQ(active_isa(), isa);
  }
  clear_forced_isa();
  EXPECT_EQ(active_isa(), best);
  if (!isa_supported(Isa::kAvx512)) {
    EXPECT_FALSE(set_forced_isa(Isa::kAvx512));
    EXPECT_EQ(active_isa(), best);
  }
  EXPECT_STREQ(isa_name(Isa::kAvx2), "avx2");
}

TEST(SimdIsa, TypeTables) {
  for (GgmlType t : kWeightTypes) {
    EXPECT_TRUE(weight_type_supported(t));
    EXPECT_EQ(activation_type(t), type_traits(t)->vec_dot_type) << testing::type_label(t);
    for (Isa isa : supported_isas()) {
      EXPECT_NE(vec_dot_fn(t, isa), nullptr);
      EXPECT_NE(quantize_row_fn(activation_type(t), isa), nullptr);
    }
  }
  EXPECT_FALSE(weight_type_supported(GgmlType::Q2_K));
  EXPECT_EQ(vec_dot_fn(GgmlType::Q2_K, Isa::kGeneric), nullptr);
  EXPECT_EQ(quantize_row_fn(GgmlType::Q4_0, Isa::kGeneric), nullptr);
}

// Inputs with the edge cases of each rounding rule: exact .5 ties after scaling, a zero block,
// a block whose max-|x| is negative (and repeated with both signs), F16 subnormals and
// overflow, NaN for the float formats (documented as handled).
std::vector<float> quantizer_inputs(int64_t n, bool with_nan) {
  std::mt19937 rng(static_cast<uint32_t>(n));
  std::vector<float> x = testing::random_floats(rng, n, 3.0f);
  for (int j = 0; j < 32; ++j) x[static_cast<size_t>(j)] = 0.0f;  // a zero Q8_0 block
  // Block 1: max 127 so x * (1/d) lands on .5 ties.
  for (int j = 0; j < 32; ++j) x[static_cast<size_t>(32 + j)] = static_cast<float>(j) - 15.5f;
  x[32 + 31] = -127.0f;
  x[32 + 30] = 127.0f;
  x[64] = 1e-6f;     // F16 subnormal
  x[65] = 7e4f;      // F16 overflow
  x[66] = -65519.0f;  // just below the F16 overflow threshold
  x[67] = 1e-30f;
  if (with_nan) x[68] = std::numeric_limits<float>::quiet_NaN();
  return x;
}

TEST(SimdQuantize, BitExactWithScalarOnEveryIsa) {
  const GgmlType acts[] = {GgmlType::F32, GgmlType::F16, GgmlType::BF16, GgmlType::Q8_0,
                           GgmlType::Q8_K};
  for (GgmlType at : acts) {
    const TypeTraits* tr = type_traits(at);
    const bool floats = tr->block_elems == 1;
    for (int64_t n : kLengths) {
      for (int64_t extra : {int64_t{0}, int64_t{13}}) {  // float types: odd tails too
        if (!floats && extra != 0) continue;
        const int64_t len = n + extra;
        const std::vector<float> x = quantizer_inputs(len, floats);
        std::vector<uint8_t> ref(bytes_of(at, len));
        tr->from_float(x.data(), ref.data(), len);
        for (Isa isa : supported_isas()) {
          std::vector<uint8_t> got(ref.size(), 0xcd);
          quantize_row_fn(at, isa)(x.data(), got.data(), len);
          EXPECT_EQ(got, ref) << testing::type_label(at) << " n=" << len << " isa=" << isa_name(isa);
        }
      }
    }
  }
}

void check_dots(GgmlType wt, bool random_bytes) {
  const GgmlType at = activation_type(wt);
  std::mt19937 rng(1234u + static_cast<uint32_t>(wt));
  double worst = 0.0;  // largest |got - ref| / tol, printed for the record
  int exact = 0;
  int total = 0;
  for (int64_t n : kLengths) {
    for (int rep = 0; rep < 3; ++rep) {
      const std::vector<uint8_t> w = random_bytes ? testing::random_bytes_row(wt, rng, n)
                                                  : testing::quantized_row(wt, rng, n, 0.5f);
      const std::vector<uint8_t> a = testing::quantized_row(at, rng, n, 2.0f);
      float ref = 0.0f;
      type_traits(wt)->vec_dot(n, w.data(), a.data(), &ref);
      const double tol = dot_tolerance(wt, n, w, a);
      for (Isa isa : supported_isas()) {
        float got = std::numeric_limits<float>::quiet_NaN();
        vec_dot_fn(wt, isa)(n, w.data(), a.data(), &got);
        EXPECT_NEAR(got, ref, tol) << testing::type_label(wt) << " n=" << n << " isa=" << isa_name(isa)
                                   << (random_bytes ? " random bytes" : " encoded");
        worst = std::max(worst, std::fabs(static_cast<double>(got) - ref) / tol);
        exact += got == ref ? 1 : 0;
        ++total;
      }
    }
  }
  std::printf("%-5s %s: %d/%d bit-exact, worst |err|/tol = %.3g\n", testing::type_label(wt).c_str(),
              random_bytes ? "random bytes" : "encoded", exact, total, worst);
}

TEST(SimdDot, EncodedWeightsMatchScalar) {
  for (GgmlType wt : kWeightTypes) check_dots(wt, false);
}

TEST(SimdDot, RandomBitPatternsMatchScalar) {
  for (GgmlType wt : kWeightTypes) check_dots(wt, true);
}

// Float dots on lengths that are not multiples of 8 or 32 (tails).
TEST(SimdDot, FloatTails) {
  std::mt19937 rng(77);
  for (GgmlType wt : {GgmlType::F32, GgmlType::F16, GgmlType::BF16}) {
    for (int64_t n : {1, 7, 9, 31, 33, 100}) {
      const std::vector<uint8_t> w = testing::quantized_row(wt, rng, n, 1.0f);
      const std::vector<uint8_t> a = testing::quantized_row(wt, rng, n, 1.0f);
      float ref = 0.0f;
      type_traits(wt)->vec_dot(n, w.data(), a.data(), &ref);
      for (Isa isa : supported_isas()) {
        float got = 0.0f;
        vec_dot_fn(wt, isa)(n, w.data(), a.data(), &got);
        EXPECT_NEAR(got, ref, dot_tolerance(wt, n, w, a)) << testing::type_label(wt) << " n=" << n;
      }
    }
  }
}

// A hand-computed value: all-ones Q4_0 block pattern (q = 9 -> w = 1 * d) against Q8_0 x = 2.
TEST(SimdDot, KnownValueQ4_0) {
  BlockQ4_0 w[2];
  BlockQ8_0 x[2];
  for (int b = 0; b < 2; ++b) {
    w[b].d = fp32_to_fp16(0.5f);
    for (uint8_t& q : w[b].qs) q = 0x99;  // both nibbles 9 -> value 1
    x[b].d = fp32_to_fp16(0.25f);
    for (int8_t& q : x[b].qs) q = 2;
  }
  for (Isa isa : supported_isas()) {
    float got = 0.0f;
    vec_dot_fn(GgmlType::Q4_0, isa)(64, w, x, &got);
    EXPECT_FLOAT_EQ(got, 64 * 0.5f * 0.25f * 2.0f) << isa_name(isa);  // = 16
  }
}

}  // namespace
}  // namespace dari::simd

namespace dari::simd {
namespace {

// The AVX-512 VNNI kernels keep the AVX2 per-output order, so they must agree bit for bit.
TEST(SimdIsa, Avx512MatchesAvx2BitForBit) {
  if (!isa_supported(Isa::kAvx512)) GTEST_SKIP() << "CPU (or compiler) lacks AVX-512 F/BW/VL/VNNI";
  std::mt19937 rng(5);
  for (GgmlType wt : kWeightTypes) {
    for (int64_t n : kLengths) {
      const std::vector<uint8_t> w = testing::random_bytes_row(wt, rng, n);
      const std::vector<uint8_t> a = testing::quantized_row(activation_type(wt), rng, n, 1.0f);
      float v2 = 0.0f;
      float v512 = 1.0f;
      vec_dot_fn(wt, Isa::kAvx2)(n, w.data(), a.data(), &v2);
      vec_dot_fn(wt, Isa::kAvx512)(n, w.data(), a.data(), &v512);
      EXPECT_EQ(v2, v512) << testing::type_label(wt) << " n=" << n;
    }
  }
}

}  // namespace
}  // namespace dari::simd
