// bench_http: HTTP load generator for `dari serve` (not a Google Benchmark; run by hand).
//
//   bench_http --port P [--host 127.0.0.1] [--model ID] [--concurrency 1,8,32] [--requests R]
//              [--max-tokens T] [--idle 1000] [--engine MODEL.gguf] [--reps 3]
//              [--engine-parallel 16] [--engine-threads 0]
//
// For each concurrency C, C client threads each send R streaming /v1/completions requests
// back to back (keep-alive) and time every SSE chunk: TTFT = request sent → first text chunk,
// ITL = gaps between text chunks. Prints p50/p99 and generated tokens/s. --idle N first opens N
// keep-alive connections (each answers GET /health), keeps them open during the runs and checks
// they still answer afterwards. --engine MODEL additionally runs the same load through the
// ServingEngine API in-process (no HTTP), --reps times per concurrency, interleaved with as many
// HTTP repetitions (HTTP, engine, HTTP, engine, ...) so that drift in machine load hits both
// alike, and prints "HTTP overhead at C clients: X%" (generated tokens/s of the engine over those
// of HTTP, minus 1) with the TTFT/ITL p50 differences. Give --engine-parallel the server's
// --parallel (and --engine-threads its --threads) so both sides run the same engine setup.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "dari/engine/serving.h"
#include "dari/tokenizer/tokenizer.h"
#include "load_client.h"

using dari::bench::Conn;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

namespace {

struct Args {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;
  std::string model = "dari-tiny";
  std::vector<int> concurrency = {1, 8, 32};
  int requests = 4;
  int max_tokens = 64;
  int idle = 0;
  std::string engine_model;
  int reps = 3;
  uint32_t engine_parallel = 16;
  uint32_t engine_threads = 0;
  dari::bench::Target target() const { return {host, port}; }
};

struct Samples {
  std::vector<double> ttft_ms;
  std::vector<double> itl_ms;
  uint64_t tokens = 0;
  int errors = 0;
};

double pct(std::vector<double> v, double p) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())));
  return v[i];
}

void merge(Samples* into, const Samples& s) {
  into->ttft_ms.insert(into->ttft_ms.end(), s.ttft_ms.begin(), s.ttft_ms.end());
  into->itl_ms.insert(into->itl_ms.end(), s.itl_ms.begin(), s.itl_ms.end());
  into->tokens += s.tokens;
  into->errors += s.errors;
}

void report(const char* what, int c, const Samples& s, double secs) {
  std::printf(
      "%-6s c=%-3d requests=%-4zu errors=%d  TTFT p50 %7.2f ms p99 %7.2f ms  "
      "ITL p50 %6.2f ms p99 %6.2f ms  %8.1f tok/s\n",
      what, c, s.ttft_ms.size(), s.errors, pct(s.ttft_ms, 0.5), pct(s.ttft_ms, 0.99),
      pct(s.itl_ms, 0.5), pct(s.itl_ms, 0.99), static_cast<double>(s.tokens) / secs);
  std::fflush(stdout);
}

// One streaming request on an open keep-alive connection; appends timings to *s.
bool stream_one(Conn& conn, std::string* carry, const Args& a, int seed, Samples* s) {
  json body = {{"model", a.model},
               {"prompt", "And it came to pass"},
               {"max_tokens", a.max_tokens},
               {"stream", true},
               {"seed", seed},
               {"temperature", 0.8}};
  const std::string req =
      dari::bench::build_request("POST", "/v1/completions", a.host, body.dump());
  std::string err;
  const auto t0 = Clock::now();
  if (!conn.send_all(req, &err)) return false;
  Clock::time_point last{};
  bool first = true;
  dari::bench::SseSplitter sse;
  dari::bench::ReadOptions ro;
  ro.on_body = [&](std::string_view data) {
    const auto now = Clock::now();
    sse.feed(data, [&](const std::string& payload) {
      json j = json::parse(payload, nullptr, false);
      if (j.is_discarded() || !j.contains("choices") || j["choices"].empty()) return;
      if (j["choices"][0].value("text", "").empty()) return;
      ++s->tokens;
      if (first) {
        s->ttft_ms.push_back(std::chrono::duration<double, std::milli>(now - t0).count());
        first = false;
      } else {
        s->itl_ms.push_back(std::chrono::duration<double, std::milli>(now - last).count());
      }
      last = now;
    });
    return true;
  };
  const auto r = dari::bench::read_response(conn, carry, ro);
  return r.complete && r.status == 200;
}

