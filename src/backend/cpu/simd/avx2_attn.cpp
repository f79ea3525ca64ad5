// AVX2 + FMA + F16C attention helpers: scores q . k over runs of KV cache rows, the weighted
// sum of V rows, and a vectorised exp with its sum for the softmax; SwiGLU with the same exp.
//
// Every output is one reduction in a fixed order that depends only on hd (scores) or on n
// (exp sums), never on how rows are batched or split over threads.
// Compiled with -mavx2 -mfma -mf16c; helpers stay in an anonymous namespace (no ODR leaks).
#if defined(__x86_64__)
#include <immintrin.h>

#include <algorithm>
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

// acc += w[t] * row t, kU * 8 columns at a time held in registers across all rows (8 for 64
// or more columns: enough independent chains to keep the FMA units busy). Each element is one
// chain over t in order, whatever kU.
template <GgmlType kT, int kU>
inline int64_t axpy_cols(const float* w, const uint8_t* kv, uint64_t stride, int64_t count,
                         int64_t hd, int64_t d, float* acc) {
  for (; d + 8 * kU <= hd; d += 8 * kU) {
    __m256 a[kU];
    for (int u = 0; u < kU; ++u) a[u] = _mm256_loadu_ps(acc + d + 8 * u);
    for (int64_t t = 0; t < count; ++t) {
      const uint8_t* row = kv + static_cast<uint64_t>(t) * stride;
      const __m256 wv = _mm256_set1_ps(w[t]);
      for (int u = 0; u < kU; ++u) a[u] = _mm256_fmadd_ps(wv, load8<kT>(row, d + 8 * u), a[u]);
    }
    for (int u = 0; u < kU; ++u) _mm256_storeu_ps(acc + d + 8 * u, a[u]);
  }
  return d;
}

