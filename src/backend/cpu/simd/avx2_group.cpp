// AVX2 row-group kernels for Q4_0 and Q8_0 weights x Q8_0 activations: 8 weight rows at a time,
// with the 8 fp32 lanes holding 8 different output rows (Q6_K: avx2_group_k.cpp; F32, F16, BF16:
// avx2_group_float.cpp).
//
// Why: the per-row tile kernels (avx2_dot.cpp) keep 8 lanes of partial sums per output and pay a
// convert, a multiply and an FMA per block per output. Here 8 bytes (8 elements) of 4 rows share
// one 256-bit register, the activation's 8 bytes are broadcast to all four 64-bit lanes, and one
// maddubs serves 4 rows; the integer partial sums of a block are reduced across lanes with one
// hadd so that the float work (convert, scale, FMA) is done once per block for 8 rows.
//
// Q4_0, per block and row: sum_i (q_i - 8) x_i = sum_i q_i x_i - 8 sum_i x_i. The first term comes
// from maddubs on the unsigned nibbles (exact: each int16 lane sums 4 chunks of 2 products, at
// most 4 * 2 * 15 * 127 = 15240 in magnitude); the second is one int32 per activation block,
// computed once per call (act_sums) and subtracted after the lane reduction.
// Q8_0: maddubs(|w|, sign(x, w)) per chunk (as the tile kernels: exact for |w| <= 128 and
// |x| <= 127, pair sums at most 32512), widened to int32 per chunk since two chunks could
// overflow int16.
// The block's exact integer dot is then scaled by dw * dx and accumulated in fp32, blocks in
// order, one lane per row — the scalar reference's formula and order, so a row's result does not
// depend on which other rows or activation rows share the call.
//
// Compiled with -mavx2 -mfma -mf16c; helpers stay in an anonymous namespace (no ODR leaks).
#if defined(__x86_64__)
#include <immintrin.h>

#include <cstring>

#include "backend/cpu/simd/avx2_util.h"
#include "backend/cpu/simd/simd_internal.h"
#include "dari/tensor/blocks.h"

#define DARI_UNROLL _Pragma("GCC unroll 8")

