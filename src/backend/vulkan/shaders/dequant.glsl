// Weight dequantisation from binding 0 (b0), one variant per WTYPE_* define.
// dq8(rb, g, K, lo, hi): elements 8g .. 8g+7 of the weight row whose first block starts at byte
// rb, as floats (lo = first four). K (row length) only matters for F32/F16/BF16, whose last
// group may be partial (missing elements read as 0). Block layouts follow src/tensor/blocks.h
// (ggml): every block size and half-float field offset is even, so u16 loads are aligned.

// 8 bytes at any byte offset (two little-endian words).
uvec2 ld8(uint off) { return uvec2(LD_U32U(b0, off), LD_U32U(b0, off + 4u)); }
vec4 nib_lo(uint x) { return vec4(uvec4(x, x >> 8, x >> 16, x >> 24) & 0xfu); }
vec4 nib_hi(uint x) { return vec4(uvec4(x >> 4, x >> 12, x >> 20, x >> 28) & 0xfu); }
vec4 i8x4(uint x) { return vec4(ivec4(int(x << 24), int(x << 16), int(x << 8), int(x)) >> 24); }
// Bit b.. of h for 4 consecutive elements starting at bit `first`, spaced one bit apart.
vec4 bits4(uint h, uint first) { return vec4(uvec4(h >> first, h >> (first + 1u), h >> (first + 2u), h >> (first + 3u)) & 1u); }

