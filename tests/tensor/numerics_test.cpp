// Round-trip error and dot-product accuracy of every type on seeded Gaussian data.
//
// Error bounds are ratios to the data RMS (sigma = 1 here), set per type from its number of
// bits with about 1.5-2x headroom over the measured values (recorded in the test log).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "dari/tensor/blocks.h"
#include "dari/tensor/dtype.h"
#include "tensor/test_util.h"

namespace dari {
namespace {

using test::dequantize;
using test::error_stats;
using test::gaussian;
using test::quantize;

struct TypeCase {
  GgmlType type;
  double max_nmse;       // sum (x - x')^2 / sum x^2
  double max_abs_ratio;  // max |x - x'| / rms(x)
};

// Bounds: F16 ~ 2^-11 relative, BF16 ~ 2^-8; block types from their level count.
const TypeCase kCases[] = {
    {GgmlType::F32, 0.0, 0.0},
    {GgmlType::F16, 1e-7, 4e-3},
    {GgmlType::BF16, 6e-6, 3e-2},
    {GgmlType::Q8_0, 4.5e-5, 3e-2},
    {GgmlType::Q8_1, 4.5e-5, 3e-2},
    {GgmlType::Q8_K, 8e-5, 3e-2},
    {GgmlType::Q5_0, 3e-3, 0.22},
    {GgmlType::Q5_1, 2.2e-3, 0.18},
    {GgmlType::Q4_0, 1.1e-2, 0.45},
    {GgmlType::Q4_1, 9e-3, 0.35},
    {GgmlType::Q6_K, 4.5e-4, 0.1},
    {GgmlType::Q5_K, 2e-3, 0.22},
    {GgmlType::Q4_K, 7.5e-3, 0.45},
    {GgmlType::Q3_K, 3.2e-2, 1.0},
    {GgmlType::Q2_K, 0.1, 2.0},
};

void PrintTo(const TypeCase& c, std::ostream* os) { *os << ggml_type_name(c.type); }

std::string case_name(const testing::TestParamInfo<TypeCase>& info) {
  return std::string(ggml_type_name(info.param.type));
}

class TypeNumerics : public testing::TestWithParam<TypeCase> {};

constexpr size_t kN = 256 * 64;  // 16384 elements: 512 blocks of 32, 64 super-blocks

TEST_P(TypeNumerics, RoundTripError) {
  const TypeCase& c = GetParam();
  const auto x = gaussian(kN, 1234);
  const auto q = quantize(c.type, x);
  ASSERT_EQ(q.size(), kN / type_traits(c.type)->block_elems * type_traits(c.type)->block_bytes);
  const auto y = dequantize(c.type, q, kN);
  const auto s = error_stats(x, y);
  std::printf("[ stats    ] %-5s nmse %.3e  max_abs/rms %.3e\n", ggml_type_name(c.type).data(),
              s.nmse, s.max_abs / s.rms);
  RecordProperty("nmse", std::to_string(s.nmse));
  EXPECT_LE(s.nmse, c.max_nmse);
  EXPECT_LE(s.max_abs / s.rms, c.max_abs_ratio);
  // Quantisation must actually be lossy where it should be (catches a type wired to F32).
  if (c.type != GgmlType::F32) {
    EXPECT_GT(s.nmse, 0.0);
  }
  // Dequantise -> quantise -> dequantise is stable to within one more round trip's error.
  const auto y2 = dequantize(c.type, quantize(c.type, y), kN);
  EXPECT_LE(error_stats(y, y2).nmse, c.max_nmse);
}

TEST_P(TypeNumerics, ZerosAndScaledData) {
  const TypeCase& c = GetParam();
  const std::vector<float> zeros(kN, 0.0f);
  for (float v : dequantize(c.type, quantize(c.type, zeros), kN)) ASSERT_EQ(v, 0.0f);
  // The relative error bound holds at other magnitudes too (fp16 scales: 1e-3 .. 1e2).
  for (float sigma : {1e-3f, 1e2f}) {
    const auto x = gaussian(kN, 99, sigma);
    const auto s = error_stats(x, dequantize(c.type, quantize(c.type, x), kN));
    EXPECT_LE(s.nmse, c.max_nmse * 1.2) << "sigma " << sigma;
  }
  // All-positive data with an offset (exercises the mins of the affine types).
  auto x = gaussian(kN, 5);
  for (auto& v : x) v = std::fabs(v) + 3.0f;
  const auto s = error_stats(x, dequantize(c.type, quantize(c.type, x), kN));
  EXPECT_LE(s.max_abs, c.max_abs_ratio * 4.0 + 1e-6);
}

// |a . b| summed elementwise in double.
double abs_dot(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += std::fabs(static_cast<double>(a[i]) * b[i]);
  return s;
}
double exact_dot(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += static_cast<double>(a[i]) * b[i];
  return s;
}

// The Q4_1/Q5_1 dots apply the min through Q8_1's stored s = fp16(d * sum q), not through the
// sum of the dequantised y; this is the exact difference that makes (per block)
// sum_b m_b * (s_b - sum(y_b)), so the reference can model the kernel precisely.
double q8_1_min_correction(GgmlType xt, const std::vector<uint8_t>& xq,
                           const std::vector<uint8_t>& yq, const std::vector<float>& yd) {
  if (xt != GgmlType::Q4_1 && xt != GgmlType::Q5_1) return 0.0;
  const size_t xbytes = type_traits(xt)->block_bytes;
  double corr = 0;
  for (size_t i = 0; i < yq.size() / sizeof(BlockQ8_1); ++i) {
    uint16_t m = 0;
    uint16_t s = 0;
    std::memcpy(&m, xq.data() + i * xbytes + 2, 2);  // Q4_1/Q5_1: m follows d
    std::memcpy(&s, yq.data() + i * sizeof(BlockQ8_1) + offsetof(BlockQ8_1, s), 2);
    double ysum = 0;
    for (size_t j = 0; j < 32; ++j) ysum += yd[32 * i + j];
    corr += static_cast<double>(fp16_to_fp32(m)) * (static_cast<double>(fp16_to_fp32(s)) - ysum);
  }
  return corr;
}

// Dot products: every type with a vec_dot (not the activation-only Q8_1 / Q8_K).
class TypeDot : public testing::TestWithParam<TypeCase> {};

TEST_P(TypeDot, VecDot) {
  const TypeCase& c = GetParam();
  const TypeTraits* tr = type_traits(c.type);
  ASSERT_NE(tr->vec_dot, nullptr);
  for (size_t n : {static_cast<size_t>(tr->block_elems == 1 ? 7 : tr->block_elems), kN}) {
    const auto x = gaussian(n, 42);
    const auto yf = gaussian(n, 43);
    const auto xq = quantize(c.type, x);
    const auto yq = quantize(tr->vec_dot_type, yf);
    const auto xd = dequantize(c.type, xq, n);
    const auto yd = dequantize(tr->vec_dot_type, yq, n);

    auto got = vec_dot_row(c.type, xq.data(), yq.data(), static_cast<int64_t>(n));
    ASSERT_TRUE(got.ok()) << got.message();

    // (1) Against the double dot of the dequantised operands: the kernel's integer sums are
    // exact, so only fp32 rounding remains: a few eps per element (scale products, mins)
    // plus eps per block for the float accumulation.
    const double eps = std::ldexp(1.0, -23);
    double amax = 0;
    for (float v : xd) amax = std::max(amax, static_cast<double>(std::fabs(v)));
    double ysum = 0;
    for (float v : yd) ysum += std::fabs(v);
    const double blocks = static_cast<double>(n / tr->block_elems);
    double tol1 = 0;
    if (tr->block_elems == 1) {
      // Float types: exact products summed in double, then one rounding to float.
      tol1 = eps * std::fabs(exact_dot(xd, yd)) + static_cast<double>(n) * std::ldexp(1.0, -52) * abs_dot(xd, yd);
    } else {
      tol1 = (blocks + 16) * eps * abs_dot(xd, yd) + 8 * eps * amax * ysum;
    }
    const double model = exact_dot(xd, yd) + q8_1_min_correction(c.type, xq, yq, yd);
    EXPECT_NEAR(*got, model, tol1) << "n=" << n;

    // (2) Against the float data: quantisation error of both operands, 6 sigma.
    const auto ex = error_stats(x, xd);
    const auto ey = error_stats(yf, yd);
    const double tol2 = 6.0 * std::sqrt(static_cast<double>(n)) * (ex.rmse * ey.rms + ex.rms * ey.rmse) + 1e-4;
    EXPECT_NEAR(*got, exact_dot(x, yf), tol2) << "n=" << n;
    if (n == kN) {
      std::printf("[ stats    ] %-5s dot err vs dequant %.2e (tol %.2e), vs float %.2e (tol %.2e)\n",
                  ggml_type_name(c.type).data(), std::fabs(*got - model), tol1,
                  std::fabs(*got - exact_dot(x, yf)), tol2);
    }

    // vec_dot_row_f32 quantises y itself and must agree exactly.
    auto got_f32 = vec_dot_row_f32(c.type, xq.data(), yf.data(), static_cast<int64_t>(n));
    ASSERT_TRUE(got_f32.ok()) << got_f32.message();
    EXPECT_EQ(*got_f32, *got);
  }
}


// Offsets of the fp16 scale fields in one block (random bytes there could be NaN/Inf).
std::vector<size_t> half_fields(GgmlType t) {
  switch (t) {
    case GgmlType::Q4_0: return {offsetof(BlockQ4_0, d)};
    case GgmlType::Q4_1: return {offsetof(BlockQ4_1, d), offsetof(BlockQ4_1, m)};
    case GgmlType::Q5_0: return {offsetof(BlockQ5_0, d)};
    case GgmlType::Q5_1: return {offsetof(BlockQ5_1, d), offsetof(BlockQ5_1, m)};
    case GgmlType::Q8_0: return {offsetof(BlockQ8_0, d)};
    case GgmlType::Q2_K: return {offsetof(BlockQ2_K, d), offsetof(BlockQ2_K, dmin)};
    case GgmlType::Q3_K: return {offsetof(BlockQ3_K, d)};
    case GgmlType::Q4_K: return {offsetof(BlockQ4_K, d), offsetof(BlockQ4_K, dmin)};
    case GgmlType::Q5_K: return {offsetof(BlockQ5_K, d), offsetof(BlockQ5_K, dmin)};
    case GgmlType::Q6_K: return {offsetof(BlockQ6_K, d)};
    default: return {};
  }
}

// Arbitrary block contents (every scale, min and quant bit pattern, including ones the
// quantisers never produce, e.g. Q6_K scale -128) must give the same dot product through
// vec_dot as through to_float: this pins the dot kernels to the dequantisers' layout.
class BlockDot : public testing::TestWithParam<TypeCase> {};

TEST_P(BlockDot, VecDotMatchesDequantOnRandomBlocks) {
  const TypeCase& c = GetParam();
  const TypeTraits* tr = type_traits(c.type);
  ASSERT_NE(tr->vec_dot, nullptr);
  ASSERT_GT(tr->block_elems, 1u);
  const size_t n = 4096;
  std::mt19937 rng(2024);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_real_distribution<float> scale(-1.0f, 1.0f);
  std::vector<uint8_t> xq(*row_bytes(c.type, static_cast<int64_t>(n)));
  for (auto& b : xq) b = static_cast<uint8_t>(byte(rng));
  for (size_t blk = 0; blk < xq.size() / tr->block_bytes; ++blk) {
    for (size_t off : half_fields(c.type)) {
      const uint16_t h = fp32_to_fp16(scale(rng));
      std::memcpy(xq.data() + blk * tr->block_bytes + off, &h, 2);
    }
  }
  const auto yq = quantize(tr->vec_dot_type, gaussian(n, 8));
  const auto xd = dequantize(c.type, xq, n);
  const auto yd = dequantize(tr->vec_dot_type, yq, n);
  auto got = vec_dot_row(c.type, xq.data(), yq.data(), static_cast<int64_t>(n));
  ASSERT_TRUE(got.ok());
  const double eps = std::ldexp(1.0, -23);
  double amax = 0;
  for (float v : xd) amax = std::max(amax, static_cast<double>(std::fabs(v)));
  double ysum = 0;
  for (float v : yd) ysum += std::fabs(v);
  const double blocks = static_cast<double>(n / tr->block_elems);
  const double tol = (blocks + 16) * eps * abs_dot(xd, yd) + 8 * eps * amax * ysum;
  EXPECT_NEAR(*got, exact_dot(xd, yd) + q8_1_min_correction(c.type, xq, yq, yd), tol);
}

std::vector<TypeCase> cases_where(bool (*keep)(const TypeTraits&)) {
  std::vector<TypeCase> out;
  for (const TypeCase& c : kCases) {
    if (keep(*type_traits(c.type))) out.push_back(c);
  }
  return out;
}

INSTANTIATE_TEST_SUITE_P(AllTypes, TypeNumerics, testing::ValuesIn(kCases), case_name);
INSTANTIATE_TEST_SUITE_P(
    WeightTypes, TypeDot,
    testing::ValuesIn(cases_where([](const TypeTraits& tr) { return tr.vec_dot != nullptr; })),
    case_name);
INSTANTIATE_TEST_SUITE_P(BlockTypes, BlockDot,
                         testing::ValuesIn(cases_where([](const TypeTraits& tr) {
                           return tr.vec_dot != nullptr && tr.block_elems > 1;
                         })),
                         case_name);

}  // namespace
}  // namespace dari
