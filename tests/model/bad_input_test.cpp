// Bad models and bad batches produce clear errors, never crashes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include "model/synthetic.h"
#include "model/test_util.h"

namespace dari {
namespace {

std::string load_error(const test::SynthSpec& s, const std::string& name) {
  const std::string path = test::temp_model_path(name);
  Status w = test::write_synthetic(s, path);
  EXPECT_TRUE(w.ok()) << w.message();
  auto m = Model::load(path);
  EXPECT_FALSE(m.ok());
  return m.ok() ? "" : m.message();
}

using ::testing::HasSubstr;

TEST(BadModel, MissingTensor) {
  test::SynthSpec s;
  s.omit_tensor = "blk.1.ffn_up.weight";
  std::string e = load_error(s, "bad_missing");
  EXPECT_THAT(e, HasSubstr("missing tensor 'blk.1.ffn_up.weight'"));
  EXPECT_THAT(e, HasSubstr("[32, 64]"));
}

TEST(BadModel, MisshapedTensor) {
  test::SynthSpec s;
  s.misshape_tensor = "blk.0.attn_k.weight";
  std::string e = load_error(s, "bad_shape");
  EXPECT_THAT(e, HasSubstr("tensor 'blk.0.attn_k.weight' has shape [32, 17], expected [32, 16]"));
}

TEST(BadModel, MisshapedNormAndMissingArchTensors) {
  test::SynthSpec s;
  s.misshape_tensor = "output_norm.weight";
  EXPECT_THAT(load_error(s, "bad_norm"), HasSubstr("'output_norm.weight' has shape [33], expected [32]"));
  test::SynthSpec q;
  q.arch = "qwen2";
  q.omit_tensor = "blk.0.attn_v.bias";
  EXPECT_THAT(load_error(q, "bad_bias"), HasSubstr("missing tensor 'blk.0.attn_v.bias'"));
  test::SynthSpec q3;
  q3.arch = "qwen3";
  q3.omit_tensor = "blk.1.attn_k_norm.weight";
  EXPECT_THAT(load_error(q3, "bad_knorm"), HasSubstr("missing tensor 'blk.1.attn_k_norm.weight'"));
}

TEST(BadModel, UnknownArchitecture) {
  test::SynthSpec s;
  s.arch = "gpt9";
  std::string e = load_error(s, "bad_arch");
  EXPECT_THAT(e, HasSubstr("unknown architecture 'gpt9'"));
  EXPECT_THAT(e, HasSubstr("llama"));
}

TEST(BadModel, NotAGgufFile) {
  const std::string path = test::temp_model_path("bad_garbage");
  std::ofstream(path) << "this is not a model";
  EXPECT_FALSE(Model::load(path).ok());
  EXPECT_FALSE(Model::load(path + ".does-not-exist").ok());
}

TEST(BadModel, UnsupportedRopeScaling) {
  test::SynthSpec s;
  s.rope_scaling = "yarn";
  s.rope_factor = 2.0f;
  EXPECT_THAT(load_error(s, "bad_yarn"), HasSubstr("yarn is not supported"));
}

class BadBatch : public ::testing::Test {
 protected:
  void SetUp() override {
    test::SynthSpec s;
    const std::string path = test::temp_model_path("bad_batch");
    ASSERT_TRUE(test::write_synthetic(s, path).ok());
    auto m = Model::load(path);
    ASSERT_TRUE(m.ok()) << m.message();
    model_ = std::move(m).value();
    auto kv = KvCache::create(model_->kv_options(64));
    ASSERT_TRUE(kv.ok());
    kv_ = std::make_unique<KvCache>(std::move(kv).value());
    seq_ = kv_->add_sequence();
    ASSERT_TRUE(kv_->reserve(seq_, 3).ok());
  }
  std::string error_of(const ForwardBatch& b) {
    std::vector<float> logits;
    Status s = model_->forward(b, *kv_, &logits);
    EXPECT_FALSE(s.ok());
    return s.message();
  }
  std::unique_ptr<Model> model_;
  std::unique_ptr<KvCache> kv_;
  SeqId seq_ = 0;
};

TEST_F(BadBatch, Errors) {
  EXPECT_THAT(error_of({{1, 2}, {0}, {seq_, seq_}, {1, 1}}), HasSubstr("differ in length"));
  EXPECT_THAT(error_of({{64}, {0}, {seq_}, {1}}), HasSubstr("token id 64 out of range"));
  EXPECT_THAT(error_of({{-1}, {0}, {seq_}, {1}}), HasSubstr("token id -1 out of range"));
  EXPECT_THAT(error_of({{1}, {1}, {seq_}, {1}}), HasSubstr("position 1, expected 0"));
  EXPECT_THAT(error_of({{1, 2}, {0, 2}, {seq_, seq_}, {1, 1}}), HasSubstr("position 2, expected 1"));
  EXPECT_THAT(error_of({{1}, {0}, {seq_ + 7}, {1}}), HasSubstr("unknown sequence"));
  // reserve(3) allocated one 16-token block: position 16 has no block.
  ForwardBatch too_long;
  for (int32_t i = 0; i < 17; ++i) {
    too_long.tokens.push_back(1);
    too_long.positions.push_back(i);
    too_long.seq_ids.push_back(seq_);
    too_long.need_logits.push_back(0);
  }
  EXPECT_THAT(error_of(too_long), HasSubstr("position 16 has no reserved KV block"));
  std::vector<float> logits;
  EXPECT_TRUE(model_->forward({{1, 2, 3}, {0, 1, 2}, {seq_, seq_, seq_}, {0, 0, 1}}, *kv_,
                              &logits).ok());
  auto other = KvCache::create(KvCacheOptions{1, 2, 8, 16, 4, GgmlType::F16});
  ASSERT_TRUE(other.ok());
  SeqId s2 = other->add_sequence();
  ASSERT_TRUE(other->reserve(s2, 1).ok());
  EXPECT_FALSE(model_->forward({{1}, {0}, {s2}, {1}}, *other, &logits).ok());
  EXPECT_FALSE(model_->forward({{1}, {0}, {seq_}, {1}}, *kv_, nullptr).ok());
}

}  // namespace
}  // namespace dari
