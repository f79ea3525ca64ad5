// Reference kernels for the float types (F32, F16, BF16) and the 32-element block types
// (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1). Quantisers follow ggml's reference rounding rules so
// that encodings match llama.cpp's bit for bit.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "dari/tensor/blocks.h"
#include "tensor/numerics.h"

namespace dari::tensor_detail {
namespace {

const uint8_t* bytes(const void* p) { return static_cast<const uint8_t*>(p); }
uint8_t* bytes(void* p) { return static_cast<uint8_t*>(p); }

// Largest |x| and the signed value that has it (first one on ties), over n floats.
void signed_absmax(const float* x, int n, float* amax, float* vmax) {
  *amax = 0.0f;
  *vmax = 0.0f;
  for (int j = 0; j < n; ++j) {
    const float a = std::fabs(x[j]);
    if (a > *amax) {
      *amax = a;
      *vmax = x[j];
    }
  }
}

void min_max(const float* x, int n, float* lo, float* hi) {
  *lo = x[0];
  *hi = x[0];
  for (int j = 1; j < n; ++j) {
    *lo = x[j] < *lo ? x[j] : *lo;
    *hi = x[j] > *hi ? x[j] : *hi;
  }
}

// Packs 32 values in [0, 31] into qs (low 4 bits, Q4 nibble order) and qh (bit 4, bit j).
void pack_q5(const int* q, uint8_t* qs, uint8_t* qh_bytes) {
  uint32_t qh = 0;
  for (int j = 0; j < 16; ++j) {
    qs[j] = static_cast<uint8_t>((q[j] & 0x0f) | ((q[j + 16] & 0x0f) << 4));
    qh |= static_cast<uint32_t>((q[j] >> 4) & 1) << j;
    qh |= static_cast<uint32_t>((q[j + 16] >> 4) & 1) << (j + 16);
  }
  store_u32(qh_bytes, qh);
}

// Unpacks 32 5-bit values (see pack_q5).
void unpack_q5(const uint8_t* qs, const uint8_t* qh_bytes, int* q) {
  const uint32_t qh = load_u32(qh_bytes);
  for (int j = 0; j < 16; ++j) {
    q[j] = (qs[j] & 0x0f) | static_cast<int>(((qh >> j) & 1u) << 4);
    q[j + 16] = (qs[j] >> 4) | static_cast<int>(((qh >> (j + 16)) & 1u) << 4);
  }
}

}  // namespace

// ---- F32 / F16 / BF16 ----

void f32_to_float(const void* src, float* dst, int64_t n) {
  std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
}
void f32_from_float(const float* src, void* dst, int64_t n) {
  std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
}
const float* half_table() {
  static const std::vector<float> table = [] {
    std::vector<float> t(65536);
    for (uint32_t h = 0; h < 65536; ++h) t[h] = half_to_float(static_cast<uint16_t>(h));
    return t;
  }();
  return table.data();
}

void f16_to_float(const void* src, float* dst, int64_t n) {
  const uint8_t* s = bytes(src);
  const float* table = half_table();
  for (int64_t i = 0; i < n; ++i) dst[i] = table[load_u16(s + 2 * i)];
}
void f16_from_float(const float* src, void* dst, int64_t n) {
  uint8_t* d = bytes(dst);
  for (int64_t i = 0; i < n; ++i) store_u16(d + 2 * i, float_to_half(src[i]));
}
void bf16_to_float(const void* src, float* dst, int64_t n) {
  const uint8_t* s = bytes(src);
  for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_float(load_u16(s + 2 * i));
}
void bf16_from_float(const float* src, void* dst, int64_t n) {
  uint8_t* d = bytes(dst);
  for (int64_t i = 0; i < n; ++i) store_u16(d + 2 * i, float_to_bf16(src[i]));
}

// Float dots accumulate in double, like ggml's scalar path.
void vec_dot_f32_f32(int64_t n, const void* x, const void* y, float* out) {
  const uint8_t* a = bytes(x);
  const uint8_t* b = bytes(y);
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    sum += static_cast<double>(load_f32(a + 4 * i)) * static_cast<double>(load_f32(b + 4 * i));
  }
  *out = static_cast<float>(sum);
}
void vec_dot_f16_f16(int64_t n, const void* x, const void* y, float* out) {
  const uint8_t* a = bytes(x);
  const uint8_t* b = bytes(y);
  const float* table = half_table();
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    sum += static_cast<double>(table[load_u16(a + 2 * i)] * table[load_u16(b + 2 * i)]);  // exact
  }
  *out = static_cast<float>(sum);
}
void vec_dot_bf16_bf16(int64_t n, const void* x, const void* y, float* out) {
  const uint8_t* a = bytes(x);
  const uint8_t* b = bytes(y);
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    sum += static_cast<double>(bf16_to_float(load_u16(a + 2 * i)) *
                               bf16_to_float(load_u16(b + 2 * i)));  // exact in float
  }
  *out = static_cast<float>(sum);
}

