// AVX2 kernels for Q4_0x8 x Q8_0 and Q4_Kx8 / Q5_Kx8 x Q8_K activations (packed.h).
//
// Q4_0x8, per block of 8 rows: one load of the 8 scales and four 256-bit loads of nibbles, each
// register holding 4 elements of every row in that row's 32-bit lane. Per activation row, 4
// activation bytes are broadcast to all lanes, so maddubs multiplies row r's 4 elements with the
// matching 4 activation values in lane r; the 8 maddubs results of a block add up in int16 (each
// lane at most 8 * 2 * 15 * 128 = 30720 in magnitude) and one madd with ones gives each row's exact
// integer dot in its lane: no cross-lane reduction. The -8 offset of Q4_0 comes off as the
// activation block's precomputed sum, and one FMA per block scales 8 rows at once, the scalar
// reference's formula and order (the same bits as the portable kernel and as the unpacked row-group
// kernel).
//
// Compiled with -mavx2 -mfma -mf16c; helpers stay in an anonymous namespace (no ODR leaks).
#if defined(__x86_64__)
#include <immintrin.h>

#include <cstring>

#include "backend/cpu/simd/avx2_util.h"
#include "backend/cpu/simd/packed.h"
#include "backend/cpu/simd/packed_internal.h"
#include "dari/tensor/blocks.h"

#define DARI_UNROLL _Pragma("GCC unroll 8")

namespace dari::simd::detail {
namespace {

constexpr uint64_t kX = sizeof(BlockQ8_0);
constexpr size_t kXQs = offsetof(BlockQ8_0, qs);

// One block of 8 rows: q[c] holds elements 4c..4c+3 of rows 0..7 (lane r: row r), c in [0, 8);
// the scales in row order.
struct Block8 {
  __m256i q[8];
  __m256 scale;
};

inline void load_block(const uint8_t* p, Block8* b) {
  const __m256i m4 = _mm256_set1_epi8(0x0f);
  b->scale = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  DARI_UNROLL
  for (int c = 0; c < 4; ++c) {
    const __m256i raw = loadu256(p + 16 + 32 * c);                  // qs[4c..4c+3] of each row
    b->q[c] = _mm256_and_si256(raw, m4);                            // elements 4c..4c+3
    b->q[c + 4] = _mm256_and_si256(_mm256_srli_epi16(raw, 4), m4);  // elements 16+4c..
  }
}

// Exact integer dots of the 8 rows with one activation block's 32 int8 (lane r: row r).
inline __m256i block_isum(const Block8& b, const uint8_t* xq) {
  __m256i s = _mm256_maddubs_epi16(b.q[0], _mm256_set1_epi32(i32_at(xq)));
  DARI_UNROLL
  for (int c = 1; c < 8; ++c) {
    s = _mm256_add_epi16(s, _mm256_maddubs_epi16(b.q[c], _mm256_set1_epi32(i32_at(xq + 4 * c))));
  }
  return _mm256_madd_epi16(s, _mm256_set1_epi16(1));
}

template <int kN>
void packed_n(const PackedKernelArgs& a) {
  for (int64_t g = 0; g < a.n_groups; ++g) {
    const uint8_t* p = a.w + static_cast<uint64_t>(g * a.nb) * kPackBlockBytes;
    __m256 acc[kN];
    DARI_UNROLL
    for (int j = 0; j < kN; ++j) acc[j] = _mm256_setzero_ps();
    for (int64_t ib = 0; ib < a.nb; ++ib, p += kPackBlockBytes) {
      Block8 b;
      load_block(p, &b);
      DARI_UNROLL
      for (int j = 0; j < kN; ++j) {
        const uint8_t* xb = a.act + static_cast<uint64_t>(j) * a.act_stride + ib * kX;
        const PackedActBlock& xi = a.info[j * a.nb + ib];
        const __m256i corr = _mm256_set1_epi32(xi.sum8);
        const __m256i isum = _mm256_sub_epi32(block_isum(b, xb + kXQs), corr);
        const __m256 dx = _mm256_broadcast_ss(&xi.dx);
        // dw * dx rounds as one IEEE multiply per lane, as in the portable kernel.
        acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_mul_ps(b.scale, dx), acc[j]);
      }
    }
    DARI_UNROLL
    for (int j = 0; j < kN; ++j) _mm256_storeu_ps(a.out + j * a.out_stride + 8 * g, acc[j]);
  }
}

// ---- Q4_Kx8 x Q8_K ----
// Per super-block of 8 rows: the 6-bit scales and mins of all 8 rows unpacked from three
// registers; per sub-block s (32 elements), the 8 registers of the chunk's nibbles (low nibbles
// for even s, high for odd) and per activation row 8
// broadcast maddubs summed in int16 (the Q4_0 bound: at most 8 * 2 * 15 * 128) and one madd
// with each lane's scale in both int16 halves give scale * (q . x) per row in its lane. The
// mins term takes 4 madds of (min pair, activation sum pair) per super-block. Then the float
// formula of the AVX2 Q4_K row kernel: out = fma(dx, fma(d, sumi, -(dmin * summs)), out).

constexpr uint64_t kXK = sizeof(BlockQ8_K);
constexpr size_t kXKQs = offsetof(BlockQ8_K, qs);

// The 8 rows' 6-bit scales and mins (get_scale_min_k4's layout), unpacked for all rows at once
// from the three words at p: lane r of sc_lo holds row r's scales of sub-blocks 0..3 (a byte
// each), sc_hi those of 4..7, and likewise m_lo, m_hi for the mins.
struct ScalesMins {
  __m256i sc_lo, sc_hi, m_lo, m_hi;
};
inline ScalesMins unpack_scales(const uint8_t* p) {
  const __m256i w0 = loadu256(p), w1 = loadu256(p + 32), w2 = loadu256(p + 64);
  const __m256i m6 = _mm256_set1_epi8(0x3f), m4 = _mm256_set1_epi8(0x0f);
  const __m256i top = _mm256_set1_epi8(0x30);
  ScalesMins r;
  r.sc_lo = _mm256_and_si256(w0, m6);
  r.m_lo = _mm256_and_si256(w1, m6);
  r.sc_hi =
      _mm256_or_si256(_mm256_and_si256(w2, m4), _mm256_and_si256(_mm256_srli_epi32(w0, 2), top));
  r.m_hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi32(w2, 4), m4),
                           _mm256_and_si256(_mm256_srli_epi32(w1, 2), top));
  return r;
}

