#version 450
// Matrix-vector MATMUL for M <= 4 activation rows: one workgroup of 64 threads per weight row;
// threads split K in groups of 8, each weight group is dequantised once and used for every
// activation row, then a workgroup reduction (subgroupAdd with USE_SUBGROUPS, else shared
// memory).
#if defined(USE_SUBGROUPS)
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif
#include "common.glsl"
#include "matmul.glsl"
#include "dequant.glsl"
#define WG 64u
#define MAXM 4u
layout(local_size_x = 64) in;

shared float part[MAXM][WG];

void main() {
  uint n = flat_group();
  if (n >= pc.N) return;
  uint t = gl_LocalInvocationID.x;
  uint rb = pc.w_off + n * pc.w_nb1;
  float acc[MAXM] = float[MAXM](0.0, 0.0, 0.0, 0.0);
  for (uint g = t; g < pc.ngroups; g += WG) {
    vec4 wl, wh;
    dq8(rb, g, pc.K, wl, wh);
    [[unroll]] for (uint m = 0u; m < MAXM; ++m) {
      if (m < pc.M) {
        vec4 xl, xh;
        x8(m, g, xl, xh);
        acc[m] += dot(wl, xl) + dot(wh, xh);
      }
    }
  }
#if defined(USE_SUBGROUPS)
  [[unroll]] for (uint m = 0u; m < MAXM; ++m) {
    float s = subgroupAdd(acc[m]);
    if (gl_SubgroupInvocationID == 0u) part[m][gl_SubgroupID] = s;
  }
  barrier();
  if (t < pc.M) {
    float s = 0.0;
    for (uint i = 0u; i < gl_NumSubgroups; ++i) s += part[t][i];
    b2[(pc.y_off + t * pc.y_nb1 + 4u * n) >> 2] = floatBitsToUint(s);
  }
#else
  [[unroll]] for (uint m = 0u; m < MAXM; ++m) part[m][t] = acc[m];
  barrier();
  [[unroll]] for (uint s = WG / 2u; s > 0u; s >>= 1) {
    if (t < s) {
      [[unroll]] for (uint m = 0u; m < MAXM; ++m) part[m][t] += part[m][t + s];
    }
    barrier();
  }
  if (t < pc.M) b2[(pc.y_off + t * pc.y_nb1 + 4u * n) >> 2] = floatBitsToUint(part[t][0]);
#endif
}
