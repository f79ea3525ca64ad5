// simd::matmul: every output equals the same row computed alone (tiles, group kernels, row ranges
// split at kMatmulRowAlign, batch sizes and cache blocks do not change any reduction: batch
// invariance), rows outside whole aligned groups equal the ISA's single dot bit for bit, every
// output is within the reassociation tolerance of the scalar traits, and bad arguments give
// errors without writes.
#include <gtest/gtest.h>

#include <cstring>
#include <initializer_list>
#include <limits>
#include <utility>

#include "simd/simd_test_util.h"

namespace dari::simd {
namespace {

using testing::bytes_of;
using testing::kWeightTypes;

struct Problem {
  GgmlType wt;
  int64_t k, rows, n_act;
  uint64_t w_stride, a_stride;
  std::vector<uint8_t> w, a;
};

// rows weight rows and n_act activation rows, both padded by 16 bytes per row.
Problem make_problem(GgmlType wt, int64_t k, int64_t rows, int64_t n_act, uint32_t seed) {
  std::mt19937 rng(seed);
  Problem p{wt, k, rows, n_act, bytes_of(wt, k) + 16, bytes_of(activation_type(wt), k) + 16,
            {}, {}};
  p.w.assign(p.w_stride * static_cast<uint64_t>(rows), 0xee);
  p.a.assign(p.a_stride * static_cast<uint64_t>(n_act), 0xee);
  for (int64_t r = 0; r < rows; ++r) {
    const std::vector<uint8_t> row = testing::random_bytes_row(wt, rng, k);
    std::copy(row.begin(), row.end(), p.w.begin() + static_cast<int64_t>(p.w_stride) * r);
  }
  for (int64_t r = 0; r < n_act; ++r) {
    const std::vector<uint8_t> row = testing::quantized_row(activation_type(wt), rng, k, 1.0f);
    std::copy(row.begin(), row.end(), p.a.begin() + static_cast<int64_t>(p.a_stride) * r);
  }
  return p;
}

MatmulArgs args_for(const Problem& p, int64_t r0, int64_t r1, int64_t n_act, float* out,
                    int64_t out_stride) {
  MatmulArgs a;
  a.weight_type = p.wt;
  a.k = p.k;
  a.weights = p.w.data();
  a.weight_stride = p.w_stride;
  a.row_begin = r0;
  a.row_end = r1;
  a.act = p.a.data();
  a.act_stride = p.a_stride;
  a.n_act = n_act;
  a.out = out;
  a.out_stride = out_stride;
  return a;
}

std::vector<uint8_t> row_bytes_of(const std::vector<uint8_t>& buf, uint64_t stride, int64_t r,
                                  uint64_t len) {
  const auto begin = buf.begin() + static_cast<int64_t>(stride) * r;
  return std::vector<uint8_t>(begin, begin + static_cast<int64_t>(len));
}

// True if row r of [r0, r1) lies in a whole group of kMatmulRowAlign rows (the rows a group
// kernel may compute).
bool in_whole_group(int64_t r, int64_t r0, int64_t r1) {
  const int64_t g0 = r / kMatmulRowAlign * kMatmulRowAlign;
  return g0 >= r0 && g0 + kMatmulRowAlign <= r1;
}

TEST(SimdMatmul, TilesEqualSingleRowsDotsAndScalar) {
  for (GgmlType wt : kWeightTypes) {
    for (int64_t k : {256, 1280}) {
      // 27 rows from row 1: rows 1-7 and 24-26 run as tiles, 8-23 as two whole groups.
      const Problem p = make_problem(wt, k, 27, 7, 99u + static_cast<uint32_t>(k));
      const int64_t out_stride = p.rows + 3;
      for (Isa isa : supported_isas()) {
        std::vector<float> out(static_cast<size_t>(out_stride * p.n_act), -1.0f);
        ASSERT_TRUE(matmul(args_for(p, 1, p.rows, p.n_act, out.data(), out_stride), isa).ok());
        for (int64_t a = 0; a < p.n_act; ++a) {
          EXPECT_EQ(out[static_cast<size_t>(a * out_stride)], -1.0f);  // row 0 outside the range
          Problem one = p;                                             // activation row a alone
          one.a = row_bytes_of(p.a, p.a_stride, a, p.a_stride);
          std::vector<float> alone(static_cast<size_t>(p.rows), -1.0f);
          ASSERT_TRUE(matmul(args_for(one, 1, p.rows, 1, alone.data(), 0), isa).ok());
          for (int64_t r = 1; r < p.rows; ++r) {
            const uint8_t* wr = p.w.data() + p.w_stride * static_cast<uint64_t>(r);
            const uint8_t* xr = p.a.data() + p.a_stride * static_cast<uint64_t>(a);
            const float got = out[static_cast<size_t>(a * out_stride + r)];
            EXPECT_EQ(got, alone[static_cast<size_t>(r)])
                << testing::type_label(wt) << " isa=" << isa_name(isa) << " r=" << r << " a=" << a;
            if (!in_whole_group(r, 1, p.rows)) {
              float single = 0.0f;
              vec_dot_fn(wt, isa)(k, wr, xr, &single);
              EXPECT_EQ(got, single) << testing::type_label(wt) << " isa=" << isa_name(isa)
                                     << " r=" << r << " a=" << a;
            }
            float ref = 0.0f;
            type_traits(wt)->vec_dot(k, wr, xr, &ref);
            const double tol = testing::dot_tolerance(
                wt, k, row_bytes_of(p.w, p.w_stride, r, bytes_of(wt, k)),
                row_bytes_of(p.a, p.a_stride, a, bytes_of(activation_type(wt), k)));
            EXPECT_NEAR(got, ref, tol) << testing::type_label(wt) << " isa=" << isa_name(isa);
          }
          for (int64_t r = p.rows; r < out_stride; ++r)
            EXPECT_EQ(out[static_cast<size_t>(a * out_stride + r)], -1.0f);
        }
      }
    }
  }
}

// The same output row computed alone, in a batch, and in a thread-style row split is identical.
TEST(SimdMatmul, BatchAndSplitInvariance) {
  for (GgmlType wt : kWeightTypes) {  // every type: all have tiled or looped paths
    const Problem p = make_problem(wt, 512, 21, 6, 5u);
    for (Isa isa : supported_isas()) {
      std::vector<float> batch(static_cast<size_t>(p.rows * p.n_act));
      ASSERT_TRUE(matmul(args_for(p, 0, p.rows, p.n_act, batch.data(), p.rows), isa).ok());
      std::vector<float> split(batch.size());
      // Thread-style split at multiples of kMatmulRowAlign.
      ASSERT_TRUE(matmul(args_for(p, 0, 8, p.n_act, split.data(), p.rows), isa).ok());
      ASSERT_TRUE(matmul(args_for(p, 8, 16, p.n_act, split.data(), p.rows), isa).ok());
      ASSERT_TRUE(matmul(args_for(p, 16, p.rows, p.n_act, split.data(), p.rows), isa).ok());
      EXPECT_EQ(split, batch) << testing::type_label(wt) << " isa=" << isa_name(isa);
      Problem last = p;  // activation row 5 alone
      last.a = row_bytes_of(p.a, p.a_stride, 5, p.a_stride);
      std::vector<float> alone(static_cast<size_t>(p.rows));
      ASSERT_TRUE(matmul(args_for(last, 0, p.rows, 1, alone.data(), 0), isa).ok());
      for (int64_t r = 0; r < p.rows; ++r) {
        EXPECT_EQ(alone[static_cast<size_t>(r)], batch[static_cast<size_t>(5 * p.rows + r)]);
      }
    }
  }
}

// Restores the row-group kernel switch when a test that flips it ends.
struct RestoreGroupKernels {
  bool was = group_kernels_enabled();
  ~RestoreGroupKernels() { set_group_kernels_enabled(was); }
};

// Outputs of rows [r0, r1) against activation rows [a0, a0 + n) of p, out_stride p.rows.
std::vector<float> run_rows(const Problem& p, Isa isa, int64_t r0, int64_t r1, int64_t a0,
                            int64_t n) {
  std::vector<float> out(static_cast<size_t>(p.rows * n), -1.0f);
  MatmulArgs a = args_for(p, r0, r1, n, out.data(), p.rows);
  a.act = p.a.data() + p.a_stride * static_cast<uint64_t>(a0);
  EXPECT_TRUE(matmul(a, isa).ok());
  return out;
}

// Batch invariance for every batch size the group kernels see (1..8 directly, more in chunks of
// 8 with any remainder) and for thread-style row splits at multiples of 8, on every type and ISA:
// each output equals the row computed alone, bit for bit.
TEST(SimdMatmul, EveryBatchSizeGivesTheSameBits) {
  constexpr int64_t kMaxAct = 19;
  for (GgmlType wt : kWeightTypes) {
    // 35 rows: four whole groups of 8, then 3 rows for the tiles.
    const Problem p = make_problem(wt, 512, 35, kMaxAct, 17u);
    for (Isa isa : supported_isas()) {
      std::vector<std::vector<float>> alone;
      for (int64_t a = 0; a < kMaxAct; ++a) alone.push_back(run_rows(p, isa, 0, p.rows, a, 1));
      for (int64_t n = 1; n <= kMaxAct; ++n) {
        const std::vector<float> batch = run_rows(p, isa, 0, p.rows, 0, n);
        std::vector<float> split(batch.size(), -1.0f);
        for (const auto& [r0, r1] : {std::pair<int64_t, int64_t>{0, 8}, {8, 24}, {24, p.rows}}) {
          MatmulArgs a = args_for(p, r0, r1, n, split.data(), p.rows);
          ASSERT_TRUE(matmul(a, isa).ok());
        }
        for (int64_t a = 0; a < n; ++a) {
          for (int64_t r = 0; r < p.rows; ++r) {
            const size_t i = static_cast<size_t>(a * p.rows + r);
            ASSERT_EQ(batch[i], alone[static_cast<size_t>(a)][static_cast<size_t>(r)])
                << testing::type_label(wt) << " isa=" << isa_name(isa) << " n_act=" << n
                << " a=" << a << " r=" << r;
            ASSERT_EQ(split[i], batch[i]) << testing::type_label(wt) << " isa=" << isa_name(isa)
                                          << " n_act=" << n << " a=" << a << " r=" << r;
          }
        }
      }
    }
  }
}

// Float weights have no block size, so k need not be a multiple of the 8-element vectors: the
// group kernels' element tail must give each row the same bits whatever n_act (1..8 covers every
// tile shape: 1, 2 and 3 activation rows per tile) and stay within the scalar reference's
// tolerance.
TEST(SimdMatmul, FloatGroupKernelsHandleAnyK) {
  for (GgmlType wt : {GgmlType::F32, GgmlType::F16, GgmlType::BF16}) {
    for (int64_t k : {5, 203, 1027}) {
      const Problem p = make_problem(wt, k, 16, 8, 41u + static_cast<uint32_t>(k));
      for (Isa isa : supported_isas()) {
        std::vector<std::vector<float>> alone;
        for (int64_t a = 0; a < p.n_act; ++a) alone.push_back(run_rows(p, isa, 0, p.rows, a, 1));
        for (int64_t n = 2; n <= p.n_act; ++n) {  // every tile mix
          const std::vector<float> batch = run_rows(p, isa, 0, p.rows, 0, n);
          for (int64_t a = 0; a < n; ++a) {
            for (int64_t r = 0; r < p.rows; ++r) {
              ASSERT_EQ(batch[static_cast<size_t>(a * p.rows + r)],
                        alone[static_cast<size_t>(a)][static_cast<size_t>(r)])
                  << testing::type_label(wt) << " k=" << k << " isa=" << isa_name(isa) << " n=" << n
                  << " a=" << a << " r=" << r;
            }
          }
        }
        for (int64_t a = 0; a < p.n_act; ++a) {
          for (int64_t r = 0; r < p.rows; ++r) {
            float ref = 0.0f;
            type_traits(wt)->vec_dot(k, p.w.data() + p.w_stride * static_cast<uint64_t>(r),
                                     p.a.data() + p.a_stride * static_cast<uint64_t>(a), &ref);
            const double tol = testing::dot_tolerance(
                wt, k, row_bytes_of(p.w, p.w_stride, r, bytes_of(wt, k)),
                row_bytes_of(p.a, p.a_stride, a, bytes_of(activation_type(wt), k)));
            EXPECT_NEAR(alone[static_cast<size_t>(a)][static_cast<size_t>(r)], ref, tol)
                << testing::type_label(wt) << " k=" << k << " isa=" << isa_name(isa) << " r=" << r
                << " a=" << a;
          }
        }
      }
    }
  }
}

// With the group kernels off every output is the ISA's single dot, bit for bit; on or off, every
// output is within the reassociation tolerance of the scalar reference (several blocks, so the
// float accumulation order matters).
TEST(SimdMatmul, GroupKernelsOnAndOffMatchScalar) {
  const RestoreGroupKernels restore;
  for (GgmlType wt : kWeightTypes) {
    const int64_t k = 2816;  // 11 super-blocks, 88 blocks of 32
    const Problem p = make_problem(wt, k, 16, 11, 23u);
    for (Isa isa : supported_isas()) {
      for (bool on : {true, false}) {
        set_group_kernels_enabled(on);
        const std::vector<float> out = run_rows(p, isa, 0, p.rows, 0, p.n_act);
        for (int64_t a = 0; a < p.n_act; ++a) {
          const uint8_t* xr = p.a.data() + p.a_stride * static_cast<uint64_t>(a);
          for (int64_t r = 0; r < p.rows; ++r) {
            const uint8_t* wr = p.w.data() + p.w_stride * static_cast<uint64_t>(r);
            const float got = out[static_cast<size_t>(a * p.rows + r)];
            if (!on) {
              float single = 0.0f;
              vec_dot_fn(wt, isa)(k, wr, xr, &single);
              EXPECT_EQ(got, single) << testing::type_label(wt) << " isa=" << isa_name(isa);
            }
            float ref = 0.0f;
            type_traits(wt)->vec_dot(k, wr, xr, &ref);
            const double tol = testing::dot_tolerance(
                wt, k, row_bytes_of(p.w, p.w_stride, r, bytes_of(wt, k)),
                row_bytes_of(p.a, p.a_stride, a, bytes_of(activation_type(wt), k)));
            EXPECT_NEAR(got, ref, tol) << testing::type_label(wt) << " isa=" << isa_name(isa)
                                       << " groups=" << on << " r=" << r << " a=" << a;
          }
        }
      }
    }
  }
}

// Weights and activations built from the extreme codes (6-bit 63 with scale -128 against -128,
// int8 -128 weights, full nibbles against +-127) with unit scales: every integer partial sum hits
// the bounds the kernels rely on (int16 lanes before widening), and the result is the integer
// dot itself, so outputs must equal the scalar reference exactly.
Problem extreme_problem(GgmlType wt, int64_t rows, int64_t n_act, uint32_t seed) {
  const int64_t k = 256;
  std::mt19937 rng(seed);
  auto pick = [&rng](std::initializer_list<int> v) {
    std::uniform_int_distribution<size_t> i(0, v.size() - 1);
    return *(v.begin() + static_cast<std::ptrdiff_t>(i(rng)));
  };
  Problem p{wt, k, rows, n_act, bytes_of(wt, k), bytes_of(activation_type(wt), k), {}, {}};
  p.w.assign(p.w_stride * static_cast<uint64_t>(rows), 0);
  p.a.assign(p.a_stride * static_cast<uint64_t>(n_act), 0);
  const uint16_t one_h = fp32_to_fp16(1.0f);
  for (int64_t r = 0; r < rows; ++r) {
    uint8_t* row = p.w.data() + p.w_stride * static_cast<uint64_t>(r);
    const uint32_t bb = type_traits(wt)->block_bytes;
    for (uint64_t off = 0; off < p.w_stride; off += bb) {
      uint8_t* b = row + off;
      if (wt == GgmlType::Q6_K) {
        // Mostly q = 63 (all bits set) with the most negative scale: the largest int16 sums.
        for (int i = 0; i < 192; ++i) b[i] = static_cast<uint8_t>(pick({0xff, 0xff, 0xff, 0x00}));
        for (int i = 0; i < 16; ++i)
          b[offsetof(BlockQ6_K, scales) + i] = static_cast<uint8_t>(pick({-128, -128, 127, 1}));
        std::memcpy(b + offsetof(BlockQ6_K, d), &one_h, sizeof one_h);
      } else {
        const size_t qs = wt == GgmlType::Q4_0 ? offsetof(BlockQ4_0, qs) : offsetof(BlockQ8_0, qs);
        for (size_t i = qs; i < bb; ++i) {
          b[i] = static_cast<uint8_t>(wt == GgmlType::Q4_0 ? pick({0xff, 0xff, 0x00, 0xf0})
                                                           : pick({-128, -128, 127, -127}));
        }
        std::memcpy(b, &one_h, sizeof one_h);
      }
    }
  }
  for (int64_t a = 0; a < n_act; ++a) {
    uint8_t* x = p.a.data() + p.a_stride * static_cast<uint64_t>(a);
    if (wt == GgmlType::Q6_K) {
      const float one = 1.0f;
      std::memcpy(x + offsetof(BlockQ8_K, d), &one, sizeof one);
      auto* qs = reinterpret_cast<int8_t*>(x + offsetof(BlockQ8_K, qs));
      for (int s = 0; s < 16; ++s) {
        int16_t sum = 0;
        for (int i = 0; i < 16; ++i) {
          qs[16 * s + i] = static_cast<int8_t>(pick({-128, -128, -128, 127}));
          sum = static_cast<int16_t>(sum + qs[16 * s + i]);
        }
        std::memcpy(x + offsetof(BlockQ8_K, bsums) + 2 * s, &sum, sizeof sum);
      }
    } else {
      for (uint64_t off = 0; off < p.a_stride; off += sizeof(BlockQ8_0)) {
        std::memcpy(x + off, &one_h, sizeof one_h);
        for (size_t i = offsetof(BlockQ8_0, qs); i < sizeof(BlockQ8_0); ++i)
          x[off + i] = static_cast<uint8_t>(pick({-127, 127}));
      }
    }
  }
  return p;
}

TEST(SimdMatmul, GroupKernelsExactAtIntegerBounds) {
  for (GgmlType wt : {GgmlType::Q4_0, GgmlType::Q8_0, GgmlType::Q6_K}) {
    const Problem p = extreme_problem(wt, 16, 9, 31u);
    for (Isa isa : supported_isas()) {
      for (int64_t n : {int64_t{1}, int64_t{5}, int64_t{9}}) {  // both Q6_K walks, and a chunk
        const std::vector<float> out = run_rows(p, isa, 0, p.rows, 0, n);
        for (int64_t a = 0; a < n; ++a) {
          for (int64_t r = 0; r < p.rows; ++r) {
            float ref = 0.0f;
            type_traits(wt)->vec_dot(p.k, p.w.data() + p.w_stride * static_cast<uint64_t>(r),
                                     p.a.data() + p.a_stride * static_cast<uint64_t>(a), &ref);
            EXPECT_EQ(out[static_cast<size_t>(a * p.rows + r)], ref)
                << testing::type_label(wt) << " isa=" << isa_name(isa) << " n=" << n << " r=" << r
                << " a=" << a;
          }
        }
      }
    }
  }
}

TEST(SimdMatmul, RejectsBadArgumentsWithoutWriting) {
  const Problem p = make_problem(GgmlType::Q4_0, 256, 4, 2, 3u);
  std::vector<float> out(8, 7.0f);
  MatmulArgs a = args_for(p, 0, 4, 2, out.data(), 4);
  EXPECT_TRUE(matmul(a).ok());
  auto expect_error = [&](MatmulArgs bad, const char* what) {
    std::vector<float> o(8, 7.0f);
    if (bad.out != nullptr) bad.out = o.data();
    const Status s = matmul(bad);
    EXPECT_FALSE(s.ok()) << what;
    for (float v : o) EXPECT_EQ(v, 7.0f) << what;
  };
  MatmulArgs bad = a;
  bad.weight_type = GgmlType::Q2_K;
  expect_error(bad, "unsupported type");
  bad = a;
  bad.k = 100;
  expect_error(bad, "k not a multiple");
  bad = a;
  bad.k = 0;
  expect_error(bad, "k zero");
  bad = a;
  bad.row_begin = 3;
  bad.row_end = 1;
  expect_error(bad, "inverted rows");
  bad = a;
  bad.n_act = -1;
  expect_error(bad, "negative n_act");
  bad = a;
  bad.weight_stride = 10;
  expect_error(bad, "small weight stride");
  bad = a;
  bad.out_stride = 2;
  expect_error(bad, "small out stride");
  bad = a;
  bad.act = nullptr;
  expect_error(bad, "null act");
  if (!isa_supported(Isa::kAvx512)) {
    EXPECT_FALSE(matmul(a, Isa::kAvx512).ok());
  }
  // Empty ranges are fine and write nothing.
  bad = a;
  bad.row_end = 0;
  EXPECT_TRUE(matmul(bad).ok());
}

}  // namespace
}  // namespace dari::simd
