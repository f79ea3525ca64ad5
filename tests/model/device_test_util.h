// Helpers for the device tests: the models they run, loading on a backend, a greedy run that
// records every logits row, and a bitwise comparison.
#pragma once

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "model/fake_device.h"
#include "model/synthetic.h"
#include "model/test_util.h"

namespace dari::test {

struct DeviceCase {
  std::string name;
  std::string file;  // a model file, or empty for `synth`
  SynthSpec synth;
};

inline std::vector<DeviceCase> device_cases() {
  std::vector<DeviceCase> c;
  c.push_back({"stories260K", std::string(DARI_TESTDATA_DIR) + "/models/stories260K.gguf", {}});
  c.push_back({"llama2_tiny_random",
               std::string(DARI_TESTDATA_DIR) + "/models/llama-2-tiny-random.gguf",
               {}});
  c.push_back({"dari_tiny", std::string(DARI_SOURCE_DIR) + "/models/dari-tiny.gguf", {}});
  SynthSpec q2;
  q2.arch = "qwen2";
  q2.n_layer = 3;
  q2.tied = true;
  c.push_back({"synth_qwen2_tied", "", q2});
  SynthSpec q3;
  q3.arch = "qwen3";
  q3.n_layer = 3;
  q3.head_dim = 16;
  q3.wtype = GgmlType::Q8_0;
  c.push_back({"synth_qwen3_q8_0", "", q3});
  SynthSpec q4;
  q4.n_layer = 2;
  q4.n_embd = 64;
  q4.n_ff = 128;
  q4.wtype = GgmlType::Q4_0;  // the CPU repacks Q4_0: pack_weight on the device view
  q4.rope_scaling = "llama3";
  q4.rope_factor = 8.0f;
  q4.rope_orig_ctx = 64;
  c.push_back({"synth_llama_q4_0", "", q4});
  return c;
}

// The case's model file (synthetic ones are written on first use).
inline std::string case_path(const DeviceCase& c) {
  if (!c.file.empty()) return c.file;
  const std::string path = temp_model_path("device_" + c.name);
  const Status st = write_synthetic(c.synth, path);
  EXPECT_TRUE(st.ok()) << st.message();
  return st.ok() ? path : std::string();
}

inline Result<std::unique_ptr<Model>> load_model(const std::string& path,
                                                 const std::string& backend, int32_t ngl = -1,
                                                 uint32_t n_ctx = 0) {
  ModelLoadOptions o;
  o.backend = backend;
  o.n_gpu_layers = ngl;
  o.n_ctx = n_ctx;
  o.n_threads = 2;
  return Model::load(path, o);
}

struct GreedyRun {
  std::vector<int32_t> tokens;  // prompt then the greedy continuation
  std::vector<float> logits;    // every row, prefill and decode
  size_t n_vocab = 0;
};

// A 7-token prompt prefilled in chunks of 3, then `steps` greedy decode steps.
inline Result<GreedyRun> greedy(Model& m, GgmlType kv_type, int steps = 6) {
  GreedyRun r;
  r.n_vocab = m.config().n_vocab;
  const auto nv = static_cast<int32_t>(r.n_vocab);
  for (int32_t t : {1, 5, 9, 13, 2, 7, 11}) r.tokens.push_back(t % nv);
  DARI_ASSIGN_OR_RETURN(KvCache kv, KvCache::create(m.kv_options(64, kv_type)));
  const SeqId s = kv.add_sequence();
  DARI_ASSIGN_OR_RETURN(r.logits, run_tokens(m, kv, s, r.tokens, 3));
  for (int i = 0; i < steps; ++i) {
    const int32_t next = argmax(r.logits.data() + r.logits.size() - r.n_vocab, r.n_vocab);
    r.tokens.push_back(next);
    DARI_ASSIGN_OR_RETURN(std::vector<float> l, run_tokens(m, kv, s, {next}));
    r.logits.insert(r.logits.end(), l.begin(), l.end());
  }
  return r;
}

// Bit-identical logits (the fake device runs the CPU's kernels on the same data).
inline void expect_identical(const GreedyRun& got, const GreedyRun& want, const std::string& what) {
  ASSERT_EQ(got.logits.size(), want.logits.size()) << what;
  size_t first_diff = got.logits.size();
  float max_diff = 0.0f;
  for (size_t i = 0; i < got.logits.size(); ++i) {
    if (std::memcmp(&got.logits[i], &want.logits[i], sizeof(float)) != 0) {
      first_diff = std::min(first_diff, i);
      max_diff = std::max(max_diff, std::abs(got.logits[i] - want.logits[i]));
    }
  }
  EXPECT_EQ(first_diff, got.logits.size())
      << what << ": logits differ from row " << first_diff / got.n_vocab << ", max |diff| "
      << max_diff;
}

}  // namespace dari::test
