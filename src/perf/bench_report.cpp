// Markdown and JSON output of `dari bench`.
#include <nlohmann/json.hpp>

#include <algorithm>

#include "dari/core/strings.h"
#include "dari/perf/model_bench.h"

namespace dari::perf {
namespace {

std::string test_name(const BenchTest& t) {
  return t.n_prompt > 0 ? str_format("pp%u", t.n_prompt) : str_format("tg%u", t.n_gen);
}

std::string gib(uint64_t b) {
  return str_format("%.2f GiB", static_cast<double>(b) / (1ull << 30));
}
std::string mib(uint64_t b) {
  return str_format("%.1f MiB", static_cast<double>(b) / (1ull << 20));
}

std::string params_text(uint64_t n) {
  return n >= 1000000000ull ? str_format("%.2f B", static_cast<double>(n) / 1e9)
                            : str_format("%.2f M", static_cast<double>(n) / 1e6);
}

// The probe result for n threads, or the best one when none matches.
const BandwidthResult* probe_for(const BenchReport& r, unsigned n_threads) {
  const BandwidthResult* best = nullptr;
  for (const BandwidthResult& b : r.bandwidth) {
    if (b.n_threads == n_threads) return &b;
    if (best == nullptr || b.best_gbps > best->best_gbps) best = &b;
  }
  return best;
}

}  // namespace

std::string format_op_profile(const std::vector<OpProfile>& profile, double runs,
                              const std::string& title) {
  double total = 0.0;
  for (const OpProfile& p : profile) total += p.seconds;
  const double n = std::max(1.0, runs);
  std::string out = "\n" + title + " (ms per run, share of op time):\n";
  out += "| op | calls/run | ms/run | share |\n| -- | --------: | -----: | ----: |\n";
  for (const OpProfile& p : profile) {
    out += str_format("| %s | %.0f | %.2f | %.1f%% |\n", p.op.c_str(),
                      static_cast<double>(p.calls) / n, 1e3 * p.seconds / n,
                      total > 0 ? 100.0 * p.seconds / total : 0.0);
  }
  return out;
}

std::string format_markdown_header() {
  return "| model | size | params | backend | threads | test | t/s | GB/token | GB/s |\n"
         "| ----- | ---: | -----: | ------- | ------: | ---: | --: | -------: | ---: |\n";
}

std::string format_markdown_row(const ModelFacts& m, const BenchSample& s) {
  const bool tg = s.test.n_gen > 0;
  const double gb_tok = static_cast<double>(m.decode_bytes_per_token) / 1e9;
  return str_format("| %s | %s | %s | %s | %u | %s | %.2f ± %.2f | %s | %s |\n", m.desc.c_str(),
                    gib(m.file_bytes).c_str(), params_text(m.n_params).c_str(), s.backend.c_str(),
                    s.test.n_threads,
                    test_name(s.test).c_str(), s.mean_tps, s.sd_tps,
                    tg ? str_format("%.3f", gb_tok).c_str() : "-",
                    tg ? str_format("%.1f", s.gbps).c_str() : "-");
}

std::string format_markdown_footer(const BenchReport& r) {
  std::string out = "\n";
  out += str_format("model: %s (%s), load %.0f ms, decode reads %.3f GB of weights per token\n",
                    r.model.path.c_str(), r.model.type_name.c_str(), r.model.load_ms,
                    static_cast<double>(r.model.decode_bytes_per_token) / 1e9);
  out +=
      str_format("peak RSS: %s (ru_maxrss), %s (VmHWM); file %s\n", mib(r.rss.maxrss_bytes).c_str(),
                 mib(r.rss.vm_hwm_bytes).c_str(), mib(r.model.file_bytes).c_str());
  for (const BandwidthResult& b : r.bandwidth) {
    out += str_format(
        "read bandwidth, %u thread%s: best %.1f GB/s, mean %.1f GB/s (%u runs over %s)\n",
        b.n_threads, b.n_threads == 1 ? "" : "s", b.best_gbps, b.mean_gbps, b.runs,
        mib(b.buffer_bytes).c_str());
  }
  for (const BenchSample& s : r.tests) {
    if (s.profile.empty()) continue;
    out += format_op_profile(
        s.profile, static_cast<double>(s.seconds.size()),
        str_format("ops of %s, %u threads", test_name(s.test).c_str(), s.test.n_threads));
  }
  for (const BenchSample& s : r.tests) {
    if (s.test.n_gen == 0) continue;
    const BandwidthResult* b = probe_for(r, s.test.n_threads);
    if (b == nullptr || b->best_gbps <= 0 || r.model.decode_bytes_per_token == 0) continue;
    const double limit = b->best_gbps * 1e9 / static_cast<double>(r.model.decode_bytes_per_token);
    out += str_format(
        "roofline %s, %u threads: %.1f GB/s reached = %.0f%% of %.1f GB/s "
        "(%u-thread probe); limit %.1f t/s\n",
        test_name(s.test).c_str(), s.test.n_threads, s.gbps, 100.0 * s.gbps / b->best_gbps,
        b->best_gbps, b->n_threads, limit);
  }
  return out;
}

std::string format_json(const BenchReport& r) {
  nlohmann::json j;
  j["model"] = {{"path", r.model.path},
                {"desc", r.model.desc},
                {"type", r.model.type_name},
                {"file_bytes", r.model.file_bytes},
                {"tensor_bytes", r.model.tensor_bytes},
                {"n_params", r.model.n_params},
                {"decode_bytes_per_token", r.model.decode_bytes_per_token},
                {"load_ms", r.model.load_ms}};
  j["tests"] = nlohmann::json::array();
  for (const BenchSample& s : r.tests) {
    nlohmann::json samples = nlohmann::json::array();
    for (double sec : s.seconds) samples.push_back(static_cast<uint64_t>(sec * 1e9));
    nlohmann::json profile = nlohmann::json::array();
    for (const OpProfile& p : s.profile) {
      profile.push_back({{"op", p.op}, {"calls", p.calls}, {"seconds", p.seconds}});
    }
    j["tests"].push_back({{"test", test_name(s.test)},
                          {"n_prompt", s.test.n_prompt},
                          {"n_gen", s.test.n_gen},
                          {"n_threads", s.test.n_threads},
                          {"backend", s.backend},
                          {"samples_ns", samples},
                          {"avg_ts", s.mean_tps},
                          {"stdev_ts", s.sd_tps},
                          {"gbps", s.gbps},
                          {"profile", profile}});
  }
  j["peak_rss"] = {{"maxrss_bytes", r.rss.maxrss_bytes}, {"vm_hwm_bytes", r.rss.vm_hwm_bytes}};
  j["bandwidth"] = nlohmann::json::array();
  for (const BandwidthResult& b : r.bandwidth) {
    j["bandwidth"].push_back({{"n_threads", b.n_threads},
                              {"buffer_bytes", b.buffer_bytes},
                              {"runs", b.runs},
                              {"best_gbps", b.best_gbps},
                              {"mean_gbps", b.mean_gbps}});
  }
  return j.dump(2) + "\n";
}

}  // namespace dari::perf
