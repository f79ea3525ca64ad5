// Batch invariance: sequences sharing a batch give bitwise the same logits as when run alone.
#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "model/synthetic.h"
#include "model/test_util.h"

namespace dari {
namespace {

std::unique_ptr<Model> synthetic_model(GgmlType wtype, const std::string& name) {
  test::SynthSpec s;
  s.wtype = wtype;
  s.n_embd = 256;
  s.n_ff = 256;
  s.n_vocab = 80;
  const std::string path = test::temp_model_path(name);
  Status w = test::write_synthetic(s, path);
  EXPECT_TRUE(w.ok()) << w.message();
  auto m = Model::load(path);
  EXPECT_TRUE(m.ok()) << m.message();
  return m.ok() ? std::move(m).value() : nullptr;
}

void check_two_sequences(GgmlType wtype, GgmlType kv_type) {
  auto m = synthetic_model(wtype, "batch_" + std::string(ggml_type_name(wtype)));
  ASSERT_TRUE(m);
  const size_t nv = m->config().n_vocab;
  std::mt19937 rng(5);
  std::vector<int32_t> a(21), b(13);
  for (auto& t : a) t = static_cast<int32_t>(rng() % nv);
  for (auto& t : b) t = static_cast<int32_t>(rng() % nv);

  // Alone: each sequence in its own cache, prompt in one batch.
  auto alone = [&](const std::vector<int32_t>& toks) {
    auto kv = KvCache::create(m->kv_options(64, kv_type));
    EXPECT_TRUE(kv.ok());
    SeqId s = kv->add_sequence();
    auto r = test::run_tokens(*m, *kv, s, toks);
    EXPECT_TRUE(r.ok()) << r.message();
    return r.ok() ? *r : std::vector<float>{};
  };
  std::vector<float> la = alone(a), lb = alone(b);

  // Together: one cache, a dummy sequence first so the block ids differ, rows interleaved.
  auto kv = KvCache::create(m->kv_options(128, kv_type));
  ASSERT_TRUE(kv.ok());
  SeqId dummy = kv->add_sequence();
  ASSERT_TRUE(kv->reserve(dummy, 20).ok());
  SeqId sa = kv->add_sequence(), sb = kv->add_sequence();
  ASSERT_TRUE(kv->reserve(sa, static_cast<uint32_t>(a.size())).ok());
  ASSERT_TRUE(kv->reserve(sb, static_cast<uint32_t>(b.size())).ok());
  ForwardBatch batch;
  std::vector<std::pair<int, size_t>> order;  // (which, index)
  for (size_t i = 0; i < std::max(a.size(), b.size()); ++i) {
    if (i < b.size()) order.emplace_back(1, i);
    if (i < a.size()) order.emplace_back(0, i);
  }
  for (auto [which, i] : order) {
    batch.tokens.push_back(which == 0 ? a[i] : b[i]);
    batch.positions.push_back(static_cast<int32_t>(i));
    batch.seq_ids.push_back(which == 0 ? sa : sb);
    batch.need_logits.push_back(1);
  }
  std::vector<float> logits;
  Status st = m->forward(batch, *kv, &logits);
  ASSERT_TRUE(st.ok()) << st.message();
  ASSERT_EQ(logits.size(), order.size() * nv);
  for (size_t r = 0; r < order.size(); ++r) {
    auto [which, i] = order[r];
    const float* want = (which == 0 ? la.data() : lb.data()) + i * nv;
    EXPECT_EQ(std::memcmp(logits.data() + r * nv, want, nv * sizeof(float)), 0)
        << "row " << r << " (sequence " << which << ", position " << i << ")";
  }
  // need_logits selects rows: only the last row of each sequence, in row order.
  kv->commit(sa, static_cast<uint32_t>(a.size()));
  kv->commit(sb, static_cast<uint32_t>(b.size()));
  kv->truncate(sa, static_cast<uint32_t>(a.size()) - 1);
  kv->truncate(sb, static_cast<uint32_t>(b.size()) - 1);
  ForwardBatch last;
  last.tokens = {a.back(), b.back()};
  last.positions = {static_cast<int32_t>(a.size() - 1), static_cast<int32_t>(b.size() - 1)};
  last.seq_ids = {sa, sb};
  last.need_logits = {1, 1};
  ASSERT_TRUE(m->forward(last, *kv, &logits).ok());
  ASSERT_EQ(logits.size(), 2 * nv);
  EXPECT_EQ(std::memcmp(logits.data(), la.data() + (a.size() - 1) * nv, nv * 4), 0);
  EXPECT_EQ(std::memcmp(logits.data() + nv, lb.data() + (b.size() - 1) * nv, nv * 4), 0);
}

TEST(BatchInvariance, TwoSequencesF32WeightsF16Kv) { check_two_sequences(GgmlType::F32, GgmlType::F16); }
TEST(BatchInvariance, TwoSequencesQ4KWeightsF32Kv) { check_two_sequences(GgmlType::Q4_K, GgmlType::F32); }

TEST(BatchInvariance, NeedLogitsSelectsRows) {
  auto m = synthetic_model(GgmlType::Q8_0, "batch_select");
  ASSERT_TRUE(m);
  const size_t nv = m->config().n_vocab;
  auto kv = KvCache::create(m->kv_options(32));
  ASSERT_TRUE(kv.ok());
  SeqId s = kv->add_sequence();
  ASSERT_TRUE(kv->reserve(s, 4).ok());
  ForwardBatch b{{3, 9, 27, 4}, {0, 1, 2, 3}, {s, s, s, s}, {0, 1, 0, 1}};
  std::vector<float> sel;
  ASSERT_TRUE(m->forward(b, *kv, &sel).ok());
  ASSERT_EQ(sel.size(), 2 * nv);
  b.need_logits = {1, 1, 1, 1};
  std::vector<float> all;
  ASSERT_TRUE(m->forward(b, *kv, &all).ok());  // same positions again: K/V overwritten identically
  EXPECT_EQ(std::memcmp(sel.data(), all.data() + nv, nv * 4), 0);
  EXPECT_EQ(std::memcmp(sel.data() + nv, all.data() + 3 * nv, nv * 4), 0);
  b.need_logits = {0, 0, 0, 0};
  ASSERT_TRUE(m->forward(b, *kv, &all).ok());
  EXPECT_TRUE(all.empty());
}

}  // namespace
}  // namespace dari
