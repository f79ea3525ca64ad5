// Scheduler and ServingCore properties with a fake model and a fake clock: budget and sequence
// limits, FCFS admission without starvation, priority, preemption with recompute (same tokens),
// copy-on-write choices, prefix hits across turns, cancellation, all blocks free at idle.
//
// The fake model stores each token in its K row (F32, one value per row) and its position in the
// V row, and produces logits that pick a next token from a hash of every K/V value it reads back
// through the block table. A wrong block table, a lost copy-on-write, a stale cached block or a
// bad recompute changes the tokens.
#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <set>

#include "engine/scheduler.h"
#include "engine/serving_core.h"

namespace dari::serving {
namespace {

constexpr uint32_t kVocab = 64;
constexpr uint32_t kBlock = 4;

struct FakeModel {
  uint32_t max_rows = 0, max_seqs = 0, calls = 0;
  Status forward(const ForwardBatch& b, KvCache& kv, std::vector<float>* logits) {
    ++calls;
    max_rows = std::max<uint32_t>(max_rows, static_cast<uint32_t>(b.tokens.size()));
    std::set<SeqId> seqs(b.seq_ids.begin(), b.seq_ids.end());
    max_seqs = std::max<uint32_t>(max_seqs, static_cast<uint32_t>(seqs.size()));
    logits->clear();
    for (size_t i = 0; i < b.tokens.size(); ++i) {
      const SeqId s = b.seq_ids[i];
      const auto pos = static_cast<uint32_t>(b.positions[i]);
      const auto& table = kv.block_table(s);
      if (pos / kBlock >= table.size()) return make_error("fake: no block reserved");
      const float k = static_cast<float>(b.tokens[i]), v = static_cast<float>(pos);
      std::memcpy(kv.k_row(0, table[pos / kBlock], pos % kBlock), &k, 4);
      std::memcpy(kv.v_row(0, table[pos / kBlock], pos % kBlock), &v, 4);
      if (!b.need_logits[i]) continue;
      uint64_t h = 1469598103934665603ull;
      for (uint32_t p = 0; p <= pos; ++p) {
        float kk = 0, vv = 0;
        std::memcpy(&kk, kv.k_row(0, table[p / kBlock], p % kBlock), 4);
        std::memcpy(&vv, kv.v_row(0, table[p / kBlock], p % kBlock), 4);
        if (vv != static_cast<float>(p)) return make_error("fake: K/V lost");
        h = (h ^ static_cast<uint64_t>(kk)) * 1099511628211ull;
      }
      std::vector<float> row(kVocab, 0.0f);
      row[(h >> 17) % (kVocab - 1) + 1] = 10.0f;  // token 0 is the eog token
      logits->insert(logits->end(), row.begin(), row.end());
    }
    return Status::Ok();
  }
};

struct Rig {
  FakeModel model;
  double clock = 0;
  std::unique_ptr<ServingCore> core;
  uint64_t next_id = 1;
  std::map<uint64_t, std::shared_ptr<Stream>> streams;

