// bench-serve workload driver and soak test (see dari/perf/serve_bench.h).
#include "dari/perf/serve_bench.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <random>
#include <thread>

#include "constraint_timing.h"
#include "dari/core/strings.h"
#include "dari/engine/serving.h"
#include "dari/model/model.h"

namespace dari::perf {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const double idx = p * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<size_t>(idx);
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (idx - static_cast<double>(lo));
}

struct Outcome {
  bool ok = false;
  bool cancelled = false;
  std::vector<int32_t> tokens;
  double ttft_ms = 0, tpot_ms = -1;
  uint32_t generated = 0;
};

// Submits (retrying while the queue is full) and waits for every choice to end.
Outcome run_request(ServingEngine& e, ServingRequest req, uint32_t n) {
  Outcome out;
  SubmitResult sr;
  for (;;) {
    sr = e.submit(req);
    if (sr.error != SubmitError::kQueueFull) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (sr.error != SubmitError::kNone) return out;
  std::vector<StreamEvent> evs;
  while (sr.stream->wait(std::chrono::milliseconds(100), &evs)) {
  }
  uint32_t done = 0;
  for (const auto& ev : evs) {
    if (ev.kind == StreamEvent::Kind::kToken && ev.index == 0) out.tokens.push_back(ev.token.token);
    if (ev.kind == StreamEvent::Kind::kError) return out;
    if (ev.kind != StreamEvent::Kind::kDone) continue;
    ++done;
    out.generated += ev.timings.generated_tokens;
    out.cancelled = out.cancelled || ev.finish == FinishReason::kCancelled;
    if (ev.index == 0) {
      out.ttft_ms = ev.ttft_ms;
      if (ev.timings.generated_tokens > 1) {
        out.tpot_ms = ev.timings.generation_ms / (ev.timings.generated_tokens - 1);
      }
    }
  }
  out.ok = done == n;
  return out;
}

uint32_t max_of(const std::vector<uint32_t>& v) {
  return v.empty() ? 1 : *std::max_element(v.begin(), v.end());
}

Result<std::unique_ptr<ServingEngine>> start_engine(const ServeBenchOptions& o,
                                                    uint32_t max_running, uint32_t n_ctx) {
  ServingOptions so;
  so.model_path = o.model_path;
  so.n_ctx = n_ctx;
  so.max_running = max_running;
  so.step_tokens = std::max(o.step_tokens, max_running);
  so.kv_tokens = o.kv_tokens;
  so.n_threads = o.n_threads;
  so.repack = o.repack;
  so.backend = o.backend;
  so.n_gpu_layers = o.n_gpu_layers;
  so.profile = o.profile;
  so.prefix_cache = o.prefix_cache;
  so.max_waiting = 4096;
  return ServingEngine::start(so);
}

std::vector<int32_t> random_tokens(std::mt19937_64& rng, uint32_t n, uint32_t n_vocab) {
  std::vector<int32_t> t(n);
  const uint32_t lo = n_vocab > 8 ? 3 : 0;
  for (auto& x : t) x = static_cast<int32_t>(lo + rng() % (n_vocab - lo));
  return t;
}

uint32_t draw(std::mt19937_64& rng, uint32_t lo, uint32_t hi) {
  return hi <= lo ? lo : lo + static_cast<uint32_t>(rng() % (hi - lo + 1));
}

}  // namespace

uint64_t current_rss_bytes() {
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  unsigned long long size = 0, resident = 0;
  const int n = std::fscanf(f, "%llu %llu", &size, &resident);
  std::fclose(f);
  const long page = sysconf(_SC_PAGESIZE);
  return n == 2 && page > 0 ? resident * static_cast<uint64_t>(page) : 0;
}

