// `dari bench-serve`: many concurrent requests through the serving engine (continuous batching,
// paged KV, prefix caching): aggregate output tok/s, TTFT and time per output token percentiles,
// prefix-cache hit rate per concurrency level; `--soak SECONDS` runs the leak soak instead.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "cmd_common.h"
#include "command.h"
#include "dari/perf/model_bench.h"
#include "dari/perf/serve_bench.h"

namespace dari::cli {
namespace {

struct BenchServeArgs {
  perf::ServeBenchOptions o;
  std::string prompt_tokens = "32-128";
  std::string output_tokens = "32-64";
  std::string grammar_file;
  BackendCliOptions backend;
};

// "N" or "MIN-MAX" -> [min, max].
bool parse_range(const std::string& s, uint32_t* lo, uint32_t* hi) {
  unsigned a = 0, b = 0;
  char extra = 0;
  if (std::sscanf(s.c_str(), "%u-%u%c", &a, &b, &extra) == 2) {
    *lo = a;
    *hi = b;
  } else if (std::sscanf(s.c_str(), "%u%c", &a, &extra) == 1) {
    *lo = *hi = a;
  } else {
    return false;
  }
  return *lo >= 1 && *lo <= *hi && *hi <= (1u << 20);
}

int run_soak_cmd(const perf::ServeBenchOptions& o) {
  std::fprintf(stderr, "soak: %.0f s of random submits and cancels on %s\n", o.soak_seconds,
               o.model_path.c_str());
  auto r = perf::run_soak(o, [](const perf::SoakCheck& c) {
    std::printf(
        "t=%7.1fs  requests %8llu (cancelled %6llu)  rss %8.1f MiB  blocks used %u "
        "cached %u\n",
        c.at_s, static_cast<unsigned long long>(c.requests),
        static_cast<unsigned long long>(c.cancelled), static_cast<double>(c.rss_bytes) / (1 << 20),
        c.blocks_used, c.blocks_cached);
    std::fflush(stdout);
  });
  if (!r.ok()) {
    std::fprintf(stderr, "dari: error: %s\n", r.message().c_str());
    return 1;
  }
  std::printf(
      "soak: submitted %llu, cancels sent %llu, finished %llu, cancelled %llu, errors "
      "%llu, rss growth after warm-up %+.1f MiB, blocks at idle: %s\n",
      static_cast<unsigned long long>(r->submitted),
      static_cast<unsigned long long>(r->cancels_sent),
      static_cast<unsigned long long>(r->finished), static_cast<unsigned long long>(r->cancelled),
      static_cast<unsigned long long>(r->errors), r->rss_growth_bytes / (1 << 20),
      r->blocks_leaked ? "LEAKED" : "all free");
  return r->blocks_leaked || r->errors != 0 ? 1 : 0;
}

int run_bench_serve(BenchServeArgs& a) {
  perf::ServeBenchOptions& o = a.o;
  ResolvedBackend rb;
  if (!resolve_backend(a.backend, &rb) || !apply_backend(rb, &o)) return 1;
  if (!parse_range(a.prompt_tokens, &o.prompt_min, &o.prompt_max) ||
      !parse_range(a.output_tokens, &o.output_min, &o.output_max)) {
    std::fprintf(stderr, "dari: error: --prompt-tokens/--output-tokens take N or MIN-MAX\n");
    return 1;
  }
  if (o.model_path.empty()) {
    o.model_path = find_default_model();
    if (o.model_path.empty()) {
      std::fprintf(stderr, "dari: error: no model given (-m) and no default model found\n");
      return 1;
    }
    std::fprintf(stderr, "dari: using the default model %s\n", o.model_path.c_str());
  }
  if (o.soak_seconds > 0) return run_soak_cmd(o);
  if (!a.grammar_file.empty()) {
    auto text = read_text_file(a.grammar_file);
    if (!text.ok()) {
      std::fprintf(stderr, "dari: error: %s\n", text.message().c_str());
      return 1;
    }
    o.grammar = std::move(text).value();
  }
  std::printf("%5s %6s %8s %10s %9s %9s %9s %9s %7s %6s", "conc", "reqs", "out_tok", "tok/s",
              "ttft_p50", "ttft_p99", "tpot_p50", "tpot_p99", "hit%", "preem");
  std::printf(o.multi_turn ? " %11s %11s\n" : "\n", "ttft1_p50", "ttftN_p50");
  std::vector<OpProfile> profile;
  bool precompute_shown = false;
  auto r = perf::run_serve_bench(
      o,
      [&](const perf::ServeBenchLevel& L) {
        std::printf("%5u %6u %8llu %10.1f %9.1f %9.1f %9.2f %9.2f %6.1f%% %6llu", L.concurrency,
                    L.requests, static_cast<unsigned long long>(L.output_tokens), L.output_tok_s,
                    L.ttft_p50_ms, L.ttft_p99_ms, L.tpot_p50_ms, L.tpot_p99_ms,
                    100.0 * L.prefix_hit_rate, static_cast<unsigned long long>(L.preemptions));
        if (o.multi_turn) {
          std::printf(" %11.1f %11.1f", L.ttft_first_turn_p50_ms, L.ttft_later_turns_p50_ms);
        }
        std::printf("\n");
        if (L.masks > 0) {
          std::printf("      grammar masks: %llu, p50 %.1f us, p99 %.1f us, max %.1f us\n",
                      static_cast<unsigned long long>(L.masks), L.mask_p50_us, L.mask_p99_us,
                      L.mask_max_us);
          if (L.masks_precomputed >= 0 && !precompute_shown) {
            precompute_shown = true;
            std::printf("      (before the run: %lld masks precomputed in %.0f ms)\n",
                        static_cast<long long>(L.masks_precomputed), L.mask_precompute_ms);
          }
        }
        std::fflush(stdout);
      },
      &profile);
  if (!r.ok()) {
    std::fprintf(stderr, "dari: error: %s\n", r.message().c_str());
    return 1;
  }
  double one = 0, eight = 0;
  for (const auto& L : *r) {
    if (L.concurrency == 1) one = L.output_tok_s;
    if (L.concurrency == 8) eight = L.output_tok_s;
  }
  if (one > 0 && eight > 0) std::printf("aggregate tok/s at 8 vs 1: %.2fx\n", eight / one);
  if (o.profile) {
    std::printf("%s",
                perf::format_op_profile(profile, 1.0, "ops of the whole run, all levels").c_str());
  }
  return 0;
}

}  // namespace

DARI_COMMAND(
    "bench-serve", "Benchmark many concurrent requests through the serving engine",
    [](CLI::App& sub) -> std::function<int()> {
      auto a = std::make_shared<BenchServeArgs>();
      sub.add_option("-m,--model", a->o.model_path, "GGUF model (default: the embedded model)");
      sub.add_option("-c,--concurrency", a->o.concurrency, "Concurrent clients, e.g. 1,4,8,16,32")
          ->delimiter(',');
      sub.add_option("-n,--requests", a->o.requests,
                     "Requests per level (default 2 x concurrency, at least 8)");
      sub.add_option("--prompt-tokens", a->prompt_tokens, "Prompt length: N or MIN-MAX");
      sub.add_option("--output-tokens", a->output_tokens, "Output length: N or MIN-MAX");
      sub.add_flag("--multi-turn", a->o.multi_turn,
                   "Chat sessions: each request extends the previous turn (prefix hits)");
      sub.add_option("--turn-tokens", a->o.turn_tokens, "New user tokens per turn (multi-turn)");
      sub.add_option("-t,--threads", a->o.n_threads, "Threads (default: all cores)");
      sub.add_option("--ctx-size", a->o.n_ctx, "Context per request (default: fits the workload)");
      sub.add_option("--step-tokens", a->o.step_tokens, "Token budget per engine step");
      sub.add_option("--kv-tokens", a->o.kv_tokens, "KV pool size in tokens");
      sub.add_flag(
          "--no-prefix-cache", [a](int64_t) { a->o.prefix_cache = false; },
          "Disable automatic prefix caching");
      sub.add_flag(
          "--no-repack", [a](int64_t) { a->o.repack = false; },
          "Read Q4_0, Q4_K and Q5_K weights as stored (no faster copy made at load)");
      sub.add_flag(
          "--profile", [a](int64_t) { a->o.profile = true; },
          "Time every op and print where the run's time went (all levels together)");
      sub.add_option("--seed", a->o.seed, "Workload seed");
      sub.add_option("--grammar-file", a->grammar_file,
                     "Constrain every request by this GBNF grammar (one that never ends, e.g. "
                     "bench/grammar/json_stream.gbnf) and report the token mask times");
      sub.add_flag_function(
          "--grammar-no-precompute", [a](int64_t) { a->o.grammar_precompute = false; },
          "Do not precompute the grammar's masks before the run (first masks on the token path)");
      sub.add_option("--soak", a->o.soak_seconds,
                     "Soak test: random submits and cancels for SECONDS, leak checks");
      sub.add_option("--soak-check", a->o.soak_check_s, "Soak: seconds between idle checks");
      add_backend_options(sub, &a->backend);
      return [a] { return run_bench_serve(*a); };
    });

}  // namespace dari::cli
