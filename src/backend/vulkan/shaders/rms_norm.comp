#version 450
// RMS_NORM: c = a / sqrt(mean(a^2) + eps) * w, one workgroup per row. Binding 0 = src,
// 1 = weight row (F32, used when op == 1), 2 = dst. Sum of squares in float.
#include "common.glsl"
#include "rows.glsl"
#define RED_WG 128u
#include "reduce.glsl"
layout(local_size_x = 128) in;

void main() {
  uint lr = local_row();
  if (lr >= pc.nrows) return;
  uint r = pc.r0 + lr;
  uint ao = off_a(r);
  float ss = 0.0;
  for (uint j = gl_LocalInvocationID.x; j < pc.ne0; j += 128u) {
    float v = LD_F32(b0, ao + 4u * j);
    ss += v * v;
  }
  ss = wg_sum(ss);
  float s = 1.0 / sqrt(ss / float(pc.ne0) + pc.f0);
  uint co = off_c(r);
  uint wo = off_b(0u);
  for (uint j = gl_LocalInvocationID.x; j < pc.ne0; j += 128u) {
    float w = pc.op == 1u ? LD_F32(b1, wo + 4u * j) : 1.0;
    b2[(co + 4u * j) >> 2] = floatBitsToUint(LD_F32(b0, ao + 4u * j) * s * w);
  }
}