Samples run_http(const Args& a, int c) {
  std::vector<Samples> per(static_cast<size_t>(c));
  std::vector<std::thread> ts;
  for (int i = 0; i < c; ++i) {
    ts.emplace_back([&, i] {
      Conn conn;
      std::string err, carry;
      if (!conn.connect(a.target(), {}, &err)) {
        per[static_cast<size_t>(i)].errors += a.requests;
        return;
      }
      for (int r = 0; r < a.requests; ++r) {
        if (!stream_one(conn, &carry, a, i * 1000 + r, &per[static_cast<size_t>(i)])) {
          ++per[static_cast<size_t>(i)].errors;
          return;
        }
      }
    });
  }
  for (auto& t : ts) t.join();
  Samples all;
  for (const auto& s : per) merge(&all, s);
  return all;
}

Samples run_engine(dari::ServingEngine& eng, const Args& a, int c) {
  std::vector<Samples> per(static_cast<size_t>(c));
  dari::EncodeOptions eo;
  const auto prompt = eng.tokenizer().encode("And it came to pass", eo);
  std::vector<std::thread> ts;
  for (int i = 0; i < c; ++i) {
    ts.emplace_back([&, i] {
      Samples& s = per[static_cast<size_t>(i)];
      for (int r = 0; r < a.requests; ++r) {
        dari::ServingRequest req;
        req.prompt = prompt;
        req.sampling.temperature = 0.8f;
        req.sampling.seed = static_cast<uint64_t>(i * 1000 + r);
        req.max_tokens = a.max_tokens;
        const auto t0 = Clock::now();
        auto res = eng.submit(req);
        if (!res.stream) {
          ++s.errors;
          continue;
        }
        Clock::time_point last{};
        bool first = true;
        std::vector<dari::StreamEvent> evs;
        while (res.stream->wait(std::chrono::milliseconds(1000), &evs)) {
          const auto now = Clock::now();
          for (const auto& ev : evs) {
            if (ev.kind != dari::StreamEvent::Kind::kToken || ev.token.text.empty()) continue;
            ++s.tokens;
            (first ? s.ttft_ms : s.itl_ms)
                .push_back(
                    std::chrono::duration<double, std::milli>(now - (first ? t0 : last)).count());
            first = false;
            last = now;
          }
          evs.clear();
        }
      }
    });
  }
  for (auto& t : ts) t.join();
  Samples all;
  for (const auto& s : per) merge(&all, s);
  return all;
}

int check_idle(std::vector<Conn>& conns, const Args& a) {
  int alive = 0;
  for (auto& c : conns) {
    std::string err, carry;
    if (!c.send_all(dari::bench::build_request("GET", "/health", a.host, ""), &err)) continue;
    const auto r = dari::bench::read_response(c, &carry, {});
    if (r.complete && r.status == 200) ++alive;
  }
  return alive;
}

