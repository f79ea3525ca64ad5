// dari quantize (quantize_gguf): an F32 synthetic model re-encoded into each mix gives logits
// close to the original's, within a tolerance derived from the type's own rounding error; bad
// inputs fail with messages naming the problem.
#include "dari/convert/quantize.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <ostream>
#include <random>

#include "dari/convert/synthetic.h"
#include "dari/io/gguf.h"
#include "dari/model/model.h"
#include "dari/tensor/dtype.h"

namespace dari {
namespace {

std::string tmp_path(const std::string& name) {
  const std::filesystem::path dir =
      std::filesystem::path(DARI_BINARY_DIR) / "tests" / "convert" / "quantize_tmp";
  std::filesystem::create_directories(dir);
  return (dir / name).string();
}

// The F32 source model, written once per test binary.
const std::string& f32_model() {
  static const std::string path = [] {
    const std::string p = tmp_path("src-f32.gguf");
    auto r = write_synthetic_model(synthetic_shape("tiny").value(), parse_quant_mix("F32").value(),
                                   p, {.seed = 3, .n_threads = 2, .on_tensor = {}});
    EXPECT_TRUE(r.ok()) << r.message();
    return p;
  }();
  return path;
}

// Last-row logits for a fixed 6-token prompt.
std::vector<float> logits_of(const std::string& path) {
  auto m = Model::load(path, {.n_threads = 2});
  EXPECT_TRUE(m.ok()) << m.message();
  if (!m.ok()) return {};
  auto kv = KvCache::create((*m)->kv_options(32));
  EXPECT_TRUE(kv.ok());
  const SeqId s = kv->add_sequence();
  EXPECT_TRUE(kv->reserve(s, 6).ok());
  ForwardBatch b{
      {1, 260, 33, 377, 100, 7}, {0, 1, 2, 3, 4, 5}, {s, s, s, s, s, s}, {0, 0, 0, 0, 0, 1}};
  std::vector<float> out;
  EXPECT_TRUE((*m)->forward(b, *kv, &out).ok());
  return out;
}

// Relative RMS error of one quantize/dequantize round trip of normal(0, 1) data in type t: the
// type's own rounding error, which the model's logits error scales with.
double type_rel_error(GgmlType t) {
  std::mt19937 rng(5);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> x(4096), y(4096);
  for (float& v : x) v = d(rng);
  std::vector<uint8_t> q(row_bytes(t, 4096).value());
  EXPECT_TRUE(quantize_row(t, x.data(), q.data(), 4096).ok());
  EXPECT_TRUE(dequantize_row(t, q.data(), y.data(), 4096).ok());
  double e = 0, n = 0;
  for (size_t i = 0; i < x.size(); ++i) e += (x[i] - y[i]) * (x[i] - y[i]), n += x[i] * x[i];
  return std::sqrt(e / n);
}

struct Case {
  const char* mix;
  GgmlType worst;  // the least precise type the mix uses on this model
};

void PrintTo(const Case& c, std::ostream* os) {
  *os << c.mix;
}

class QuantizeMix : public ::testing::TestWithParam<Case> {};

TEST_P(QuantizeMix, LogitsStayCloseToTheF32Model) {
  const Case c = GetParam();
  const std::string out = tmp_path(std::string("tiny-") + c.mix + ".gguf");
  auto mix = parse_quant_mix(c.mix);
  ASSERT_TRUE(mix.ok());
  size_t events = 0;
  QuantizeOptions o;
  o.n_threads = 2;
  o.on_tensor = [&](const QuantizeEvent& e) {
    ++events;
    EXPECT_EQ(e.index, events);
    EXPECT_LE(e.done_in_bytes, e.total_in_bytes);
  };
  auto sum = quantize_gguf(f32_model(), out, *mix, o);
  ASSERT_TRUE(sum.ok()) << sum.message();
  EXPECT_EQ(events, sum->n_tensors);

  auto src = GgufFile::open(f32_model());
  auto dst = GgufFile::open(out);
  ASSERT_TRUE(dst.ok()) << dst.message();
  EXPECT_EQ(dst->get_string("general.name").value(), src->get_string("general.name").value());
  EXPECT_EQ(dst->get_string_array("tokenizer.ggml.tokens").value().size(), 384u);
  EXPECT_EQ(dst->get_u32("general.file_type").value(), mix->file_type);
  EXPECT_EQ(dst->find_tensor("blk.0.ffn_norm.weight")->type, GgmlType::F32);
  EXPECT_EQ(dst->find_tensor("blk.0.attn_q.weight")->type, mix->base);

  const std::vector<float> a = logits_of(f32_model()), b = logits_of(out);
  ASSERT_EQ(a.size(), b.size());
  double e = 0, n = 0;
  for (size_t i = 0; i < a.size(); ++i) e += (a[i] - b[i]) * (a[i] - b[i]), n += a[i] * a[i];
  const double rel = std::sqrt(e / n);
  // Every layer adds a weight rounding error of about type_rel_error to each matmul; the errors
  // are independent, so the logits' relative error grows like sqrt(#matmuls in the path) times
  // it. 5x covers that (2 layers x 7 matrices + output, plus activation rounding; measured
  // 2.7x to 3.2x on the scalar kernels).
  const double tol = 5.0 * type_rel_error(c.worst) + 1e-6;
  std::printf("%s: relative logits error %.5f, tolerance %.5f\n", c.mix, rel, tol);
  EXPECT_LT(rel, tol) << c.mix << ": relative logits error " << rel;
  if (std::string(c.mix) != "F32") {
    EXPECT_GT(rel, 0.0);
  }
}

INSTANTIATE_TEST_SUITE_P(Mixes, QuantizeMix,
                         ::testing::Values(Case{"Q8_0", GgmlType::Q8_0},
                                           Case{"Q4_0", GgmlType::Q4_0},
                                           Case{"Q4_K_M", GgmlType::Q4_K},
                                           Case{"Q5_K_M", GgmlType::Q5_K},
                                           Case{"Q6_K", GgmlType::Q6_K}, Case{"F16", GgmlType::F16},
                                           Case{"BF16", GgmlType::BF16}),
                         [](const auto& param_info) { return std::string(param_info.param.mix); });

TEST(Quantize, Q4_0GivesAQ6KOutputLikeLlamaCpp) {
  const std::string out = tmp_path("tiny-q40-types.gguf");
  ASSERT_TRUE(quantize_gguf(f32_model(), out, parse_quant_mix("Q4_0").value()).ok());
  auto f = GgufFile::open(out);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->find_tensor("output.weight")->type, GgmlType::Q6_K);
  EXPECT_EQ(f->find_tensor("token_embd.weight")->type, GgmlType::Q4_0);
  EXPECT_EQ(f->find_tensor("output_norm.weight")->type, GgmlType::F32);
}

TEST(Quantize, RefusesQuantizedInput) {
  const std::string q8 = tmp_path("already-q8.gguf");
  ASSERT_TRUE(quantize_gguf(f32_model(), q8, parse_quant_mix("Q8_0").value()).ok());
  auto r = quantize_gguf(q8, tmp_path("never.gguf"), parse_quant_mix("Q4_0").value());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.message().find("Q8_0"), std::string::npos) << r.message();
  EXPECT_NE(r.message().find("token_embd.weight"), std::string::npos) << r.message();
  EXPECT_FALSE(std::filesystem::exists(tmp_path("never.gguf")));
}

TEST(Quantize, MalformedAndMissingInputsFailCleanly) {
  auto missing = quantize_gguf(tmp_path("does-not-exist.gguf"), tmp_path("never2.gguf"),
                               parse_quant_mix("Q8_0").value());
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.message().find("does-not-exist.gguf"), std::string::npos);

  // A truncated copy of a valid file.
  const std::string cut = tmp_path("truncated.gguf");
  {
    std::ifstream in(f32_model(), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::ofstream(cut, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  }
  auto r = quantize_gguf(cut, tmp_path("never3.gguf"), parse_quant_mix("Q8_0").value());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.message().find("truncated.gguf"), std::string::npos) << r.message();

  auto bad_type = parse_quant_mix("Q3_K_XL");
  ASSERT_FALSE(bad_type.ok());
  EXPECT_NE(bad_type.message().find("Q4_K_M"), std::string::npos) << bad_type.message();
}

}  // namespace
}  // namespace dari
