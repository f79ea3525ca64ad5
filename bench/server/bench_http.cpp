// bench_http: HTTP load generator for `dari serve` (not a Google Benchmark; run by hand).
//
//   bench_http --port P [--host 127.0.0.1] [--model ID] [--concurrency 1,8,32] [--requests R]
//              [--max-tokens T] [--idle 1000] [--engine MODEL.gguf]
//
// For each concurrency C, C client threads each send R streaming /v1/completions requests
// back to back (keep-alive) and time every SSE chunk: TTFT = request sent → first text chunk,
// ITL = gaps between text chunks. Prints p50/p99 and generated tokens/s. --idle N first opens N
// keep-alive connections (each answers GET /health), keeps them open during the runs and checks
// they still answer afterwards. --engine MODEL additionally runs the same load through the
// ServingEngine API in-process (no HTTP) for the overhead comparison.
// Boost 1.74's asio/awaitable.hpp uses std::exchange without including <utility>.
#include <utility>

#include <algorithm>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "dari/engine/serving.h"
#include "dari/tokenizer/tokenizer.h"

namespace net = boost::asio;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;
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

// One streaming request on an open connection; appends timings to *s.
bool stream_one(boost::beast::tcp_stream& st, boost::beast::flat_buffer& buf, const Args& a,
                int seed, Samples* s) {
  json body = {{"model", a.model},
               {"prompt", "And it came to pass"},
               {"max_tokens", a.max_tokens},
               {"stream", true},
               {"seed", seed},
               {"temperature", 0.8}};
  http::request<http::string_body> req{http::verb::post, "/v1/completions", 11};
  req.set(http::field::host, a.host);
  req.set(http::field::content_type, "application/json");
  req.body() = body.dump();
  req.prepare_payload();
  boost::system::error_code ec;
  const auto t0 = Clock::now();
  http::write(st, req, ec);
  if (ec) return false;
  http::response_parser<http::empty_body> p;
  p.body_limit(boost::none);
  std::string acc;
  Clock::time_point last{};
  bool first = true;
  auto on_chunk = [&](uint64_t, boost::string_view data, boost::system::error_code&) -> size_t {
    const auto now = Clock::now();
    acc.append(data.data(), data.size());
    size_t pos;
    while ((pos = acc.find("\n\n")) != std::string::npos) {
      std::string ev = acc.substr(0, pos);
      acc.erase(0, pos + 2);
      if (ev.rfind("data: {", 0) != 0) continue;
      json j = json::parse(ev.substr(6), nullptr, false);
      if (j.is_discarded() || !j.contains("choices") || j["choices"].empty()) continue;
      if (j["choices"][0]["text"].get<std::string>().empty()) continue;
      ++s->tokens;
      if (first) {
        s->ttft_ms.push_back(std::chrono::duration<double, std::milli>(now - t0).count());
        first = false;
      } else {
        s->itl_ms.push_back(std::chrono::duration<double, std::milli>(now - last).count());
      }
      last = now;
    }
    return data.size();
  };
  p.on_chunk_body(on_chunk);
  http::read_header(st, buf, p, ec);
  if (ec || p.get().result_int() != 200) return false;
  while (!p.is_done()) {
    http::read_some(st, buf, p, ec);
    if (ec) return false;
  }
  return true;
}

Samples run_http(const Args& a, int c) {
  std::vector<Samples> per(static_cast<size_t>(c));
  std::vector<std::thread> ts;
  for (int i = 0; i < c; ++i) {
    ts.emplace_back([&, i] {
      net::io_context ioc;
      boost::beast::tcp_stream st(ioc);
      boost::beast::flat_buffer buf;
      boost::system::error_code ec;
      st.connect(tcp::endpoint(net::ip::make_address(a.host), a.port), ec);
      if (ec) {
        per[static_cast<size_t>(i)].errors += a.requests;
        return;
      }
      for (int r = 0; r < a.requests; ++r) {
        if (!stream_one(st, buf, a, i * 1000 + r, &per[static_cast<size_t>(i)])) {
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

int check_idle(std::vector<std::unique_ptr<boost::beast::tcp_stream>>& conns, const Args& a) {
  int alive = 0;
  for (auto& st : conns) {
    http::request<http::empty_body> req{http::verb::get, "/health", 11};
    req.set(http::field::host, a.host);
    boost::system::error_code ec;
    http::write(*st, req, ec);
    boost::beast::flat_buffer b;
    http::response<http::string_body> res;
    if (!ec) http::read(*st, b, res, ec);
    if (!ec && res.result_int() == 200) ++alive;
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

int main(int argc, char** argv) {
  Args a;
  if (!parse_args(argc, argv, &a)) return 2;
  net::io_context ioc;
  std::vector<std::unique_ptr<boost::beast::tcp_stream>> idle;
  if (a.idle > 0) {
    for (int i = 0; i < a.idle; ++i) {
      auto st = std::make_unique<boost::beast::tcp_stream>(ioc);
      boost::system::error_code ec;
      st->connect(tcp::endpoint(net::ip::make_address(a.host), a.port), ec);
      if (ec) {
        std::fprintf(stderr, "bench_http: idle connection %d: %s\n", i, ec.message().c_str());
        break;
      }
      idle.push_back(std::move(st));
    }
    std::printf("idle: %zu keep-alive connections open, %d answer /health\n", idle.size(),
                check_idle(idle, a));
  }
  for (int c : a.concurrency) {
    const auto t0 = Clock::now();
    Samples s = run_http(a, c);
    report("http", c, s, std::chrono::duration<double>(Clock::now() - t0).count());
  }
  if (a.idle > 0) {
    std::printf("idle: after the runs %d of %zu idle connections still answer /health\n",
                check_idle(idle, a), idle.size());
  }
  if (!a.engine_model.empty()) {
    dari::ServingOptions eo;
    eo.model_path = a.engine_model;
    eo.max_running = 32;
    auto eng = dari::ServingEngine::start(eo);
    if (!eng.ok()) {
      std::fprintf(stderr, "bench_http: %s\n", eng.message().c_str());
      return 1;
    }
    for (int c : a.concurrency) {
      const auto t0 = Clock::now();
      Samples s = run_engine(**eng, a, c);
      report("engine", c, s, std::chrono::duration<double>(Clock::now() - t0).count());
    }
    (*eng)->shutdown(false);
  }
  return 0;
}
