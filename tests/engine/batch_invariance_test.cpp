// Batch invariance through the serving core: the same greedy request gives identical tokens alone
// and amid 15 other requests (mixed prompt lengths, sampled and greedy, prefill chunks sharing
// steps with decode rows), on a synthetic model in every supported weight type and both KV types.
#include <gtest/gtest.h>

#include <random>

#include "dari/model/model.h"
#include "engine/serving_core.h"
#include "model/synthetic.h"

namespace dari::serving {
namespace {

struct Case {
  GgmlType wtype;
  GgmlType kv;
};

std::vector<int32_t> run(Model& m, const std::vector<ServingRequest>& reqs, size_t watch,
                         uint32_t step_tokens, uint32_t max_running, GgmlType kv_type) {
  KvCacheOptions ko = m.kv_options(96 * 20, kv_type);
  ko.prefix_cache = true;
  auto kv = KvCache::create(ko);
  EXPECT_TRUE(kv.ok());
  CoreOptions co;
  co.n_ctx = 96;
  co.n_vocab = m.config().n_vocab;
  co.sched.step_tokens = step_tokens;
  co.sched.max_running = max_running;
  co.eog.assign(co.n_vocab, 0);
  ServingCore core(std::move(co), std::move(kv).value(),
                   [&m](const ForwardBatch& b, KvCache& k, std::vector<float>* l) {
                     return m.forward(b, k, l);
                   });
  std::vector<std::shared_ptr<Stream>> streams;
  for (size_t i = 0; i < reqs.size(); ++i) {
    streams.push_back(std::make_shared<Stream>(i + 1));
    core.add(i + 1, reqs[i], streams.back(), 0.0);
    if (i % 4 == 3) {
      EXPECT_TRUE(core.step().ok());  // later requests join running batches
    }
  }
  while (!core.idle()) EXPECT_TRUE(core.step().ok());
  EXPECT_EQ(core.kv().used_blocks(), 0u);
  std::vector<StreamEvent> evs;
  streams[watch]->poll(&evs);
  std::vector<int32_t> out;
  for (auto& e : evs) {
    if (e.kind == StreamEvent::Kind::kToken) out.push_back(e.token.token);
  }
  return out;
}

class ServingBatchInvariance : public ::testing::TestWithParam<Case> {};

TEST_P(ServingBatchInvariance, AloneEqualsAmidFifteen) {
  const Case c = GetParam();
  test::SynthSpec s;
  s.wtype = c.wtype;
  s.n_embd = 256;  // k-quants need 256-wide rows
  s.n_ff = 256;
  s.n_vocab = 96;
  s.n_layer = 2;
  const std::string path =
      test::temp_model_path("serving_inv_" + std::string(ggml_type_name(c.wtype)));
  ASSERT_TRUE(test::write_synthetic(s, path).ok());
  auto m = Model::load(path, ModelLoadOptions{1, "cpu"});
  ASSERT_TRUE(m.ok()) << m.message();
  std::mt19937 rng(3);
  auto prompt = [&](size_t n) {
    std::vector<int32_t> p(n);
    for (auto& t : p) t = static_cast<int32_t>(rng() % 96);
    return p;
  };
  ServingRequest mine;
  mine.prompt = prompt(23);
  mine.sampling.temperature = 0.0f;
  mine.max_tokens = 16;
  const auto solo = run(**m, {mine}, 0, 512, 1, c.kv);
  ASSERT_EQ(solo.size(), 16u);
  std::vector<ServingRequest> mix;
  for (int i = 0; i < 15; ++i) {
    ServingRequest r;
    r.prompt = prompt(3 + rng() % 40);
    r.max_tokens = 4 + static_cast<int32_t>(rng() % 20);
    r.sampling.temperature = i % 2 == 0 ? 0.0f : 0.8f;
    r.sampling.seed = static_cast<uint64_t>(i);
    mix.push_back(r);
    if (i == 6) mix.push_back(mine);
  }
  EXPECT_EQ(run(**m, mix, 7, 29, 16, c.kv), solo);
}

INSTANTIATE_TEST_SUITE_P(
    AllTypes, ServingBatchInvariance,
    ::testing::Values(Case{GgmlType::F32, GgmlType::F16}, Case{GgmlType::F16, GgmlType::F16},
                      Case{GgmlType::BF16, GgmlType::F32}, Case{GgmlType::Q8_0, GgmlType::F16},
                      Case{GgmlType::Q4_0, GgmlType::F16}, Case{GgmlType::Q4_1, GgmlType::F16},
                      Case{GgmlType::Q5_0, GgmlType::F16}, Case{GgmlType::Q5_1, GgmlType::F16},
                      Case{GgmlType::Q2_K, GgmlType::F16}, Case{GgmlType::Q3_K, GgmlType::F16},
                      Case{GgmlType::Q4_K, GgmlType::F32}, Case{GgmlType::Q5_K, GgmlType::F16},
                      Case{GgmlType::Q6_K, GgmlType::F16}),
    [](const ::testing::TestParamInfo<Case>& i) {
      return std::string(ggml_type_name(i.param.wtype)) + "_kv" +
             std::string(ggml_type_name(i.param.kv));
    });

}  // namespace
}  // namespace dari::serving
