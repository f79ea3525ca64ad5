// The checked wrappers of dtype.h: argument validation, tensor packing, agreement of the traits
// table with io's block sizes, and decoding the float tensors of real GGUF models.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "dari/io/gguf.h"
#include "dari/tensor/dtype.h"
#include "tensor/test_util.h"

namespace dari {
namespace {

const GgmlType kSupported[] = {GgmlType::F32,  GgmlType::F16,  GgmlType::BF16, GgmlType::Q4_0,
                               GgmlType::Q4_1, GgmlType::Q5_0, GgmlType::Q5_1, GgmlType::Q8_0,
                               GgmlType::Q8_1, GgmlType::Q2_K, GgmlType::Q3_K, GgmlType::Q4_K,
                               GgmlType::Q5_K, GgmlType::Q6_K, GgmlType::Q8_K};

TEST(TypeTraits, AgreeWithIoBlockSizes) {
  for (GgmlType t : kSupported) {
    const TypeTraits* tr = type_traits(t);
    ASSERT_NE(tr, nullptr) << ggml_type_name(t);
    EXPECT_EQ(tr->type, t);
    const GgmlTypeInfo info = ggml_type_info(t);
    EXPECT_EQ(tr->block_elems, info.block_elems) << info.name;
    EXPECT_EQ(tr->block_bytes, info.block_bytes) << info.name;
    EXPECT_NE(tr->to_float, nullptr);
    EXPECT_NE(tr->from_float, nullptr);
    const TypeTraits* dot_type = type_traits(tr->vec_dot_type);
    ASSERT_NE(dot_type, nullptr);
    EXPECT_NE(dot_type->from_float, nullptr);
  }
  EXPECT_EQ(type_traits(GgmlType::Q8_K)->vec_dot, nullptr);
  EXPECT_EQ(type_traits(GgmlType::Q4_K)->vec_dot_type, GgmlType::Q8_K);
  EXPECT_EQ(type_traits(GgmlType::Q4_1)->vec_dot_type, GgmlType::Q8_1);
  EXPECT_EQ(type_traits(GgmlType::Q5_0)->vec_dot_type, GgmlType::Q8_0);
  EXPECT_EQ(type_traits(GgmlType::IQ2_XXS), nullptr);
  EXPECT_EQ(type_traits(GgmlType::I32), nullptr);
}

TEST(Wrappers, RejectPartialBlocksAndUnknownTypes) {
  std::vector<float> x(300, 1.0f);
  std::vector<uint8_t> buf(4096);
  Status st = quantize_row(GgmlType::Q4_K, x.data(), buf.data(), 255);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("Q4_K"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("256"), std::string::npos) << st.message();
  EXPECT_FALSE(quantize_row(GgmlType::Q8_0, x.data(), buf.data(), 33).ok());
  EXPECT_FALSE(quantize_row(GgmlType::Q8_0, x.data(), buf.data(), -32).ok());
  EXPECT_FALSE(dequantize_row(GgmlType::Q4_0, buf.data(), x.data(), 31).ok());
  EXPECT_FALSE(dequantize_row(GgmlType::IQ2_XXS, buf.data(), x.data(), 256).ok());
  EXPECT_FALSE(quantize_row(GgmlType::MXFP4, x.data(), buf.data(), 32).ok());
  EXPECT_FALSE(vec_dot_row(GgmlType::Q6_K, buf.data(), buf.data(), 100).ok());
  auto dot = vec_dot_row(GgmlType::Q8_K, buf.data(), buf.data(), 256);
  ASSERT_FALSE(dot.ok());
  EXPECT_NE(dot.message().find("activation"), std::string::npos);
  EXPECT_FALSE(vec_dot_row_f32(GgmlType::Q4_0, buf.data(), x.data(), 48).ok());
  EXPECT_TRUE(quantize_row(GgmlType::Q8_0, x.data(), buf.data(), 0).ok());  // empty is fine
  EXPECT_TRUE(quantize_row(GgmlType::F16, x.data(), buf.data(), 7).ok());   // block of 1

  EXPECT_EQ(*row_bytes(GgmlType::Q4_K, 512), 288u);
  EXPECT_EQ(*row_bytes(GgmlType::BF16, 3), 6u);
  EXPECT_FALSE(row_bytes(GgmlType::Q8_0, 31).ok());
  EXPECT_FALSE(row_bytes(GgmlType::IQ1_S, 256).ok());
  EXPECT_FALSE(row_bytes(GgmlType::F32, INT64_MAX).ok());  // 4 * n overflows 64 bits
  EXPECT_TRUE(row_bytes(GgmlType::Q8_K, INT64_MAX / 256 * 256).ok());
}

TEST(Wrappers, QuantizeTensorPacksRowsIndependently) {
  const uint64_t rows = 3;
  const uint64_t cols = 512;
  const auto x = test::gaussian(rows * cols, 77);
  auto bytes = quantize_tensor(GgmlType::Q6_K, x.data(), rows, cols);
  ASSERT_TRUE(bytes.ok()) << bytes.message();
  ASSERT_EQ(bytes->size(), rows * 2 * 210);
  // Row 1 equals quantising row 1 alone.
  std::vector<uint8_t> row1(2 * 210);
  ASSERT_TRUE(quantize_row(GgmlType::Q6_K, x.data() + cols, row1.data(), 512).ok());
  EXPECT_EQ(0, std::memcmp(row1.data(), bytes->data() + 2 * 210, row1.size()));

  auto back = dequantize_tensor(GgmlType::Q6_K, bytes->data(), bytes->size(), rows, cols);
  ASSERT_TRUE(back.ok()) << back.message();
  EXPECT_LT(test::error_stats(x, *back).nmse, 1e-3);

  EXPECT_FALSE(dequantize_tensor(GgmlType::Q6_K, bytes->data(), bytes->size() - 1, rows, cols).ok());
  EXPECT_FALSE(quantize_tensor(GgmlType::Q6_K, x.data(), rows, 100).ok());
  EXPECT_FALSE(quantize_tensor(GgmlType::Q4_0, x.data(), UINT64_MAX / 8, 64).ok());  // too large
  EXPECT_FALSE(quantize_tensor(GgmlType::IQ4_NL, x.data(), 1, 32).ok());
  auto empty = quantize_tensor(GgmlType::Q4_0, x.data(), 0, 64);
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

// Every float tensor of the real test models decodes to finite values, and F16 data
// re-encodes to the identical bytes.
TEST(RealModels, FloatTensorsDecode) {
  int decoded = 0;
  for (const char* name : {"llama-2-tiny-random.gguf", "stories260K.gguf"}) {
    const std::string path = std::string(DARI_TESTDATA_DIR) + "/models/" + name;
    auto file = GgufFile::open(path);
    if (!file.ok()) GTEST_SKIP() << "test model missing: " << file.message();
    for (const GgufTensorInfo& t : file->tensors()) {
      if (type_traits(t.type) == nullptr) continue;
      const uint64_t cols = t.ne[0];
      const uint64_t rows = t.n_elements / cols;
      auto vals = dequantize_tensor(t.type, t.data, t.n_bytes, rows, cols);
      ASSERT_TRUE(vals.ok()) << t.name << ": " << vals.message();
      double ss = 0;
      for (float v : *vals) {
        ASSERT_TRUE(std::isfinite(v)) << t.name;
        ss += static_cast<double>(v) * v;
      }
      EXPECT_GT(ss, 0.0) << t.name;  // not all zero
      if (t.type == GgmlType::F16) {
        auto again = quantize_tensor(GgmlType::F16, vals->data(), rows, cols);
        ASSERT_TRUE(again.ok());
        EXPECT_EQ(0, std::memcmp(again->data(), t.data, t.n_bytes)) << t.name;
      }
      ++decoded;
    }
  }
  EXPECT_GE(decoded, 60);  // 12 + 48 tensors
}

}  // namespace
}  // namespace dari
