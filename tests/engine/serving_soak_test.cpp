// A short soak of the serving engine on stories260K: random submits (shared prefixes, n = 1..3,
// tight KV pool so preemption happens) and random cancels; every drain must leave no referenced
// KV block and no running or waiting request. The 10-minute version: dari bench-serve --soak 600.
#include <gtest/gtest.h>

#include "dari/perf/serve_bench.h"

namespace dari {
namespace {

TEST(ServingSoak, RandomSubmitsAndCancelsLeaveNothingBehind) {
  perf::ServeBenchOptions o;
  o.model_path = std::string(DARI_TESTDATA_DIR) + "/models/stories260K.gguf";
  o.n_threads = 1;
  o.soak_seconds = 6;
  o.soak_check_s = 2;
  auto r = perf::run_soak(o, {});
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_FALSE(r->blocks_leaked);
  EXPECT_EQ(r->errors, 0u);
  EXPECT_GE(r->checks.size(), 3u);
  EXPECT_GT(r->submitted, 20u);
  EXPECT_GT(r->cancels_sent, 0u);
  EXPECT_EQ(r->finished + r->cancelled, r->submitted);
  for (const auto& c : r->checks) EXPECT_EQ(c.blocks_used, 0u);
  EXPECT_LT(r->rss_growth_bytes, 64.0 * (1 << 20));
}

}  // namespace
}  // namespace dari
