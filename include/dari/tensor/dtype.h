// Per-type numerics table for GGUF tensor types: conversion to and from float and the dot
// product used by matrix-vector and matrix-matrix kernels.
//
// Every entry here is the plain scalar reference implementation, bit-exact with the GGUF block
// layouts. Optimised kernels (src/backend/cpu) are tested against these.
//
// Thread safety: the table is immutable; the functions are pure and may be called from any thread.
#pragma once

#include <cstdint>

#include "dari/io/ggml_type.h"

namespace dari {

struct TypeTraits {
  GgmlType type;
  uint32_t block_elems;  // elements per block (1 for F32/F16/BF16)
  uint32_t block_bytes;  // bytes per block

  // Dequantise n elements (n a multiple of block_elems) from src into dst (floats).
  void (*to_float)(const void* src, float* dst, int64_t n);
  // Quantise n floats into dst using the reference rounding (n a multiple of block_elems).
  // Null for types that dari cannot produce.
  void (*from_float)(const float* src, void* dst, int64_t n);

  // The activation type vec_dot expects for its second operand (e.g. Q8_0 for Q4_0 weights,
  // Q8_K for k-quants, F32 for F32 weights).
  GgmlType vec_dot_type;
  // *out = sum_i x[i] * y[i] over n elements; x is in this type, y in vec_dot_type.
  void (*vec_dot)(int64_t n, const void* x, const void* y, float* out);
};

// Traits for a type, or nullptr if dari has no numerics for it (e.g. IQ types: inspect only).
const TypeTraits* type_traits(GgmlType t);

// Scalar float <-> half / bfloat16 conversions (IEEE round-to-nearest-even).
float fp16_to_fp32(uint16_t h);
uint16_t fp32_to_fp16(float f);
float bf16_to_fp32(uint16_t h);
uint16_t fp32_to_bf16(float f);

}  // namespace dari
