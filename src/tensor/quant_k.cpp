// Reference dequantisers and dot products of the k-quants (Q2_K..Q6_K against Q8_K) and the
// Q8_K activation quantiser. Dots use integer arithmetic per sub-block and apply the mins
// through Q8_K's bsums, like ggml's scalar reference; one float multiply-add per super-block.
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "dari/tensor/blocks.h"
#include "tensor/kquant_layout.h"
#include "tensor/numerics.h"

namespace dari::tensor_detail {
namespace {

const uint8_t* block_at(const void* base, int64_t i, size_t size) {
  return static_cast<const uint8_t*>(base) + i * static_cast<int64_t>(size);
}

// Q8_K fields of block i of y.
struct Q8KView {
  float d;
  const int8_t* qs;
  int16_t bsums[kQK_K / 16];
};
Q8KView q8_k_view(const void* y, int64_t i) {
  const uint8_t* b = block_at(y, i, sizeof(BlockQ8_K));
  Q8KView v{};
  v.d = load_f32(b + offsetof(BlockQ8_K, d));
  v.qs = reinterpret_cast<const int8_t*>(b + offsetof(BlockQ8_K, qs));
  std::memcpy(v.bsums, b + offsetof(BlockQ8_K, bsums), sizeof v.bsums);
  return v;
}

// Sum of q[j] * y[j] over len elements.
template <class T>
int dot_i(const T* q, const int8_t* y, int len) {
  int s = 0;
  for (int j = 0; j < len; ++j) s += static_cast<int>(q[j]) * y[j];
  return s;
}

}  // namespace

// ---- Q8_K: d = max / -127 (signed max-abs value), q = round_even(x / d) ----

void q8_k_from_float(const float* src, void* dst, int64_t n) {
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const float* x = src + i * kQK_K;
    uint8_t* b = static_cast<uint8_t*>(dst) + i * static_cast<int64_t>(sizeof(BlockQ8_K));
    float amax = 0.0f;
    float vmax = 0.0f;
    for (int j = 0; j < kQK_K; ++j) {
      if (std::fabs(x[j]) > amax) {
        amax = std::fabs(x[j]);
        vmax = x[j];
      }
    }
    int8_t q[kQK_K] = {};
    int16_t bsums[kQK_K / 16] = {};
    float d = 0.0f;
    if (amax > 0.0f) {
      const float iscale = -127.0f / vmax;
      d = 1.0f / iscale;
      for (int j = 0; j < kQK_K; ++j) {
        q[j] = static_cast<int8_t>(round_even_clamp(iscale * x[j], -128, 127));
      }
      for (int j = 0; j < kQK_K / 16; ++j) {
        int s = 0;
        for (int l = 0; l < 16; ++l) s += q[16 * j + l];
        bsums[j] = static_cast<int16_t>(s);
      }
    }
    store_f32(b + offsetof(BlockQ8_K, d), d);
    std::memcpy(b + offsetof(BlockQ8_K, qs), q, sizeof q);
    std::memcpy(b + offsetof(BlockQ8_K, bsums), bsums, sizeof bsums);
  }
}

void q8_k_to_float(const void* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const Q8KView v = q8_k_view(src, i);
    for (int j = 0; j < kQK_K; ++j) dst[i * kQK_K + j] = v.d * static_cast<float>(v.qs[j]);
  }
}

// ---- Q2_K ----

void q2_k_to_float(const void* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const uint8_t* b = block_at(src, i, sizeof(BlockQ2_K));
    const float d = half_to_float(load_u16(b + offsetof(BlockQ2_K, d)));
    const float dmin = half_to_float(load_u16(b + offsetof(BlockQ2_K, dmin)));
    const uint8_t* sc = b + offsetof(BlockQ2_K, scales);
    uint8_t q[kQK_K];
    unpack_q2_k(b, q);
    float* y = dst + i * kQK_K;
    for (int s = 0; s < 16; ++s) {
      const float dl = d * static_cast<float>(sc[s] & 0x0f);
      const float ml = dmin * static_cast<float>(sc[s] >> 4);
      for (int l = 0; l < 16; ++l) y[16 * s + l] = dl * static_cast<float>(q[16 * s + l]) - ml;
    }
  }
}

