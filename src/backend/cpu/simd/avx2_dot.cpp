// AVX2 + FMA + F16C dot products and register tiles.
//
// Q4_0 / Q8_0 x Q8_0: per block, int8 products through _mm256_maddubs_epi16 (Q4_0: unsigned
// nibbles times x, minus 8 * sum(x); Q8_0: the sign trick, |w| as unsigned and the sign moved
// onto the activation), pair sums via _mm256_madd_epi16, then one
// FMA of the block's integer sums by dw * dx into 8 fp32 lanes. The tile kernel computes up to
// 4 weight rows x 4 activation rows per pass so each loaded block serves several outputs; the
// single dot is the 1x1 tile, so every output sees the same operations in the same order.
// Q4_K / Q5_K / Q6_K x Q8_K: exact int32 sums per super-block (scales applied with madd), then
// the scalar reference's float formula per super-block, in the reference's order.
// F32 / F16 / BF16: fp32 FMA into 4 x 8 lanes.
//
// Compiled with -mavx2 -mfma -mf16c; helpers stay in an anonymous namespace (no ODR leaks).
#if defined(__x86_64__)
#include <immintrin.h>

#include <cstring>

#include "backend/cpu/simd/simd_internal.h"
#include "dari/tensor/blocks.h"

// Keep clang from fusing the per-super-block float formula into FMAs (clang builds then apply
// the scalar reference's roundings per super-block). GCC's C++ default is -ffp-contract=fast,
// so GCC builds may differ by one rounding per super-block; the tests allow the fp32
// reassociation tolerance either way, and batch invariance is unaffected (one code path).
#if defined(__clang__)
#pragma clang fp contract(off)
#endif

// Full unrolling of the small fixed loops keeps tile accumulators in registers (GCC -O2 does
// not unroll them on its own).
#define DARI_UNROLL _Pragma("GCC unroll 8")

namespace dari::simd::detail {
namespace {

inline float half_at(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, sizeof h);
  return _cvtsh_ss(h);
}

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

inline __m256i loadu256(const uint8_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }
inline __m128i loadu128(const uint8_t* p) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)); }

// ---- Q4_0 / Q8_0 x Q8_0 ----

// 32 weights of one block in element order: Q4_0 as unsigned nibbles q (value q - 8), Q8_0 signed.
template <bool kQ4>
inline __m256i load_weights(const uint8_t* block) {
  if constexpr (kQ4) {
    const __m128i q = loadu128(block + offsetof(BlockQ4_0, qs));
    const __m128i m = _mm_set1_epi8(0x0f);
    const __m128i lo = _mm_and_si128(q, m);
    const __m128i hi = _mm_and_si128(_mm_srli_epi16(q, 4), m);
    return _mm256_set_m128i(hi, lo);  // unsigned 0..15; the -8 is applied through sum(x)
  } else {
    return loadu256(block + offsetof(BlockQ8_0, qs));
  }
}

// 8 int32 partial sums of w . x as floats (Q8_0 weights). |x| <= 127 (our Q8_0 quantiser)
// keeps the sign trick exact; |w| <= 128 keeps maddubs' pair sums below 2^15.
inline __m256 block_dot_q8(__m256i w_abs, __m256i w, __m256i x) {
  const __m256i p = _mm256_maddubs_epi16(w_abs, _mm256_sign_epi8(x, w));
  return _mm256_cvtepi32_ps(_mm256_madd_epi16(p, _mm256_set1_epi16(1)));
}
// Q4_0: (q - 8) . x = q . x - 8 * sum(x), per int16 pair: |q.x| <= 2 * 15 * 128 and
// |8 * pair sum| <= 2048, so neither maddubs saturates nor the difference overflows.
inline __m256 block_dot_q4(__m256i q, __m256i x, __m256i x_sum8) {
  const __m256i p = _mm256_sub_epi16(_mm256_maddubs_epi16(q, x), x_sum8);
  return _mm256_cvtepi32_ps(_mm256_madd_epi16(p, _mm256_set1_epi16(1)));
}

// Bytes ahead of the current block to prefetch in each weight row (0: none).
constexpr int64_t kPrefetch = 512;

