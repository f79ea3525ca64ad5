#version 450
// ROPE on F32 rows [head_dim][n_heads][tokens]: binding 0 = src, 2 = dst. The host writes
// cos/sin for every (token, pair) into prm (computed in double, like the CPU) at word ids:
// prm[ids + 2 * (token * half + i)] = cos, + 1 = sin (float bits). ne0 = head_dim,
// t0 = n_dims, t1 = heads per token, op = 1 for neox (halves), 0 for adjacent pairs.
// One thread per pair; pairs past n_dims / 2 copy the unrotated tail.
#include "common.glsl"
#include "rows.glsl"
layout(local_size_x = 64) in;

void main() {
  uint lr = local_row();
  uint q = gl_WorkGroupID.x * 64u + gl_LocalInvocationID.x;
  if (lr >= pc.nrows || 2u * q >= pc.ne0) return;
  uint r = pc.r0 + lr;
  uint so = off_a(r);
  uint dof = off_c(r);
  uint half_dims = pc.t0 / 2u;
  if (q >= half_dims) {
    uint e = pc.t0 + 2u * (q - half_dims);
    b2[(dof + 4u * e) >> 2] = b0[(so + 4u * e) >> 2];
    if (e + 1u < pc.ne0) b2[(dof + 4u * e + 4u) >> 2] = b0[(so + 4u * e + 4u) >> 2];
    return;
  }
  uint tok = r / pc.t1;
  uint ci = pc.ids + 2u * (tok * half_dims + q);
  float c = intBitsToFloat(prm[ci]);
  float s = intBitsToFloat(prm[ci + 1u]);
  uint i0 = pc.op == 1u ? q : 2u * q;
  uint i1 = pc.op == 1u ? q + half_dims : 2u * q + 1u;
  float x0 = LD_F32(b0, so + 4u * i0);
  float x1 = LD_F32(b0, so + 4u * i1);
  b2[(dof + 4u * i0) >> 2] = floatBitsToUint(x0 * c - x1 * s);
  b2[(dof + 4u * i1) >> 2] = floatBitsToUint(x0 * s + x1 * c);
}
