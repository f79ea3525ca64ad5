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

#include <cmath>
#include <cstring>

#include "backend/cpu/simd/avx2_util.h"
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

// ---- Q4_0 / Q8_0 x Q8_0 ----

// 32 weights of one block in element order: Q4_0 as unsigned nibbles q (value q - 8), Q8_0 signed.
template <bool kQ4>
inline __m256i load_weights(const uint8_t* block) {
  if constexpr (kQ4) {
    // Both halves hold the 16 packed bytes; shifting the upper half's 64-bit lanes by 4 puts the
    // high nibbles there (one broadcast load, one shift, one mask).
    const __m256i q = _mm256_broadcastsi128_si256(loadu128(block + offsetof(BlockQ4_0, qs)));
    const __m256i shifted = _mm256_srlv_epi64(q, _mm256_setr_epi64x(0, 0, 4, 4));
    return _mm256_and_si256(shifted, _mm256_set1_epi8(0x0f));  // unsigned 0..15; -8 via sum(x)
  } else {
    return loadu256(block + offsetof(BlockQ8_0, qs));
  }
}

// The block scale broadcast to 8 lanes (exact fp16 -> fp32 conversion).
inline __m256 half_bcast(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, sizeof h);
  return _mm256_cvtph_ps(_mm_set1_epi16(static_cast<short>(h)));
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

// Software prefetch distance: each weight row prefetches the same position kW rows further on
// (the next tile's rows; rows are contiguous, so this walks the matrix as one stream) plus
// kPrefetchExtra bytes. Rows are short (about 1 KiB at k = 2048), too short for the hardware
// prefetcher to ramp up per row; measured on Zen with a 1.1B-shaped Q4_0 matrix set, this
// roughly doubled matvec throughput over prefetching 512 bytes ahead in the same row.
constexpr int64_t kPrefetchExtra = 2048;
// Single-row kernels (k-quants, floats) prefetch this far ahead in their row; rows follow each
// other in memory, so the window runs on into the next row.
constexpr int64_t kRowPrefetch = 4096;