template <bool kQ4, int kW, int kX>
void tile_q_0(int64_t k, const uint8_t* w, uint64_t w_stride, const uint8_t* x, uint64_t x_stride,
              float* out, int64_t out_stride) {
  constexpr int64_t kWBytes = kQ4 ? sizeof(BlockQ4_0) : sizeof(BlockQ8_0);
  constexpr int64_t kXBytes = sizeof(BlockQ8_0);
  __m256 acc[kW][kX];
  DARI_UNROLL
  for (int i = 0; i < kW; ++i) {
    DARI_UNROLL
    for (int j = 0; j < kX; ++j) acc[i][j] = _mm256_setzero_ps();
  }
  const int64_t nb = k / kQK8_0;
  for (int64_t ib = 0; ib < nb; ++ib) {
    __m256i wq[kW];
    __m256i wa[kW] = {};
    float dw[kW];
    DARI_UNROLL
    for (int i = 0; i < kW; ++i) {
      const uint8_t* b = w + static_cast<uint64_t>(i) * w_stride + ib * kWBytes;
      if constexpr (kPrefetch > 0) _mm_prefetch(reinterpret_cast<const char*>(b + kPrefetch), _MM_HINT_T0);
      wq[i] = load_weights<kQ4>(b);
      if constexpr (!kQ4) wa[i] = _mm256_sign_epi8(wq[i], wq[i]);
      dw[i] = half_at(b);
    }
    DARI_UNROLL
    for (int j = 0; j < kX; ++j) {
      const uint8_t* b = x + static_cast<uint64_t>(j) * x_stride + ib * kXBytes;
      const __m256i xq = loadu256(b + offsetof(BlockQ8_0, qs));
      const float dx = half_at(b);
      __m256i x_sum8 = _mm256_setzero_si256();
      if constexpr (kQ4) x_sum8 = _mm256_maddubs_epi16(_mm256_set1_epi8(8), xq);
      DARI_UNROLL
      for (int i = 0; i < kW; ++i) {
        const __m256 bd = kQ4 ? block_dot_q4(wq[i], xq, x_sum8) : block_dot_q8(wa[i], wq[i], xq);
        acc[i][j] = _mm256_fmadd_ps(bd, _mm256_set1_ps(dw[i] * dx), acc[i][j]);
      }
    }
  }
  DARI_UNROLL
  for (int j = 0; j < kX; ++j) {
    DARI_UNROLL
    for (int i = 0; i < kW; ++i) out[j * out_stride + i] = hsum_ps(acc[i][j]);
  }
}

template <bool kQ4>
void tile_q_0_any(int64_t k, const uint8_t* w, uint64_t ws, int n_w, const uint8_t* x, uint64_t xs,
                  int n_x, float* out, int64_t os) {
  using Fn = void (*)(int64_t, const uint8_t*, uint64_t, const uint8_t*, uint64_t, float*, int64_t);
  static constexpr Fn kTable[4][4] = {
      {tile_q_0<kQ4, 1, 1>, tile_q_0<kQ4, 1, 2>, tile_q_0<kQ4, 1, 3>, tile_q_0<kQ4, 1, 4>},
      {tile_q_0<kQ4, 2, 1>, tile_q_0<kQ4, 2, 2>, tile_q_0<kQ4, 2, 3>, tile_q_0<kQ4, 2, 4>},
      {tile_q_0<kQ4, 3, 1>, tile_q_0<kQ4, 3, 2>, tile_q_0<kQ4, 3, 3>, tile_q_0<kQ4, 3, 4>},
      {tile_q_0<kQ4, 4, 1>, tile_q_0<kQ4, 4, 2>, tile_q_0<kQ4, 4, 3>, tile_q_0<kQ4, 4, 4>}};
  kTable[n_w - 1][n_x - 1](k, w, ws, x, xs, out, os);
}

template <bool kQ4>
void dot_q_0(int64_t n, const void* w, const void* x, float* out) {
  tile_q_0<kQ4, 1, 1>(n, static_cast<const uint8_t*>(w), 0, static_cast<const uint8_t*>(x), 0, out, 0);
}

// ---- k-quants x Q8_K ----

// The 8 (scale, min) pairs of Q4_K / Q5_K (layout: blocks.h, get_scale_min_k4 in src/tensor).
inline void scale_min_k4(const uint8_t* q, int* sc, int* m) {
  DARI_UNROLL
  for (int j = 0; j < 4; ++j) {
    sc[j] = q[j] & 63;
    m[j] = q[j + 4] & 63;
    sc[j + 4] = (q[j + 8] & 0x0f) | ((q[j] >> 6) << 4);
    m[j + 4] = (q[j + 8] >> 4) | ((q[j + 4] >> 6) << 4);
  }
}

