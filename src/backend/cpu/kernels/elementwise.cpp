// Element-wise ops: silu_mul (SwiGLU), add, mul. src1 may be one row, broadcast over src0's rows
// (used for biases). Work is split into spans of at most kSpan columns of a row, so a single
// row (decode) still uses every thread; each element depends only on its own inputs, so the
// split never changes a result.
#include <algorithm>
#include <cmath>

#include "backend/cpu/kernels/kernels.h"
#include "backend/cpu/simd/simd_kernels.h"

namespace dari::cpu {
namespace {

constexpr int64_t kSpan = 2048;  // columns per task (a multiple of every SIMD width)

// f(a + i, b + i, n, y + i) over spans of every row; `f` handles n contiguous elements.
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
  const int64_t spans = (d + kSpan - 1) / kSpan;
  ctx.pool->parallel_for(a.n_rows() * spans, 0, [&](int64_t s, int64_t e) {
    for (int64_t task = s; task < e; ++task) {
      const int64_t r = task / spans, c0 = (task % spans) * kSpan;
      f(a.f32_row(r) + c0, b.f32_row(broadcast ? 0 : r) + c0, std::min(kSpan, d - c0),
        y.f32_row(r) + c0);
    }
  });
  return Status::Ok();
}

template <class F>
auto each(F f) {
  return [f](const float* a, const float* b, int64_t n, float* y) {
    for (int64_t i = 0; i < n; ++i) y[i] = f(a[i], b[i]);
  };
}

}  // namespace

Status silu_mul(KernelContext& ctx, const Op& op) {
  if (ctx.simd) return binary(ctx, op, OpKind::kSiluMul, simd::silu_mul_fn(simd::active_isa()));
  return binary(ctx, op, OpKind::kSiluMul,
                each([](float g, float u) { return g / (1.0f + std::exp(-g)) * u; }));
}

Status add(KernelContext& ctx, const Op& op) {
  return binary(ctx, op, OpKind::kAdd, each([](float a, float b) { return a + b; }));
}

Status mul(KernelContext& ctx, const Op& op) {
  return binary(ctx, op, OpKind::kMul, each([](float a, float b) { return a * b; }));
}

}  // namespace dari::cpu
