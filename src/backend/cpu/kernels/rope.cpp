// Rotary position embedding. Angles are computed in double from the position and the per-pair
// inverse frequency base^(-2i/n_dims) (divided by an optional freq factor, times freq_scale), so
// the result for a row depends only on that row's position.
#include <cmath>
#include <vector>

#include "backend/cpu/kernels/kernels.h"
#include "dari/core/strings.h"

namespace dari::cpu {

Status rope(KernelContext& ctx, const Op& op) {
  const OpKind kind = OpKind::kRope;
  if (op.n_src < 1) return make_error("rope: needs an input");
  TensorView x = from_c_view(op.src[0]);
  TensorView y = from_c_view(op.dst);
  DARI_TRY(check_f32(kind, "src0", x));
  DARI_TRY(check_f32(kind, "dst", y));
  DARI_TRY(check_same_shape(kind, x, y));
  const DariRopeParams& p = op.params.rope;
  const int64_t hd = x.ne[0];
  if (p.n_dims <= 0 || p.n_dims % 2 != 0 || p.n_dims > hd) {
    return make_error(str_format("rope: n_dims %d must be even and in (0, %lld]", p.n_dims,
                                 static_cast<long long>(hd)));
  }
  if (p.mode != DARI_ROPE_NORMAL && p.mode != DARI_ROPE_NEOX) {
    return make_error(str_format("rope: unknown mode %d", p.mode));
  }
  if (p.positions == nullptr) return make_error("rope: positions missing");
  if (!(p.freq_base > 0.0f) || !(p.freq_scale > 0.0f)) {
    return make_error("rope: freq_base and freq_scale must be > 0");
  }
  const int64_t half = p.n_dims / 2;
  std::vector<double> inv_freq(static_cast<size_t>(half));
  for (int64_t i = 0; i < half; ++i) {
    double f = std::pow(static_cast<double>(p.freq_base), -2.0 * static_cast<double>(i) / p.n_dims);
    if (p.freq_factors != nullptr) {
      if (!(p.freq_factors[i] > 0.0f)) return make_error("rope: freq factors must be > 0");
      f /= p.freq_factors[i];
    }
    inv_freq[static_cast<size_t>(i)] = f;
  }
  const bool neox = p.mode == DARI_ROPE_NEOX;
  const int64_t heads = x.ne[1];
  const int64_t tokens = x.ne[2] * x.ne[3];
  ctx.pool->parallel_for(tokens, 0, [&](int64_t b, int64_t e) {
    std::vector<double> cs(static_cast<size_t>(2 * half));  // cos, sin per pair for one token
    for (int64_t t = b; t < e; ++t) {
      const double pos = static_cast<double>(p.positions[t]) * p.freq_scale;
      for (int64_t i = 0; i < half; ++i) {
        const double a = pos * inv_freq[static_cast<size_t>(i)];
        cs[static_cast<size_t>(2 * i)] = std::cos(a);
        cs[static_cast<size_t>(2 * i + 1)] = std::sin(a);
      }
      for (int64_t h = 0; h < heads; ++h) {
        const int64_t r = t * heads + h;
        const float* xr = x.f32_row(r);
        float* yr = y.f32_row(r);
        for (int64_t i = p.n_dims; i < hd; ++i) yr[i] = xr[i];
        for (int64_t i = 0; i < half; ++i) {
          const double c = cs[static_cast<size_t>(2 * i)], s = cs[static_cast<size_t>(2 * i + 1)];
          const int64_t i0 = neox ? i : 2 * i;
          const int64_t i1 = neox ? i + half : 2 * i + 1;
          const double x0 = xr[i0], x1 = xr[i1];
          yr[i0] = static_cast<float>(x0 * c - x1 * s);
          yr[i1] = static_cast<float>(x0 * s + x1 * c);
        }
      }
    }
  });
  return Status::Ok();
}

}  // namespace dari::cpu
