// AVX2 + FMA + F16C attention helpers: scores q . k over runs of KV cache rows, the weighted
// sum of V rows, and a vectorised exp with its sum for the softmax; SwiGLU with the same exp.
//
// Every output is one reduction in a fixed order that depends only on hd (scores) or on n
// (exp sums), never on how rows are batched or split over threads.
// Compiled with -mavx2 -mfma -mf16c; helpers stay in an anonymous namespace (no ODR leaks).
#if defined(__x86_64__)
#include <immintrin.h>

#include <cmath>
#include <cstring>

#include "backend/cpu/simd/simd_internal.h"
#include "dari/tensor/dtype.h"

namespace dari::simd::detail {
namespace {

template <GgmlType kT>
inline __m256 load8(const uint8_t* row, int64_t d) {
  if constexpr (kT == GgmlType::F32) {
    return _mm256_loadu_ps(reinterpret_cast<const float*>(row) + d);
  } else if constexpr (kT == GgmlType::F16) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + 2 * d)));
  } else {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(row + 2 * d));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  }
}

template <GgmlType kT>
inline float load1(const uint8_t* row, int64_t d) {
  if constexpr (kT == GgmlType::F32) {
    float f;
    std::memcpy(&f, row + 4 * d, sizeof f);
    return f;
  } else {
    uint16_t h;
    std::memcpy(&h, row + 2 * d, sizeof h);
    if constexpr (kT == GgmlType::F16) {
      return _cvtsh_ss(h);
    } else {
      const uint32_t u = static_cast<uint32_t>(h) << 16;
      float f;
      std::memcpy(&f, &u, sizeof f);
      return f;
    }
  }
}

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Two accumulators over 8-element chunks (even / odd), summed, then the scalar tail.
template <GgmlType kT>
void kv_dot(const float* q, const uint8_t* kv, uint64_t stride, int64_t count, int64_t hd,
            float scale, float* out) {
  for (int64_t t = 0; t < count; ++t) {
    const uint8_t* row = kv + static_cast<uint64_t>(t) * stride;
    __m256 a0 = _mm256_setzero_ps();
    __m256 a1 = _mm256_setzero_ps();
    int64_t d = 0;
    for (; d + 16 <= hd; d += 16) {
      a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + d), load8<kT>(row, d), a0);
      a1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + d + 8), load8<kT>(row, d + 8), a1);
    }
    if (d + 8 <= hd) {
      a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + d), load8<kT>(row, d), a0);
      d += 8;
    }
    float dot = hsum(_mm256_add_ps(a0, a1));
    for (; d < hd; ++d) dot = std::fma(q[d], load1<kT>(row, d), dot);  // one rounding, any kT
    out[t] = dot * scale;
  }
}

// acc += w[t] * row t, 32 columns at a time held in registers across all rows.
template <GgmlType kT>
void kv_axpy(const float* w, const uint8_t* kv, uint64_t stride, int64_t count, int64_t hd,
             float* acc) {
  int64_t d = 0;
  for (; d + 32 <= hd; d += 32) {
    __m256 a[4];
    for (int u = 0; u < 4; ++u) a[u] = _mm256_loadu_ps(acc + d + 8 * u);
    for (int64_t t = 0; t < count; ++t) {
      const uint8_t* row = kv + static_cast<uint64_t>(t) * stride;
      const __m256 wv = _mm256_set1_ps(w[t]);
      for (int u = 0; u < 4; ++u) a[u] = _mm256_fmadd_ps(wv, load8<kT>(row, d + 8 * u), a[u]);
    }
    for (int u = 0; u < 4; ++u) _mm256_storeu_ps(acc + d + 8 * u, a[u]);
  }
  for (; d + 8 <= hd; d += 8) {
    __m256 a = _mm256_loadu_ps(acc + d);
    for (int64_t t = 0; t < count; ++t) {
      a = _mm256_fmadd_ps(_mm256_set1_ps(w[t]),
                          load8<kT>(kv + static_cast<uint64_t>(t) * stride, d), a);
    }
    _mm256_storeu_ps(acc + d, a);
  }
  for (; d < hd; ++d) {
    for (int64_t t = 0; t < count; ++t)
      acc[d] = std::fma(w[t], load1<kT>(kv + static_cast<uint64_t>(t) * stride, d), acc[d]);
  }
}

