// Throughput of the scalar reference kernels per type: dequantise, vec_dot (weights in the
// type, activations in its vec_dot_type) and quantise. Bytes/s count the weight bytes of the
// type (the quantity a memory-bound matmul streams), so the figures compare with memory bandwidth.
// Baseline for the SIMD kernels of src/backend/cpu.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <random>
#include <vector>

#include "dari/tensor/dtype.h"

namespace dari {
namespace {

constexpr int64_t kN = 16384;  // elements per row (64 KiB of F32; stays in L2)

std::vector<float> data(uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> v(kN);
  for (auto& x : v) x = dist(rng);
  return v;
}

std::vector<uint8_t> encode(GgmlType t, const std::vector<float>& x) {
  std::vector<uint8_t> q(*row_bytes(t, kN));
  (void)quantize_row(t, x.data(), q.data(), kN);
  return q;
}

void BM_Dequantize(benchmark::State& state, GgmlType t) {
  const auto q = encode(t, data(1));
  std::vector<float> out(kN);
  const TypeTraits* tr = type_traits(t);
  for (auto _ : state) {
    tr->to_float(q.data(), out.data(), kN);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(q.size()));
  state.SetItemsProcessed(state.iterations() * kN);
}

void BM_VecDot(benchmark::State& state, GgmlType t) {
  const TypeTraits* tr = type_traits(t);
  const auto x = encode(t, data(1));
  const auto y = encode(tr->vec_dot_type, data(2));
  float out = 0.0f;
  for (auto _ : state) {
    tr->vec_dot(kN, x.data(), y.data(), &out);
    benchmark::DoNotOptimize(out);
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(x.size()));
  state.SetItemsProcessed(state.iterations() * kN);
}

void BM_Quantize(benchmark::State& state, GgmlType t) {
  const auto x = data(1);
  std::vector<uint8_t> q(*row_bytes(t, kN));
  const TypeTraits* tr = type_traits(t);
  for (auto _ : state) {
    tr->from_float(x.data(), q.data(), kN);
    benchmark::DoNotOptimize(q.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(q.size()));
  state.SetItemsProcessed(state.iterations() * kN);
}

#define DARI_TYPE_BENCH(T)                                          \
  BENCHMARK_CAPTURE(BM_Dequantize, T, GgmlType::T);                \
  BENCHMARK_CAPTURE(BM_VecDot, T, GgmlType::T);                    \
  BENCHMARK_CAPTURE(BM_Quantize, T, GgmlType::T)

DARI_TYPE_BENCH(F32);
DARI_TYPE_BENCH(F16);
DARI_TYPE_BENCH(BF16);
DARI_TYPE_BENCH(Q8_0);
DARI_TYPE_BENCH(Q4_0);
DARI_TYPE_BENCH(Q4_1);
DARI_TYPE_BENCH(Q5_0);
DARI_TYPE_BENCH(Q5_1);
DARI_TYPE_BENCH(Q2_K);
DARI_TYPE_BENCH(Q3_K);
DARI_TYPE_BENCH(Q4_K);
DARI_TYPE_BENCH(Q5_K);
DARI_TYPE_BENCH(Q6_K);
BENCHMARK_CAPTURE(BM_Quantize, Q8_K, GgmlType::Q8_K);
BENCHMARK_CAPTURE(BM_Quantize, Q8_1, GgmlType::Q8_1);

}  // namespace
}  // namespace dari
