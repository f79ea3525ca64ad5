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

// Weight and activation blocks, k-major, four consecutive rows per vec4 (one 128-bit load
// gives a thread its four rows).
shared vec4 ws[BK][BN / 4u];
shared vec4 xs[BK][BM / 4u];

void main() {
  uint t = gl_LocalInvocationID.x;
  uint n0 = gl_WorkGroupID.x * BN;
  uint m0 = gl_WorkGroupID.y * BM;
  uint tn = t & 15u;  // rows n0 + 4 tn .. + 3
  uint tm = t >> 4;   // rows m0 + 4 tm .. + 3
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
      uint q = r >> 2, c = r & 3u;
      ws[k][q][c] = lo.x; ws[k + 1u][q][c] = lo.y; ws[k + 2u][q][c] = lo.z;
      ws[k + 3u][q][c] = lo.w; ws[k + 4u][q][c] = hi.x; ws[k + 5u][q][c] = hi.y;
      ws[k + 6u][q][c] = hi.z; ws[k + 7u][q][c] = hi.w;
    }
    {
      uint r = t >> 2;
      uint gi = t & 3u;
      uint g = g0 + gi;
      vec4 lo = vec4(0.0), hi = vec4(0.0);
      if (m0 + r < pc.M && g < pc.ngroups) x8(m0 + r, g, lo, hi);
      uint k = 8u * gi;
      uint q = r >> 2, c = r & 3u;
      xs[k][q][c] = lo.x; xs[k + 1u][q][c] = lo.y; xs[k + 2u][q][c] = lo.z;
      xs[k + 3u][q][c] = lo.w; xs[k + 4u][q][c] = hi.x; xs[k + 5u][q][c] = hi.y;
      xs[k + 6u][q][c] = hi.z; xs[k + 7u][q][c] = hi.w;
    }
    barrier();
    [[unroll]] for (uint k = 0u; k < BK; ++k) {
      vec4 a = ws[k][tn];
      vec4 b = xs[k][tm];
      [[unroll]] for (uint j = 0u; j < 4u; ++j) {
        acc[0][j] += a.x * b[j];
        acc[1][j] += a.y * b[j];
        acc[2][j] += a.z * b[j];
        acc[3][j] += a.w * b[j];
      }
    }
    barrier();
  }
  [[unroll]] for (uint j = 0u; j < 4u; ++j) {
    uint m = m0 + 4u * tm + j;
    if (m >= pc.M) continue;
    [[unroll]] for (uint i = 0u; i < 4u; ++i) {
      uint n = n0 + 4u * tn + i;
      if (n < pc.N) b2[(pc.y_off + m * pc.y_nb1 + 4u * n) >> 2] = floatBitsToUint(acc[i][j]);
    }
  }
}
