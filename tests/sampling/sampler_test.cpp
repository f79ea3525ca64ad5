// Sampler tests on hand-made logits: greedy, truncation masks, penalties, bias, seeds, logprobs.
#include "dari/sampling/sampler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <set>

namespace dari {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

Sampler make(const SamplingParams& p, uint32_t n_vocab) {
  auto s = Sampler::create(p, n_vocab);
  EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.message());
  return std::move(s).value();
}

std::vector<int32_t> ids_of(const std::vector<TokenProb>& d) {
  std::vector<int32_t> out;
  for (const auto& tp : d) out.push_back(tp.token);
  return out;
}

// Logits whose softmax (T=1) is exactly the given probabilities.
std::vector<float> logits_from_probs(const std::vector<double>& p) {
  std::vector<float> l;
  for (double x : p) l.push_back(static_cast<float>(std::log(x)));
  return l;
}

TEST(Sampler, GreedyIsArgmax) {
  SamplingParams p;
  p.temperature = 0.0f;
  Sampler s = make(p, 6);
  const std::vector<float> logits = {0.1f, 2.5f, -1.0f, 7.25f, 7.0f, 3.0f};
  auto r = s.sample(logits);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->token, 3);
  p.temperature = -1.0f;  // negative also means greedy
  Sampler s2 = make(p, 6);
  EXPECT_EQ(s2.sample(logits)->token, 3);
}

TEST(Sampler, GreedyTieTakesLowestId) {
  SamplingParams p;
  p.temperature = 0.0f;
  Sampler s = make(p, 4);
  EXPECT_EQ(s.sample(std::vector<float>{1.0f, 5.0f, 5.0f, 2.0f})->token, 1);
}

TEST(Sampler, TopKOneIsGreedy) {
  SamplingParams p;
  p.temperature = 1.5f;
  p.top_k = 1;
  std::vector<float> logits(1000);
  for (size_t i = 0; i < logits.size(); ++i) logits[i] = std::sin(static_cast<float>(i) * 0.37f);
  logits[617] = 3.0f;
  for (uint64_t seed = 0; seed < 20; ++seed) {
    p.seed = seed;
    Sampler s = make(p, 1000);
    EXPECT_EQ(s.sample(logits)->token, 617);
  }
}

TEST(Sampler, TopKMask) {
  SamplingParams p;
  p.top_k = 3;
  Sampler s = make(p, 6);
  auto d = s.distribution(std::vector<float>{1.0f, 4.0f, 2.0f, 3.0f, 0.5f, 3.0f});
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(ids_of(*d), (std::vector<int32_t>{1, 3, 5}));
  // Renormalised softmax over the kept three.
  const double z = std::exp(4.0) + 2 * std::exp(3.0);
  EXPECT_NEAR((*d)[0].prob, std::exp(4.0) / z, 1e-6);
  EXPECT_NEAR((*d)[1].prob, std::exp(3.0) / z, 1e-6);
}

TEST(Sampler, TopPMask) {
  // probs 0.5, 0.2, 0.15, 0.1, 0.05 at ids 2, 0, 4, 1, 3.
  const auto logits = logits_from_probs({0.2, 0.1, 0.5, 0.05, 0.15});
  SamplingParams p;
  p.top_p = 0.8f;  // 0.5 + 0.2 = 0.7 < 0.8, + 0.15 = 0.85 -> keep three
  Sampler s = make(p, 5);
  auto d = s.distribution(logits);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(ids_of(*d), (std::vector<int32_t>{0, 2, 4}));
  EXPECT_NEAR((*d)[1].prob, 0.5 / 0.85, 1e-6);
  p.top_p = 0.5f;  // first token alone reaches it
  Sampler s2 = make(p, 5);
  EXPECT_EQ(ids_of(*s2.distribution(logits)), (std::vector<int32_t>{2}));
  p.top_p = 0.69f;
  Sampler s3 = make(p, 5);
  EXPECT_EQ(ids_of(*s3.distribution(logits)), (std::vector<int32_t>{0, 2}));
}