void vec_dot_q2_k_q8_k(int64_t n, const void* x, const void* y, float* out) {
  float sum = 0.0f;
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const uint8_t* b = block_at(x, i, sizeof(BlockQ2_K));
    const Q8KView v = q8_k_view(y, i);
    const uint8_t* sc = b + offsetof(BlockQ2_K, scales);
    uint8_t q[kQK_K];
    unpack_q2_k(b, q);
    int sumi = 0;
    int summs = 0;
    for (int s = 0; s < 16; ++s) {
      sumi += (sc[s] & 0x0f) * dot_i(q + 16 * s, v.qs + 16 * s, 16);
      summs += (sc[s] >> 4) * v.bsums[s];
    }
    const float d = half_to_float(load_u16(b + offsetof(BlockQ2_K, d)));
    const float dmin = half_to_float(load_u16(b + offsetof(BlockQ2_K, dmin)));
    sum += v.d * (d * static_cast<float>(sumi) - dmin * static_cast<float>(summs));
  }
  *out = sum;
}

// ---- Q3_K ----

void q3_k_to_float(const void* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const uint8_t* b = block_at(src, i, sizeof(BlockQ3_K));
    const float d = half_to_float(load_u16(b + offsetof(BlockQ3_K, d)));
    int sc[16];
    get_scales_q3_k(b + offsetof(BlockQ3_K, scales), sc);
    int8_t q[kQK_K];
    unpack_q3_k(b, q);
    float* y = dst + i * kQK_K;
    for (int s = 0; s < 16; ++s) {
      const float dl = d * static_cast<float>(sc[s]);
      for (int l = 0; l < 16; ++l) y[16 * s + l] = dl * static_cast<float>(q[16 * s + l]);
    }
  }
}

void vec_dot_q3_k_q8_k(int64_t n, const void* x, const void* y, float* out) {
  float sum = 0.0f;
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const uint8_t* b = block_at(x, i, sizeof(BlockQ3_K));
    const Q8KView v = q8_k_view(y, i);
    int sc[16];
    get_scales_q3_k(b + offsetof(BlockQ3_K, scales), sc);
    int8_t q[kQK_K];
    unpack_q3_k(b, q);
    int sumi = 0;
    for (int s = 0; s < 16; ++s) sumi += sc[s] * dot_i(q + 16 * s, v.qs + 16 * s, 16);
    sum += v.d * half_to_float(load_u16(b + offsetof(BlockQ3_K, d))) * static_cast<float>(sumi);
  }
  *out = sum;
}

// ---- Q4_K / Q5_K (same scale/min layout; Q5_K has a fifth bit) ----

namespace {

template <size_t kBlockSize, size_t kOffD, size_t kOffDmin, size_t kOffScales,
          void (*kUnpack)(const uint8_t*, uint8_t*)>
void q45_k_to_float(const void* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const uint8_t* b = block_at(src, i, kBlockSize);
    const float d = half_to_float(load_u16(b + kOffD));
    const float dmin = half_to_float(load_u16(b + kOffDmin));
    uint8_t q[kQK_K];
    kUnpack(b, q);
    float* y = dst + i * kQK_K;
    for (int s = 0; s < 8; ++s) {
      int sc = 0;
      int m = 0;
      get_scale_min_k4(s, b + kOffScales, &sc, &m);
      const float dl = d * static_cast<float>(sc);
      const float ml = dmin * static_cast<float>(m);
      for (int l = 0; l < 32; ++l) y[32 * s + l] = dl * static_cast<float>(q[32 * s + l]) - ml;
    }
  }
}

template <size_t kBlockSize, size_t kOffD, size_t kOffDmin, size_t kOffScales,
          void (*kUnpack)(const uint8_t*, uint8_t*)>
