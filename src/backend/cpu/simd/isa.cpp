// Run-time ISA detection, the forced-ISA override, the per-ISA kernel tables and the matmul
// driver (cache blocking and tiling; the arithmetic lives in the per-ISA files).
#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <string_view>
#if defined(__x86_64__)
#include <cpuid.h>
#endif

#include "backend/cpu/simd/simd_internal.h"
#include "dari/core/strings.h"
#include "dari/tensor/dtype.h"

namespace dari::simd {
namespace detail {

int weight_slot(GgmlType t) {
  switch (t) {
    case GgmlType::F32:
      return kWF32;
    case GgmlType::F16:
      return kWF16;
    case GgmlType::BF16:
      return kWBF16;
    case GgmlType::Q4_0:
      return kWQ4_0;
    case GgmlType::Q8_0:
      return kWQ8_0;
    case GgmlType::Q4_K:
      return kWQ4_K;
    case GgmlType::Q5_K:
      return kWQ5_K;
    case GgmlType::Q6_K:
      return kWQ6_K;
    default:
      return -1;
  }
}

int act_slot(GgmlType t) {
  switch (t) {
    case GgmlType::F32:
      return kAF32;
    case GgmlType::F16:
      return kAF16;
    case GgmlType::BF16:
      return kABF16;
    case GgmlType::Q8_0:
      return kAQ8_0;
    case GgmlType::Q8_K:
      return kAQ8_K;
    default:
      return -1;
  }
}

int kv_slot(GgmlType t) {
  switch (t) {
    case GgmlType::F32:
      return kKvF32;
    case GgmlType::F16:
      return kKvF16;
    case GgmlType::BF16:
      return kKvBF16;
    default:
      return -1;
  }
}

namespace {

struct Tables {
  IsaKernels t[kNumIsas];
  Tables() {
    fill_generic(&t[0]);
#if defined(__x86_64__)
    t[1] = t[0];
    fill_avx2(&t[1]);
    t[2] = t[1];
#if defined(DARI_SIMD_HAVE_AVX512)
    fill_avx512(&t[2]);
#endif
#endif
  }
};

}  // namespace

const IsaKernels& kernels_for(Isa isa) {
  static const Tables tables;
  return tables.t[static_cast<int>(isa)];
}

}  // namespace detail

namespace {

#if defined(__x86_64__)
// clang 14's __builtin_cpu_supports has no "f16c": read CPUID leaf 1, ECX bit 29. (The OS
// support for YMM state is covered by the "avx2" check, which tests XGETBV.)
bool cpu_has_f16c() {
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (__get_cpuid(1, &a, &b, &c, &d) == 0) return false;
  return (c & bit_F16C) != 0;
}
#endif

bool cpu_has(Isa isa) {
  switch (isa) {
    case Isa::kGeneric:
      return true;
#if defined(__x86_64__)
    case Isa::kAvx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && cpu_has_f16c();
    case Isa::kAvx512:
#if defined(DARI_SIMD_HAVE_AVX512)
      return cpu_has(Isa::kAvx2) && __builtin_cpu_supports("avx512f") &&
             __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
             __builtin_cpu_supports("avx512vnni");
#else
      return false;
#endif
#endif
    default:
      return false;
  }
}

constexpr int kNotForced = -1;
std::atomic<int> g_forced{kNotForced};

}  // namespace

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::kGeneric:
      return "generic";
    case Isa::kAvx2:
      return "avx2";
    case Isa::kAvx512:
      return "avx512";
  }
  return "unknown";
}

std::vector<Isa> supported_isas() {
  static const std::vector<Isa> list = [] {
    std::vector<Isa> v;
    for (int i = 0; i < kNumIsas; ++i) {
      if (cpu_has(static_cast<Isa>(i))) v.push_back(static_cast<Isa>(i));
    }
    return v;
  }();
  return list;
}

bool isa_supported(Isa isa) {
  const std::vector<Isa> v = supported_isas();
  return std::find(v.begin(), v.end(), isa) != v.end();
}

Isa active_isa() {
  const int f = g_forced.load(std::memory_order_relaxed);
  if (f != kNotForced) return static_cast<Isa>(f);
  static const Isa best = supported_isas().back();
  return best;
}

namespace {
// DARI_GROUP_KERNELS=0 in the environment starts with the row-group kernels off (for A/B runs of
// whole programs such as `dari bench`).
bool group_default() {
  const char* v = std::getenv("DARI_GROUP_KERNELS");
  return v == nullptr || std::string_view(v) != "0";
}
std::atomic<bool> g_group_enabled{group_default()};
}  // namespace

void set_group_kernels_enabled(bool on) {
  g_group_enabled.store(on, std::memory_order_relaxed);
}
bool group_kernels_enabled() {
  return g_group_enabled.load(std::memory_order_relaxed);
}

bool set_forced_isa(Isa isa) {
  if (!isa_supported(isa)) return false;
  g_forced.store(static_cast<int>(isa), std::memory_order_relaxed);
  return true;
}

void clear_forced_isa() {
  g_forced.store(kNotForced, std::memory_order_relaxed);
}

bool weight_type_supported(GgmlType weight_type) {
  return detail::weight_slot(weight_type) >= 0;
}

GgmlType activation_type(GgmlType weight_type) {
  switch (weight_type) {
    case GgmlType::Q4_0:
    case GgmlType::Q8_0:
      return GgmlType::Q8_0;
    case GgmlType::Q4_K:
    case GgmlType::Q5_K:
    case GgmlType::Q6_K:
      return GgmlType::Q8_K;
    default:
      return weight_type;  // F32, F16, BF16 dot against themselves
  }
}

QuantizeRowFn quantize_row_fn(GgmlType act_type, Isa isa) {
  const int s = detail::act_slot(act_type);
  if (s < 0 || !isa_supported(isa)) return nullptr;
  return detail::kernels_for(isa).quantize[s];
}

KvAxpyFn kv_axpy_fn(GgmlType kv_type, Isa isa) {
  const int s = detail::kv_slot(kv_type);
  if (s < 0 || !isa_supported(isa)) return nullptr;
  return detail::kernels_for(isa).kv_axpy[s];
}

KvLoadFn kv_load_fn(GgmlType kv_type, Isa isa) {
  const int s = detail::kv_slot(kv_type);
  if (s < 0 || !isa_supported(isa)) return nullptr;
  return detail::kernels_for(isa).kv_load[s];
}

KvLoadTFn kv_load_t_fn(GgmlType kv_type, Isa isa) {
  const int s = detail::kv_slot(kv_type);
  if (s < 0 || !isa_supported(isa)) return nullptr;
  return detail::kernels_for(isa).kv_load_t[s];
}

KvScoresTFn kv_scores_t_fn(Isa isa) {
  if (!isa_supported(isa)) return nullptr;
  return detail::kernels_for(isa).kv_scores_t;
}

ExpSumFn exp_sum_fn(Isa isa) {
  if (!isa_supported(isa)) return nullptr;
  return detail::kernels_for(isa).exp_sum;
}

SiluMulFn silu_mul_fn(Isa isa) {
  if (!isa_supported(isa)) return nullptr;
  return detail::kernels_for(isa).silu_mul;
}

VecDotFn vec_dot_fn(GgmlType weight_type, Isa isa) {
  const int s = detail::weight_slot(weight_type);
  if (s < 0 || !isa_supported(isa)) return nullptr;
  return detail::kernels_for(isa).dot[s];
}

}  // namespace dari::simd