// Prefetches the cache lines of [p, p + n) (n a compile-time block size).
template <int64_t kN>
inline void prefetch_block(const uint8_t* p) {
  DARI_UNROLL
  for (int64_t o = 0; o < kN; o += 64)
    _mm_prefetch(reinterpret_cast<const char*>(p + o), _MM_HINT_T0);
}

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
  const uint64_t pf_ahead = static_cast<uint64_t>(kW) * w_stride + kPrefetchExtra;
  for (int64_t ib = 0; ib < nb; ++ib) {
    __m256i wq[kW];
    __m256i wa[kW] = {};
    __m256 dw[kW];
    DARI_UNROLL
    for (int i = 0; i < kW; ++i) {
      const uint8_t* b = w + static_cast<uint64_t>(i) * w_stride + ib * kWBytes;
      _mm_prefetch(reinterpret_cast<const char*>(b + pf_ahead), _MM_HINT_T0);
      wq[i] = load_weights<kQ4>(b);
      if constexpr (!kQ4) wa[i] = _mm256_sign_epi8(wq[i], wq[i]);
      dw[i] = half_bcast(b);
    }
    DARI_UNROLL
    for (int j = 0; j < kX; ++j) {
      const uint8_t* b = x + static_cast<uint64_t>(j) * x_stride + ib * kXBytes;
      const __m256i xq = loadu256(b + offsetof(BlockQ8_0, qs));
      const __m256 dx = half_bcast(b);
      __m256i x_sum8 = _mm256_setzero_si256();
      if constexpr (kQ4) x_sum8 = _mm256_maddubs_epi16(_mm256_set1_epi8(8), xq);
      DARI_UNROLL
      for (int i = 0; i < kW; ++i) {
        const __m256 bd = kQ4 ? block_dot_q4(wq[i], xq, x_sum8) : block_dot_q8(wa[i], wq[i], xq);
        // dw * dx rounds exactly as the scalar product would (one IEEE multiply per lane).
        acc[i][j] = _mm256_fmadd_ps(bd, _mm256_mul_ps(dw[i], dx), acc[i][j]);
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
  tile_q_0<kQ4, 1, 1>(n, static_cast<const uint8_t*>(w), 0, static_cast<const uint8_t*>(x), 0, out,
                      0);
}

// ---- k-quants x Q8_K ----

// The 8 6-bit scales and 8 6-bit mins of Q4_K / Q5_K (layout: blocks.h, get_scale_min_k4 in
// src/tensor), unpacked with 32-bit word operations: bytes 0..7 of *sc / *m are sub-blocks 0..7.
// Sub-block j < 4: scale = q[j] & 63, min = q[j + 4] & 63; j >= 4: the low 4 bits come from
// q[j + 4] (scale: low nibble, min: high nibble), the high 2 bits from the top of q[j - 4]
// (scale) or q[j] (min).
inline void scale_min_k4(const uint8_t* q, uint64_t* sc, uint64_t* m) {
  uint32_t w[3];
  std::memcpy(w, q, sizeof w);
  const uint32_t sc_lo = w[0] & 0x3f3f3f3fu;
  const uint32_t m_lo = w[1] & 0x3f3f3f3fu;
  const uint32_t sc_hi = (w[2] & 0x0f0f0f0fu) | ((w[0] >> 2) & 0x30303030u);
  const uint32_t m_hi = ((w[2] >> 4) & 0x0f0f0f0fu) | ((w[1] >> 2) & 0x30303030u);
  *sc = sc_lo | (static_cast<uint64_t>(sc_hi) << 32);
  *m = m_lo | (static_cast<uint64_t>(m_hi) << 32);
}

// The activation super-block: scale, quants and the 16 sums of 16.
struct Q8KBlock {
  float d;
  const uint8_t* qs;
  __m256i bsums;  // 16 x int16
};
inline Q8KBlock q8k_at(const void* y, int64_t i) {
  const uint8_t* b = static_cast<const uint8_t*>(y) + i * static_cast<int64_t>(sizeof(BlockQ8_K));
  Q8KBlock v;
  std::memcpy(&v.d, b + offsetof(BlockQ8_K, d), sizeof v.d);
  v.qs = b + offsetof(BlockQ8_K, qs);
  v.bsums = loadu256(b + offsetof(BlockQ8_K, bsums));
  return v;
}

inline int hsum_epi32_128(__m128i s) {
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
  return _mm_cvtsi128_si32(s);
}

// Shuffle control that broadcasts int16 lane `lo` of each 128-bit half to the low half and lane
// `hi` to the high half (both halves of the source must hold the same 8 int16).
inline __m256i pick16(int lo, int hi) {
  const auto b = [](int l) { return static_cast<char>(2 * l); };
  const auto c = [](int l) { return static_cast<char>(2 * l + 1); };
  return _mm256_setr_epi8(b(lo), c(lo), b(lo), c(lo), b(lo), c(lo), b(lo), c(lo), b(lo), c(lo),
                          b(lo), c(lo), b(lo), c(lo), b(lo), c(lo), b(hi), c(hi), b(hi), c(hi),
                          b(hi), c(hi), b(hi), c(hi), b(hi), c(hi), b(hi), c(hi), b(hi), c(hi),
                          b(hi), c(hi));
}

// Integer sums are exact and equal to the scalar reference's; the float formula per super-block
// is the reference's, in its order.
// One weight row against kX activation rows (act_stride bytes apart): out[j * out_stride].
// The weights of each super-block are decoded once for all kX rows; every output sees exactly
// the operations of the kX = 1 case (the dot), so tiles are batch invariant.
template <bool kQ5, int kX>
void row_q45_k(int64_t n, const uint8_t* x, const uint8_t* y, uint64_t act_stride, float* out,
               int64_t out_stride) {
  constexpr int64_t kBytes = kQ5 ? sizeof(BlockQ5_K) : sizeof(BlockQ4_K);
  constexpr size_t kOffQs = kQ5 ? offsetof(BlockQ5_K, qs) : offsetof(BlockQ4_K, qs);
  const __m256i low4 = _mm256_set1_epi8(0x0f);
  float sum[kX] = {};
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const uint8_t* b = x + i * kBytes;
    prefetch_block<kBytes>(b + kRowPrefetch);
    Q8KBlock v[kX];
    DARI_UNROLL
    for (int j = 0; j < kX; ++j) v[j] = q8k_at(y + static_cast<uint64_t>(j) * act_stride, i);
    uint64_t sc8 = 0;
    uint64_t m8 = 0;
    scale_min_k4(b + offsetof(BlockQ4_K, scales), &sc8, &m8);
    // summs = sum_s m[s] * (bsums[2s] + bsums[2s+1]); pair sums fit int16 (|.| <= 4096).
    const __m128i mins16 = _mm_cvtepu8_epi16(_mm_cvtsi64_si128(static_cast<long long>(m8)));
    int summs[kX];
    DARI_UNROLL
    for (int j = 0; j < kX; ++j) {
      const __m128i pairs = _mm_hadd_epi16(_mm256_castsi256_si128(v[j].bsums),
                                           _mm256_extracti128_si256(v[j].bsums, 1));
      summs[j] = hsum_epi32_128(_mm_madd_epi16(mins16, pairs));
    }
    const __m256i scales = _mm256_broadcastsi128_si256(
        _mm_cvtepu8_epi16(_mm_cvtsi64_si128(static_cast<long long>(sc8))));
    __m256i qh = _mm256_setzero_si256();
    if constexpr (kQ5) qh = loadu256(b + offsetof(BlockQ5_K, qh));
    __m256i acc[kX];
    DARI_UNROLL
    for (int j = 0; j < kX; ++j) acc[j] = _mm256_setzero_si256();
    DARI_UNROLL
    for (int c = 0; c < 4; ++c) {
      const __m256i q = loadu256(b + kOffQs + 32 * c);
      __m256i lo = _mm256_and_si256(q, low4);
      __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), low4);
      if constexpr (kQ5) {
        const __m256i bl = _mm256_set1_epi8(static_cast<char>(1 << (2 * c)));
        const __m256i bh = _mm256_set1_epi8(static_cast<char>(1 << (2 * c + 1)));
        const __m256i v16 = _mm256_set1_epi8(16);
        lo = _mm256_or_si256(
            lo, _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(qh, bl), bl), v16));
        hi = _mm256_or_si256(
            hi, _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(qh, bh), bh), v16));
      }
      const __m256i s_lo = _mm256_shuffle_epi8(scales, pick16(2 * c, 2 * c));
      const __m256i s_hi = _mm256_shuffle_epi8(scales, pick16(2 * c + 1, 2 * c + 1));
      DARI_UNROLL
      for (int j = 0; j < kX; ++j) {
        const __m256i plo = _mm256_maddubs_epi16(lo, loadu256(v[j].qs + 64 * c));
        const __m256i phi = _mm256_maddubs_epi16(hi, loadu256(v[j].qs + 64 * c + 32));
        acc[j] = _mm256_add_epi32(acc[j], _mm256_madd_epi16(plo, s_lo));
        acc[j] = _mm256_add_epi32(acc[j], _mm256_madd_epi16(phi, s_hi));
      }
    }
    const float d = half_at(b + offsetof(BlockQ4_K, d));
    const float dmin = half_at(b + offsetof(BlockQ4_K, dmin));
    DARI_UNROLL
    for (int j = 0; j < kX; ++j) {
      const int sumi = hsum_epi32(acc[j]);
      // Fused as written (not left to the compiler's contraction), so the packed Q4_Kx8 and
      // Q5_Kx8 kernels give these bits with any compiler.
      const float diff =
          std::fma(d, static_cast<float>(sumi), -(dmin * static_cast<float>(summs[j])));
      sum[j] = std::fma(v[j].d, diff, sum[j]);
    }
  }
  DARI_UNROLL
  for (int j = 0; j < kX; ++j) out[j * out_stride] = sum[j];
}

