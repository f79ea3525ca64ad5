// The core ThreadPool the CPU kernels run on.
#include "dari/core/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

namespace dari {
namespace {

TEST(ThreadPool, CoversEveryIndexOnce) {
  for (unsigned threads : {1u, 2u, 5u}) {
    ThreadPool pool(threads);
    EXPECT_EQ(pool.size(), threads);
    for (int64_t n : {0, 1, 7, 1000}) {
      for (int64_t grain : {0, 1, 3, 2000}) {
        std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
        pool.parallel_for(n, grain, [&](int64_t b, int64_t e) {
          EXPECT_LE(0, b);
          EXPECT_LT(b, e);
          EXPECT_LE(e, n);
          for (int64_t i = b; i < e; ++i) hits[static_cast<size_t>(i)]++;
        });
        for (auto& h : hits) EXPECT_EQ(h.load(), 1);
      }
    }
  }
}

TEST(ThreadPool, ManyLoopsAndConcurrentCallers) {
  ThreadPool pool(4);
  std::atomic<int64_t> total{0};
  auto work = [&] {
    for (int it = 0; it < 200; ++it) {
      pool.parallel_for(64, 4, [&](int64_t b, int64_t e) { total += e - b; });
    }
  };
  std::thread other(work);
  work();
  other.join();
  EXPECT_EQ(total.load(), 2 * 200 * 64);
}

// Loops separated by pauses longer than the spin window exercise the sleep / wake-up path of
// both the workers and the caller (a lost wake-up would hang here).
TEST(ThreadPool, WakesAfterIdleSleep) {
  for (unsigned threads : {2u, 3u}) {
    ThreadPool pool(threads);
    int64_t total = 0;
    for (int it = 0; it < 4; ++it) {
      std::this_thread::sleep_for(std::chrono::nanoseconds(3 * ThreadPool::kSpinNs));
      std::atomic<int64_t> sum{0};
      pool.parallel_for(100, 1, [&](int64_t b, int64_t e) {
        // A slow chunk makes the caller outlast its own spin window now and then.
        if (b == 0) std::this_thread::sleep_for(std::chrono::nanoseconds(2 * ThreadPool::kSpinNs));
        sum += e - b;
      });
      total += sum.load();
    }
    EXPECT_EQ(total, 400);
  }
}

// Many tiny back-to-back loops (the decode pattern): every index is covered every time.
TEST(ThreadPool, ManyTinyLoops) {
  ThreadPool pool(2);
  std::vector<int> hits(8, 0);
  for (int it = 0; it < 20000; ++it) {
    pool.parallel_for(8, 1, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) hits[static_cast<size_t>(i)]++;
    });
  }
  for (int h : hits) EXPECT_EQ(h, 20000);
}

}  // namespace
}  // namespace dari