bool parse_args(int argc, char** argv, Args* a) {
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    const std::string v = argv[i + 1];
    if (k == "--host")
      a->host = v;
    else if (k == "--port")
      a->port = static_cast<uint16_t>(std::stoi(v));
    else if (k == "--model")
      a->model = v;
    else if (k == "--requests")
      a->requests = std::stoi(v);
    else if (k == "--max-tokens")
      a->max_tokens = std::stoi(v);
    else if (k == "--idle")
      a->idle = std::stoi(v);
    else if (k == "--engine")
      a->engine_model = v;
    else if (k == "--reps")
      a->reps = std::max(1, std::stoi(v));
    else if (k == "--engine-parallel")
      a->engine_parallel = static_cast<uint32_t>(std::max(1, std::stoi(v)));
    else if (k == "--engine-threads")
      a->engine_threads = static_cast<uint32_t>(std::max(0, std::stoi(v)));
    else if (k == "--concurrency") {
      a->concurrency.clear();
      size_t pos = 0;
      while (pos < v.size()) {
        size_t end = v.find(',', pos);
        if (end == std::string::npos) end = v.size();
        a->concurrency.push_back(std::stoi(v.substr(pos, end - pos)));
        pos = end + 1;
      }
    } else {
      std::fprintf(stderr, "bench_http: unknown option %s\n", k.c_str());
      return false;
    }
  }
  return true;
}

}  // namespace

// --engine: per concurrency, HTTP and in-process engine repetitions interleaved, then the
// overhead line.
int compare_with_engine(const Args& a) {
  dari::ServingOptions eo;
  eo.model_path = a.engine_model;
  eo.max_running = a.engine_parallel;
  eo.n_threads = a.engine_threads;
  auto eng = dari::ServingEngine::start(eo);
  if (!eng.ok()) {
    std::fprintf(stderr, "bench_http: %s\n", eng.message().c_str());
    return 1;
  }
  for (int c : a.concurrency) {
    Samples http, engine;
    double http_s = 0, engine_s = 0;
    for (int r = 0; r < a.reps; ++r) {
      auto t0 = Clock::now();
      merge(&http, run_http(a, c));
      http_s += std::chrono::duration<double>(Clock::now() - t0).count();
      t0 = Clock::now();
      merge(&engine, run_engine(**eng, a, c));
      engine_s += std::chrono::duration<double>(Clock::now() - t0).count();
    }
    report("http", c, http, http_s);
    report("engine", c, engine, engine_s);
    const double http_tps = static_cast<double>(http.tokens) / http_s;
    const double engine_tps = static_cast<double>(engine.tokens) / engine_s;
    std::printf(
        "HTTP overhead at %d clients: %.1f%% (generated tok/s engine %.1f vs HTTP %.1f; TTFT p50 "
        "%+.2f ms, ITL p50 %+.2f ms; %d interleaved repetitions, errors %d)\n",
        c, http_tps > 0 ? (engine_tps / http_tps - 1.0) * 100.0 : 0.0, engine_tps, http_tps,
        pct(http.ttft_ms, 0.5) - pct(engine.ttft_ms, 0.5),
        pct(http.itl_ms, 0.5) - pct(engine.itl_ms, 0.5), a.reps, http.errors + engine.errors);
    std::fflush(stdout);
  }
  (*eng)->shutdown(false);
  return 0;
}

int main(int argc, char** argv) {
  Args a;
  if (!parse_args(argc, argv, &a)) return 2;
  std::vector<Conn> idle;
  if (a.idle > 0) {
    for (int i = 0; i < a.idle; ++i) {
      Conn c;
      std::string err;
      if (!c.connect(a.target(), {}, &err)) {
        std::fprintf(stderr, "bench_http: idle connection %d: %s\n", i, err.c_str());
        break;
      }
      idle.push_back(std::move(c));
    }
    std::printf("idle: %zu keep-alive connections open, %d answer /health\n", idle.size(),
                check_idle(idle, a));
  }
  if (!a.engine_model.empty()) {
    if (int rc = compare_with_engine(a); rc != 0) return rc;
  } else {
    for (int c : a.concurrency) {
      const auto t0 = Clock::now();
      Samples s = run_http(a, c);
      report("http", c, s, std::chrono::duration<double>(Clock::now() - t0).count());
    }
  }
  if (a.idle > 0) {
    std::printf("idle: after the runs %d of %zu idle connections still answer /health\n",
                check_idle(idle, a), idle.size());
  }
  return 0;
}