// ---- Q4_0: d = max / -8, q = min(15, (int)(x / d + 8.5)) ----

void q4_0_from_float(const float* src, void* dst, int64_t n) {
  for (int64_t i = 0; i < n / kQK4_0; ++i) {
    const float* x = src + i * kQK4_0;
    uint8_t* b = bytes(dst) + i * static_cast<int64_t>(sizeof(BlockQ4_0));
    float amax = 0.0f;
    float vmax = 0.0f;
    signed_absmax(x, kQK4_0, &amax, &vmax);
    const float d = vmax / -8.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    store_u16(b + offsetof(BlockQ4_0, d), float_to_half(d));
    uint8_t* qs = b + offsetof(BlockQ4_0, qs);
    for (int j = 0; j < kQK4_0 / 2; ++j) {
      const int q0 = floor_clamp(x[j] * id + 8.5f, 0, 15);
      const int q1 = floor_clamp(x[j + 16] * id + 8.5f, 0, 15);
      qs[j] = static_cast<uint8_t>(q0 | (q1 << 4));
    }
  }
}

void q4_0_to_float(const void* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n / kQK4_0; ++i) {
    const uint8_t* b = bytes(src) + i * static_cast<int64_t>(sizeof(BlockQ4_0));
    const float d = half_to_float(load_u16(b + offsetof(BlockQ4_0, d)));
    const uint8_t* qs = b + offsetof(BlockQ4_0, qs);
    float* y = dst + i * kQK4_0;
    for (int j = 0; j < kQK4_0 / 2; ++j) {
      y[j] = static_cast<float>((qs[j] & 0x0f) - 8) * d;
      y[j + 16] = static_cast<float>((qs[j] >> 4) - 8) * d;
    }
  }
}

// ---- Q4_1: d = (max - min) / 15, m = min, q = min(15, (int)((x - min) / d + 0.5)) ----

void q4_1_from_float(const float* src, void* dst, int64_t n) {
  for (int64_t i = 0; i < n / kQK4_1; ++i) {
    const float* x = src + i * kQK4_1;
    uint8_t* b = bytes(dst) + i * static_cast<int64_t>(sizeof(BlockQ4_1));
    float lo = 0.0f;
    float hi = 0.0f;
    min_max(x, kQK4_1, &lo, &hi);
    const float d = (hi - lo) / 15.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    store_u16(b + offsetof(BlockQ4_1, d), float_to_half(d));
    store_u16(b + offsetof(BlockQ4_1, m), float_to_half(lo));
    uint8_t* qs = b + offsetof(BlockQ4_1, qs);
    for (int j = 0; j < kQK4_1 / 2; ++j) {
      const int q0 = floor_clamp((x[j] - lo) * id + 0.5f, 0, 15);
      const int q1 = floor_clamp((x[j + 16] - lo) * id + 0.5f, 0, 15);
      qs[j] = static_cast<uint8_t>(q0 | (q1 << 4));
    }
  }
}

void q4_1_to_float(const void* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n / kQK4_1; ++i) {
    const uint8_t* b = bytes(src) + i * static_cast<int64_t>(sizeof(BlockQ4_1));
    const float d = half_to_float(load_u16(b + offsetof(BlockQ4_1, d)));
    const float m = half_to_float(load_u16(b + offsetof(BlockQ4_1, m)));
    const uint8_t* qs = b + offsetof(BlockQ4_1, qs);
    float* y = dst + i * kQK4_1;
    for (int j = 0; j < kQK4_1 / 2; ++j) {
      y[j] = static_cast<float>(qs[j] & 0x0f) * d + m;
      y[j + 16] = static_cast<float>(qs[j] >> 4) * d + m;
    }
  }
}

