// Bit-exact layout checks: hand-built blocks with known bytes decode to known values, and
// known inputs encode to the bytes ggml's reference rounding gives.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "dari/tensor/blocks.h"
#include "dari/tensor/dtype.h"

namespace dari {
namespace {

constexpr uint16_t kHalfOne = 0x3C00;   // 1.0
constexpr uint16_t kHalfHalf = 0x3800;  // 0.5
constexpr uint16_t kHalfTwo = 0x4000;   // 2.0
constexpr uint16_t kHalfMinusOne = 0xBC00;

template <class Block>
std::vector<float> decode(GgmlType t, const Block& b) {
  std::vector<uint8_t> bytes(sizeof(Block));
  std::memcpy(bytes.data(), &b, sizeof(Block));
  std::vector<float> out(type_traits(t)->block_elems);
  EXPECT_TRUE(dequantize_row(t, bytes.data(), out.data(), static_cast<int64_t>(out.size())).ok());
  return out;
}

TEST(Layout, Q4_0LowNibblesFirstHalf) {
  BlockQ4_0 b{};
  b.d = kHalfOne;
  for (int j = 0; j < 16; ++j) b.qs[j] = static_cast<uint8_t>(j | ((15 - j) << 4));
  const auto y = decode(GgmlType::Q4_0, b);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(y[j], static_cast<float>(j - 8)) << j;
    EXPECT_EQ(y[j + 16], static_cast<float>(7 - j)) << j;
  }
}

TEST(Layout, Q4_1) {
  BlockQ4_1 b{};
  b.d = kHalfHalf;
  b.m = kHalfMinusOne;
  b.qs[0] = 0xF3;  // element 0 = 3, element 16 = 15
  const auto y = decode(GgmlType::Q4_1, b);
  EXPECT_EQ(y[0], 0.5f);
  EXPECT_EQ(y[16], 6.5f);
  EXPECT_EQ(y[1], -1.0f);
}

TEST(Layout, Q5_0HighBitsFromQh) {
  BlockQ5_0 b{};
  b.d = kHalfOne;
  b.qs[2] = 0x5A;          // element 2 low = 10, element 18 low = 5
  const uint32_t qh = (1u << 2) | (1u << 31);  // element 2 and element 31 get +16
  std::memcpy(b.qh, &qh, 4);                 // little-endian
  const auto y = decode(GgmlType::Q5_0, b);
  EXPECT_EQ(y[2], 10.0f);   // (10 | 16) - 16
  EXPECT_EQ(y[18], -11.0f); // 5 - 16
  EXPECT_EQ(y[31], 0.0f);   // (0 | 16) - 16
  EXPECT_EQ(y[0], -16.0f);
}

TEST(Layout, Q5_1) {
  BlockQ5_1 b{};
  b.d = kHalfTwo;
  b.m = kHalfOne;
  b.qs[15] = 0x21;  // element 15 low 1, element 31 low 2
  b.qh[3] = 0x80;   // bit 31 -> element 31 += 16
  const auto y = decode(GgmlType::Q5_1, b);
  EXPECT_EQ(y[15], 3.0f);
  EXPECT_EQ(y[31], 37.0f);  // 18 * 2 + 1
}

TEST(Layout, Q8_0AndQ8_1) {
  BlockQ8_0 b{};
  b.d = kHalfTwo;
  for (int j = 0; j < 32; ++j) b.qs[j] = static_cast<int8_t>(j - 16);
  const auto y = decode(GgmlType::Q8_0, b);
  for (int j = 0; j < 32; ++j) EXPECT_EQ(y[j], 2.0f * static_cast<float>(j - 16));
  BlockQ8_1 c{};
  c.d = kHalfHalf;
  c.s = 0x7BFF;  // s does not affect dequantisation
  c.qs[5] = -128;
  EXPECT_EQ(decode(GgmlType::Q8_1, c)[5], -64.0f);
}

TEST(Layout, Q2_K) {
  BlockQ2_K b{};
  b.d = kHalfOne;
  b.dmin = kHalfOne;
  b.scales[8] = 0x23;   // sub-block 8: scale 3, min 2
  b.scales[10] = 0x15;  // sub-block 10: scale 5, min 1
  b.qs[33] = 0x1B;      // bits 0-1 = 3, 2-3 = 2, 4-5 = 1, 6-7 = 0
  const auto y = decode(GgmlType::Q2_K, b);
  EXPECT_EQ(y[129], 7.0f);   // 128 + 0*32 + 1 -> sub-block 8: 3*3 - 2
  EXPECT_EQ(y[161], 9.0f);   // 128 + 1*32 + 1 -> sub-block 10: 5*2 - 1
  EXPECT_EQ(y[193], 0.0f);   // sub-block 12: scale 0, min 0
  EXPECT_EQ(y[128], -2.0f);  // q = 0 in sub-block 8
  EXPECT_EQ(y[160], -1.0f);
  EXPECT_EQ(y[0], 0.0f);
}

TEST(Layout, Q3_K) {
  BlockQ3_K b{};
  b.d = kHalfOne;
  // All scales stored as 32 (= 0) except scale 5 = 39 (+7) and scale 13 = 19 (-13).
  b.scales[5] = 0x37;  // low nibble: scale 5 low bits (7); high nibble: scale 13 low bits (3)
  b.scales[8] = 0xAA;
  b.scales[9] = 0x6A;  // scale 13's high bits (1) at bits 6-7; others 2
  b.scales[10] = 0xAA;
  b.scales[11] = 0xAA;
  b.qs[16] = 0x30;     // element 80 (64 + 16): low bits 3
  b.hmask[16] = 0x04 | 0x40;  // element 80 (bit 2) and element 208 (bit 6) have the high bit
  b.qs[17] = 0x10;     // element 81: low bits 1, no high bit -> 1 - 4
  b.qs[48] = 0x20;     // element 208 (128 + 64 + 16): low bits 2
  const auto y = decode(GgmlType::Q3_K, b);
  EXPECT_EQ(y[80], 21.0f);    // 7 * 3
  EXPECT_EQ(y[81], -21.0f);   // 7 * -3
  EXPECT_EQ(y[208], -26.0f);  // -13 * 2
  EXPECT_EQ(y[82], -28.0f);   // 7 * (0 - 4)
  EXPECT_EQ(y[0], 0.0f);      // scale 0
}

// Scales for Q4_K / Q5_K: sub-block 1 = (10, 4), sub-block 6 = (53, 34), others 0.
void set_k4_scales(uint8_t* s) {
  s[1] = 10;
  s[5] = 4;
  s[2] = 0xC0;   // high 2 bits of scale 6 (53 >> 4 = 3)
  s[6] = 0x80;   // high 2 bits of min 6 (34 >> 4 = 2)
  s[10] = 0x25;  // low nibbles: scale 6 (5), min 6 (2)
}

TEST(Layout, Q4_K) {
  BlockQ4_K b{};
  b.d = kHalfOne;
  b.dmin = kHalfHalf;
  set_k4_scales(b.scales);
  b.qs[1] = 0x70;    // element 33 (sub-block 1) = 7; element 1 = 0
  b.qs[104] = 0x09;  // element 200 (chunk 3 low nibble, sub-block 6) = 9
  const auto y = decode(GgmlType::Q4_K, b);
  EXPECT_EQ(y[33], 68.0f);   // 10 * 7 - 0.5 * 4
  EXPECT_EQ(y[32], -2.0f);
  EXPECT_EQ(y[200], 460.0f);  // 53 * 9 - 0.5 * 34
  EXPECT_EQ(y[1], 0.0f);
}

TEST(Layout, Q5_K) {
  BlockQ5_K b{};
  b.d = kHalfOne;
  b.dmin = kHalfHalf;
  set_k4_scales(b.scales);
  b.qs[1] = 0x70;
  b.qs[104] = 0x09;
  b.qh[1] = 0x02;  // chunk 0 high-nibble half: element 33 += 16
  b.qh[8] = 0x40;  // chunk 3 low-nibble half: element 200 += 16
  const auto y = decode(GgmlType::Q5_K, b);
  EXPECT_EQ(y[33], 228.0f);    // 10 * 23 - 2
  EXPECT_EQ(y[200], 1308.0f);  // 53 * 25 - 17
  EXPECT_EQ(y[232], 0.0f);     // sub-block 7: scale 0, min 0
}

TEST(Layout, Q6_K) {
  BlockQ6_K b{};
  b.d = kHalfHalf;
  b.scales[3] = -2;
  b.scales[12] = 5;
  b.ql[48] = 0x0A;  // element 48 (l = 16, second quarter) low bits = 10
  b.qh[16] = 0x08;  // its bits 4-5 = 2 -> q = 42 - 32 = 10
  b.ql[64] = 0x30;  // element 192 (second half, third quarter, l = 0) low bits = 3
  const auto y = decode(GgmlType::Q6_K, b);
  EXPECT_EQ(y[48], -10.0f);  // 0.5 * -2 * 10
  EXPECT_EQ(y[192], -72.5f); // 0.5 * 5 * (3 - 32)
  EXPECT_EQ(y[0], 0.0f);
}

TEST(Layout, Q8_K) {
  BlockQ8_K b{};
  b.d = 0.25f;
  for (int j = 0; j < 256; ++j) b.qs[j] = static_cast<int8_t>(j - 128);
  const auto y = decode(GgmlType::Q8_K, b);
  for (int j = 0; j < 256; ++j) EXPECT_EQ(y[j], 0.25f * static_cast<float>(j - 128));
}

// ---- encodings with hand-derived bytes (ggml's reference rounding rules) ----

TEST(Encode, Q4_0MaxAbsOverMinusEight) {
  std::array<float, 32> x{};
  for (int j = 0; j < 32; ++j) x[j] = static_cast<float>(j - 16);  // max |x| = 16 at x = -16
  BlockQ4_0 b{};
  ASSERT_TRUE(quantize_row(GgmlType::Q4_0, x.data(), &b, 32).ok());
  EXPECT_EQ(b.d, kHalfTwo);  // d = -16 / -8 = 2
  // q = min(15, (int)(x / 2 + 8.5)) = min(15, (j + 1) / 2)
  for (int j = 0; j < 16; ++j) {
    const int lo = (j + 1) / 2;
    const int hi = std::min(15, (j + 17) / 2);
    EXPECT_EQ(b.qs[j], lo | (hi << 4)) << j;
  }
}

TEST(Encode, Q5_0HighBitsToQh) {
  std::array<float, 32> x{};
  for (int j = 0; j < 32; ++j) x[j] = static_cast<float>(j - 16);  // d = -16 / -16 = 1
  BlockQ5_0 b{};
  ASSERT_TRUE(quantize_row(GgmlType::Q5_0, x.data(), &b, 32).ok());
  EXPECT_EQ(b.d, kHalfOne);
  // q = min(31, (int)(x + 16.5)) = j: elements 16..31 have bit 4 set.
  for (int j = 0; j < 16; ++j) EXPECT_EQ(b.qs[j], j | (j << 4)) << j;
  uint32_t qh = 0;
  std::memcpy(&qh, b.qh, 4);
  EXPECT_EQ(qh, 0xFFFF0000u);
}

TEST(Encode, Q4_1MinAndRange) {
  std::array<float, 32> x{};
  for (int j = 0; j < 32; ++j) x[j] = j < 16 ? static_cast<float>(j) : 15.0f;  // d = 1, m = 0
  BlockQ4_1 b{};
  ASSERT_TRUE(quantize_row(GgmlType::Q4_1, x.data(), &b, 32).ok());
  EXPECT_EQ(b.d, kHalfOne);
  EXPECT_EQ(b.m, 0);
  for (int j = 0; j < 16; ++j) EXPECT_EQ(b.qs[j], j | 0xF0) << j;
}

TEST(Encode, Q8_0RoundsHalfAwayFromZero) {
  std::array<float, 32> x{};
  x[0] = 127.0f;  // d = 1
  x[1] = 2.5f;
  x[2] = -2.5f;
  x[3] = 0.49f;
  BlockQ8_0 b{};
  ASSERT_TRUE(quantize_row(GgmlType::Q8_0, x.data(), &b, 32).ok());
  EXPECT_EQ(b.d, kHalfOne);
  EXPECT_EQ(b.qs[0], 127);
  EXPECT_EQ(b.qs[1], 3);
  EXPECT_EQ(b.qs[2], -3);
  EXPECT_EQ(b.qs[3], 0);
}

TEST(Encode, Q8_1StoresScaledSum) {
  std::array<float, 32> x{};
  x[0] = 127.0f;
  x[1] = -27.0f;
  BlockQ8_1 b{};
  ASSERT_TRUE(quantize_row(GgmlType::Q8_1, x.data(), &b, 32).ok());
  EXPECT_EQ(b.d, kHalfOne);
  EXPECT_EQ(fp16_to_fp32(b.s), 100.0f);
}

TEST(Encode, Q8_KBsumsAndScale) {
  std::vector<float> x(256);
  for (int j = 0; j < 256; ++j) x[j] = static_cast<float>((j % 7) - 3);
  x[100] = -12.7f;  // signed max-abs: d = -12.7 / -127 = 0.1, q[100] = -127
  BlockQ8_K b{};
  ASSERT_TRUE(quantize_row(GgmlType::Q8_K, x.data(), &b, 256).ok());
  EXPECT_FLOAT_EQ(b.d, 0.1f);
  EXPECT_EQ(b.qs[100], -127);
  EXPECT_EQ(b.qs[3], 0);
  EXPECT_EQ(b.qs[6], 30);
  for (int s = 0; s < 16; ++s) {
    int sum = 0;
    for (int l = 0; l < 16; ++l) sum += b.qs[16 * s + l];
    EXPECT_EQ(b.bsums[s], sum) << s;
  }
}

// Data that lies exactly on a type's grid (every sub-block spans the full level range, all
// sub-blocks share one step of 0.25) round-trips to within the fp16 rounding of the
// super-block scale: |error| <= levels * 0.25 * 2^-11 plus the same for the min.
struct GridCase {
  GgmlType type;
  int levels;      // number of quantisation levels
  int sub;         // sub-block length
  bool symmetric;  // levels centred on zero (Q3_K, Q6_K) or offset by a min
};

TEST(Encode, KQuantsExactOnGrid) {
  for (const GridCase& c : {GridCase{GgmlType::Q3_K, 8, 16, true}, GridCase{GgmlType::Q4_K, 16, 32, false},
                            GridCase{GgmlType::Q5_K, 32, 32, false}, GridCase{GgmlType::Q6_K, 64, 16, true},
                            GridCase{GgmlType::Q2_K, 4, 16, false}}) {
    std::vector<float> x(256);
    for (int j = 0; j < 256; ++j) {
      int level = (j * 5) % c.levels;
      if (j % c.sub == 0) level = 0;                            // lowest level in every sub-block
      if (!c.symmetric && j % c.sub == 1) level = c.levels - 1;  // and the highest
      x[j] = c.symmetric ? 0.25f * static_cast<float>(level - c.levels / 2)
                         : 0.25f * static_cast<float>(level) - 1.0f;
    }
    std::vector<uint8_t> q(type_traits(c.type)->block_bytes);
    ASSERT_TRUE(quantize_row(c.type, x.data(), q.data(), 256).ok());
    std::vector<float> y(256);
    ASSERT_TRUE(dequantize_row(c.type, q.data(), y.data(), 256).ok());
    const double tol = (c.levels * 0.25 + 1.0) * std::ldexp(1.0, -11) + 1e-6;
    for (int j = 0; j < 256; ++j) {
      ASSERT_NEAR(y[j], x[j], tol) << ggml_type_name(c.type) << " element " << j;
    }
  }
}

}  // namespace
}  // namespace dari
