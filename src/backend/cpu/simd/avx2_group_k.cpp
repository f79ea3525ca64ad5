// AVX2 row-group kernel for Q6_K weights x Q8_K activations (Q4_0 / Q8_0: avx2_group.cpp).
//
// Per super-block, row and activation row: sumi = sum_s sc[s] * (q_s . x_s) - 32 sum_s sc[s] *
// bsums[s], with q the unsigned 6-bit values (weight q - 32) and s the 16 sub-blocks of 16. The
// products come from maddubs (pairs at most 2 * 63 * 128 = 16128 in magnitude), madd with the
// sub-block's int16 scale widens to int32, and the bias uses the activation's bsums against
// 32 * sc (|32 sc| <= 4096). All integer sums are exact, so sumi equals the scalar reference's.
// The float work is the reference's formula per super-block, in order: acc = fma(float(sumi),
// d_w * d_x, acc), with d_w * d_x one IEEE multiply.
//
// Two walks over the 8 rows, chosen by n_act (both give the same bits for a row, so a row's
// result does not depend on n_act or on the other rows: batch invariance):
//  - few activation rows (seq_rows): row after row, 32 consecutive elements per register as in
//    the tile kernels; each row is one sequential stream.
//  - more (quad_rows): one 256-bit register holds 8 elements of 4 rows (one per 64-bit lane) and
//    the activation's 8 bytes are broadcast, so one maddubs serves 4 rows, the two chunks of a
//    sub-block add in int16 (at most 32256) before one madd, and the per-row reductions and the
//    float work are shared by 8 rows (one hadd, convert, multiply and FMA per super-block).
//
// Compiled with -mavx2 -mfma -mf16c; helpers stay in an anonymous namespace (no ODR leaks).
#if defined(__x86_64__)
#include <immintrin.h>

#include <cstring>

#include "backend/cpu/simd/avx2_util.h"
#include "backend/cpu/simd/simd_internal.h"
#include "dari/tensor/blocks.h"

#define DARI_UNROLL _Pragma("GCC unroll 16")

