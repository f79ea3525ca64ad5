// matmul: y[m][n] = dot(w row n, x row m). Activation rows are converted once to the weight
// type's vec_dot_type, then every output element is one dot product of fixed reduction order,
// whatever the batch (batch invariance) and the thread split. Weight types with a dari_simd kernel
// run through it (run-time ISA dispatch, same activation format, same per-element order for any
// row range); the rest use the scalar traits vec_dot.
#include <algorithm>
#include <cstring>
#include <mutex>

#include "backend/cpu/kernels/kernels.h"
#include "backend/cpu/simd/packed.h"
#include "backend/cpu/simd/simd_kernels.h"
#include "dari/core/strings.h"
#include "dari/tensor/blocks.h"
#include "dari/tensor/dtype.h"

namespace dari::cpu {
namespace {

struct MatmulShape {
  TensorView w, x, y;
  const TypeTraits* wt = nullptr;
  const TypeTraits* vt = nullptr;
  int64_t k = 0, n = 0, m = 0;
};

Status check_matmul(const Op& op, MatmulShape* s) {
  const OpKind kind = OpKind::kMatmul;
  if (op.n_src < 2) return make_error("matmul: needs weights and activations");
  s->w = from_c_view(op.src[0]);
  s->x = from_c_view(op.src[1]);
  s->y = from_c_view(op.dst);
  DARI_TRY(check_view(kind, "weights", s->w));
  DARI_TRY(check_f32(kind, "activations", s->x));
  DARI_TRY(check_f32(kind, "dst", s->y));
  s->wt = type_traits(s->w.type);
  if (s->wt == nullptr || s->wt->vec_dot == nullptr) {
    return make_error("matmul: no vec_dot for weight type " + s->w.describe());
  }
  s->vt = type_traits(s->wt->vec_dot_type);
  if (s->vt == nullptr || (s->wt->vec_dot_type != GgmlType::F32 && s->vt->from_float == nullptr)) {
    return make_error("matmul: cannot produce activation type for weights " + s->w.describe());
  }
  s->k = s->w.ne[0];
  s->n = s->w.n_rows();
  s->m = s->x.n_rows();
  if (s->x.ne[0] != s->k || s->y.ne[0] != s->n || s->y.n_rows() != s->m) {
    return make_error("matmul: shapes do not match: weights " + s->w.describe() + ", activations " +
                      s->x.describe() + ", dst " + s->y.describe());
  }
  if (s->k % s->vt->block_elems != 0) {
    return make_error(str_format("matmul: K=%lld not a multiple of the activation block %u",
                                 static_cast<long long>(s->k), s->vt->block_elems));
  }
  return Status::Ok();
}

// Rows of v are evenly strided when the flattened row index maps to one stride.
bool uniform_rows(const TensorView& v) {
  return (v.ne[2] == 1 || v.nb[2] == v.nb[1] * static_cast<uint64_t>(v.ne[1])) &&
         (v.ne[3] == 1 || v.nb[3] == v.nb[2] * static_cast<uint64_t>(v.ne[2]));
}

bool same_view(const TensorView& a, const TensorView& b) {
  if (a.data != b.data || a.type != b.type) return false;
  for (int i = 0; i < 4; ++i) {
    if (a.ne[i] != b.ne[i] || a.nb[i] != b.nb[i]) return false;
  }
  return true;
}

// The packed copy of exactly this view, if pack_weight made one.
const PackedWeight* find_packed(const KernelContext& ctx, const TensorView& w) {
  if (ctx.packed.empty()) return nullptr;
  auto it = ctx.packed.find(w.data);
  return it != ctx.packed.end() && same_view(it->second.view, w) ? &it->second : nullptr;
}

// The first error reported by any worker of a parallel_for.
class FirstError {
 public:
  void record(Status st) {
    if (st.ok()) return;
    std::lock_guard<std::mutex> lock(mu_);
    if (first_.ok()) first_ = std::move(st);
  }
  Status take() { return std::move(first_); }