// ---- Q5_0: d = max / -16, q = min(31, (int)(x / d + 16.5)) ----

void q5_0_from_float(const float* src, void* dst, int64_t n) {
  for (int64_t i = 0; i < n / kQK5_0; ++i) {
    const float* x = src + i * kQK5_0;
    uint8_t* b = bytes(dst) + i * static_cast<int64_t>(sizeof(BlockQ5_0));
    float amax = 0.0f;
    float vmax = 0.0f;
    signed_absmax(x, kQK5_0, &amax, &vmax);
    const float d = vmax / -16.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    store_u16(b + offsetof(BlockQ5_0, d), float_to_half(d));
    int q[kQK5_0];
    for (int j = 0; j < kQK5_0; ++j) q[j] = floor_clamp(x[j] * id + 16.5f, 0, 31);
    pack_q5(q, b + offsetof(BlockQ5_0, qs), b + offsetof(BlockQ5_0, qh));
  }
}

void q5_0_to_float(const void* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n / kQK5_0; ++i) {
    const uint8_t* b = bytes(src) + i * static_cast<int64_t>(sizeof(BlockQ5_0));
    const float d = half_to_float(load_u16(b + offsetof(BlockQ5_0, d)));
    int q[kQK5_0];
    unpack_q5(b + offsetof(BlockQ5_0, qs), b + offsetof(BlockQ5_0, qh), q);
    float* y = dst + i * kQK5_0;
    for (int j = 0; j < kQK5_0; ++j) y[j] = static_cast<float>(q[j] - 16) * d;
  }
}

// ---- Q5_1: d = (max - min) / 31, m = min, q = min(31, (int)((x - min) / d + 0.5)) ----

void q5_1_from_float(const float* src, void* dst, int64_t n) {
  for (int64_t i = 0; i < n / kQK5_1; ++i) {
    const float* x = src + i * kQK5_1;
    uint8_t* b = bytes(dst) + i * static_cast<int64_t>(sizeof(BlockQ5_1));
    float lo = 0.0f;
    float hi = 0.0f;
    min_max(x, kQK5_1, &lo, &hi);
    const float d = (hi - lo) / 31.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    store_u16(b + offsetof(BlockQ5_1, d), float_to_half(d));
    store_u16(b + offsetof(BlockQ5_1, m), float_to_half(lo));
    int q[kQK5_1];
    for (int j = 0; j < kQK5_1; ++j) q[j] = floor_clamp((x[j] - lo) * id + 0.5f, 0, 31);
    pack_q5(q, b + offsetof(BlockQ5_1, qs), b + offsetof(BlockQ5_1, qh));
  }
}

void q5_1_to_float(const void* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n / kQK5_1; ++i) {
    const uint8_t* b = bytes(src) + i * static_cast<int64_t>(sizeof(BlockQ5_1));
    const float d = half_to_float(load_u16(b + offsetof(BlockQ5_1, d)));
    const float m = half_to_float(load_u16(b + offsetof(BlockQ5_1, m)));
    int q[kQK5_1];
    unpack_q5(b + offsetof(BlockQ5_1, qs), b + offsetof(BlockQ5_1, qh), q);
    float* y = dst + i * kQK5_1;
    for (int j = 0; j < kQK5_1; ++j) y[j] = static_cast<float>(q[j]) * d + m;
  }
}

// ---- Q8_0 / Q8_1: d = amax / 127, q = roundf(x / d); Q8_1 also stores s = d * sum(q) ----

namespace {
// Quantises 32 floats to int8 with d = amax / 127; returns d (before half rounding).
float quantize_q8_block(const float* x, int8_t* q) {
  float amax = 0.0f;
  for (int j = 0; j < 32; ++j) amax = std::fabs(x[j]) > amax ? std::fabs(x[j]) : amax;
  const float d = amax / 127.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  for (int j = 0; j < 32; ++j) q[j] = static_cast<int8_t>(round_away_clamp(x[j] * id, -127, 127));
  return d;
}
}  // namespace

