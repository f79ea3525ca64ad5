// Paged causal GQA attention against a plain double reference over unpaged K/V.
#include <gtest/gtest.h>

#include <cstring>

#include "backend/op_test_util.h"
#include "dari/tensor/dtype.h"

namespace dari {
namespace {

struct Fixture {
  static constexpr int kHd = 8, kHeads = 4, kKvHeads = 2, kBt = 4, kBlocks = 12;
  static constexpr int kKvDim = kKvHeads * kHd;
  GgmlType type;
  std::vector<std::vector<float>> k, v;  // per sequence [len][kv_dim], rounded to type
  std::vector<std::vector<int32_t>> tables = {{5, 1, 10}, {3, 7}};
  std::vector<uint8_t> kc, vc;

  explicit Fixture(GgmlType t) : type(t) {
    const size_t es = t == GgmlType::F16 ? 2 : 4;
    kc.assign(kBlocks * kBt * kKvDim * es, 0xFF);  // garbage (NaN) outside the written rows
    vc = kc;
    const int lens[2] = {9, 6};
    for (int s = 0; s < 2; ++s) {
      k.push_back(test::random_floats(static_cast<size_t>(lens[s]) * kKvDim, 20 + s));
      v.push_back(test::random_floats(static_cast<size_t>(lens[s]) * kKvDim, 30 + s));
      for (int p = 0; p < lens[s]; ++p) {
        size_t row = static_cast<size_t>(tables[s][p / kBt] * kBt + p % kBt);
        for (int i = 0; i < kKvDim; ++i) {
          float& kk = k[s][p * kKvDim + i];
          float& vv = v[s][p * kKvDim + i];
          if (t == GgmlType::F16) {
            uint16_t hk = fp32_to_fp16(kk), hv = fp32_to_fp16(vv);
            kk = fp16_to_fp32(hk);
            vv = fp16_to_fp32(hv);
            std::memcpy(&kc[(row * kKvDim + i) * 2], &hk, 2);
            std::memcpy(&vc[(row * kKvDim + i) * 2], &hv, 2);
          } else {
            std::memcpy(&kc[(row * kKvDim + i) * 4], &kk, 4);
            std::memcpy(&vc[(row * kKvDim + i) * 4], &vv, 4);
          }
        }
      }
    }
  }
  TensorView kview() { return TensorView::contiguous(kc.data(), type, kKvDim, kBlocks * kBt); }
  // Attention params over both sequences' tables (tabs and counts live in the fixture; the
  // vectors passed in must outlive the params).
  DariAttentionParams params(const std::vector<int32_t>& positions,
                             const std::vector<int32_t>& row_seq, float scale) {
    DariAttentionParams p{};
    p.n_head = kHeads;
    p.n_head_kv = kKvHeads;
    p.block_tokens = kBt;
    p.n_seqs = 2;
    p.scale = scale;
    p.positions = positions.data();
    p.row_seq = row_seq.data();
    p.block_tables = tabs.data();
    p.block_counts = counts.data();
    return p;
  }
  std::vector<const int32_t*> tabs = {tables[0].data(), tables[1].data()};
  std::vector<int32_t> counts = {3, 2};
  TensorView vview() { return TensorView::contiguous(vc.data(), type, kKvDim, kBlocks * kBt); }
};

class CpuAttentionPaths : public ::testing::TestWithParam<bool> {};

// Both the SIMD path (BackendOptions::simd) and the scalar one.
TEST_P(CpuAttentionPaths, PagedGqaMatchesReference) {
  BackendOptions opts;
  opts.simd = GetParam();
  auto be = create_backend("cpu", opts);
  ASSERT_TRUE(be.ok());
  for (GgmlType t : {GgmlType::F32, GgmlType::F16}) {
    Fixture f(t);
    std::vector<int32_t> positions = {6, 0, 7, 5, 8}, row_seq = {0, 1, 0, 1, 0};
    const int m = 5;
    std::vector<float> q = test::random_floats(m * Fixture::kHeads * Fixture::kHd, 40), y(q.size());
    DariAttentionParams p = f.params(positions, row_seq, 1.0f / std::sqrt(8.0f));
    auto qv = test::f32_view(q, Fixture::kHd, Fixture::kHeads, m);
    ASSERT_TRUE((*be)
                    ->attention(qv, f.kview(), f.vview(), p,
                                test::f32_view(y, Fixture::kHd, Fixture::kHeads, m))
                    .ok());
    for (int r = 0; r < m; ++r) {
      const auto& ks = f.k[row_seq[r]];
      const auto& vs = f.v[row_seq[r]];
      for (int h = 0; h < Fixture::kHeads; ++h) {
        const int kvh = h / 2;
        const float* qr = q.data() + (r * Fixture::kHeads + h) * Fixture::kHd;
        std::vector<double> sc;
        double mx = -1e300, z = 0;
        for (int tpos = 0; tpos <= positions[r]; ++tpos) {
          double s = 0;
          for (int d = 0; d < Fixture::kHd; ++d)
            s += double(qr[d]) * ks[tpos * Fixture::kKvDim + kvh * Fixture::kHd + d];
          sc.push_back(s * p.scale);
          mx = std::max(mx, sc.back());
        }
        for (double& s : sc) z += (s = std::exp(s - mx));
        for (int d = 0; d < Fixture::kHd; ++d) {
          double o = 0;
          for (size_t tpos = 0; tpos < sc.size(); ++tpos)
            o += sc[tpos] / z * vs[tpos * Fixture::kKvDim + kvh * Fixture::kHd + d];
          EXPECT_NEAR(y[(r * Fixture::kHeads + h) * Fixture::kHd + d], o, 2e-6) << r << " " << h;
        }
      }
    }
    // Errors: a position past the block table, a block id outside the cache, a bad sequence.
    std::vector<int32_t> far = {12, 0, 7, 5, 8};
    p.positions = far.data();
    Status s = (*be)->attention(qv, f.kview(), f.vview(), p, test::f32_view(y, 8, 4, m));
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.message().find("outside its block table"), std::string::npos) << s.message();
    p.positions = positions.data();
    std::vector<int32_t> bad_table = {5, 1, 12};
    f.tabs[0] = bad_table.data();
    EXPECT_FALSE((*be)->attention(qv, f.kview(), f.vview(), p, test::f32_view(y, 8, 4, m)).ok());
    f.tabs[0] = f.tables[0].data();
    std::vector<int32_t> bad_seq = {0, 2, 0, 1, 0};
    p.row_seq = bad_seq.data();
    EXPECT_FALSE((*be)->attention(qv, f.kview(), f.vview(), p, test::f32_view(y, 8, 4, m)).ok());
  }
}

// The SIMD path groups consecutive rows of a sequence (and the query heads of a KV head) into
// one task. A row computed inside such a group must give the same bits as the row alone.
TEST_P(CpuAttentionPaths, RowsInABatchEqualRowsAlone) {
  BackendOptions opts;
  opts.simd = GetParam();
  auto be = create_backend("cpu", opts);
  ASSERT_TRUE(be.ok());
  for (GgmlType t : {GgmlType::F32, GgmlType::F16}) {
    Fixture f(t);
    // A prefill of sequence 0 (9 rows, runs crossing 3 blocks), then sequence 1 interleaved.
    std::vector<int32_t> positions = {0, 1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 2, 5, 3, 4};
    std::vector<int32_t> row_seq = {0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 0, 1};
    const int m = static_cast<int>(positions.size());
    const int row_floats = Fixture::kHeads * Fixture::kHd;
    std::vector<float> q = test::random_floats(static_cast<size_t>(m * row_floats), 41);
    std::vector<float> y(q.size()), alone(q.size());
    const DariAttentionParams p = f.params(positions, row_seq, 0.3f);
    ASSERT_TRUE((*be)
                    ->attention(test::f32_view(q, Fixture::kHd, Fixture::kHeads, m), f.kview(),
                                f.vview(), p, test::f32_view(y, Fixture::kHd, Fixture::kHeads, m))
                    .ok());
    for (int r = 0; r < m; ++r) {
      std::vector<float> qr(q.begin() + r * row_floats, q.begin() + (r + 1) * row_floats);
      std::vector<float> yr(qr.size());
      DariAttentionParams one = p;
      one.positions = &positions[static_cast<size_t>(r)];
      one.row_seq = &row_seq[static_cast<size_t>(r)];
      ASSERT_TRUE((*be)
                      ->attention(test::f32_view(qr, Fixture::kHd, Fixture::kHeads, 1), f.kview(),
                                  f.vview(), one,
                                  test::f32_view(yr, Fixture::kHd, Fixture::kHeads, 1))
                      .ok());
      std::copy(yr.begin(), yr.end(), alone.begin() + r * row_floats);
    }
    EXPECT_EQ(0, std::memcmp(y.data(), alone.data(), y.size() * sizeof(float)))
        << ggml_type_name(t);
  }
}

INSTANTIATE_TEST_SUITE_P(SimdAndScalar, CpuAttentionPaths, ::testing::Bool(),
                         [](const auto& i) { return std::string(i.param ? "simd" : "scalar"); });

}  // namespace
}  // namespace dari
