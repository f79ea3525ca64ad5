// The generic (portable C++) kernel table: the scalar reference kernels of dari_tensor. Any
// CPU runs them; the matmul driver adds cache blocking on top. The attention helpers here are
// the plain loops the CPU backend's scalar attention uses.
#include <cmath>
#include <cstring>

#include "backend/cpu/simd/simd_internal.h"
#include "dari/tensor/dtype.h"

namespace dari::simd::detail {
namespace {

template <GgmlType kT>
float kv_at(const uint8_t* row, int64_t d) {
  if constexpr (kT == GgmlType::F32) {
    float f;
    std::memcpy(&f, row + 4 * d, sizeof f);
    return f;
  } else {
    uint16_t h;
    std::memcpy(&h, row + 2 * d, sizeof h);
    return kT == GgmlType::F16 ? fp16_to_fp32(h) : bf16_to_fp32(h);
  }
}

template <GgmlType kT>
void kv_axpy_generic(const float* w, const uint8_t* kv, uint64_t stride, int64_t count, int64_t hd,
                     float* acc) {
  for (int64_t t = 0; t < count; ++t) {
    const uint8_t* row = kv + static_cast<uint64_t>(t) * stride;
    for (int64_t d = 0; d < hd; ++d) acc[d] += w[t] * kv_at<kT>(row, d);
  }
}

template <GgmlType kT>
void kv_load_generic(const uint8_t* kv, uint64_t stride, int64_t count, int64_t hd, float* out) {
  for (int64_t t = 0; t < count; ++t) {
    const uint8_t* row = kv + static_cast<uint64_t>(t) * stride;
    for (int64_t d = 0; d < hd; ++d) out[t * hd + d] = kv_at<kT>(row, d);
  }
}

template <GgmlType kT>
void kv_load_t_generic(const uint8_t* kv, uint64_t stride, int64_t count, int64_t hd, float* kt) {
  const int64_t ld = kv_t_ld(count);
  for (int64_t d = 0; d < hd; ++d) {
    for (int64_t t = 0; t < ld; ++t) {
      kt[d * ld + t] = t < count ? kv_at<kT>(kv + static_cast<uint64_t>(t) * stride, d) : 0.0f;
    }
  }
}

void kv_scores_t_generic(const float* q, const float* kt, int64_t ld, int64_t count, int64_t hd,
                         float scale, float* out) {
  for (int64_t t = 0; t < count; ++t) {
    float c[4] = {};
    for (int64_t d = 0; d < hd; ++d) c[d % 4] = std::fma(q[d], kt[d * ld + t], c[d % 4]);
    out[t] = ((c[0] + c[1]) + (c[2] + c[3])) * scale;
  }
}

float exp_sum_generic(float* x, int64_t n, float max) {
  float sum = 0.0f;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - max);
    sum += x[i];
  }
  return sum;
}

void silu_mul_generic(const float* g, const float* u, int64_t n, float* y) {
  for (int64_t i = 0; i < n; ++i) y[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
}

}  // namespace

void fill_generic(IsaKernels* t) {
  const GgmlType weights[kNumWeightSlots] = {GgmlType::F32,  GgmlType::F16,  GgmlType::BF16,
                                             GgmlType::Q4_0, GgmlType::Q8_0, GgmlType::Q4_K,
                                             GgmlType::Q5_K, GgmlType::Q6_K};
  for (GgmlType w : weights) t->dot[weight_slot(w)] = type_traits(w)->vec_dot;
  const GgmlType acts[kNumActSlots] = {GgmlType::F32, GgmlType::F16, GgmlType::BF16, GgmlType::Q8_0,
                                       GgmlType::Q8_K};
  for (GgmlType a : acts) t->quantize[act_slot(a)] = type_traits(a)->from_float;
  t->kv_axpy[kKvF32] = kv_axpy_generic<GgmlType::F32>;
  t->kv_axpy[kKvF16] = kv_axpy_generic<GgmlType::F16>;
  t->kv_axpy[kKvBF16] = kv_axpy_generic<GgmlType::BF16>;
  t->kv_load[kKvF32] = kv_load_generic<GgmlType::F32>;
  t->kv_load[kKvF16] = kv_load_generic<GgmlType::F16>;
  t->kv_load[kKvBF16] = kv_load_generic<GgmlType::BF16>;
  t->kv_load_t[kKvF32] = kv_load_t_generic<GgmlType::F32>;
  t->kv_load_t[kKvF16] = kv_load_t_generic<GgmlType::F16>;
  t->kv_load_t[kKvBF16] = kv_load_t_generic<GgmlType::BF16>;
  t->kv_scores_t = kv_scores_t_generic;
  t->exp_sum = exp_sum_generic;
  t->silu_mul = silu_mul_generic;
}

}  // namespace dari::simd::detail
