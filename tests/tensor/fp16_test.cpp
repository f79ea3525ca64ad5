// Scalar half / bfloat16 conversions: exhaustive round trips, special values, and rounding
// checked against an independent nearest-value search.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>

#include "dari/tensor/dtype.h"

namespace dari {
namespace {

uint32_t bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
float from_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// Reference rounding: among the positive finite codes [0, max_code] of a format (monotone in
// value), find the nearest to |f|, ties to the even code; beyond the largest finite value
// by at least half an ulp -> Inf (max_code + 1).
template <class Decode>
uint16_t reference_round(float f, uint16_t max_code, Decode decode) {
  const double a = std::fabs(static_cast<double>(f));
  const uint16_t sign = std::signbit(f) ? 0x8000 : 0;
  uint32_t lo = 0, hi = max_code;
  while (lo < hi) {  // largest code with value <= a
    const uint32_t mid = (lo + hi + 1) / 2;
    if (decode(static_cast<uint16_t>(mid)) <= a) lo = mid; else hi = mid - 1;
  }
  const double v0 = decode(static_cast<uint16_t>(lo));
  const double v1 = lo < max_code ? decode(static_cast<uint16_t>(lo + 1))
                                  : 2 * v0 - decode(static_cast<uint16_t>(lo - 1));  // next ulp
  uint32_t code = lo;
  if (a - v0 > v1 - a || (a - v0 == v1 - a && (lo & 1))) code = lo + 1;
  return static_cast<uint16_t>(sign | code);
}

double half_value(uint16_t h) { return static_cast<double>(fp16_to_fp32(h)); }
double bf16_value(uint16_t h) { return static_cast<double>(bf16_to_fp32(h)); }

TEST(Fp16, KnownValues) {
  EXPECT_EQ(fp16_to_fp32(0x3C00), 1.0f);
  EXPECT_EQ(fp16_to_fp32(0xC000), -2.0f);
  EXPECT_EQ(fp16_to_fp32(0x7BFF), 65504.0f);
  EXPECT_EQ(fp16_to_fp32(0x0400), std::ldexp(1.0f, -14));  // smallest normal
  EXPECT_EQ(fp16_to_fp32(0x0001), std::ldexp(1.0f, -24));  // smallest subnormal
  EXPECT_EQ(fp16_to_fp32(0x03FF), std::ldexp(1023.0f, -24));
  EXPECT_EQ(bits(fp16_to_fp32(0x8000)), 0x80000000u);       // -0
  EXPECT_EQ(fp16_to_fp32(0x7C00), std::numeric_limits<float>::infinity());
  EXPECT_EQ(fp16_to_fp32(0xFC00), -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(fp16_to_fp32(0x7E00)));
  EXPECT_TRUE(std::isnan(fp16_to_fp32(0x7C01)));  // signalling NaN stays NaN

  EXPECT_EQ(fp32_to_fp16(1.0f), 0x3C00);
  EXPECT_EQ(fp32_to_fp16(-0.0f), 0x8000);
  EXPECT_EQ(fp32_to_fp16(65504.0f), 0x7BFF);
  EXPECT_EQ(fp32_to_fp16(65519.99f), 0x7BFF);  // below the halfway point to 65536
  EXPECT_EQ(fp32_to_fp16(65520.0f), 0x7C00);   // tie rounds to even -> Inf
  EXPECT_EQ(fp32_to_fp16(1e10f), 0x7C00);
  EXPECT_EQ(fp32_to_fp16(-std::numeric_limits<float>::infinity()), 0xFC00);
  EXPECT_EQ(fp32_to_fp16(std::ldexp(1.0f, -24)), 0x0001);
  EXPECT_EQ(fp32_to_fp16(std::ldexp(1.0f, -25)), 0x0000);         // tie -> even (zero)
  EXPECT_EQ(fp32_to_fp16(std::ldexp(1.5f, -25)), 0x0001);         // above the tie
  EXPECT_EQ(fp32_to_fp16(std::ldexp(3.0f, -25)), 0x0002);         // 1.5 ulp: tie -> even 2
  EXPECT_EQ(fp32_to_fp16(std::ldexp(1.0f, -26)), 0x0000);
  EXPECT_EQ(fp32_to_fp16(std::ldexp(2047.0f, -25)), 0x0400);      // rounds up into normal
  EXPECT_EQ(fp32_to_fp16(1.0f + std::ldexp(1.0f, -11)), 0x3C00);  // tie -> even
  EXPECT_EQ(fp32_to_fp16(1.0f + std::ldexp(3.0f, -11)), 0x3C02);  // tie -> even (up)
  EXPECT_EQ(fp32_to_fp16(std::numeric_limits<float>::denorm_min()), 0x0000);
  const uint16_t qnan = fp32_to_fp16(std::numeric_limits<float>::quiet_NaN());
  EXPECT_EQ(qnan & 0x7C00, 0x7C00);
  EXPECT_NE(qnan & 0x03FF, 0);
  EXPECT_NE(fp32_to_fp16(from_bits(0x7F800001u)) & 0x03FF, 0);  // tiny payload stays NaN
  EXPECT_EQ(fp32_to_fp16(from_bits(0xFFC00000u)) & 0x8000, 0x8000);  // sign kept
}

TEST(Fp16, ExhaustiveRoundTrip) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = fp16_to_fp32(static_cast<uint16_t>(h));
    if (std::isnan(f)) {
      EXPECT_EQ(fp32_to_fp16(f) & 0x7C00, 0x7C00) << h;
      EXPECT_NE(fp32_to_fp16(f) & 0x03FF, 0) << h;
      continue;
    }
    ASSERT_EQ(fp32_to_fp16(f), h) << "half 0x" << std::hex << h;
  }
}

