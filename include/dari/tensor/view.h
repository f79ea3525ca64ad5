// TensorView: a non-owning view of a tensor in memory (host memory for the CPU backend).
//
// Layout follows GGUF/ggml: ne[0] is the fastest-varying dimension (a "row"), nb[i] is the byte
// stride of dimension i. For block-quantised types nb[0] is the block size in bytes and a row of
// ne[0] elements is ne[0] / block_elems blocks; ne[0] must be a multiple of block_elems.
// Elements within a row are always contiguous; rows may be strided.
//
// Ownership: none; the viewed memory must outlive the view. Thread safety: a plain value.
#pragma once

#include <cstdint>
#include <string>

#include "dari/io/ggml_type.h"

namespace dari {

struct TensorView {
  void* data = nullptr;
  GgmlType type = GgmlType::F32;
  int64_t ne[4] = {1, 1, 1, 1};
  uint64_t nb[4] = {0, 0, 0, 0};

  // A contiguous view of `type` with dims ne0..ne3 (strides derived from the type's layout).
  // Precondition: ne0 is a multiple of the type's block size (callers validate shapes first).
  static TensorView contiguous(void* data, GgmlType type, int64_t ne0, int64_t ne1 = 1,
                               int64_t ne2 = 1, int64_t ne3 = 1);
  static TensorView contiguous(const void* data, GgmlType type, int64_t ne0, int64_t ne1 = 1,
                               int64_t ne2 = 1, int64_t ne3 = 1) {
    return contiguous(const_cast<void*>(data), type, ne0, ne1, ne2, ne3);
  }

  bool empty() const { return data == nullptr; }
  int64_t n_rows() const { return ne[1] * ne[2] * ne[3]; }
  int64_t n_elements() const { return ne[0] * n_rows(); }
  // Bytes of one row of ne[0] elements.
  uint64_t row_bytes() const;
  // Pointer to row (i1, i2, i3); no bounds check (callers loop within ne).
  uint8_t* row(int64_t i1, int64_t i2 = 0, int64_t i3 = 0) const {
    return static_cast<uint8_t*>(data) + i1 * nb[1] + i2 * nb[2] + i3 * nb[3];
  }
  // Row by flat index r in [0, n_rows()) (i1 fastest).
  uint8_t* flat_row(int64_t r) const {
    return row(r % ne[1], (r / ne[1]) % ne[2], r / (ne[1] * ne[2]));
  }
  float* f32_row(int64_t r) const { return reinterpret_cast<float*>(flat_row(r)); }
  // True when ne and nb describe rows packed back to back with no gaps.
  bool is_contiguous() const;
  // Same data, reinterpreted with new dims (requires is_contiguous()).
  TensorView reshape(int64_t ne0, int64_t ne1 = 1, int64_t ne2 = 1, int64_t ne3 = 1) const;
  bool same_shape(const TensorView& o) const {
    return ne[0] == o.ne[0] && ne[1] == o.ne[1] && ne[2] == o.ne[2] && ne[3] == o.ne[3];
  }
  // "[ne0, ne1, ne2, ne3] TYPE" for error messages.
  std::string describe() const;
};

}  // namespace dari
