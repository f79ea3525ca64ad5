// Device memory limits (the load-time fit check, out of memory while making the KV cache or
// growing the scratch: errors, never crashes), KV prefix caching and fork on the device, and an
// optional run on a real Vulkan device when its plugin is present.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "model/device_test_util.h"

namespace dari {
namespace {

const std::string kTiny = std::string(DARI_SOURCE_DIR) + "/models/dari-tiny.gguf";
const std::string kStories = std::string(DARI_TESTDATA_DIR) + "/models/stories260K.gguf";

// Restores an unlimited fake device when a test ends.
struct FakeDeviceScope {
  explicit FakeDeviceScope(const test::FakeDeviceConfig& c = {}) { test::register_fake_device(c); }
  ~FakeDeviceScope() { test::register_fake_device(); }
};

// A device too small for the whole model: the error names what is needed, what is free, and the
// largest -ngl that fits; loading with that -ngl then works and matches the CPU.
TEST(DeviceMemory, FitCheckSuggestsNgl) {
  FakeDeviceScope scope;
  constexpr uint32_t kCtx = 32768;
  {
    auto m = test::load_model(kTiny, "fakedev", -1, kCtx);
    ASSERT_TRUE(m.ok()) << m.message();
    EXPECT_GT((*m)->placement().device_weight_bytes, 0u);
  }
  ASSERT_EQ(test::fake_device_stats().allocated, 0u);  // the model freed what it uploaded
  // dari-tiny: 6 MiB of weights, 8 MiB of F16 KV per layer at 32768 tokens, ~4 MiB of scratch.
  test::FakeDeviceConfig cfg;
  cfg.memory_limit = 30 << 20;
  test::register_fake_device(cfg);
  auto m = test::load_model(kTiny, "fakedev", -1, kCtx);
  ASSERT_FALSE(m.ok());
  const std::string msg = m.message();
  EXPECT_NE(msg.find("does not fit on fakedev0"), std::string::npos) << msg;
  EXPECT_NE(msg.find("KV cache for 32768 tokens"), std::string::npos) << msg;
  EXPECT_NE(msg.find("free"), std::string::npos) << msg;
  const size_t at = msg.find("; -ngl ");
  ASSERT_NE(at, std::string::npos) << msg;
  ASSERT_NE(msg.find(" would fit", at), std::string::npos) << msg;
  const int ngl = std::atoi(msg.c_str() + at + 7);
  EXPECT_GT(ngl, 0) << msg;
  EXPECT_LT(ngl, 6);
  EXPECT_EQ(test::fake_device_stats().allocated, 0u);  // nothing was uploaded before the check
  auto fits = test::load_model(kTiny, "fakedev", ngl, kCtx);
  ASSERT_TRUE(fits.ok()) << fits.message();
  auto kv = KvCache::create((*fits)->kv_options(kCtx));
  ASSERT_TRUE(kv.ok()) << kv.message();
  auto cpu = test::load_model(kTiny, "cpu");
  ASSERT_TRUE(cpu.ok());
  auto want = test::greedy(**cpu, GgmlType::F16);
  auto got = test::greedy(**fits, GgmlType::F16);
  ASSERT_TRUE(want.ok() && got.ok()) << got.message();
  EXPECT_EQ(got->tokens, want->tokens);
}

// A device that does not report its free memory: the fit check cannot run, and running out while
// uploading the weights is an error that names the allocation; nothing stays allocated.
TEST(DeviceMemory, OutOfMemoryUploadingWeightsIsAnError) {
  test::FakeDeviceConfig cfg;
  cfg.memory_limit = 64 << 10;
  cfg.hide_free = true;
  FakeDeviceScope scope(cfg);
  auto m = test::load_model(kStories, "fakedev");
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.message().find("cannot allocate weight buffer"), std::string::npos) << m.message();
  EXPECT_NE(m.message().find("out of device memory"), std::string::npos) << m.message();
  EXPECT_EQ(test::fake_device_stats().allocated, 0u);
}

// Out of device memory while making the KV cache, or while growing the activation scratch for a
// bigger batch: an error naming the allocation; the model keeps working once memory is back.
TEST(DeviceMemory, OutOfMemoryLaterIsAnError) {
  FakeDeviceScope scope;
  auto m = test::load_model(kStories, "fakedev");
  ASSERT_TRUE(m.ok()) << m.message();
  auto kv = KvCache::create((*m)->kv_options(64));
  ASSERT_TRUE(kv.ok()) << kv.message();
  const SeqId s = kv->add_sequence();
  ASSERT_TRUE(test::run_tokens(**m, *kv, s, {1}).ok());
  test::FakeDeviceConfig tight;
  tight.memory_limit = test::fake_device_stats().allocated + 1024;
  test::set_fake_device_config(tight);
  auto big = KvCache::create((*m)->kv_options(4096));
  ASSERT_FALSE(big.ok());
  EXPECT_NE(big.message().find("cannot allocate"), std::string::npos) << big.message();
  EXPECT_NE(big.message().find("out of device memory"), std::string::npos) << big.message();
  // 40 rows need a larger scratch than the 1-row step before.
  std::vector<int32_t> many(40, 3);
  auto r = test::run_tokens(**m, *kv, s, many);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.message().find("scratch"), std::string::npos) << r.message();
  kv->truncate(s, 1);
  test::set_fake_device_config({});
  auto again = test::run_tokens(**m, *kv, s, many);
  EXPECT_TRUE(again.ok()) << again.message();
}

