#version 450
// COPY and SET_ROWS between F32, F16 and BF16 (t0 = src type, t1 = dst type). Binding 0 = src,
// 2 = dst. Each thread converts elements 2j and 2j+1 of one row, so a 16-bit destination is
// written one whole word at a time (the host guarantees 4-byte aligned dst rows, even ne0).
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
  uint j = 2u * (gl_WorkGroupID.x * 256u + gl_LocalInvocationID.x);
  if (lr >= pc.nrows || j >= pc.ne0) return;
  uint rs = pc.r0 + lr;
  uint rd = rs;
  if (pc.op == 1u) {
    rs = uint(prm[pc.ids + 2u * lr]);
    rd = uint(prm[pc.ids + 2u * lr + 1u]);
  }
  uint so = off_a(rs);
  uint dof = off_c(rd);
  bool two = j + 1u < pc.ne0;
  float x0 = ld(pc.t0, so, j);
  float x1 = two ? ld(pc.t0, so, j + 1u) : 0.0;
  if (pc.t1 == T_F32) {
    b2[(dof + 4u * j) >> 2] = floatBitsToUint(x0);
    if (two) b2[(dof + 4u * j + 4u) >> 2] = floatBitsToUint(x1);
  } else {
    b2[(dof + 2u * j) >> 2] = cvt16(pc.t1, x0) | (cvt16(pc.t1, x1) << 16);
  }
}
