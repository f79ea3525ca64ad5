// The core ThreadPool the CPU kernels run on.
#include "dari/core/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
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

}  // namespace
}  // namespace dari