void q8_0_from_float(const float* src, void* dst, int64_t n) {
  for (int64_t i = 0; i < n / kQK8_0; ++i) {
    uint8_t* b = bytes(dst) + i * static_cast<int64_t>(sizeof(BlockQ8_0));
    int8_t q[kQK8_0];
    const float d = quantize_q8_block(src + i * kQK8_0, q);
    store_u16(b + offsetof(BlockQ8_0, d), float_to_half(d));
    std::memcpy(b + offsetof(BlockQ8_0, qs), q, sizeof q);
  }
}

void q8_0_to_float(const void* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n / kQK8_0; ++i) {
    const uint8_t* b = bytes(src) + i * static_cast<int64_t>(sizeof(BlockQ8_0));
    const float d = half_to_float(load_u16(b + offsetof(BlockQ8_0, d)));
    const auto* qs = reinterpret_cast<const int8_t*>(b + offsetof(BlockQ8_0, qs));
    float* y = dst + i * kQK8_0;
    for (int j = 0; j < kQK8_0; ++j) y[j] = static_cast<float>(qs[j]) * d;
  }
}

void q8_1_from_float(const float* src, void* dst, int64_t n) {
  for (int64_t i = 0; i < n / kQK8_1; ++i) {
    uint8_t* b = bytes(dst) + i * static_cast<int64_t>(sizeof(BlockQ8_1));
    int8_t q[kQK8_1];
    const float d = quantize_q8_block(src + i * kQK8_1, q);
    int sum = 0;
    for (int8_t v : q) sum += v;
    store_u16(b + offsetof(BlockQ8_1, d), float_to_half(d));
    store_u16(b + offsetof(BlockQ8_1, s), float_to_half(static_cast<float>(sum) * d));
    std::memcpy(b + offsetof(BlockQ8_1, qs), q, sizeof q);
  }
}

void q8_1_to_float(const void* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n / kQK8_1; ++i) {
    const uint8_t* b = bytes(src) + i * static_cast<int64_t>(sizeof(BlockQ8_1));
    const float d = half_to_float(load_u16(b + offsetof(BlockQ8_1, d)));
    const auto* qs = reinterpret_cast<const int8_t*>(b + offsetof(BlockQ8_1, qs));
    float* y = dst + i * kQK8_1;
    for (int j = 0; j < kQK8_1; ++j) y[j] = static_cast<float>(qs[j]) * d;
  }
}

// ---- dots against Q8_0 / Q8_1: integer sum per block, one float multiply-add per block ----

void vec_dot_q4_0_q8_0(int64_t n, const void* x, const void* y, float* out) {
  float sum = 0.0f;
  for (int64_t i = 0; i < n / kQK4_0; ++i) {
    const uint8_t* bx = bytes(x) + i * static_cast<int64_t>(sizeof(BlockQ4_0));
    const uint8_t* by = bytes(y) + i * static_cast<int64_t>(sizeof(BlockQ8_0));
    const uint8_t* qx = bx + offsetof(BlockQ4_0, qs);
    const auto* qy = reinterpret_cast<const int8_t*>(by + offsetof(BlockQ8_0, qs));
    int sumi = 0;
    for (int j = 0; j < 16; ++j) {
      sumi += ((qx[j] & 0x0f) - 8) * qy[j] + ((qx[j] >> 4) - 8) * qy[j + 16];
    }
    sum += static_cast<float>(sumi) * half_to_float(load_u16(bx + offsetof(BlockQ4_0, d))) *
           half_to_float(load_u16(by + offsetof(BlockQ8_0, d)));
  }
  *out = sum;
}

