// Op encoding shared by vk_ops.cpp, vk_matmul.cpp and vk_attention.cpp: view geometry, binding
// of row ranges (split so every binding fits max_range), and the per-family entry points.
// Called on the compute() thread; units are bytes unless named otherwise.
#pragma once

#include <cstdint>
#include <string>

#include "vk_encoder.h"

namespace dari_vk {

// View part of the push constants (rows.glsl): byte offset of flattened row r in its binding
// is bias + i1 * nb1 + i2 * nb2 + i3 * nb3 (mod 2^32), or bias + r * nb1 when ne1 == 0 (evenly
// strided rows).
struct ViewPush {
  uint32_t bias = 0, nb1 = 0, nb2 = 0, nb3 = 0, ne1 = 1, ne2 = 1;
};

// RowPush in rows.glsl (104 bytes).
struct RowPush {
  uint32_t ne0 = 0, nrows = 0, r0 = 0, op = 0;
  float f0 = 0.0f;
  uint32_t ids = 0, t0 = 0, t1 = 0;
  ViewPush va, vb, vc;
};
static_assert(sizeof(RowPush) == 104, "RowPush must match rows.glsl");

inline uint64_t addr_of(const DariTensorView& v) {
  return static_cast<uint64_t>(reinterpret_cast<uintptr_t>(v.data));
}
inline uint64_t n_rows(const DariTensorView& v) {
  return static_cast<uint64_t>(v.ne[1]) * static_cast<uint64_t>(v.ne[2]) *
         static_cast<uint64_t>(v.ne[3]);
}
// Byte offset of flattened row r from the view's start.
inline uint64_t row_off(const DariTensorView& v, uint64_t r) {
  const uint64_t ne1 = static_cast<uint64_t>(v.ne[1]), ne2 = static_cast<uint64_t>(v.ne[2]);
  return (r % ne1) * v.nb[1] + ((r / ne1) % ne2) * v.nb[2] + (r / (ne1 * ne2)) * v.nb[3];
}
inline uint64_t view_row_bytes(const DariTensorView& v) {
  return row_bytes(type_info(v.type), v.ne[0]);
}
// Bytes covered by rows lo..hi (inclusive) of v.
inline uint64_t row_span(const DariTensorView& v, uint64_t lo, uint64_t hi) {
  return row_off(v, hi) - row_off(v, lo) + view_row_bytes(v);
}
// True when flattened rows are evenly spaced nb[1] apart.
inline bool uniform_rows(const DariTensorView& v) {
  return (v.ne[2] == 1 || v.nb[2] == v.nb[1] * static_cast<uint64_t>(v.ne[1])) &&
         (v.ne[3] == 1 || v.nb[3] == v.nb[2] * static_cast<uint64_t>(v.ne[2]));
}
// Largest span one binding may need (room for the alignment remainder).
inline uint64_t span_limit(const Context* c) {
  return c->max_range - c->align;
}

// Binds rows lo..hi of v and fills the view push constants relative to row lo.
Status bind_rows(Context* c, const DariTensorView& v, uint64_t lo, uint64_t hi, bool write,
                 BindRange* b, ViewPush* vp);

// Shape/type checks without touching data (supports_op). Empty string = supported.
std::string check_op(const Context* c, const DariOp& op);
// Appends the dispatches of one op.
Status encode_op(Encoder& e, const DariOp& op);
Status encode_matmul(Encoder& e, const DariOp& op);
Status encode_attention(Encoder& e, const DariOp& op);
std::string check_matmul(const Context* c, const DariOp& op);
std::string check_attention(const Context* c, const DariOp& op);
// Basic view sanity: known type, positive dims, whole blocks, non-overlapping strides.
std::string check_view(const DariTensorView& v, const char* what);
// Describes a view for messages: "F32 [4096, 7, 1, 1]".
std::string describe(const DariTensorView& v);

}  // namespace dari_vk
