// Prometheus text rendering of the server's counters and the engine's gauges.
#include "dari/server/metrics.h"

#include <cstdio>

namespace dari::server {

namespace {

std::string num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

void header(std::string* out, const char* name, const char* type, const char* help) {
  *out += "# HELP ";
  *out += name;
  *out += " ";
  *out += help;
  *out += "\n# TYPE ";
  *out += name;
  *out += " ";
  *out += type;
  *out += "\n";
}

void gauge(std::string* out, const char* name, const char* help, double v) {
  header(out, name, "gauge", help);
  *out += std::string(name) + " " + num(v) + "\n";
}

void counter(std::string* out, const char* name, const char* help, double v) {
  header(out, name, "counter", help);
  *out += std::string(name) + " " + num(v) + "\n";
}

}  // namespace

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}

void Histogram::observe(double v) {
  size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) ++i;
  ++counts_[i];
  sum_ += v;
  ++count_;
}

void Histogram::render(const std::string& name, std::string* out) const {
  uint64_t cum = 0;
  for (size_t i = 0; i < bounds_.size(); ++i) {
    cum += counts_[i];
    *out += name + "_bucket{le=\"" + num(bounds_[i]) + "\"} " + std::to_string(cum) + "\n";
  }
  cum += counts_.back();
  *out += name + "_bucket{le=\"+Inf\"} " + std::to_string(cum) + "\n";
  *out += name + "_sum " + num(sum_) + "\n";
  *out += name + "_count " + std::to_string(count_) + "\n";
}

Metrics::Metrics()
    : ttft_({0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5,
             10.0}),
      tpot_({0.001, 0.005, 0.01, 0.015, 0.02, 0.025, 0.03, 0.04, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3,
             0.4, 0.5, 0.75, 1.0, 2.5}),
      e2e_({0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96,
            81.92}) {}

void Metrics::count_request(const std::string& endpoint, int status) {
  std::lock_guard<std::mutex> lock(mu_);
  ++requests_[{endpoint, status}];
}

uint64_t Metrics::requests(const std::string& endpoint, int status) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = requests_.find({endpoint, status});
  return it == requests_.end() ? 0 : it->second;
}

std::vector<std::string> Metrics::count_ignored_fields(const std::vector<std::string>& names) {
  std::vector<std::string> fresh;
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& raw : names) {
    std::string name = raw.substr(0, 64);
    for (char& c : name) {
      const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                      (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
      if (!ok) c = '_';
    }
    auto it = ignored_fields_.find(name);
    if (it == ignored_fields_.end()) {
      if (ignored_fields_.size() >= kMaxIgnoredNames) name = "(other)";
      auto [pos, added] = ignored_fields_.try_emplace(name, 0);
      if (added && name != "(other)") fresh.push_back(name);
      it = pos;
    }
    ++it->second;
  }
  return fresh;
}

uint64_t Metrics::ignored_field_count(const std::string& name) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = ignored_fields_.find(name);
  return it == ignored_fields_.end() ? 0 : it->second;
}

void Metrics::observe_request(double ttft_s, double tpot_s, double e2e_s, bool have_tokens) {
  std::lock_guard<std::mutex> lock(mu_);
  if (have_tokens) {
    ttft_.observe(ttft_s);
    if (tpot_s > 0.0) tpot_.observe(tpot_s);
  }
  e2e_.observe(e2e_s);
}

void Metrics::add_tokens(uint64_t prompt, uint64_t generated) {
  std::lock_guard<std::mutex> lock(mu_);
  prompt_tokens_ += prompt;
  generated_tokens_ += generated;
}

std::string Metrics::render(const ServingStats* s, uint64_t http_in_flight, bool ready) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out;
  header(&out, "dari_http_requests_total", "counter",
         "HTTP requests answered, by route and status");
  for (const auto& [key, n] : requests_) {
    out += "dari_http_requests_total{endpoint=\"" + key.first + "\",status=\"" +
           std::to_string(key.second) + "\"} " + std::to_string(n) + "\n";
  }
  gauge(&out, "dari_http_requests_in_flight", "API requests being answered",
        static_cast<double>(http_in_flight));
  gauge(&out, "dari_ready", "1 when the model is loaded and requests are accepted", ready ? 1 : 0);
  counter(&out, "gen_ai_client_token_usage_input_total", "Prompt tokens of finished requests",
          static_cast<double>(prompt_tokens_));
  counter(&out, "gen_ai_client_token_usage_output_total", "Generated tokens of finished requests",
          static_cast<double>(generated_tokens_));
  if (s != nullptr) {
    gauge(&out, "dari_requests_waiting", "Requests queued, not yet admitted", s->waiting);
    gauge(&out, "dari_requests_running", "Requests admitted (prefill or decode)", s->running);
    gauge(&out, "dari_kv_blocks_total", "KV cache blocks in the pool", s->kv_blocks_total);
    gauge(&out, "dari_kv_blocks_used", "KV cache blocks referenced by live sequences",
          s->kv_blocks_used);
    gauge(&out, "dari_kv_blocks_cached", "Unreferenced KV blocks kept by the prefix cache",
          s->kv_blocks_cached);
    const double hit = s->prefix_query_tokens == 0
                           ? 0.0
                           : static_cast<double>(s->prefix_hit_tokens) /
                                 static_cast<double>(s->prefix_query_tokens);
    gauge(&out, "dari_prefix_cache_hit_rate", "Prompt tokens found in the prefix cache / looked up",
          hit);
    counter(&out, "dari_prefix_cache_queries_total", "Prompt tokens looked up in the prefix cache",
            static_cast<double>(s->prefix_query_tokens));
    counter(&out, "dari_prefix_cache_hits_total", "Prompt tokens found in the prefix cache",
            static_cast<double>(s->prefix_hit_tokens));
    counter(&out, "dari_prompt_tokens_total", "Prompt tokens computed by the engine",
            static_cast<double>(s->prompt_tokens));
    counter(&out, "dari_generation_tokens_total", "Tokens generated by the engine",
            static_cast<double>(s->generated_tokens));
    counter(&out, "dari_requests_finished_total", "Engine requests finished",
            static_cast<double>(s->requests_finished));
    counter(&out, "dari_requests_cancelled_total", "Engine requests cancelled",
            static_cast<double>(s->requests_cancelled));
    counter(&out, "dari_preemptions_total", "Sequences preempted under KV pressure",
            static_cast<double>(s->preemptions));
  }
  header(&out, "dari_api_ignored_fields_total", "counter",
         "Request fields the server did not know and ignored, by name (--strict-api rejects)");
  for (const auto& [name, n] : ignored_fields_) {
    out += "dari_api_ignored_fields_total{field=\"" + name + "\"} " + std::to_string(n) + "\n";
  }
  header(&out, "gen_ai_server_time_to_first_token_seconds", "histogram",
         "Time from request arrival to the first generated token");
  ttft_.render("gen_ai_server_time_to_first_token_seconds", &out);
  header(&out, "gen_ai_server_time_per_output_token_seconds", "histogram",
         "Decode time per output token after the first");
  tpot_.render("gen_ai_server_time_per_output_token_seconds", &out);
  header(&out, "gen_ai_server_request_duration_seconds", "histogram",
         "Time from request arrival to its last byte");
  e2e_.render("gen_ai_server_request_duration_seconds", &out);
  return out;
}

}  // namespace dari::server
