// Row movement with type conversion: get_rows (embedding lookup from any type with to_float),
// set_rows (scatter F32 rows into a table of any type with from_float, e.g. the KV cache),
// copy (same shape, any type pair with a float path).
#include <cstring>
#include <vector>

#include "backend/cpu/kernels/kernels.h"
#include "dari/core/strings.h"
#include "dari/tensor/dtype.h"

namespace dari::cpu {
namespace {

Status check_ids(OpKind kind, const OpParams& p, int64_t want, int64_t limit) {
  if (p.row_ids == nullptr || p.n_row_ids != want) {
    return make_error(str_format("%s: expected %lld row ids, got %lld",
                                 std::string(op_name(kind)).c_str(), static_cast<long long>(want),
                                 static_cast<long long>(p.n_row_ids)));
  }
  for (int64_t i = 0; i < want; ++i) {
    if (p.row_ids[i] < 0 || p.row_ids[i] >= limit) {
      return make_error(str_format("%s: row id %d at index %lld out of range [0, %lld)",
                                   std::string(op_name(kind)).c_str(), p.row_ids[i],
                                   static_cast<long long>(i), static_cast<long long>(limit)));
    }
  }
  return Status::Ok();
}

// Converts one row of n elements from src (type st) to dst (type dt) through float.
void convert_row(const TypeTraits* st, const TypeTraits* dt, const void* src, void* dst, int64_t n,
                 std::vector<float>& tmp) {
  if (st->type == dt->type) {
    std::memcpy(dst, src, static_cast<size_t>(n / st->block_elems) * st->block_bytes);
    return;
  }
  if (st->type == GgmlType::F32) {
    dt->from_float(static_cast<const float*>(src), dst, n);
    return;
  }
  if (dt->type == GgmlType::F32) {
    st->to_float(src, static_cast<float*>(dst), n);
    return;
  }
  tmp.resize(static_cast<size_t>(n));
  st->to_float(src, tmp.data(), n);
  dt->from_float(tmp.data(), dst, n);
}

Status conversion_traits(OpKind kind, GgmlType from, GgmlType to, const TypeTraits** st,
                         const TypeTraits** dt) {
  *st = type_traits(from);
  *dt = type_traits(to);
  const bool ok = *st != nullptr && *dt != nullptr &&
                  (from == to || ((from == GgmlType::F32 || (*st)->to_float != nullptr) &&
                                  (to == GgmlType::F32 || (*dt)->from_float != nullptr)));
  if (!ok) {
    return make_error(str_format("%s: no conversion from %s to %s",
                                 std::string(op_name(kind)).c_str(),
                                 std::string(ggml_type_name(from)).c_str(),
                                 std::string(ggml_type_name(to)).c_str()));
  }
  return Status::Ok();
}

}  // namespace

Status get_rows(KernelContext& ctx, const Op& op) {
  const OpKind kind = OpKind::kGetRows;
  if (op.n_src < 1) return make_error("get_rows: needs a table");
  TensorView t = from_c_view(op.src[0]);
  TensorView y = from_c_view(op.dst);
  DARI_TRY(check_view(kind, "table", t));
  DARI_TRY(check_f32(kind, "dst", y));
  if (t.ne[0] != y.ne[0]) {
    return make_error("get_rows: table " + t.describe() + " and dst " + y.describe() +
                      " differ in row length");
  }
  DARI_TRY(check_ids(kind, op.params, y.n_rows(), t.n_rows()));
  const TypeTraits *st = nullptr, *dt = nullptr;
  DARI_TRY(conversion_traits(kind, t.type, GgmlType::F32, &st, &dt));
  ctx.pool->parallel_for(y.n_rows(), 0, [&](int64_t b, int64_t e) {
    std::vector<float> tmp;
    for (int64_t r = b; r < e; ++r) {
      convert_row(st, dt, t.flat_row(op.params.row_ids[r]), y.flat_row(r), t.ne[0], tmp);
    }
  });
  return Status::Ok();
}

Status set_rows(KernelContext& ctx, const Op& op) {
  const OpKind kind = OpKind::kSetRows;
  if (op.n_src < 1) return make_error("set_rows: needs an input");
  TensorView x = from_c_view(op.src[0]);
  TensorView d = from_c_view(op.dst);
  DARI_TRY(check_f32(kind, "src0", x));
  DARI_TRY(check_view(kind, "dst", d));
  if (x.ne[0] != d.ne[0]) {
    return make_error("set_rows: src " + x.describe() + " and dst " + d.describe() +
                      " differ in row length");
  }
  DARI_TRY(check_ids(kind, op.params, x.n_rows(), d.n_rows()));
  const TypeTraits *st = nullptr, *dt = nullptr;
  DARI_TRY(conversion_traits(kind, GgmlType::F32, d.type, &st, &dt));
  // Duplicate target ids would race; the last one wins when run serially, so run serially then.
  ctx.pool->parallel_for(x.n_rows(), x.n_rows(), [&](int64_t b, int64_t e) {
    std::vector<float> tmp;
    for (int64_t r = b; r < e; ++r) {
      convert_row(st, dt, x.flat_row(r), d.flat_row(op.params.row_ids[r]), x.ne[0], tmp);
    }
  });
  return Status::Ok();
}

Status copy(KernelContext& ctx, const Op& op) {
  const OpKind kind = OpKind::kCopy;
  if (op.n_src < 1) return make_error("copy: needs an input");
  TensorView x = from_c_view(op.src[0]);
  TensorView y = from_c_view(op.dst);
  DARI_TRY(check_view(kind, "src0", x));
  DARI_TRY(check_view(kind, "dst", y));
  DARI_TRY(check_same_shape(kind, x, y));
  const TypeTraits *st = nullptr, *dt = nullptr;
  DARI_TRY(conversion_traits(kind, x.type, y.type, &st, &dt));
  ctx.pool->parallel_for(x.n_rows(), 0, [&](int64_t b, int64_t e) {
    std::vector<float> tmp;
    for (int64_t r = b; r < e; ++r) convert_row(st, dt, x.flat_row(r), y.flat_row(r), x.ne[0], tmp);
  });
  return Status::Ok();
}

}  // namespace dari::cpu
