// A small persistent thread pool for data-parallel loops (kernels split output rows over it).
//
// Ownership: the pool owns its worker threads; they live until the pool is destroyed.
// Thread safety: parallel_for() may be called from any thread, but calls are serialised (one loop
// runs at a time); the calling thread takes part in the work. Not reentrant: the loop body must not
// call parallel_for() on the same pool.
//
// Latency: a decode step runs a few hundred short loops, so waking the workers must cost far
// less than a futex round trip. Workers spin (with a pause hint) for about kSpinNs after each
// loop before they sleep on a condition variable; the caller spins likewise for the loop's end.
// Once idle past the spin window the pool costs no CPU.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace dari {

class ThreadPool {
 public:
  // n_threads = total threads including the caller; 0 = std::thread::hardware_concurrency().
  explicit ThreadPool(unsigned n_threads = 0);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  unsigned size() const { return static_cast<unsigned>(workers_.size()) + 1; }

  // Calls fn(begin, end) on disjoint chunks covering [0, n), each at most `grain` long (grain 0 =
  // n / (4 * size())). Returns when every chunk is done. Which thread runs which chunk is not
  // fixed, so fn must make each index's result independent of the chunking.
  void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

  // How long (nanoseconds) an idle worker or a waiting caller spins before it sleeps.
  static constexpr int64_t kSpinNs = 200'000;

 private:
  void worker_loop();
  void run_chunks();

  std::vector<std::thread> workers_;
  std::mutex call_mu_;  // serialises parallel_for calls
  // Bumped to start a loop (workers wait on it); the loop's fields below are written before.
  std::atomic<uint32_t> generation_{0};
  std::atomic<uint32_t> active_{0};  // workers still inside the current loop (caller waits on it)
  std::atomic<bool> stop_{false};
  // Sleep path (after the spin window): plain mutex + condition variables. The counters let the
  // hot path skip the notify calls when nobody sleeps.
  std::mutex sleep_mu_;
  std::condition_variable wake_cv_;
  std::condition_variable done_cv_;
  std::atomic<uint32_t> sleepers_{0};       // workers blocked on wake_cv_
  std::atomic<bool> caller_sleeps_{false};  // caller blocked on done_cv_
  // Current loop (valid while a generation runs).
  const std::function<void(int64_t, int64_t)>* fn_ = nullptr;
  int64_t n_ = 0;
  int64_t grain_ = 1;
  std::atomic<int64_t> next_{0};
};

}  // namespace dari
