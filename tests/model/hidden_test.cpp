// The hidden-state output of the forward pass (ForwardBatch::need_hidden, Model::forward_hidden):
// the final hidden state after the output norm, the vector the output projection reads.
//  - times the output matrix it gives the logits the normal path computes for that row;
//  - asking for it leaves the logits bit-identical, and it does not depend on the rest of the
//    batch or on how the prompt is chunked;
//  - on the simulated device (whole and split with -ngl) it is bit-identical to the CPU's, and
//    only the requested rows come down.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "dari/io/gguf.h"
#include "dari/tensor/dtype.h"
#include "model/device_test_util.h"

namespace dari {
namespace {

const std::vector<int32_t> kPrompt = {1, 5, 9, 13, 2, 7, 11, 3, 8};

// One forward over `tokens` for a fresh sequence, every row wanting logits (if `logits`) and the
// hidden state.
Status run_all(Model& m, KvCache& kv, const std::vector<int32_t>& tokens, bool want_logits,
               std::vector<float>* logits, std::vector<float>* hidden) {
  const SeqId s = kv.add_sequence();
  ForwardBatch b;
  for (size_t i = 0; i < tokens.size(); ++i) {
    b.tokens.push_back(tokens[i] % static_cast<int32_t>(m.config().n_vocab));
    b.positions.push_back(static_cast<int32_t>(i));
    b.seq_ids.push_back(s);
    b.need_logits.push_back(want_logits ? 1 : 0);
    b.need_hidden.push_back(1);
  }
  DARI_TRY(kv.reserve(s, static_cast<uint32_t>(tokens.size())));
  DARI_TRY(m.forward_hidden(b, kv, logits, hidden));
  kv.commit(s, static_cast<uint32_t>(tokens.size()));
  return Status::Ok();
}

bool bit_equal(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

class HiddenStateTest : public ::testing::TestWithParam<test::DeviceCase> {
 protected:
  void SetUp() override {
    test::register_fake_device();
    path_ = test::case_path(GetParam());
    ASSERT_FALSE(path_.empty());
  }
  std::string path_;
};

// hidden · output row v == logits[v] for every row and every vocabulary entry: the hidden state
// is exactly the vector the output projection reads.
TEST_P(HiddenStateTest, TimesOutputMatrixIsLogits) {
  auto m = test::load_model(path_, "cpu");
  ASSERT_TRUE(m.ok()) << m.message();
  const ModelConfig& cfg = (*m)->config();
  auto kv = KvCache::create((*m)->kv_options(64));
  ASSERT_TRUE(kv.ok()) << kv.message();
  std::vector<float> logits, hidden;
  ASSERT_TRUE(run_all(**m, *kv, kPrompt, true, &logits, &hidden).ok());
  const size_t rows = kPrompt.size(), e = cfg.n_embd, nv = cfg.n_vocab;
  ASSERT_EQ(hidden.size(), rows * e);
  ASSERT_EQ(logits.size(), rows * nv);

  // The output matrix from an independent mapping of the file, in float.
  auto file = GgufFile::open(path_);
  ASSERT_TRUE(file.ok()) << file.message();
  const GgufTensorInfo* w =
      file->find_tensor(cfg.tied_output ? "token_embd.weight" : "output.weight");
  ASSERT_NE(w, nullptr);
  ASSERT_EQ(w->ne[0], e);
  ASSERT_EQ(w->ne[1], nv);
  const TypeTraits* tt = type_traits(w->type);
  ASSERT_NE(tt, nullptr);
  ASSERT_NE(tt->to_float, nullptr);
  std::vector<float> wf(nv * e);
  const size_t w_row_bytes = w->n_bytes / nv;
  for (size_t v = 0; v < nv; ++v) tt->to_float(w->data + v * w_row_bytes, wf.data() + v * e, e);

  // The kernels round the activations to the weight's dot type (F16, Q8_0, ...): so does the
  // reference, which leaves only the summation order to differ.
  const GgmlType dot_type = tt->vec_dot_type;
  auto dot_bytes = row_bytes(dot_type, static_cast<int64_t>(e));
  ASSERT_TRUE(dot_bytes.ok()) << dot_bytes.message();
  std::vector<uint8_t> q(*dot_bytes);
  std::vector<float> hr(e);
  double worst = 0.0;
  for (size_t r = 0; r < rows; ++r) {
    const float* h = hidden.data() + r * e;
    if (dot_type != GgmlType::F32) {
      ASSERT_TRUE(quantize_row(dot_type, h, q.data(), static_cast<int64_t>(e)).ok());
      ASSERT_TRUE(dequantize_row(dot_type, q.data(), hr.data(), static_cast<int64_t>(e)).ok());
      h = hr.data();
    }
    for (size_t v = 0; v < nv; ++v) {
      double dot = 0.0, mag = 0.0;
      for (size_t j = 0; j < e; ++j) {
        dot += static_cast<double>(h[j]) * wf[v * e + j];
        mag += std::abs(static_cast<double>(h[j]) * wf[v * e + j]);
      }
      const double tol = 1e-4 * mag + 1e-6;
      const double diff = std::abs(dot - logits[r * nv + v]);
      worst = std::max(worst, diff / (mag + 1e-12));
      ASSERT_LE(diff, tol) << "row " << r << " vocab " << v;
    }
  }
  RecordProperty("worst_relative_diff", std::to_string(worst));
}

// Asking for hidden states changes nothing in the logits; the hidden rows do not depend on the
// batch (another sequence interleaved) or on chunking, and a hidden-only batch gives the same.
TEST_P(HiddenStateTest, LogitsUnchangedAndBatchInvariant) {
  auto m = test::load_model(path_, "cpu");
  ASSERT_TRUE(m.ok()) << m.message();
  const ModelConfig& cfg = (*m)->config();
  const auto nv = static_cast<int32_t>(cfg.n_vocab);
  const size_t e = cfg.n_embd;
  auto kv = KvCache::create((*m)->kv_options(256));
  ASSERT_TRUE(kv.ok()) << kv.message();

  std::vector<float> logits_h, hidden;
  ASSERT_TRUE(run_all(**m, *kv, kPrompt, true, &logits_h, &hidden).ok());
  std::vector<float> hidden_only_logits, hidden_only;
  ASSERT_TRUE(run_all(**m, *kv, kPrompt, false, &hidden_only_logits, &hidden_only).ok());
  EXPECT_TRUE(hidden_only_logits.empty());
  EXPECT_TRUE(bit_equal(hidden_only, hidden));
  {
    const SeqId s = kv->add_sequence();
    auto plain = test::run_tokens(**m, *kv, s, [&] {
      std::vector<int32_t> t;
      for (int32_t x : kPrompt) t.push_back(x % nv);
      return t;
    }());
    ASSERT_TRUE(plain.ok()) << plain.message();
    EXPECT_TRUE(bit_equal(*plain, logits_h)) << "need_hidden changed the logits";
  }

  // Interleaved with another sequence; only some rows of ours want the hidden state, the other
  // sequence wants logits on its last row.
  const SeqId a = kv->add_sequence(), b = kv->add_sequence();
  const std::vector<int32_t> other = {4, 6, 10, 12, 14, 3, 2, 1, 9, 8, 5};
  ForwardBatch fb;
  size_t ia = 0, ib = 0;
  std::vector<size_t> our_rows;
  while (ia < kPrompt.size() || ib < other.size()) {
    for (int k = 0; k < 2 && ib < other.size(); ++k, ++ib) {
      fb.tokens.push_back(other[ib] % nv);
      fb.positions.push_back(static_cast<int32_t>(ib));
      fb.seq_ids.push_back(b);
      fb.need_logits.push_back(ib + 1 == other.size() ? 1 : 0);
      fb.need_hidden.push_back(0);
    }
    if (ia < kPrompt.size()) {
      fb.tokens.push_back(kPrompt[ia] % nv);
      fb.positions.push_back(static_cast<int32_t>(ia));
      fb.seq_ids.push_back(a);
      fb.need_logits.push_back(0);
      fb.need_hidden.push_back(ia % 2 == 0 ? 1 : 0);
      if (ia % 2 == 0) our_rows.push_back(ia);
      ++ia;
    }
  }
  ASSERT_TRUE(kv->reserve(a, static_cast<uint32_t>(kPrompt.size())).ok());
  ASSERT_TRUE(kv->reserve(b, static_cast<uint32_t>(other.size())).ok());
  std::vector<float> mixed_logits, mixed_hidden;
  ASSERT_TRUE((*m)->forward_hidden(fb, *kv, &mixed_logits, &mixed_hidden).ok());
  EXPECT_EQ(mixed_logits.size(), cfg.n_vocab);
  ASSERT_EQ(mixed_hidden.size(), our_rows.size() * e);
  for (size_t k = 0; k < our_rows.size(); ++k) {
    EXPECT_EQ(std::memcmp(mixed_hidden.data() + k * e, hidden.data() + our_rows[k] * e,
                          e * sizeof(float)),
              0)
        << "row " << our_rows[k] << " differs when batched";
  }

  // Chunks of 2: the same rows.
  const SeqId c = kv->add_sequence();
  std::vector<float> chunked;
  for (size_t start = 0; start < kPrompt.size(); start += 2) {
    ForwardBatch cb;
    const size_t n = std::min<size_t>(2, kPrompt.size() - start);
    for (size_t i = 0; i < n; ++i) {
      cb.tokens.push_back(kPrompt[start + i] % nv);
      cb.positions.push_back(static_cast<int32_t>(start + i));
      cb.seq_ids.push_back(c);
      cb.need_logits.push_back(0);
      cb.need_hidden.push_back(1);
    }
    ASSERT_TRUE(kv->reserve(c, static_cast<uint32_t>(n)).ok());
    std::vector<float> l, h;
    ASSERT_TRUE((*m)->forward_hidden(cb, *kv, &l, &h).ok());
    kv->commit(c, static_cast<uint32_t>(n));
    chunked.insert(chunked.end(), h.begin(), h.end());
  }
  EXPECT_TRUE(bit_equal(chunked, hidden)) << "chunked prefill changed the hidden states";
}

// The simulated device (whole, and split with -ngl) gives the CPU's hidden states bit for bit;
// a hidden-only step downloads exactly the requested rows.
TEST_P(HiddenStateTest, DeviceMatchesCpu) {
  auto cpu = test::load_model(path_, "cpu");
  ASSERT_TRUE(cpu.ok()) << cpu.message();
  const ModelConfig cfg = (*cpu)->config();
  std::vector<float> want_l, want_h;
  {
    auto kv = KvCache::create((*cpu)->kv_options(64));
    ASSERT_TRUE(kv.ok());
    ASSERT_TRUE(run_all(**cpu, *kv, kPrompt, true, &want_l, &want_h).ok());
  }
  for (int32_t ngl : {-1, static_cast<int32_t>(cfg.n_layer / 2), 0}) {
    auto dev = test::load_model(path_, "fakedev", ngl);
    ASSERT_TRUE(dev.ok()) << dev.message();
    auto kv = KvCache::create((*dev)->kv_options(64));
    ASSERT_TRUE(kv.ok()) << kv.message();
    std::vector<float> l, h;
    ASSERT_TRUE(run_all(**dev, *kv, kPrompt, true, &l, &h).ok()) << "ngl " << ngl;
    EXPECT_TRUE(bit_equal(l, want_l)) << "ngl " << ngl;
    EXPECT_TRUE(bit_equal(h, want_h)) << "ngl " << ngl;
    if (ngl != -1) continue;
    // One decode row wanting only its hidden state: n_embd floats come down, nothing else.
    const SeqId s = kv->add_sequence();
    ForwardBatch fb{{3}, {0}, {s}, {0}, {1}};
    ASSERT_TRUE(kv->reserve(s, 1).ok());
    const Backend::Transfers t0 = (*dev)->transfers();
    std::vector<float> l1, h1;
    ASSERT_TRUE((*dev)->forward_hidden(fb, *kv, &l1, &h1).ok());
    const Backend::Transfers t1 = (*dev)->transfers();
    EXPECT_TRUE(l1.empty());
    EXPECT_EQ(h1.size(), cfg.n_embd);
    EXPECT_EQ(t1.downloaded - t0.downloaded, uint64_t{cfg.n_embd} * sizeof(float));
    EXPECT_EQ(t1.uploaded - t0.uploaded, 0u);
  }
}

INSTANTIATE_TEST_SUITE_P(Models, HiddenStateTest, ::testing::ValuesIn(test::device_cases()),
                         [](const auto& p) { return p.param.name; });

// With the Vulkan plugin and a device (lavapipe in CI): hidden states close to the CPU's, whole
// device and split. Skipped without the plugin or a device (DeviceVulkan.MatchesCpu in
// device_oom_test.cpp is the one that insists on a device).
TEST(HiddenStateVulkan, CloseToCpu) {
  add_plugin_search_dir(std::string(DARI_BINARY_DIR));
  if (auto probe = create_backend("vulkan"); !probe.ok()) {
    GTEST_SKIP() << "no Vulkan backend: " << probe.message();
  }
  for (const test::DeviceCase& c : test::device_cases()) {
    const std::string path = test::case_path(c);
    auto cpu = test::load_model(path, "cpu");
    ASSERT_TRUE(cpu.ok()) << cpu.message();
    std::vector<float> want_l, want_h;
    {
      auto kv = KvCache::create((*cpu)->kv_options(64));
      ASSERT_TRUE(kv.ok());
      ASSERT_TRUE(run_all(**cpu, *kv, kPrompt, true, &want_l, &want_h).ok());
    }
    for (int32_t ngl : {-1, 1}) {
      SCOPED_TRACE(c.name + " ngl " + std::to_string(ngl));
      auto dev = test::load_model(path, "vulkan", ngl);
      ASSERT_TRUE(dev.ok()) << dev.message();
      auto kv = KvCache::create((*dev)->kv_options(64));
      ASSERT_TRUE(kv.ok()) << kv.message();
      std::vector<float> l, h;
      ASSERT_TRUE(run_all(**dev, *kv, kPrompt, true, &l, &h).ok());
      ASSERT_EQ(h.size(), want_h.size());
      ASSERT_EQ(l.size(), want_l.size());
      // Per row: |diff| relative to the row's norm (rows have RMS about 1 after the norm).
      const bool quantized = c.name.find("_q") != std::string::npos;
      const size_t e = (*cpu)->config().n_embd;
      for (size_t r = 0; r < kPrompt.size(); ++r) {
        double num = 0.0, den = 0.0;
        for (size_t j = 0; j < e; ++j) {
          const double d = double{h[r * e + j]} - double{want_h[r * e + j]};
          num += d * d;
          den += double{want_h[r * e + j]} * want_h[r * e + j];
        }
        EXPECT_LE(num / std::max(den, 1e-30), quantized ? 1e-3 : 1e-5) << "row " << r;
      }
    }
  }
}

TEST(HiddenState, BadRequests) {
  auto m = Model::load(std::string(DARI_TESTDATA_DIR) + "/models/stories260K.gguf");
  ASSERT_TRUE(m.ok()) << m.message();
  auto kv = KvCache::create((*m)->kv_options(64));
  ASSERT_TRUE(kv.ok());
  const SeqId s = kv->add_sequence();
  ASSERT_TRUE(kv->reserve(s, 2).ok());
  std::vector<float> l, h;
  // need_hidden of the wrong length.
  EXPECT_FALSE((*m)->forward_hidden({{1, 2}, {0, 1}, {s, s}, {0, 1}, {1}}, *kv, &l, &h).ok());
  // Hidden rows but nowhere to put them (forward() without the hidden output).
  EXPECT_FALSE(
      (*m)->forward_hidden({{1, 2}, {0, 1}, {s, s}, {0, 1}, {0, 1}}, *kv, &l, nullptr).ok());
  EXPECT_FALSE((*m)->forward({{1, 2}, {0, 1}, {s, s}, {0, 1}, {0, 1}}, *kv, &l).ok());
  // All-zero need_hidden is the same as none.
  ASSERT_TRUE((*m)->forward_hidden({{1, 2}, {0, 1}, {s, s}, {0, 1}, {0, 0}}, *kv, &l, &h).ok());
  EXPECT_EQ(l.size(), (*m)->config().n_vocab);
  EXPECT_TRUE(h.empty());
}

}  // namespace
}  // namespace dari
