// bench-serve: drives a ServingEngine with a synthetic many-user workload and measures it.
//
// Workload (closed loop): `concurrency` clients, each submitting one request, waiting for it to
// finish, then submitting the next, until `requests` requests have run. Prompt and output
// lengths are drawn uniformly from [min, max] (random token ids; outputs run to max_tokens with
// end-of-generation ignored, so lengths are exact). Multi-turn: each client is a chat session
// whose next prompt is its previous prompt + the reply + `turn_tokens` new "user" tokens, so
// turns after the first share a growing prefix with the one before (prefix-cache hits).
//
// Soak mode: random submits (random lengths, n = 1..3, shared prefixes) and random cancels for a
// given time; every `soak_check_s` seconds it drains, then checks that no KV block is referenced
// and samples the resident set size.
//
// Thread safety: each call is self-contained (its own engine and threads).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "dari/backend/backend.h"
#include "dari/core/result.h"

namespace dari::perf {

struct ServeBenchOptions {
  std::string model_path;
  std::vector<uint32_t> concurrency = {1, 4, 8, 16, 32};
  uint32_t requests = 0;  // per level; 0: 2 * concurrency, at least 8
  uint32_t prompt_min = 32, prompt_max = 128;
  uint32_t output_min = 32, output_max = 64;
  bool multi_turn = false;
  uint32_t turn_tokens = 16;  // new user tokens per turn (multi-turn)
  uint32_t n_threads = 0;     // 0: hardware concurrency
  std::string backend = "cpu";  // ModelLoadOptions::backend: NAME or NAME:DEVICE
  int32_t n_gpu_layers = -1;    // ModelLoadOptions::n_gpu_layers (-1: all layers on `backend`)
  bool repack = true;         // ModelLoadOptions::repack
  bool profile = false;       // time every op; run_serve_bench fills *profile
  uint32_t n_ctx = 0;         // 0: enough for the workload
  uint32_t step_tokens = 512;
  uint64_t kv_tokens = 0;  // 0: n_ctx * max concurrency
  bool prefix_cache = true;
  uint64_t seed = 1;
  double soak_seconds = 0;   // run_soak: duration
  double soak_check_s = 10;  // run_soak: drain-and-check interval
  // GBNF text: every request is constrained by this grammar (its mask times are reported). It
  // should never let the output end (requests ignore end-of-generation), e.g. an open JSON array.
  std::string grammar;
  // Precompute the grammar's masks before the first level, as `dari serve` does for a new
  // grammar (same budget); false: every first mask is computed on the token path.
  bool grammar_precompute = true;
};

struct ServeBenchLevel {
  uint32_t concurrency = 0;
  uint32_t requests = 0;
  uint64_t output_tokens = 0;
  uint64_t prompt_tokens = 0;  // submitted prompt tokens
  double wall_s = 0;
  double output_tok_s = 0;  // aggregate output tokens / wall time
  double ttft_p50_ms = 0, ttft_p99_ms = 0;
  double tpot_p50_ms = 0, tpot_p99_ms = 0;  // per request: generation time / (tokens - 1)
  double prefix_hit_rate = 0;               // hit tokens / looked-up prompt tokens
  double ttft_first_turn_p50_ms = 0;        // multi-turn: TTFT of first turns vs later turns
  double ttft_later_turns_p50_ms = 0;
  uint64_t preemptions = 0;
  // With a grammar: microseconds per token mask.
  uint64_t masks = 0;
  double mask_p50_us = 0, mask_p99_us = 0, mask_max_us = 0;
  // Masks precomputed before the run (entries, milliseconds; -1: not precomputed).
  int64_t masks_precomputed = -1;
  double mask_precompute_ms = 0;
};

// Runs every concurrency level (one engine, loaded once); on_level is called after each. With
// opts.profile and a non-null `profile`, it receives the time per op over the whole run (all
// levels; run one level to see that level's breakdown).
Result<std::vector<ServeBenchLevel>> run_serve_bench(
    const ServeBenchOptions& opts, const std::function<void(const ServeBenchLevel&)>& on_level,
    std::vector<OpProfile>* profile = nullptr);

struct SoakCheck {
  double at_s = 0;
  uint64_t rss_bytes = 0;
  uint32_t blocks_used = 0;  // must be 0 (idle)
  uint32_t blocks_cached = 0;
  uint64_t requests = 0, cancelled = 0;
};

struct SoakResult {
  std::vector<SoakCheck> checks;
  uint64_t submitted = 0, cancels_sent = 0, finished = 0, cancelled = 0, errors = 0;
  bool blocks_leaked = false;   // some check saw referenced blocks at idle
  double rss_growth_bytes = 0;  // last check - first check (after warm-up)
};

Result<SoakResult> run_soak(const ServeBenchOptions& opts,
                            const std::function<void(const SoakCheck&)>& on_check);

// Current resident set size of this process (/proc/self/statm), 0 if unknown.
uint64_t current_rss_bytes();

}  // namespace dari::perf