 private:
  std::mutex mu_;
  Status first_;
};

// Quantised activations as the kernels read them.
struct Activations {
  const uint8_t* data = nullptr;
  uint64_t stride = 0;  // bytes between rows
};

Status matmul_packed(KernelContext& ctx, const MatmulShape& s, const PackedWeight& pw,
                     const simd::PackedLayout& layout, Activations act, int64_t group_grain) {
  const bool is_k = layout.k_quant;
  FirstError err;
  ctx.pool->parallel_for(s.n / simd::kPackGroupRows, group_grain, [&](int64_t gb, int64_t ge) {
    simd::PackedMatmulArgs a;
    a.k = s.k;
    a.packed = pw.data;
    a.group_begin = gb;
    a.group_end = ge;
    a.act = act.data;
    a.act_stride = act.stride;
    a.n_act = s.m;
    a.act_info = is_k ? nullptr : ctx.act_info.data();
    a.act_info_k = is_k ? ctx.act_info_k.data() : nullptr;
    a.out = s.y.f32_row(0);
    a.out_stride = static_cast<int64_t>(s.y.nb[1] / sizeof(float));
    err.record(layout.matmul(a, simd::active_isa()));
  });
  return err.take();
}

// The activation side data a packed matmul reads, for quantised row r (once per op).
void packed_act_info(KernelContext& ctx, const simd::PackedLayout& layout, const uint8_t* row,
                     int64_t r, int64_t k) {
  if (layout.k_quant) {
    simd::q8_k_act_info(row, k, &ctx.act_info_k[static_cast<size_t>(r * (k / kQK_K))]);
  } else {
    simd::q8_0_act_info(row, k, &ctx.act_info[static_cast<size_t>(r * (k / kQK8_0))]);
  }
}

}  // namespace

uint64_t packed_bytes(const TensorView& w) {
  const simd::PackedLayout* layout = simd::packed_layout(w.type);
  if (layout == nullptr || !uniform_rows(w)) return 0;
  return layout->bytes(w.n_rows(), w.ne[0]).value_or(0);
}

bool repack_weight(ThreadPool& pool, const TensorView& w, uint8_t* dst) {
  if (packed_bytes(w) == 0) return false;
  const simd::PackedLayout& layout = *simd::packed_layout(w.type);  // packed_bytes found one
  FirstError err;
  pool.parallel_for(w.n_rows() / simd::kPackGroupRows, 16, [&](int64_t gb, int64_t ge) {
    simd::RepackArgs a;
    a.k = w.ne[0];
    a.src = w.flat_row(0);
    a.src_stride = w.nb[1];
    a.group_begin = gb;
    a.group_end = ge;
    a.dst = dst;
    err.record(layout.repack(a));
  });
  return err.take().ok();
}

const char* simd_isa_name() {
  return simd::isa_name(simd::active_isa());
}

Status matmul(KernelContext& ctx, const Op& op) {
  MatmulShape s;
  DARI_TRY(check_matmul(op, &s));
  const TensorView &w = s.w, &x = s.x, &y = s.y;
  const int64_t k = s.k, n = s.n, m = s.m;
  // Activations in vec_dot_type: packed rows of qrow bytes (or the F32 rows themselves).
  const uint64_t qrow = static_cast<uint64_t>(k / s.vt->block_elems) * s.vt->block_bytes;
  const bool direct = s.wt->vec_dot_type == GgmlType::F32 && uniform_rows(x);
  const bool use_simd = ctx.simd && simd::weight_type_supported(w.type) && uniform_rows(w) &&
                        uniform_rows(y) && y.nb[1] % sizeof(float) == 0;
  const PackedWeight* pw = use_simd ? find_packed(ctx, w) : nullptr;
  // Non-null for every packed weight (only types with a layout are packed).
  const simd::PackedLayout* layout = pw != nullptr ? simd::packed_layout(pw->view.type) : nullptr;
  if (layout != nullptr && layout->k_quant) {
    ctx.act_info_k.resize(static_cast<size_t>(m * (k / kQK_K)));  // Q8_K super-blocks
  } else if (layout != nullptr) {
    ctx.act_info.resize(static_cast<size_t>(m * (k / kQK8_0)));  // Q8_0 blocks
  }
  if (!direct) {
    ctx.scratch.resize(qrow * static_cast<uint64_t>(m));
    uint8_t* q = ctx.scratch.data();
    const simd::QuantizeRowFn qf =
        use_simd ? simd::quantize_row_fn(s.vt->type, simd::active_isa()) : nullptr;
    const TypeTraits* vt = s.vt;
    ctx.pool->parallel_for(m, 1, [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        if (qf != nullptr) {
          qf(x.f32_row(r), q + qrow * r, k);
        } else if (vt->type == GgmlType::F32) {
          std::memcpy(q + qrow * r, x.f32_row(r), qrow);
        } else {
          vt->from_float(x.f32_row(r), q + qrow * r, k);
        }
        // Packed weights: the row's block sums and scales, once per op.
        if (layout != nullptr) packed_act_info(ctx, *layout, q + qrow * r, r, k);
      }
    });
  }
  const uint8_t* act0 =
      direct ? reinterpret_cast<const uint8_t*>(x.f32_row(0)) : ctx.scratch.data();
  const uint64_t act_stride = direct ? x.nb[1] : qrow;
  const int64_t grain = std::max<int64_t>(4, n / (8 * static_cast<int64_t>(ctx.pool->size())));
  // Threads take whole groups of kRowGroup weight rows, so a row's kernel (and its bits) does
  // not depend on the thread count.
  constexpr int64_t kRowGroup = simd::kMatmulRowAlign;
  const int64_t group_grain = std::max<int64_t>(1, grain / kRowGroup);
  if (pw != nullptr) {
    return matmul_packed(ctx, s, *pw, *layout, Activations{act0, act_stride}, group_grain);
  }
  if (use_simd) {
    FirstError err;
    const int64_t n_groups = (n + kRowGroup - 1) / kRowGroup;
    ctx.pool->parallel_for(n_groups, group_grain, [&](int64_t gb, int64_t ge) {
      simd::MatmulArgs a;
      a.weight_type = w.type;
      a.k = k;
      a.weights = w.flat_row(0);
      a.weight_stride = w.nb[1];
      a.row_begin = gb * kRowGroup;
      a.row_end = std::min(n, ge * kRowGroup);
      a.act = act0;
      a.act_stride = act_stride;
      a.n_act = m;
      a.out = y.f32_row(0);
      a.out_stride = static_cast<int64_t>(y.nb[1] / sizeof(float));
      err.record(simd::matmul(a));
    });
    return err.take();
  }
  const TypeTraits* wt = s.wt;
  ctx.pool->parallel_for(n, grain, [&](int64_t b, int64_t e) {
    for (int64_t r = 0; r < m; ++r) {
      const void* xr = direct ? static_cast<const void*>(x.f32_row(r)) : act0 + qrow * r;
      float* yr = y.f32_row(r);
      for (int64_t j = b; j < e; ++j) wt->vec_dot(k, w.flat_row(j), xr, &yr[j]);
    }
  });
  return Status::Ok();
}

}  // namespace dari::cpu
