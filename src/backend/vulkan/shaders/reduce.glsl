// Workgroup sum / max of one float per thread (RED_WG threads, a power of two), through
// shared memory. Every thread gets the result. Must be called by all threads (barriers).
shared float red_sh[RED_WG];

float wg_sum(float v) {
  uint t = gl_LocalInvocationID.x;
  barrier();
  red_sh[t] = v;
  barrier();
  [[unroll]] for (uint s = RED_WG / 2u; s > 0u; s >>= 1) {
    if (t < s) red_sh[t] += red_sh[t + s];
    barrier();
  }
  return red_sh[0];
}

float wg_max(float v) {
  uint t = gl_LocalInvocationID.x;
  barrier();
  red_sh[t] = v;
  barrier();
  [[unroll]] for (uint s = RED_WG / 2u; s > 0u; s >>= 1) {
    if (t < s) red_sh[t] = max(red_sh[t], red_sh[t + s]);
    barrier();
  }
  return red_sh[0];
}
