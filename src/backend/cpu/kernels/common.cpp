#include <string>

#include "backend/cpu/kernels/kernels.h"
#include "dari/core/checked.h"
#include "dari/core/strings.h"

namespace dari::cpu {

namespace {
std::string where(OpKind kind, const char* what) {
  return std::string(op_name(kind)) + ": " + what;
}
}  // namespace

Status check_view(OpKind kind, const char* what, const TensorView& v) {
  auto info = ggml_type_info(static_cast<uint32_t>(v.type));
  if (!info) {
    return make_error(str_format("%s: unknown type id %u", where(kind, what).c_str(),
                                 static_cast<unsigned>(v.type)));
  }
  if (v.data == nullptr) return make_error(where(kind, what) + ": null data");
  constexpr int64_t kMaxDim = int64_t{1} << 40;
  for (int i = 0; i < 4; ++i) {
    if (v.ne[i] < 1 || v.ne[i] > kMaxDim) {
      return make_error(where(kind, what) + ": bad shape " + v.describe());
    }
  }
  if (v.ne[0] % info->block_elems != 0) {
    return make_error(str_format("%s: row of %lld elements is not a multiple of %s block size %u",
                                 where(kind, what).c_str(), static_cast<long long>(v.ne[0]),
                                 std::string(info->name).c_str(), info->block_elems));
  }
  uint64_t rb = v.row_bytes();
  uint64_t s2 = 0, s3 = 0;
  if (v.nb[1] < rb || !checked_mul(v.nb[1], static_cast<uint64_t>(v.ne[1]), &s2) ||
      v.nb[2] < s2 || !checked_mul(v.nb[2], static_cast<uint64_t>(v.ne[2]), &s3) ||
      v.nb[3] < s3) {
    return make_error(where(kind, what) + ": strides overlap or overflow for " + v.describe());
  }
  return Status::Ok();
}

Status check_f32(OpKind kind, const char* what, const TensorView& v) {
  DARI_TRY(check_view(kind, what, v));
  if (v.type != GgmlType::F32) {
    return make_error(where(kind, what) + ": expected F32, got " + v.describe());
  }
  return Status::Ok();
}

Status check_same_shape(OpKind kind, const TensorView& a, const TensorView& b) {
  if (!a.same_shape(b)) {
    return make_error(std::string(op_name(kind)) + ": shape mismatch " + a.describe() + " vs " +
                      b.describe());
  }
  return Status::Ok();
}

}  // namespace dari::cpu