namespace dari::simd::detail {
namespace {

constexpr int64_t kW = sizeof(BlockQ6_K);  // 210 bytes
constexpr int64_t kX = sizeof(BlockQ8_K);  // 292 bytes
constexpr size_t kQl = offsetof(BlockQ6_K, ql);
constexpr size_t kQh = offsetof(BlockQ6_K, qh);
constexpr size_t kSc = offsetof(BlockQ6_K, scales);
constexpr size_t kD = offsetof(BlockQ6_K, d);
// Up to this many activation rows the rows are walked one after another (seq_rows), above it 4
// rows share each register (quad_rows). Both give the same bits; measured on Zen 4 with
// 32000 x 2048 weights from DRAM, the row walk matched the tiles up to 4 activation rows, where
// the interleaved walk was 5-25% slower, and the interleaved walk was ~1.3x faster at 8.
constexpr int kSeqMaxActs = 4;
// Row walk: prefetch distance within the row (as the tile kernels).
constexpr int64_t kRowPrefetch = 4096;
// Interleaved walk: prefetch distance in groups of 8 rows.
constexpr uint64_t kPrefetchGroups = 2;

// Bytes [off, off + 16) of 4 rows as two registers: lo = bytes off..off+7 of rows 0, 1, 2, 3 in
// the four 64-bit lanes, hi = bytes off+8..off+15.
inline void load4(const uint8_t* const r[4], size_t off, __m256i* lo, __m256i* hi) {
  const __m256i y02 = _mm256_inserti128_si256(_mm256_castsi128_si256(loadu128(r[0] + off)),
                                              loadu128(r[2] + off), 1);
  const __m256i y13 = _mm256_inserti128_si256(_mm256_castsi128_si256(loadu128(r[1] + off)),
                                              loadu128(r[3] + off), 1);
  *lo = _mm256_unpacklo_epi64(y02, y13);
  *hi = _mm256_unpackhi_epi64(y02, y13);
}

// The scales of 4 rows as int16, 4 sub-blocks per 64-bit lane: t[m] holds sub-blocks 4m..4m+3 of
// row r in lane r (a 4 x 4 transpose of the rows' scale dwords, then widening).
inline void load_scales(const uint8_t* const r[4], __m256i t[4]) {
  const __m128i s0 = loadu128(r[0] + kSc);
  const __m128i s1 = loadu128(r[1] + kSc);
  const __m128i s2 = loadu128(r[2] + kSc);
  const __m128i s3 = loadu128(r[3] + kSc);
  const __m128i t01l = _mm_unpacklo_epi32(s0, s1);  // r0 d0, r1 d0, r0 d1, r1 d1
  const __m128i t23l = _mm_unpacklo_epi32(s2, s3);
  const __m128i t01h = _mm_unpackhi_epi32(s0, s1);  // dwords 2, 3
  const __m128i t23h = _mm_unpackhi_epi32(s2, s3);
  t[0] = _mm256_cvtepi8_epi16(_mm_unpacklo_epi64(t01l, t23l));
  t[1] = _mm256_cvtepi8_epi16(_mm_unpackhi_epi64(t01l, t23l));
  t[2] = _mm256_cvtepi8_epi16(_mm_unpacklo_epi64(t01h, t23h));
  t[3] = _mm256_cvtepi8_epi16(_mm_unpackhi_epi64(t01h, t23h));
}

// In-lane shuffle control that copies int16 i of each 64-bit lane to all 4 of its int16s.
inline __m256i pick_in_qword(int i) {
  const auto lo = static_cast<char>(2 * i);
  const auto hi = static_cast<char>(2 * i + 1);
  const auto lo8 = static_cast<char>(8 + 2 * i);
  const auto hi8 = static_cast<char>(8 + 2 * i + 1);
  return _mm256_setr_epi8(lo, hi, lo, hi, lo, hi, lo, hi, lo8, hi8, lo8, hi8, lo8, hi8, lo8, hi8,
                          lo, hi, lo, hi, lo, hi, lo, hi, lo8, hi8, lo8, hi8, lo8, hi8, lo8, hi8);
}

// The 6-bit values of chunk pair t (elements 128h + 32t + 16u + [0, 16): sub-block 8h + 2t + u)
// from the raw bytes: ql (lo/hi: bytes 64h + 32 * (t & 1) + 16u + [0, 16)) has the low 4 bits
// (low nibble for t < 2, high for t >= 2), qh (bytes 32h + 16u + [0, 16)) the top 2 bits at bits
// 2t..2t+1.
template <int kT>
inline __m256i decode6(__m256i ql, __m256i qh) {
  const __m256i m4 = _mm256_set1_epi8(0x0f);
  const __m256i m30 = _mm256_set1_epi8(0x30);
  const __m256i low =
      kT < 2 ? _mm256_and_si256(ql, m4) : _mm256_and_si256(_mm256_srli_epi16(ql, 4), m4);
  __m256i top;
  if constexpr (kT == 0) top = _mm256_slli_epi16(qh, 4);
  if constexpr (kT == 1) top = _mm256_slli_epi16(qh, 2);
  if constexpr (kT == 2) top = qh;
  if constexpr (kT == 3) top = _mm256_srli_epi16(qh, 2);
  return _mm256_or_si256(low, _mm256_and_si256(top, m30));
}

// acc[j] += the products of sub-block s of the 4 rows (chunks q0, q1, int16 scales sc) with
// activation quants xq[j].
template <int kN>
inline void subblock(__m256i q0, __m256i q1, __m256i sc, int s, const uint8_t* const xq[kN],
                     __m256i acc[kN]) {
  DARI_UNROLL
  for (int j = 0; j < kN; ++j) {
    const __m256i x0 = _mm256_set1_epi64x(i64_at(xq[j] + 16 * s));
    const __m256i x1 = _mm256_set1_epi64x(i64_at(xq[j] + 16 * s + 8));
    const __m256i p = _mm256_add_epi16(_mm256_maddubs_epi16(q0, x0), _mm256_maddubs_epi16(q1, x1));
    acc[j] = _mm256_add_epi32(acc[j], _mm256_madd_epi16(p, sc));
  }
}

// The exact sumi of one super-block of 4 rows (r[0..3]) against kN activation super-blocks xb[j],
// as two int32 per row in 64-bit lane r of acc[j].
template <int kN>
inline void quad_isum(const uint8_t* const r[4], const uint8_t* const xb[kN], __m256i acc[kN]) {
  const uint8_t* xq[kN];
  DARI_UNROLL
  for (int j = 0; j < kN; ++j) {
    xq[j] = xb[j] + offsetof(BlockQ8_K, qs);
    acc[j] = _mm256_setzero_si256();
  }
  __m256i t[4];
  load_scales(r, t);
  DARI_UNROLL
  for (int h = 0; h < 2; ++h) {
    DARI_UNROLL
    for (int u = 0; u < 2; ++u) {
      __m256i qh[2], ql[2];
      load4(r, kQh + 32 * h + 16 * u, &qh[0], &qh[1]);
      load4(r, kQl + 64 * h + 16 * u, &ql[0], &ql[1]);  // t = 0, 2
      const int s0 = 8 * h + u;                         // sub-block of t = 0
      subblock<kN>(decode6<0>(ql[0], qh[0]), decode6<0>(ql[1], qh[1]),
                   _mm256_shuffle_epi8(t[s0 / 4], pick_in_qword(s0 % 4)), s0, xq, acc);
      subblock<kN>(decode6<2>(ql[0], qh[0]), decode6<2>(ql[1], qh[1]),
                   _mm256_shuffle_epi8(t[(s0 + 4) / 4], pick_in_qword(s0 % 4)), s0 + 4, xq, acc);
      load4(r, kQl + 64 * h + 32 + 16 * u, &ql[0], &ql[1]);  // t = 1, 3
      subblock<kN>(decode6<1>(ql[0], qh[0]), decode6<1>(ql[1], qh[1]),
                   _mm256_shuffle_epi8(t[(s0 + 2) / 4], pick_in_qword((s0 + 2) % 4)), s0 + 2, xq,
                   acc);
      subblock<kN>(decode6<3>(ql[0], qh[0]), decode6<3>(ql[1], qh[1]),
                   _mm256_shuffle_epi8(t[(s0 + 6) / 4], pick_in_qword((s0 + 6) % 4)), s0 + 6, xq,
                   acc);
    }
  }
  // Bias: 32 * sum_s sc[s] * bsums[s] (|32 sc| <= 4096 fits int16).
  DARI_UNROLL
  for (int m = 0; m < 4; ++m) {
    const __m256i b32 = _mm256_slli_epi16(t[m], 5);
    DARI_UNROLL
    for (int j = 0; j < kN; ++j) {
      const __m256i bs = _mm256_set1_epi64x(i64_at(xb[j] + offsetof(BlockQ8_K, bsums) + 8 * m));
      acc[j] = _mm256_sub_epi32(acc[j], _mm256_madd_epi16(b32, bs));
    }
  }
}

// Shuffle control that broadcasts int16 `lo` of each 128-bit half to the low half and `hi` to the
// high half (both halves of the source hold the same 8 int16).
inline __m256i pick16(int lo, int hi) {
  const auto b = [](int l) { return static_cast<char>(2 * l); };
  const auto c = [](int l) { return static_cast<char>(2 * l + 1); };
  return _mm256_setr_epi8(b(lo), c(lo), b(lo), c(lo), b(lo), c(lo), b(lo), c(lo), b(lo), c(lo),
                          b(lo), c(lo), b(lo), c(lo), b(lo), c(lo), b(hi), c(hi), b(hi), c(hi),
                          b(hi), c(hi), b(hi), c(hi), b(hi), c(hi), b(hi), c(hi), b(hi), c(hi),
                          b(hi), c(hi));
}

// Row layout (for few activation rows): the exact sumi of one row's super-block b against kN
// activation super-blocks xb[j], as 8 int32 lanes in acc[j]. Registers hold 32 consecutive
// elements of the row, as in the per-row tile kernels.
template <int kN>
inline void row_isum(const uint8_t* b, const uint8_t* const xb[kN], __m256i acc[kN]) {
  const __m256i low4 = _mm256_set1_epi8(0x0f);
  const __m256i hi2 = _mm256_set1_epi8(0x30);
  const __m256i sc16 = _mm256_cvtepi8_epi16(loadu128(b + kSc));
  const __m256i half[2] = {_mm256_broadcastsi128_si256(_mm256_castsi256_si128(sc16)),
                           _mm256_broadcastsi128_si256(_mm256_extracti128_si256(sc16, 1))};
  const __m256i b32 = _mm256_slli_epi16(sc16, 5);  // |32 * sc| <= 4096
  DARI_UNROLL
  for (int j = 0; j < kN; ++j) {
    const __m256i bs =
        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb[j] + offsetof(BlockQ8_K, bsums)));
    acc[j] = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_madd_epi16(b32, bs));
  }
  DARI_UNROLL
  for (int h = 0; h < 2; ++h) {
    const __m256i ql0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + kQl + 64 * h));
    const __m256i ql1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + kQl + 64 * h + 32));
    const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + kQh + 32 * h));
    const __m256i q[4] = {_mm256_or_si256(_mm256_and_si256(ql0, low4),
                                          _mm256_and_si256(_mm256_slli_epi16(qh, 4), hi2)),
                          _mm256_or_si256(_mm256_and_si256(ql1, low4),
                                          _mm256_and_si256(_mm256_slli_epi16(qh, 2), hi2)),
                          _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), low4),
                                          _mm256_and_si256(qh, hi2)),
                          _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), low4),
                                          _mm256_and_si256(_mm256_srli_epi16(qh, 2), hi2))};
    DARI_UNROLL
    for (int t = 0; t < 4; ++t) {
      const __m256i scv = _mm256_shuffle_epi8(half[h], pick16(2 * t, 2 * t + 1));
      DARI_UNROLL
      for (int j = 0; j < kN; ++j) {
        const __m256i x = _mm256_loadu_si256(
            reinterpret_cast<const __m256i*>(xb[j] + offsetof(BlockQ8_K, qs) + 128 * h + 32 * t));
        acc[j] = _mm256_add_epi32(acc[j], _mm256_madd_epi16(_mm256_maddubs_epi16(q[t], x), scv));
      }
    }
  }
}