TEST(Sampler, TopPOnLargeVocabGrowsPrefix) {
  // 5000 equal tokens: top-p 0.5 keeps exactly 2500 (needs several prefix growths).
  std::vector<float> logits(5000, 1.0f);
  SamplingParams p;
  p.top_p = 0.5f;
  Sampler s = make(p, 5000);
  auto d = s.distribution(logits);
  ASSERT_TRUE(d.ok());
  ASSERT_EQ(d->size(), 2500u);
  EXPECT_EQ(d->front().token, 0);  // ties broken by lower id
  EXPECT_EQ(d->back().token, 2499);
}

TEST(Sampler, MinPMask) {
  const auto logits = logits_from_probs({0.2, 0.1, 0.5, 0.05, 0.15});
  SamplingParams p;
  p.min_p = 0.3f;  // keep p >= 0.15
  Sampler s = make(p, 5);
  auto d = s.distribution(logits);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(ids_of(*d), (std::vector<int32_t>{0, 2, 4}));
  // Combined with top-p (applied first over the full set): top-p 0.6 keeps {2, 0}.
  p.top_p = 0.6f;
  Sampler s2 = make(p, 5);
  EXPECT_EQ(ids_of(*s2.distribution(logits)), (std::vector<int32_t>{0, 2}));
  // min-p tighter than top-p.
  p.top_p = 0.95f;
  p.min_p = 0.5f;  // keep p >= 0.25
  Sampler s3 = make(p, 5);
  EXPECT_EQ(ids_of(*s3.distribution(logits)), (std::vector<int32_t>{2}));
}

TEST(Sampler, TemperatureSharpens) {
  const std::vector<float> logits = {0.0f, 1.0f};
  SamplingParams p;
  p.temperature = 0.5f;
  Sampler s = make(p, 2);
  auto d = s.distribution(logits);
  ASSERT_TRUE(d.ok());
  EXPECT_NEAR((*d)[1].prob, std::exp(2.0) / (1.0 + std::exp(2.0)), 1e-9);
}

TEST(Sampler, RepetitionPenaltyExactValues) {
  SamplingParams p;
  p.repetition_penalty = 2.0f;
  p.repeat_last_n = 3;
  Sampler s = make(p, 6);
  // History: 0 1 1 2 3 -> window of last 3 = {1, 2, 3}; token 0 is outside the window.
  s.accept_prompt(std::vector<int32_t>{0, 1, 1});
  s.accept(2);
  s.accept(3);
  auto l = s.penalized_logits(std::vector<float>{4.0f, 3.0f, -1.5f, 0.0f, 5.0f, -2.0f});
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(*l, (std::vector<float>{4.0f, 1.5f, -3.0f, 0.0f, 5.0f, -2.0f}));
  p.repeat_last_n = -1;  // whole history
  Sampler s2 = make(p, 6);
  s2.accept_prompt(std::vector<int32_t>{0, 1, 1});
  auto l2 = s2.penalized_logits(std::vector<float>{4.0f, 3.0f, -1.5f, 0.0f, 5.0f, -2.0f});
  EXPECT_EQ(*l2, (std::vector<float>{2.0f, 1.5f, -1.5f, 0.0f, 5.0f, -2.0f}));
}

TEST(Sampler, FrequencyPresenceOverGeneratedOnly) {
  SamplingParams p;
  p.frequency_penalty = 0.5f;
  p.presence_penalty = 0.25f;
  Sampler s = make(p, 4);
  s.accept_prompt(std::vector<int32_t>{3, 3, 3});  // prompt: not counted
  s.accept(1);
  s.accept(1);
  s.accept(2);
  auto l = s.penalized_logits(std::vector<float>{1.0f, 1.0f, 1.0f, 1.0f});
  ASSERT_TRUE(l.ok());
  // token 1: 1 - 2*0.5 - 0.25 = -0.25; token 2: 1 - 0.5 - 0.25 = 0.25.
  EXPECT_EQ(*l, (std::vector<float>{1.0f, -0.25f, 0.25f, 1.0f}));
  s.reset_history();
  EXPECT_EQ(*s.penalized_logits(std::vector<float>{1.0f, 1.0f, 1.0f, 1.0f}),
            (std::vector<float>{1.0f, 1.0f, 1.0f, 1.0f}));
}

