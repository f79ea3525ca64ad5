// dari bench: llama-bench-style prefill (pp) and decode (tg) throughput of a model, measured on
// the forward pass directly (see dari/perf/model_bench.h), with an optional memory bandwidth
// probe so the decode roofline is stated in the same run.
#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "cmd_common.h"
#include "command.h"
#include "dari/core/strings.h"
#include "dari/perf/model_bench.h"
#include "dari/perf/progress.h"

namespace dari::cli {
namespace {

struct BenchArgs {
  std::string model;
  std::string synthetic;
  std::string type = "Q4_0";
  std::string cache_dir;
  std::string prompts = "512";
  std::string gens = "128";
  std::string threads;
  uint32_t reps = 5;
  uint32_t ubatch = 512;
  std::string output = "md";
  bool bandwidth = false;
  uint32_t bandwidth_mib = 1024;
  bool no_repack = false;
  bool profile = false;
  BackendCliOptions backend;
};

// "512,128" -> {512, 128}; false on anything else.
bool parse_list(const std::string& s, const char* flag, std::vector<uint32_t>* out) {
  out->clear();
  for (const std::string& part : split(s, ',')) {
    char* end = nullptr;
    const unsigned long v = std::strtoul(part.c_str(), &end, 10);
    if (part.empty() || end == nullptr || *end != '\0' || v > 1000000ul) {
      std::fprintf(stderr, "dari: error: %s: '%s' is not a number list like 512,1024\n", flag,
                   s.c_str());
      return false;
    }
    out->push_back(static_cast<uint32_t>(v));
  }
  return true;
}

// The model path from -m / --synthetic / the default model; "" after printing an error.
std::string resolve_model(const BenchArgs& a, unsigned n_threads) {
  if (!a.synthetic.empty()) {
    if (!a.model.empty()) {
      std::fprintf(stderr, "dari: error: give either -m or --synthetic, not both\n");
      return "";
    }
    const std::string dir = a.cache_dir.empty() ? perf::default_cache_dir() : a.cache_dir;
    perf::ProgressBar bar(stderr);
    bool drew = false;
    auto c = perf::ensure_synthetic_model(
        a.synthetic, a.type, dir, 1, n_threads, [&](const SyntheticProgress& p) {
          if (!drew) {
            std::fprintf(stderr,
                         "dari: writing synthetic model "
                         "%s %s to %s\n",
                         a.synthetic.c_str(), a.type.c_str(), dir.c_str());
            drew = true;
          }
          bar.update(p.index, p.total, p.done_bytes, p.total_bytes, p.name);
        });
    if (drew) bar.finish();
    if (!c.ok()) {
      std::fprintf(stderr, "dari: error: %s\n", c.message().c_str());
      return "";
    }
    if (c->created) {
      std::fprintf(stderr, "dari: wrote %s (%zu tensors, %.1fM params, %s) in %.1f s\n",
                   c->path.c_str(), c->summary.n_tensors,
                   static_cast<double>(c->summary.n_params) / 1e6,
                   human_bytes(c->summary.file_bytes).c_str(), c->write_seconds);
    } else {
      std::fprintf(stderr, "dari: reusing cached synthetic model %s\n", c->path.c_str());
    }
    return c->path;
  }
  if (!a.model.empty()) return a.model;
  std::string def = find_default_model();
  if (def.empty()) {
    std::fprintf(stderr,
                 "dari: error: no model given (-m or --synthetic) and the default model "
                 "%s was not found\n",
                 kDefaultModelFile);
    return "";
  }
  std::fprintf(stderr, "dari: using the default model %s\n", def.c_str());
  return def;
}

int run_bench(const BenchArgs& a) {
  perf::BenchOptions o;
  ResolvedBackend rb;
  if (!resolve_backend(a.backend, &rb) || !apply_backend(rb, &o)) return 1;
  if (!parse_list(a.prompts, "-p", &o.n_prompt) || !parse_list(a.gens, "-n", &o.n_gen)) return 1;
  if (a.threads.empty()) {
    o.threads = {std::max(1u, std::thread::hardware_concurrency())};
  } else if (!parse_list(a.threads, "-t", &o.threads)) {
    return 1;
  }
  for (uint32_t t : o.threads) {
    if (t == 0 || t > 1024) {
      std::fprintf(stderr, "dari: error: -t: thread counts must be 1..1024\n");
      return 1;
    }
  }
  if (a.output != "md" && a.output != "json") {
    std::fprintf(stderr, "dari: error: -o: expected md or json, got '%s'\n", a.output.c_str());
    return 1;
  }
  o.reps = std::max(1u, a.reps);
  o.repack = !a.no_repack;
  o.profile = a.profile;
  o.ubatch = std::max(1u, a.ubatch);
  const bool json = a.output == "json";
  const bool any_test =
      std::any_of(o.n_prompt.begin(), o.n_prompt.end(), [](uint32_t v) { return v > 0; }) ||
      std::any_of(o.n_gen.begin(), o.n_gen.end(), [](uint32_t v) { return v > 0; });

  perf::BenchReport rep;
  if (any_test) {
    o.model_path = resolve_model(a, *std::max_element(o.threads.begin(), o.threads.end()));
    if (o.model_path.empty()) return 1;
    auto facts = perf::model_facts(o.model_path);
    if (!facts.ok()) {
      std::fprintf(stderr, "dari: error: %s\n", facts.message().c_str());
      return 1;
    }
    if (!json) std::printf("%s", perf::format_markdown_header().c_str());
    std::fflush(stdout);
    auto r = perf::run_model_bench(o, [&](const perf::BenchSample& s) {
      if (!json) std::printf("%s", perf::format_markdown_row(*facts, s).c_str());
      std::fflush(stdout);
    });
    if (!r.ok()) {
      std::fprintf(stderr, "dari: error: %s\n", r.message().c_str());
      return 1;
    }
    rep = std::move(*r);
  }
  if (a.bandwidth) {
    std::vector<unsigned> counts{1};
    for (uint32_t t : o.threads) {
      if (std::find(counts.begin(), counts.end(), t) == counts.end()) counts.push_back(t);
    }
    for (unsigned t : counts) {
      rep.bandwidth.push_back(
          perf::measure_read_bandwidth(t, uint64_t{std::max(1u, a.bandwidth_mib)} << 20, 5));
    }
  }
  if (!any_test) rep.rss = perf::peak_rss();
  if (json) {
    std::printf("%s", perf::format_json(rep).c_str());
  } else {
    std::printf("%s", perf::format_markdown_footer(rep).c_str());
  }
  return 0;
}

}  // namespace
}  // namespace dari::cli