// Lane r: byte a of lane r as int16 (low half), byte b as int16 (high half), from v.
inline __m256i pick_pair(__m256i v, int a, int b) {
  const auto c = [](int lane, int byte) { return static_cast<char>(4 * lane + byte); };
  const __m256i ctl =
      _mm256_setr_epi8(c(0, a), -1, c(0, b), -1, c(1, a), -1, c(1, b), -1, c(2, a), -1, c(2, b), -1,
                       c(3, a), -1, c(3, b), -1, c(0, a), -1, c(0, b), -1, c(1, a), -1, c(1, b), -1,
                       c(2, a), -1, c(2, b), -1, c(3, a), -1, c(3, b), -1);
  return _mm256_shuffle_epi8(v, ctl);
}

// isum[j] += scale_s * (q_s . x_s) per row lane, for sub-block s = 2c + kShift / 4 of the
// super-block at p; xs[j] points at activation row j's 256 int8.
template <int kN, int kShift>
inline void k_subblock(const uint8_t* p, int c, __m256i scale, const uint8_t* const xs[kN],
                       __m256i isum[kN]) {
  const __m256i m4 = _mm256_set1_epi8(0x0f);
  const int s = 2 * c + kShift / 4;
  __m256i q[8];
  DARI_UNROLL
  for (int j = 0; j < 8; ++j) {
    const __m256i raw = loadu256(p + 128 + 256 * c + 32 * j);
    q[j] = _mm256_and_si256(kShift == 0 ? raw : _mm256_srli_epi16(raw, kShift), m4);
  }
  DARI_UNROLL
  for (int a = 0; a < kN; ++a) {
    const uint8_t* x = xs[a] + 32 * s;
    __m256i t = _mm256_maddubs_epi16(q[0], _mm256_set1_epi32(i32_at(x)));
    DARI_UNROLL
    for (int j = 1; j < 8; ++j) {
      t = _mm256_add_epi16(t, _mm256_maddubs_epi16(q[j], _mm256_set1_epi32(i32_at(x + 4 * j))));
    }
    isum[a] = _mm256_add_epi32(isum[a], _mm256_madd_epi16(t, scale));
  }
}

