// Prometheus metrics of `dari serve` (text exposition format 0.0.4).
//
// Names follow the OpenTelemetry GenAI semantic conventions where they exist
// (gen_ai.server.time_to_first_token → gen_ai_server_time_to_first_token_seconds,
// gen_ai.server.time_per_output_token, gen_ai.server.request.duration); the rest are dari_*.
// Engine gauges (queue, running, KV blocks, prefix cache) come from ServingStats at render time.
//
// Thread safety: every method may be called from any thread (one mutex).
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "dari/engine/serving.h"

namespace dari::server {

class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void observe(double v);
  // Appends the _bucket/_sum/_count lines of `name`.
  void render(const std::string& name, std::string* out) const;
  uint64_t count() const { return count_; }

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;  // per bound, plus +Inf (not cumulative)
  double sum_ = 0.0;
  uint64_t count_ = 0;
};

class Metrics {
 public:
  Metrics();
  // One HTTP request answered: endpoint is the route ("/v1/chat/completions", "other").
  void count_request(const std::string& endpoint, int status);
  // One finished choice/request (seconds).
  void observe_request(double ttft_s, double tpot_s, double e2e_s, bool have_tokens);
  void add_tokens(uint64_t prompt, uint64_t generated);
  uint64_t requests(const std::string& endpoint, int status) const;
  // Request fields the server ignored (unknown names). Names are reduced to [A-Za-z0-9_.-]
  // (others become '_'); after kMaxIgnoredNames distinct names the rest count as "(other)".
  // Returns the names seen for the first time (the caller logs each once).
  std::vector<std::string> count_ignored_fields(const std::vector<std::string>& names);
  uint64_t ignored_field_count(const std::string& name) const;
  static constexpr size_t kMaxIgnoredNames = 100;

  // stats: null while the model is loading (engine gauges omitted).
  std::string render(const ServingStats* stats, uint64_t http_in_flight, bool ready) const;

 private:
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;
  Histogram ttft_;
  Histogram tpot_;
  Histogram e2e_;
  uint64_t prompt_tokens_ = 0;
  uint64_t generated_tokens_ = 0;
  std::map<std::string, uint64_t> ignored_fields_;
};

}  // namespace dari::server
