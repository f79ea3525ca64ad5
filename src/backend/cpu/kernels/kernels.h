// CPU kernels, one file per op family. Each validates its views (types, shapes, strides) and
// returns an Error naming the op and the view instead of touching memory it cannot prove valid.
// Called by CpuBackend::run on the owning thread; kernels fan out over the pool.
#pragma once

#include <cstdint>
#include <vector>

#include "dari/backend/backend.h"
#include "dari/core/thread_pool.h"

namespace dari::cpu {

struct KernelContext {
  ThreadPool* pool = nullptr;
  bool simd = true;              // matmul through dari_simd where the weight type has a kernel
  std::vector<uint8_t> scratch;  // reused across ops (matmul activation quantisation)
};

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