// Q5_Kx8: bit s of a qh byte moved to bit 4 of the same byte. Shifts stay within 16-bit lanes;
// bits that cross from the other byte land outside bit 4 (at most 4 left or 3 right).
template <int kS>
inline __m256i high_bit(__m256i qh) {
  const __m256i top = kS <= 4 ? _mm256_slli_epi16(qh, 4 - kS) : _mm256_srli_epi16(qh, kS - 4);
  return _mm256_and_si256(top, _mm256_set1_epi8(0x10));
}

// Q5_Kx8, both sub-blocks of chunk kC (s = 2kC: low nibbles, 2kC + 1: high), each raw and qh
// register loaded once: values 0..31, so the maddubs results add in int16 only 4 at a time (at
// most 4 * 2 * 31 * 128 = 31744): one half of the chunk's registers per pass.
template <int kN, int kC>
inline void k5_chunk(const uint8_t* p, __m256i sc_even, __m256i sc_odd, const uint8_t* const xs[kN],
                     __m256i isum[kN]) {
  const __m256i m4 = _mm256_set1_epi8(0x0f);
  DARI_UNROLL
  for (int h = 0; h < 2; ++h) {
    __m256i lo[4], hi[4];
    DARI_UNROLL
    for (int i = 0; i < 4; ++i) {
      const int j = 4 * h + i;
      const __m256i raw = loadu256(p + 128 + 256 * kC + 32 * j);
      const __m256i qh = loadu256(p + kPackK5QhOffset + 32 * j);
      lo[i] = _mm256_or_si256(_mm256_and_si256(raw, m4), high_bit<2 * kC>(qh));
      hi[i] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(raw, 4), m4),
                              high_bit<2 * kC + 1>(qh));
    }
    DARI_UNROLL
    for (int a = 0; a < kN; ++a) {
      const uint8_t* xe = xs[a] + 64 * kC + 16 * h;  // sub-block 2kC, words 4h..4h+3
      const uint8_t* xo = xe + 32;                   // sub-block 2kC + 1
      __m256i te = _mm256_maddubs_epi16(lo[0], _mm256_set1_epi32(i32_at(xe)));
      __m256i to = _mm256_maddubs_epi16(hi[0], _mm256_set1_epi32(i32_at(xo)));
      DARI_UNROLL
      for (int i = 1; i < 4; ++i) {
        te = _mm256_add_epi16(te,
                              _mm256_maddubs_epi16(lo[i], _mm256_set1_epi32(i32_at(xe + 4 * i))));
        to = _mm256_add_epi16(to,
                              _mm256_maddubs_epi16(hi[i], _mm256_set1_epi32(i32_at(xo + 4 * i))));
      }
      isum[a] = _mm256_add_epi32(
          isum[a], _mm256_add_epi32(_mm256_madd_epi16(te, sc_even), _mm256_madd_epi16(to, sc_odd)));
    }
  }
}

