// Private plumbing of the packed matmuls (packed.h): the per-ISA kernel signature and the
// driver the Q4_0x8, Q4_Kx8 and Q5_Kx8 entry points share.
// Not for use outside src/backend/cpu/simd.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "backend/cpu/simd/packed.h"

namespace dari::simd::detail {

using simd::PackedActBlock;
using simd::PackedActK;

// n_groups consecutive groups of 8 rows (starting at w, packed layout) against n_act (1..8)
// activation rows (Q8_0 for Q4_0x8, Q8_K for the K-quant layouts):
//   out[a * out_stride + 8 * g + i] = row 8g + i . activation row a
// info[a * nb + b] (info_k for the K-quant layouts) describes block b of activation row a.
struct PackedKernelArgs {
  int64_t nb = 0;  // blocks per row: k / 32 (Q4_0x8) or super-blocks, k / 256 (K-quants)
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

// Bytes of `rows` rows (whole groups of 8) of k elements packed as block_bytes per group and
// block of block_elems, or nullopt (rows not a positive multiple of 8, k not a positive multiple
// of block_elems, overflow).
std::optional<uint64_t> packed_matrix_bytes(int64_t rows, int64_t k, int64_t block_elems,
                                            uint64_t block_bytes);
// k a positive multiple of block_elems, 0 <= gb <= ge, and the matrix of ge groups addressable:
// else an error whose message starts with fn.
Status check_groups(const char* fn, int64_t k, int64_t block_elems, uint64_t block_bytes,
                    int64_t gb, int64_t ge);

// Copies the groups of a RepackArgs after checking them (messages start with fn): for each
// group and block b, pack(the group's 8 source rows, b, destination block). row_block_bytes:
// bytes of one source block of one row; block_bytes: of one packed block of 8 rows.
using PackBlockFn = void (*)(const uint8_t* const rows[8], uint64_t b, uint8_t* dst);
Status repack_groups(const char* fn, const RepackArgs& a, int64_t block_elems,
                     uint64_t row_block_bytes, uint64_t block_bytes, PackBlockFn pack);

// The caller's activation side data, else `fill`ed here for every activation row into a
// per-thread scratch reused across calls (valid until this thread's next call).
template <typename Info>
const Info* act_info_or_own(const PackedMatmulArgs& a, const Info* given, int64_t nb,
                            void (*fill)(const void* act_row, int64_t k, Info* out)) {
  if (given != nullptr) return given;
  thread_local std::vector<Info> own;
  own.resize(static_cast<size_t>(nb) * static_cast<size_t>(a.n_act));
  for (int64_t j = 0; j < a.n_act; ++j) {
    fill(static_cast<const uint8_t*>(a.act) + static_cast<uint64_t>(j) * a.act_stride, a.k,
         own.data() + j * nb);
  }
  return own.data();
}

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
void packed_q5_kx8_avx2(const PackedKernelArgs& args);  // avx2_packed.cpp
#endif

}  // namespace dari::simd::detail
