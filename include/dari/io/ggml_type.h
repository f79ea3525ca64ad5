// Tensor element types as numbered in the GGUF file format (ggml's type ids).
//
// This is a file-format fact, so it lives in io: the reader needs block sizes to validate
// tensor byte sizes. Numerics (to_float, vec_dot, ...) live in src/tensor.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace dari {

enum class GgmlType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  // 4 and 5 (Q4_2, Q4_3) were removed from the format.
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  IQ2_XXS = 16,
  IQ2_XS = 17,
  IQ3_XXS = 18,
  IQ1_S = 19,
  IQ4_NL = 20,
  IQ3_S = 21,
  IQ2_S = 22,
  IQ4_XS = 23,
  I8 = 24,
  I16 = 25,
  I32 = 26,
  I64 = 27,
  F64 = 28,
  IQ1_M = 29,
  BF16 = 30,
  // 31..33 (Q4_0_4_4, Q4_0_4_8, Q4_0_8_8) were removed from the format.
  TQ1_0 = 34,
  TQ2_0 = 35,
  // 36..38 (IQ4_NL_4_4, ...) were removed from the format.
  MXFP4 = 39,
};

// Layout of one type: `block_elems` elements are stored in `block_bytes` bytes.
struct GgmlTypeInfo {
  GgmlType type;
  std::string_view name;  // GGUF's name, e.g. "Q4_K"
  uint32_t block_elems;
  uint32_t block_bytes;
};

// Info for a raw type id read from a file; nullopt for ids that are not (or no longer) valid.
std::optional<GgmlTypeInfo> ggml_type_info(uint32_t raw_type);
inline GgmlTypeInfo ggml_type_info(GgmlType t) { return *ggml_type_info(static_cast<uint32_t>(t)); }
std::string_view ggml_type_name(GgmlType t);
// Looks a type up by its GGUF name ("Q8_0", case-sensitive).
std::optional<GgmlType> ggml_type_from_name(std::string_view name);

// Bytes needed for a row of n elements, or nullopt if n is not a multiple of the block size or
// the size overflows.
std::optional<uint64_t> ggml_row_bytes(GgmlType t, uint64_t n);

}  // namespace dari
