// Push constants of matmul_vec / matmul_tiled (MatmulPush in vk_matmul.cpp).
// y[m][n] = sum_k x[m][k] * w[n][k] for the n < N, m < M of this dispatch (the host moves the
// binding offsets to the chunk). Binding 0 = weights (WTYPE_*), 1 = x (F32), 2 = y (F32).
layout(push_constant) uniform MatmulPush {
  uint K;        // row length
  uint N;        // weight rows in this dispatch
  uint M;        // activation rows in this dispatch
  uint ngroups;  // ceil(K / 8)
  uint w_off;    // byte offset of weight row 0 in binding 0
  uint w_nb1;    // bytes between weight rows
  uint x_off;
  uint x_nb1;
  uint y_off;
  uint y_nb1;
} pc;

// Activations x[m][8g .. 8g+7] (zeros past K).
void x8(uint m, uint g, out vec4 lo, out vec4 hi) {
  uint o = pc.x_off + m * pc.x_nb1 + 32u * g;
  uint e = 8u * g;
  if (e + 8u <= pc.K) {
    lo = vec4(LD_F32(b1, o), LD_F32(b1, o + 4u), LD_F32(b1, o + 8u), LD_F32(b1, o + 12u));
    hi = vec4(LD_F32(b1, o + 16u), LD_F32(b1, o + 20u), LD_F32(b1, o + 24u), LD_F32(b1, o + 28u));
    return;
  }
  float v[8];
  [[unroll]] for (uint i = 0u; i < 8u; ++i) v[i] = e + i < pc.K ? LD_F32(b1, o + 4u * i) : 0.0;
  lo = vec4(v[0], v[1], v[2], v[3]);
  hi = vec4(v[4], v[5], v[6], v[7]);
}
