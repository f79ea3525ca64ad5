#include "engine/scheduler.h"

#include <algorithm>

namespace dari::serving {
namespace {

bool runs_before(const SchedSeq* a, const SchedSeq* b) {
  if (a->priority != b->priority) return a->priority > b->priority;
  return a->arrival < b->arrival;
}

struct PlanState {
  std::vector<SchedSeq*> running;  // in order; preempted ones are removed
  std::vector<const SchedSeq*> scheduled;
  bool is_scheduled(const SchedSeq* s) const {
    return std::find(scheduled.begin(), scheduled.end(), s) != scheduled.end();
  }
};

void preempt(SchedSeq* s, KvCache& kv, PlanState* st, StepPlan* plan) {
  kv.free_sequence(s->kv_seq);
  s->kv_seq = -1;
  s->computed = 0;
  ++s->preemptions;
  plan->preempted.push_back(s);
  st->running.erase(std::find(st->running.begin(), st->running.end(), s));
}

// Frees blocks until `s` can store one more token, preempting the youngest unscheduled running
// sequence each time. Returns false if `s` itself was preempted.
bool make_room(SchedSeq* s, KvCache& kv, PlanState* st, StepPlan* plan) {
  while (kv.blocks_needed(s->kv_seq, 1) > kv.free_blocks()) {
    SchedSeq* victim = nullptr;
    for (auto it = st->running.rbegin(); it != st->running.rend(); ++it) {
      if (!st->is_scheduled(*it)) {
        victim = *it;
        break;
      }
    }
    if (victim == nullptr) return false;  // cannot happen: s itself is unscheduled
    preempt(victim, kv, st, plan);
    if (victim == s) return false;
  }
  return true;
}

// The most tokens (<= want) `s` can reserve with the free blocks.
uint32_t fit_tokens(const SchedSeq* s, const KvCache& kv, uint32_t want) {
  uint32_t lo = 0, hi = want;
  while (lo < hi) {
    const uint32_t mid = lo + (hi - lo + 1) / 2;
    if (kv.blocks_needed(s->kv_seq, mid) <= kv.free_blocks()) {
      lo = mid;
    } else {
      hi = mid - 1;
    }
  }
  return lo;
}

void schedule(SchedSeq* s, uint32_t n, KvCache& kv, PlanState* st, StepPlan* plan) {
  Status r = kv.reserve(s->kv_seq, n);
  DARI_CHECK(r.ok());
  plan->run.emplace_back(s, n);
  plan->n_tokens += n;
  if (s->pending() == 1) ++plan->n_decode;
  st->scheduled.push_back(s);
}

}  // namespace

StepPlan Scheduler::plan(std::span<SchedSeq* const> seqs, KvCache& kv) const {
  StepPlan plan;
  PlanState st;
  std::vector<SchedSeq*> waiting;
  for (SchedSeq* s : seqs) {
    if (s->pending() == 0) continue;
    (s->kv_seq >= 0 ? st.running : waiting).push_back(s);
  }
  std::sort(st.running.begin(), st.running.end(), runs_before);
  std::sort(waiting.begin(), waiting.end(), runs_before);
  uint32_t budget = opts_.step_tokens;

  // 1. Decode rows.
  const std::vector<SchedSeq*> order = st.running;
  for (SchedSeq* s : order) {
    if (budget == 0) break;
    if (s->kv_seq < 0 || s->pending() != 1) continue;
    if (!make_room(s, kv, &st, &plan)) continue;
    schedule(s, 1, kv, &st, &plan);
    --budget;
  }
  // 2. Prefill chunks of admitted sequences.
  for (SchedSeq* s : order) {
    if (budget == 0) break;
    if (s->kv_seq < 0 || s->pending() <= 1 || st.is_scheduled(s)) continue;
    if (!make_room(s, kv, &st, &plan)) continue;
    const uint32_t n = fit_tokens(s, kv, std::min(s->pending(), budget));
    if (n == 0) continue;
    schedule(s, n, kv, &st, &plan);
    budget -= n;
  }
  // 3. Admission, in queue order, never skipping the head.
  for (SchedSeq* s : waiting) {
    if (budget == 0 || st.running.size() >= opts_.max_running) break;
    const auto total = static_cast<uint32_t>(s->tokens.size());
    uint32_t unreferenced = 0;
    const uint32_t hit = s->use_prefix ? kv.peek_prefix(s->tokens, total - 1, &unreferenced) : 0;
    const uint32_t need =
        kv.blocks_for_tokens(total + 1) - hit / kv.options().block_tokens + unreferenced;
    if (need > kv.free_blocks()) break;
    s->kv_seq = kv.add_sequence();
    s->computed = s->use_prefix ? kv.match_prefix(s->kv_seq, s->tokens, total - 1) : 0;
    s->cached_tokens = s->computed;
    st.running.push_back(s);
    plan.admitted.push_back(s);
    const uint32_t n = std::min(s->pending(), budget);
    schedule(s, n, kv, &st, &plan);
    budget -= n;
  }
  return plan;
}

}  // namespace dari::serving
