// Private helpers shared by the reference kernels: unaligned little-endian loads/stores,
// inline half conversions, UB-free rounding, and the kernel entry points the traits table uses.
//
// Thread safety: pure functions. Target byte order: little-endian (as GGUF).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

namespace dari::tensor_detail {

inline uint16_t load_u16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline uint32_t load_u32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline float load_f32(const uint8_t* p) {
  float v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store_u16(uint8_t* p, uint16_t v) { std::memcpy(p, &v, sizeof v); }
inline void store_u32(uint8_t* p, uint32_t v) { std::memcpy(p, &v, sizeof v); }
inline void store_f32(uint8_t* p, float v) { std::memcpy(p, &v, sizeof v); }

inline uint32_t f32_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}
inline float f32_from_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

inline float half_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  const uint32_t mant = h & 0x3ffu;
  if (exp == 0x1f) return f32_from_bits(sign | 0x7f800000u | (mant << 13));  // Inf / NaN
  if (exp == 0) {
    // Zero or subnormal: mant * 2^-24 is exact in float.
    const float v = static_cast<float>(mant) * 5.9604644775390625e-8f;
    return sign ? -v : v;
  }
  return f32_from_bits(sign | ((exp + 112u) << 23) | (mant << 13));
}

// Rounds the integer `mant` right by `shift` bits (1..31), to nearest, ties to even.
inline uint32_t shift_round_even(uint32_t mant, uint32_t shift) {
  const uint32_t r = mant >> shift;
  const uint32_t rem = mant & ((1u << shift) - 1u);
  const uint32_t half = 1u << (shift - 1u);
  return (rem > half || (rem == half && (r & 1u))) ? r + 1u : r;
}

inline uint16_t float_to_half(float f) {
  const uint32_t x = f32_bits(f);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t ax = x & 0x7fffffffu;
  if (ax > 0x7f800000u) {  // NaN: quiet it, keep the top payload bits
    return static_cast<uint16_t>(sign | 0x7e00u | ((ax >> 13) & 0x3ffu));
  }
  if (ax >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // >= 65520 -> Inf
  if (ax >= 0x38800000u) {  // normal half: rebias the exponent (127 - 15 = 112)
    return static_cast<uint16_t>(sign | shift_round_even(ax - 0x38000000u, 13));
  }
  // Subnormal half (or zero): value / 2^-24, rounded. A carry into 0x400 is the smallest normal.
  const uint32_t exp = ax >> 23;
  if (exp < 102) return static_cast<uint16_t>(sign);  // below 2^-25: rounds to zero
  const uint32_t mant = (ax & 0x7fffffu) | 0x800000u;
  return static_cast<uint16_t>(sign | shift_round_even(mant, 126u - exp));
}

inline float bf16_to_float(uint16_t h) { return f32_from_bits(static_cast<uint32_t>(h) << 16); }

inline uint16_t float_to_bf16(float f) {
  const uint32_t x = f32_bits(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x40u);  // quiet NaN
  return static_cast<uint16_t>((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

// Clamps v to [lo, hi] in float space (NaN -> lo) so the int conversions below are never UB.
// Plain comparisons rather than std::fmin/fmax, which are library calls on baseline x86-64.
inline float clampf(float v, float lo, float hi) {
  v = v >= lo ? v : lo;  // false for NaN
  return v <= hi ? v : hi;
}

// Round to nearest, ties to even, clamped to [lo, hi] (|lo|, |hi| < 2^22).
inline int round_even_clamp(float v, int lo, int hi) {
  const float c = clampf(v, static_cast<float>(lo), static_cast<float>(hi));
  // Adding 1.5 * 2^23 leaves the rounded integer in the low mantissa bits (|c| < 2^22).
  const uint32_t bits = f32_bits(c + 12582912.0f);
  return static_cast<int>(bits & 0x7fffffu) - 0x400000;
}

// Round half away from zero (C's roundf), clamped to [lo, hi] (|lo|, |hi| < 2^22).
inline int round_away_clamp(float v, int lo, int hi) {
  const float c = clampf(v, static_cast<float>(lo), static_cast<float>(hi));
  int t = static_cast<int>(c);                   // truncates toward zero
  const float frac = c - static_cast<float>(t);  // exact for |c| < 2^23
  if (frac >= 0.5f) ++t;
  if (frac <= -0.5f) --t;
  return t;
}

// floor(v) clamped to [lo, hi] for 0 <= lo <= hi < 2^22; ggml's "(int)(x + 0.5f)" rounding.
inline int floor_clamp(float v, int lo, int hi) {
  return static_cast<int>(clampf(v, static_cast<float>(lo), static_cast<float>(hi)));  // >= 0: trunc == floor
}

// The 65536 fp16 -> fp32 values, built on first use (thread-safe static init); used by the
// bulk F16 kernels, whose bit-twiddling per element would be branchy.
const float* half_table();

// ---- kernels (n is a multiple of the block size; pointers as in TypeTraits) ----
#define DARI_DECLARE_KERNELS_(name)                              \
  void name##_to_float(const void* src, float* dst, int64_t n);  \
  void name##_from_float(const float* src, void* dst, int64_t n)

DARI_DECLARE_KERNELS_(f32);
DARI_DECLARE_KERNELS_(f16);
DARI_DECLARE_KERNELS_(bf16);
DARI_DECLARE_KERNELS_(q4_0);
DARI_DECLARE_KERNELS_(q4_1);
DARI_DECLARE_KERNELS_(q5_0);
DARI_DECLARE_KERNELS_(q5_1);
DARI_DECLARE_KERNELS_(q8_0);
DARI_DECLARE_KERNELS_(q8_1);
DARI_DECLARE_KERNELS_(q2_k);
DARI_DECLARE_KERNELS_(q3_k);
DARI_DECLARE_KERNELS_(q4_k);
DARI_DECLARE_KERNELS_(q5_k);
DARI_DECLARE_KERNELS_(q6_k);
DARI_DECLARE_KERNELS_(q8_k);
#undef DARI_DECLARE_KERNELS_

void vec_dot_f32_f32(int64_t n, const void* x, const void* y, float* out);
void vec_dot_f16_f16(int64_t n, const void* x, const void* y, float* out);
void vec_dot_bf16_bf16(int64_t n, const void* x, const void* y, float* out);
void vec_dot_q4_0_q8_0(int64_t n, const void* x, const void* y, float* out);
void vec_dot_q4_1_q8_1(int64_t n, const void* x, const void* y, float* out);
void vec_dot_q5_0_q8_0(int64_t n, const void* x, const void* y, float* out);
void vec_dot_q5_1_q8_1(int64_t n, const void* x, const void* y, float* out);
void vec_dot_q8_0_q8_0(int64_t n, const void* x, const void* y, float* out);
void vec_dot_q2_k_q8_k(int64_t n, const void* x, const void* y, float* out);
void vec_dot_q3_k_q8_k(int64_t n, const void* x, const void* y, float* out);
void vec_dot_q4_k_q8_k(int64_t n, const void* x, const void* y, float* out);
void vec_dot_q5_k_q8_k(int64_t n, const void* x, const void* y, float* out);
void vec_dot_q6_k_q8_k(int64_t n, const void* x, const void* y, float* out);

}  // namespace dari::tensor_detail
