// Private plumbing of the packed Q4_0x8 matmul (packed.h): the per-ISA kernel signature.
// Not for use outside src/backend/cpu/simd.
#pragma once

#include <cstdint>

#include "backend/cpu/simd/packed.h"

namespace dari::simd::detail {

using simd::PackedActBlock;

// n_groups consecutive groups of 8 rows (starting at w, packed layout) against n_act (1..8)
// Q8_0 activation rows:
//   out[a * out_stride + 8 * g + i] = row 8g + i . activation row a
// info[a * nb + b] describes block b of activation row a.
struct PackedKernelArgs {
  int64_t nb = 0;  // blocks per row (k / 32)
  const uint8_t* w = nullptr;
  int64_t n_groups = 0;
  const uint8_t* act = nullptr;
  uint64_t act_stride = 0;
  const PackedActBlock* info = nullptr;
  int n_act = 0;
  float* out = nullptr;
  int64_t out_stride = 0;
};
using PackedKernelFn = void (*)(const PackedKernelArgs& args);
inline constexpr int kPackedActMax = 8;

#if defined(__x86_64__)
void packed_q4_0x8_avx2(const PackedKernelArgs& args);  // avx2_packed.cpp
#endif

}  // namespace dari::simd::detail
