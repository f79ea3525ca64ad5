// Small load and reduction helpers shared by the files compiled with AVX2 flags (avx2_*.cpp,
// avx512.cpp). Include only from those files.
//
// Internal linkage on purpose (anonymous namespace): every file keeps its own copy compiled with
// its own flags, so the linker can never hand an AVX2-compiled copy to baseline code (the ODR
// hazard simd_internal.h describes for inline functions).
#pragma once

#if defined(__x86_64__)
#include <immintrin.h>

#include <cstdint>
#include <cstring>

namespace dari::simd::detail {
namespace {

inline __m256i loadu256(const uint8_t* p) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
}
inline __m128i loadu128(const uint8_t* p) {
  return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
}

// Little-endian scalars at any byte address.
inline uint16_t u16_at(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline int32_t i32_at(const uint8_t* p) {
  int32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline int64_t i64_at(const uint8_t* p) {
  int64_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
// An fp16 value at any byte address, as fp32 (F16C).
inline float half_at(const uint8_t* p) {
  return _cvtsh_ss(u16_at(p));
}

// 8 consecutive F32 / F16 / BF16 values at any byte address as fp32, and one value of each.
inline __m256 load8_f32(const uint8_t* p) {
  return _mm256_loadu_ps(reinterpret_cast<const float*>(p));
}
inline __m256 load8_f16(const uint8_t* p) {
  return _mm256_cvtph_ps(loadu128(p));
}
inline __m256 load8_bf16(const uint8_t* p) {
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(loadu128(p)), 16));
}
inline float one_f32(const uint8_t* p) {
  float f;
  std::memcpy(&f, p, sizeof f);
  return f;
}
inline float one_f16(const uint8_t* p) {
  return half_at(p);
}
inline float one_bf16(const uint8_t* p) {
  const uint32_t u = static_cast<uint32_t>(u16_at(p)) << 16;
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

// Sum of the 8 lanes, in a fixed order.
inline float hsum_ps(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
inline int hsum_epi32(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
  return _mm_cvtsi128_si32(s);
}

}  // namespace
}  // namespace dari::simd::detail
#endif  // __x86_64__
