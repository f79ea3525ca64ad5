#include <gtest/gtest.h>

#include "dari/io/ggml_type.h"

namespace dari {
namespace {

struct Expected {
  uint32_t id;
  const char* name;
  uint32_t block_elems;
  uint32_t block_bytes;
};

// Block sizes of ggml's block structs (sizeof of block_q4_0 etc.).
constexpr Expected kExpected[] = {
    {0, "F32", 1, 4},         {1, "F16", 1, 2},          {2, "Q4_0", 32, 18},
    {3, "Q4_1", 32, 20},      {6, "Q5_0", 32, 22},       {7, "Q5_1", 32, 24},
    {8, "Q8_0", 32, 34},      {9, "Q8_1", 32, 36},       {10, "Q2_K", 256, 84},
    {11, "Q3_K", 256, 110},   {12, "Q4_K", 256, 144},    {13, "Q5_K", 256, 176},
    {14, "Q6_K", 256, 210},   {15, "Q8_K", 256, 292},    {16, "IQ2_XXS", 256, 66},
    {17, "IQ2_XS", 256, 74},  {18, "IQ3_XXS", 256, 98},  {19, "IQ1_S", 256, 50},
    {20, "IQ4_NL", 32, 18},   {21, "IQ3_S", 256, 110},   {22, "IQ2_S", 256, 82},
    {23, "IQ4_XS", 256, 136}, {24, "I8", 1, 1},          {25, "I16", 1, 2},
    {26, "I32", 1, 4},        {27, "I64", 1, 8},         {28, "F64", 1, 8},
    {29, "IQ1_M", 256, 56},   {30, "BF16", 1, 2},        {34, "TQ1_0", 256, 54},
    {35, "TQ2_0", 256, 66},   {39, "MXFP4", 32, 17},
};

TEST(GgmlType, EveryTypeHasItsBlockLayout) {
  for (const Expected& e : kExpected) {
    auto info = ggml_type_info(e.id);
    ASSERT_TRUE(info.has_value()) << e.name;
    EXPECT_EQ(static_cast<uint32_t>(info->type), e.id);
    EXPECT_EQ(info->name, e.name);
    EXPECT_EQ(info->block_elems, e.block_elems) << e.name;
    EXPECT_EQ(info->block_bytes, e.block_bytes) << e.name;
    auto by_name = ggml_type_from_name(e.name);
    ASSERT_TRUE(by_name.has_value()) << e.name;
    EXPECT_EQ(static_cast<uint32_t>(*by_name), e.id);
    EXPECT_EQ(ggml_type_name(*by_name), e.name);
  }
}

TEST(GgmlType, RemovedAndUnknownIdsAreRejected) {
  for (uint32_t id : {4u, 5u, 31u, 32u, 33u, 36u, 37u, 38u, 40u, 1000u, 0xffffffffu}) {
    EXPECT_FALSE(ggml_type_info(id).has_value()) << id;
  }
  EXPECT_FALSE(ggml_type_from_name("Q4_2").has_value());
  EXPECT_FALSE(ggml_type_from_name("q8_0").has_value());  // case-sensitive
  EXPECT_EQ(ggml_type_name(static_cast<GgmlType>(4)), "UNKNOWN");
}

TEST(GgmlType, RowBytes) {
  EXPECT_EQ(ggml_row_bytes(GgmlType::F32, 64), 256u);
  EXPECT_EQ(ggml_row_bytes(GgmlType::Q4_0, 64), 36u);
  EXPECT_EQ(ggml_row_bytes(GgmlType::Q4_K, 4096), 16u * 144u);
  EXPECT_EQ(ggml_row_bytes(GgmlType::Q6_K, 256), 210u);
  EXPECT_EQ(ggml_row_bytes(GgmlType::F16, 0), 0u);
  EXPECT_FALSE(ggml_row_bytes(GgmlType::Q4_0, 33).has_value());   // not a block multiple
  EXPECT_FALSE(ggml_row_bytes(GgmlType::Q4_K, 128).has_value());
  EXPECT_FALSE(ggml_row_bytes(GgmlType::F64, UINT64_MAX).has_value());  // overflows
  EXPECT_FALSE(ggml_row_bytes(static_cast<GgmlType>(5), 32).has_value());
}

}  // namespace
}  // namespace dari