TEST(Sampler, LogitBiasAndBan) {
  SamplingParams p;
  p.temperature = 0.0f;
  p.logit_bias = {{0, -kInf}, {2, 10.0f}};
  Sampler s = make(p, 3);
  const std::vector<float> logits = {9.0f, 5.0f, -4.0f};
  EXPECT_EQ(s.sample(logits)->token, 2);  // -4 + 10 = 6 > 5, and 0 is banned
  // Sampling never draws a banned token.
  p.temperature = 1.0f;
  p.logit_bias = {{0, -kInf}};
  for (uint64_t seed = 0; seed < 50; ++seed) {
    p.seed = seed;
    Sampler s2 = make(p, 3);
    EXPECT_NE(s2.sample(logits)->token, 0);
  }
  p.logit_bias = {{0, -kInf}, {1, -kInf}, {2, -kInf}};
  Sampler s3 = make(p, 3);
  auto r = s3.sample(logits);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.message().find("banned"), std::string::npos);
}

std::vector<int32_t> draw(uint64_t seed, const std::vector<float>& logits, int n) {
  SamplingParams p;
  p.seed = seed;
  p.temperature = 1.0f;
  Sampler s = make(p, static_cast<uint32_t>(logits.size()));
  std::vector<int32_t> out;
  for (int i = 0; i < n; ++i) out.push_back(s.sample(logits)->token);
  return out;
}

TEST(Sampler, SeedDeterminism) {
  std::vector<float> logits(64, 0.0f);
  const auto a = draw(42, logits, 32);
  EXPECT_EQ(a, draw(42, logits, 32));
  EXPECT_NE(a, draw(43, logits, 32));
  // Platform independence: mt19937_64 + our own uniform give this exact sequence everywhere.
  EXPECT_EQ(draw(1234, logits, 8), (std::vector<int32_t>{60, 3, 62, 60, 11, 60, 56, 60}));
  std::set<int32_t> distinct(a.begin(), a.end());
  EXPECT_GT(distinct.size(), 10u);  // a uniform draw over 64 tokens is not stuck
}

TEST(Sampler, SampledFrequenciesFollowProbabilities) {
  const auto logits = logits_from_probs({0.7, 0.2, 0.1});
  SamplingParams p;
  p.seed = 7;
  Sampler s = make(p, 3);
  int counts[3] = {0, 0, 0};
  const int n = 20000;
  for (int i = 0; i < n; ++i) ++counts[s.sample(logits)->token];
  EXPECT_NEAR(counts[0] / double(n), 0.7, 0.02);
  EXPECT_NEAR(counts[1] / double(n), 0.2, 0.02);
  EXPECT_NEAR(counts[2] / double(n), 0.1, 0.02);
}

TEST(Sampler, LogprobsAreRawLogSoftmax) {
  const std::vector<float> logits = {1.0f, 3.0f, 2.0f, -1.0f, 3.0f};
  SamplingParams p;
  p.temperature = 0.0f;
  p.n_logprobs = 3;
  p.logit_bias = {{1, -kInf}};  // bias does not change the reported logprobs
  Sampler s = make(p, 5);
  auto r = s.sample(logits);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->token, 4);
  double z = 0.0;
  for (float l : logits) z += std::exp(double(l));
  EXPECT_NEAR(r->logprob, 3.0 - std::log(z), 1e-5);
  ASSERT_EQ(r->top.size(), 3u);
  EXPECT_EQ(r->top[0].token, 1);
  EXPECT_EQ(r->top[1].token, 4);
  EXPECT_EQ(r->top[2].token, 2);
  double sum = 0.0;
  for (size_t i = 0; i < logits.size(); ++i) sum += std::exp(double(logits[i]) - std::log(z));
  EXPECT_NEAR(sum, 1.0, 1e-9);
  EXPECT_NEAR(std::exp(r->top[0].logprob) + std::exp(r->top[1].logprob) +
                  std::exp(r->top[2].logprob),
              (2 * std::exp(3.0) + std::exp(2.0)) / z, 1e-5);
  // n_logprobs = 0: chosen only; -1: nothing computed.
  p.n_logprobs = 0;
  Sampler s0 = make(p, 5);
  auto r0 = s0.sample(logits);
  EXPECT_TRUE(r0->top.empty());
  EXPECT_NEAR(r0->logprob, 3.0 - std::log(z), 1e-5);
}