template <bool kQ5>
void dot_q45_k(int64_t n, const void* x, const void* y, float* out) {
  row_q45_k<kQ5, 1>(n, static_cast<const uint8_t*>(x), static_cast<const uint8_t*>(y), 0, out, 0);
}

// Q6_K: sum_s sc[s] * (q - 32) . y = sum_s sc[s] * (q . y) - 32 * sum_s sc[s] * bsums[s].
// One weight row against kX activation rows, as row_q45_k.
template <int kX>
void row_q6_k(int64_t n, const uint8_t* x, const uint8_t* y, uint64_t act_stride, float* out,
              int64_t out_stride) {
  const __m256i low4 = _mm256_set1_epi8(0x0f);
  const __m256i hi2 = _mm256_set1_epi8(0x30);
  float sum[kX] = {};
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const uint8_t* b = x + i * static_cast<int64_t>(sizeof(BlockQ6_K));
    prefetch_block<static_cast<int64_t>(sizeof(BlockQ6_K))>(b + kRowPrefetch);
    Q8KBlock v[kX];
    DARI_UNROLL
    for (int j = 0; j < kX; ++j) v[j] = q8k_at(y + static_cast<uint64_t>(j) * act_stride, i);
    // 16 int8 scales as int16: sc16 holds all 16 (for the bias), half[h] sub-blocks 8h..8h+7 in
    // both 128-bit halves (for the per-chunk broadcasts).
    const __m128i sc8 = loadu128(b + offsetof(BlockQ6_K, scales));
    const __m256i sc16 = _mm256_cvtepi8_epi16(sc8);
    const __m256i half[2] = {_mm256_broadcastsi128_si256(_mm256_castsi256_si128(sc16)),
                             _mm256_broadcastsi128_si256(_mm256_extracti128_si256(sc16, 1))};
    // 32 * sum_s sc[s] * bsums[s], as 8 int32 lanes subtracted before the one horizontal sum.
    __m256i acc[kX];
    DARI_UNROLL
    for (int j = 0; j < kX; ++j) {
      acc[j] = _mm256_sub_epi32(_mm256_setzero_si256(),
                                _mm256_slli_epi32(_mm256_madd_epi16(sc16, v[j].bsums), 5));
    }
    DARI_UNROLL
    for (int h = 0; h < 2; ++h) {
      const __m256i ql0 = loadu256(b + offsetof(BlockQ6_K, ql) + 64 * h);
      const __m256i ql1 = loadu256(b + offsetof(BlockQ6_K, ql) + 64 * h + 32);
      const __m256i qh = loadu256(b + offsetof(BlockQ6_K, qh) + 32 * h);
      __m256i q[4];
      q[0] = _mm256_or_si256(_mm256_and_si256(ql0, low4),
                             _mm256_and_si256(_mm256_slli_epi16(qh, 4), hi2));
      q[1] = _mm256_or_si256(_mm256_and_si256(ql1, low4),
                             _mm256_and_si256(_mm256_slli_epi16(qh, 2), hi2));
      q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), low4),
                             _mm256_and_si256(qh, hi2));
      q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), low4),
                             _mm256_and_si256(_mm256_srli_epi16(qh, 2), hi2));
      DARI_UNROLL
      for (int t = 0; t < 4; ++t) {
        const __m256i scv = _mm256_shuffle_epi8(half[h], pick16(2 * t, 2 * t + 1));
        DARI_UNROLL
        for (int j = 0; j < kX; ++j) {
          const __m256i p = _mm256_maddubs_epi16(q[t], loadu256(v[j].qs + 128 * h + 32 * t));
          acc[j] = _mm256_add_epi32(acc[j], _mm256_madd_epi16(p, scv));
        }
      }
    }
    const float d = half_at(b + offsetof(BlockQ6_K, d));
    DARI_UNROLL
    for (int j = 0; j < kX; ++j) sum[j] += v[j].d * d * static_cast<float>(hsum_epi32(acc[j]));
  }
  DARI_UNROLL
  for (int j = 0; j < kX; ++j) out[j * out_stride] = sum[j];
}

