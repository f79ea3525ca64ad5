#version 450
// COPY and SET_ROWS between F32, F16 and BF16 (t0 = src type, t1 = dst type). Binding 0 = src,
// 2 = dst. F32 destination: thread k converts elements 2k and 2k+1 of one row. 16-bit
// destination: thread k writes the k-th 32-bit word the row touches (rows may start in the
// middle of a word): whole words with a plain store, a half word shared with a neighbouring row
// with atomicAnd/atomicOr on its own 16 bits.
// op == 1: rows come from the pair list prm[ids + 2i] (src row), prm[ids + 2i + 1] (dst row),
// with duplicates removed on the host (last wins, as on the CPU).
#include "common.glsl"
#include "rows.glsl"
layout(local_size_x = 256) in;

float ld(uint t, uint off, uint j) {
  if (t == T_F32) return LD_F32(b0, off + 4u * j);
  uint h = LD_U16(b0, off + 2u * j);
  return t == T_F16 ? half_to_f(h) : bf16_to_f(h);
}

uint cvt16(uint t, float v) { return t == T_F16 ? f_to_half(v) : f_to_bf16(v); }

void main() {
  uint lr = local_row();
  uint k = gl_WorkGroupID.x * 256u + gl_LocalInvocationID.x;
  if (lr >= pc.nrows || 2u * k >= pc.ne0 + 1u) return;
  uint rs = pc.r0 + lr;
  uint rd = rs;
  if (pc.op == 1u) {
    rs = uint(prm[pc.ids + 2u * lr]);
    rd = uint(prm[pc.ids + 2u * lr + 1u]);
  }
  uint so = off_a(rs);
  uint dof = off_c(rd);
  if (pc.t1 == T_F32) {
    uint j = 2u * k;
    if (j >= pc.ne0) return;
    b2[(dof + 4u * j) >> 2] = floatBitsToUint(ld(pc.t0, so, j));
    if (j + 1u < pc.ne0) b2[(dof + 4u * j + 4u) >> 2] = floatBitsToUint(ld(pc.t0, so, j + 1u));
    return;
  }
  uint lead = (dof >> 1) & 1u;  // 1 when the row starts in the high half of a word
  int j0 = int(2u * k) - int(lead);  // element in the low half of word k
  int j1 = j0 + 1;
  bool v0 = j0 >= 0 && j0 < int(pc.ne0);
  bool v1 = j1 < int(pc.ne0);
  uint w = ((dof & ~3u) >> 2) + k;
  uint lo = v0 ? cvt16(pc.t1, ld(pc.t0, so, uint(j0))) : 0u;
  uint hi = v1 ? cvt16(pc.t1, ld(pc.t0, so, uint(j1))) : 0u;
  if (v0 && v1) {
    b2[w] = lo | (hi << 16);
  } else if (v0) {
    atomicAnd(b2[w], 0xffff0000u);
    atomicOr(b2[w], lo);
  } else if (v1) {
    atomicAnd(b2[w], 0x0000ffffu);
    atomicOr(b2[w], hi << 16);
  }
}
