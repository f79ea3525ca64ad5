// The NMSE threshold of every (op, type) the conformance suite checks, each with the reason for
// its size. NMSE = sum((a - b)^2) / sum(b^2) against the scalar CPU reference; inputs are uniform
// in [-1, 1] unless a case says otherwise. A wrong kernel (wrong pair, block, head or row) gives
// NMSE near 1, so the limits below only need to separate rounding from mistakes.
#include <string>
#include <vector>

#include "backend/conformance/cases.h"
#include "dari/tensor/dtype.h"

namespace dari::conformance {
namespace {

std::string tn(GgmlType t) {
  return std::string(ggml_type_name(t));
}

bool is_float(GgmlType t) {
  return t == GgmlType::F32 || t == GgmlType::F16 || t == GgmlType::BF16;
}

// Writing floats as `t` (set_rows, copy F32 -> t): two encoders may round differently.
Threshold write_limit(OpKind kind, const std::string& type, GgmlType t) {
  const std::string op(op_name(kind));
  switch (t) {
    case GgmlType::F32:
      return {op, type, 1e-12, "exact: F32 stored as is"};
    case GgmlType::F16:
      return {op, type, 1e-6,
              "a GPU's f32->f16 rounding mode is implementation-defined (<= 1 ulp, 2^-10)"};
    case GgmlType::BF16:
      return {op, type, 5e-5, "f32->bf16 may truncate instead of rounding (<= 1 ulp, 2^-7)"};
    case GgmlType::Q8_0:
      return {op, type, 1e-5,
              "encoders may round ties differently: one step (max/127) on a few % of values"};
    case GgmlType::Q5_0:
    case GgmlType::Q5_1:
    case GgmlType::Q5_K:
    case GgmlType::Q6_K:
      return {op, type, 5e-4,
              "scale search and ties may differ: one step (range/32) on ~1% of values"};
    default:
      return {op, type, 2e-3,
              "scale search and ties may differ: one step (range/16) on ~1% of values"};
  }
}

// Reading `t` as floats (get_rows, copy t -> F32).
Threshold read_limit(OpKind kind, const std::string& type, GgmlType t) {
  const std::string op(op_name(kind));
  if (is_float(t))
    return {op, type, 1e-12, "exact: every F32/F16/BF16 value converts to f32 exactly"};
  return {op, type, 1e-10,
          "d*q (- m) rounded once in f32; the order of the scale multiplies may differ"};
}

Threshold matmul_limit(GgmlType t) {
  const std::string op = "matmul", type = tn(t);
  switch (t) {
    case GgmlType::F32:
      return {op, type, 1e-7, "f32 products on both sides; only the summation order differs"};
    case GgmlType::F16:
      return {op, type, 5e-6,
              "the reference rounds activations to F16 (vec_dot_type), a device may not (2^-11)"};
    case GgmlType::BF16:
      return {op, type, 1e-4,
              "the reference rounds activations to BF16 (vec_dot_type), a device may not (2^-8)"};
    case GgmlType::Q4_K:
    case GgmlType::Q5_K:
    case GgmlType::Q6_K:
      return {
          op, type, 5e-4,
          "the reference quantizes activations to Q8_K, a device may keep f32 (llama.cpp: 5e-4)"};
    default:
      return {op, type, 5e-4,
              "the reference quantizes activations to Q8_0/Q8_1, a device may keep f32 (llama.cpp: "
              "5e-4)"};
  }
}

std::vector<Threshold> build_table() {
  std::vector<Threshold> t;
  for (GgmlType w : suite_types()) t.push_back(matmul_limit(w));
  t.push_back({"rms_norm", "F32", 1e-7,
               "f32 sum of squares over <= 4096 values vs the reference's double"});
  t.push_back(
      {"rope", "F32", 1e-5,
       "angles pos*theta in f32 lose up to pos*2^-24 rad (pos < 4096); the reference uses double"});
  t.push_back({"softmax", "F32", 1e-7, "f32 exp (a few ulp) and an f32 sum over <= 4096 values"});
  t.push_back({"silu_mul", "F32", 1e-7, "f32 exp in the sigmoid: a few ulp per element"});
  t.push_back({"add", "F32", 1e-12, "exact: one IEEE f32 rounding per element"});
  t.push_back({"mul", "F32", 1e-12, "exact: one IEEE f32 rounding per element"});
  for (GgmlType w : suite_types()) t.push_back(read_limit(OpKind::kGetRows, tn(w), w));
  for (GgmlType w : suite_types()) t.push_back(write_limit(OpKind::kSetRows, tn(w), w));
  t.push_back(
      {"attention", "F32", 1e-6, "f32 dot products, exp and two f32 reductions over <= 4100 keys"});
  t.push_back({"attention", "F16", 1e-5,
               "K/V convert exactly, but a device may multiply or sum in f16 (2^-11)"});
  t.push_back({"attention", "BF16", 1e-5,
               "K/V convert exactly; f32 arithmetic as for F32 plus f16 staging slack"});
  t.push_back({"copy", "F32->F32", 1e-12, "exact: a byte copy"});
  t.push_back({"copy", "F16->F16", 1e-12, "exact: a byte copy"});
  for (GgmlType w : suite_types()) {
    if (w == GgmlType::F32) continue;
    t.push_back(write_limit(OpKind::kCopy, "F32->" + tn(w), w));
    t.push_back(read_limit(OpKind::kCopy, tn(w) + "->F32", w));
  }
  // Graph cases (graph_cases.cpp): several ops in one compute() call.
  for (GgmlType w : {GgmlType::F32, GgmlType::F16, GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::Q4_K,
                     GgmlType::Q6_K}) {
    const Threshold mm = matmul_limit(w);
    t.push_back({"ffn", tn(w), 4.0 * mm.nmse,
                 "4x matmul's: three " + tn(w) +
                     " matmuls in a chain (gate, up, down) add their rounding"});
  }
  for (GgmlType kv : {GgmlType::F32, GgmlType::F16}) {
    t.push_back({"decode", tn(kv), 5e-5,
                 "rope (1e-5) feeds the KV write and attention; the " + tn(kv) +
                     " write may round differently"});
  }
  return t;
}

const std::vector<Threshold>& table() {
  static const std::vector<Threshold> t = build_table();
  return t;
}

}  // namespace

const std::vector<GgmlType>& suite_types() {
  static const std::vector<GgmlType> types = {GgmlType::F32,  GgmlType::F16,  GgmlType::BF16,
                                              GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::Q4_1,
                                              GgmlType::Q5_0, GgmlType::Q5_1, GgmlType::Q4_K,
                                              GgmlType::Q5_K, GgmlType::Q6_K};
  return types;
}

std::vector<Threshold> conformance_thresholds() {
  return table();
}

const Threshold* find_threshold(const std::string& op, const std::string& type) {
  for (const Threshold& t : table()) {
    if (t.op == op && t.type == type) return &t;
  }
  return nullptr;
}

}  // namespace dari::conformance
