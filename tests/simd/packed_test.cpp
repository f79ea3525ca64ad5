// Q4_0x8 (backend/cpu/simd/packed.h): the layout puts each row's bytes where packed.h says; the
// packed matmul gives the same bits on every ISA, the same bits as the unpacked Q4_0 row-group
// kernel where the ISA has one, and stays within the reassociation tolerance of the scalar
// traits; a row's output does not depend on the batch or the group range; bad arguments are
// errors that write nothing.
#include <gtest/gtest.h>

#include <cstring>

#include "backend/cpu/simd/packed.h"
#include "simd/simd_test_util.h"

namespace dari::simd {
namespace {

using testing::bytes_of;

struct Packed {
  int64_t k, rows, n_act;
  uint64_t w_stride, a_stride;
  std::vector<uint8_t> w, a, packed;
};

// Random Q4_0 weights (rows padded by 6 bytes) and Q8_0 activations (padded by 10), packed.
Packed make_packed(int64_t k, int64_t rows, int64_t n_act, uint32_t seed) {
  std::mt19937 rng(seed);
  Packed p{k,  rows, n_act, bytes_of(GgmlType::Q4_0, k) + 6, bytes_of(GgmlType::Q8_0, k) + 10,
           {}, {},   {}};
  p.w.assign(p.w_stride * static_cast<uint64_t>(rows), 0xee);
  p.a.assign(p.a_stride * static_cast<uint64_t>(n_act), 0xee);
  for (int64_t r = 0; r < rows; ++r) {
    const auto row = testing::random_bytes_row(GgmlType::Q4_0, rng, k);
    std::memcpy(p.w.data() + p.w_stride * static_cast<uint64_t>(r), row.data(), row.size());
  }
  for (int64_t r = 0; r < n_act; ++r) {
    const auto row = testing::quantized_row(GgmlType::Q8_0, rng, k, 1.0f);
    std::memcpy(p.a.data() + p.a_stride * static_cast<uint64_t>(r), row.data(), row.size());
  }
  p.packed.assign(*q4_0x8_bytes(rows, k), 0);
  RepackArgs ra;
  ra.k = k;
  ra.src = p.w.data();
  ra.src_stride = p.w_stride;
  ra.group_end = rows / kPackGroupRows;
  ra.dst = p.packed.data();
  EXPECT_TRUE(repack_q4_0x8(ra).ok());
  return p;
}

PackedMatmulArgs args_for(const Packed& p, int64_t g0, int64_t g1, int64_t n_act, float* out,
                          int64_t out_stride) {
  PackedMatmulArgs a;
  a.k = p.k;
  a.packed = p.packed.data();
  a.group_begin = g0;
  a.group_end = g1;
  a.act = p.a.data();
  a.act_stride = p.a_stride;
  a.n_act = n_act;
  a.out = out;
  a.out_stride = out_stride;
  return a;
}

std::vector<float> run_packed(const Packed& p, Isa isa) {
  std::vector<float> out(static_cast<size_t>(p.rows * p.n_act), -1.0f);
  EXPECT_TRUE(matmul_q4_0x8(args_for(p, 0, p.rows / 8, p.n_act, out.data(), p.rows), isa).ok());
  return out;
}

TEST(SimdPacked, LayoutPutsScalesAndNibblesInRegisterOrder) {
  const Packed p = make_packed(64, 16, 1, 5);
  const uint64_t nb = 2;
  // Group 1 (rows 8-15), block 1: row 8 + 6 has its scale at bytes 12-13 and its qs[4c..4c+3]
  // in the 32-byte register c (from byte 16 + 32c), lane 6.
  const uint8_t* blk = p.packed.data() + (1 * nb + 1) * kPackBlockBytes;
  const uint8_t* src = p.w.data() + p.w_stride * 14 + sizeof(BlockQ4_0);
  EXPECT_EQ(std::memcmp(blk + 2 * 6, src, 2), 0);
  for (int c = 0; c < 4; ++c) {
    EXPECT_EQ(std::memcmp(blk + 16 + 32 * c + 4 * 6, src + 2 + 4 * c, 4), 0) << c;
  }
  EXPECT_EQ(p.packed.size(), 16 * bytes_of(GgmlType::Q4_0, 64));
}

TEST(SimdPacked, SameBitsOnEveryIsaAndAsTheGroupKernelNearTheScalar) {
  for (int64_t k : {32, 256, 1280}) {
    const Packed p = make_packed(k, 24, 11, 40u + static_cast<uint32_t>(k));
    const std::vector<float> generic = run_packed(p, Isa::kGeneric);
    for (Isa isa : supported_isas()) {
      EXPECT_EQ(run_packed(p, isa), generic) << isa_name(isa) << " k=" << k;
      if (isa != Isa::kAvx2 || !group_kernels_enabled()) continue;
      // Whole aligned groups of the unpacked matrix run through the Q4_0 group kernel.
      std::vector<float> unpacked(generic.size(), -2.0f);
      MatmulArgs ma;
      ma.weight_type = GgmlType::Q4_0;
      ma.k = k;
      ma.weights = p.w.data();
      ma.weight_stride = p.w_stride;
      ma.row_end = p.rows;
      ma.act = p.a.data();
      ma.act_stride = p.a_stride;
      ma.n_act = p.n_act;
      ma.out = unpacked.data();
      ma.out_stride = p.rows;
      ASSERT_TRUE(matmul(ma, isa).ok());
      EXPECT_EQ(unpacked, generic) << isa_name(isa) << " k=" << k;
    }
    for (int64_t a = 0; a < p.n_act; ++a) {
      for (int64_t r = 0; r < p.rows; ++r) {
        const auto wr = std::vector<uint8_t>(
            p.w.begin() + static_cast<int64_t>(p.w_stride) * r,
            p.w.begin() + static_cast<int64_t>(p.w_stride * r + bytes_of(GgmlType::Q4_0, k)));
        const auto xr = std::vector<uint8_t>(
            p.a.begin() + static_cast<int64_t>(p.a_stride) * a,
            p.a.begin() + static_cast<int64_t>(p.a_stride * a + bytes_of(GgmlType::Q8_0, k)));
        float ref = 0.0f;
        type_traits(GgmlType::Q4_0)->vec_dot(k, wr.data(), xr.data(), &ref);
        EXPECT_NEAR(generic[static_cast<size_t>(a * p.rows + r)], ref,
                    testing::dot_tolerance(GgmlType::Q4_0, k, wr, xr))
            << "k=" << k << " r=" << r << " a=" << a;
      }
    }
  }
}

// Any activation row alone, or any group range, gives the bits of the whole call.
TEST(SimdPacked, BatchAndGroupRangeInvariance) {
  const Packed p = make_packed(512, 40, 19, 77);
  for (Isa isa : supported_isas()) {
    const std::vector<float> whole = run_packed(p, isa);
    for (int64_t a : {0, 7, 8, 18}) {
      Packed one = p;
      one.a.assign(p.a.begin() + static_cast<int64_t>(p.a_stride) * a,
                   p.a.begin() + static_cast<int64_t>(p.a_stride) * (a + 1));
      one.n_act = 1;
      const std::vector<float> alone = run_packed(one, isa);
      for (int64_t r = 0; r < p.rows; ++r) {
        EXPECT_EQ(alone[static_cast<size_t>(r)], whole[static_cast<size_t>(a * p.rows + r)]);
      }
    }
    std::vector<float> split(whole.size(), -1.0f);
    for (auto [g0, g1] : {std::pair<int64_t, int64_t>{0, 2}, {2, 3}, {3, 5}}) {
      ASSERT_TRUE(matmul_q4_0x8(args_for(p, g0, g1, p.n_act, split.data(), p.rows), isa).ok());
    }
    EXPECT_EQ(split, whole) << isa_name(isa);
  }
}

TEST(SimdPacked, BadArgumentsAreErrorsAndWriteNothing) {
  EXPECT_FALSE(q4_0x8_bytes(12, 64).has_value());  // rows not a multiple of 8
  EXPECT_FALSE(q4_0x8_bytes(8, 48).has_value());   // k not a multiple of 32
  EXPECT_FALSE(q4_0x8_bytes(0, 64).has_value());
  EXPECT_FALSE(q4_0x8_bytes(int64_t{1} << 60, int64_t{1} << 40).has_value());  // overflow
  const Packed p = make_packed(64, 16, 2, 3);
  std::vector<float> out(64, -1.0f);
  auto expect_rejected = [&](PackedMatmulArgs a, const char* what) {
    const Status st = matmul_q4_0x8(a);
    EXPECT_FALSE(st.ok()) << what;
    EXPECT_NE(st.message().find("matmul_q4_0x8"), std::string::npos) << st.message();
    for (float f : out) ASSERT_EQ(f, -1.0f) << what;
  };
  PackedMatmulArgs a = args_for(p, 0, 2, 2, out.data(), 16);
  a.k = 48;
  expect_rejected(a, "k");
  a = args_for(p, 2, 1, 2, out.data(), 16);
  expect_rejected(a, "inverted range");
  a = args_for(p, -1, 1, 2, out.data(), 16);
  expect_rejected(a, "negative group");
  a = args_for(p, 0, 2, -1, out.data(), 16);
  expect_rejected(a, "negative n_act");
  a = args_for(p, 0, 2, 2, out.data(), 15);
  expect_rejected(a, "short out_stride");
  a = args_for(p, 0, 2, 2, out.data(), 16);
  a.act_stride = bytes_of(GgmlType::Q8_0, 64) - 1;
  expect_rejected(a, "short act_stride");
  a = args_for(p, 0, 2, 2, out.data(), 16);
  a.packed = nullptr;
  expect_rejected(a, "null weights");
  a = args_for(p, 0, int64_t{1} << 61, 2, out.data(), 16);
  expect_rejected(a, "overflowing range");
  RepackArgs ra;
  ra.k = 64;
  ra.src = p.w.data();
  ra.src_stride = bytes_of(GgmlType::Q4_0, 64) - 1;
  ra.group_end = 2;
  std::vector<uint8_t> dst(p.packed.size(), 0xab);
  ra.dst = dst.data();
  EXPECT_FALSE(repack_q4_0x8(ra).ok());
  for (uint8_t b : dst) ASSERT_EQ(b, 0xab);
}

}  // namespace
}  // namespace dari::simd
