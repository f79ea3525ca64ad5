// AVX-512 (F/BW/VL/VNNI) kernels. Q4_0 and Q8_0 use VNNI's vpdpbusd on 256-bit vectors (VL),
// which fuses maddubs + madd into one instruction without int16 saturation and avoids the
// frequency drop of 512-bit ops; the other kernels of this ISA are the AVX2 ones (the table
// starts as a copy of the AVX2 table).
//
// Same structure and per-output order as avx2_dot.cpp's tile (one FMA per block of the exact
// int32 block sum by dw * dx into 8 lanes, 8-lane tree sum at the end), so results equal the
// AVX2 ones bit for bit. Compiled with -mavx512f -mavx512bw -mavx512vl -mavx512vnni; helpers
// stay in an anonymous namespace (no ODR leaks into baseline code). Only called after the
// run-time CPU check in isa.cpp. Not exercised on CPUs without AVX-512 VNNI (tests skip it).
#if defined(__x86_64__) && defined(DARI_SIMD_HAVE_AVX512)
#include <immintrin.h>

#include <cstring>

#include "backend/cpu/simd/avx2_util.h"
#include "backend/cpu/simd/simd_internal.h"
#include "dari/tensor/blocks.h"

#define DARI_UNROLL _Pragma("GCC unroll 8")

namespace dari::simd::detail {
namespace {

// Q4_0: unsigned nibbles (value q - 8); Q8_0: |w| (as unsigned; -128 -> 128) with the sign
// moved onto x. dpbusd multiplies unsigned bytes by signed bytes, 4 per int32 lane.
template <bool kQ4>
inline void load_weights(const uint8_t* block, __m256i* u, __m256i* sign_src) {
  if constexpr (kQ4) {
    const __m128i q =
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(block + offsetof(BlockQ4_0, qs)));
    const __m128i m = _mm_set1_epi8(0x0f);
    *u = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(q, 4), m), _mm_and_si128(q, m));
    *sign_src = *u;
  } else {
    const __m256i w = loadu256(block + offsetof(BlockQ8_0, qs));
    *u = _mm256_abs_epi8(w);
    *sign_src = w;
  }
}

template <bool kQ4, int kW, int kX>
void tile_vnni(int64_t k, const uint8_t* w, uint64_t w_stride, const uint8_t* x, uint64_t x_stride,
               float* out, int64_t out_stride) {
  constexpr int64_t kWBytes = kQ4 ? sizeof(BlockQ4_0) : sizeof(BlockQ8_0);
  constexpr int64_t kXBytes = sizeof(BlockQ8_0);
  __m256 acc[kW][kX];
  DARI_UNROLL
  for (int i = 0; i < kW; ++i) {
    DARI_UNROLL
    for (int j = 0; j < kX; ++j) acc[i][j] = _mm256_setzero_ps();
  }
  const __m256i zero = _mm256_setzero_si256();
  for (int64_t ib = 0; ib < k / kQK8_0; ++ib) {
    __m256i wu[kW];
    __m256i ws[kW];
    float dw[kW];
    DARI_UNROLL
    for (int i = 0; i < kW; ++i) {
      const uint8_t* b = w + static_cast<uint64_t>(i) * w_stride + ib * kWBytes;
      _mm_prefetch(reinterpret_cast<const char*>(b + 512), _MM_HINT_T0);
      load_weights<kQ4>(b, &wu[i], &ws[i]);
      dw[i] = half_at(b);
    }
    DARI_UNROLL
    for (int j = 0; j < kX; ++j) {
      const uint8_t* b = x + static_cast<uint64_t>(j) * x_stride + ib * kXBytes;
      const __m256i xq = loadu256(b + offsetof(BlockQ8_0, qs));
      const float dx = half_at(b);
      __m256i x_sum8 = zero;
      if constexpr (kQ4) x_sum8 = _mm256_dpbusd_epi32(zero, _mm256_set1_epi8(8), xq);
      DARI_UNROLL
      for (int i = 0; i < kW; ++i) {
        __m256i s;
        if constexpr (kQ4) {
          s = _mm256_sub_epi32(_mm256_dpbusd_epi32(zero, wu[i], xq), x_sum8);
        } else {
          s = _mm256_dpbusd_epi32(zero, wu[i], _mm256_sign_epi8(xq, ws[i]));
        }
        acc[i][j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_set1_ps(dw[i] * dx), acc[i][j]);
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
void tile_any(int64_t k, const uint8_t* w, uint64_t ws, int n_w, const uint8_t* x, uint64_t xs,
              int n_x, float* out, int64_t os) {
  using Fn = void (*)(int64_t, const uint8_t*, uint64_t, const uint8_t*, uint64_t, float*, int64_t);
  static constexpr Fn kTable[4][4] = {
      {tile_vnni<kQ4, 1, 1>, tile_vnni<kQ4, 1, 2>, tile_vnni<kQ4, 1, 3>, tile_vnni<kQ4, 1, 4>},
      {tile_vnni<kQ4, 2, 1>, tile_vnni<kQ4, 2, 2>, tile_vnni<kQ4, 2, 3>, tile_vnni<kQ4, 2, 4>},
      {tile_vnni<kQ4, 3, 1>, tile_vnni<kQ4, 3, 2>, tile_vnni<kQ4, 3, 3>, tile_vnni<kQ4, 3, 4>},
      {tile_vnni<kQ4, 4, 1>, tile_vnni<kQ4, 4, 2>, tile_vnni<kQ4, 4, 3>, tile_vnni<kQ4, 4, 4>}};
  kTable[n_w - 1][n_x - 1](k, w, ws, x, xs, out, os);
}

template <bool kQ4>
void dot_vnni(int64_t n, const void* w, const void* x, float* out) {
  tile_vnni<kQ4, 1, 1>(n, static_cast<const uint8_t*>(w), 0, static_cast<const uint8_t*>(x), 0, out,
                       0);
}

}  // namespace

void fill_avx512(IsaKernels* t) {
  t->dot[kWQ4_0] = dot_vnni<true>;
  t->dot[kWQ8_0] = dot_vnni<false>;
  t->tile[kWQ4_0] = tile_any<true>;
  t->tile[kWQ8_0] = tile_any<false>;
}

}  // namespace dari::simd::detail
#endif  // __x86_64__ && DARI_SIMD_HAVE_AVX512
