#version 450
// GET_ROWS: dst row i (F32, binding 2) = table row prm[ids + i] (binding 0, type WTYPE_*)
// dequantised. One thread per group of 8 elements.
#include "common.glsl"
#include "rows.glsl"
#include "dequant.glsl"
layout(local_size_x = 64) in;

void main() {
  uint lr = local_row();
  uint g = gl_WorkGroupID.x * 64u + gl_LocalInvocationID.x;
  if (lr >= pc.nrows || 8u * g >= pc.ne0) return;
  uint i = pc.r0 + lr;
  uint src = off_a(uint(prm[pc.ids + i]));
  uint dst = off_c(i) + 32u * g;
  vec4 lo, hi;
  dq8(src, g, pc.ne0, lo, hi);
  float v[8] = float[8](lo.x, lo.y, lo.z, lo.w, hi.x, hi.y, hi.z, hi.w);
  uint n = min(8u, pc.ne0 - 8u * g);
  for (uint k = 0u; k < n; ++k) b2[(dst + 4u * k) >> 2] = floatBitsToUint(v[k]);
}
