#version 450
// Causal GQA ATTENTION over a paged K/V cache (DariAttentionParams). One workgroup of 64
// threads per (token i, query head h). Keys are visited in chunks of 64 positions with an
// online softmax (running max m, denominator l, rescaled accumulator), so the shared memory
// does not grow with the context: thread t scores position t of the chunk, then every thread
// accumulates its own output dims d = t, t + 64, ... over the chunk's V rows.
// Bindings: 0 = q (F32), 1 = K cache, 2 = V cache (F32/F16/BF16 by ktype/vtype), 3 = dst (F32).
// prm: positions[i] at pos_off, row_seq[i] at seq_off, prm[tbl_off + s] = word offset of
// sequence s's block table.
#include "common.glsl"
#define WG 64u
#define MAX_HD 512u
#define MAX_D (MAX_HD / WG)
layout(local_size_x = 64) in;

layout(push_constant) uniform AttnPush {
  uint hd;
  uint n_head;
  uint group;  // query heads per KV head
  uint bt;     // block_tokens
  float scale;
  uint ktype;
  uint vtype;
  uint rows;    // tokens in this dispatch
  uint qv[6];   // q view: bias, nb1, nb2, nb3, ne1, ne2
  uint ov[6];   // dst view
  uint k_off;   // byte offset of cache row 0 in binding 1
  uint k_nb1;   // bytes between cache rows
  uint v_off;
  uint v_nb1;
  uint pos_off;
  uint seq_off;
  uint tbl_off;
} pc;

shared float qsh[MAX_HD];
shared float psh[WG];
shared uint rsh[WG];

float ld_k(uint off, uint j) {
  if (pc.ktype == T_F32) return LD_F32(b1, off + 4u * j);
  uint h = LD_U16(b1, off + 2u * j);
  return pc.ktype == T_F16 ? half_to_f(h) : bf16_to_f(h);
}
float ld_v(uint off, uint j) {
  if (pc.vtype == T_F32) return LD_F32(b2, off + 4u * j);
  uint h = LD_U16(b2, off + 2u * j);
  return pc.vtype == T_F16 ? half_to_f(h) : bf16_to_f(h);
}

void main() {
  uint wg = flat_group();
  uint i = wg / pc.n_head;
  uint h = wg % pc.n_head;
  if (i >= pc.rows) return;
  uint t = gl_LocalInvocationID.x;
  uint r = i * pc.n_head + h;
  uint qo = row_off(r, pc.qv[4], pc.qv[5], pc.qv[0], pc.qv[1], pc.qv[2], pc.qv[3]);
  for (uint d = t; d < pc.hd; d += WG) qsh[d] = LD_F32(b0, qo + 4u * d);
  uint kvh = h / pc.group;
  uint esz_k = pc.ktype == T_F32 ? 4u : 2u;
  uint esz_v = pc.vtype == T_F32 ? 4u : 2u;
  uint k_head = pc.k_off + kvh * pc.hd * esz_k;
  uint v_head = pc.v_off + kvh * pc.hd * esz_v;
  uint npos = uint(prm[pc.pos_off + i]) + 1u;
  uint tbl = uint(prm[pc.tbl_off + uint(prm[pc.seq_off + i])]);
  float m = -1.0 / 0.0;
  float l = 0.0;
  float acc[MAX_D];
  [[unroll]] for (uint k = 0u; k < MAX_D; ++k) acc[k] = 0.0;
  barrier();
  for (uint p0 = 0u; p0 < npos; p0 += WG) {
    uint p = p0 + t;
    float s = -1.0 / 0.0;
    uint row = 0u;
    if (p < npos) {
      row = uint(prm[tbl + p / pc.bt]) * pc.bt + p % pc.bt;
      uint ko = k_head + row * pc.k_nb1;
      float dotv = 0.0;
      for (uint d = 0u; d < pc.hd; ++d) dotv += qsh[d] * ld_k(ko, d);
      s = dotv * pc.scale;
    }
    psh[t] = s;
    rsh[t] = row;
    barrier();
    uint cnt = min(WG, npos - p0);
    float mc = m;
    for (uint j = 0u; j < cnt; ++j) mc = max(mc, psh[j]);
    float corr = exp(m - mc);  // 0 on the first chunk (m = -inf, mc finite)
    barrier();
    if (p < npos) psh[t] = exp(s - mc);
    barrier();
    float lc = 0.0;
    for (uint j = 0u; j < cnt; ++j) lc += psh[j];
    l = l * corr + lc;
    [[unroll]] for (uint k = 0u; k < MAX_D; ++k) {
      uint d = t + WG * k;
      if (d < pc.hd) {
        float a = acc[k] * corr;
        for (uint j = 0u; j < cnt; ++j) a += psh[j] * ld_v(v_head + rsh[j] * pc.v_nb1, d);
        acc[k] = a;
      }
    }
    m = mc;
    barrier();
  }
  uint oo = row_off(r, pc.ov[4], pc.ov[5], pc.ov[0], pc.ov[1], pc.ov[2], pc.ov[3]);
  float inv = 1.0 / l;
  [[unroll]] for (uint k = 0u; k < MAX_D; ++k) {
    uint d = t + WG * k;
    if (d < pc.hd) b3[(oo + 4u * d) >> 2] = floatBitsToUint(acc[k] * inv);
  }
}
