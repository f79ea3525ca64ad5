// Test helpers for dari_simd: random rows in any type, the fp32 reassociation tolerance and the
// list of (ISA, type) cases. Single-threaded test code.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "backend/cpu/simd/simd_kernels.h"
#include "dari/tensor/blocks.h"
#include "dari/tensor/dtype.h"

namespace dari::simd::testing {

inline const GgmlType kWeightTypes[] = {GgmlType::F32,  GgmlType::F16,  GgmlType::BF16,
                                        GgmlType::Q4_0, GgmlType::Q8_0, GgmlType::Q4_K,
                                        GgmlType::Q5_K, GgmlType::Q6_K};

inline uint64_t bytes_of(GgmlType t, int64_t n) {
  const TypeTraits* tr = type_traits(t);
  return static_cast<uint64_t>(n / tr->block_elems) * tr->block_bytes;
}

inline std::vector<float> random_floats(std::mt19937& rng, int64_t n, float scale) {
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& f : v) f = dist(rng);
  return v;
}

// A row of n elements of type t quantised from Gaussian floats by the scalar reference.
inline std::vector<uint8_t> quantized_row(GgmlType t, std::mt19937& rng, int64_t n, float scale) {
  const std::vector<float> f = random_floats(rng, n, scale);
  std::vector<uint8_t> out(bytes_of(t, n));
  type_traits(t)->from_float(f.data(), out.data(), n);
  return out;
}

// Offsets of the half-precision scale fields in one block of t (to keep random bytes finite).
inline std::vector<size_t> half_fields(GgmlType t) {
  switch (t) {
    case GgmlType::Q4_0: return {offsetof(BlockQ4_0, d)};
    case GgmlType::Q8_0: return {offsetof(BlockQ8_0, d)};
    case GgmlType::Q4_K: return {offsetof(BlockQ4_K, d), offsetof(BlockQ4_K, dmin)};
    case GgmlType::Q5_K: return {offsetof(BlockQ5_K, d), offsetof(BlockQ5_K, dmin)};
    case GgmlType::Q6_K: return {offsetof(BlockQ6_K, d)};
    default: return {};
  }
}

// Random bytes for every bit field of a quantised type (all layouts and scale codes get
// exercised, including int8 -128), with finite scales in [2^-10, 2^-4]. Float types fall back
// to quantized_row.
inline std::vector<uint8_t> random_bytes_row(GgmlType t, std::mt19937& rng, int64_t n) {
  const std::vector<size_t> fields = half_fields(t);
  if (fields.empty()) return quantized_row(t, rng, n, 1.0f);
  std::vector<uint8_t> out(bytes_of(t, n));
  std::uniform_int_distribution<int> byte(0, 255);
  for (uint8_t& b : out) b = static_cast<uint8_t>(byte(rng));
  std::uniform_real_distribution<float> scale(1.0f / 1024.0f, 1.0f / 16.0f);
  const uint32_t bb = type_traits(t)->block_bytes;
  for (uint64_t off = 0; off < out.size(); off += bb) {
    for (size_t f : fields) {
      const uint16_t h = fp32_to_fp16(scale(rng));
      std::memcpy(&out[off + f], &h, sizeof h);
    }
  }
  return out;
}

// Tolerance for comparing two fp32 evaluations of the same dot product that differ only in
// the order of fp32 additions (integer block sums are exact in both):
//   |got - ref| <= 4 * eps_f32 * (chain + 16) * S,   S = sum_i |w_i| * |a_i|  (dequantised, f64)
// where chain is the longest fp32 addition chain: the number of blocks for block types (one
// accumulation per block) or n / 8 for float types (8 lanes). The factor 4 covers the per-block
// products (d_w * d_a * sumi: two roundings) and the k-quant min term, whose magnitude is
// bounded by S for the encoder-made and random-scale data used here.
inline double dot_tolerance(GgmlType w, int64_t n, const std::vector<uint8_t>& wrow,
                            const std::vector<uint8_t>& arow) {
  const TypeTraits* wt = type_traits(w);
  const TypeTraits* at = type_traits(wt->vec_dot_type);
  std::vector<float> wf(static_cast<size_t>(n));
  std::vector<float> af(static_cast<size_t>(n));
  wt->to_float(wrow.data(), wf.data(), n);
  at->to_float(arow.data(), af.data(), n);
  double s = 0.0;
  for (size_t i = 0; i < wf.size(); ++i) s += std::fabs(static_cast<double>(wf[i]) * af[i]);
  const int64_t chain = wt->block_elems == 1 ? n / 8 : n / wt->block_elems;
  return 4.0 * 1.1920928955078125e-07 * static_cast<double>(chain + 16) * s + 1e-30;
}

inline std::string type_label(GgmlType t) {
  std::string s(ggml_type_name(t));
  for (char& c : s) c = (c == '-' ? '_' : c);
  return s;
}

}  // namespace dari::simd::testing
