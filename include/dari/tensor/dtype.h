// Per-type numerics table for GGUF tensor types: conversion to and from float and the dot
// product used by matrix-vector and matrix-matrix kernels.
//
// Every entry here is the plain scalar reference implementation, bit-exact with the GGUF block
// layouts (see blocks.h). Optimised kernels (src/backend/cpu) are tested against these.
//
// Thread safety: the table is immutable; the functions are pure and may be called from any thread.
// Memory: nothing here allocates except quantize_tensor / dequantize_tensor, whose results the
// caller owns. Raw pointers are borrowed for the duration of the call; blocks may sit at any byte
// address (fields are read with memcpy).
#pragma once

#include <cstdint>
#include <vector>

#include "dari/core/result.h"
#include "dari/io/ggml_type.h"

namespace dari {

struct TypeTraits {
  GgmlType type;
  uint32_t block_elems;  // elements per block (1 for F32/F16/BF16)
  uint32_t block_bytes;  // bytes per block

  // Dequantise n elements (n a multiple of block_elems) from src into dst (floats).
  void (*to_float)(const void* src, float* dst, int64_t n);
  // Quantise n floats into dst using the reference rounding (n a multiple of block_elems).
  // Null for types that dari cannot produce. Inputs should be finite: NaN/Inf give unspecified
  // (but memory-safe, UB-free) encodings.
  void (*from_float)(const float* src, void* dst, int64_t n);

  // The activation type vec_dot expects for its second operand (e.g. Q8_0 for Q4_0 weights,
  // Q8_K for k-quants, F32 for F32 weights).
  GgmlType vec_dot_type;
  // *out = sum_i x[i] * y[i] over n elements; x is in this type, y in vec_dot_type.
  // Null for types that are only ever activations (Q8_1, Q8_K).
  void (*vec_dot)(int64_t n, const void* x, const void* y, float* out);
};

// Traits for a type, or nullptr if dari has no numerics for it (e.g. IQ types: inspect only).
// Supported: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q8_K.
const TypeTraits* type_traits(GgmlType t);

// Scalar float <-> half / bfloat16 conversions (IEEE round-to-nearest-even; subnormals kept;
// overflow rounds to infinity; NaN stays NaN (quiet), keeping the sign and top payload bits).
float fp16_to_fp32(uint16_t h);
uint16_t fp32_to_fp16(float f);
float bf16_to_fp32(uint16_t h);
uint16_t fp32_to_bf16(float f);

// ---- Checked convenience wrappers -------------------------------------------------------------
// These validate the type and the element count (n >= 0 and a multiple of the block size) and
// return an Error naming the type instead of relying on the caller. Buffer sizes cannot be
// checked: src/dst must hold n elements / row_bytes(type, n) bytes.

// Bytes of n elements of `type`; error if the type has no numerics, n is not a multiple of the
// block size, or the size overflows.
Result<uint64_t> row_bytes(GgmlType type, int64_t n);

// Quantises n floats from src into dst (row_bytes(type, n) bytes).
Status quantize_row(GgmlType type, const float* src, void* dst, int64_t n);

// Dequantises n elements from src (row_bytes(type, n) bytes) into dst (n floats).
Status dequantize_row(GgmlType type, const void* src, float* dst, int64_t n);

// Dot product of n elements: x in `type`, y already in type_traits(type)->vec_dot_type.
Result<float> vec_dot_row(GgmlType type, const void* x, const void* y, int64_t n);

// Dot product of n elements: x in `type`, y plain floats. y is first quantised to the type's
// vec_dot_type (as a real kernel would), so the result includes activation rounding.
// Allocates one temporary row of the vec_dot_type.
Result<float> vec_dot_row_f32(GgmlType type, const void* x, const float* y, int64_t n);

// Quantises a row-major [rows, cols] float matrix into the bytes GGUF stores for a tensor of
// `type` with ne0 = cols, ne1 = rows: each row is quantised independently and rows are packed
// back to back. cols must be a multiple of the block size; the byte size must fit in memory.
Result<std::vector<uint8_t>> quantize_tensor(GgmlType type, const float* src, uint64_t rows,
                                             uint64_t cols);

// Inverse of quantize_tensor: `bytes` must be exactly rows * row_bytes(type, cols) long.
Result<std::vector<float>> dequantize_tensor(GgmlType type, const uint8_t* bytes,
                                             uint64_t num_bytes, uint64_t rows, uint64_t cols);

}  // namespace dari