template <bool kQ5, int kN>
void packed_k_n(const PackedKernelArgs& a) {
  constexpr uint64_t kBlock = kQ5 ? kPackK5BlockBytes : kPackKBlockBytes;
  for (int64_t g = 0; g < a.n_groups; ++g) {
    const uint8_t* p = a.w + static_cast<uint64_t>(g * a.nb) * kBlock;
    __m256 acc[kN];
    DARI_UNROLL
    for (int j = 0; j < kN; ++j) acc[j] = _mm256_setzero_ps();
    for (int64_t ib = 0; ib < a.nb; ++ib, p += kBlock) {
      const uint8_t* xs[kN];
      __m256i isum[kN];
      DARI_UNROLL
      for (int j = 0; j < kN; ++j) {
        xs[j] = a.act + static_cast<uint64_t>(j) * a.act_stride + ib * kXK + kXKQs;
        isum[j] = _mm256_setzero_si256();
      }
      const ScalesMins sm = unpack_scales(p + 32);
      // Sub-block s's scale in both int16 halves of each row's lane.
      if constexpr (kQ5) {
        k5_chunk<kN, 0>(p, pick_pair(sm.sc_lo, 0, 0), pick_pair(sm.sc_lo, 1, 1), xs, isum);
        k5_chunk<kN, 1>(p, pick_pair(sm.sc_lo, 2, 2), pick_pair(sm.sc_lo, 3, 3), xs, isum);
        k5_chunk<kN, 2>(p, pick_pair(sm.sc_hi, 0, 0), pick_pair(sm.sc_hi, 1, 1), xs, isum);
        k5_chunk<kN, 3>(p, pick_pair(sm.sc_hi, 2, 2), pick_pair(sm.sc_hi, 3, 3), xs, isum);
      } else {
        k_subblock<kN, 0>(p, 0, pick_pair(sm.sc_lo, 0, 0), xs, isum);
        k_subblock<kN, 4>(p, 0, pick_pair(sm.sc_lo, 1, 1), xs, isum);
        k_subblock<kN, 0>(p, 1, pick_pair(sm.sc_lo, 2, 2), xs, isum);
        k_subblock<kN, 4>(p, 1, pick_pair(sm.sc_lo, 3, 3), xs, isum);
        k_subblock<kN, 0>(p, 2, pick_pair(sm.sc_hi, 0, 0), xs, isum);
        k_subblock<kN, 4>(p, 2, pick_pair(sm.sc_hi, 1, 1), xs, isum);
        k_subblock<kN, 0>(p, 3, pick_pair(sm.sc_hi, 2, 2), xs, isum);
        k_subblock<kN, 4>(p, 3, pick_pair(sm.sc_hi, 3, 3), xs, isum);
      }
      // Lane r: min of sub-block 2t (low int16), min of 2t + 1 (high).
      const __m256i mins[4] = {pick_pair(sm.m_lo, 0, 1), pick_pair(sm.m_lo, 2, 3),
                               pick_pair(sm.m_hi, 0, 1), pick_pair(sm.m_hi, 2, 3)};
      const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
      const __m256 dmin =
          _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16)));
      DARI_UNROLL
      for (int j = 0; j < kN; ++j) {
        const PackedActK& xi = a.info_k[j * a.nb + ib];
        __m256i summs = _mm256_madd_epi16(mins[0], _mm256_set1_epi32(xi.min_pairs[0]));
        DARI_UNROLL
        for (int t = 1; t < 4; ++t) {
          summs = _mm256_add_epi32(summs,
                                   _mm256_madd_epi16(mins[t], _mm256_set1_epi32(xi.min_pairs[t])));
        }
        const __m256 diff = _mm256_fmsub_ps(d, _mm256_cvtepi32_ps(isum[j]),
                                            _mm256_mul_ps(dmin, _mm256_cvtepi32_ps(summs)));
        acc[j] = _mm256_fmadd_ps(_mm256_set1_ps(xi.d), diff, acc[j]);
      }
    }
    DARI_UNROLL
    for (int j = 0; j < kN; ++j) _mm256_storeu_ps(a.out + j * a.out_stride + 8 * g, acc[j]);
  }
}

// The K-quant kernel for a.n_act activation rows.
template <bool kQ5>
void packed_k(const PackedKernelArgs& a) {
  using Fn = void (*)(const PackedKernelArgs&);
  static constexpr Fn kTable[kPackedActMax] = {
      packed_k_n<kQ5, 1>, packed_k_n<kQ5, 2>, packed_k_n<kQ5, 3>, packed_k_n<kQ5, 4>,
      packed_k_n<kQ5, 5>, packed_k_n<kQ5, 6>, packed_k_n<kQ5, 7>, packed_k_n<kQ5, 8>};
  kTable[a.n_act - 1](a);
}

}  // namespace

void packed_q4_kx8_avx2(const PackedKernelArgs& a) {
  packed_k<false>(a);
}

void packed_q5_kx8_avx2(const PackedKernelArgs& a) {
  packed_k<true>(a);
}

void packed_q4_0x8_avx2(const PackedKernelArgs& a) {
  using Fn = void (*)(const PackedKernelArgs&);
  static constexpr Fn kTable[kPackedActMax] = {packed_n<1>, packed_n<2>, packed_n<3>, packed_n<4>,
                                               packed_n<5>, packed_n<6>, packed_n<7>, packed_n<8>};
  kTable[a.n_act - 1](a);
}

}  // namespace dari::simd::detail
#endif  // __x86_64__
