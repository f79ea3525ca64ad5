// Private plumbing of the packed matmuls (packed.h): the per-ISA kernel signature and the
// driver the Q4_0x8 and Q4_Kx8 entry points share.
// Not for use outside src/backend/cpu/simd.
#pragma once

#include <cstdint>

#include "backend/cpu/simd/packed.h"

namespace dari::simd::detail {

using simd::PackedActBlock;
using simd::PackedActK;

// n_groups consecutive groups of 8 rows (starting at w, packed layout) against n_act (1..8)
// activation rows (Q8_0 for Q4_0x8, Q8_K for Q4_Kx8):
//   out[a * out_stride + 8 * g + i] = row 8g + i . activation row a
// info[a * nb + b] (info_k for Q4_Kx8) describes block b of activation row a.
struct PackedKernelArgs {
  int64_t nb = 0;  // blocks per row: k / 32 (Q4_0x8) or super-blocks, k / 256 (Q4_Kx8)
  const uint8_t* w = nullptr;
  int64_t n_groups = 0;
  const uint8_t* act = nullptr;
  uint64_t act_stride = 0;
  const PackedActBlock* info = nullptr;
  const PackedActK* info_k = nullptr;
  int n_act = 0;
  float* out = nullptr;
  int64_t out_stride = 0;
};
using PackedKernelFn = void (*)(const PackedKernelArgs& args);
inline constexpr int kPackedActMax = 8;

// One packed format as the driver sees it.
struct PackedFormat {
  const char* fn = "";       // the entry point's name, for messages
  int64_t block_elems = 0;   // elements per block (32 or 256)
  uint64_t block_bytes = 0;  // bytes per block of 8 rows
  uint64_t act_bytes = 0;    // bytes per activation block (Q8_0 or Q8_K)
  PackedKernelFn kernel = nullptr;
};
// Checks the arguments that do not depend on the format's side data, then runs the kernel over
// cache blocks of groups and chunks of kPackedActMax activation rows. `info` / `info_k` must
// describe every activation row (the caller computes them when the args carry none).
Status check_packed(const PackedFormat& f, const PackedMatmulArgs& a);
void run_packed(const PackedFormat& f, const PackedMatmulArgs& a, const PackedActBlock* info,
                const PackedActK* info_k);

#if defined(__x86_64__)
void packed_q4_0x8_avx2(const PackedKernelArgs& args);  // avx2_packed.cpp
void packed_q4_kx8_avx2(const PackedKernelArgs& args);  // avx2_packed.cpp
#endif

}  // namespace dari::simd::detail
