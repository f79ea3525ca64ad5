#include "dari/core/thread_pool.h"

#include <algorithm>
#include <chrono>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace dari {
namespace {

inline void cpu_relax() {
#if defined(__x86_64__)
  _mm_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// Spins until pred() holds or kSpinNs pass; true if it held. Reads the clock every 64 polls
// and yields the CPU every 1024 (so an oversubscribed machine still runs the thread we wait for).
template <typename Pred>
bool spin_until(Pred pred) {
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::nanoseconds(ThreadPool::kSpinNs);
  for (unsigned i = 1;; ++i) {
    if (pred()) return true;
    cpu_relax();
    if ((i & 63) == 0) {
      if (std::chrono::steady_clock::now() >= deadline) return pred();
      if ((i & 1023) == 0) std::this_thread::yield();
    }
  }
}

}  // namespace

ThreadPool::ThreadPool(unsigned n_threads) {
  if (n_threads == 0) n_threads = std::max(1u, std::thread::hardware_concurrency());
  workers_.reserve(n_threads - 1);
  for (unsigned i = 1; i < n_threads; ++i) workers_.emplace_back([this] { worker_loop(); });
}

ThreadPool::~ThreadPool() {
  stop_.store(true, std::memory_order_release);
  {
    std::lock_guard<std::mutex> lock(sleep_mu_);
    generation_.fetch_add(1, std::memory_order_seq_cst);
  }
  wake_cv_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::run_chunks() {
  for (;;) {
    uint64_t v = claim_.load(std::memory_order_acquire);
    do {
      if ((v & 0xffffffffu) >= (v >> 32)) return;  // no chunk left
    } while (!claim_.compare_exchange_weak(v, v + 1, std::memory_order_acq_rel,
                                           std::memory_order_acquire));
    const int64_t n_chunks = static_cast<int64_t>(v >> 32);
    const int64_t begin = static_cast<int64_t>(v & 0xffffffffu) * grain_;
    (*fn_)(begin, std::min(n_, begin + grain_));
    if (done_.fetch_add(1, std::memory_order_seq_cst) + 1 == n_chunks &&
        caller_sleeps_.load(std::memory_order_seq_cst)) {
      { std::lock_guard<std::mutex> lock(sleep_mu_); }
      done_cv_.notify_one();
    }
  }
}

void ThreadPool::worker_loop() {
  // Generation 0 is the pool's start; a loop posted before this thread runs is generation 1.
  uint32_t seen = 0;
  for (;;) {
    if (!spin_until([&] { return generation_.load(std::memory_order_acquire) != seen; })) {
      // seq_cst pairs with parallel_for: either it sees the sleeper and notifies (under the
      // mutex, so not before this thread waits), or the predicate sees the new generation.
      std::unique_lock<std::mutex> lock(sleep_mu_);
      sleepers_.fetch_add(1, std::memory_order_seq_cst);
      wake_cv_.wait(lock, [&] { return generation_.load(std::memory_order_seq_cst) != seen; });
      sleepers_.fetch_sub(1, std::memory_order_seq_cst);
      continue;
    }
    seen = generation_.load(std::memory_order_acquire);
    if (stop_.load(std::memory_order_acquire)) return;
    run_chunks();
  }
}

void ThreadPool::parallel_for(int64_t n, int64_t grain,
                              const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  if (grain <= 0) grain = std::max<int64_t>(1, n / (4 * static_cast<int64_t>(size())));
  // Chunk indices are 32-bit in claim_.
  grain = std::max<int64_t>(grain, (n + 0x7fffffff) / 0x80000000LL);
  if (workers_.empty() || n <= grain) {
    fn(0, n);
    return;
  }
  std::lock_guard<std::mutex> call_lock(call_mu_);
  const int64_t n_chunks = (n + grain - 1) / grain;
  fn_ = &fn;
  n_ = n;
  grain_ = grain;
  done_.store(0, std::memory_order_relaxed);
  claim_.store(static_cast<uint64_t>(n_chunks) << 32, std::memory_order_release);
  // Wakes the workers (they acquire the new generation, then claim chunks).
  generation_.fetch_add(1, std::memory_order_seq_cst);
  if (sleepers_.load(std::memory_order_seq_cst) != 0) {
    { std::lock_guard<std::mutex> lock(sleep_mu_); }
    wake_cv_.notify_all();
  }
  run_chunks();
  auto finished = [&] { return done_.load(std::memory_order_acquire) == n_chunks; };
  while (!finished()) {
    if (!spin_until(finished)) {
      std::unique_lock<std::mutex> lock(sleep_mu_);
      caller_sleeps_.store(true, std::memory_order_seq_cst);
      done_cv_.wait(lock, [&] { return done_.load(std::memory_order_seq_cst) == n_chunks; });
      caller_sleeps_.store(false, std::memory_order_seq_cst);
    }
  }
  fn_ = nullptr;
}

}  // namespace dari
