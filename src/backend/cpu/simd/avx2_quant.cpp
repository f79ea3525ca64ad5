// AVX2 + FMA + F16C activation converters: F32 -> Q8_0, Q8_K, F16, BF16, all bit-exact with the
// scalar from_float of dari_tensor (same operations in the same order per element: IEEE
// multiplies/divides are exact-rounded, and the rounding modes below reproduce round-half-away
// (Q8_0), round-half-even (Q8_K), RNE half and bfloat16 conversions).
//
// Compiled with -mavx2 -mfma -mf16c; everything lives in an anonymous namespace and calls no
// inline functions shared with baseline files, so no AVX2 code can leak into them (ODR).
#if defined(__x86_64__)
#include <immintrin.h>

#include <cstring>

#include "backend/cpu/simd/simd_internal.h"
#include "dari/tensor/blocks.h"
#include "dari/tensor/dtype.h"

namespace dari::simd::detail {
namespace {

// max(|x|, acc) skipping NaN lanes (max_ps returns its second operand when either is NaN).
inline __m256 abs_ps(__m256 v) {
  return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v);
}

inline float hmax_ps(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}

// Clamp to [lo, hi] with NaN -> lo, like the scalar clampf.
inline __m256 clamp_ps(__m256 v, float lo, float hi) {
  return _mm256_min_ps(_mm256_max_ps(v, _mm256_set1_ps(lo)), _mm256_set1_ps(hi));
}

// Round half away from zero of already clamped values, as the scalar round_away_clamp:
// truncate, then step by one when the dropped fraction is >= 0.5 in magnitude.
inline __m256i round_away_epi32(__m256 c) {
  const __m256 t = _mm256_round_ps(c, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
  const __m256 frac = _mm256_sub_ps(c, t);
  const __m256 up =
      _mm256_and_ps(_mm256_cmp_ps(frac, _mm256_set1_ps(0.5f), _CMP_GE_OQ), _mm256_set1_ps(1.0f));
  const __m256 down =
      _mm256_and_ps(_mm256_cmp_ps(frac, _mm256_set1_ps(-0.5f), _CMP_LE_OQ), _mm256_set1_ps(1.0f));
  return _mm256_cvttps_epi32(_mm256_sub_ps(_mm256_add_ps(t, up), down));
}

// Packs 4 x 8 int32 (each in int8 range) into 32 int8 in element order.
inline __m256i pack_i8(__m256i a, __m256i b, __m256i c, __m256i d) {
  const __m256i ab = _mm256_packs_epi32(a, b);
  const __m256i cd = _mm256_packs_epi32(c, d);
  const __m256i v = _mm256_packs_epi16(ab, cd);
  return _mm256_permutevar8x32_epi32(v, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

inline uint16_t half_bits(float f) {
  // Not _cvtss_sh: clang 14 implements it with a C99 compound literal (-Wpedantic).
  return static_cast<uint16_t>(
      _mm_extract_epi16(_mm_cvtps_ph(_mm_set_ss(f), _MM_FROUND_TO_NEAREST_INT), 0));
}

void quantize_q8_0_avx2(const float* src, void* dst, int64_t n) {
  auto* out = static_cast<uint8_t*>(dst);
  for (int64_t ib = 0; ib < n / kQK8_0; ++ib) {
    const float* x = src + ib * kQK8_0;
    __m256 v[4];
    __m256 amax = _mm256_setzero_ps();
    for (int j = 0; j < 4; ++j) {
      v[j] = _mm256_loadu_ps(x + 8 * j);
      amax = _mm256_max_ps(abs_ps(v[j]), amax);
    }
    const float d = hmax_ps(amax) / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    const __m256 vid = _mm256_set1_ps(id);
    __m256i q[4];
    for (int j = 0; j < 4; ++j) {
      q[j] = round_away_epi32(clamp_ps(_mm256_mul_ps(v[j], vid), -127.0f, 127.0f));
    }
    uint8_t* b = out + ib * static_cast<int64_t>(sizeof(BlockQ8_0));
    const uint16_t dh = half_bits(d);
    std::memcpy(b + offsetof(BlockQ8_0, d), &dh, sizeof dh);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(b + offsetof(BlockQ8_0, qs)),
                        pack_i8(q[0], q[1], q[2], q[3]));
  }
}

// Index of the first element of x[0..256) whose |x| equals amax (amax > 0 is present).
inline int first_abs_equal(const float* x, float amax) {
  const __m256 m = _mm256_set1_ps(amax);
  for (int j = 0; j < kQK_K; j += 8) {
    const int mask =
        _mm256_movemask_ps(_mm256_cmp_ps(abs_ps(_mm256_loadu_ps(x + j)), m, _CMP_EQ_OQ));
    if (mask != 0) return j + __builtin_ctz(static_cast<unsigned>(mask));
  }
  return 0;  // unreachable for amax found in x
}

void quantize_q8_k_block(const float* x, uint8_t* b) {
  __m256 amax = _mm256_setzero_ps();
  for (int j = 0; j < kQK_K; j += 8) amax = _mm256_max_ps(abs_ps(_mm256_loadu_ps(x + j)), amax);
  const float a = hmax_ps(amax);
  alignas(32) int8_t q[kQK_K] = {};
  int16_t bsums[kQK_K / 16] = {};
  float d = 0.0f;
  if (a > 0.0f) {
    const float iscale = -127.0f / x[first_abs_equal(x, a)];
    d = 1.0f / iscale;
    const __m256 vs = _mm256_set1_ps(iscale);
    const __m256i ones = _mm256_set1_epi8(1);
    for (int j = 0; j < kQK_K; j += 32) {
      __m256i qi[4];
      for (int t = 0; t < 4; ++t) {
        const __m256 c =
            clamp_ps(_mm256_mul_ps(_mm256_loadu_ps(x + j + 8 * t), vs), -128.0f, 127.0f);
        qi[t] =
            _mm256_cvttps_epi32(_mm256_round_ps(c, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
      }
      const __m256i packed = pack_i8(qi[0], qi[1], qi[2], qi[3]);
      _mm256_store_si256(reinterpret_cast<__m256i*>(q + j), packed);
      // Sums of 4 consecutive values, 8 of them: two bsums per 32 elements.
      const __m256i s4 =
          _mm256_madd_epi16(_mm256_maddubs_epi16(ones, packed), _mm256_set1_epi16(1));
      alignas(32) int32_t parts[8];
      _mm256_store_si256(reinterpret_cast<__m256i*>(parts), s4);
      bsums[j / 16] = static_cast<int16_t>(parts[0] + parts[1] + parts[2] + parts[3]);
      bsums[j / 16 + 1] = static_cast<int16_t>(parts[4] + parts[5] + parts[6] + parts[7]);
    }
  }
  std::memcpy(b + offsetof(BlockQ8_K, d), &d, sizeof d);
  std::memcpy(b + offsetof(BlockQ8_K, qs), q, sizeof q);
  std::memcpy(b + offsetof(BlockQ8_K, bsums), bsums, sizeof bsums);
}

void quantize_q8_k_avx2(const float* src, void* dst, int64_t n) {
  auto* out = static_cast<uint8_t*>(dst);
  for (int64_t ib = 0; ib < n / kQK_K; ++ib) {
    quantize_q8_k_block(src + ib * kQK_K, out + ib * static_cast<int64_t>(sizeof(BlockQ8_K)));
  }
}

void convert_f16_avx2(const float* src, void* dst, int64_t n) {
  auto* out = static_cast<uint8_t*>(dst);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 2 * i), h);
  }
  for (; i < n; ++i) {
    const uint16_t h = fp32_to_fp16(src[i]);
    std::memcpy(out + 2 * i, &h, sizeof h);
  }
}

// Round-to-nearest-even float -> bfloat16 of 8 values as int32 lanes; NaN -> quiet NaN.
inline __m256i bf16_lanes(__m256 v) {
  const __m256i x = _mm256_castps_si256(v);
  const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(x, 16), _mm256_set1_epi32(1));
  const __m256i rounded =
      _mm256_srli_epi32(_mm256_add_epi32(_mm256_add_epi32(x, _mm256_set1_epi32(0x7fff)), lsb), 16);
  const __m256i quiet = _mm256_or_si256(_mm256_srli_epi32(x, 16), _mm256_set1_epi32(0x40));
  const __m256i is_nan = _mm256_cmpgt_epi32(_mm256_and_si256(x, _mm256_set1_epi32(0x7fffffff)),
                                            _mm256_set1_epi32(0x7f800000));
  return _mm256_blendv_epi8(rounded, quiet, is_nan);
}

void convert_bf16_avx2(const float* src, void* dst, int64_t n) {
  auto* out = static_cast<uint8_t*>(dst);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256i a = bf16_lanes(_mm256_loadu_ps(src + i));
    const __m256i b = bf16_lanes(_mm256_loadu_ps(src + i + 8));
    const __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(a, b), 0xd8);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 2 * i), packed);
  }
  for (; i < n; ++i) {
    const uint16_t h = fp32_to_bf16(src[i]);
    std::memcpy(out + 2 * i, &h, sizeof h);
  }
}

}  // namespace

void fill_avx2_quant(IsaKernels* t) {
  t->quantize[kAQ8_0] = quantize_q8_0_avx2;
  t->quantize[kAQ8_K] = quantize_q8_k_avx2;
  t->quantize[kAF16] = convert_f16_avx2;
  t->quantize[kABF16] = convert_bf16_avx2;
}

}  // namespace dari::simd::detail
#endif  // __x86_64__
