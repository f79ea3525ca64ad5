// AVX2 row-group kernels for F32, F16 and BF16 weights (activations of the same type; Q4_0 / Q8_0:
// avx2_group.cpp, Q6_K: avx2_group_k.cpp).
//
// Every output (weight row r, activation row j) is the same reduction, whatever the tile: two
// 8-lane fp32 chains, the first over the even 8-element steps of k and the second over the odd
// ones (acc = fma(w, x, acc) in order), then hsum_ps(first + second), then the k % 8 tail
// element by element. A row's result therefore never depends on n_act or on the other rows
// (batch invariance). It differs from the single-row dot's four chains, as the group contract
// allows.
//
// Why: the single-row dot converts the activation again for every weight row and each converted
// weight register serves one activation row. Two chains per output leave room in the 16
// registers for tiles of 2 weight rows x 3 activation rows (12 accumulators): 5 conversions per
// 6 FMAs, and conversion (F16C, or a widen and shift for BF16) runs beside the two FMA pipes, so
// prefill is bound by FMA throughput. With one activation row (decode) the rows run one after
// another, so the matrix is read as one sequential stream (eight rows read side by side measured
// 40% slower); two chains keep a row's FMAs ahead of memory.
//
// Compiled with -mavx2 -mfma -mf16c; helpers stay in an anonymous namespace (no ODR leaks).
#if defined(__x86_64__)
#include <immintrin.h>

#include <cstring>

#include "backend/cpu/simd/avx2_util.h"
#include "backend/cpu/simd/simd_internal.h"

#define DARI_UNROLL _Pragma("GCC unroll 16")

namespace dari::simd::detail {
namespace {

// How far ahead of the current position a decode row is prefetched, in bytes (past the row's
// end this is usually the next row; a prefetch never faults).
constexpr uint64_t kPrefetchAhead = 4096;

// The loaders of one element type.
template <int kBytes, __m256 (*kLoad8)(const uint8_t*), float (*kLoad1)(const uint8_t*)>
struct Elem {
  static constexpr uint64_t kSize = kBytes;
  static __m256 load8(const uint8_t* p) { return kLoad8(p); }
  static float load1(const uint8_t* p) { return kLoad1(p); }
};
using ElemF32 = Elem<4, load8_f32, one_f32>;
using ElemF16 = Elem<2, load8_f16, one_f16>;
using ElemBF16 = Elem<2, load8_bf16, one_bf16>;

// One 8-element step s (at element offset o) of weight rows w[0..kR) against activation rows
// x[0..kJ): into chain s % 2 of each output.
template <class E, int kR, int kJ, int kChain>
inline void step(const uint8_t* const w[kR], const uint8_t* const x[kJ], uint64_t o,
                 __m256 acc[kR][kJ][2]) {
  __m256 wv[kR];
  DARI_UNROLL
  for (int r = 0; r < kR; ++r) wv[r] = E::load8(w[r] + o);
  DARI_UNROLL
  for (int j = 0; j < kJ; ++j) {
    const __m256 xv = E::load8(x[j] + o);
    DARI_UNROLL
    for (int r = 0; r < kR; ++r) acc[r][j][kChain] = _mm256_fmadd_ps(wv[r], xv, acc[r][j][kChain]);
  }
}

// Weight rows [r0, r0 + kR) x activation rows [j0, j0 + kJ) of the group: the reduction of the
// file comment for each of the kR * kJ outputs.
template <class E, int kR, int kJ>
void tile(const GroupArgs& a, int r0, int j0) {
  const uint8_t* w[kR];
  const uint8_t* x[kJ];
  DARI_UNROLL
  for (int r = 0; r < kR; ++r) w[r] = a.w + static_cast<uint64_t>(r0 + r) * a.w_stride;
  DARI_UNROLL
  for (int j = 0; j < kJ; ++j) x[j] = a.act + static_cast<uint64_t>(j0 + j) * a.act_stride;
  __m256 acc[kR][kJ][2];
  DARI_UNROLL
  for (int r = 0; r < kR; ++r) {
    DARI_UNROLL
    for (int j = 0; j < kJ; ++j) acc[r][j][0] = acc[r][j][1] = _mm256_setzero_ps();
  }
  const int64_t steps = a.k / 8;
  int64_t s = 0;
  for (; s + 2 <= steps; s += 2) {
    const uint64_t o = static_cast<uint64_t>(s) * 8 * E::kSize;
    if (kJ == 1 && kR == 1) {
      _mm_prefetch(reinterpret_cast<const char*>(w[0] + o + kPrefetchAhead), _MM_HINT_T0);
    }
    step<E, kR, kJ, 0>(w, x, o, acc);
    step<E, kR, kJ, 1>(w, x, o + 8 * E::kSize, acc);
  }
  if (s < steps) step<E, kR, kJ, 0>(w, x, static_cast<uint64_t>(s) * 8 * E::kSize, acc);
  for (int r = 0; r < kR; ++r) {
    for (int j = 0; j < kJ; ++j) {
      float sum = hsum_ps(_mm256_add_ps(acc[r][j][0], acc[r][j][1]));
      for (int64_t e = steps * 8; e < a.k; ++e) {
        const uint64_t o = static_cast<uint64_t>(e) * E::kSize;
        sum += E::load1(w[r] + o) * E::load1(x[j] + o);
      }
      a.out[(j0 + j) * a.out_stride + r0 + r] = sum;
    }
  }
}

// Tiles of 2 weight rows x kJ activation rows over the 8 rows.
template <class E, int kJ>
void row_pairs(const GroupArgs& a, int j0) {
  DARI_UNROLL
  for (int r = 0; r < 8; r += 2) tile<E, 2, kJ>(a, r, j0);
}

// The 8 rows x n_act: 2 x 3 tiles while 3 activation rows remain, then 2 x 2, and a single
// activation row row by row.
template <class E>
void group_float(const GroupArgs& a) {
  int j = 0;
  for (; j + 3 <= a.n_act; j += 3) row_pairs<E, 3>(a, j);
  if (a.n_act - j == 2) {
    row_pairs<E, 2>(a, j);
  } else if (a.n_act - j == 1) {
    for (int r = 0; r < 8; ++r) tile<E, 1, 1>(a, r, j);
  }
}

}  // namespace

void fill_avx2_group_float(IsaKernels* t) {
  t->group[kWF32] = GroupKernel{group_float<ElemF32>, nullptr};
  t->group[kWF16] = GroupKernel{group_float<ElemF16>, nullptr};
  t->group[kWBF16] = GroupKernel{group_float<ElemBF16>, nullptr};
}

}  // namespace dari::simd::detail
#endif  // __x86_64__
