// bench_request_path: what a hostile or careless client costs the I/O side of `dari serve`.
// Run against a server you started (by hand; not a CTest test):
//
//   dari serve -m MODEL --port 8080 &
//   bench_request_path health --port 8080 [--model dari-tiny] [--big-mb 7] [--big 4]
//       Sends --big requests of --big-mb MB prompts (each parsed and tokenized by the server)
//       from their own connections while one client asks GET /health every 5 ms; prints the
//       /health latency (p50, p99, max, ms) over the time the big requests were being prepared.
//   dari serve -m MODEL --port 8081 --policy always.toml &     # [keys] require = "always"
//   bench_request_path keyless --port 8081 [--big-mb 6.5] [--runs 20]
//       Sends the header of a keyless POST announcing a --big-mb MB body, then the body, and
//       prints how long the 401 took from the header's last byte (p50, p99, ms).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "load_client.h"

namespace {

using Clock = std::chrono::steady_clock;
using dari::bench::Conn;
using dari::bench::ConnOptions;
using dari::bench::Target;

double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())));
  return v[i];
}

// One big completions request, answered or not; the prompt is words so that it tokenizes.
void send_big(const Target& t, const std::string& model, size_t bytes, std::atomic<int>* done) {
  std::string prompt;
  prompt.reserve(bytes);
  while (prompt.size() < bytes) prompt += "the bridge over the river ";
  const std::string body =
      "{\"model\":\"" + model + "\",\"prompt\":\"" + prompt + "\",\"max_tokens\":1}";
  Conn c;
  std::string err, carry;
  if (c.connect(t, ConnOptions{}, &err) &&
      c.send_all(dari::bench::build_request("POST", "/v1/completions", t.host, body), &err)) {
    dari::bench::Response r = dari::bench::read_response(c, &carry, {});
    std::fprintf(stderr, "big request: status %d\n", r.status);
  } else {
    std::fprintf(stderr, "big request: %s\n", err.c_str());
  }
  done->fetch_add(1);
}

int health(const Target& t, const std::string& model, double big_mb, int big) {
  std::atomic<int> done{0};
  std::vector<std::thread> senders;
  for (int i = 0; i < big; ++i) {
    senders.emplace_back(send_big, t, model, static_cast<size_t>(big_mb * 1e6), &done);
  }
  std::vector<double> lat;
  Conn c;
  std::string err, carry;
  if (!c.connect(t, ConnOptions{}, &err)) {
    std::fprintf(stderr, "%s\n", err.c_str());
    return 1;
  }
  while (done.load() < big) {
    const auto t0 = Clock::now();
    if (!c.send_all(dari::bench::build_request("GET", "/health", t.host, ""), &err)) break;
    dari::bench::Response r = dari::bench::read_response(c, &carry, {});
    lat.push_back(ms_since(t0));
    if (r.status != 200) std::fprintf(stderr, "/health: %d %s\n", r.status, r.error.c_str());
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  for (auto& s : senders) s.join();
  std::printf("/health while %d x %.1f MB requests were prepared: %zu probes, p50 %.2f ms, "
              "p99 %.2f ms, max %.2f ms\n",
              big, big_mb, lat.size(), percentile(lat, 0.5), percentile(lat, 0.99),
              percentile(lat, 1.0));
  return 0;
}

int keyless(const Target& t, double big_mb, int runs) {
  const size_t bytes = static_cast<size_t>(big_mb * 1e6);
  const std::string chunk(64 * 1024, 'a');
  std::vector<double> lat;
  for (int i = 0; i < runs; ++i) {
    Conn c;
    std::string err, got;
    if (!c.connect(t, ConnOptions{}, &err)) {
      std::fprintf(stderr, "%s\n", err.c_str());
      return 1;
    }
    const std::string head = "POST /v1/completions HTTP/1.1\r\nHost: " + t.host +
                             "\r\nContent-Type: application/json\r\nContent-Length: " +
                             std::to_string(bytes) + "\r\n\r\n";
    if (!c.send_all(head, &err)) return 1;
    const auto t0 = Clock::now();
    // Keep sending the body until the answer shows up (or the body is all sent).
    size_t sent = 0;
    while (sent < bytes && !c.wait_readable(0)) {
      std::string e;
      if (!c.send_all(std::string_view(chunk).substr(0, std::min(chunk.size(), bytes - sent)), &e)) break;
      sent += chunk.size();
    }
    while (got.find("\r\n") == std::string::npos && c.recv_some(4096, &got, &err) > 0) {
    }
    lat.push_back(ms_since(t0));
    if (got.rfind("HTTP/1.1 401", 0) != 0) {
      std::fprintf(stderr, "expected 401, got: %.60s\n", got.c_str());
    }
    std::fprintf(stderr, "run %d: %.2f ms, %zu body bytes sent before the answer\n", i,
                 lat.back(), sent);
  }
  std::printf("keyless %.1f MB body under require=always: 401 after p50 %.2f ms, p99 %.2f ms\n",
              big_mb, percentile(lat, 0.5), percentile(lat, 0.99));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: bench_request_path health|keyless [--port N] [--big-mb X] "
                         "[--big N] [--runs N]\n");
    return 2;
  }
  const std::string mode = argv[1];
  Target t;
  double big_mb = mode == "health" ? 7.0 : 6.5;
  int big = 4, runs = 20;
  std::string model = "dari-tiny";
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    if (k == "--port") t.port = static_cast<uint16_t>(std::atoi(argv[i + 1]));
    if (k == "--big-mb") big_mb = std::atof(argv[i + 1]);
    if (k == "--big") big = std::atoi(argv[i + 1]);
    if (k == "--runs") runs = std::atoi(argv[i + 1]);
    if (k == "--model") model = argv[i + 1];
  }
  if (mode == "health") return health(t, model, big_mb, big);
  if (mode == "keyless") return keyless(t, big_mb, runs);
  std::fprintf(stderr, "unknown mode %s\n", mode.c_str());
  return 2;
}