struct Q8KBlock {
  float d;
  const uint8_t* qs;
  int16_t bsums[kQK_K / 16];
};
inline Q8KBlock q8k_at(const void* y, int64_t i) {
  const uint8_t* b = static_cast<const uint8_t*>(y) + i * static_cast<int64_t>(sizeof(BlockQ8_K));
  Q8KBlock v;
  std::memcpy(&v.d, b + offsetof(BlockQ8_K, d), sizeof v.d);
  v.qs = b + offsetof(BlockQ8_K, qs);
  std::memcpy(v.bsums, b + offsetof(BlockQ8_K, bsums), sizeof v.bsums);
  return v;
}

template <bool kQ5>
void dot_q45_k(int64_t n, const void* x, const void* y, float* out) {
  constexpr int64_t kBytes = kQ5 ? sizeof(BlockQ5_K) : sizeof(BlockQ4_K);
  constexpr size_t kOffQs = kQ5 ? offsetof(BlockQ5_K, qs) : offsetof(BlockQ4_K, qs);
  const __m256i low4 = _mm256_set1_epi8(0x0f);
  float sum = 0.0f;
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const uint8_t* b = static_cast<const uint8_t*>(x) + i * kBytes;
    const Q8KBlock v = q8k_at(y, i);
    int sc[8];
    int m[8];
    scale_min_k4(b + offsetof(BlockQ4_K, scales), sc, m);
    int summs = 0;
    for (int s = 0; s < 8; ++s) summs += m[s] * (v.bsums[2 * s] + v.bsums[2 * s + 1]);
    __m256i qh = _mm256_setzero_si256();
    if constexpr (kQ5) qh = loadu256(b + offsetof(BlockQ5_K, qh));
    __m256i acc = _mm256_setzero_si256();
    DARI_UNROLL
    for (int c = 0; c < 4; ++c) {
      const __m256i q = loadu256(b + kOffQs + 32 * c);
      __m256i lo = _mm256_and_si256(q, low4);
      __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), low4);
      if constexpr (kQ5) {
        const __m256i bl = _mm256_set1_epi8(static_cast<char>(1 << (2 * c)));
        const __m256i bh = _mm256_set1_epi8(static_cast<char>(1 << (2 * c + 1)));
        const __m256i v16 = _mm256_set1_epi8(16);
        lo = _mm256_or_si256(lo, _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(qh, bl), bl), v16));
        hi = _mm256_or_si256(hi, _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(qh, bh), bh), v16));
      }
      const __m256i plo = _mm256_maddubs_epi16(lo, loadu256(v.qs + 64 * c));
      const __m256i phi = _mm256_maddubs_epi16(hi, loadu256(v.qs + 64 * c + 32));
      acc = _mm256_add_epi32(acc, _mm256_madd_epi16(plo, _mm256_set1_epi16(static_cast<int16_t>(sc[2 * c]))));
      acc = _mm256_add_epi32(acc, _mm256_madd_epi16(phi, _mm256_set1_epi16(static_cast<int16_t>(sc[2 * c + 1]))));
    }
    const int sumi = hsum_epi32(acc);
    const float d = half_at(b + offsetof(BlockQ4_K, d));
    const float dmin = half_at(b + offsetof(BlockQ4_K, dmin));
    sum += v.d * (d * static_cast<float>(sumi) - dmin * static_cast<float>(summs));
  }
  *out = sum;
}

