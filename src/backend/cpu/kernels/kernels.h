// CPU kernels, one file per op family. Each validates its views (types, shapes, strides) and
// returns an Error naming the op and the view instead of touching memory it cannot prove valid.
// Called by CpuBackend::run on the owning thread; kernels fan out over the pool.
#pragma once

#include <cstdint>
#include <unordered_map>
#include <vector>

#include "backend/cpu/simd/packed.h"
#include "dari/backend/backend.h"
#include "dari/core/thread_pool.h"

namespace dari::cpu {

// A copy of a weight matrix in a kernel layout (Backend::pack_weight): `view` is the original
// as the model passes it to matmul, `data` the copy (owned by the backend, 64-byte aligned).
struct PackedWeight {
  TensorView view;
  const uint8_t* data = nullptr;
};

struct KernelContext {
  ThreadPool* pool = nullptr;
  bool simd = true;              // matmul through dari_simd where the weight type has a kernel
  std::vector<uint8_t> scratch;  // reused across ops (matmul activation quantisation)
  std::vector<simd::PackedActBlock> act_info;  // per activation block, for packed Q4_0 weights
  std::vector<simd::PackedActK> act_info_k;    // per activation super-block, packed K-quants
  // Packed copies by the original's data pointer. Written by pack_weight on the owning thread
  // before the views are used; read-only while ops run.
  std::unordered_map<const void*, PackedWeight> packed;
};

// Makes the packed copy of `w` (Q4_0 -> Q4_0x8, Q4_K -> Q4_Kx8, Q5_K -> Q5_Kx8; simd/packed.h)
// into `dst` (packed_bytes of it) on the pool. False (nothing written) if the view is not a
// Q4_0, Q4_K or Q5_K matrix with whole groups of 8 evenly strided rows.
bool repack_weight(ThreadPool& pool, const TensorView& w, uint8_t* dst);
// Bytes of the packed copy of the view, or 0 if it cannot be packed.
uint64_t packed_bytes(const TensorView& w);

// Shared view checks. `what` names the view ("src0", "dst") in messages.
Status check_view(OpKind kind, const char* what, const TensorView& v);
Status check_f32(OpKind kind, const char* what, const TensorView& v);
Status check_same_shape(OpKind kind, const TensorView& a, const TensorView& b);

Status matmul(KernelContext& ctx, const Op& op);
const char* simd_isa_name();  // the ISA the SIMD matmul path runs on
Status rms_norm(KernelContext& ctx, const Op& op);
Status rope(KernelContext& ctx, const Op& op);
Status softmax(KernelContext& ctx, const Op& op);
Status silu_mul(KernelContext& ctx, const Op& op);
Status add(KernelContext& ctx, const Op& op);
Status mul(KernelContext& ctx, const Op& op);
Status get_rows(KernelContext& ctx, const Op& op);
Status set_rows(KernelContext& ctx, const Op& op);
Status copy(KernelContext& ctx, const Op& op);
Status attention(KernelContext& ctx, const Op& op);

}  // namespace dari::cpu