Result<std::vector<ServeBenchLevel>> run_serve_bench(
    const ServeBenchOptions& o, const std::function<void(const ServeBenchLevel&)>& on_level,
    std::vector<OpProfile>* profile) {
  if (o.concurrency.empty()) return make_error("bench-serve: no concurrency levels");
  if (o.prompt_min == 0 || o.prompt_min > o.prompt_max || o.output_min == 0 ||
      o.output_min > o.output_max) {
    return make_error(
        "bench-serve: need 1 <= prompt_min <= prompt_max, 1 <= output_min <= "
        "output_max");
  }
  const uint32_t max_c = max_of(o.concurrency);
  uint32_t n_ctx = o.n_ctx;
  if (n_ctx == 0) {
    n_ctx = o.prompt_max + o.output_max + 16;
    if (o.multi_turn) n_ctx = std::max<uint32_t>(n_ctx * 4, 1024);
  }
  DARI_ASSIGN_OR_RETURN(auto engine, start_engine(o, max_c, n_ctx));
  const uint32_t n_vocab = engine->model_config().n_vocab;
  MaskTimes mask_times;
  PrecomputeCost precompute;
  std::shared_ptr<const TokenConstraintFactory> constraint;
  if (!o.grammar.empty()) {
    DARI_ASSIGN_OR_RETURN(constraint, timed_grammar_constraint(
                                          o.grammar, engine->tokenizer(), &mask_times,
                                          o.grammar_precompute ? &precompute : nullptr));
  }
  std::vector<ServeBenchLevel> levels;
  for (size_t li = 0; li < o.concurrency.size(); ++li) {
    const uint32_t c = std::max(1u, o.concurrency[li]);
    const uint32_t total = o.requests != 0 ? o.requests : std::max(8u, 2 * c);
    std::atomic<uint32_t> next{0};
    std::mutex mu;
    std::vector<double> ttft, tpot, ttft_first, ttft_later;
    uint64_t out_tokens = 0, prompt_tokens = 0;
    const ServingStats before = engine->stats();
    const auto t0 = Clock::now();
    std::vector<std::thread> clients;
    for (uint32_t ci = 0; ci < c; ++ci) {
      clients.emplace_back([&, ci] {
        std::mt19937_64 rng(o.seed * 1000003 + li * 7919 + ci);
        std::vector<int32_t> ctx;
        uint32_t turn = 0;
        while (next.fetch_add(1) < total) {
          ServingRequest r;
          const uint32_t out_len = draw(rng, o.output_min, o.output_max);
          if (o.multi_turn && !ctx.empty() && ctx.size() + o.turn_tokens + out_len + 1 < n_ctx) {
            auto user = random_tokens(rng, o.turn_tokens, n_vocab);
            ctx.insert(ctx.end(), user.begin(), user.end());
            ++turn;
          } else {
            ctx = random_tokens(rng, draw(rng, o.prompt_min, o.prompt_max), n_vocab);
            turn = 0;
          }
          r.prompt = ctx;
          r.max_tokens = static_cast<int32_t>(out_len);
          r.ignore_eog = true;
          r.sampling.temperature = 0.0f;
          r.sampling.constraint = constraint;
          Outcome res = run_request(*engine, r, 1);
          if (o.multi_turn) ctx.insert(ctx.end(), res.tokens.begin(), res.tokens.end());
          std::lock_guard<std::mutex> lock(mu);
          out_tokens += res.generated;
          prompt_tokens += r.prompt.size();
          if (!res.ok) continue;
          ttft.push_back(res.ttft_ms);
          (turn == 0 ? ttft_first : ttft_later).push_back(res.ttft_ms);
          if (res.tpot_ms >= 0) tpot.push_back(res.tpot_ms);
        }
      });
    }
    for (auto& t : clients) t.join();
    ServeBenchLevel L;
    L.wall_s = seconds_since(t0);
    const ServingStats after = engine->stats();
    L.concurrency = c;
    L.requests = total;
    L.output_tokens = out_tokens;
    L.prompt_tokens = prompt_tokens;
    L.output_tok_s = L.wall_s > 0 ? static_cast<double>(out_tokens) / L.wall_s : 0;
    L.ttft_p50_ms = percentile(ttft, 0.5);
    L.ttft_p99_ms = percentile(ttft, 0.99);
    L.tpot_p50_ms = percentile(tpot, 0.5);
    L.tpot_p99_ms = percentile(tpot, 0.99);
    L.ttft_first_turn_p50_ms = percentile(ttft_first, 0.5);
    L.ttft_later_turns_p50_ms = percentile(ttft_later, 0.5);
    const uint64_t q = after.prefix_query_tokens - before.prefix_query_tokens;
    const uint64_t h = after.prefix_hit_tokens - before.prefix_hit_tokens;
    L.prefix_hit_rate = q > 0 ? static_cast<double>(h) / static_cast<double>(q) : 0;
    L.preemptions = after.preemptions - before.preemptions;
    std::vector<double> masks = mask_times.take();
    L.masks = masks.size();
    L.mask_p50_us = percentile(masks, 0.5);
    L.mask_p99_us = percentile(masks, 0.99);
    for (double m : masks) L.mask_max_us = std::max(L.mask_max_us, m);
    L.masks_precomputed = precompute.entries;
    L.mask_precompute_ms = precompute.ms;
    if (on_level) on_level(L);
    levels.push_back(L);
  }
  engine->shutdown(true);
  if (profile != nullptr) *profile = engine->op_profile();
  return levels;
}