TEST(Fp16, RandomFloatsMatchReferenceRounding) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<uint32_t> dist;
  int checked = 0;
  for (int i = 0; i < 200000; ++i) {
    // Exponents around the half range (2^-26 .. 2^17), random mantissa and sign.
    const uint32_t e = 101 + dist(rng) % 43;
    const float f = from_bits((dist(rng) & 0x807FFFFFu) | (e << 23));
    ASSERT_EQ(fp32_to_fp16(f), reference_round(f, 0x7BFF, half_value)) << f;
    ++checked;
  }
  EXPECT_EQ(checked, 200000);
}

TEST(Bf16, KnownValues) {
  EXPECT_EQ(bf16_to_fp32(0x3F80), 1.0f);
  EXPECT_EQ(bf16_to_fp32(0xC040), -3.0f);
  EXPECT_EQ(bf16_to_fp32(0x0001), std::ldexp(1.0f, -133));  // subnormal kept
  EXPECT_EQ(fp32_to_bf16(1.0f), 0x3F80);
  EXPECT_EQ(fp32_to_bf16(from_bits(0x3F808000u)), 0x3F80);  // tie -> even (down)
  EXPECT_EQ(fp32_to_bf16(from_bits(0x3F818000u)), 0x3F82);  // tie -> even (up)
  EXPECT_EQ(fp32_to_bf16(from_bits(0x3F808001u)), 0x3F81);
  EXPECT_EQ(fp32_to_bf16(std::numeric_limits<float>::max()), 0x7F80);  // overflow -> Inf
  EXPECT_EQ(fp32_to_bf16(-std::numeric_limits<float>::infinity()), 0xFF80);
  EXPECT_EQ(fp32_to_bf16(from_bits(0x00010000u)), 0x0001);  // subnormal
  EXPECT_EQ(fp32_to_bf16(-0.0f), 0x8000);
  const uint16_t nan = fp32_to_bf16(from_bits(0x7F800001u));  // payload only in the low bits
  EXPECT_EQ(nan & 0x7F80, 0x7F80);
  EXPECT_NE(nan & 0x007F, 0);
  EXPECT_TRUE(std::isnan(bf16_to_fp32(nan)));
}

TEST(Bf16, ExhaustiveRoundTripAndRandomRounding) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = bf16_to_fp32(static_cast<uint16_t>(h));
    if (std::isnan(f)) continue;
    ASSERT_EQ(fp32_to_bf16(f), h);
  }
  std::mt19937 rng(11);
  std::uniform_int_distribution<uint32_t> dist;
  for (int i = 0; i < 200000; ++i) {
    const float f = from_bits(dist(rng));
    if (std::isnan(f) || std::isinf(f)) continue;
    ASSERT_EQ(fp32_to_bf16(f), reference_round(f, 0x7F7F, bf16_value)) << f;
  }
}

}  // namespace
}  // namespace dari
