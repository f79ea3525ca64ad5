// End-to-end tests of `dari bench` and `dari quantize` through the built binary, on the tiny
// synthetic shape (written into the build tree's cache folder on first use).
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>

#include "cli_runner.h"
#include "dari/perf/model_bench.h"

namespace {

const std::string kDari = std::string(DARI_BINARY_DIR) + "/dari";
const std::string kTmp = std::string(DARI_BINARY_DIR) + "/tests/perf/tmp";

using Output = dari::test::CliOutput;
using dari::test::slurp;

Output run_dari(const std::string& name, const std::string& args) {
  return dari::test::run_cli(kDari, kTmp, name, args);
}

bool has(const std::string& s, const std::string& what) {
  return s.find(what) != std::string::npos;
}

// A fresh cache folder per test, so "written" vs "reused" is predictable.
std::string fresh_cache(const std::string& name) {
  const std::string dir = kTmp + "/cache-" + name;
  std::filesystem::remove_all(dir);
  return dir;
}

TEST(DariBench, SyntheticMarkdownTableThenReuse) {
  const std::string cache = fresh_cache("md");
  const std::string args =
      "bench --synthetic tiny --type Q8_0 --cache-dir '" + cache + "' -p 8 -n 4 -r 1 -t 1";
  const Output a = run_dari("md1", args);
  ASSERT_EQ(a.status, 0) << a.err;
  EXPECT_TRUE(has(a.err, "writing synthetic model tiny")) << a.err;
  EXPECT_TRUE(has(a.out, "| model | size | params | backend | threads | test | t/s |")) << a.out;
  EXPECT_TRUE(has(a.out, "| llama 1M Q8_0 |")) << a.out;
  EXPECT_TRUE(has(a.out, "| CPU | 1 | pp8 |")) << a.out;
  EXPECT_TRUE(has(a.out, "| CPU | 1 | tg4 |")) << a.out;
  EXPECT_TRUE(has(a.out, "peak RSS:")) << a.out;
  EXPECT_TRUE(std::filesystem::exists(cache + "/synthetic-tiny-Q8_0-seed1.gguf"));

  const Output b = run_dari("md2", args);
  ASSERT_EQ(b.status, 0) << b.err;
  EXPECT_TRUE(has(b.err, "reusing cached synthetic model")) << b.err;
  EXPECT_FALSE(has(b.err, "writing")) << b.err;
}

TEST(DariBench, JsonHasSaneFields) {
  const std::string cache = fresh_cache("json");
  const Output o = run_dari("json", "bench --synthetic tiny --type Q4_0 --cache-dir '" + cache +
                                        "' -p 8 -n 4 -r 2 -t 1,2 -o json");
  ASSERT_EQ(o.status, 0) << o.err;
  const auto j = nlohmann::json::parse(o.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << o.out;
  EXPECT_EQ(j["model"]["type"], "Q4_0");
  EXPECT_GT(j["model"]["n_params"].get<uint64_t>(), 1000000u);
  const uint64_t file = j["model"]["file_bytes"].get<uint64_t>();
  const uint64_t decode = j["model"]["decode_bytes_per_token"].get<uint64_t>();
  EXPECT_GT(decode, 0u);
  EXPECT_LT(decode, file);
  EXPECT_GE(j["model"]["load_ms"].get<double>(), 0.0);
  ASSERT_EQ(j["tests"].size(), 4u);  // pp8, tg4 for 1 and 2 threads
  for (const auto& t : j["tests"]) {
    EXPECT_EQ(t["samples_ns"].size(), 2u);
    EXPECT_GT(t["avg_ts"].get<double>(), 0.0);
    EXPECT_GE(t["stdev_ts"].get<double>(), 0.0);
    if (t["n_gen"].get<int>() > 0) {
      EXPECT_EQ(t["test"], "tg4");
      EXPECT_GT(t["gbps"].get<double>(), 0.0);
    } else {
      EXPECT_EQ(t["test"], "pp8");
    }
  }
  EXPECT_EQ(j["tests"][2]["n_threads"], 2);
  EXPECT_GT(j["peak_rss"]["maxrss_bytes"].get<uint64_t>(), 0u);
  EXPECT_GT(j["peak_rss"]["vm_hwm_bytes"].get<uint64_t>(), 0u);
  EXPECT_TRUE(j["tests"][0]["profile"].empty());  // only with --profile
}

// --profile: each test lists its ops, largest first; the timed repetitions only (tg4 x 2 runs:
// 8 forward calls, each with one attention per layer and one output matmul).
TEST(DariBench, ProfileListsOpsPerTest) {
  const std::string cache = fresh_cache("profile");
  const Output o = run_dari("profile", "bench --synthetic tiny --type Q4_0 --cache-dir '" + cache +
                                           "' -p 8 -n 4 -r 2 -t 1 -o json --profile");
  ASSERT_EQ(o.status, 0) << o.err;
  const auto j = nlohmann::json::parse(o.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << o.out;
  ASSERT_EQ(j["tests"].size(), 2u);
  for (const auto& t : j["tests"]) {
    const auto& prof = t["profile"];
    ASSERT_FALSE(prof.empty()) << t["test"];
    double prev = 1e30;
    bool matmul = false;
    for (const auto& p : prof) {
      EXPECT_LE(p["seconds"].get<double>(), prev);
      prev = p["seconds"].get<double>();
      EXPECT_GT(p["calls"].get<uint64_t>(), 0u);
      matmul = matmul || p["op"].get<std::string>().rfind("matmul ", 0) == 0;
    }
    EXPECT_TRUE(matmul) << prof.dump();
  }
  uint64_t attention_calls = 0;
  for (const auto& p : j["tests"][1]["profile"]) {
    if (p["op"] == "attention") attention_calls = p["calls"].get<uint64_t>();
  }
  const uint64_t layers = attention_calls / 8;
  EXPECT_GT(layers, 0u);
  EXPECT_EQ(attention_calls, 8 * layers);
  const Output md = run_dari("profile_md", "bench --synthetic tiny --type Q4_0 --cache-dir '" +
                                               cache + "' -p 8 -n 0 -r 1 -t 1 --profile");
  ASSERT_EQ(md.status, 0) << md.err;
  EXPECT_NE(md.out.find("ops of pp8, 1 threads"), std::string::npos) << md.out;
  EXPECT_NE(md.out.find("| attention | "), std::string::npos) << md.out;
  // bench-serve --profile: one table for the run, after the engine has stopped.
  const std::string model = cache + "/synthetic-tiny-Q4_0-seed1.gguf";
  const Output serve = run_dari("profile_serve", "bench-serve -m '" + model +
                                                     "' -c 2 -n 2 -t 1 --prompt-tokens 4 "
                                                     "--output-tokens 4 --profile");
  ASSERT_EQ(serve.status, 0) << serve.err;
  EXPECT_NE(serve.out.find("ops of the whole run"), std::string::npos) << serve.out;
  EXPECT_NE(serve.out.find("| attention | "), std::string::npos) << serve.out;
  EXPECT_NE(serve.out.find("| matmul Q4_0"), std::string::npos) << serve.out;
}

TEST(DariBench, BandwidthProbeAlone) {
  const Output o = run_dari("bw", "bench -p 0 -n 0 -t 2 --bandwidth --bandwidth-mib 16 -o json");
  ASSERT_EQ(o.status, 0) << o.err;
  const auto j = nlohmann::json::parse(o.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << o.out;
  ASSERT_EQ(j["bandwidth"].size(), 2u);  // 1 thread and 2 threads
  EXPECT_EQ(j["bandwidth"][0]["n_threads"], 1);
  EXPECT_EQ(j["bandwidth"][1]["n_threads"], 2);
  for (const auto& b : j["bandwidth"]) {
    EXPECT_GT(b["best_gbps"].get<double>(), 0.0);
    EXPECT_GE(b["best_gbps"].get<double>(), b["mean_gbps"].get<double>());
    EXPECT_EQ(b["buffer_bytes"], 16u << 20);
  }
}

TEST(DariBench, BadArgumentsFailWithAMessage) {
  const std::string cache = fresh_cache("bad");
  Output o = run_dari("bad1", "bench --synthetic gpt-9 --cache-dir '" + cache + "' -p 8 -n 0");
  EXPECT_EQ(o.status, 1);
  EXPECT_TRUE(has(o.err, "unknown synthetic model 'gpt-9'")) << o.err;
  o = run_dari("bad2", "bench --synthetic tiny --type Q3_K --cache-dir '" + cache + "'");
  EXPECT_EQ(o.status, 1);
  EXPECT_TRUE(has(o.err, "unknown weight type 'Q3_K'")) << o.err;
  o = run_dari("bad3", "bench -m /nonexistent.gguf -p 8 -n 0");
  EXPECT_EQ(o.status, 1);
  EXPECT_TRUE(has(o.err, "/nonexistent.gguf")) << o.err;
  o = run_dari("bad4", "bench -p 8,x -n 0");
  EXPECT_EQ(o.status, 1);
  EXPECT_TRUE(has(o.err, "-p")) << o.err;
  o = run_dari("bad5", "bench --synthetic tiny --cache-dir '" + cache + "' -o xml");
  EXPECT_EQ(o.status, 1);
  EXPECT_TRUE(has(o.err, "md or json")) << o.err;
}

TEST(DariQuantize, QuantizesASyntheticF32ModelAndTheResultRuns) {
  const std::string cache = fresh_cache("quant");
  // Make the F32 source through bench's cache (a one-token pp run).
  Output o = run_dari(
      "q0", "bench --synthetic tiny --type F32 --cache-dir '" + cache + "' -p 1 -n 0 -r 1 -t 1");
  ASSERT_EQ(o.status, 0) << o.err;
  const std::string src = cache + "/synthetic-tiny-F32-seed1.gguf";
  const std::string dst = kTmp + "/tiny-q4km.gguf";
  o = run_dari("q1", "quantize '" + src + "' '" + dst + "' q4_k_m -t 2");
  ASSERT_EQ(o.status, 0) << o.err;
  EXPECT_TRUE(has(o.err, "100%")) << o.err;
  EXPECT_TRUE(has(o.err, "21/21 tensors")) << o.err;
  EXPECT_TRUE(has(o.err, "wrote")) << o.err;
  o = run_dari("q2", "bench -m '" + dst + "' -p 4 -n 2 -r 1 -t 1");
  ASSERT_EQ(o.status, 0) << o.err;
  EXPECT_TRUE(has(o.out, "Q4_K_M")) << o.out;
  o = run_dari("q3", "run -m '" + dst + "' -p 'hello' -n 4 --temp 0");
  EXPECT_EQ(o.status, 0) << o.err;

  o = run_dari("q4", "quantize '" + dst + "' '" + kTmp + "/never.gguf' Q8_0");
  EXPECT_EQ(o.status, 1);
  EXPECT_TRUE(has(o.err, "needs F32, F16 or BF16")) << o.err;
  o = run_dari("q5", "quantize '" + src + "' '" + kTmp + "/never.gguf' IQ2_XXS");
  EXPECT_EQ(o.status, 1);
  EXPECT_TRUE(has(o.err, "unknown weight type")) << o.err;
}

TEST(PerfLibrary, DecodeBytesCountOneEmbeddingRow) {
  const std::string cache = fresh_cache("facts");
  auto c = dari::perf::ensure_synthetic_model("tiny-qwen2", "F16", cache, 1, 2);
  ASSERT_TRUE(c.ok()) << c.message();
  EXPECT_TRUE(c->created);
  auto again = dari::perf::ensure_synthetic_model("tiny-qwen2", "F16", cache, 1, 2);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->created);
  auto f = dari::perf::model_facts(c->path);
  ASSERT_TRUE(f.ok()) << f.message();
  // Tied: every tensor once, plus one row of token_embd (F16: 128 x 2 bytes).
  EXPECT_EQ(f->decode_bytes_per_token, f->tensor_bytes + 128u * 2u);
  EXPECT_EQ(f->type_name, "F16");
  EXPECT_EQ(f->n_params, c->summary.n_params);
}

}  // namespace
