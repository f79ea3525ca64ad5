// Q4_0, Q4_K and Q5_K weights repacked at load time into layouts the row-group kernels read
// ("Q4_0x8", "Q4_Kx8", "Q5_Kx8"; the K-quant layouts are described further down).
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
// Memory: nothing allocates except, when the caller passes no act_info (act_info_k), a
// per-thread scratch of activation block sums and scales in matmul_q4_0x8 (and the K-quant
// entry points).
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

// ---- Q4_Kx8: Q4_K weights in groups of 8 rows ----
//
// Layout of group g (rows 8g .. 8g+7), super-block b (elements 256b .. 256b+255), at byte
// (g * nsb + b) * 1152 where nsb = k / 256:
//   [0, 16)     the 8 rows' fp16 d, row order
//   [16, 32)    the 8 rows' fp16 dmin
//   [32 + 32i + 4r, +4) for i = 0..2: bytes 4i .. 4i+3 of row r's 12 packed scale/min bytes
//               (BlockQ4_K::scales), so one register per word unpacks all 8 rows at once
//   [128 + 256c + 32j + 4r, +4) for chunk c = 0..3, j = 0..7: qs[32c + 4j .. 32c + 4j + 3] of row r
// (qs as in BlockQ4_K: in chunk c, the low nibble of qs[32c + l] is element 64c + l, the high
// nibble element 64c + 32 + l.) As in Q4_0x8, one 32-byte register holds 4 elements of each row
// in the row's lane. 1152 bytes per 8 rows and super-block: the size of the Q4_K rows.
//
// Numerics: per super-block, the exact integer sums sumi = sum_s scale_s * (q_s . x_s) and
// summs = sum_s min_s * (bsums of x over s), then out = fma(dx, fma(d, sumi, -(dmin * summs)),
// out) in fp32: the AVX2 Q4_K row kernel's formula and order, so the same bits as it on every
// ISA (the scalar reference rounds the two products separately: within its tolerance).
inline constexpr uint64_t kPackKBlockBytes = 1152;

// Bytes of the packed copy, or nullopt (rows not a positive multiple of 8, k not a positive
// multiple of 256, overflow).
std::optional<uint64_t> q4_kx8_bytes(int64_t rows, int64_t k);
// Copies Q4_K rows (RepackArgs as for Q4_0x8, k a multiple of 256) into the Q4_Kx8 layout.
Status repack_q4_kx8(const RepackArgs& args);

// ---- Q5_Kx8: Q5_K weights in groups of 8 rows ----
//
// The Q4_Kx8 layout of the same fields (d, dmin, scales, qs: BlockQ5_K's), then
//   [1152 + 32j + 4r, +4) for j = 0..7: qh[4j .. 4j + 3] of row r
// (bit s of qh[l] is bit 4 of element 32s + l), so the register of chunk c and word j and the qh
// register j cover the same elements. 1408 bytes per 8 rows and super-block: the size of the
// Q5_K rows. Numerics as Q4_Kx8 (q now 0..31): the same bits as the AVX2 Q5_K row kernel.
inline constexpr uint64_t kPackK5QhOffset = 1152;  // = kPackKBlockBytes: qh after the Q4_K fields
inline constexpr uint64_t kPackK5BlockBytes = 1408;
std::optional<uint64_t> q5_kx8_bytes(int64_t rows, int64_t k);
Status repack_q5_kx8(const RepackArgs& args);

// Per Q8_K activation row and super-block, what the Q4_Kx8 and Q5_Kx8 kernels need besides the
// int8 values.
struct PackedActK {
  float d = 0.0f;  // the super-block's scale
  // Lane t: bsum pair sums P[2t] (low 16 bits) and P[2t + 1] (high 16 bits), where
  // P[s] = bsums[2s] + bsums[2s + 1] is the sum of sub-block s's 32 values (|P| <= 4096).
  int32_t min_pairs[4] = {};
};
void q8_k_act_info(const void* act_row, int64_t k, PackedActK* out);

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
  // Optional, Q4_Kx8 and Q5_Kx8 only: q8_k_act_info of every activation row, k / 256 entries
  // per row.
  const PackedActK* act_info_k = nullptr;
  float* out = nullptr;    // out[a * out_stride + r] for output row r, activation row a
  int64_t out_stride = 0;  // floats between output rows (>= 8 * group_end)
};
// out = packed weights x activations for the groups, on the active ISA or `isa` (which must be
// supported). Errors name the bad field; nothing is written then.
Status matmul_q4_0x8(const PackedMatmulArgs& args);
Status matmul_q4_0x8(const PackedMatmulArgs& args, Isa isa);
// The same for a Q4_Kx8 matrix and Q8_K activation rows (activation_type(Q4_K)).
Status matmul_q4_kx8(const PackedMatmulArgs& args);
Status matmul_q4_kx8(const PackedMatmulArgs& args, Isa isa);
// The same for a Q5_Kx8 matrix and Q8_K activation rows.
Status matmul_q5_kx8(const PackedMatmulArgs& args);
Status matmul_q5_kx8(const PackedMatmulArgs& args, Isa isa);

// The packed layout of a weight type, for callers that choose one at run time.
struct PackedLayout {
  const char* name = "";  // "Q4_0x8", "Q4_Kx8", "Q5_Kx8"
  std::optional<uint64_t> (*bytes)(int64_t rows, int64_t k) = nullptr;
  Status (*repack)(const RepackArgs& args) = nullptr;
  Status (*matmul)(const PackedMatmulArgs& args, Isa isa) = nullptr;
  // The activation side data: PackedActK per 256 (act_info_k) when true, else PackedActBlock per
  // 32 (act_info).
  bool k_quant = false;
};
// The layout for weights of type t, or nullptr when t has none.
const PackedLayout* packed_layout(GgmlType t);

}  // namespace dari::simd
