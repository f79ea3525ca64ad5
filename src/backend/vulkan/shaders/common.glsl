// Shared declarations for every dari Vulkan compute shader.
// All tensors are bound as arrays of uint (4-byte words) and addressed in bytes, so any type
// (quant blocks of 18 bytes, halves at odd word positions) is read without 8/16-bit storage
// features. Offsets are uint byte offsets relative to the bound range; they may wrap modulo
// 2^32 in intermediate arithmetic (the host passes biases that cancel the wrap).
// Bindings: 0..3 tensors (meaning per shader), 4 = op parameter words (ints written by the
// host for this compute() call).
#extension GL_EXT_control_flow_attributes : enable

// Shaders that only read bindings 0 and 1 define INPUTS_READONLY before including this file.
#if defined(INPUTS_READONLY)
#define IN_QUAL readonly restrict
#else
#define IN_QUAL
#endif
layout(std430, set = 0, binding = 0) IN_QUAL buffer Buf0 { uint b0[]; };
layout(std430, set = 0, binding = 1) IN_QUAL buffer Buf1 { uint b1[]; };
layout(std430, set = 0, binding = 2) buffer Buf2 { uint b2[]; };
layout(std430, set = 0, binding = 3) buffer Buf3 { uint b3[]; };
layout(std430, set = 0, binding = 4) readonly buffer Prm { int prm[]; };

// Type ids (GGUF numbering) used by runtime type switches.
#define T_F32 0u
#define T_F16 1u
#define T_BF16 30u

// Byte loads from a uint buffer at any byte offset.
#define LD_U8(buf, off) ((buf[(off) >> 2] >> (((off) & 3u) << 3)) & 0xffu)
#define LD_U16(buf, off) ((buf[(off) >> 2] >> (((off) & 2u) << 3)) & 0xffffu)
#define LD_F32(buf, off) uintBitsToFloat(buf[(off) >> 2])
// 4 bytes starting at any byte offset (little-endian word).
#define LD_U32U(buf, off) \
  ((((off) & 3u) == 0u) ? buf[(off) >> 2] \
                        : ((buf[(off) >> 2] >> (((off) & 3u) << 3)) | \
                           (buf[((off) >> 2) + 1u] << (32u - (((off) & 3u) << 3)))))

float half_to_f(uint h) { return unpackHalf2x16(h).x; }
float bf16_to_f(uint h) { return uintBitsToFloat(h << 16); }

// fp32 -> fp16 bits, round to nearest even, exactly like dari's CPU float_to_half.
uint f_to_half(float f) {
  uint x = floatBitsToUint(f);
  uint sign = (x >> 16) & 0x8000u;
  uint ax = x & 0x7fffffffu;
  if (ax > 0x7f800000u) return sign | 0x7e00u | ((ax >> 13) & 0x3ffu);
  if (ax >= 0x477ff000u) return sign | 0x7c00u;
  uint v;
  uint sh;
  if (ax >= 0x38800000u) {
    v = ax - 0x38000000u;
    sh = 13u;
  } else {
    uint e = ax >> 23;
    if (e < 102u) return sign;
    v = (ax & 0x7fffffu) | 0x800000u;
    sh = 126u - e;
  }
  uint r = v >> sh;
  uint rem = v & ((1u << sh) - 1u);
  uint halfw = 1u << (sh - 1u);
  if (rem > halfw || (rem == halfw && (r & 1u) != 0u)) r += 1u;
  return sign | r;
}

// fp32 -> bf16 bits, round to nearest even (quiet NaN), like the CPU float_to_bf16.
uint f_to_bf16(float f) {
  uint x = floatBitsToUint(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return (x >> 16) | 0x40u;
  return (x + 0x7fffu + ((x >> 16) & 1u)) >> 16;
}

// Flattened row r of a view with dims ne1, ne2 and byte strides nb1..nb3 (mod 2^32), plus bias.
// ne1 == 0 marks evenly strided rows (offset r * nb1): no integer division, which software
// devices run one lane at a time.
uint row_off(uint r, uint ne1, uint ne2, uint bias, uint nb1, uint nb2, uint nb3) {
  if (ne1 == 0u) return bias + r * nb1;
  uint i1 = r % ne1;
  uint t = r / ne1;
  uint i2 = t % ne2;
  uint i3 = t / ne2;
  return bias + i1 * nb1 + i2 * nb2 + i3 * nb3;
}

// Workgroup index over a 2D dispatch grid (x up to 65535 wide).
uint flat_group() { return gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x; }
