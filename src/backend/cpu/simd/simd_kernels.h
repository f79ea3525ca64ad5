// Fast quantised dot products and matrix kernels for the CPU backend, with run-time ISA
// selection (generic C++, AVX2+FMA+F16C, AVX-512 F/BW/VL/VNNI).
//
// Numerics contract: every kernel computes what the scalar traits of include/dari/tensor/dtype.h
// compute, with the same activation format (the weight type's vec_dot_type): weights of Q4_0 and
// Q8_0 take Q8_0 activations, Q4_K/Q5_K/Q6_K take Q8_K, F16 takes F16, BF16 takes BF16 and F32
// takes F32. Integer parts of the quantised dots are exact; only the order of the fp32
// additions differs from the scalar reference (see tests/simd for the tolerance). Activation
// quantisation (quantize_row_fn) is bit-exact with the scalar from_float on every ISA.
//
// Thread safety: all kernels are pure and may run on any number of threads at once. The ISA
// override (set_forced_isa / clear_forced_isa) is for tests and start-up only; it is an atomic,
// but changing it while other threads run kernels gives them either ISA.
// Memory: nothing here allocates (except supported_isas' vector). Pointers are borrowed for the
// duration of a call. Blocks may sit at any byte address.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "dari/core/result.h"
#include "dari/io/ggml_type.h"

