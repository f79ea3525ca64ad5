// Memory read bandwidth probe: threads stream-sum disjoint slices of one large buffer.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include "dari/perf/model_bench.h"

namespace dari::perf {
namespace {

// Sum of n words with independent accumulators (lets the compiler vectorise and keeps several
// loads in flight).
uint64_t sum_words(const uint64_t* p, uint64_t n) {
  uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0;
  uint64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    a0 += p[i];
    a1 += p[i + 1];
    a2 += p[i + 2];
    a3 += p[i + 3];
    a4 += p[i + 4];
    a5 += p[i + 5];
    a6 += p[i + 6];
    a7 += p[i + 7];
  }
  for (; i < n; ++i) a0 += p[i];
  return a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7;
}

std::atomic<uint64_t> g_sink{0};

// One timed pass: threads wait on `go`, the clock starts when it is set and stops after all join.
double one_pass(const uint64_t* buf, uint64_t words, unsigned n_threads) {
  std::atomic<unsigned> ready{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  const uint64_t per = words / n_threads;
  for (unsigned t = 0; t < n_threads; ++t) {
    const uint64_t begin = per * t;
    const uint64_t n = t + 1 == n_threads ? words - begin : per;
    threads.emplace_back([&, begin, n]() {
      ready.fetch_add(1);
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      g_sink.fetch_add(sum_words(buf + begin, n), std::memory_order_relaxed);
    });
  }
  while (ready.load() != n_threads) std::this_thread::yield();
  const auto t0 = std::chrono::steady_clock::now();
  go.store(true, std::memory_order_release);
  for (auto& th : threads) th.join();
  const auto t1 = std::chrono::steady_clock::now();
  return std::chrono::duration<double>(t1 - t0).count();
}

}  // namespace

BandwidthResult measure_read_bandwidth(unsigned n_threads, uint64_t buffer_bytes, unsigned runs) {
  BandwidthResult r;
  r.n_threads = std::max(1u, n_threads);
  r.runs = std::max(1u, runs);
  const uint64_t words = std::max<uint64_t>(buffer_bytes / 8, 1024);
  r.buffer_bytes = words * 8;
  std::unique_ptr<uint64_t[]> buf(new uint64_t[words]);
  for (uint64_t i = 0; i < words; ++i) buf[i] = i;  // fault every page in before timing
  double best = 0, total = 0;
  for (unsigned i = 0; i < r.runs; ++i) {
    const double s = one_pass(buf.get(), words, r.n_threads);
    const double gbps = s > 0 ? static_cast<double>(r.buffer_bytes) / s / 1e9 : 0;
    best = std::max(best, gbps);
    total += gbps;
  }
  r.best_gbps = best;
  r.mean_gbps = total / r.runs;
  return r;
}

}  // namespace dari::perf
