// Shared helpers of the tensor tests: seeded data, error statistics, quantise/dequantise.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "dari/tensor/dtype.h"

namespace dari::test {

inline std::vector<float> gaussian(size_t n, uint32_t seed, float sigma = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, sigma);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

struct ErrorStats {
  double nmse = 0;       // sum (a - b)^2 / sum a^2
  double max_abs = 0;    // max |a - b|
  double rms = 0;        // rms of a
  double rmse = 0;       // rms of a - b
};

inline ErrorStats error_stats(const std::vector<float>& ref, const std::vector<float>& got) {
  double se = 0, ss = 0, mx = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    const double e = static_cast<double>(ref[i]) - static_cast<double>(got[i]);
    se += e * e;
    ss += static_cast<double>(ref[i]) * ref[i];
    mx = std::max(mx, std::fabs(e));
  }
  ErrorStats s;
  s.nmse = ss > 0 ? se / ss : se;
  s.max_abs = mx;
  s.rms = std::sqrt(ss / static_cast<double>(ref.size()));
  s.rmse = std::sqrt(se / static_cast<double>(ref.size()));
  return s;
}

inline std::vector<uint8_t> quantize(GgmlType t, const std::vector<float>& x) {
  auto bytes = row_bytes(t, static_cast<int64_t>(x.size()));
  EXPECT_TRUE(bytes.ok()) << bytes.message();
  std::vector<uint8_t> q(bytes.ok() ? *bytes : 0);
  Status st = quantize_row(t, x.data(), q.data(), static_cast<int64_t>(x.size()));
  EXPECT_TRUE(st.ok()) << st.message();
  return q;
}

inline std::vector<float> dequantize(GgmlType t, const std::vector<uint8_t>& q, size_t n) {
  std::vector<float> y(n);
  Status st = dequantize_row(t, q.data(), y.data(), static_cast<int64_t>(n));
  EXPECT_TRUE(st.ok()) << st.message();
  return y;
}

}  // namespace dari::test
