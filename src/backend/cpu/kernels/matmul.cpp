// matmul: y[m][n] = dot(w row n, x row m). Activation rows are converted once to the weight
// type's vec_dot_type, then every output element is one vec_dot call, so each element's
// reduction order is fixed whatever the batch (batch invariance) and the thread split.
#include <cstring>

#include "backend/cpu/kernels/kernels.h"
#include "dari/core/strings.h"
#include "dari/tensor/dtype.h"

namespace dari::cpu {

Status matmul(KernelContext& ctx, const Op& op) {
  const OpKind kind = OpKind::kMatmul;
  if (op.n_src < 2) return make_error("matmul: needs weights and activations");
  TensorView w = from_c_view(op.src[0]);
  TensorView x = from_c_view(op.src[1]);
  TensorView y = from_c_view(op.dst);
  DARI_TRY(check_view(kind, "weights", w));
  DARI_TRY(check_f32(kind, "activations", x));
  DARI_TRY(check_f32(kind, "dst", y));
  const TypeTraits* wt = type_traits(w.type);
  if (wt == nullptr || wt->vec_dot == nullptr) {
    return make_error("matmul: no vec_dot for weight type " + w.describe());
  }
  const TypeTraits* vt = type_traits(wt->vec_dot_type);
  if (vt == nullptr || (wt->vec_dot_type != GgmlType::F32 && vt->from_float == nullptr)) {
    return make_error("matmul: cannot produce activation type for weights " + w.describe());
  }
  const int64_t k = w.ne[0];
  const int64_t n = w.n_rows();
  const int64_t m = x.n_rows();
  if (x.ne[0] != k || y.ne[0] != n || y.n_rows() != m) {
    return make_error("matmul: shapes do not match: weights " + w.describe() + ", activations " +
                      x.describe() + ", dst " + y.describe());
  }
  if (k % vt->block_elems != 0) {
    return make_error(str_format("matmul: K=%lld not a multiple of the activation block %u",
                                 static_cast<long long>(k), vt->block_elems));
  }
  // Activations in vec_dot_type: packed rows of qrow bytes (or the F32 rows themselves).
  const uint64_t qrow = static_cast<uint64_t>(k / vt->block_elems) * vt->block_bytes;
  const bool direct = wt->vec_dot_type == GgmlType::F32;
  if (!direct) {
    ctx.scratch.resize(qrow * static_cast<uint64_t>(m));
    uint8_t* q = ctx.scratch.data();
    ctx.pool->parallel_for(m, 1, [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) vt->from_float(x.f32_row(r), q + qrow * r, k);
    });
  }
  const uint8_t* qbase = ctx.scratch.data();
  auto act = [&](int64_t r) -> const void* {
    return direct ? static_cast<const void*>(x.f32_row(r)) : qbase + qrow * r;
  };
  const int64_t grain = std::max<int64_t>(1, n / (8 * static_cast<int64_t>(ctx.pool->size())));
  ctx.pool->parallel_for(n, grain, [&](int64_t b, int64_t e) {
    for (int64_t r = 0; r < m; ++r) {
      const void* xr = act(r);
      float* yr = y.f32_row(r);
      for (int64_t j = b; j < e; ++j) wt->vec_dot(k, w.flat_row(j), xr, &yr[j]);
    }
  });
  return Status::Ok();
}

}  // namespace dari::cpu
