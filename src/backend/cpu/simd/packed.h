// Q4_0 weights repacked at load time into the layout the row-group kernels read ("Q4_0x8").
//
// Why: a Q4_0 matrix stores each row's blocks one after another, so a kernel that computes 8 rows
// at once reads 8 streams 8 rows apart and spends most of its instructions gathering the 8 rows'
// scales and nibbles into registers. Here the rows are taken in groups of 8 and, for each group
// and each 32-element block, the 8 rows' data sit together in 144 bytes, already in register
// order: the matrix is one sequential stream and a block of 8 rows is 1 + 4 loads.
//
// Layout of group g (rows 8g .. 8g+7), block b (elements 32b .. 32b+31), at byte
// (g * nb + b) * 144 where nb = k / 32:
//   [0, 16)              the 8 rows' fp16 scales, row order
//   [16 + 32c, 48 + 32c) for c = 0..3: qs[4c .. 4c+3] of rows 0, 1, ..., 7 (4 bytes each)
// (qs as in BlockQ4_0: element e < 16 is the low nibble of qs[e], e >= 16 the high nibble of
// qs[e - 16].) One 32-byte register then holds 4 elements of each of the 8 rows, so a row's
// integer dot ends in its own 32-bit lane. The size equals the Q4_0 matrix's: 18 bytes per block
// and row.
//
// Numerics: each output is sum over blocks, in order, of fp32(exact integer dot) * (dw * dx),
// one fused multiply-add per block, the same formula and order as the Q4_0 row-group kernel of
// simd_kernels.h, so a packed matrix gives the unpacked one's bits on ISAs with that kernel, and
// every ISA here (generic, AVX2, AVX-512 which runs the AVX2 kernel) gives the same bits.
//
// Thread safety: pure functions; calls on disjoint group ranges may run at once.
// Memory: nothing allocates except, when the caller passes no act_info, a per-thread scratch of
// activation block sums and scales in matmul_q4_0x8.
#pragma once

#include <cstdint>
#include <optional>

#include "backend/cpu/simd/simd_kernels.h"
#include "dari/core/result.h"

namespace dari::simd {

inline constexpr int64_t kPackGroupRows = 8;
inline constexpr uint64_t kPackBlockBytes = 144;  // one block of 8 rows

// Bytes of the packed copy of a Q4_0 matrix of `rows` rows of `k` elements, or nullopt when it
// cannot be packed (rows not a positive multiple of 8, k not a positive multiple of 32, overflow).
std::optional<uint64_t> q4_0x8_bytes(int64_t rows, int64_t k);

struct RepackArgs {
  int64_t k = 0;              // elements per row
  const void* src = nullptr;  // Q4_0 rows
  uint64_t src_stride = 0;    // bytes between rows (>= row bytes)
  int64_t group_begin = 0;    // groups [group_begin, group_end) of 8 rows are written
  int64_t group_end = 0;
  void* dst = nullptr;  // the whole packed matrix (q4_0x8_bytes of all rows)
};
// Copies the groups into the packed layout. Errors name the bad field; nothing is written then.
Status repack_q4_0x8(const RepackArgs& args);

// Per Q8_0 activation row and block, what the kernels need besides the int8 values.
struct PackedActBlock {
  int32_t sum8 = 0;  // 8 * (sum of the block's 32 int8 values): the -8 offset of Q4_0
  float dx = 0.0f;   // the block's scale in fp32
};
// out[b] for the k / 32 blocks of one Q8_0 row. Callers that split one matmul over threads
// compute these once per activation row and pass them in PackedMatmulArgs::act_info.
void q8_0_act_info(const void* act_row, int64_t k, PackedActBlock* out);

struct PackedMatmulArgs {
  int64_t k = 0;
  const void* packed = nullptr;  // the whole packed matrix
  int64_t group_begin = 0;       // output rows [8 * group_begin, 8 * group_end)
  int64_t group_end = 0;
  const void* act = nullptr;  // Q8_0 activation rows (activation_type(Q4_0))
  uint64_t act_stride = 0;    // bytes between activation rows
  int64_t n_act = 0;
  // Optional: q8_0_act_info of every activation row, k / 32 entries per row; computed by the
  // call when null.
  const PackedActBlock* act_info = nullptr;
  float* out = nullptr;    // out[a * out_stride + r] for output row r, activation row a
  int64_t out_stride = 0;  // floats between output rows (>= 8 * group_end)
};
// out = packed weights x activations for the groups, on the active ISA or `isa` (which must be
// supported). Errors name the bad field; nothing is written then.
Status matmul_q4_0x8(const PackedMatmulArgs& args);
Status matmul_q4_0x8(const PackedMatmulArgs& args, Isa isa);

}  // namespace dari::simd
