// Element-wise ops: silu_mul (SwiGLU), add, mul. src1 may be one row, broadcast over src0's rows
// (used for biases).
#include <cmath>

#include "backend/cpu/kernels/kernels.h"

namespace dari::cpu {
namespace {

template <class F>
Status binary(KernelContext& ctx, const Op& op, OpKind kind, F f) {
  if (op.n_src < 2) return make_error(std::string(op_name(kind)) + ": needs two inputs");
  TensorView a = from_c_view(op.src[0]);
  TensorView b = from_c_view(op.src[1]);
  TensorView y = from_c_view(op.dst);
  DARI_TRY(check_f32(kind, "src0", a));
  DARI_TRY(check_f32(kind, "src1", b));
  DARI_TRY(check_f32(kind, "dst", y));
  DARI_TRY(check_same_shape(kind, a, y));
  const bool broadcast = b.n_rows() == 1 && b.ne[0] == a.ne[0];
  if (!broadcast) DARI_TRY(check_same_shape(kind, a, b));
  const int64_t d = a.ne[0];
  ctx.pool->parallel_for(a.n_rows(), 0, [&](int64_t s, int64_t e) {
    for (int64_t r = s; r < e; ++r) {
      const float* ar = a.f32_row(r);
      const float* br = b.f32_row(broadcast ? 0 : r);
      float* yr = y.f32_row(r);
      for (int64_t i = 0; i < d; ++i) yr[i] = f(ar[i], br[i]);
    }
  });
  return Status::Ok();
}

}  // namespace

Status silu_mul(KernelContext& ctx, const Op& op) {
  return binary(ctx, op, OpKind::kSiluMul,
                [](float g, float u) { return g / (1.0f + std::exp(-g)) * u; });
}

Status add(KernelContext& ctx, const Op& op) {
  return binary(ctx, op, OpKind::kAdd, [](float a, float b) { return a + b; });
}

Status mul(KernelContext& ctx, const Op& op) {
  return binary(ctx, op, OpKind::kMul, [](float a, float b) { return a * b; });
}

}  // namespace dari::cpu
