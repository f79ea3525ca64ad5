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
//
// Oversubscription: the caller waits for the loop's chunks, not for the workers. A worker that
// the OS has not scheduled yet simply finds no chunks left when it wakes, so a busy machine
// costs a loop only the chunks a descheduled worker had already claimed.
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
  std::atomic<bool> stop_{false};
  // Sleep path (after the spin window): plain mutex + condition variables. The counters let the
  // hot path skip the notify calls when nobody sleeps.
  std::mutex sleep_mu_;
  std::condition_variable wake_cv_;
  std::condition_variable done_cv_;
  std::atomic<uint32_t> sleepers_{0};       // workers blocked on wake_cv_
  std::atomic<bool> caller_sleeps_{false};  // caller blocked on done_cv_
  // Current loop. The plain fields are written before claim_ is published (release) and read only
  // by a thread that has claimed a chunk of that loop (acquire), which the caller waits for.
  const std::function<void(int64_t, int64_t)>* fn_ = nullptr;
  int64_t n_ = 0;
  int64_t grain_ = 1;
  // (number of chunks << 32) | next unclaimed chunk; claimed with compare-exchange.
  std::atomic<uint64_t> claim_{0};
  std::atomic<int64_t> done_{0};  // chunks finished in the current loop
};

}  // namespace dari