void vec_dot_q45_k(int64_t n, const void* x, const void* y, float* out) {
  float sum = 0.0f;
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const uint8_t* b = block_at(x, i, kBlockSize);
    const Q8KView v = q8_k_view(y, i);
    uint8_t q[kQK_K];
    kUnpack(b, q);
    int sumi = 0;
    int summs = 0;
    for (int s = 0; s < 8; ++s) {
      int sc = 0;
      int m = 0;
      get_scale_min_k4(s, b + kOffScales, &sc, &m);
      sumi += sc * dot_i(q + 32 * s, v.qs + 32 * s, 32);
      summs += m * (v.bsums[2 * s] + v.bsums[2 * s + 1]);
    }
    const float d = half_to_float(load_u16(b + kOffD));
    const float dmin = half_to_float(load_u16(b + kOffDmin));
    sum += v.d * (d * static_cast<float>(sumi) - dmin * static_cast<float>(summs));
  }
  *out = sum;
}

}  // namespace

void q4_k_to_float(const void* src, float* dst, int64_t n) {
  q45_k_to_float<sizeof(BlockQ4_K), offsetof(BlockQ4_K, d), offsetof(BlockQ4_K, dmin),
                 offsetof(BlockQ4_K, scales), unpack_q4_k>(src, dst, n);
}
void vec_dot_q4_k_q8_k(int64_t n, const void* x, const void* y, float* out) {
  vec_dot_q45_k<sizeof(BlockQ4_K), offsetof(BlockQ4_K, d), offsetof(BlockQ4_K, dmin),
                offsetof(BlockQ4_K, scales), unpack_q4_k>(n, x, y, out);
}
void q5_k_to_float(const void* src, float* dst, int64_t n) {
  q45_k_to_float<sizeof(BlockQ5_K), offsetof(BlockQ5_K, d), offsetof(BlockQ5_K, dmin),
                 offsetof(BlockQ5_K, scales), unpack_q5_k>(src, dst, n);
}
void vec_dot_q5_k_q8_k(int64_t n, const void* x, const void* y, float* out) {
  vec_dot_q45_k<sizeof(BlockQ5_K), offsetof(BlockQ5_K, d), offsetof(BlockQ5_K, dmin),
                offsetof(BlockQ5_K, scales), unpack_q5_k>(n, x, y, out);
}

// ---- Q6_K ----

void q6_k_to_float(const void* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const uint8_t* b = block_at(src, i, sizeof(BlockQ6_K));
    const float d = half_to_float(load_u16(b + offsetof(BlockQ6_K, d)));
    const auto* sc = reinterpret_cast<const int8_t*>(b + offsetof(BlockQ6_K, scales));
    int8_t q[kQK_K];
    unpack_q6_k(b, q);
    float* y = dst + i * kQK_K;
    for (int s = 0; s < 16; ++s) {
      const float dl = d * static_cast<float>(sc[s]);
      for (int l = 0; l < 16; ++l) y[16 * s + l] = dl * static_cast<float>(q[16 * s + l]);
    }
  }
}

void vec_dot_q6_k_q8_k(int64_t n, const void* x, const void* y, float* out) {
  float sum = 0.0f;
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const uint8_t* b = block_at(x, i, sizeof(BlockQ6_K));
    const Q8KView v = q8_k_view(y, i);
    const auto* sc = reinterpret_cast<const int8_t*>(b + offsetof(BlockQ6_K, scales));
    int8_t q[kQK_K];
    unpack_q6_k(b, q);
    int sumi = 0;
    for (int s = 0; s < 16; ++s) sumi += sc[s] * dot_i(q + 16 * s, v.qs + 16 * s, 16);
    sum += v.d * half_to_float(load_u16(b + offsetof(BlockQ6_K, d))) * static_cast<float>(sumi);
  }
  *out = sum;
}

}  // namespace dari::tensor_detail