  explicit Rig(uint32_t n_blocks, uint32_t step_tokens = 16, uint32_t max_running = 4,
               bool prefix = true, uint32_t n_ctx = 128) {
    KvCacheOptions ko;
    ko.n_layers = 1;
    ko.n_kv_heads = 1;
    ko.head_dim = 1;
    ko.block_tokens = kBlock;
    ko.n_blocks = n_blocks;
    ko.dtype = GgmlType::F32;
    ko.prefix_cache = prefix;
    auto kv = KvCache::create(ko);
    EXPECT_TRUE(kv.ok());
    CoreOptions co;
    co.n_ctx = n_ctx;
    co.n_vocab = kVocab;
    co.sched.step_tokens = step_tokens;
    co.sched.max_running = max_running;
    co.eog.assign(kVocab, 0);
    co.eog[0] = 1;
    co.now_ms = [this] { return clock; };
    core = std::make_unique<ServingCore>(
        std::move(co), std::move(kv).value(),
        [this](const ForwardBatch& b, KvCache& k, std::vector<float>* l) {
          return model.forward(b, k, l);
        });
  }
  uint64_t add(std::vector<int32_t> prompt, int32_t max_tokens, int32_t priority = 0,
               uint32_t n = 1) {
    ServingRequest r;
    r.prompt = std::move(prompt);
    r.max_tokens = max_tokens;
    r.priority = priority;
    r.n = n;
    r.sampling.temperature = 0.0f;
    std::string msg, param;
    EXPECT_EQ(core->validate(r, &msg, &param), SubmitError::kNone) << msg;
    const uint64_t id = next_id++;
    streams[id] = std::make_shared<Stream>(id);
    core->add(id, std::move(r), streams[id], clock);
    return id;
  }
  void run_to_idle(int max_steps = 100000) {
    for (int i = 0; i < max_steps && !core->idle(); ++i) {
      clock += 1;
      ASSERT_TRUE(core->step().ok());
    }
    ASSERT_TRUE(core->idle());
  }
  std::vector<int32_t> tokens(uint64_t id, uint32_t index = 0) {
    std::vector<StreamEvent> evs;
    streams[id]->poll(&evs);
    std::vector<int32_t> out;
    for (auto& e : evs) {
      if (e.kind == StreamEvent::Kind::kToken && e.index == index) out.push_back(e.token.token);
    }
    return out;
  }
};

std::vector<int32_t> prompt_of(uint32_t len, int32_t salt) {
  std::vector<int32_t> p(len);
  for (uint32_t i = 0; i < len; ++i) p[i] = static_cast<int32_t>(1 + (i * 7 + salt * 13) % 60);
  return p;
}

std::vector<int32_t> alone(const std::vector<int32_t>& prompt, int32_t max_tokens) {
  Rig r(256, 64, 1);
  const uint64_t id = r.add(prompt, max_tokens);
  r.run_to_idle();
  return r.tokens(id);
}

TEST(Scheduler, BudgetAndSequenceLimitRespected) {
  Rig r(200, 10, 3);
  std::vector<uint64_t> ids;
  for (int i = 0; i < 8; ++i) ids.push_back(r.add(prompt_of(5 + 3 * i, i), 12));
  r.run_to_idle();
  EXPECT_LE(r.model.max_rows, 10u);
  EXPECT_LE(r.model.max_seqs, 3u);
  EXPECT_EQ(r.model.max_rows, 10u);  // the budget is actually used
  for (int i = 0; i < 8; ++i) EXPECT_EQ(r.tokens(ids[i]), alone(prompt_of(5 + 3 * i, i), 12));
  EXPECT_EQ(r.core->kv().used_blocks(), 0u);
  EXPECT_EQ(r.core->kv().live_sequences(), 0u);
}

TEST(Scheduler, FcfsAdmissionWithoutStarvation) {
  // A long request queued behind short ones, then a stream of short arrivals every step:
  // admission follows arrival order, so the long one is admitted before any later arrival.
  Rig r(40, 8, 2);
  const uint64_t a = r.add(prompt_of(6, 1), 6);
  const uint64_t b = r.add(prompt_of(6, 2), 6);
  const uint64_t big = r.add(prompt_of(60, 3), 20);
  std::vector<uint64_t> later;
  int big_done_step = -1;
  for (int step = 0; step < 400 && !r.core->idle(); ++step) {
    if (step < 120 && step % 2 == 0) later.push_back(r.add(prompt_of(5, 100 + step), 4));
    r.clock += 1;
    ASSERT_TRUE(r.core->step().ok());
    if (big_done_step < 0 && r.streams[big]->finished()) big_done_step = step;
  }
  ASSERT_TRUE(r.core->idle());
  // The long request finished while short ones kept arriving (they did not starve it).
  ASSERT_GE(big_done_step, 0);
  EXPECT_LT(big_done_step, 120);
  auto first_token_at = [&](uint64_t id, double submitted) {
    std::vector<StreamEvent> evs;
    r.streams[id]->poll(&evs);
    for (auto& e : evs) {
      if (e.kind == StreamEvent::Kind::kDone) return submitted + e.ttft_ms;
    }
    return -1.0;
  };
  EXPECT_EQ(r.tokens(a).size(), 6u);
  EXPECT_EQ(r.tokens(b).size(), 6u);
  EXPECT_EQ(r.tokens(big), alone(prompt_of(60, 3), 20));
  // Every later arrival was served too.
  for (size_t i = 0; i < later.size(); ++i) {
    EXPECT_GT(first_token_at(later[i], static_cast<double>(2 * i)), 0.0) << i;
  }
  EXPECT_EQ(r.core->kv().used_blocks(), 0u);
}

TEST(Scheduler, PriorityRunsFirst) {
  Rig r(100, 8, 1);
  const uint64_t low = r.add(prompt_of(6, 1), 3, 0);
  const uint64_t high = r.add(prompt_of(6, 2), 3, 5);
  r.clock += 1;
  ASSERT_TRUE(r.core->step().ok());
  ServingStats st;
  r.core->fill_stats(&st);
  EXPECT_EQ(st.running, 1u);
  r.run_to_idle();
  std::vector<StreamEvent> el, eh;
  r.streams[low]->poll(&el);
  r.streams[high]->poll(&eh);
  EXPECT_LT(eh.back().ttft_ms, el.back().ttft_ms);
}

TEST(Scheduler, PreemptionRecomputesTheSameTokens) {
  // 12 blocks of 4 tokens: four sequences of ~40 tokens cannot all stay resident.
  Rig r(12, 16, 4, /*prefix=*/false);
  std::vector<uint64_t> ids;
  for (int i = 0; i < 4; ++i) ids.push_back(r.add(prompt_of(10, i), 28));
  r.run_to_idle();
  ServingStats st;
  r.core->fill_stats(&st);
  EXPECT_GT(st.preemptions, 0u);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(r.tokens(ids[i]), alone(prompt_of(10, i), 28)) << i;
  EXPECT_EQ(r.core->kv().used_blocks(), 0u);
  EXPECT_EQ(r.core->kv().live_sequences(), 0u);
}

TEST(Scheduler, PreemptionWithPrefixCacheRecomputesFromCachedBlocks) {
  Rig r(12, 16, 4, /*prefix=*/true);
  std::vector<uint64_t> ids;
  for (int i = 0; i < 4; ++i) ids.push_back(r.add(prompt_of(10, i), 28));
  r.run_to_idle();
  ServingStats st;
  r.core->fill_stats(&st);
  EXPECT_GT(st.preemptions, 0u);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(r.tokens(ids[i]), alone(prompt_of(10, i), 28)) << i;
  EXPECT_EQ(r.core->kv().used_blocks(), 0u);
}

TEST(Scheduler, ChoicesShareBlocksUntilWritten) {
  Rig r(64, 32, 4);
  const uint64_t id = r.add(prompt_of(10, 4), 6, 0, 3);  // 10 tokens: 2 full blocks + 2 slots
  // Step until the prompt is done (one step: budget 32).
  r.clock += 1;
  ASSERT_TRUE(r.core->step().ok());
  ServingStats st;
  r.core->fill_stats(&st);
  EXPECT_EQ(st.running, 3u);
  // 3 prompt blocks shared by all choices; nothing copied yet.
  EXPECT_EQ(r.core->kv().used_blocks(), 3u);
  r.clock += 1;
  ASSERT_TRUE(r.core->step().ok());
  // Each choice wrote one token: two copies of the partial block (the last writer keeps it).
  EXPECT_EQ(r.core->kv().used_blocks(), 5u);
  r.run_to_idle();
  const auto t0 = r.tokens(id, 0);
  EXPECT_EQ(t0, alone(prompt_of(10, 4), 6));
  EXPECT_EQ(r.core->kv().used_blocks(), 0u);
}

TEST(Scheduler, PrefixHitsAcrossTurns) {
  Rig r(64, 64, 4);
  std::vector<int32_t> ctx = prompt_of(11, 9);
  uint32_t last_cached = 0;
  for (int turn = 0; turn < 3; ++turn) {
    const uint64_t id = r.add(ctx, 9);
    r.run_to_idle();
    std::vector<StreamEvent> evs;
    r.streams[id]->poll(&evs);
    for (auto& e : evs) {
      if (e.kind == StreamEvent::Kind::kToken) ctx.push_back(e.token.token);
      if (e.kind == StreamEvent::Kind::kDone) last_cached = e.timings.cached_tokens;
    }
    ctx.push_back(5);
    ctx.push_back(6);
  }
  // Turn 3's prompt is 11 + 9 + 2 + 9 + 2 = 33 tokens; turn 2 stored 31 of them: 7 full blocks.
  EXPECT_EQ(last_cached, 28u);
  ServingStats st;
  r.core->fill_stats(&st);
  EXPECT_GT(st.prefix_hit_tokens, 0u);
  EXPECT_EQ(st.kv_blocks_used, 0u);
  EXPECT_GT(st.kv_blocks_cached, 0u);
}

TEST(Scheduler, CancellationFreesBlocksAtTheNextStep) {
  Rig r(64, 8, 4);
  const uint64_t id = r.add(prompt_of(20, 1), 50);
  for (int i = 0; i < 4; ++i) {
    r.clock += 1;
    ASSERT_TRUE(r.core->step().ok());
  }
  EXPECT_GT(r.core->kv().used_blocks(), 0u);
  r.core->cancel(id);
  EXPECT_GT(r.core->kv().used_blocks(), 0u);  // not before the next step
  ASSERT_TRUE(r.core->step().ok());
  EXPECT_EQ(r.core->kv().used_blocks(), 0u);
  EXPECT_TRUE(r.core->idle());
  std::vector<StreamEvent> evs;
  r.streams[id]->poll(&evs);
  ASSERT_FALSE(evs.empty());
  EXPECT_EQ(evs.back().kind, StreamEvent::Kind::kDone);
  EXPECT_EQ(evs.back().finish, FinishReason::kCancelled);
  EXPECT_TRUE(r.streams[id]->finished());
}

TEST(Scheduler, ContextLimitEndsWithLength) {
  Rig r(64, 16, 2, true, 16);
  const uint64_t id = r.add(prompt_of(10, 2), -1);
  r.run_to_idle();
  EXPECT_EQ(r.tokens(id).size(), 6u);
}

}  // namespace
}  // namespace dari::serving