namespace dari::simd {

enum class Isa : uint8_t {
  kGeneric = 0,  // portable C++ (the scalar reference kernels), any CPU
  kAvx2 = 1,     // AVX2 + FMA + F16C
  kAvx512 = 2,   // AVX-512 F + BW + VL + VNNI (VNNI Q4_0/Q8_0 kernels; the rest as AVX2)
};
inline constexpr int kNumIsas = 3;

const char* isa_name(Isa isa);

// ISAs this CPU (and this build) can run, generic first, best last.
std::vector<Isa> supported_isas();
// True if `isa` is in supported_isas().
bool isa_supported(Isa isa);
// The ISA kernels use when none is given: the forced one if set, else the best supported.
Isa active_isa();
// Forces `isa` for calls that do not name one (tests, benchmarks, DARI_ISA-style overrides).
// Returns false (and changes nothing) if the CPU cannot run it.
bool set_forced_isa(Isa isa);
void clear_forced_isa();

// *out = sum_i w[i] * act[i] over n elements; w in the weight type, act in its activation type.
using VecDotFn = void (*)(int64_t n, const void* w, const void* act, float* out);
// Converts n floats to the activation type (n a multiple of its block size).
using QuantizeRowFn = void (*)(const float* src, void* dst, int64_t n);

// Weight types with kernels here: F32, F16, BF16, Q4_0, Q8_0, Q4_K, Q5_K, Q6_K.
bool weight_type_supported(GgmlType weight_type);
// The activation type for `weight_type` (== type_traits(weight_type)->vec_dot_type).
GgmlType activation_type(GgmlType weight_type);
// Row converter for activation type F32, F16, BF16, Q8_0 or Q8_K (nullptr otherwise). F32 is a
// copy. `isa` must be supported (use active_isa()).
QuantizeRowFn quantize_row_fn(GgmlType act_type, Isa isa);
// Dot kernel for a supported weight type (nullptr otherwise). `isa` must be supported.
VecDotFn vec_dot_fn(GgmlType weight_type, Isa isa);

// One matrix product slice: out[a * out_stride + r] = dot(weight row r, activation row a) for
// r in [row_begin, row_end) and a in [0, n_act). Threads split the weight rows: calls with
// disjoint row ranges write disjoint outputs. Each output is the same reduction whatever n_act
// or the tile shape, and whatever the row range as long as ranges start and end at multiples of
// kMatmulRowAlign (or at the last row): batch invariance. Some types (Q4_0, Q8_0 and Q6_K on AVX2)
// compute whole aligned groups of kMatmulRowAlign rows with a group kernel whose bits differ from
// vec_dot_fn's (same integer sums, the scalar reference's float order); other rows, and other
// types, give exactly vec_dot_fn's bits.
inline constexpr int64_t kMatmulRowAlign = 8;
struct MatmulArgs {
  GgmlType weight_type = GgmlType::F32;
  int64_t k = 0;  // elements per row; a multiple of both types' block sizes
  const void* weights = nullptr;
  uint64_t weight_stride = 0;  // bytes between weight rows (>= row bytes)
  int64_t row_begin = 0;
  int64_t row_end = 0;
  const void* act = nullptr;  // rows in activation_type(weight_type)
  uint64_t act_stride = 0;    // bytes between activation rows
  int64_t n_act = 0;
  float* out = nullptr;
  int64_t out_stride = 0;  // floats between output rows (one per activation row)
};

// Turns the row-group kernels off (or back on) for calls that follow: for tests and benchmarks
// that compare them with the per-row tiles. An atomic; do not change it while kernels run.
void set_group_kernels_enabled(bool on);
bool group_kernels_enabled();

// Runs the slice on the active ISA (or `isa`, which must be supported). Errors name the bad
// field (unsupported type, k not a multiple of the block, negative or inverted ranges, strides
// smaller than a row, null pointers with work to do); nothing is written then.
Status matmul(const MatmulArgs& args);
Status matmul(const MatmulArgs& args, Isa isa);

// ---- attention helpers (KV rows in F32, F16 or BF16) ----
// acc[d] += w[t] * row t [d] for d in [0, hd), rows taken in increasing t.
using KvAxpyFn = void (*)(const float* w, const uint8_t* kv, uint64_t stride, int64_t count,
                          int64_t hd, float* acc);
// out[t * hd + d] = row t [d] as fp32 (exact: every KV type widens without rounding), for
// t in [0, count). Lets a caller convert V rows once and run the F32 axpy on them for several
// queries: it gives the same bits as the F16/BF16 axpy on the original rows.
using KvLoadFn = void (*)(const uint8_t* kv, uint64_t stride, int64_t count, int64_t hd,
                          float* out);
// The transposed pair, for scoring several queries against the same rows: kv_load_t writes
// kt[d * ld + t] = row t [d] as fp32 for t in [0, count), d in [0, hd), where
// ld = kv_t_ld(count) (count rounded up to 8), and zeros for t in [count, ld).
// kv_scores_t then gives out[t] = scale * q . row t for t in [0, count) from such a kt with
// ld >= kv_t_ld(count) (a kv_load_t of count or more rows): per score, four
// fma chains over d = m (mod 4) in increasing d, summed as (c0 + c1) + (c2 + c3), so each score
// depends only on q and its own row (not on count or on the other rows), with the same bits on
// every ISA.
inline int64_t kv_t_ld(int64_t count) {
  return (count + 7) / 8 * 8;
}
using KvLoadTFn = void (*)(const uint8_t* kv, uint64_t stride, int64_t count, int64_t hd,
                           float* kt);
using KvScoresTFn = void (*)(const float* q, const float* kt, int64_t ld, int64_t count, int64_t hd,
                             float scale, float* out);
// x[i] = exp(x[i] - max) for i in [0, n); returns their sum in a fixed order for a given n.
// The SIMD versions use a polynomial exp within a few ulp of std::exp (for x - max <= 0).
using ExpSumFn = float (*)(float* x, int64_t n, float max);

// ---- activation ----
// y[i] = g[i] / (1 + exp(-g[i])) * u[i] for i in [0, n) (SwiGLU). Each output depends only on
// its own inputs, so any split of a row gives the same bits. The SIMD versions use the exp of
// exp_sum (a few ulp from std::exp); y may alias g or u.
using SiluMulFn = void (*)(const float* g, const float* u, int64_t n, float* y);

// nullptr for a kv_type other than F32, F16, BF16. `isa` must be supported.
KvAxpyFn kv_axpy_fn(GgmlType kv_type, Isa isa);
KvLoadFn kv_load_fn(GgmlType kv_type, Isa isa);
KvLoadTFn kv_load_t_fn(GgmlType kv_type, Isa isa);
KvScoresTFn kv_scores_t_fn(Isa isa);  // `isa` must be supported
ExpSumFn exp_sum_fn(Isa isa);
SiluMulFn silu_mul_fn(Isa isa);  // `isa` must be supported

}  // namespace dari::simd