void dot_q6_k(int64_t n, const void* x, const void* y, float* out) {
  row_q6_k<1>(n, static_cast<const uint8_t*>(x), static_cast<const uint8_t*>(y), 0, out, 0);
}

// Tile adapters: each weight row of the tile runs against all n_x activation rows at once.
using RowFn = void (*)(int64_t, const uint8_t*, const uint8_t*, uint64_t, float*, int64_t);
void tile_rows(const RowFn (&fns)[kTileMax], int64_t k, const uint8_t* w, uint64_t w_stride,
               int n_w, const uint8_t* x, uint64_t x_stride, int n_x, float* out,
               int64_t out_stride) {
  for (int i = 0; i < n_w; ++i)
    fns[n_x - 1](k, w + static_cast<uint64_t>(i) * w_stride, x, x_stride, out + i, out_stride);
}
template <bool kQ5>
void tile_q45_k(int64_t k, const uint8_t* w, uint64_t ws, int n_w, const uint8_t* x, uint64_t xs,
                int n_x, float* out, int64_t os) {
  static constexpr RowFn kFns[kTileMax] = {row_q45_k<kQ5, 1>, row_q45_k<kQ5, 2>, row_q45_k<kQ5, 3>,
                                           row_q45_k<kQ5, 4>};
  tile_rows(kFns, k, w, ws, n_w, x, xs, n_x, out, os);
}
void tile_q6_k(int64_t k, const uint8_t* w, uint64_t ws, int n_w, const uint8_t* x, uint64_t xs,
               int n_x, float* out, int64_t os) {
  static constexpr RowFn kFns[kTileMax] = {row_q6_k<1>, row_q6_k<2>, row_q6_k<3>, row_q6_k<4>};
  tile_rows(kFns, k, w, ws, n_w, x, xs, n_x, out, os);
}

// ---- float types: 4 x 8 fp32 lanes, tail in 8-lane steps, then scalar ----

// One row: 4 x 8 fp32 lanes over 32-element steps, then 8-element steps, then the scalar tail.
template <int kElemBytes, __m256 (*kLoad8)(const uint8_t*), float (*kLoad1)(const uint8_t*)>
void dot_float(int64_t n, const void* xv, const void* yv, float* out) {
  const auto* x = static_cast<const uint8_t*>(xv);
  const auto* y = static_cast<const uint8_t*>(yv);
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                   _mm256_setzero_ps()};
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    prefetch_block<32 * kElemBytes>(x + i * kElemBytes + kRowPrefetch);
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
  t->tile[kWQ4_K] = tile_q45_k<false>;
  t->tile[kWQ5_K] = tile_q45_k<true>;
  t->tile[kWQ6_K] = tile_q6_k;
  t->dot[kWF32] = dot_float<4, load8_f32, one_f32>;
  t->dot[kWF16] = dot_float<2, load8_f16, one_f16>;
  t->dot[kWBF16] = dot_float<2, load8_bf16, one_bf16>;
  fill_avx2_quant(t);
  fill_avx2_attn(t);
  fill_avx2_group(t);
}

}  // namespace dari::simd::detail
#endif  // __x86_64__
