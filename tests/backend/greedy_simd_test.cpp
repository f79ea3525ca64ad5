// Greedy decoding through a whole model with the SIMD kernels (matmul and attention) against
// the scalar reference path (BackendOptions::simd = false), for every weight type with SIMD
// kernels: the same greedy tokens, and logits within a tolerance of the row scale (teacher-forced
// on the reference's tokens so both paths see one sequence).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "backend/cpu/simd/simd_kernels.h"
#include "dari/backend/backend.h"
#include "dari/kv/kv_cache.h"
#include "dari/model/model.h"
#include "model/synthetic.h"

namespace dari {
namespace {

void register_scalar_cpu() {
  static const bool once = [] {
    register_backend("cpu-scalar-ref", [](const BackendOptions& o) {
      BackendOptions c = o;
      c.simd = false;
      return create_backend("cpu", c);
    });
    return true;
  }();
  (void)once;
}

std::unique_ptr<Model> load(const std::string& path, const char* backend, bool repack = true) {
  ModelLoadOptions o;
  o.backend = backend;
  o.n_threads = 2;
  o.repack = repack;
  auto m = Model::load(path, o);
  EXPECT_TRUE(m.ok()) << m.message();
  return m.ok() ? std::move(m).value() : nullptr;
}

// Feeds `prompt` as one prefill batch, then `steps` single-token steps, each the argmax of the
// previous logits (greedy). If `forced` is non-empty, those tokens are fed instead of the
// argmax (teacher forcing, to compare logits on one token sequence). Returns every logits row.
struct GreedyRun {
  std::vector<int32_t> tokens;           // the generated tokens
  std::vector<std::vector<float>> rows;  // logits per step (last prompt row first)
};
GreedyRun greedy(Model& m, const std::vector<int32_t>& prompt, int steps,
                 const std::vector<int32_t>& forced) {
  GreedyRun r;
  auto kv = KvCache::create(
      m.kv_options(static_cast<uint32_t>(prompt.size()) + steps + 1, GgmlType::F16));
  EXPECT_TRUE(kv.ok());
  if (!kv.ok()) return r;
  const SeqId s = kv->add_sequence();
  std::vector<int32_t> feed = prompt;
  const size_t nv = m.config().n_vocab;
  for (int step = 0; step <= steps; ++step) {
    ForwardBatch b;
    const int32_t base = static_cast<int32_t>(kv->length(s));
    for (size_t i = 0; i < feed.size(); ++i) {
      b.tokens.push_back(feed[i]);
      b.positions.push_back(base + static_cast<int32_t>(i));
      b.seq_ids.push_back(s);
      b.need_logits.push_back(i + 1 == feed.size() ? 1 : 0);
    }
    EXPECT_TRUE(kv->reserve(s, static_cast<uint32_t>(feed.size())).ok());
    std::vector<float> logits;
    const Status st = m.forward(b, *kv, &logits);
    EXPECT_TRUE(st.ok()) << st.message();
    if (!st.ok() || logits.size() != nv) return r;
    kv->commit(s, static_cast<uint32_t>(feed.size()));
    r.rows.push_back(logits);
    const int32_t next =
        static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    r.tokens.push_back(next);
    feed = {forced.empty() ? next : forced[static_cast<size_t>(step)]};
  }
  return r;
}

class GreedySimd : public ::testing::TestWithParam<GgmlType> {};

TEST_P(GreedySimd, SameTokensAsScalarPath) {
  register_scalar_cpu();
  test::SynthSpec spec;
  spec.wtype = GetParam();
  spec.n_embd = 256;  // k-quant rows are multiples of 256
  spec.n_ff = 512;
  spec.n_head = 4;
  spec.n_head_kv = 2;
  spec.n_vocab = 128;
  spec.seed = 5;
  const std::string path =
      test::temp_model_path(std::string("greedy_simd_") + std::string(ggml_type_name(spec.wtype)));
  ASSERT_TRUE(test::write_synthetic(spec, path).ok());
  auto simd_model = load(path, "cpu");
  auto ref_model = load(path, "cpu-scalar-ref");
  ASSERT_TRUE(simd_model && ref_model);
  const std::vector<int32_t> prompt = {3, 17, 99, 42, 5, 64, 7, 120, 33};
  constexpr int kSteps = 12;
  const GreedyRun ref = greedy(*ref_model, prompt, kSteps, {});
  const GreedyRun got = greedy(*simd_model, prompt, kSteps, ref.tokens);  // same token sequence
  ASSERT_EQ(ref.rows.size(), got.rows.size());
  // Both paths round activations to the weights' vec_dot type before each matmul. A last-bit
  // difference upstream (fp32 summation order, the polynomial exp; each matmul output here is
  // within ~1e-7 of the scalar one) can flip one element's rounding there: a jump of one
  // activation step, 2^-11 (F16) or 2^-8 (BF16) relative, or one Q8 step (1/127 of the block's
  // largest value) for the quantised types, which later layers carry on. Tolerance: four such
  // steps of the row scale; F32 activations are not rounded, so 1e-4 there (fp32 order only).
  const double tol = spec.wtype == GgmlType::F32    ? 1e-4
                     : spec.wtype == GgmlType::F16  ? 4.0 / 2048
                     : spec.wtype == GgmlType::BF16 ? 4.0 / 256
                                                    : 4.0 / 127;
  double worst = 0.0;
  int same = 0, decided = 0;
  size_t first_undecided = ref.rows.size();
  for (size_t i = 0; i < ref.rows.size(); ++i) {
    const std::vector<float>& a = ref.rows[i];
    const std::vector<float>& b = got.rows[i];
    double scale = 1e-12, err = 0.0;
    for (size_t j = 0; j < a.size(); ++j) {
      scale = std::max(scale, std::fabs(static_cast<double>(a[j])));
      err = std::max(err, std::fabs(static_cast<double>(a[j]) - b[j]));
    }
    // Activation rounding to Q8 is shared by both paths; what differs is fp32 summation order
    // and the polynomial exp: 1e-4 of the row scale is far above that and far below a real bug.
    EXPECT_LE(err, tol * scale) << ggml_type_name(spec.wtype) << " step " << i;
    worst = std::max(worst, err / scale);
    // The greedy token must agree unless the reference's top two are closer than the tolerance.
    std::vector<float> sorted = a;
    std::partial_sort(sorted.begin(), sorted.begin() + 2, sorted.end(), std::greater<float>());
    const int32_t ta = static_cast<int32_t>(std::max_element(a.begin(), a.end()) - a.begin());
    const int32_t tb = static_cast<int32_t>(std::max_element(b.begin(), b.end()) - b.begin());
    if (sorted[0] - sorted[1] > 2.0 * tol * scale) {
      ++decided;
      EXPECT_EQ(ta, tb) << ggml_type_name(spec.wtype) << " step " << i;
    } else {
      first_undecided = std::min(first_undecided, i);
    }
    same += ta == tb ? 1 : 0;
  }
  std::printf(
      "%-5s greedy tokens equal %d/%zu (%d with a clear margin), worst logit error %.3g of "
      "the row scale\n",
      std::string(ggml_type_name(spec.wtype)).c_str(), same, ref.rows.size(), decided, worst);
  // Free-running greedy on the SIMD path gives the reference's tokens up to and including the
  // first step whose margin is too thin to decide (after it the two runs may part ways).
  const std::vector<int32_t> free_run = greedy(*simd_model, prompt, kSteps, {}).tokens;
  ASSERT_EQ(free_run.size(), ref.tokens.size());
  const size_t n_cmp = std::min(first_undecided + 1, ref.tokens.size());
  EXPECT_TRUE(std::equal(free_run.begin(), free_run.begin() + static_cast<std::ptrdiff_t>(n_cmp),
                         ref.tokens.begin()))
      << ggml_type_name(spec.wtype);
}

// Q4_0, Q4_K and Q5_K matrices repacked at load (the default) give the logits of the same model
// read as stored: bit for bit where the unpacked path runs the packed kernels' arithmetic (Q4_0:
// the AVX2 row-group kernel; Q4_K, Q5_K: any SIMD ISA's row kernels), within fp32 reordering
// elsewhere.
class GreedySimdRepack : public ::testing::TestWithParam<GgmlType> {};

TEST_P(GreedySimdRepack, RepackedGivesTheStoredLayoutsLogits) {
  test::SynthSpec spec;
  spec.wtype = GetParam();
  spec.n_embd = 256;
  spec.n_ff = 512;
  spec.n_head = 4;
  spec.n_head_kv = 2;
  spec.n_vocab = 128;
  spec.seed = 9;
  const std::string path =
      test::temp_model_path("greedy_simd_repack_" + std::string(ggml_type_name(spec.wtype)));
  ASSERT_TRUE(test::write_synthetic(spec, path).ok());
  auto packed = load(path, "cpu", true);
  auto stored = load(path, "cpu", false);
  ASSERT_TRUE(packed && stored);
  const std::vector<int32_t> prompt = {3, 17, 99, 42, 5, 64, 7, 120, 33};
  const GreedyRun a = greedy(*stored, prompt, 8, {});
  const GreedyRun b = greedy(*packed, prompt, 8, a.tokens);
  ASSERT_EQ(a.rows.size(), b.rows.size());
  const bool same_arithmetic =
      spec.wtype == GgmlType::Q4_K || spec.wtype == GgmlType::Q5_K
          ? simd::active_isa() != simd::Isa::kGeneric
          : simd::active_isa() == simd::Isa::kAvx2 && simd::group_kernels_enabled();
  for (size_t i = 0; i < a.rows.size(); ++i) {
    if (same_arithmetic) {
      EXPECT_EQ(a.rows[i], b.rows[i]) << "step " << i;
    } else {
      for (size_t j = 0; j < a.rows[i].size(); ++j) {
        EXPECT_NEAR(a.rows[i][j], b.rows[i][j], 1e-3 * (1.0 + std::fabs(a.rows[i][j])));
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(PackedTypes, GreedySimdRepack,
                         ::testing::Values(GgmlType::Q4_0, GgmlType::Q4_K, GgmlType::Q5_K),
                         [](const auto& i) { return std::string(ggml_type_name(i.param)); });

INSTANTIATE_TEST_SUITE_P(SimdTypes, GreedySimd,
                         ::testing::Values(GgmlType::F32, GgmlType::F16, GgmlType::BF16,
                                           GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::Q4_K,
                                           GgmlType::Q5_K, GgmlType::Q6_K),
                         [](const auto& i) { return std::string(ggml_type_name(i.param)); });

}  // namespace
}  // namespace dari
