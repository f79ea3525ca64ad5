// The matmul driver: argument checks, activation-row cache blocking and register tiles. The
// per-ISA files supply the dot and tile kernels; this file does no arithmetic of its own.
#include <algorithm>
#include <string>

#include "backend/cpu/simd/simd_internal.h"
#include "dari/core/strings.h"
#include "dari/tensor/dtype.h"

namespace dari::simd {
namespace {

// Activation rows per cache block: keeps the block (and one 4-row weight tile) in L2 while
// every weight row of the slice streams past it once.
constexpr uint64_t kActBlockBytes = 192 * 1024;

Status check_args(const MatmulArgs& a) {
  if (!weight_type_supported(a.weight_type)) {
    return make_error(str_format("simd matmul: no kernel for weight type %s",
                                 std::string(ggml_type_name(a.weight_type)).c_str()));
  }
  const TypeTraits* wt = type_traits(a.weight_type);
  const TypeTraits* at = type_traits(activation_type(a.weight_type));
  if (a.k <= 0 || a.k % wt->block_elems != 0 || a.k % at->block_elems != 0) {
    return make_error(str_format("simd matmul: k=%lld is not a positive multiple of the %s block",
                                 static_cast<long long>(a.k),
                                 std::string(ggml_type_name(a.weight_type)).c_str()));
  }
  if (a.row_begin < 0 || a.row_end < a.row_begin || a.n_act < 0) {
    return make_error(str_format("simd matmul: bad ranges rows [%lld, %lld), n_act %lld",
                                 static_cast<long long>(a.row_begin),
                                 static_cast<long long>(a.row_end),
                                 static_cast<long long>(a.n_act)));
  }
  if (a.row_end == a.row_begin || a.n_act == 0) return Status::Ok();
  const uint64_t w_bytes = static_cast<uint64_t>(a.k / wt->block_elems) * wt->block_bytes;
  const uint64_t a_bytes = static_cast<uint64_t>(a.k / at->block_elems) * at->block_bytes;
  if (a.row_end - a.row_begin > 1 && a.weight_stride < w_bytes) {
    return make_error(str_format("simd matmul: weight_stride %llu < row bytes %llu",
                                 static_cast<unsigned long long>(a.weight_stride),
                                 static_cast<unsigned long long>(w_bytes)));
  }
  if (a.n_act > 1 && (a.act_stride < a_bytes || a.out_stride < a.row_end)) {
    return make_error(str_format(
        "simd matmul: act_stride %llu (row bytes %llu) or out_stride %lld "
        "(rows %lld) too small",
        static_cast<unsigned long long>(a.act_stride), static_cast<unsigned long long>(a_bytes),
        static_cast<long long>(a.out_stride), static_cast<long long>(a.row_end)));
  }
  if (a.weights == nullptr || a.act == nullptr || a.out == nullptr) {
    return make_error("simd matmul: null weights, activations or output");
  }
  return Status::Ok();
}

}  // namespace

Status matmul(const MatmulArgs& args) {
  return matmul(args, active_isa());
}

namespace {

// Upper bound on the group kernels' per-block activation side data per cache block (int32s on
// the stack). An activation cache block holds at most kActBlockBytes / block bytes blocks, so this
// only excludes single activation rows longer than the cache block.
constexpr int64_t kMaxGroupSums = 8192;

struct Plan {
  VecDotFn dot = nullptr;
  detail::TileFn tile = nullptr;
  detail::GroupKernel group;
  int64_t nb = 0;         // activation blocks per row
  int64_t act_block = 1;  // activation rows per cache block
};

// Weight rows [r, r + n_w) against activation rows [a0, a_end), per-row tiles or dots.
void run_tiles(const MatmulArgs& a, const Plan& p, int64_t r, int n_w, int64_t a0, int64_t a_end) {
  const auto* w = static_cast<const uint8_t*>(a.weights);
  const auto* x = static_cast<const uint8_t*>(a.act);
  const uint8_t* wr = w + static_cast<uint64_t>(r) * a.weight_stride;
  for (int64_t ai = a0; ai < a_end; ai += detail::kTileMax) {
    const int n_x = static_cast<int>(std::min<int64_t>(detail::kTileMax, a_end - ai));
    const uint8_t* xr = x + static_cast<uint64_t>(ai) * a.act_stride;
    float* o = a.out + ai * a.out_stride + r;
    if (p.tile != nullptr) {
      p.tile(a.k, wr, a.weight_stride, n_w, xr, a.act_stride, n_x, o, a.out_stride);
      continue;
    }
    for (int j = 0; j < n_x; ++j) {
      for (int i = 0; i < n_w; ++i) {
        p.dot(a.k, wr + static_cast<uint64_t>(i) * a.weight_stride,
              xr + static_cast<uint64_t>(j) * a.act_stride, o + j * a.out_stride + i);
      }
    }
  }
}

// Weight rows [r, r + kGroupRows) (r a multiple of kGroupRows) against [a0, a_end); sums holds
// the side data of rows a0.. (p.nb per row).
void run_group(const MatmulArgs& a, const Plan& p, int64_t r, int64_t a0, int64_t a_end,
               const int32_t* sums) {
  detail::GroupArgs g;
  g.k = a.k;
  g.w = static_cast<const uint8_t*>(a.weights) + static_cast<uint64_t>(r) * a.weight_stride;
  g.w_stride = a.weight_stride;
  g.act_stride = a.act_stride;
  g.sums_stride = p.nb;
  g.out_stride = a.out_stride;
  for (int64_t ai = a0; ai < a_end; ai += detail::kGroupActMax) {
    g.n_act = static_cast<int>(std::min<int64_t>(detail::kGroupActMax, a_end - ai));
    g.act = static_cast<const uint8_t*>(a.act) + static_cast<uint64_t>(ai) * a.act_stride;
    g.act_sums = p.group.sums != nullptr ? sums + (ai - a0) * p.nb : nullptr;
    g.out = a.out + ai * a.out_stride + r;
    p.group.run(g);
  }
}

}  // namespace

Status matmul(const MatmulArgs& a, Isa isa) {
  if (!isa_supported(isa)) {
    return make_error(str_format("simd matmul: ISA %s not supported by this CPU", isa_name(isa)));
  }
  DARI_TRY(check_args(a));
  if (a.row_end == a.row_begin || a.n_act == 0) return Status::Ok();
  const int slot = detail::weight_slot(a.weight_type);
  const detail::IsaKernels& kt = detail::kernels_for(isa);
  Plan p;
  p.dot = kt.dot[slot];
  p.tile = kt.tile[slot];
  p.group = kt.group[slot];
  p.nb = a.k / type_traits(activation_type(a.weight_type))->block_elems;
  const uint64_t stride_for_block = std::max<uint64_t>(a.act_stride, 1);
  p.act_block = std::max<int64_t>(1, static_cast<int64_t>(kActBlockBytes / stride_for_block));
  // Depends on k and the stride only, never on n_act or the row range (batch invariance).
  const bool sums_fit = p.group.sums == nullptr || p.act_block * p.nb <= kMaxGroupSums;
  if (!sums_fit || !group_kernels_enabled()) p.group = {};
  constexpr int64_t kG = detail::kGroupRows;
  int32_t sums[kMaxGroupSums];
  const auto* x = static_cast<const uint8_t*>(a.act);
  for (int64_t a0 = 0; a0 < a.n_act; a0 += p.act_block) {
    const int64_t a_end = std::min(a.n_act, a0 + p.act_block);
    if (p.group.sums != nullptr) {
      for (int64_t ai = a0; ai < a_end; ++ai) {
        p.group.sums(x + static_cast<uint64_t>(ai) * a.act_stride, p.nb, sums + (ai - a0) * p.nb);
      }
    }
    int64_t r = a.row_begin;
    while (r < a.row_end) {
      if (p.group.run != nullptr && r % kG == 0 && r + kG <= a.row_end) {
        run_group(a, p, r, a0, a_end, sums);
        r += kG;
        continue;
      }
      int64_t n_w = std::min<int64_t>(detail::kTileMax, a.row_end - r);
      // Rows of a whole aligned group ahead are left to the group kernel.
      if (p.group.run != nullptr) n_w = std::min(n_w, (r / kG + 1) * kG - r);
      run_tiles(a, p, r, static_cast<int>(n_w), a0, a_end);
      r += n_w;
    }
  }
  return Status::Ok();
}

}  // namespace dari::simd
