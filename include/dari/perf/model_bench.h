// `dari bench`: llama-bench-style model throughput, measured on Model::forward + KvCache
// directly (no tokenizer, no sampling), plus the facts needed to state a roofline: weight bytes
// read per decoded token, the GB/s that implies, a memory read bandwidth probe, load time and
// peak RSS.
//
// Test definitions (as llama-bench):
//   pp N : one prompt of N random token ids at positions 0..N-1 into an empty KV cache, fed in
//          chunks of `ubatch` tokens; logits are computed for the last row of each chunk only.
//   tg N : N sequential single-token decodes at positions 0..N-1 into an empty KV cache
//          (random ids, logits for each).
//   Before the repetitions, one warm-up run per test: pp min(N, 32) or tg 1. Every repetition
//   starts from an empty cache. t/s per repetition = N / wall seconds; reported as the mean and
//   the sample standard deviation over repetitions.
//
// Decode bytes per token = every tensor's bytes except token_embd.weight (one row of it is read),
// plus the whole token_embd.weight again when the output projection reuses it (tied). KV cache
// reads are not included (small at these context lengths).
//
// Thread safety: call from one thread; run_model_bench loads the model itself and uses its
// backend's thread pool. measure_read_bandwidth starts and joins its own threads.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "dari/backend/backend.h"
#include "dari/convert/synthetic.h"
#include "dari/core/result.h"

namespace dari::perf {

// Peak resident set size of this process so far, from getrusage (ru_maxrss) and
// /proc/self/status (VmHWM); 0 where unavailable.
struct PeakRss {
  uint64_t maxrss_bytes = 0;
  uint64_t vm_hwm_bytes = 0;
};
PeakRss peak_rss();

struct BandwidthResult {
  unsigned n_threads = 1;
  uint64_t buffer_bytes = 0;
  unsigned runs = 0;
  double best_gbps = 0;  // 1e9 bytes per second, best run
  double mean_gbps = 0;
};
// Streaming read (sum of 64-bit words) over a buffer split evenly between n_threads threads; the
// buffer is allocated and written once first. Best and mean of `runs` passes.
BandwidthResult measure_read_bandwidth(unsigned n_threads, uint64_t buffer_bytes = 1ull << 30,
                                       unsigned runs = 5);

struct ModelFacts {
  std::string path;
  // Where the layers ran (run_model_bench fills it; also on each BenchSample): "CPU", a device
  // name such as "Vulkan0", or "Vulkan0+CPU" when -ngl splits the layers.
  std::string backend = "CPU";
  std::string desc;       // e.g. "llama 1.1B Q4_0"
  std::string type_name;  // weight mix, from general.file_type (or the dominant type)
  uint64_t file_bytes = 0;
  uint64_t tensor_bytes = 0;
  uint64_t n_params = 0;
  uint64_t decode_bytes_per_token = 0;
  double load_ms = 0;  // Model::load of the first thread count
};

struct BenchTest {
  uint32_t n_prompt = 0;  // pp test when > 0 (then n_gen == 0)
  uint32_t n_gen = 0;     // tg test when > 0
  uint32_t n_threads = 1;
};

struct BenchSample {
  BenchTest test;
  std::vector<double> seconds;  // per repetition
  double mean_tps = 0;
  double sd_tps = 0;
  double gbps = 0;  // tg only: decode_bytes_per_token * mean_tps / 1e9
  std::string backend = "CPU";  // where the layers ran (ModelFacts::backend)
  // BenchOptions::profile: backend time per op over the timed repetitions, largest first.
  std::vector<OpProfile> profile;
};

struct BenchOptions {
  std::string model_path;
  std::vector<uint32_t> n_prompt{512};  // 0 entries are skipped
  std::vector<uint32_t> n_gen{128};
  std::vector<uint32_t> threads{2};
  uint32_t reps = 5;
  uint32_t ubatch = 512;
  uint64_t seed = 1234;  // random token ids
  std::string backend = "cpu";  // ModelLoadOptions::backend: NAME or NAME:DEVICE
  int32_t n_gpu_layers = -1;    // ModelLoadOptions::n_gpu_layers (-1: all layers on `backend`)
  bool repack = true;    // ModelLoadOptions::repack
  bool profile = false;  // ModelLoadOptions::profile: fill BenchSample::profile
};

struct BenchReport {
  ModelFacts model;
  std::vector<BenchSample> tests;
  std::vector<BandwidthResult> bandwidth;  // filled by the caller when probed
  PeakRss rss;                             // after the tests (includes the model mapping)
};

// Runs every test of the options (pp tests, then tg tests, for each thread count). on_test is
// called after each test completes (for incremental printing); may be empty.
Result<BenchReport> run_model_bench(const BenchOptions& opts,
                                    const std::function<void(const BenchSample&)>& on_test = {});

// Facts about a model file without running it (params, bytes, decode bytes per token).
Result<ModelFacts> model_facts(const std::string& path);

// llama-bench-like markdown table (one row per test) and the roofline / bandwidth / RSS lines;
// and the same as one JSON object.
std::string format_markdown_header();
// A markdown table of per-op time: calls and ms divided by `runs`, share of the op total.
std::string format_op_profile(const std::vector<OpProfile>& profile, double runs,
                              const std::string& title);
std::string format_markdown_row(const ModelFacts& m, const BenchSample& s);
std::string format_markdown_footer(const BenchReport& r);
std::string format_json(const BenchReport& r);

// ---- Synthetic models (dari bench --synthetic) ----------------------------------------------
// $XDG_CACHE_HOME/dari, else $HOME/.cache/dari, else ./.dari-cache.
std::string default_cache_dir();

struct CachedModel {
  std::string path;
  bool created = false;      // written now (false: reused)
  double write_seconds = 0;  // when created
  SyntheticSummary summary;  // when created
};
// Path of <cache_dir>/synthetic-<shape>-<TYPE>-seed<seed>.gguf, writing it first (creating the
// folder) when absent.
Result<CachedModel> ensure_synthetic_model(
    const std::string& shape, const std::string& type, const std::string& cache_dir,
    uint64_t seed = 1, unsigned n_threads = 0,
    const std::function<void(const SyntheticProgress&)>& on_tensor = {});

}  // namespace dari::perf
