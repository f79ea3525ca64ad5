// Byte layouts of the quantised block types, exactly as ggml and GGUF store them.
//
// These structs are the documented layout (field order, sizes, no padding); static_asserts pin
// every size and offset. Reference code in src/tensor reads fields through memcpy at these
// offsets, so callers may pass blocks at any byte address. Optimised kernels may cast aligned
// pointers to these structs directly.
//
// All multi-byte fields are little-endian. "half" fields are IEEE binary16 bit patterns
// (see fp16_to_fp32 in dtype.h). Element order inside each block is documented per type.
#pragma once

#include <cstddef>
#include <cstdint>

namespace dari {

inline constexpr int kQK4_0 = 32;
inline constexpr int kQK4_1 = 32;
inline constexpr int kQK5_0 = 32;
inline constexpr int kQK5_1 = 32;
inline constexpr int kQK8_0 = 32;
inline constexpr int kQK8_1 = 32;
// Elements per k-quant super-block.
inline constexpr int kQK_K = 256;
// Bytes of the packed 6-bit scales/mins of Q3_K, Q4_K and Q5_K.
inline constexpr int kKScaleSize = 12;

// Q4_0: x[j] = (q[j] - 8) * d. qs[j] low nibble holds element j, high nibble element j + 16.
struct BlockQ4_0 {
  uint16_t d;  // half
  uint8_t qs[kQK4_0 / 2];
};
// Q4_1: x[j] = q[j] * d + m. Nibble order as Q4_0.
struct BlockQ4_1 {
  uint16_t d;  // half
  uint16_t m;  // half
  uint8_t qs[kQK4_1 / 2];
};
// Q5_0: x[j] = (q[j] - 16) * d, q = low nibble (as Q4_0) | bit j of qh (little-endian u32) << 4.
struct BlockQ5_0 {
  uint16_t d;  // half
  uint8_t qh[4];
  uint8_t qs[kQK5_0 / 2];
};
// Q5_1: x[j] = q[j] * d + m, q as Q5_0.
struct BlockQ5_1 {
  uint16_t d;  // half
  uint16_t m;  // half
  uint8_t qh[4];
  uint8_t qs[kQK5_1 / 2];
};
// Q8_0: x[j] = qs[j] * d.
struct BlockQ8_0 {
  uint16_t d;  // half
  int8_t qs[kQK8_0];
};
// Q8_1: x[j] = qs[j] * d; s = d * sum(qs) (used by the Q4_1/Q5_1 dot products).
struct BlockQ8_1 {
  uint16_t d;  // half
  uint16_t s;  // half
  int8_t qs[kQK8_1];
};

// Q2_K: 16 sub-blocks of 16. scales[i]: low nibble = scale, high nibble = min of sub-block i.
// qs: two 128-element halves of 32 bytes; in half h, bits 2k..2k+1 of qs[32h + l] hold element
// 128h + 32k + l. x = d * scale * q - dmin * min.
struct BlockQ2_K {
  uint8_t scales[kQK_K / 16];
  uint8_t qs[kQK_K / 4];
  uint16_t d;     // half
  uint16_t dmin;  // half
};
// Q3_K: 16 sub-blocks of 16 with signed 6-bit scales (stored + 32). Low 2 bits of q as Q2_K;
// bit (j / 32) of hmask[j % 32] is the high bit; x = d * (scale - 32) * (q - 4).
// Scale i: low 4 bits in scales[i % 8] (low nibble for i < 8, high nibble otherwise), high 2 bits
// in scales[8 + i % 4] at bit 2 * (i / 4).
struct BlockQ3_K {
  uint8_t hmask[kQK_K / 8];
  uint8_t qs[kQK_K / 4];
  uint8_t scales[kKScaleSize];
  uint16_t d;  // half
};
// Q4_K: 8 sub-blocks of 32 with 6-bit scale and min (packing: see get_scale_min_k4 in
// src/tensor). qs: four 64-element chunks of 32 bytes; low nibbles = first 32 elements of the
// chunk, high nibbles = last 32. x = d * scale * q - dmin * min.
struct BlockQ4_K {
  uint16_t d;     // half
  uint16_t dmin;  // half
  uint8_t scales[kKScaleSize];
  uint8_t qs[kQK_K / 2];
};
// Q5_K: as Q4_K plus a fifth bit: bit 2c of qh[l] for element 64c + l, bit 2c+1 for 64c + 32 + l.
struct BlockQ5_K {
  uint16_t d;     // half
  uint16_t dmin;  // half
  uint8_t scales[kKScaleSize];
  uint8_t qh[kQK_K / 8];
  uint8_t qs[kQK_K / 2];
};
// Q6_K: 16 sub-blocks of 16 with int8 scales; x = d * scale * (q - 32), q 6 bits. Per 128-element
// half h (ql += 64h, qh += 32h), for l < 32: element l = ql[l] low | qh[l] bits 0-1,
// l+32 = ql[l+32] low | bits 2-3, l+64 = ql[l] high | bits 4-5, l+96 = ql[l+32] high | bits 6-7.
struct BlockQ6_K {
  uint8_t ql[kQK_K / 2];
  uint8_t qh[kQK_K / 4];
  int8_t scales[kQK_K / 16];
  uint16_t d;  // half
};
// Q8_K: activation type of the k-quant dot products. x = d * qs; bsums[i] = sum of qs[16i..16i+15].
struct BlockQ8_K {
  float d;
  int8_t qs[kQK_K];
  int16_t bsums[kQK_K / 16];
};

static_assert(sizeof(BlockQ4_0) == 18 && offsetof(BlockQ4_0, qs) == 2);
static_assert(sizeof(BlockQ4_1) == 20 && offsetof(BlockQ4_1, qs) == 4);
static_assert(sizeof(BlockQ5_0) == 22 && offsetof(BlockQ5_0, qh) == 2 && offsetof(BlockQ5_0, qs) == 6);
static_assert(sizeof(BlockQ5_1) == 24 && offsetof(BlockQ5_1, qh) == 4 && offsetof(BlockQ5_1, qs) == 8);
static_assert(sizeof(BlockQ8_0) == 34 && offsetof(BlockQ8_0, qs) == 2);
static_assert(sizeof(BlockQ8_1) == 36 && offsetof(BlockQ8_1, qs) == 4);
static_assert(sizeof(BlockQ2_K) == 84 && offsetof(BlockQ2_K, d) == 80);
static_assert(sizeof(BlockQ3_K) == 110 && offsetof(BlockQ3_K, scales) == 96 &&
              offsetof(BlockQ3_K, d) == 108);
static_assert(sizeof(BlockQ4_K) == 144 && offsetof(BlockQ4_K, qs) == 16);
static_assert(sizeof(BlockQ5_K) == 176 && offsetof(BlockQ5_K, qh) == 16 &&
              offsetof(BlockQ5_K, qs) == 48);
static_assert(sizeof(BlockQ6_K) == 210 && offsetof(BlockQ6_K, qh) == 128 &&
              offsetof(BlockQ6_K, scales) == 192 && offsetof(BlockQ6_K, d) == 208);
static_assert(sizeof(BlockQ8_K) == 292 && offsetof(BlockQ8_K, bsums) == 260);

}  // namespace dari