template <GgmlType kT>
void kv_axpy(const float* w, const uint8_t* kv, uint64_t stride, int64_t count, int64_t hd,
             float* acc) {
  int64_t d = axpy_cols<kT, 8>(w, kv, stride, count, hd, 0, acc);
  d = axpy_cols<kT, 4>(w, kv, stride, count, hd, d, acc);
  d = axpy_cols<kT, 1>(w, kv, stride, count, hd, d, acc);
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

// Transposes the 8x8 block r[0..7] (rows t, columns d) into columns: out[d] = lane t of r[t].
inline void transpose8(__m256 r[8]) {
  const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
  const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
  const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
  const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
  const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xee);
  const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xee);
  const __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xee);
  const __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xee);
  r[0] = _mm256_permute2f128_ps(u0, u4, 0x20);
  r[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
  r[2] = _mm256_permute2f128_ps(u2, u6, 0x20);
  r[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
  r[4] = _mm256_permute2f128_ps(u0, u4, 0x31);
  r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
  r[6] = _mm256_permute2f128_ps(u2, u6, 0x31);
  r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}

// kt[d * ld + t] = row t [d]: 8 rows x 8 columns per transpose (rows past count are zeros), the
// columns past a multiple of 8 one by one.
template <GgmlType kT>
void kv_load_t(const uint8_t* kv, uint64_t stride, int64_t count, int64_t hd, float* kt) {
  const int64_t ld = kv_t_ld(count);
  for (int64_t t0 = 0; t0 < ld; t0 += 8) {
    const uint8_t* rows[8];
    const int64_t n = std::min<int64_t>(8, count - t0);
    for (int64_t i = 0; i < 8; ++i) {
      rows[i] = i < n ? kv + static_cast<uint64_t>(t0 + i) * stride : nullptr;
    }
    int64_t d = 0;
    for (; d + 8 <= hd; d += 8) {
      __m256 r[8];
      for (int i = 0; i < 8; ++i) {
        r[i] = rows[i] != nullptr ? load8<kT>(rows[i], d) : _mm256_setzero_ps();
      }
      transpose8(r);
      for (int j = 0; j < 8; ++j) _mm256_storeu_ps(kt + (d + j) * ld + t0, r[j]);
    }
    for (; d < hd; ++d) {
      for (int i = 0; i < 8; ++i) {
        kt[d * ld + t0 + i] = rows[i] != nullptr ? load1<kT>(rows[i], d) : 0.0f;
      }
    }
  }
}

// c[g] += q[d] * column d of group g (8 positions), for the kG groups.
template <int kG>
[[gnu::always_inline]] inline void fma_column(__m256* c, const float* q, const float* col,
                                              int64_t ld, int64_t d) {
  const __m256 qd = _mm256_broadcast_ss(q + d);
  for (int g = 0; g < kG; ++g)
    c[g] = _mm256_fmadd_ps(qd, _mm256_loadu_ps(col + d * ld + 8 * g), c[g]);
}

// Scores of kG * 8 positions from column block col: 4 fma chains (d mod 4) per 8 positions, q[d]
// broadcast once for all of them; every index is a compile-time constant after unrolling, so
// the accumulators stay in registers. n: how many of the kG * 8 scores to store.
template <int kG>
[[gnu::always_inline]] inline void scores_block(const float* q, const float* col, int64_t ld,
                                                int64_t hd, __m256 sv, int64_t n, float* out) {
  __m256 c0[kG], c1[kG], c2[kG], c3[kG];
  for (int g = 0; g < kG; ++g) c0[g] = c1[g] = c2[g] = c3[g] = _mm256_setzero_ps();
  int64_t d = 0;
  for (; d + 4 <= hd; d += 4) {
    fma_column<kG>(c0, q, col, ld, d);
    fma_column<kG>(c1, q, col, ld, d + 1);
    fma_column<kG>(c2, q, col, ld, d + 2);
    fma_column<kG>(c3, q, col, ld, d + 3);
  }
  if (d < hd) fma_column<kG>(c0, q, col, ld, d);  // the last hd % 4 columns, chain d mod 4
  if (d + 1 < hd) fma_column<kG>(c1, q, col, ld, d + 1);
  if (d + 2 < hd) fma_column<kG>(c2, q, col, ld, d + 2);
  for (int g = 0; g < kG; ++g) {
    const __m256 s =
        _mm256_mul_ps(_mm256_add_ps(_mm256_add_ps(c0[g], c1[g]), _mm256_add_ps(c2[g], c3[g])), sv);
    const int64_t k = std::min<int64_t>(8, n - 8 * g);
    if (k == 8) {
      _mm256_storeu_ps(out + 8 * g, s);
    } else if (k > 0) {
      alignas(32) float tmp[8];
      _mm256_store_ps(tmp, s);
      std::memcpy(out + 8 * g, tmp, static_cast<size_t>(k) * sizeof(float));
    }
  }
}

void kv_scores_t(const float* q, const float* kt, int64_t ld, int64_t count, int64_t hd,
                 float scale, float* out) {
  const __m256 sv = _mm256_set1_ps(scale);
  int64_t t0 = 0;
  for (; count - t0 > 8; t0 += 16) {
    scores_block<2>(q, kt + t0, ld, hd, sv, count - t0, out + t0);
  }
  if (t0 < count) scores_block<1>(q, kt + t0, ld, hd, sv, count - t0, out + t0);
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
  t->kv_axpy[kKvF32] = kv_axpy<GgmlType::F32>;
  t->kv_axpy[kKvF16] = kv_axpy<GgmlType::F16>;
  t->kv_axpy[kKvBF16] = kv_axpy<GgmlType::BF16>;
  t->kv_load[kKvF32] = kv_load<GgmlType::F32>;
  t->kv_load[kKvF16] = kv_load<GgmlType::F16>;
  t->kv_load[kKvBF16] = kv_load<GgmlType::BF16>;
  t->kv_load_t[kKvF32] = kv_load_t<GgmlType::F32>;
  t->kv_load_t[kKvF16] = kv_load_t<GgmlType::F16>;
  t->kv_load_t[kKvBF16] = kv_load_t<GgmlType::BF16>;
  t->kv_scores_t = kv_scores_t;
  t->exp_sum = exp_sum;
  t->silu_mul = silu_mul;
}

}  // namespace dari::simd::detail
#endif  // __x86_64__
