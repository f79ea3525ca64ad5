// Scheduler of the serving engine: which sequences run in the next step, and with how many tokens.
//
// Each step plan() composes one batch within a token budget (step_tokens) and a running-sequence
// limit (max_running):
//   1. decode rows (running sequences with exactly one token to feed), oldest first;
//   2. prefill chunks of running sequences with more to feed (new prompts, prompt remainders,
//      recomputation after preemption), oldest first, each cut to the budget left;
//   3. admission of waiting sequences, in order, while slots and budget remain: a sequence is
//      admitted only if its whole known context (plus one token) fits in the free KV blocks
//      (prefix-cache hits counted); the head of the queue is never skipped, so later requests
//      cannot starve it.
// Order everywhere: higher priority first, then earlier arrival (FCFS).
// KV pressure: when a scheduled sequence cannot get a block for even one token, the youngest
// running sequence not yet scheduled this step (possibly itself) is preempted: its blocks are
// freed (full ones stay in the prefix cache) and it waits to be recomputed from its tokens.
// plan() reserves KV space for every token it schedules; the caller runs the batch and commits.
//
// Ownership: the caller owns the SchedSeq objects and the KvCache. Thread safety: engine thread
// only. No clock and no model: tests drive it with a tiny KvCache and fake tokens.
#pragma once

#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "dari/kv/kv_cache.h"

namespace dari::serving {

struct SchedSeq {
  int32_t priority = 0;         // higher first
  uint64_t arrival = 0;         // lower first (submit order)
  std::vector<int32_t> tokens;  // known tokens: prompt + generated so far
  uint32_t computed = 0;        // tokens whose K/V are stored (== kv.length(kv_seq))
  SeqId kv_seq = -1;            // -1: waiting (never admitted, or preempted)
  uint32_t cached_tokens = 0;   // prefix-cache hit at the last admission
  uint32_t preemptions = 0;
  bool use_prefix = true;  // false: admitted without prefix-cache hits (all computed)
  uint32_t pending() const { return static_cast<uint32_t>(tokens.size()) - computed; }
};

struct SchedulerOptions {
  uint32_t step_tokens = 512;  // rows per batch (>= 1)
  uint32_t max_running = 16;   // admitted sequences (>= 1)
};

struct StepPlan {
  std::vector<std::pair<SchedSeq*, uint32_t>> run;  // batch order: decode rows, then chunks
  std::vector<SchedSeq*> admitted;                  // admitted this step (also in run)
  std::vector<SchedSeq*> preempted;                 // preempted this step (not in run)
  uint32_t n_tokens = 0;
  uint32_t n_decode = 0;  // rows with pending() == 1
};

class Scheduler {
 public:
  explicit Scheduler(SchedulerOptions opts) : opts_(opts) {}
  const SchedulerOptions& options() const { return opts_; }

  // Plans one step over `seqs` (every unfinished sequence, admitted or waiting), admitting and
  // preempting as described above, and reserving KV for the planned tokens.
  StepPlan plan(std::span<SchedSeq* const> seqs, KvCache& kv) const;

 private:
  SchedulerOptions opts_;
};

}  // namespace dari::serving
