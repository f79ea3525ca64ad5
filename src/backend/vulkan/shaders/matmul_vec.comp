#version 450
// Matrix-vector MATMUL for M <= 4 activation rows: one workgroup of 64 threads per NR weight
// rows. Threads split K in groups of 8; each activation group is loaded once and used
// for the NR weight rows, each weight group is dequantised once and used for every activation
// row. Then a workgroup reduction (subgroupAdd with USE_SUBGROUPS, else shared memory).
#if defined(USE_SUBGROUPS)
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif
#define INPUTS_READONLY
#include "common.glsl"
#include "matmul.glsl"
#include "dequant.glsl"
#define WG 64u
#define MAXM 4u
// Weight rows per workgroup: a specialization constant (4 on GPUs, 8 on software devices,
// where activation loads are the bottleneck).
layout(constant_id = 0) const uint NR = 4u;
layout(local_size_x = 64) in;

shared float part[NR * MAXM][WG];

void main() {
  uint n0 = flat_group() * NR;
  if (n0 >= pc.N) return;
  uint t = gl_LocalInvocationID.x;
  uint nr = min(NR, pc.N - n0);
  float acc[NR][MAXM];
  [[unroll]] for (uint r = 0u; r < NR; ++r) {
    [[unroll]] for (uint m = 0u; m < MAXM; ++m) acc[r][m] = 0.0;
  }
  for (uint g = t; g < pc.ngroups; g += WG) {
    vec4 xl[MAXM], xh[MAXM];
    [[unroll]] for (uint m = 0u; m < MAXM; ++m) {
      if (m < pc.M) x8(m, g, xl[m], xh[m]);
    }
    [[unroll]] for (uint r = 0u; r < NR; ++r) {
      if (r < nr) {
        vec4 wl, wh;
        dq8(pc.w_off + (n0 + r) * pc.w_nb1, g, pc.K, wl, wh);
        [[unroll]] for (uint m = 0u; m < MAXM; ++m) {
          if (m < pc.M) acc[r][m] += dot(wl, xl[m]) + dot(wh, xh[m]);
        }
      }
    }
  }
  uint outs = nr * pc.M;  // results of this workgroup: index r * M + m
#if defined(USE_SUBGROUPS)
  [[unroll]] for (uint r = 0u; r < NR; ++r) {
    [[unroll]] for (uint m = 0u; m < MAXM; ++m) {
      if (r < nr && m < pc.M) {
        float s = subgroupAdd(acc[r][m]);
        if (gl_SubgroupInvocationID == 0u) part[r * MAXM + m][gl_SubgroupID] = s;
      }
    }
  }
  barrier();
  if (t < NR * MAXM) {
    uint r = t / MAXM, m = t % MAXM;
    if (r < nr && m < pc.M) {
      float s = 0.0;
      for (uint i = 0u; i < gl_NumSubgroups; ++i) s += part[t][i];
      b2[(pc.y_off + m * pc.y_nb1 + 4u * (n0 + r)) >> 2] = floatBitsToUint(s);
    }
  }
#else
  [[unroll]] for (uint r = 0u; r < NR; ++r) {
    [[unroll]] for (uint m = 0u; m < MAXM; ++m) part[r * MAXM + m][t] = acc[r][m];
  }
  barrier();
  [[unroll]] for (uint s = WG / 2u; s > 0u; s >>= 1) {
    if (t < s) {
      [[unroll]] for (uint i = 0u; i < NR * MAXM; ++i) part[i][t] += part[i][t + s];
    }
    barrier();
  }
  if (t < NR * MAXM) {
    uint r = t / MAXM, m = t % MAXM;
    if (r < nr && m < pc.M) {
      b2[(pc.y_off + m * pc.y_nb1 + 4u * (n0 + r)) >> 2] = floatBitsToUint(part[t][0]);
    }
  }
#endif
}