namespace dari::simd::detail {
namespace {

constexpr int64_t kW = sizeof(BlockQ4_0);  // 18 bytes: fp16 scale + 16 bytes of nibbles
constexpr int64_t kX = sizeof(BlockQ8_0);  // 34 bytes: fp16 scale + 32 int8 (Q8_0 weights too)
constexpr size_t kWQs = offsetof(BlockQ4_0, qs);
constexpr size_t kXQs = offsetof(BlockQ8_0, qs);
static_assert(offsetof(BlockQ4_0, d) == 0 && offsetof(BlockQ8_0, d) == 0);
// Q4_0 prefetch: the same block of the next group's rows (the matrix is walked as one stream)
// plus this many bytes, as the per-row tile kernels do.
constexpr int64_t kPrefetchExtra = 2048;

// Bytes [off, off + 16) of the 4 blocks r[0..3] as two registers: lo holds bytes off..off+7 of
// rows 0, 1, 2, 3 in its four 64-bit lanes, hi bytes off+8..off+15.
inline void interleave4(const uint8_t* const r[4], size_t off, __m256i* lo, __m256i* hi) {
  const __m256i y02 = _mm256_inserti128_si256(_mm256_castsi128_si256(loadu128(r[0] + off)),
                                              loadu128(r[2] + off), 1);
  const __m256i y13 = _mm256_inserti128_si256(_mm256_castsi128_si256(loadu128(r[1] + off)),
                                              loadu128(r[3] + off), 1);
  *lo = _mm256_unpacklo_epi64(y02, y13);
  *hi = _mm256_unpackhi_epi64(y02, y13);
}

// The fp16 block scales (offset 0) of 8 rows as fp32 in hadd lane order: rows 0, 1, 4, 5, 2, 3,
// 6, 7.
inline __m256 block_scales(const uint8_t* const rows[8]) {
  const __m128i h =
      _mm_setr_epi16(static_cast<short>(u16_at(rows[0])), static_cast<short>(u16_at(rows[1])),
                     static_cast<short>(u16_at(rows[4])), static_cast<short>(u16_at(rows[5])),
                     static_cast<short>(u16_at(rows[2])), static_cast<short>(u16_at(rows[3])),
                     static_cast<short>(u16_at(rows[6])), static_cast<short>(u16_at(rows[7])));
  return _mm256_cvtph_ps(h);
}

// Q8_0 prefetch: the group kPrefetchGroups ahead as one sequential sweep spread over the nb
// blocks, into L2 (8 rows of k = 2048 are 17 KiB; prefetching a group ahead into L1, as Q4_0
// does, would evict the current group). Measured on Zen 4 (32000 x 2048 from DRAM, 1 activation
// row) this made the kernel ~1.4x faster than with Q4_0's per-row prefetch.
constexpr uint64_t kPrefetchGroups = 2;
inline void sweep_prefetch(const GroupArgs& a, int64_t ib, int64_t nb) {
  const uint64_t span = 8 * a.w_stride;
  const uint64_t step = (span + static_cast<uint64_t>(nb) - 1) / static_cast<uint64_t>(nb);
  const uint8_t* p = a.w + kPrefetchGroups * span + static_cast<uint64_t>(ib) * step;
  for (uint64_t o = 0; o < step; o += 64) {
    _mm_prefetch(reinterpret_cast<const char*>(p + o), _MM_HINT_T1);
  }
}

// The nibbles of one block of 8 rows as 8 registers of unsigned bytes. Register c of rows 0-3
// (lo[c]) holds elements 8c..8c+7 of rows 0, 1, 2, 3 in its four 64-bit lanes; hi[c] the same
// for rows 4-7. Element e < 16 is the low nibble of qs[e], e >= 16 the high nibble of qs[e-16].
struct GroupWeights {
  __m256i lo[4];
  __m256i hi[4];
  __m256 scale;  // fp32 block scales in hadd lane order: rows 0, 1, 4, 5, 2, 3, 6, 7
};

// Rows r[0..3] (pointers to the block) into 4 registers, see GroupWeights.
inline void unpack4(const uint8_t* const r[4], __m256i out[4]) {
  __m256i a, b;
  interleave4(r, kWQs, &a, &b);  // qs[0..7], qs[8..15] of rows 0, 1 | 2, 3
  const __m256i m4 = _mm256_set1_epi8(0x0f);
  out[0] = _mm256_and_si256(a, m4);                        // elements 0..7
  out[1] = _mm256_and_si256(b, m4);                        // 8..15
  out[2] = _mm256_and_si256(_mm256_srli_epi16(a, 4), m4);  // 16..23
  out[3] = _mm256_and_si256(_mm256_srli_epi16(b, 4), m4);  // 24..31
}

inline void load_group(const uint8_t* const rows[8], GroupWeights* g) {
  unpack4(rows, g->lo);
  unpack4(rows + 4, g->hi);
  g->scale = block_scales(rows);
}

// The exact integer dots q . x of the 8 rows with one activation block (lane order as scale).
inline __m256i group_isum(const GroupWeights& g, const uint8_t* xq) {
  __m256i s03 = _mm256_setzero_si256();
  __m256i s47 = _mm256_setzero_si256();
  DARI_UNROLL
  for (int c = 0; c < 4; ++c) {
    const __m256i xc = _mm256_set1_epi64x(i64_at(xq + 8 * c));
    s03 = _mm256_add_epi16(s03, _mm256_maddubs_epi16(g.lo[c], xc));
    s47 = _mm256_add_epi16(s47, _mm256_maddubs_epi16(g.hi[c], xc));
  }
  const __m256i ones = _mm256_set1_epi16(1);
  // madd: two int32 per row; hadd: one per row, rows (0, 1, 4, 5 | 2, 3, 6, 7).
  return _mm256_hadd_epi32(_mm256_madd_epi16(s03, ones), _mm256_madd_epi16(s47, ones));
}

template <int kN>
void group_q4_0_n(const GroupArgs& a) {
  const int64_t nb = a.k / kQK8_0;
  __m256 acc[kN];
  DARI_UNROLL
  for (int j = 0; j < kN; ++j) acc[j] = _mm256_setzero_ps();
  const uint64_t pf_ahead = 8 * a.w_stride + kPrefetchExtra;
  for (int64_t ib = 0; ib < nb; ++ib) {
    const uint8_t* rows[8];
    DARI_UNROLL
    for (int r = 0; r < 8; ++r) {
      rows[r] = a.w + static_cast<uint64_t>(r) * a.w_stride + ib * kW;
      _mm_prefetch(reinterpret_cast<const char*>(rows[r] + pf_ahead), _MM_HINT_T0);
    }
    GroupWeights g;
    load_group(rows, &g);
    DARI_UNROLL
    for (int j = 0; j < kN; ++j) {
      const uint8_t* xb = a.act + static_cast<uint64_t>(j) * a.act_stride + ib * kX;
      const __m256i corr = _mm256_set1_epi32(a.act_sums[j * a.sums_stride + ib]);
      const __m256i isum = _mm256_sub_epi32(group_isum(g, xb + kXQs), corr);
      const __m256 dx = _mm256_cvtph_ps(_mm_set1_epi16(static_cast<short>(u16_at(xb))));
      // dw * dx rounds as the scalar product does (one IEEE multiply per lane).
      acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_mul_ps(g.scale, dx), acc[j]);
    }
  }
  // Lanes back to row order 0..7.
  const __m256i order = _mm256_setr_epi32(0, 1, 4, 5, 2, 3, 6, 7);
  DARI_UNROLL
  for (int j = 0; j < kN; ++j) {
    _mm256_storeu_ps(a.out + j * a.out_stride, _mm256_permutevar8x32_ps(acc[j], order));
  }
}

void group_q4_0(const GroupArgs& a) {
  using Fn = void (*)(const GroupArgs&);
  static constexpr Fn kTable[kGroupActMax] = {group_q4_0_n<1>, group_q4_0_n<2>, group_q4_0_n<3>,
                                              group_q4_0_n<4>, group_q4_0_n<5>, group_q4_0_n<6>,
                                              group_q4_0_n<7>, group_q4_0_n<8>};
  kTable[a.n_act - 1](a);
}

// One block of 8 Q8_0 rows: register c of [g] holds elements 8c..8c+7 of rows 4g..4g+3 in its
// four 64-bit lanes.
struct GroupWeightsQ8 {
  __m256i w[2][4];  // signed weights
  __m256 scale;     // as GroupWeights::scale
};

inline void load_group_q8(const uint8_t* const rows[8], GroupWeightsQ8* g) {
  DARI_UNROLL
  for (int half = 0; half < 2; ++half) {
    interleave4(rows + 4 * half, kXQs, &g->w[half][0], &g->w[half][1]);
    interleave4(rows + 4 * half, kXQs + 16, &g->w[half][2], &g->w[half][3]);
  }
  g->scale = block_scales(rows);
}

// The exact integer dots w . x of the 8 rows with one activation block (lane order as scale).
inline __m256i group_isum_q8(const GroupWeightsQ8& g, const uint8_t* xq) {
  const __m256i ones = _mm256_set1_epi16(1);
  __m256i s[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};
  DARI_UNROLL
  for (int c = 0; c < 4; ++c) {
    const __m256i xc = _mm256_set1_epi64x(i64_at(xq + 8 * c));
    DARI_UNROLL
    for (int half = 0; half < 2; ++half) {
      // |w| (unsigned; -128 gives 128) per use: keeping |w| beside w for the whole block would
      // take all 16 registers, and the spills cost more than the abs (one-thread kernel
      // benchmark: ~8% slower).
      const __m256i p =
          _mm256_maddubs_epi16(_mm256_abs_epi8(g.w[half][c]), _mm256_sign_epi8(xc, g.w[half][c]));
      s[half] = _mm256_add_epi32(s[half], _mm256_madd_epi16(p, ones));
    }
  }
  return _mm256_hadd_epi32(s[0], s[1]);  // rows (0, 1, 4, 5 | 2, 3, 6, 7)
}

template <int kN>
void group_q8_0_n(const GroupArgs& a) {
  const int64_t nb = a.k / kQK8_0;
  __m256 acc[kN];
  DARI_UNROLL
  for (int j = 0; j < kN; ++j) acc[j] = _mm256_setzero_ps();
  for (int64_t ib = 0; ib < nb; ++ib) {
    sweep_prefetch(a, ib, nb);
    const uint8_t* rows[8];
    DARI_UNROLL
    for (int r = 0; r < 8; ++r) rows[r] = a.w + static_cast<uint64_t>(r) * a.w_stride + ib * kX;
    GroupWeightsQ8 g;
    load_group_q8(rows, &g);
    DARI_UNROLL
    for (int j = 0; j < kN; ++j) {
      const uint8_t* xb = a.act + static_cast<uint64_t>(j) * a.act_stride + ib * kX;
      const __m256 dx = _mm256_cvtph_ps(_mm_set1_epi16(static_cast<short>(u16_at(xb))));
      const __m256i isum = group_isum_q8(g, xb + kXQs);
      acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_mul_ps(g.scale, dx), acc[j]);
    }
  }
  const __m256i order = _mm256_setr_epi32(0, 1, 4, 5, 2, 3, 6, 7);
  DARI_UNROLL
  for (int j = 0; j < kN; ++j) {
    _mm256_storeu_ps(a.out + j * a.out_stride, _mm256_permutevar8x32_ps(acc[j], order));
  }
}

