// A small persistent thread pool for data-parallel loops (kernels split output rows over it).
//
// Ownership: the pool owns its worker threads; they live until the pool is destroyed.
// Thread safety: parallel_for() may be called from any thread, but calls are serialised (one loop
// runs at a time); the calling thread takes part in the work. Not reentrant: the loop body must not
// call parallel_for() on the same pool.
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

 private:
  void worker_loop();
  void run_chunks();

  std::vector<std::thread> workers_;
  std::mutex call_mu_;  // serialises parallel_for calls
  std::mutex mu_;
  std::condition_variable wake_cv_;
  std::condition_variable done_cv_;
  uint64_t generation_ = 0;
  unsigned active_ = 0;  // workers still inside the current loop
  bool stop_ = false;
  // Current loop (valid while a generation runs).
  const std::function<void(int64_t, int64_t)>* fn_ = nullptr;
  int64_t n_ = 0;
  int64_t grain_ = 1;
  std::atomic<int64_t> next_{0};
};

}  // namespace dari