TEST(Sampler, InvalidParamsRejected) {
  auto bad = [](auto mutate) {
    SamplingParams p;
    mutate(p);
    return !validate_sampling_params(p, 10).ok();
  };
  EXPECT_TRUE(bad([](SamplingParams& p) { p.temperature = std::nanf(""); }));
  EXPECT_TRUE(bad([](SamplingParams& p) { p.top_k = -2; }));
  EXPECT_TRUE(bad([](SamplingParams& p) { p.top_p = 0.0f; }));
  EXPECT_TRUE(bad([](SamplingParams& p) { p.top_p = 1.5f; }));
  EXPECT_TRUE(bad([](SamplingParams& p) { p.min_p = -0.1f; }));
  EXPECT_TRUE(bad([](SamplingParams& p) { p.repetition_penalty = 0.0f; }));
  EXPECT_TRUE(bad([](SamplingParams& p) { p.repeat_last_n = -5; }));
  EXPECT_TRUE(bad([](SamplingParams& p) { p.frequency_penalty = 2.5f; }));
  EXPECT_TRUE(bad([](SamplingParams& p) { p.presence_penalty = -3.0f; }));
  EXPECT_TRUE(bad([](SamplingParams& p) { p.logit_bias[10] = 1.0f; }));
  EXPECT_TRUE(bad([](SamplingParams& p) { p.logit_bias[-1] = 1.0f; }));
  EXPECT_TRUE(bad([](SamplingParams& p) { p.logit_bias[3] = 101.0f; }));
  EXPECT_TRUE(bad([](SamplingParams& p) { p.logit_bias[3] = kInf; }));
  EXPECT_TRUE(bad([](SamplingParams& p) { p.n_logprobs = 21; }));
  EXPECT_FALSE(bad([](SamplingParams& p) { p.logit_bias[3] = -kInf; }));
  EXPECT_FALSE(bad([](SamplingParams&) {}));
  SamplingParams p;
  p.top_p = 2.0f;
  auto s = Sampler::create(p, 10);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("top_p"), std::string::npos);
}

TEST(Sampler, BadLogitsRowRejected) {
  Sampler s = make(SamplingParams{}, 4);
  EXPECT_FALSE(s.sample(std::vector<float>{1.0f, 2.0f}).ok());
  EXPECT_FALSE(s.sample(std::vector<float>{1.0f, std::nanf(""), 0.0f, 0.0f}).ok());
}

TEST(Sampler, LargeVocabTopKFast) {
  // 150k vocab with top-k 40: the kept set is the 40 largest.
  const uint32_t n = 150000;
  std::vector<float> logits(n);
  for (uint32_t i = 0; i < n; ++i) logits[i] = static_cast<float>((i * 7919u) % n) / 1000.0f;
  SamplingParams p;
  p.top_k = 40;
  p.top_p = 0.95f;
  p.min_p = 0.05f;
  p.temperature = 0.8f;
  Sampler s = make(p, n);
  auto d = s.distribution(logits);
  ASSERT_TRUE(d.ok());
  ASSERT_FALSE(d->empty());
  EXPECT_LE(d->size(), 40u);
  for (const auto& tp : *d) EXPECT_GE(logits[static_cast<size_t>(tp.token)], (n - 40) / 1000.0f);
}

}  // namespace
}  // namespace dari

namespace dari {
namespace {

// A constraint that allows only even token ids until it has accepted `limit` tokens, then only
// token 1 (a stand-in for a grammar that must end).
class EvenThenOne final : public TokenConstraint {
 public:
  explicit EvenThenOne(int limit) : limit_(limit) {}
  std::unique_ptr<TokenConstraint> clone() const override {
    return std::make_unique<EvenThenOne>(*this);
  }
  void allowed(std::span<uint64_t> words) override {
    for (size_t t = 0; t < words.size() * 64; ++t) {
      const bool ok = accepted_ < limit_ ? t % 2 == 0 : t == 1;
      if (ok) words[t / 64] |= uint64_t{1} << (t % 64);
    }
  }
  bool accept(int32_t token) override {
    const bool ok = accepted_ < limit_ ? token % 2 == 0 : token == 1;
    if (ok) ++accepted_;
    return ok;
  }

