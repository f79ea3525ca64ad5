// Q4_0x8, Q4_Kx8 and Q5_Kx8 (backend/cpu/simd/packed.h): the layouts put each row's bytes where
// packed.h says; the packed matmuls give the same bits on every ISA and as the unpacked SIMD
// kernels (Q4_0: the row-group kernel where the ISA has one; Q4_K, Q5_K: the AVX2 row kernels),
// and
// stay within the reassociation tolerance of the scalar traits; a row's output does not depend
// on the batch or the group range; bad arguments are errors that write nothing.
#include <gtest/gtest.h>

#include <cstring>
#include <ostream>

#include "backend/cpu/simd/packed.h"
#include "simd/simd_test_util.h"

namespace dari::simd {
namespace {

using testing::bytes_of;

// One packed format: its weight and activation types and entry points.
struct Format {
  GgmlType weight, act;
  const char* name;
  std::optional<uint64_t> (*bytes)(int64_t rows, int64_t k);
  Status (*repack)(const RepackArgs&);
  Status (*matmul)(const PackedMatmulArgs&, Isa);
  Status (*matmul_active)(const PackedMatmulArgs&);
};
void PrintTo(const Format& f, std::ostream* os) {
  *os << f.name;
}
const Format kQ4_0x8{GgmlType::Q4_0,
                     GgmlType::Q8_0,
                     "matmul_q4_0x8",
                     q4_0x8_bytes,
                     repack_q4_0x8,
                     static_cast<Status (*)(const PackedMatmulArgs&, Isa)>(matmul_q4_0x8),
                     static_cast<Status (*)(const PackedMatmulArgs&)>(matmul_q4_0x8)};
const Format kQ4_Kx8{GgmlType::Q4_K,
                     GgmlType::Q8_K,
                     "matmul_q4_kx8",
                     q4_kx8_bytes,
                     repack_q4_kx8,
                     static_cast<Status (*)(const PackedMatmulArgs&, Isa)>(matmul_q4_kx8),
                     static_cast<Status (*)(const PackedMatmulArgs&)>(matmul_q4_kx8)};
const Format kQ5_Kx8{GgmlType::Q5_K,
                     GgmlType::Q8_K,
                     "matmul_q5_kx8",
                     q5_kx8_bytes,
                     repack_q5_kx8,
                     static_cast<Status (*)(const PackedMatmulArgs&, Isa)>(matmul_q5_kx8),
                     static_cast<Status (*)(const PackedMatmulArgs&)>(matmul_q5_kx8)};

struct Packed {
  Format f;
  int64_t k, rows, n_act;
  uint64_t w_stride, a_stride;
  std::vector<uint8_t> w, a, packed;
};

// Random weights (rows padded by 6 bytes) and activations (padded by 10), packed.
Packed make_packed(const Format& f, int64_t k, int64_t rows, int64_t n_act, uint32_t seed) {
  std::mt19937 rng(seed);
  Packed p{f, k, rows, n_act, bytes_of(f.weight, k) + 6, bytes_of(f.act, k) + 10, {}, {}, {}};
  p.w.assign(p.w_stride * static_cast<uint64_t>(rows), 0xee);
  p.a.assign(p.a_stride * static_cast<uint64_t>(n_act), 0xee);
  for (int64_t r = 0; r < rows; ++r) {
    const auto row = testing::random_bytes_row(f.weight, rng, k);
    std::memcpy(p.w.data() + p.w_stride * static_cast<uint64_t>(r), row.data(), row.size());
  }
  for (int64_t r = 0; r < n_act; ++r) {
    const auto row = testing::quantized_row(f.act, rng, k, 1.0f);
    std::memcpy(p.a.data() + p.a_stride * static_cast<uint64_t>(r), row.data(), row.size());
  }
  p.packed.assign(*f.bytes(rows, k), 0);
  RepackArgs ra;
  ra.k = k;
  ra.src = p.w.data();
  ra.src_stride = p.w_stride;
  ra.group_end = rows / kPackGroupRows;
  ra.dst = p.packed.data();
  EXPECT_TRUE(f.repack(ra).ok());
  return p;
}
Packed make_packed(int64_t k, int64_t rows, int64_t n_act, uint32_t seed) {
  return make_packed(kQ4_0x8, k, rows, n_act, seed);
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
  EXPECT_TRUE(p.f.matmul(args_for(p, 0, p.rows / 8, p.n_act, out.data(), p.rows), isa).ok());
  return out;
}

// The unpacked weights through simd::matmul on `isa`.
std::vector<float> run_unpacked(const Packed& p, Isa isa) {
  std::vector<float> out(static_cast<size_t>(p.rows * p.n_act), -2.0f);
  MatmulArgs ma;
  ma.weight_type = p.f.weight;
  ma.k = p.k;
  ma.weights = p.w.data();
  ma.weight_stride = p.w_stride;
  ma.row_end = p.rows;
  ma.act = p.a.data();
  ma.act_stride = p.a_stride;
  ma.n_act = p.n_act;
  ma.out = out.data();
  ma.out_stride = p.rows;
  EXPECT_TRUE(matmul(ma, isa).ok());
  return out;
}

class SimdPackedFormats : public ::testing::TestWithParam<Format> {};

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
      const std::vector<float> unpacked = run_unpacked(p, isa);
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

// Q4_Kx8 and Q5_Kx8: the same bits on every ISA and as the AVX2 row kernels on the unpacked
// matrix (the same integer sums and fused float formula, in order), and within the
// reassociation tolerance of the scalar traits (which round both products).
class SimdPackedK : public ::testing::TestWithParam<Format> {};

TEST_P(SimdPackedK, SameBitsAsTheAvx2RowKernelsNearTheScalar) {
  const Format& f = GetParam();
  for (int64_t k : {256, 1280}) {
    const Packed p = make_packed(f, k, 24, 11, 50u + static_cast<uint32_t>(k));
    const std::vector<float> generic = run_packed(p, Isa::kGeneric);
    for (Isa isa : supported_isas()) {
      EXPECT_EQ(run_packed(p, isa), generic) << isa_name(isa) << " k=" << k;
      if (isa != Isa::kGeneric) {
        EXPECT_EQ(run_unpacked(p, isa), generic) << isa_name(isa);
      }
    }
    for (int64_t a = 0; a < p.n_act; ++a) {
      for (int64_t r = 0; r < p.rows; ++r) {
        const auto wr = std::vector<uint8_t>(
            p.w.begin() + static_cast<int64_t>(p.w_stride) * r,
            p.w.begin() + static_cast<int64_t>(p.w_stride * r + bytes_of(f.weight, k)));
        const auto xr = std::vector<uint8_t>(
            p.a.begin() + static_cast<int64_t>(p.a_stride) * a,
            p.a.begin() + static_cast<int64_t>(p.a_stride * a + bytes_of(GgmlType::Q8_K, k)));
        float ref = 0.0f;
        type_traits(f.weight)->vec_dot(k, wr.data(), xr.data(), &ref);
        EXPECT_NEAR(generic[static_cast<size_t>(a * p.rows + r)], ref,
                    testing::dot_tolerance(f.weight, k, wr, xr))
            << "k=" << k << " r=" << r << " a=" << a;
      }
    }
  }
}

// The K-quant layouts: d, dmin, the scale words and the nibbles in register order (Q4_K and Q5_K
// share these offsets), then Q5_K's qh words; the copy is the size of the rows.
TEST_P(SimdPackedK, LayoutPutsEachFieldInRegisterOrder) {
  const Format& f = GetParam();
  const bool q5 = f.weight == GgmlType::Q5_K;
  const Packed p = make_packed(f, 512, 16, 1, 6);
  const uint64_t nsb = 2, block = q5 ? kPackK5BlockBytes : kPackKBlockBytes;
  const uint64_t row_block = bytes_of(f.weight, kQK_K);
  const size_t qs = q5 ? offsetof(BlockQ5_K, qs) : offsetof(BlockQ4_K, qs);
  // Group 1 (rows 8-15), super-block 1, row 8 + 5.
  const uint8_t* blk = p.packed.data() + (1 * nsb + 1) * block;
  const uint8_t* src = p.w.data() + p.w_stride * 13 + row_block;
  EXPECT_EQ(std::memcmp(blk + 2 * 5, src + offsetof(BlockQ4_K, d), 2), 0);
  EXPECT_EQ(std::memcmp(blk + 16 + 2 * 5, src + offsetof(BlockQ4_K, dmin), 2), 0);
  for (int i = 0; i < 3; ++i) {  // word i of the 12 scale bytes in register i, lane 5
    EXPECT_EQ(std::memcmp(blk + 32 + 32 * i + 4 * 5, src + offsetof(BlockQ4_K, scales) + 4 * i, 4),
              0)
        << i;
  }
  for (int j = 0; j < 8; ++j) {
    for (int c = 0; c < 4; ++c) {
      EXPECT_EQ(std::memcmp(blk + 128 + 256 * c + 32 * j + 4 * 5, src + qs + 32 * c + 4 * j, 4), 0)
          << c << " " << j;
    }
    if (q5) {
      EXPECT_EQ(std::memcmp(blk + kPackK5QhOffset + 32 * j + 4 * 5,
                            src + offsetof(BlockQ5_K, qh) + 4 * j, 4),
                0)
          << j;
    }
  }
  EXPECT_EQ(p.packed.size(), 16 * bytes_of(f.weight, 512));  // the size of the rows
}

// The largest 5-bit code against the extreme activations: the int16 sums the Q5_Kx8 kernel adds
// (4 maddubs per lane and half) reach 4 * 2 * 31 * -128 = -31744, near the bound, so an overflow
// or a lost high bit would show. Unit scales and no mins keep every result an exact integer.
TEST(SimdPacked, Q5KExactAtTheInt16Bounds) {
  const int64_t k = 256, rows = 8;
  Packed p = make_packed(kQ5_Kx8, k, rows, 2, 12);
  // Rows are padded (unaligned): build each block locally and copy it in.
  for (int64_t r = 0; r < rows; ++r) {
    BlockQ5_K b{};
    b.d = fp32_to_fp16(1.0f);
    b.dmin = fp32_to_fp16(0.0f);  // and every min code 0: scales[4..7], scales[8..11] >> 4
    for (int s = 0; s < 4; ++s) b.scales[s] = 1;      // scales of sub-blocks 0..3
    for (int s = 0; s < 4; ++s) b.scales[8 + s] = 1;  // and of 4..7 (low nibble)
    std::memset(b.qs, r % 2 == 0 ? 0xff : 0x5a, sizeof b.qs);
    std::memset(b.qh, r % 3 == 0 ? 0xff : 0xa5, sizeof b.qh);
    std::memcpy(p.w.data() + p.w_stride * static_cast<uint64_t>(r), &b, sizeof b);
  }
  for (int64_t a = 0; a < p.n_act; ++a) {
    BlockQ8_K x{};
    x.d = 1.0f;
    for (int i = 0; i < kQK_K; ++i) {
      x.qs[i] = static_cast<int8_t>(a == 0 || i % 2 == 0 ? -128 : 127);
    }
    for (int s = 0; s < kQK_K / 16; ++s) {
      int sum = 0;
      for (int i = 0; i < 16; ++i) sum += x.qs[16 * s + i];
      x.bsums[s] = static_cast<int16_t>(sum);
    }
    std::memcpy(p.a.data() + p.a_stride * static_cast<uint64_t>(a), &x, sizeof x);
  }
  RepackArgs ra;
  ra.k = k;
  ra.src = p.w.data();
  ra.src_stride = p.w_stride;
  ra.group_end = 1;
  ra.dst = p.packed.data();
  ASSERT_TRUE(repack_q5_kx8(ra).ok());
  for (Isa isa : supported_isas()) {
    const std::vector<float> out = run_packed(p, isa);
    for (int64_t a = 0; a < p.n_act; ++a) {
      for (int64_t r = 0; r < rows; ++r) {
        float ref = 0.0f;
        type_traits(GgmlType::Q5_K)
            ->vec_dot(k, p.w.data() + p.w_stride * static_cast<uint64_t>(r),
                      p.a.data() + p.a_stride * static_cast<uint64_t>(a), &ref);
        EXPECT_EQ(out[static_cast<size_t>(a * rows + r)], ref)
            << isa_name(isa) << " r=" << r << " a=" << a;
      }
    }
  }
}

// Any activation row alone, or any group range, gives the bits of the whole call.
TEST_P(SimdPackedFormats, BatchAndGroupRangeInvariance) {
  const Packed p = make_packed(GetParam(), 512, 40, 19, 77);
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
      ASSERT_TRUE(p.f.matmul(args_for(p, g0, g1, p.n_act, split.data(), p.rows), isa).ok());
    }
    EXPECT_EQ(split, whole) << isa_name(isa);
  }
}

