// AVX2 kernel for Q4_0x8 (packed.h) x Q8_0 activations. Per block of 8 rows: one load of the
// 8 scales and four 256-bit loads of nibbles, each register holding 4 elements of every row in
// that row's 32-bit lane. Per activation row, 4 activation bytes are broadcast to all lanes, so
// maddubs multiplies row r's 4 elements with the matching 4 activation values in lane r; the 8
// maddubs results of a block add up in int16 (each lane at most 8 * 2 * 15 * 128 = 30720 in
// magnitude) and one madd with ones gives each row's exact integer dot in its lane: no cross-lane
// reduction. The -8 offset of Q4_0 comes off as the activation block's precomputed sum, and one
// FMA per block scales 8 rows at once, the scalar reference's formula and order (the same bits
// as the portable kernel and as the unpacked row-group kernel).
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

}  // namespace

void packed_q4_0x8_avx2(const PackedKernelArgs& a) {
  using Fn = void (*)(const PackedKernelArgs&);
  static constexpr Fn kTable[kPackedActMax] = {packed_n<1>, packed_n<2>, packed_n<3>, packed_n<4>,
                                               packed_n<5>, packed_n<6>, packed_n<7>, packed_n<8>};
  kTable[a.n_act - 1](a);
}

}  // namespace dari::simd::detail
#endif  // __x86_64__
