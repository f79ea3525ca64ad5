// The generic (portable C++) kernel table: the scalar reference kernels of dari_tensor. Any
// CPU runs them; the matmul driver adds cache blocking on top.
#include "backend/cpu/simd/simd_internal.h"
#include "dari/tensor/dtype.h"

namespace dari::simd::detail {

void fill_generic(IsaKernels* t) {
  const GgmlType weights[kNumWeightSlots] = {GgmlType::F32,  GgmlType::F16,  GgmlType::BF16,
                                             GgmlType::Q4_0, GgmlType::Q8_0, GgmlType::Q4_K,
                                             GgmlType::Q5_K, GgmlType::Q6_K};
  for (GgmlType w : weights) t->dot[weight_slot(w)] = type_traits(w)->vec_dot;
  const GgmlType acts[kNumActSlots] = {GgmlType::F32, GgmlType::F16, GgmlType::BF16, GgmlType::Q8_0,
                                       GgmlType::Q8_K};
  for (GgmlType a : acts) t->quantize[act_slot(a)] = type_traits(a)->from_float;
}

}  // namespace dari::simd::detail
