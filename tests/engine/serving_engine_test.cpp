// ServingEngine on the real stories260K model: golden greedy output through the API, batch
// invariance amid 15 other requests, n > 1 choices, cancellation, multi-turn prefix hits,
// validation and start-up errors.
#include <gtest/gtest.h>

#include <random>

#include "dari/engine/serving.h"

namespace dari {
namespace {

const std::string kModel = std::string(DARI_TESTDATA_DIR) + "/models/stories260K.gguf";
const std::vector<int32_t> kPromptIds = {1, 403, 407, 261, 378};
const std::vector<int32_t> kGolden48 = {432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426, 338,
                                        401, 396, 267, 337, 410, 408, 419, 292, 411, 322, 265, 282,
                                        295, 433, 426, 385, 328, 432, 358, 394, 261, 370, 432, 352,
                                        266, 268, 388, 426, 338, 391, 266, 267, 337, 335, 312, 432};

std::unique_ptr<ServingEngine> start(ServingOptions o = {}) {
  o.model_path = kModel;
  if (o.n_ctx == 0) o.n_ctx = 256;
  if (o.n_threads == 0) o.n_threads = 1;
  auto e = ServingEngine::start(o);
  EXPECT_TRUE(e.ok()) << (e.ok() ? "" : e.message());
  return e.ok() ? std::move(e).value() : nullptr;
}

struct Collected {
  std::vector<std::vector<int32_t>> tokens;  // per choice
  std::vector<std::string> text;
  std::vector<StreamEvent> done;  // kDone per choice
  std::string error;
};

Collected collect(Stream& s, uint32_t n = 1) {
  Collected c;
  c.tokens.resize(n);
  c.text.resize(n);
  c.done.resize(n);
  std::vector<StreamEvent> evs;
  while (s.wait(std::chrono::milliseconds(50), &evs)) {
  }
  for (auto& ev : evs) {
    if (ev.kind == StreamEvent::Kind::kToken) {
      c.tokens[ev.index].push_back(ev.token.token);
      c.text[ev.index] += ev.token.text;
    } else if (ev.kind == StreamEvent::Kind::kDone) {
      c.done[ev.index] = ev;
    } else {
      c.error = ev.error;
    }
  }
  return c;
}

ServingRequest greedy(std::vector<int32_t> prompt, int32_t max_tokens) {
  ServingRequest r;
  r.prompt = std::move(prompt);
  r.sampling.temperature = 0.0f;
  r.max_tokens = max_tokens;
  return r;
}

TEST(ServingEngine, GoldenGreedyThroughTheApi) {
  auto e = start();
  ASSERT_TRUE(e);
  auto sr = e->submit(greedy(kPromptIds, 48));
  ASSERT_EQ(sr.error, SubmitError::kNone) << sr.message;
  Collected c = collect(*sr.stream);
  EXPECT_EQ(c.tokens[0], kGolden48);
  EXPECT_EQ(c.done[0].finish, FinishReason::kLength);
  EXPECT_EQ(c.done[0].timings.generated_tokens, 48u);
  EXPECT_FALSE(c.text[0].empty());
  e->shutdown(true);
  ServingStats st = e->stats();
  EXPECT_EQ(st.kv_blocks_used, 0u);
  EXPECT_EQ(st.requests_finished, 1u);
  EXPECT_EQ(st.generated_tokens, 48u);
}

TEST(ServingEngine, BatchInvarianceAmidFifteenOthers) {
  ServingOptions o;
  o.step_tokens = 40;  // forces prefill chunks to share steps with decode rows
  auto e = start(o);
  ASSERT_TRUE(e);
  std::mt19937 rng(7);
  std::vector<std::shared_ptr<Stream>> others;
  for (int i = 0; i < 15; ++i) {
    std::vector<int32_t> p(5 + rng() % 60);
    for (auto& t : p) t = static_cast<int32_t>(3 + rng() % 500);
    ServingRequest r = greedy(p, 20 + static_cast<int32_t>(rng() % 40));
    if (i % 3 == 0) {
      r.sampling.temperature = 0.9f;
      r.sampling.seed = static_cast<uint64_t>(i);
    }
    auto sr = e->submit(r);
    ASSERT_EQ(sr.error, SubmitError::kNone) << sr.message;
    others.push_back(sr.stream);
    if (i == 7) {  // the request under test joins mid-flight
      auto mine = e->submit(greedy(kPromptIds, 48));
      ASSERT_EQ(mine.error, SubmitError::kNone);
      others.push_back(mine.stream);
    }
  }
  Collected c = collect(*others[8]);
  EXPECT_EQ(c.tokens[0], kGolden48);
  for (auto& s : others) collect(*s);
  e->shutdown(true);
  EXPECT_EQ(e->stats().kv_blocks_used, 0u);
}

TEST(ServingEngine, ChoicesShareThePromptAndMatchSeparateRequests) {
  auto e = start();
  ASSERT_TRUE(e);
  ServingRequest r;
  r.prompt = kPromptIds;
  r.sampling.temperature = 1.0f;
  r.sampling.seed = 11;
  r.max_tokens = 24;
  r.n = 3;
  auto sr = e->submit(r);
  ASSERT_EQ(sr.error, SubmitError::kNone);
  Collected all = collect(*sr.stream, 3);
  for (uint32_t i = 0; i < 3; ++i) {
    ServingRequest one = r;
    one.n = 1;
    one.sampling.seed = 11 + i;
    auto s1 = e->submit(one);
    ASSERT_EQ(s1.error, SubmitError::kNone);
    Collected c = collect(*s1.stream);
    EXPECT_EQ(all.tokens[i], c.tokens[0]) << "choice " << i;
    EXPECT_EQ(all.done[i].finish, FinishReason::kLength);
  }
  EXPECT_NE(all.tokens[0], all.tokens[1]);
  e->shutdown(true);
  EXPECT_EQ(e->stats().kv_blocks_used, 0u);
}

TEST(ServingEngine, CancelEndsTheStreamAndFreesBlocks) {
  auto e = start();
  ASSERT_TRUE(e);
  ServingRequest r = greedy(kPromptIds, -1);
  r.ignore_eog = true;  // runs to the context limit unless cancelled
  r.n = 2;
  auto sr = e->submit(r);
  ASSERT_EQ(sr.error, SubmitError::kNone);
  std::vector<StreamEvent> evs;
  while (evs.empty()) sr.stream->wait(std::chrono::milliseconds(100), &evs);
  e->cancel(sr.stream->id());
  Collected c = collect(*sr.stream, 2);
  EXPECT_EQ(c.done[0].finish, FinishReason::kCancelled);
  EXPECT_EQ(c.done[1].finish, FinishReason::kCancelled);
  e->shutdown(true);
  ServingStats st = e->stats();
  EXPECT_EQ(st.kv_blocks_used, 0u);
  EXPECT_EQ(st.requests_cancelled, 1u);
}

TEST(ServingEngine, MultiTurnHitsThePrefixCacheWithSameTokens) {
  auto run_turns = [](bool cache, ServingStats* st, uint32_t* cached2) {
    ServingOptions o;
    o.prefix_cache = cache;
    auto e = start(o);
    std::vector<int32_t> ctx = kPromptIds;
    std::vector<int32_t> out;
    for (int turn = 0; turn < 3; ++turn) {
      auto sr = e->submit(greedy(ctx, 30));
      Collected c = collect(*sr.stream);
      out.insert(out.end(), c.tokens[0].begin(), c.tokens[0].end());
      ctx.insert(ctx.end(), c.tokens[0].begin(), c.tokens[0].end());
      for (int32_t t : {13, 401, 396}) ctx.push_back(t);  // the "user" says something
      if (turn == 2) *cached2 = c.done[0].timings.cached_tokens;
    }
    e->shutdown(true);
    *st = e->stats();
    return out;
  };
  ServingStats with{}, without{};
  uint32_t cached_with = 0, cached_without = 0;
  auto a = run_turns(true, &with, &cached_with);
  auto b = run_turns(false, &without, &cached_without);
  EXPECT_EQ(a, b);
  EXPECT_GT(with.prefix_hit_tokens, 0u);
  EXPECT_GE(cached_with, 48u);  // turn 3 reuses most of turns 1-2
  EXPECT_EQ(cached_without, 0u);
  EXPECT_LT(with.prompt_tokens, without.prompt_tokens);
  EXPECT_EQ(with.kv_blocks_used, 0u);
  EXPECT_GT(with.kv_blocks_cached, 0u);
}

TEST(ServingEngine, SubmitValidates) {
  auto e = start();
  ASSERT_TRUE(e);
  ServingRequest r;
  auto a = e->submit(r);
  EXPECT_EQ(a.error, SubmitError::kInvalid);
  EXPECT_EQ(a.param, "prompt");
  r.prompt.assign(300, 5);
  EXPECT_EQ(e->submit(r).error, SubmitError::kTooLong);
  r.prompt = {1, 99999};
  EXPECT_EQ(e->submit(r).error, SubmitError::kInvalid);
  r.prompt = kPromptIds;
  r.max_tokens = -2;
  EXPECT_EQ(e->submit(r).param, "max_tokens");
  r.max_tokens = 4;
  r.sampling.top_p = 2.0f;
  EXPECT_EQ(e->submit(r).error, SubmitError::kInvalid);
  r.sampling.top_p = 1.0f;
  r.stop = {""};
  EXPECT_EQ(e->submit(r).param, "stop");
  e->shutdown(true);
  r.stop.clear();
  EXPECT_EQ(e->submit(r).error, SubmitError::kShuttingDown);
}

TEST(ServingEngine, StartFailsClearlyWhenOneContextDoesNotFit) {
  ServingOptions o;
  o.model_path = kModel;
  o.n_ctx = 256;
  o.kv_tokens = 100;
  auto e = ServingEngine::start(o);
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.message().find("one full-context sequence"), std::string::npos) << e.message();
}

TEST(ServingEngine, StopStringsAndDestructionCancelStreams) {
  auto e = start();
  ASSERT_TRUE(e);
  ServingRequest r = greedy(kPromptIds, 48);
  r.stop = {"Lily"};
  auto sr = e->submit(r);
  Collected c = collect(*sr.stream);
  EXPECT_EQ(c.done[0].finish, FinishReason::kStop);
  EXPECT_EQ(c.done[0].stop_string, "Lily");
  EXPECT_EQ(c.text[0].find("Lily"), std::string::npos);
  ServingRequest forever = greedy(kPromptIds, -1);
  forever.ignore_eog = true;
  auto s2 = e->submit(forever);
  e.reset();  // destroys the engine mid-generation
  Collected d = collect(*s2.stream);
  EXPECT_EQ(d.done[0].finish, FinishReason::kCancelled);
}

}  // namespace
}  // namespace dari