DARI_COMMAND(
    "bench", "Measure prefill/decode speed of a model (llama-bench style)",
    [](CLI::App& sub) -> std::function<int()> {
      auto a = std::make_shared<dari::cli::BenchArgs>();
      sub.add_option("-m,--model", a->model, "GGUF model (default: the default model)");
      sub.add_option("--synthetic", a->synthetic,
                     "Random-weight model of a named shape: tinyllama-1.1b, llama-3.2-1b, "
                     "qwen2.5-0.5b, llama-3-8b, tiny, tiny-qwen2 (written to the cache once)");
      sub.add_option(
          "--type", a->type,
          "Weights of the synthetic model: Q4_0, Q4_K_M, Q5_K_M, Q8_0, Q6_K, F16, BF16, F32 "
          "(default Q4_0)");
      sub.add_option("--cache-dir", a->cache_dir,
                     "Folder for synthetic models (default $XDG_CACHE_HOME/dari or "
                     "~/.cache/dari)");
      sub.add_option("-p,--n-prompt", a->prompts, "Prompt lengths, comma-separated (default 512)");
      sub.add_option("-n,--n-gen", a->gens, "Generated tokens, comma-separated (default 128)");
      sub.add_option("-t,--threads", a->threads,
                     "Thread counts, comma-separated (default: all cores)");
      sub.add_option("-r,--repetitions", a->reps, "Repetitions of each test (default 5)");
      sub.add_option("-u,--ubatch", a->ubatch, "Prompt tokens per forward call (default 512)");
      sub.add_option("-o,--output", a->output, "Output format: md or json (default md)");
      sub.add_flag("--no-repack", a->no_repack,
                   "Read Q4_0, Q4_K and Q5_K weights as stored (no faster copy made at load)");
      sub.add_flag("--profile", a->profile,
                   "Time every op and print where each test's time goes (adds a clock read "
                   "per op)");
      sub.add_flag("--bandwidth", a->bandwidth,
                   "Also probe memory read bandwidth (1 thread and each -t count)");
      sub.add_option("--bandwidth-mib", a->bandwidth_mib,
                     "Buffer size of the bandwidth probe in MiB (default 1024)");
      dari::cli::add_backend_options(sub, &a->backend);
      return [a]() { return dari::cli::run_bench(*a); };
    });