TEST_P(SimdPackedFormats, BadArgumentsAreErrorsAndWriteNothing) {
  const Format& f = GetParam();
  const int64_t kb = type_traits(f.weight)->block_elems;  // 32 or 256
  EXPECT_FALSE(f.bytes(12, 2 * kb).has_value());          // rows not a multiple of 8
  EXPECT_FALSE(f.bytes(8, kb + 16).has_value());          // k not a multiple of the block
  EXPECT_FALSE(f.bytes(0, 2 * kb).has_value());
  EXPECT_FALSE(f.bytes(int64_t{1} << 60, int64_t{1} << 40).has_value());  // overflow
  const int64_t k = 2 * kb;
  const Packed p = make_packed(f, k, 16, 2, 3);
  std::vector<float> out(64, -1.0f);
  auto expect_rejected = [&](PackedMatmulArgs a, const char* what) {
    const Status st = f.matmul_active(a);
    EXPECT_FALSE(st.ok()) << what;
    EXPECT_NE(st.message().find(f.name), std::string::npos) << st.message();
    for (float x : out) ASSERT_EQ(x, -1.0f) << what;
  };
  PackedMatmulArgs a = args_for(p, 0, 2, 2, out.data(), 16);
  a.k = k - 16;
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
  a.act_stride = bytes_of(f.act, k) - 1;
  expect_rejected(a, "short act_stride");
  a = args_for(p, 0, 2, 2, out.data(), 16);
  a.packed = nullptr;
  expect_rejected(a, "null weights");
  a = args_for(p, 0, int64_t{1} << 61, 2, out.data(), 16);
  expect_rejected(a, "overflowing range");
  RepackArgs ra;
  ra.k = k;
  ra.src = p.w.data();
  ra.src_stride = bytes_of(f.weight, k) - 1;
  ra.group_end = 2;
  std::vector<uint8_t> dst(p.packed.size(), 0xab);
  ra.dst = dst.data();
  EXPECT_FALSE(f.repack(ra).ok());
  for (uint8_t b : dst) ASSERT_EQ(b, 0xab);
}

INSTANTIATE_TEST_SUITE_P(Formats, SimdPackedFormats, ::testing::Values(kQ4_0x8, kQ4_Kx8, kQ5_Kx8),
                         [](const auto& i) { return std::string(i.param.name); });
INSTANTIATE_TEST_SUITE_P(KQuants, SimdPackedK, ::testing::Values(kQ4_Kx8, kQ5_Kx8),
                         [](const auto& i) { return std::string(i.param.name); });

}  // namespace
}  // namespace dari::simd