// Prefix caching and fork (copy-on-write of a partly filled shared block via copy_bytes) with the
// KV cache in device memory give the CPU's logits.
Result<std::vector<float>> prefix_and_fork(Model& m) {
  KvCacheOptions ko = m.kv_options(256, GgmlType::F16);
  ko.prefix_cache = true;
  DARI_ASSIGN_OR_RETURN(KvCache kv, KvCache::create(ko));
  std::vector<int32_t> prompt;
  for (int i = 0; i < 37; ++i) prompt.push_back((i * 7 + 3) % 500);
  std::vector<float> out;
  {
    const SeqId a = kv.add_sequence();
    DARI_TRY(kv.reserve(a, static_cast<uint32_t>(prompt.size())));
    ForwardBatch fb;
    for (size_t i = 0; i < prompt.size(); ++i) {
      fb.tokens.push_back(prompt[i]);
      fb.positions.push_back(static_cast<int32_t>(i));
      fb.seq_ids.push_back(a);
      fb.need_logits.push_back(i + 1 == prompt.size());
    }
    std::vector<float> l;
    DARI_TRY(m.forward(fb, kv, &l));
    kv.commit_tokens(a, prompt);
    out.insert(out.end(), l.begin(), l.end());
    kv.free_sequence(a);
  }
  const SeqId b = kv.add_sequence();
  const uint32_t hit = kv.match_prefix(b, prompt, static_cast<uint32_t>(prompt.size()) - 1);
  if (hit != 32) return make_error("prefix cache hit " + std::to_string(hit) + ", expected 32");
  const std::vector<int32_t> rest(prompt.begin() + hit, prompt.end());
  DARI_ASSIGN_OR_RETURN(std::vector<float> l, test::run_tokens(m, kv, b, rest));
  out.insert(out.end(), l.end() - m.config().n_vocab, l.end());
  // Fork mid-block, then the two sequences diverge (each writes its own copy of the last block).
  const SeqId c = kv.fork(b);
  for (int step = 0; step < 3; ++step) {
    DARI_ASSIGN_OR_RETURN(std::vector<float> lb, test::run_tokens(m, kv, b, {10 + step}));
    DARI_ASSIGN_OR_RETURN(std::vector<float> lc, test::run_tokens(m, kv, c, {20 + step}));
    out.insert(out.end(), lb.begin(), lb.end());
    out.insert(out.end(), lc.begin(), lc.end());
  }
  return out;
}

TEST(DeviceKv, PrefixCacheAndForkMatchCpu) {
  FakeDeviceScope scope;
  for (int32_t ngl : {-1, 2}) {
    auto dev = test::load_model(kStories, "fakedev", ngl);
    auto cpu = test::load_model(kStories, "cpu");
    ASSERT_TRUE(dev.ok() && cpu.ok()) << dev.message();
    auto got = prefix_and_fork(**dev);
    auto want = prefix_and_fork(**cpu);
    ASSERT_TRUE(got.ok()) << got.message();
    ASSERT_TRUE(want.ok()) << want.message();
    ASSERT_EQ(got->size(), want->size());
    EXPECT_EQ(std::memcmp(got->data(), want->data(), got->size() * sizeof(float)), 0)
        << "ngl " << ngl;
  }
}

