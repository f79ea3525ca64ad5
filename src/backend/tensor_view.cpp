#include "dari/tensor/view.h"

#include "dari/core/strings.h"

namespace dari {

TensorView TensorView::contiguous(void* data, GgmlType type, int64_t ne0, int64_t ne1,
                                  int64_t ne2, int64_t ne3) {
  TensorView v;
  v.data = data;
  v.type = type;
  v.ne[0] = ne0;
  v.ne[1] = ne1;
  v.ne[2] = ne2;
  v.ne[3] = ne3;
  GgmlTypeInfo info = ggml_type_info(type);
  v.nb[0] = info.block_bytes;
  v.nb[1] = static_cast<uint64_t>(ne0 / info.block_elems) * info.block_bytes;
  v.nb[2] = v.nb[1] * static_cast<uint64_t>(ne1);
  v.nb[3] = v.nb[2] * static_cast<uint64_t>(ne2);
  return v;
}

uint64_t TensorView::row_bytes() const {
  GgmlTypeInfo info = ggml_type_info(type);
  return static_cast<uint64_t>(ne[0] / info.block_elems) * info.block_bytes;
}

bool TensorView::is_contiguous() const {
  return nb[1] == row_bytes() && nb[2] == nb[1] * static_cast<uint64_t>(ne[1]) &&
         nb[3] == nb[2] * static_cast<uint64_t>(ne[2]);
}

TensorView TensorView::reshape(int64_t ne0, int64_t ne1, int64_t ne2, int64_t ne3) const {
  return contiguous(data, type, ne0, ne1, ne2, ne3);
}

std::string TensorView::describe() const {
  return str_format("[%lld, %lld, %lld, %lld] %s", static_cast<long long>(ne[0]),
                    static_cast<long long>(ne[1]), static_cast<long long>(ne[2]),
                    static_cast<long long>(ne[3]), std::string(ggml_type_name(type)).c_str());
}

}  // namespace dari
