#version 450
// SOFTMAX: c = exp(a * scale - max) / sum, one workgroup per row. Binding 0 = src, 2 = dst.
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
  uint co = off_c(r);
  float mx = -1.0 / 0.0;
  for (uint j = gl_LocalInvocationID.x; j < pc.ne0; j += 128u) {
    mx = max(mx, LD_F32(b0, ao + 4u * j) * pc.f0);
  }
  mx = wg_max(mx);
  float sum = 0.0;
  for (uint j = gl_LocalInvocationID.x; j < pc.ne0; j += 128u) {
    sum += exp(LD_F32(b0, ao + 4u * j) * pc.f0 - mx);
  }
  sum = wg_sum(sum);
  float inv = 1.0 / sum;
  for (uint j = gl_LocalInvocationID.x; j < pc.ne0; j += 128u) {
    float e = exp(LD_F32(b0, ao + 4u * j) * pc.f0 - mx);
    b2[(co + 4u * j) >> 2] = floatBitsToUint(e * inv);
  }
}
