// stories260K (a trained tiny Llama): greedy continuation and logits against the values in
// testdata/models/SOURCES.md.
#include <gtest/gtest.h>

#include <numeric>

#include "model/test_util.h"

namespace dari {
namespace {

const std::string kPath = std::string(DARI_TESTDATA_DIR) + "/models/stories260K.gguf";

std::unique_ptr<Model> load_stories() {
  auto m = Model::load(kPath);
  EXPECT_TRUE(m.ok()) << m.message();
  return m.ok() ? std::move(m).value() : nullptr;
}

TEST(Stories260K, Config) {
  auto m = load_stories();
  ASSERT_TRUE(m);
  const ModelConfig& c = m->config();
  EXPECT_EQ(c.arch, "llama");
  EXPECT_EQ(c.n_vocab, 512u);
  EXPECT_EQ(c.n_embd, 64u);
  EXPECT_EQ(c.n_layer, 5u);
  EXPECT_EQ(c.n_head, 8u);
  EXPECT_EQ(c.n_head_kv, 4u);
  EXPECT_EQ(c.head_dim, 8u);
  EXPECT_EQ(c.n_ff, 172u);
  EXPECT_EQ(c.rope_dim, 8u);
  EXPECT_FLOAT_EQ(c.rope_freq_base, 10000.0f);
  EXPECT_FLOAT_EQ(c.rms_eps, 1e-5f);
  EXPECT_FALSE(c.tied_output);
}

TEST(Stories260K, LogitsAfterBos) {
  auto m = load_stories();
  ASSERT_TRUE(m);
  for (GgmlType kv_type : {GgmlType::F32, GgmlType::F16}) {
    auto kv = KvCache::create(m->kv_options(64, kv_type));
    ASSERT_TRUE(kv.ok()) << kv.message();
    SeqId s = kv->add_sequence();
    auto logits = test::run_tokens(*m, *kv, s, {1});
    ASSERT_TRUE(logits.ok()) << logits.message();
    ASSERT_EQ(logits->size(), 512u);
    const std::vector<std::pair<int, float>> top5 = {
        {403, 17.0235f}, {385, 15.4062f}, {410, 13.1083f}, {317, 12.7692f}, {407, 12.4181f}};
    std::vector<int> order(512);
    std::iota(order.begin(), order.end(), 0);
    std::partial_sort(order.begin(), order.begin() + 5, order.end(),
                      [&](int a, int b) { return (*logits)[a] > (*logits)[b]; });
    for (int i = 0; i < 5; ++i) {
      EXPECT_EQ(order[i], top5[i].first);
      EXPECT_NEAR((*logits)[top5[i].first], top5[i].second, 1e-3);
    }
    EXPECT_NEAR((*logits)[1], 8.4043f, 1e-3);
    double sum = std::accumulate(logits->begin(), logits->end(), 0.0);
    // Reference sum (golden/stories260K.txt); the F16 KV cache rounds K/V (~3e-4 relative).
    EXPECT_NEAR(sum, -1070.1722, kv_type == GgmlType::F32 ? 2e-3 : 0.1);
  }
}

// Greedy decode: prefill the prompt in one batch, then one token per step.
TEST(Stories260K, Greedy48) {
  auto m = load_stories();
  ASSERT_TRUE(m);
  const std::vector<int32_t> expected = {
      432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426, 338, 401, 396, 267, 337,
      410, 408, 419, 292, 411, 322, 265, 282, 295, 433, 426, 385, 328, 432, 358, 394,
      261, 370, 432, 352, 266, 268, 388, 426, 338, 391, 266, 267, 337, 335, 312, 432};
  auto kv = KvCache::create(m->kv_options(128));
  ASSERT_TRUE(kv.ok()) << kv.message();
  SeqId s = kv->add_sequence();
  auto logits = test::run_tokens(*m, *kv, s, {1, 403, 407, 261, 378});
  ASSERT_TRUE(logits.ok()) << logits.message();
  std::vector<int32_t> got;
  int32_t next = test::argmax(logits->data() + 4 * 512, 512);
  for (size_t i = 0; i < expected.size(); ++i) {
    got.push_back(next);
    auto step = test::run_tokens(*m, *kv, s, {next});
    ASSERT_TRUE(step.ok()) << step.message();
    next = test::argmax(step->data(), 512);
  }
  EXPECT_EQ(got, expected);
}

}  // namespace
}  // namespace dari
