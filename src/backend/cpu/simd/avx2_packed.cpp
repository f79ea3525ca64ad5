// AVX2 kernel for Q4_0x8 (packed.h) x Q8_0 activations: per block of 8 rows, one load of the 8
// scales and four 256-bit loads of nibbles already in register order, then per activation row
// the arithmetic of the unpacked Q4_0 row-group kernel (avx2_group.cpp): maddubs of unsigned
// nibbles with the broadcast activation bytes, one hadd to bring each row's integer dot into its
// lane, the -8 offset through the activation block sums, and one FMA per block for 8 rows.
//
// Compiled with -mavx2 -mfma -mf16c; helpers stay in an anonymous namespace (no ODR leaks).
#if defined(__x86_64__)
#include <immintrin.h>

#include <cstring>

#include "backend/cpu/simd/packed.h"
#include "backend/cpu/simd/packed_internal.h"
#include "dari/tensor/blocks.h"

#define DARI_UNROLL _Pragma("GCC unroll 8")

namespace dari::simd::detail {
namespace {

constexpr uint64_t kX = sizeof(BlockQ8_0);
constexpr size_t kXQs = offsetof(BlockQ8_0, qs);

inline __m256i load256(const uint8_t* p) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
}

inline int64_t i64_at(const uint8_t* p) {
  int64_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

inline uint16_t u16_at(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, sizeof h);
  return h;
}

// One block of 8 rows: nibble registers as in avx2_group.cpp (lo: rows 0-3, hi: rows 4-7;
// register c holds elements 8c..8c+7) and the scales in lane order.
struct Block8 {
  __m256i lo[4];
  __m256i hi[4];
  __m256 scale;
};

inline void load_block(const uint8_t* p, Block8* b) {
  const __m256i m4 = _mm256_set1_epi8(0x0f);
  b->scale = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  const __m256i a03 = load256(p + 16), b03 = load256(p + 48);
  const __m256i a47 = load256(p + 80), b47 = load256(p + 112);
  b->lo[0] = _mm256_and_si256(a03, m4);
  b->lo[1] = _mm256_and_si256(b03, m4);
  b->lo[2] = _mm256_and_si256(_mm256_srli_epi16(a03, 4), m4);
  b->lo[3] = _mm256_and_si256(_mm256_srli_epi16(b03, 4), m4);
  b->hi[0] = _mm256_and_si256(a47, m4);
  b->hi[1] = _mm256_and_si256(b47, m4);
  b->hi[2] = _mm256_and_si256(_mm256_srli_epi16(a47, 4), m4);
  b->hi[3] = _mm256_and_si256(_mm256_srli_epi16(b47, 4), m4);
}

// Exact integer dots of the 8 rows with one activation block's 32 int8 (lanes as the scales).
inline __m256i block_isum(const Block8& b, const uint8_t* xq) {
  __m256i s03 = _mm256_setzero_si256();
  __m256i s47 = _mm256_setzero_si256();
  DARI_UNROLL
  for (int c = 0; c < 4; ++c) {
    const __m256i xc = _mm256_set1_epi64x(i64_at(xq + 8 * c));
    s03 = _mm256_add_epi16(s03, _mm256_maddubs_epi16(b.lo[c], xc));
    s47 = _mm256_add_epi16(s47, _mm256_maddubs_epi16(b.hi[c], xc));
  }
  const __m256i ones = _mm256_set1_epi16(1);
  return _mm256_hadd_epi32(_mm256_madd_epi16(s03, ones), _mm256_madd_epi16(s47, ones));
}

template <int kN>
void packed_n(const PackedKernelArgs& a) {
  const __m256i order = _mm256_setr_epi32(0, 1, 4, 5, 2, 3, 6, 7);
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
        const __m256i corr = _mm256_set1_epi32(a.sums[j * a.nb + ib]);
        const __m256i isum = _mm256_sub_epi32(block_isum(b, xb + kXQs), corr);
        const __m256 dx = _mm256_cvtph_ps(_mm_set1_epi16(static_cast<short>(u16_at(xb))));
        // dw * dx rounds as one IEEE multiply per lane, as in the portable kernel.
        acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_mul_ps(b.scale, dx), acc[j]);
      }
    }
    DARI_UNROLL
    for (int j = 0; j < kN; ++j) {
      _mm256_storeu_ps(a.out + j * a.out_stride + 8 * g, _mm256_permutevar8x32_ps(acc[j], order));
    }
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
