// rms_norm and softmax: independent per row; reductions run in a fixed order in double.
#include <cmath>

#include "backend/cpu/kernels/kernels.h"

namespace dari::cpu {

Status rms_norm(KernelContext& ctx, const Op& op) {
  const OpKind kind = OpKind::kRmsNorm;
  if (op.n_src < 1) return make_error("rms_norm: needs an input");
  TensorView x = from_c_view(op.src[0]);
  TensorView y = from_c_view(op.dst);
  DARI_TRY(check_f32(kind, "src0", x));
  DARI_TRY(check_f32(kind, "dst", y));
  DARI_TRY(check_same_shape(kind, x, y));
  const float* w = nullptr;
  if (op.n_src >= 2) {
    TensorView wv = from_c_view(op.src[1]);
    DARI_TRY(check_f32(kind, "weight", wv));
    if (wv.ne[0] != x.ne[0] || wv.n_rows() != 1) {
      return make_error("rms_norm: weight " + wv.describe() + " does not match input " +
                        x.describe());
    }
    w = wv.f32_row(0);
  }
  if (!(op.params.eps >= 0.0f)) return make_error("rms_norm: eps must be >= 0");
  const int64_t d = x.ne[0];
  const double eps = op.params.eps;
  ctx.pool->parallel_for(x.n_rows(), 0, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const float* xr = x.f32_row(r);
      float* yr = y.f32_row(r);
      double ss = 0.0;
      for (int64_t i = 0; i < d; ++i) ss += static_cast<double>(xr[i]) * xr[i];
      const float s = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(d) + eps));
      for (int64_t i = 0; i < d; ++i) yr[i] = xr[i] * s * (w ? w[i] : 1.0f);
    }
  });
  return Status::Ok();
}

Status softmax(KernelContext& ctx, const Op& op) {
  const OpKind kind = OpKind::kSoftmax;
  if (op.n_src < 1) return make_error("softmax: needs an input");
  TensorView x = from_c_view(op.src[0]);
  TensorView y = from_c_view(op.dst);
  DARI_TRY(check_f32(kind, "src0", x));
  DARI_TRY(check_f32(kind, "dst", y));
  DARI_TRY(check_same_shape(kind, x, y));
  const float scale = op.params.scale;
  const int64_t d = x.ne[0];
  ctx.pool->parallel_for(x.n_rows(), 0, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const float* xr = x.f32_row(r);
      float* yr = y.f32_row(r);
      float mx = -INFINITY;
      for (int64_t i = 0; i < d; ++i) mx = std::fmax(mx, xr[i] * scale);
      double sum = 0.0;
      for (int64_t i = 0; i < d; ++i) {
        yr[i] = std::exp(xr[i] * scale - mx);
        sum += yr[i];
      }
      const float inv = static_cast<float>(1.0 / sum);
      for (int64_t i = 0; i < d; ++i) yr[i] *= inv;
    }
  });
  return Status::Ok();
}

}  // namespace dari::cpu
