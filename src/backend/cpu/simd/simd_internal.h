// Private plumbing of dari_simd: the per-ISA kernel tables and small helpers shared by the
// per-ISA files. Not for use outside src/backend/cpu/simd.
//
// Thread safety: the tables are immutable after static initialisation.
// No inline functions here: per-ISA files are compiled with ISA flags, and an inline function
// they instantiate could be the copy the linker keeps for baseline callers (ODR).
#pragma once

#include <cstdint>

#include "backend/cpu/simd/simd_kernels.h"

namespace dari::simd::detail {

// Weight-type slots of the tables.
enum WeightSlot : int {
  kWF32,
  kWF16,
  kWBF16,
  kWQ4_0,
  kWQ8_0,
  kWQ4_K,
  kWQ5_K,
  kWQ6_K,
  kNumWeightSlots
};
// Activation-type slots.
enum ActSlot : int { kAF32, kAF16, kABF16, kAQ8_0, kAQ8_K, kNumActSlots };

int weight_slot(GgmlType t);  // -1 if unsupported
int act_slot(GgmlType t);     // -1 if unsupported

// A register tile: for i in [0, n_w) and a in [0, n_act) (both 1..4):
//   out[a * out_stride + i] = dot(k, w + i * w_stride, act + a * act_stride)
// Every output must equal what the same ISA's VecDotFn gives bit for bit (batch invariance).
using TileFn = void (*)(int64_t k, const uint8_t* w, uint64_t w_stride, int n_w, const uint8_t* act,
                        uint64_t act_stride, int n_act, float* out, int64_t out_stride);
inline constexpr int kTileMax = 4;

// A row group: kGroupRows consecutive weight rows against n_act (1..kGroupActMax) activation rows,
//   out[a * out_stride + i] = dot(k, w + i * w_stride, act + a * act_stride), i in [0, 8).
// Used for groups whose first row index is a multiple of kGroupRows (so a row always runs through
// the same kernel, whatever the row range of the call: batch invariance). Each output is the same
// reduction for any n_act, but it need not equal the VecDotFn's bits.
inline constexpr int kGroupRows = static_cast<int>(kMatmulRowAlign);
inline constexpr int kGroupActMax = 8;
struct GroupArgs {
  int64_t k = 0;
  const uint8_t* w = nullptr;  // first of the 8 rows
  uint64_t w_stride = 0;
  const uint8_t* act = nullptr;
  uint64_t act_stride = 0;
  const int32_t* act_sums = nullptr;  // from the kernel's sums function, sums_stride per row
  int64_t sums_stride = 0;
  int n_act = 0;
  float* out = nullptr;
  int64_t out_stride = 0;
};
using GroupFn = void (*)(const GroupArgs& args);
// Per-block side data of one activation row that the group kernel needs (nb = k / act block).
using GroupSumsFn = void (*)(const uint8_t* act_row, int64_t nb, int32_t* out);
struct GroupKernel {
  GroupFn run = nullptr;       // null: no group kernel for the type
  GroupSumsFn sums = nullptr;  // null: the kernel needs no side data (act_sums is then null)
};

// KV element slots of the attention helpers.
enum KvSlot : int { kKvF32, kKvF16, kKvBF16, kNumKvSlots };
int kv_slot(GgmlType t);  // -1 if unsupported

struct IsaKernels {
  VecDotFn dot[kNumWeightSlots] = {};
  QuantizeRowFn quantize[kNumActSlots] = {};
  TileFn tile[kNumWeightSlots] = {};        // optional; null: the driver loops over dot
  GroupKernel group[kNumWeightSlots] = {};  // optional
  KvAxpyFn kv_axpy[kNumKvSlots] = {};
  KvLoadFn kv_load[kNumKvSlots] = {};
  KvLoadTFn kv_load_t[kNumKvSlots] = {};
  KvScoresTFn kv_scores_t = nullptr;
  ExpSumFn exp_sum = nullptr;
  SiluMulFn silu_mul = nullptr;
};

// Filled by each per-ISA file (generic.cpp, avx2_*.cpp, avx512.cpp).
void fill_generic(IsaKernels* t);
#if defined(__x86_64__)
void fill_avx2(IsaKernels* t);              // avx2_dot.cpp (calls fill_avx2_quant)
void fill_avx2_quant(IsaKernels* t);        // avx2_quant.cpp
void fill_avx2_attn(IsaKernels* t);         // avx2_attn.cpp
void fill_avx2_group(IsaKernels* t);        // avx2_group.cpp (calls the two below)
void fill_avx2_group_k(IsaKernels* t);      // avx2_group_k.cpp
void fill_avx2_group_float(IsaKernels* t);  // avx2_group_float.cpp
#if defined(DARI_SIMD_HAVE_AVX512)
void fill_avx512(IsaKernels* t);
#endif
#endif

const IsaKernels& kernels_for(Isa isa);

}  // namespace dari::simd::detail