namespace {

struct InFlight {
  std::shared_ptr<Stream> stream;
  Clock::time_point cancel_at;
  bool will_cancel = false;
  bool cancel_sent = false;
};

// Takes the stream's events; true once it has ended.
bool drain_stream(InFlight& f, SoakResult* res) {
  std::vector<StreamEvent> evs;
  const bool more = f.stream->poll(&evs);
  for (const auto& ev : evs) {
    if (ev.kind == StreamEvent::Kind::kError) ++res->errors;
  }
  return !more;
}

// Waits until every in-flight request ended and the engine reports no running or waiting one.
void drain_all(ServingEngine& e, std::vector<InFlight>* inflight, SoakResult* res) {
  while (!inflight->empty()) {
    for (size_t i = 0; i < inflight->size();) {
      if (drain_stream((*inflight)[i], res)) {
        (*inflight)[i] = std::move(inflight->back());
        inflight->pop_back();
      } else {
        ++i;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  const auto t0 = Clock::now();
  while (seconds_since(t0) < 2.0) {
    const ServingStats st = e.stats();
    if (st.running == 0 && st.waiting == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

}  // namespace

Result<SoakResult> run_soak(const ServeBenchOptions& o,
                            const std::function<void(const SoakCheck&)>& on_check) {
  if (o.soak_seconds <= 0) return make_error("soak: duration must be > 0 seconds");
  const uint32_t n_ctx = o.n_ctx != 0 ? o.n_ctx : 256;
  ServeBenchOptions eo = o;
  if (eo.kv_tokens == 0) eo.kv_tokens = uint64_t{n_ctx} * 3;  // tight: forces preemption
  DARI_ASSIGN_OR_RETURN(auto engine, start_engine(eo, 8, n_ctx));
  const uint32_t n_vocab = engine->model_config().n_vocab;
  std::mt19937_64 rng(o.seed);
  std::vector<std::vector<int32_t>> prefixes;
  for (int i = 0; i < 6; ++i) prefixes.push_back(random_tokens(rng, draw(rng, 16, 64), n_vocab));
  SoakResult res;
  std::vector<InFlight> inflight;
  const auto t0 = Clock::now();
  double next_check = std::min(o.soak_check_s, o.soak_seconds);
  for (;;) {
    const double now = seconds_since(t0);
    if (now >= next_check) {
      drain_all(*engine, &inflight, &res);
      const ServingStats st = engine->stats();
      SoakCheck c;
      c.at_s = seconds_since(t0);
      c.rss_bytes = current_rss_bytes();
      c.blocks_used = st.kv_blocks_used;
      c.blocks_cached = st.kv_blocks_cached;
      c.requests = st.requests_finished + st.requests_cancelled;
      c.cancelled = st.requests_cancelled;
      if (c.blocks_used != 0 || st.running != 0 || st.waiting != 0) res.blocks_leaked = true;
      res.checks.push_back(c);
      if (on_check) on_check(c);
      if (now >= o.soak_seconds) break;
      next_check = std::min(next_check + o.soak_check_s, o.soak_seconds);
    }
    while (inflight.size() < 12) {
      ServingRequest r;
      if (rng() % 3 != 0) r.prompt = prefixes[rng() % prefixes.size()];
      auto tail = random_tokens(rng, draw(rng, 1, 96), n_vocab);
      r.prompt.insert(r.prompt.end(), tail.begin(), tail.end());
      r.max_tokens = static_cast<int32_t>(draw(rng, 1, 80));
      r.n = rng() % 5 == 0 ? draw(rng, 2, 3) : 1;
      r.sampling.temperature = rng() % 2 == 0 ? 0.0f : 0.8f;
      r.sampling.seed = rng();
      r.priority = static_cast<int32_t>(rng() % 2);
      r.ignore_eog = rng() % 2 == 0;
      SubmitResult sr = engine->submit(std::move(r));
      if (sr.error != SubmitError::kNone) {
        ++res.errors;
        break;
      }
      ++res.submitted;
      InFlight f;
      f.stream = sr.stream;
      f.will_cancel = rng() % 3 == 0;
      f.cancel_at = Clock::now() + std::chrono::milliseconds(rng() % 60);
      inflight.push_back(std::move(f));
    }
    for (size_t i = 0; i < inflight.size();) {
      InFlight& f = inflight[i];
      if (f.will_cancel && !f.cancel_sent && Clock::now() >= f.cancel_at) {
        engine->cancel(f.stream->id());
        f.cancel_sent = true;
        ++res.cancels_sent;
      }
      if (drain_stream(f, &res)) {
        inflight[i] = std::move(inflight.back());
        inflight.pop_back();
      } else {
        ++i;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  const ServingStats st = engine->stats();
  res.finished = st.requests_finished;
  res.cancelled = st.requests_cancelled;
  if (res.checks.size() >= 2) {
    res.rss_growth_bytes = static_cast<double>(res.checks.back().rss_bytes) -
                           static_cast<double>(res.checks.front().rss_bytes);
  }
  engine->shutdown(true);
  return res;
}

}  // namespace dari::perf
