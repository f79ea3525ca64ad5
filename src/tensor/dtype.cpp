// The per-type traits table and the checked wrappers of dtype.h.
#include "dari/tensor/dtype.h"

#include <array>
#include <string>

#include "dari/core/checked.h"
#include "dari/tensor/blocks.h"
#include "tensor/numerics.h"

namespace dari {
namespace {

using namespace tensor_detail;  // NOLINT: kernel names only

// Block sizes are stated here as well as in io's GgmlTypeInfo; a test checks they agree.
constexpr std::array<TypeTraits, 15> kTraits = {{
    {GgmlType::F32, 1, 4, f32_to_float, f32_from_float, GgmlType::F32, vec_dot_f32_f32},
    {GgmlType::F16, 1, 2, f16_to_float, f16_from_float, GgmlType::F16, vec_dot_f16_f16},
    {GgmlType::BF16, 1, 2, bf16_to_float, bf16_from_float, GgmlType::BF16, vec_dot_bf16_bf16},
    {GgmlType::Q4_0, kQK4_0, sizeof(BlockQ4_0), q4_0_to_float, q4_0_from_float, GgmlType::Q8_0,
     vec_dot_q4_0_q8_0},
    {GgmlType::Q4_1, kQK4_1, sizeof(BlockQ4_1), q4_1_to_float, q4_1_from_float, GgmlType::Q8_1,
     vec_dot_q4_1_q8_1},
    {GgmlType::Q5_0, kQK5_0, sizeof(BlockQ5_0), q5_0_to_float, q5_0_from_float, GgmlType::Q8_0,
     vec_dot_q5_0_q8_0},
    {GgmlType::Q5_1, kQK5_1, sizeof(BlockQ5_1), q5_1_to_float, q5_1_from_float, GgmlType::Q8_1,
     vec_dot_q5_1_q8_1},
    {GgmlType::Q8_0, kQK8_0, sizeof(BlockQ8_0), q8_0_to_float, q8_0_from_float, GgmlType::Q8_0,
     vec_dot_q8_0_q8_0},
    {GgmlType::Q8_1, kQK8_1, sizeof(BlockQ8_1), q8_1_to_float, q8_1_from_float, GgmlType::Q8_1,
     nullptr},
    {GgmlType::Q2_K, kQK_K, sizeof(BlockQ2_K), q2_k_to_float, q2_k_from_float, GgmlType::Q8_K,
     vec_dot_q2_k_q8_k},
    {GgmlType::Q3_K, kQK_K, sizeof(BlockQ3_K), q3_k_to_float, q3_k_from_float, GgmlType::Q8_K,
     vec_dot_q3_k_q8_k},
    {GgmlType::Q4_K, kQK_K, sizeof(BlockQ4_K), q4_k_to_float, q4_k_from_float, GgmlType::Q8_K,
     vec_dot_q4_k_q8_k},
    {GgmlType::Q5_K, kQK_K, sizeof(BlockQ5_K), q5_k_to_float, q5_k_from_float, GgmlType::Q8_K,
     vec_dot_q5_k_q8_k},
    {GgmlType::Q6_K, kQK_K, sizeof(BlockQ6_K), q6_k_to_float, q6_k_from_float, GgmlType::Q8_K,
     vec_dot_q6_k_q8_k},
    {GgmlType::Q8_K, kQK_K, sizeof(BlockQ8_K), q8_k_to_float, q8_k_from_float, GgmlType::Q8_K,
     nullptr},
}};

std::string type_label(GgmlType t) {
  return std::string(ggml_type_name(t)) + " (type " + std::to_string(static_cast<uint32_t>(t)) + ")";
}

// Traits of `type` or an error naming it and `what` was requested.
Result<const TypeTraits*> checked_traits(GgmlType type, const char* what) {
  const TypeTraits* tr = type_traits(type);
  if (tr == nullptr) return make_error(type_label(type) + ": no " + what + " numerics in dari");
  return tr;
}

Status check_count(const TypeTraits& tr, int64_t n) {
  if (n < 0 || n % tr.block_elems != 0) {
    return make_error(type_label(tr.type) + ": element count " + std::to_string(n) +
                      " is not a non-negative multiple of the block size " +
                      std::to_string(tr.block_elems));
  }
  return Status::Ok();
}

}  // namespace

const TypeTraits* type_traits(GgmlType t) {
  for (const TypeTraits& tr : kTraits) {
    if (tr.type == t) return &tr;
  }
  return nullptr;
}

float fp16_to_fp32(uint16_t h) { return half_to_float(h); }
uint16_t fp32_to_fp16(float f) { return float_to_half(f); }
float bf16_to_fp32(uint16_t h) { return tensor_detail::bf16_to_float(h); }
uint16_t fp32_to_bf16(float f) { return float_to_bf16(f); }

Result<uint64_t> row_bytes(GgmlType type, int64_t n) {
  DARI_ASSIGN_OR_RETURN(const TypeTraits* tr, checked_traits(type, "layout"));
  DARI_TRY(check_count(*tr, n));
  uint64_t bytes = 0;
  if (!checked_mul(static_cast<uint64_t>(n) / tr->block_elems, uint64_t{tr->block_bytes}, &bytes)) {
    return make_error(type_label(type) + ": row of " + std::to_string(n) + " elements overflows");
  }
  return bytes;
}

Status quantize_row(GgmlType type, const float* src, void* dst, int64_t n) {
  DARI_ASSIGN_OR_RETURN(const TypeTraits* tr, checked_traits(type, "quantisation"));
  if (tr->from_float == nullptr) return make_error(type_label(type) + ": no quantiser");
  DARI_TRY(check_count(*tr, n));
  tr->from_float(src, dst, n);
  return Status::Ok();
}

Status dequantize_row(GgmlType type, const void* src, float* dst, int64_t n) {
  DARI_ASSIGN_OR_RETURN(const TypeTraits* tr, checked_traits(type, "dequantisation"));
  DARI_TRY(check_count(*tr, n));
  tr->to_float(src, dst, n);
  return Status::Ok();
}

Result<float> vec_dot_row(GgmlType type, const void* x, const void* y, int64_t n) {
  DARI_ASSIGN_OR_RETURN(const TypeTraits* tr, checked_traits(type, "dot product"));
  if (tr->vec_dot == nullptr) return make_error(type_label(type) + ": no dot product (activation-only type)");
  DARI_TRY(check_count(*tr, n));
  float out = 0.0f;
  tr->vec_dot(n, x, y, &out);
  return out;
}

Result<float> vec_dot_row_f32(GgmlType type, const void* x, const float* y, int64_t n) {
  DARI_ASSIGN_OR_RETURN(const TypeTraits* tr, checked_traits(type, "dot product"));
  DARI_ASSIGN_OR_RETURN(uint64_t ybytes, row_bytes(tr->vec_dot_type, n));
  std::vector<uint8_t> yq(ybytes);
  DARI_TRY(quantize_row(tr->vec_dot_type, y, yq.data(), n));
  return vec_dot_row(type, x, yq.data(), n);
}

Result<std::vector<uint8_t>> quantize_tensor(GgmlType type, const float* src, uint64_t rows,
                                             uint64_t cols) {
  if (cols > static_cast<uint64_t>(INT64_MAX)) {
    return make_error(type_label(type) + ": " + std::to_string(cols) + " columns is too many");
  }
  const auto ncols = static_cast<int64_t>(cols);
  DARI_ASSIGN_OR_RETURN(uint64_t rb, row_bytes(type, ncols));
  const TypeTraits* tr = type_traits(type);
  if (tr->from_float == nullptr) return make_error(type_label(type) + ": no quantiser");
  uint64_t total = 0;
  if (!checked_mul(rb, rows, &total) || total > SIZE_MAX / 2) {
    return make_error(type_label(type) + ": tensor of " + std::to_string(rows) + " x " +
                      std::to_string(cols) + " is too large");
  }
  std::vector<uint8_t> out(static_cast<size_t>(total));
  for (uint64_t r = 0; r < rows; ++r) {
    tr->from_float(src + r * cols, out.data() + r * rb, ncols);
  }
  return out;
}

Result<std::vector<float>> dequantize_tensor(GgmlType type, const uint8_t* bytes,
                                             uint64_t num_bytes, uint64_t rows, uint64_t cols) {
  if (cols > static_cast<uint64_t>(INT64_MAX)) {
    return make_error(type_label(type) + ": " + std::to_string(cols) + " columns is too many");
  }
  const auto ncols = static_cast<int64_t>(cols);
  DARI_ASSIGN_OR_RETURN(uint64_t rb, row_bytes(type, ncols));
  uint64_t total = 0;
  uint64_t elems = 0;
  if (!checked_mul(rb, rows, &total) || !checked_mul(rows, cols, &elems) ||
      elems > SIZE_MAX / sizeof(float) / 2) {
    return make_error(type_label(type) + ": tensor of " + std::to_string(rows) + " x " +
                      std::to_string(cols) + " is too large");
  }
  if (total != num_bytes) {
    return make_error(type_label(type) + ": " + std::to_string(rows) + " x " +
                      std::to_string(cols) + " needs " + std::to_string(total) + " bytes, got " +
                      std::to_string(num_bytes));
  }
  std::vector<float> out(static_cast<size_t>(elems));
  const TypeTraits* tr = type_traits(type);
  for (uint64_t r = 0; r < rows; ++r) tr->to_float(bytes + r * rb, out.data() + r * cols, ncols);
  return out;
}

}  // namespace dari
