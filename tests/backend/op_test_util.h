// Random data and plain reference helpers for the backend op tests.
#pragma once

#include <cmath>
#include <random>
#include <vector>

#include "dari/backend/backend.h"

namespace dari::test {

inline std::vector<float> random_floats(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(-scale, scale);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

inline TensorView f32_view(std::vector<float>& v, int64_t ne0, int64_t ne1 = 1, int64_t ne2 = 1) {
  return TensorView::contiguous(v.data(), GgmlType::F32, ne0, ne1, ne2);
}

}  // namespace dari::test
