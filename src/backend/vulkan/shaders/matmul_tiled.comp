#version 450
// Tiled MATMUL for M > 4: a workgroup of 128 threads computes a 64 (weight rows) x 32
// (activation rows) tile of y. Per 32-wide K step it dequantises the 64 x 32 weight block once
// into shared memory (2 groups of 8 per thread), loads the 32 x 32 activation block, and each
// thread accumulates a 4 x 4 register tile.
#define INPUTS_READONLY
#include "common.glsl"
#include "matmul.glsl"
#include "dequant.glsl"
#define BN 64u
#define BM 32u
#define BK 32u
layout(local_size_x = 128) in;

shared float ws[BK][BN + 1u];
shared float xs[BK][BM + 1u];

void main() {
  uint t = gl_LocalInvocationID.x;
  uint n0 = gl_WorkGroupID.x * BN;
  uint m0 = gl_WorkGroupID.y * BM;
  uint tn = t & 15u;
  uint tm = t >> 4;
  float acc[4][4];
  [[unroll]] for (uint i = 0u; i < 4u; ++i) {
    [[unroll]] for (uint j = 0u; j < 4u; ++j) acc[i][j] = 0.0;
  }
  for (uint g0 = 0u; g0 < pc.ngroups; g0 += BK / 8u) {
    [[unroll]] for (uint p = 0u; p < 2u; ++p) {
      uint idx = t + 128u * p;
      uint r = idx >> 2;
      uint gi = idx & 3u;
      uint g = g0 + gi;
      vec4 lo = vec4(0.0), hi = vec4(0.0);
      if (n0 + r < pc.N && g < pc.ngroups) dq8(pc.w_off + (n0 + r) * pc.w_nb1, g, pc.K, lo, hi);
      uint k = 8u * gi;
      ws[k][r] = lo.x; ws[k + 1u][r] = lo.y; ws[k + 2u][r] = lo.z; ws[k + 3u][r] = lo.w;
      ws[k + 4u][r] = hi.x; ws[k + 5u][r] = hi.y; ws[k + 6u][r] = hi.z; ws[k + 7u][r] = hi.w;
    }
    {
      uint r = t >> 2;
      uint gi = t & 3u;
      uint g = g0 + gi;
      vec4 lo = vec4(0.0), hi = vec4(0.0);
      if (m0 + r < pc.M && g < pc.ngroups) x8(m0 + r, g, lo, hi);
      uint k = 8u * gi;
      xs[k][r] = lo.x; xs[k + 1u][r] = lo.y; xs[k + 2u][r] = lo.z; xs[k + 3u][r] = lo.w;
      xs[k + 4u][r] = hi.x; xs[k + 5u][r] = hi.y; xs[k + 6u][r] = hi.z; xs[k + 7u][r] = hi.w;
    }
    barrier();
    [[unroll]] for (uint k = 0u; k < BK; ++k) {
      float a[4], b[4];
      [[unroll]] for (uint i = 0u; i < 4u; ++i) a[i] = ws[k][tn + 16u * i];
      [[unroll]] for (uint j = 0u; j < 4u; ++j) b[j] = xs[k][tm + 8u * j];
      [[unroll]] for (uint i = 0u; i < 4u; ++i) {
        [[unroll]] for (uint j = 0u; j < 4u; ++j) acc[i][j] += a[i] * b[j];
      }
    }
    barrier();
  }
  [[unroll]] for (uint j = 0u; j < 4u; ++j) {
    uint m = m0 + tm + 8u * j;
    if (m >= pc.M) continue;
    [[unroll]] for (uint i = 0u; i < 4u; ++i) {
      uint n = n0 + tn + 16u * i;
      if (n < pc.N) b2[(pc.y_off + m * pc.y_nb1 + 4u * n) >> 2] = floatBitsToUint(acc[i][j]);
    }
  }
}