void vec_dot_q4_1_q8_1(int64_t n, const void* x, const void* y, float* out) {
  float sum = 0.0f;
  for (int64_t i = 0; i < n / kQK4_1; ++i) {
    const uint8_t* bx = bytes(x) + i * static_cast<int64_t>(sizeof(BlockQ4_1));
    const uint8_t* by = bytes(y) + i * static_cast<int64_t>(sizeof(BlockQ8_1));
    const uint8_t* qx = bx + offsetof(BlockQ4_1, qs);
    const auto* qy = reinterpret_cast<const int8_t*>(by + offsetof(BlockQ8_1, qs));
    int sumi = 0;
    for (int j = 0; j < 16; ++j) sumi += (qx[j] & 0x0f) * qy[j] + (qx[j] >> 4) * qy[j + 16];
    const float dx = half_to_float(load_u16(bx + offsetof(BlockQ4_1, d)));
    const float mx = half_to_float(load_u16(bx + offsetof(BlockQ4_1, m)));
    const float dy = half_to_float(load_u16(by + offsetof(BlockQ8_1, d)));
    const float sy = half_to_float(load_u16(by + offsetof(BlockQ8_1, s)));
    sum += static_cast<float>(sumi) * dx * dy + mx * sy;
  }
  *out = sum;
}

void vec_dot_q5_0_q8_0(int64_t n, const void* x, const void* y, float* out) {
  float sum = 0.0f;
  for (int64_t i = 0; i < n / kQK5_0; ++i) {
    const uint8_t* bx = bytes(x) + i * static_cast<int64_t>(sizeof(BlockQ5_0));
    const uint8_t* by = bytes(y) + i * static_cast<int64_t>(sizeof(BlockQ8_0));
    int q[kQK5_0];
    unpack_q5(bx + offsetof(BlockQ5_0, qs), bx + offsetof(BlockQ5_0, qh), q);
    const auto* qy = reinterpret_cast<const int8_t*>(by + offsetof(BlockQ8_0, qs));
    int sumi = 0;
    for (int j = 0; j < kQK5_0; ++j) sumi += (q[j] - 16) * qy[j];
    sum += static_cast<float>(sumi) * half_to_float(load_u16(bx + offsetof(BlockQ5_0, d))) *
           half_to_float(load_u16(by + offsetof(BlockQ8_0, d)));
  }
  *out = sum;
}

void vec_dot_q5_1_q8_1(int64_t n, const void* x, const void* y, float* out) {
  float sum = 0.0f;
  for (int64_t i = 0; i < n / kQK5_1; ++i) {
    const uint8_t* bx = bytes(x) + i * static_cast<int64_t>(sizeof(BlockQ5_1));
    const uint8_t* by = bytes(y) + i * static_cast<int64_t>(sizeof(BlockQ8_1));
    int q[kQK5_1];
    unpack_q5(bx + offsetof(BlockQ5_1, qs), bx + offsetof(BlockQ5_1, qh), q);
    const auto* qy = reinterpret_cast<const int8_t*>(by + offsetof(BlockQ8_1, qs));
    int sumi = 0;
    for (int j = 0; j < kQK5_1; ++j) sumi += q[j] * qy[j];
    const float dx = half_to_float(load_u16(bx + offsetof(BlockQ5_1, d)));
    const float mx = half_to_float(load_u16(bx + offsetof(BlockQ5_1, m)));
    const float dy = half_to_float(load_u16(by + offsetof(BlockQ8_1, d)));
    const float sy = half_to_float(load_u16(by + offsetof(BlockQ8_1, s)));
    sum += static_cast<float>(sumi) * dx * dy + mx * sy;
  }
  *out = sum;
}

void vec_dot_q8_0_q8_0(int64_t n, const void* x, const void* y, float* out) {
  float sum = 0.0f;
  for (int64_t i = 0; i < n / kQK8_0; ++i) {
    const uint8_t* bx = bytes(x) + i * static_cast<int64_t>(sizeof(BlockQ8_0));
    const uint8_t* by = bytes(y) + i * static_cast<int64_t>(sizeof(BlockQ8_0));
    const auto* qx = reinterpret_cast<const int8_t*>(bx + offsetof(BlockQ8_0, qs));
    const auto* qy = reinterpret_cast<const int8_t*>(by + offsetof(BlockQ8_0, qs));
    int sumi = 0;
    for (int j = 0; j < kQK8_0; ++j) sumi += qx[j] * qy[j];
    sum += static_cast<float>(sumi) * half_to_float(load_u16(bx + offsetof(BlockQ8_0, d))) *
           half_to_float(load_u16(by + offsetof(BlockQ8_0, d)));
  }
  *out = sum;
}

}  // namespace dari::tensor_detail