void group_q8_0(const GroupArgs& a) {
  using Fn = void (*)(const GroupArgs&);
  static constexpr Fn kTable[kGroupActMax] = {group_q8_0_n<1>, group_q8_0_n<2>, group_q8_0_n<3>,
                                              group_q8_0_n<4>, group_q8_0_n<5>, group_q8_0_n<6>,
                                              group_q8_0_n<7>, group_q8_0_n<8>};
  kTable[a.n_act - 1](a);
}

// 8 * (sum of the 32 int8 of each Q8_0 block) of one activation row, for nb blocks.
void sums_q8_0(const uint8_t* x, int64_t nb, int32_t* out) {
  const __m256i eight = _mm256_set1_epi8(8);
  const __m256i ones = _mm256_set1_epi16(1);
  for (int64_t ib = 0; ib < nb; ++ib) {
    const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + ib * kX + kXQs));
    const __m256i s32 = _mm256_madd_epi16(_mm256_maddubs_epi16(eight, q), ones);
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(s32), _mm256_extracti128_si256(s32, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    out[ib] = _mm_cvtsi128_si32(s);
  }
}

}  // namespace

void fill_avx2_group(IsaKernels* t) {
  t->group[kWQ4_0] = GroupKernel{group_q4_0, sums_q8_0};
  t->group[kWQ8_0] = GroupKernel{group_q8_0, nullptr};  // needs no side data
  fill_avx2_group_k(t);
  fill_avx2_group_float(t);
}

}  // namespace dari::simd::detail
#endif  // __x86_64__