// out[t * hd + d] = row t [d], 8 columns per conversion, the tail one by one.
template <GgmlType kT>
void kv_load(const uint8_t* kv, uint64_t stride, int64_t count, int64_t hd, float* out) {
  for (int64_t t = 0; t < count; ++t, out += hd) {
    const uint8_t* row = kv + static_cast<uint64_t>(t) * stride;
    int64_t d = 0;
    for (; d + 8 <= hd; d += 8) _mm256_storeu_ps(out + d, load8<kT>(row, d));
    for (; d < hd; ++d) out[d] = load1<kT>(row, d);
  }
}

// exp(x) for x <= ~88: x = n ln2 + r with |r| <= ln2 / 2 (ln2 split in two for an exact
// n ln2), e^r by a degree-7 Taylor-like polynomial (Cephes expf coefficients), times 2^n built
// in the exponent field. Inputs below -87.3 are clamped there (result ~1e-38, not 0).
inline __m256 exp_ps(__m256 x) {
  x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.33654f)), _mm256_set1_ps(88.37626f));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  const __m256i e =
      _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

// 8 lanes of partial sums; the tail goes through the same exp with the unused lanes zeroed.
float exp_sum(float* x, int64_t n, float max) {
  const __m256 m = _mm256_set1_ps(max);
  __m256 acc = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 e = exp_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), m));
    _mm256_storeu_ps(x + i, e);
    acc = _mm256_add_ps(acc, e);
  }
  if (i < n) {
    alignas(32) float tmp[8] = {};
    const int64_t rest = n - i;
    std::memcpy(tmp, x + i, static_cast<size_t>(rest) * sizeof(float));
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256 valid =
        _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(rest)), lane));
    const __m256 e = _mm256_and_ps(exp_ps(_mm256_sub_ps(_mm256_load_ps(tmp), m)), valid);
    _mm256_store_ps(tmp, e);
    std::memcpy(x + i, tmp, static_cast<size_t>(rest) * sizeof(float));
    acc = _mm256_add_ps(acc, e);
  }
  return hsum(acc);
}

// SwiGLU, 8 lanes at a time; the tail runs the same vector code on a zero-padded copy, so an
// element's result does not depend on where a row is split.
inline __m256 silu_mul8(__m256 g, __m256 u) {
  const __m256 e = exp_ps(_mm256_xor_ps(g, _mm256_set1_ps(-0.0f)));
  return _mm256_mul_ps(_mm256_div_ps(g, _mm256_add_ps(_mm256_set1_ps(1.0f), e)), u);
}

void silu_mul(const float* g, const float* u, int64_t n, float* y) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm256_storeu_ps(y + i, silu_mul8(_mm256_loadu_ps(g + i), _mm256_loadu_ps(u + i)));
  }
  if (i < n) {
    alignas(32) float tg[8] = {}, tu[8] = {};
    const size_t rest = static_cast<size_t>(n - i) * sizeof(float);
    std::memcpy(tg, g + i, rest);
    std::memcpy(tu, u + i, rest);
    _mm256_store_ps(tg, silu_mul8(_mm256_load_ps(tg), _mm256_load_ps(tu)));
    std::memcpy(y + i, tg, rest);
  }
}

}  // namespace

void fill_avx2_attn(IsaKernels* t) {
  t->kv_dot[kKvF32] = kv_dot<GgmlType::F32>;
  t->kv_dot[kKvF16] = kv_dot<GgmlType::F16>;
  t->kv_dot[kKvBF16] = kv_dot<GgmlType::BF16>;
  t->kv_axpy[kKvF32] = kv_axpy<GgmlType::F32>;
  t->kv_axpy[kKvF16] = kv_axpy<GgmlType::F16>;
  t->kv_axpy[kKvBF16] = kv_axpy<GgmlType::BF16>;
  t->kv_load[kKvF32] = kv_load<GgmlType::F32>;
  t->kv_load[kKvF16] = kv_load<GgmlType::F16>;
  t->kv_load[kKvBF16] = kv_load<GgmlType::BF16>;
  t->exp_sum = exp_sum;
  t->silu_mul = silu_mul;
}

}  // namespace dari::simd::detail
#endif  // __x86_64__