// Row after row (for few activation rows: each row is one sequential stream, as in the tile
// kernels): out[j * out_stride + r] for the 8 rows, with the same per-lane float operations as
// the interleaved paths (fma(float(sumi), d_w * d_x, acc) per super-block, in order).
template <int kN>
void seq_rows(const GroupArgs& a) {
  const int64_t nb = a.k / kQK_K;
  for (int r = 0; r < 8; ++r) {
    const uint8_t* row = a.w + static_cast<uint64_t>(r) * a.w_stride;
    __m128 sum[kN];
    DARI_UNROLL
    for (int j = 0; j < kN; ++j) sum[j] = _mm_setzero_ps();
    for (int64_t ib = 0; ib < nb; ++ib) {
      const uint8_t* b = row + ib * kW;
      DARI_UNROLL
      for (int64_t o = 0; o < kW; o += 64) {
        _mm_prefetch(reinterpret_cast<const char*>(b + kRowPrefetch + o), _MM_HINT_T0);
      }
      const uint8_t* xb[kN];
      DARI_UNROLL
      for (int j = 0; j < kN; ++j)
        xb[j] = a.act + static_cast<uint64_t>(j) * a.act_stride + ib * kX;
      __m256i acc[kN];
      row_isum<kN>(b, xb, acc);
      const __m128 dw = _mm_cvtph_ps(_mm_cvtsi32_si128(u16_at(b + kD)));
      DARI_UNROLL
      for (int j = 0; j < kN; ++j) {
        float dx;
        std::memcpy(&dx, xb[j] + offsetof(BlockQ8_K, d), sizeof dx);
        const __m128 isum = _mm_cvtsi32_ss(_mm_setzero_ps(), hsum_epi32(acc[j]));
        sum[j] = _mm_fmadd_ss(isum, _mm_mul_ss(dw, _mm_set_ss(dx)), sum[j]);
      }
    }
    DARI_UNROLL
    for (int j = 0; j < kN; ++j) a.out[j * a.out_stride + r] = _mm_cvtss_f32(sum[j]);
  }
}