// Q6_K: sum_s sc[s] * (q - 32) . y = sum_s sc[s] * (q . y) - 32 * sum_s sc[s] * bsums[s].
void dot_q6_k(int64_t n, const void* x, const void* y, float* out) {
  const __m256i low4 = _mm256_set1_epi8(0x0f);
  const __m256i hi2 = _mm256_set1_epi8(0x30);
  float sum = 0.0f;
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const uint8_t* b = static_cast<const uint8_t*>(x) + i * static_cast<int64_t>(sizeof(BlockQ6_K));
    const Q8KBlock v = q8k_at(y, i);
    const auto* sc = reinterpret_cast<const int8_t*>(b + offsetof(BlockQ6_K, scales));
    int bias = 0;
    for (int s = 0; s < 16; ++s) bias += sc[s] * v.bsums[s];
    __m256i acc = _mm256_setzero_si256();
    DARI_UNROLL
    for (int h = 0; h < 2; ++h) {
      const __m256i ql0 = loadu256(b + offsetof(BlockQ6_K, ql) + 64 * h);
      const __m256i ql1 = loadu256(b + offsetof(BlockQ6_K, ql) + 64 * h + 32);
      const __m256i qh = loadu256(b + offsetof(BlockQ6_K, qh) + 32 * h);
      __m256i q[4];
      q[0] = _mm256_or_si256(_mm256_and_si256(ql0, low4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), hi2));
      q[1] = _mm256_or_si256(_mm256_and_si256(ql1, low4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), hi2));
      q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), low4), _mm256_and_si256(qh, hi2));
      q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), low4),
                             _mm256_and_si256(_mm256_srli_epi16(qh, 2), hi2));
      DARI_UNROLL
      for (int t = 0; t < 4; ++t) {
        const int s0 = 8 * h + 2 * t;
        const __m256i scv = _mm256_set_m128i(_mm_set1_epi16(sc[s0 + 1]), _mm_set1_epi16(sc[s0]));
        const __m256i p = _mm256_maddubs_epi16(q[t], loadu256(v.qs + 128 * h + 32 * t));
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p, scv));
      }
    }
    const int sumi = hsum_epi32(acc) - 32 * bias;
    sum += v.d * half_at(b + offsetof(BlockQ6_K, d)) * static_cast<float>(sumi);
  }
  *out = sum;
}

// ---- float types: 4 x 8 fp32 lanes, tail in 8-lane steps, then scalar ----

inline __m256 load8_f32(const uint8_t* p) { return _mm256_loadu_ps(reinterpret_cast<const float*>(p)); }
inline __m256 load8_f16(const uint8_t* p) { return _mm256_cvtph_ps(loadu128(p)); }
inline __m256 load8_bf16(const uint8_t* p) {
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(loadu128(p)), 16));
}
inline float one_f32(const uint8_t* p) {
  float f;
  std::memcpy(&f, p, sizeof f);
  return f;
}
inline float one_f16(const uint8_t* p) { return half_at(p); }
inline float one_bf16(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, sizeof h);
  const uint32_t u = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

template <int kElemBytes, __m256 (*kLoad8)(const uint8_t*), float (*kLoad1)(const uint8_t*)>
void dot_float(int64_t n, const void* xv, const void* yv, float* out) {
  const auto* x = static_cast<const uint8_t*>(xv);
  const auto* y = static_cast<const uint8_t*>(yv);
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    DARI_UNROLL
    for (int u = 0; u < 4; ++u) {
      const int64_t o = (i + 8 * u) * kElemBytes;
      acc[u] = _mm256_fmadd_ps(kLoad8(x + o), kLoad8(y + o), acc[u]);
    }
  }
  for (; i + 8 <= n; i += 8) {
    acc[0] = _mm256_fmadd_ps(kLoad8(x + i * kElemBytes), kLoad8(y + i * kElemBytes), acc[0]);
  }
  float sum = hsum_ps(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
  for (; i < n; ++i) sum += kLoad1(x + i * kElemBytes) * kLoad1(y + i * kElemBytes);
  *out = sum;
}

}  // namespace

void fill_avx2(IsaKernels* t) {
  t->dot[kWQ4_0] = dot_q_0<true>;
  t->dot[kWQ8_0] = dot_q_0<false>;
  t->tile[kWQ4_0] = tile_q_0_any<true>;
  t->tile[kWQ8_0] = tile_q_0_any<false>;
  t->dot[kWQ4_K] = dot_q45_k<false>;
  t->dot[kWQ5_K] = dot_q45_k<true>;
  t->dot[kWQ6_K] = dot_q6_k;
  t->dot[kWF32] = dot_float<4, load8_f32, one_f32>;
  t->dot[kWF16] = dot_float<2, load8_f16, one_f16>;
  t->dot[kWBF16] = dot_float<2, load8_bf16, one_bf16>;
  fill_avx2_quant(t);
}

}  // namespace dari::simd::detail
#endif  // __x86_64__