#if defined(WTYPE_F32)
#define QK 1u
void dq8(uint rb, uint g, uint K, out vec4 lo, out vec4 hi) {
  uint e = 8u * g;
  uint o = rb + 32u * g;
  if (e + 8u <= K) {
    lo = vec4(LD_F32(b0, o), LD_F32(b0, o + 4u), LD_F32(b0, o + 8u), LD_F32(b0, o + 12u));
    hi = vec4(LD_F32(b0, o + 16u), LD_F32(b0, o + 20u), LD_F32(b0, o + 24u), LD_F32(b0, o + 28u));
    return;
  }
  float v[8];
  [[unroll]] for (uint i = 0u; i < 8u; ++i) v[i] = e + i < K ? LD_F32(b0, o + 4u * i) : 0.0;
  lo = vec4(v[0], v[1], v[2], v[3]);
  hi = vec4(v[4], v[5], v[6], v[7]);
}
#elif defined(WTYPE_F16) || defined(WTYPE_BF16)
#define QK 1u
float cv16(uint h) {
#if defined(WTYPE_F16)
  return half_to_f(h);
#else
  return bf16_to_f(h);
#endif
}
vec2 cv2(uint w) { return vec2(cv16(w & 0xffffu), cv16(w >> 16)); }
void dq8(uint rb, uint g, uint K, out vec4 lo, out vec4 hi) {
  uint e = 8u * g;
  uint o = rb + 16u * g;
  if (e + 8u <= K) {
    uvec2 a = ld8(o);
    uvec2 b = ld8(o + 8u);
    lo = vec4(cv2(a.x), cv2(a.y));
    hi = vec4(cv2(b.x), cv2(b.y));
    return;
  }
  float v[8];
  [[unroll]] for (uint i = 0u; i < 8u; ++i) v[i] = e + i < K ? cv16(LD_U16(b0, o + 2u * i)) : 0.0;
  lo = vec4(v[0], v[1], v[2], v[3]);
  hi = vec4(v[4], v[5], v[6], v[7]);
}
#elif defined(WTYPE_Q8_0)
#define QK 32u
void dq8(uint rb, uint g, uint K, out vec4 lo, out vec4 hi) {
  uint bo = rb + 34u * (g >> 2);
  float d = half_to_f(LD_U16(b0, bo));
  uvec2 q = ld8(bo + 2u + 8u * (g & 3u));
  lo = i8x4(q.x) * d;
  hi = i8x4(q.y) * d;
}
#elif defined(WTYPE_Q4_0) || defined(WTYPE_Q4_1)
#define QK 32u
void dq8(uint rb, uint g, uint K, out vec4 lo, out vec4 hi) {
#if defined(WTYPE_Q4_0)
  uint bo = rb + 18u * (g >> 2);
  float d = half_to_f(LD_U16(b0, bo));
  float m = -8.0 * d;
  uint qo = bo + 2u;
#else
  uint bo = rb + 20u * (g >> 2);
  float d = half_to_f(LD_U16(b0, bo));
  float m = half_to_f(LD_U16(b0, bo + 2u));
  uint qo = bo + 4u;
#endif
  uint sub = g & 3u;
  uvec2 q = ld8(qo + 8u * (sub & 1u));
  if (sub < 2u) {
    lo = nib_lo(q.x) * d + m;
    hi = nib_lo(q.y) * d + m;
  } else {
    lo = nib_hi(q.x) * d + m;
    hi = nib_hi(q.y) * d + m;
  }
}
#elif defined(WTYPE_Q5_0) || defined(WTYPE_Q5_1)
#define QK 32u
void dq8(uint rb, uint g, uint K, out vec4 lo, out vec4 hi) {
#if defined(WTYPE_Q5_0)
  uint bo = rb + 22u * (g >> 2);
  float d = half_to_f(LD_U16(b0, bo));
  float m = -16.0 * d;
  uint qh = LD_U32U(b0, bo + 2u);
  uint qo = bo + 6u;
#else
  uint bo = rb + 24u * (g >> 2);
  float d = half_to_f(LD_U16(b0, bo));
  float m = half_to_f(LD_U16(b0, bo + 2u));
  uint qh = LD_U32U(b0, bo + 4u);
  uint qo = bo + 8u;
#endif
  uint sub = g & 3u;
  uint j0 = 8u * sub;  // element index in the block
  uvec2 q = ld8(qo + 8u * (sub & 1u));
  vec4 a = sub < 2u ? nib_lo(q.x) : nib_hi(q.x);
  vec4 b = sub < 2u ? nib_lo(q.y) : nib_hi(q.y);
  lo = (a + 16.0 * bits4(qh, j0)) * d + m;
  hi = (b + 16.0 * bits4(qh, j0 + 4u)) * d + m;
}
#elif defined(WTYPE_Q4_K) || defined(WTYPE_Q5_K)
#define QK 256u
// 6-bit scale and min of sub-block j from the 12 scale bytes at so (get_scale_min_k4).
void scale_min_k4(uint so, uint j, out float sc, out float mn) {
  if (j < 4u) {
    sc = float(LD_U8(b0, so + j) & 63u);
    mn = float(LD_U8(b0, so + j + 4u) & 63u);
  } else {
    uint a = LD_U8(b0, so + j + 4u);
    sc = float((a & 0x0fu) | ((LD_U8(b0, so + j - 4u) >> 6) << 4));
    mn = float((a >> 4) | ((LD_U8(b0, so + j) >> 6) << 4));
  }
}
void dq8(uint rb, uint g, uint K, out vec4 lo, out vec4 hi) {
#if defined(WTYPE_Q4_K)
  uint bo = rb + 144u * (g >> 5);
  uint qs = bo + 16u;
#else
  uint bo = rb + 176u * (g >> 5);
  uint qs = bo + 48u;
#endif
  uint e0 = 8u * (g & 31u);  // element in the block
  uint c = e0 >> 6;          // 64-element chunk
  uint l0 = e0 & 63u;
  float d = half_to_f(LD_U16(b0, bo));
  float dmin = half_to_f(LD_U16(b0, bo + 2u));
  float sc, mn;
  scale_min_k4(bo + 4u, e0 >> 5, sc, mn);
  uvec2 q = ld8(qs + 32u * c + (l0 & 31u));
  vec4 a = l0 < 32u ? nib_lo(q.x) : nib_hi(q.x);
  vec4 b = l0 < 32u ? nib_lo(q.y) : nib_hi(q.y);
#if defined(WTYPE_Q5_K)
  uvec2 h = ld8(bo + 16u + (l0 & 31u));
  uint bit = 2u * c + (l0 < 32u ? 0u : 1u);
  a += 16.0 * vec4(uvec4(h.x >> bit, h.x >> (bit + 8u), h.x >> (bit + 16u), h.x >> (bit + 24u)) & 1u);
  b += 16.0 * vec4(uvec4(h.y >> bit, h.y >> (bit + 8u), h.y >> (bit + 16u), h.y >> (bit + 24u)) & 1u);
#endif
  float dl = d * sc;
  float ml = dmin * mn;
  lo = a * dl - ml;
  hi = b * dl - ml;
}
#elif defined(WTYPE_Q6_K)
#define QK 256u
void dq8(uint rb, uint g, uint K, out vec4 lo, out vec4 hi) {
  uint bo = rb + 210u * (g >> 5);
  uint e0 = 8u * (g & 31u);
  uint h = e0 >> 7;         // 128-element half
  uint qq = (e0 >> 5) & 3u; // quarter of the half
  uint l0 = e0 & 31u;
  float d = half_to_f(LD_U16(b0, bo + 208u));
  uint scb = LD_U8(b0, bo + 192u + (e0 >> 4));
  float dl = d * float(int(scb << 24) >> 24);
  uvec2 ql = ld8(bo + 64u * h + 32u * (qq & 1u) + l0);
  uvec2 qh = ld8(bo + 128u + 32u * h + l0);
  uint sh = 2u * qq;
  vec4 la = qq < 2u ? nib_lo(ql.x) : nib_hi(ql.x);
  vec4 lb = qq < 2u ? nib_lo(ql.y) : nib_hi(ql.y);
  vec4 ha = vec4(uvec4(qh.x >> sh, qh.x >> (sh + 8u), qh.x >> (sh + 16u), qh.x >> (sh + 24u)) & 3u);
  vec4 hb = vec4(uvec4(qh.y >> sh, qh.y >> (sh + 8u), qh.y >> (sh + 16u), qh.y >> (sh + 24u)) & 3u);
  lo = (la + 16.0 * ha - 32.0) * dl;
  hi = (lb + 16.0 * hb - 32.0) * dl;
}
#else
#error "WTYPE_* not defined"
#endif