// fp32 super-block scales of the 8 rows in hadd lane order: rows 0, 1, 4, 5, 2, 3, 6, 7.
inline __m256 row_scales(const uint8_t* const rows[8]) {
  const __m128i h = _mm_setr_epi16(
      static_cast<short>(u16_at(rows[0] + kD)), static_cast<short>(u16_at(rows[1] + kD)),
      static_cast<short>(u16_at(rows[4] + kD)), static_cast<short>(u16_at(rows[5] + kD)),
      static_cast<short>(u16_at(rows[2] + kD)), static_cast<short>(u16_at(rows[3] + kD)),
      static_cast<short>(u16_at(rows[6] + kD)), static_cast<short>(u16_at(rows[7] + kD)));
  return _mm256_cvtph_ps(h);
}

// The 8 rows interleaved, 4 per register (for more activation rows): out[j * out_stride + r].
template <int kN>
void quad_rows(const GroupArgs& a) {
  const int64_t nb = a.k / kQK_K;
  __m256 acc[kN];
  DARI_UNROLL
  for (int j = 0; j < kN; ++j) acc[j] = _mm256_setzero_ps();
  // The group kPrefetchGroups ahead, as one sequential sweep spread over the nb steps, into L2
  // (8 rows of k = 2048 are 13 KiB: two groups in L1 would evict each other).
  const uint64_t span = 8 * a.w_stride;
  const uint64_t pf_step = (span + static_cast<uint64_t>(nb) - 1) / static_cast<uint64_t>(nb);
  const uint8_t* pf = a.w + kPrefetchGroups * span;
  for (int64_t ib = 0; ib < nb; ++ib) {
    for (uint64_t o = 0; o < pf_step; o += 64) {
      _mm_prefetch(reinterpret_cast<const char*>(pf + static_cast<uint64_t>(ib) * pf_step + o),
                   _MM_HINT_T1);
    }
    const uint8_t* rows[8];
    DARI_UNROLL
    for (int r = 0; r < 8; ++r) rows[r] = a.w + static_cast<uint64_t>(r) * a.w_stride + ib * kW;
    const uint8_t* xb[kN];
    DARI_UNROLL
    for (int j = 0; j < kN; ++j) xb[j] = a.act + static_cast<uint64_t>(j) * a.act_stride + ib * kX;
    __m256i lo[kN], hi[kN];
    quad_isum<kN>(rows, xb, lo);
    quad_isum<kN>(rows + 4, xb, hi);
    const __m256 dw = row_scales(rows);
    DARI_UNROLL
    for (int j = 0; j < kN; ++j) {
      float dx;
      std::memcpy(&dx, xb[j] + offsetof(BlockQ8_K, d), sizeof dx);
      // Two int32 per row and register; hadd: one per row, rows (0, 1, 4, 5 | 2, 3, 6, 7).
      const __m256i isum = _mm256_hadd_epi32(lo[j], hi[j]);
      // d_w * d_x rounds as the scalar product does (one IEEE multiply per lane).
      acc[j] =
          _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_mul_ps(dw, _mm256_set1_ps(dx)), acc[j]);
    }
  }
  const __m256i order = _mm256_setr_epi32(0, 1, 4, 5, 2, 3, 6, 7);  // lanes back to rows 0..7
  DARI_UNROLL
  for (int j = 0; j < kN; ++j) {
    _mm256_storeu_ps(a.out + j * a.out_stride, _mm256_permutevar8x32_ps(acc[j], order));
  }
}

template <int kN>
void group_q6_k_n(const GroupArgs& a) {
  if constexpr (kN <= kSeqMaxActs) {
    seq_rows<kN>(a);
  } else {
    quad_rows<kN>(a);
  }
}

void group_q6_k(const GroupArgs& a) {
  using Fn = void (*)(const GroupArgs&);
  static constexpr Fn kTable[kGroupActMax] = {group_q6_k_n<1>, group_q6_k_n<2>, group_q6_k_n<3>,
                                              group_q6_k_n<4>, group_q6_k_n<5>, group_q6_k_n<6>,
                                              group_q6_k_n<7>, group_q6_k_n<8>};
  kTable[a.n_act - 1](a);
}

}  // namespace

void fill_avx2_group_k(IsaKernels* t) {
  t->group[kWQ6_K] = GroupKernel{group_q6_k, nullptr};  // bsums come with the activation
}

}  // namespace dari::simd::detail
#endif  // __x86_64__
