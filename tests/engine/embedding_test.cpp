// Embedding requests through the serving core (ServingRequest::embed) on real models: the pooled
// vector does not depend on the batch, the chunking, the prefix cache or preemption; pooling
// modes differ and match the model's hidden states; L2 normalisation; validation and cancel.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "dari/model/model.h"
#include "engine/serving_core.h"
#include "model/synthetic.h"

namespace dari::serving {
namespace {

struct CoreSetup {
  uint32_t step_tokens = 512;
  uint32_t max_running = 16;
  uint32_t kv_tokens = 96 * 16;
  bool prefix_cache = true;
  EmbedPooling default_pooling = EmbedPooling::kMean;
  bool plain_forward = false;  // a ForwardFn without the hidden output
};

std::unique_ptr<ServingCore> make_core(Model& m, const CoreSetup& s) {
  KvCacheOptions ko = m.kv_options(s.kv_tokens);
  ko.prefix_cache = s.prefix_cache;
  auto kv = KvCache::create(ko);
  EXPECT_TRUE(kv.ok()) << kv.message();
  CoreOptions co;
  co.n_ctx = 96;
  co.n_vocab = m.config().n_vocab;
  co.n_embd = m.config().n_embd;
  co.default_pooling = s.default_pooling;
  co.sched.step_tokens = s.step_tokens;
  co.sched.max_running = s.max_running;
  co.eog.assign(co.n_vocab, 0);
  if (s.plain_forward) {
    return std::make_unique<ServingCore>(
        std::move(co), std::move(kv).value(),
        [&m](const ForwardBatch& b, KvCache& k, std::vector<float>* l) {
          return m.forward(b, k, l);
        });
  }
  return std::make_unique<ServingCore>(
      std::move(co), std::move(kv).value(),
      [&m](const ForwardBatch& b, KvCache& k, std::vector<float>* l, std::vector<float>* h) {
        return m.forward_hidden(b, k, l, h);
      });
}

// Runs requests (added `stagger` per step) to the end; returns every request's events.
std::vector<std::vector<StreamEvent>> run(ServingCore& core,
                                          const std::vector<ServingRequest>& reqs,
                                          size_t stagger = 0) {
  static uint64_t next_id = 1;
  std::vector<std::shared_ptr<Stream>> streams;
  for (size_t i = 0; i < reqs.size(); ++i) {
    streams.push_back(std::make_shared<Stream>(next_id));
    core.add(next_id++, reqs[i], streams.back(), 0.0);
    if (stagger != 0 && i % stagger == stagger - 1) {
      EXPECT_TRUE(core.step().ok());  // later requests join running batches
    }
  }
  while (!core.idle()) EXPECT_TRUE(core.step().ok());
  EXPECT_EQ(core.kv().used_blocks(), 0u);
  std::vector<std::vector<StreamEvent>> out;
  for (auto& s : streams) {
    out.emplace_back();
    s->poll(&out.back());
  }
  return out;
}

std::vector<float> embedding_of(const std::vector<StreamEvent>& evs) {
  EXPECT_EQ(evs.size(), 1u);  // one kDone, no tokens
  if (evs.empty()) return {};
  EXPECT_EQ(evs.back().kind, StreamEvent::Kind::kDone);
  EXPECT_EQ(evs.back().finish, FinishReason::kStop);
  return evs.back().embedding;
}

bool bit_equal(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

double norm(const std::vector<float>& v) {
  double s = 0.0;
  for (float x : v) s += double{x} * x;
  return std::sqrt(s);
}

ServingRequest embed_req(std::vector<int32_t> prompt, EmbedPooling p, bool normalize = true) {
  ServingRequest r;
  r.prompt = std::move(prompt);
  r.embed = true;
  r.pooling = p;
  r.normalize = normalize;
  return r;
}

class EmbeddingTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    std::string path = GetParam();
    if (path == "synth_q4_0") {  // repacked Q4_0 weights: the row-group kernels
      test::SynthSpec s;
      s.wtype = GgmlType::Q4_0;
      s.n_embd = 64;
      s.n_ff = 128;
      s.n_vocab = 96;
      path = test::temp_model_path("embedding_q4_0");
      ASSERT_TRUE(test::write_synthetic(s, path).ok());
    }
    ModelLoadOptions mo;
    mo.n_threads = 2;
    auto m = Model::load(path, mo);
    ASSERT_TRUE(m.ok()) << m.message();
    model_ = std::move(m).value();
    rng_.seed(7);
  }
  std::vector<int32_t> prompt(size_t n) {
    std::vector<int32_t> p(n);
    for (auto& t : p) t = static_cast<int32_t>(rng_() % model_->config().n_vocab);
    return p;
  }
  std::unique_ptr<Model> model_;
  std::mt19937 rng_;
};

constexpr EmbedPooling kPoolings[] = {EmbedPooling::kMean, EmbedPooling::kCls, EmbedPooling::kLast};

// Alone vs amid generation and other embedding requests (mixed lengths, prefill chunks sharing
// steps with decode rows, staggered arrival): bit for bit.
TEST_P(EmbeddingTest, AloneEqualsBatched) {
  const std::vector<int32_t> mine = prompt(37);
  std::vector<ServingRequest> crowd;
  for (int i = 0; i < 6; ++i) {
    ServingRequest g;
    g.prompt = prompt(5 + 7 * i);
    g.sampling.temperature = i % 2 == 0 ? 0.0f : 0.8f;
    g.sampling.seed = i;
    g.max_tokens = 12;
    crowd.push_back(g);
    crowd.push_back(embed_req(prompt(3 + 11 * i), kPoolings[i % 3]));
  }
  for (EmbedPooling p : kPoolings) {
    auto solo_core = make_core(*model_, {});
    const auto solo = embedding_of(run(*solo_core, {embed_req(mine, p)})[0]);
    ASSERT_EQ(solo.size(), model_->config().n_embd);
    std::vector<ServingRequest> all = crowd;
    all.insert(all.begin() + 5, embed_req(mine, p));
    CoreSetup s;
    s.step_tokens = 48;
    s.max_running = 8;
    auto core = make_core(*model_, s);
    const auto evs = run(*core, all, 3);
    EXPECT_TRUE(bit_equal(embedding_of(evs[5]), solo)) << "pooling " << static_cast<int>(p);
    // The generation requests still produced their tokens.
    size_t tokens = 0;
    for (const auto& e : evs[0]) tokens += e.kind == StreamEvent::Kind::kToken ? 1 : 0;
    EXPECT_EQ(tokens, 12u);
  }
}

// Chunked prefill (4 tokens a step) gives the same vector as one chunk.
TEST_P(EmbeddingTest, ChunkedPrefillSameVector) {
  const std::vector<int32_t> mine = prompt(41);
  for (EmbedPooling p : kPoolings) {
    auto whole = make_core(*model_, {});
    CoreSetup s;
    s.step_tokens = 4;
    s.max_running = 4;
    auto chunked = make_core(*model_, s);
    const auto a = embedding_of(run(*whole, {embed_req(mine, p)})[0]);
    const auto b = embedding_of(run(*chunked, {embed_req(mine, p)})[0]);
    EXPECT_TRUE(bit_equal(a, b)) << "pooling " << static_cast<int>(p);
  }
}

// Normalised vectors have norm 1; unnormalised ones are the same direction. Pooling modes differ.
TEST_P(EmbeddingTest, NormalisedAndPoolingsDiffer) {
  const std::vector<int32_t> mine = prompt(23);
  auto core = make_core(*model_, {});
  std::vector<ServingRequest> reqs;
  for (EmbedPooling p : kPoolings) {
    reqs.push_back(embed_req(mine, p, true));
    reqs.push_back(embed_req(mine, p, false));
  }
  const auto evs = run(*core, reqs);
  std::vector<std::vector<float>> unit;
  for (size_t i = 0; i < reqs.size(); i += 2) {
    const auto n = embedding_of(evs[i]);
    const auto raw = embedding_of(evs[i + 1]);
    ASSERT_EQ(n.size(), model_->config().n_embd);
    EXPECT_NEAR(norm(n), 1.0, 1e-5);
    const double r = norm(raw);
    EXPECT_GT(std::abs(r - 1.0), 1e-3) << "the raw vector is not unit length by chance";
    for (size_t j = 0; j < n.size(); ++j) EXPECT_NEAR(raw[j] / r, n[j], 1e-6);
    unit.push_back(n);
  }
  EXPECT_FALSE(bit_equal(unit[0], unit[1])) << "mean == cls";
  EXPECT_FALSE(bit_equal(unit[0], unit[2])) << "mean == last";
  EXPECT_FALSE(bit_equal(unit[1], unit[2])) << "cls == last";
}

// The vectors are the model's hidden states: last = the last row, CLS = the first, mean = their
// average (unnormalised).
TEST_P(EmbeddingTest, MatchesModelHiddenStates) {
  const std::vector<int32_t> mine = prompt(19);
  const size_t e = model_->config().n_embd;
  std::vector<float> rows;
  {
    auto kv = KvCache::create(model_->kv_options(64));
    ASSERT_TRUE(kv.ok());
    const SeqId s = kv->add_sequence();
    ForwardBatch b;
    for (size_t i = 0; i < mine.size(); ++i) {
      b.tokens.push_back(mine[i]);
      b.positions.push_back(static_cast<int32_t>(i));
      b.seq_ids.push_back(s);
      b.need_logits.push_back(0);
      b.need_hidden.push_back(1);
    }
    ASSERT_TRUE(kv->reserve(s, static_cast<uint32_t>(mine.size())).ok());
    std::vector<float> l;
    ASSERT_TRUE(model_->forward_hidden(b, *kv, &l, &rows).ok());
  }
  auto core = make_core(*model_, {});
  const auto evs = run(*core, {embed_req(mine, EmbedPooling::kLast, false),
                               embed_req(mine, EmbedPooling::kCls, false),
                               embed_req(mine, EmbedPooling::kMean, false)});
  const std::vector<float> last(rows.end() - static_cast<ptrdiff_t>(e), rows.end());
  const std::vector<float> first(rows.begin(), rows.begin() + static_cast<ptrdiff_t>(e));
  EXPECT_TRUE(bit_equal(embedding_of(evs[0]), last));
  EXPECT_TRUE(bit_equal(embedding_of(evs[1]), first));
  const auto mean = embedding_of(evs[2]);
  ASSERT_EQ(mean.size(), e);
  for (size_t j = 0; j < e; ++j) {
    double s = 0.0;
    for (size_t r = 0; r < mine.size(); ++r) s += rows[r * e + j];
    EXPECT_NEAR(mean[j], s / static_cast<double>(mine.size()), 1e-6);
  }
}

// A prompt whose blocks are in the prefix cache (a generation request ran it first) gives the
// same vector as on a fresh engine; last pooling uses the cache, mean and CLS do not.
TEST_P(EmbeddingTest, PrefixCacheDoesNotChangeVector) {
  const std::vector<int32_t> mine = prompt(53);  // three full blocks of 16
  for (EmbedPooling p : kPoolings) {
    auto fresh = make_core(*model_, {});
    const auto want = embedding_of(run(*fresh, {embed_req(mine, p)})[0]);
    auto warm = make_core(*model_, {});
    ServingRequest g;
    g.prompt = mine;
    g.sampling.temperature = 0.0f;
    g.max_tokens = 2;
    run(*warm, {g});
    ServingStats before;
    warm->fill_stats(&before);
    const auto got = embedding_of(run(*warm, {embed_req(mine, p)})[0]);
    ServingStats after;
    warm->fill_stats(&after);
    EXPECT_TRUE(bit_equal(got, want)) << "pooling " << static_cast<int>(p);
    const uint64_t hits = after.prefix_hit_tokens - before.prefix_hit_tokens;
    if (p == EmbedPooling::kLast) {
      EXPECT_EQ(hits, 48u);
    } else {
      EXPECT_EQ(hits, 0u);
    }
    // The embedding request's own blocks are cached for later generation requests too.
    ServingRequest g2 = g;
    g2.max_tokens = 1;
    warm->fill_stats(&before);
    run(*warm, {g2});
    warm->fill_stats(&after);
    EXPECT_EQ(after.prefix_hit_tokens - before.prefix_hit_tokens, 48u);
  }
}

// Under KV pressure a generation request preempts the embedding request mid-prefill; the
// recomputed vector is unchanged.
TEST_P(EmbeddingTest, PreemptedAndRecomputedSameVector) {
  const std::vector<int32_t> mine = prompt(46);  // three blocks; the pool has four
  auto fresh = make_core(*model_, {});
  const auto want = embedding_of(run(*fresh, {embed_req(mine, EmbedPooling::kMean)})[0]);
  CoreSetup s;
  s.kv_tokens = 64;  // 4 blocks
  s.step_tokens = 4;
  s.max_running = 2;
  s.prefix_cache = false;
  auto core = make_core(*model_, s);
  ServingRequest g;
  g.prompt = prompt(10);
  g.sampling.temperature = 0.0f;
  g.ignore_eog = true;
  g.max_tokens = 50;
  const auto evs = run(*core, {g, embed_req(mine, EmbedPooling::kMean)});
  ServingStats st;
  core->fill_stats(&st);
  EXPECT_GT(st.preemptions, 0u);
  EXPECT_TRUE(bit_equal(embedding_of(evs[1]), want));
}

// kDefault takes the engine's pooling (the model's GGUF pooling_type in ServingEngine).
TEST_P(EmbeddingTest, DefaultPoolingFromOptions) {
  const std::vector<int32_t> mine = prompt(12);
  CoreSetup s;
  s.default_pooling = EmbedPooling::kLast;
  auto core = make_core(*model_, s);
  const auto evs =
      run(*core, {embed_req(mine, EmbedPooling::kDefault), embed_req(mine, EmbedPooling::kLast),
                  embed_req(mine, EmbedPooling::kMean)});
  EXPECT_TRUE(bit_equal(embedding_of(evs[0]), embedding_of(evs[1])));
  EXPECT_FALSE(bit_equal(embedding_of(evs[0]), embedding_of(evs[2])));
  EXPECT_EQ(evs[0][0].timings.prompt_tokens, 12u);
  EXPECT_EQ(evs[0][0].timings.generated_tokens, 0u);
}

INSTANTIATE_TEST_SUITE_P(Models, EmbeddingTest,
                         ::testing::Values(std::string(DARI_TESTDATA_DIR) +
                                               "/models/stories260K.gguf",
                                           std::string(DARI_SOURCE_DIR) + "/models/dari-tiny.gguf",
                                           std::string("synth_q4_0")),
                         [](const auto& p) {
                           if (p.param == "synth_q4_0") return std::string("synth_q4_0");
                           return p.param.find("stories") != std::string::npos
                                      ? std::string("stories260K")
                                      : std::string("dari_tiny");
                         });

TEST(Embedding, ValidationAndCancel) {
  ModelLoadOptions mo;
  mo.n_threads = 2;
  auto m = Model::load(std::string(DARI_TESTDATA_DIR) + "/models/stories260K.gguf", mo);
  ASSERT_TRUE(m.ok()) << m.message();
  auto core = make_core(**m, {});
  std::string msg, param;
  ServingRequest r = embed_req({1, 2, 3}, EmbedPooling::kMean);
  EXPECT_EQ(core->validate(r, &msg, &param), SubmitError::kNone) << msg;
  r.n = 2;
  EXPECT_EQ(core->validate(r, &msg, &param), SubmitError::kInvalid);
  EXPECT_EQ(param, "n");
  r.n = 1;
  r.prompt.assign(96, 1);
  EXPECT_EQ(core->validate(r, &msg, &param), SubmitError::kTooLong);
  r.prompt.clear();
  EXPECT_EQ(core->validate(r, &msg, &param), SubmitError::kInvalid);
  // Without the hidden output (a plain ForwardFn) embedding requests are refused.
  CoreSetup plain;
  plain.plain_forward = true;
  auto pcore = make_core(**m, plain);
  EXPECT_EQ(pcore->validate(embed_req({1, 2}, EmbedPooling::kMean), &msg, &param),
            SubmitError::kInvalid);
  EXPECT_EQ(param, "embed");

  // Cancelled before its prefill ends: one kDone (kCancelled) without a vector.
  CoreSetup s;
  s.step_tokens = 4;
  s.max_running = 1;
  auto ccore = make_core(**m, s);
  auto stream = std::make_shared<Stream>(1);
  ccore->add(1, embed_req(std::vector<int32_t>(40, 5), EmbedPooling::kMean), stream, 0.0);
  ASSERT_TRUE(ccore->step().ok());
  ccore->cancel(1);
  while (!ccore->idle()) ASSERT_TRUE(ccore->step().ok());
  std::vector<StreamEvent> evs;
  stream->poll(&evs);
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].kind, StreamEvent::Kind::kDone);
  EXPECT_EQ(evs[0].finish, FinishReason::kCancelled);
  EXPECT_TRUE(evs[0].embedding.empty());
  EXPECT_EQ(ccore->kv().used_blocks(), 0u);
}

}  // namespace
}  // namespace dari::serving