// With a built Vulkan plugin (in the build folder beside dari, or on $DARI_BACKEND_PATH) and
// a Vulkan device: every device-test model's prompt logits close to the CPU's, and the trained
// models' greedy tokens equal (a GPU's reductions differ in the last bits, so not bitwise).
// Skipped when there is no plugin; fails when the plugin was built but finds no device (unless
// DARI_ALLOW_NO_VULKAN_DEVICE is set).
TEST(DeviceVulkan, MatchesCpu) {
  add_plugin_search_dir(std::string(DARI_BINARY_DIR));
  {
    auto probe = create_backend("vulkan");
    if (!probe.ok()) {
#ifdef DARI_VULKAN_PLUGIN_BUILT
      // Built with the plugin: a missing device is a failure unless the machine has none.
      if (std::getenv("DARI_ALLOW_NO_VULKAN_DEVICE") == nullptr) {
        FAIL() << "the Vulkan plugin was built but cannot run (install mesa-vulkan-drivers, or "
                  "set DARI_ALLOW_NO_VULKAN_DEVICE=1): "
               << probe.message();
      }
#endif
      GTEST_SKIP() << "no Vulkan backend: " << probe.message();
    }
  }
  for (const test::DeviceCase& c : test::device_cases()) {
    const std::string path = test::case_path(c);
    const bool trained = c.name == "stories260K" || c.name == "dari_tiny";
    auto cpu = test::load_model(path, "cpu");
    ASSERT_TRUE(cpu.ok()) << cpu.message();
    for (int32_t ngl : {-1, 1}) {
      auto dev = test::load_model(path, "vulkan", ngl);
      ASSERT_TRUE(dev.ok()) << c.name << ": " << dev.message();
      const ModelPlacement pl = (*dev)->placement();
      std::string where;
      for (const std::string& l : pl.layers) where += l + " ";
      SCOPED_TRACE(c.name + " ngl " + std::to_string(ngl) + ": layers " + where + "output " +
                   pl.output);
      auto want = test::greedy(**cpu, GgmlType::F16, trained ? 6 : 0);
      auto got = test::greedy(**dev, GgmlType::F16, trained ? 6 : 0);
      ASSERT_TRUE(want.ok()) << want.message();
      ASSERT_TRUE(got.ok()) << got.message();
      ASSERT_EQ(got->logits.size(), want->logits.size());
      if (trained) {
        EXPECT_EQ(got->tokens, want->tokens);
      }
      double err = 0.0, scale = 1e-6;
      for (size_t i = 0; i < want->logits.size(); ++i) {
        scale = std::max(scale, std::fabs(double{want->logits[i]}));
        err = std::max(err, std::fabs(double{got->logits[i]} - double{want->logits[i]}));
      }
      EXPECT_LT(err / scale, 2e-2) << "max |diff| " << err << " of max |logit| " << scale;
      // Normalised MSE over all prompt logits, and top-1 per row. The CPU rounds activations to
      // 8 bits before a quantized matmul (Q8_0, as llama.cpp does) while the plugin keeps them in
      // F32 (its matmul matches an exact reference to 1e-9), so models with quantized weights
      // get the looser bound and a top-3 rule; float models must agree closely.
      const bool quantized = c.name.find("_q") != std::string::npos;
      double num = 0.0, den = 0.0;
      for (size_t i = 0; i < want->logits.size(); ++i) {
        const double d = double{got->logits[i]} - double{want->logits[i]};
        num += d * d;
        den += double{want->logits[i]} * want->logits[i];
      }
      const double nmse = num / std::max(den, 1e-30);
      std::printf("%s ngl %d: logit NMSE %.3g\n", c.name.c_str(), ngl, nmse);
      EXPECT_LE(nmse, quantized ? 1e-3 : 1e-5) << "logit NMSE";
      const size_t nv = (*cpu)->config().n_vocab;
      for (size_t r = 0; r + nv <= want->logits.size(); r += nv) {
        const float* w = want->logits.data() + r;
        const float* g = got->logits.data() + r;
        const size_t gi = std::max_element(g, g + nv) - g;
        size_t rank = 0;  // CPU logits above the device's choice
        for (size_t j = 0; j < nv; ++j) rank += w[j] > w[gi] ? 1 : 0;
        EXPECT_LT(rank, quantized ? 3u : 1u)
            << "row " << r / nv << ": the device's top-1 " << gi << " is the CPU's #" << rank + 1;
      }
    }
  }
}

}  // namespace
}  // namespace dari