 private:
  int limit_;
  int accepted_ = 0;
};

class EvenThenOneFactory final : public TokenConstraintFactory {
 public:
  std::unique_ptr<TokenConstraint> make() const override {
    return std::make_unique<EvenThenOne>(2);
  }
};

TEST(SamplerConstraint, BansWhatTheConstraintForbidsAndFollowsItsState) {
  SamplingParams p;
  p.temperature = 0.0f;  // greedy: the best allowed token
  p.constraint = std::make_shared<EvenThenOneFactory>();
  auto s = Sampler::create(p, 70);  // two mask words, the second partly used
  ASSERT_TRUE(s.ok());
  std::vector<float> logits(70, 0.0f);
  logits[3] = 9.0f;   // odd: banned
  logits[66] = 5.0f;  // even, in the second word
  auto t = s->sample(logits);
  ASSERT_TRUE(t.ok()) << t.message();
  EXPECT_EQ(t->token, 66);
  s->accept(t->token);
  s->accept(4);
  // Now only token 1 is allowed, whatever the logits say.
  auto end = s->sample(logits);
  ASSERT_TRUE(end.ok());
  EXPECT_EQ(end->token, 1);
  // Sampling (not greedy) never leaves the allowed set either.
  SamplingParams q = p;
  q.temperature = 1.5f;
  q.seed = 7;
  auto r = Sampler::create(q, 70);
  ASSERT_TRUE(r.ok());
  for (int i = 0; i < 200; ++i) {
    auto x = r->sample(logits);
    ASSERT_TRUE(x.ok());
    EXPECT_EQ(x->token % 2, 0);
  }
}

TEST(SamplerConstraint, CopiesHaveTheirOwnStateAndAForbiddenTokenStopsSampling) {
  SamplingParams p;
  p.temperature = 0.0f;
  p.constraint = std::make_shared<EvenThenOneFactory>();
  auto s = Sampler::create(p, 8);
  ASSERT_TRUE(s.ok());
  s->accept(2);
  Sampler copy = *s;
  copy.accept(2);  // the copy reaches the "only 1" state, the original does not
  std::vector<float> logits(8, 0.0f);
  logits[6] = 3.0f;
  EXPECT_EQ(copy.sample(logits)->token, 1);
  EXPECT_EQ(s->sample(logits)->token, 6);
  s->accept(3);  // not allowed
  EXPECT_FALSE(s->constraint_ok());
  EXPECT_FALSE(s->sample(logits).ok());
}

TEST(SamplerConstraint, EveryTokenBannedIsAnError) {
  SamplingParams p;
  p.temperature = 0.0f;
  p.constraint = std::make_shared<EvenThenOneFactory>();
  std::vector<float> logits(8, 0.0f);
  for (int t = 0; t < 8; t += 2) p.logit_bias[t] = -std::numeric_limits<float>::infinity();
  auto b = Sampler::create(p, 8);
  ASSERT_TRUE(b.ok());
  EXPECT_FALSE(b->sample(logits).ok());
}

TEST(SamplerTypical, KeepsTokensNearTheEntropyUntilTheMassIsReached) {
  // Probabilities 0.5, 0.3, 0.15, 0.05: entropy H ~ 1.142 nats; surprises -log p ~ 0.693, 1.204,
  // 1.897, 2.996; distances to H ~ 0.449, 0.062, 0.755, 1.854, so the order is token 1, token 0,
  // token 2, token 3.
  const std::vector<float> logits = logits_from_probs({0.5, 0.3, 0.15, 0.05});
  SamplingParams p;
  p.typical_p = 0.2f;  // token 1 alone (0.3) reaches it
  auto s = Sampler::create(p, 4);
  ASSERT_TRUE(s.ok());
  auto d = s->distribution(logits);
  ASSERT_TRUE(d.ok());
  ASSERT_EQ(d->size(), 1u);
  EXPECT_EQ((*d)[0].token, 1);
  p.typical_p = 0.7f;  // tokens 1 and 0 (0.8)
  auto s2 = Sampler::create(p, 4);
  auto d2 = s2->distribution(logits);
  ASSERT_EQ(d2->size(), 2u);
  EXPECT_EQ((*d2)[0].token, 0);
  EXPECT_EQ((*d2)[1].token, 1);
  p.typical_p = 0.0f;
  EXPECT_FALSE(Sampler::create(p, 4).ok());
}

}  // namespace
}  // namespace dari
