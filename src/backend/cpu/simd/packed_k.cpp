// Q4_Kx8 and Q5_Kx8: size, repacking, activation side data, the portable kernel and the entry
// points (see packed.h for the layouts). Compiled for baseline x86-64 (or any CPU); the AVX2
// kernels are in avx2_packed.cpp.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "backend/cpu/simd/packed.h"
#include "backend/cpu/simd/packed_internal.h"
#include "dari/core/strings.h"
#include "dari/tensor/blocks.h"
#include "dari/tensor/dtype.h"
#include "tensor/kquant_layout.h"
#include "tensor/numerics.h"

namespace dari::simd {
namespace {

using detail::PackedKernelArgs;

constexpr uint64_t kX = sizeof(BlockQ8_K);  // 292
constexpr size_t kXQs = offsetof(BlockQ8_K, qs);
constexpr size_t kXSums = offsetof(BlockQ8_K, bsums);
// Offsets inside a packed block (packed.h).
constexpr uint64_t kOffD = 0, kOffDmin = 16, kOffScales = 32, kOffQs = 128;
constexpr uint64_t kOffQh = kPackK5QhOffset;
static_assert(kOffQs + 4 * 256 == kPackKBlockBytes && kPackKBlockBytes == 8 * sizeof(BlockQ4_K));
static_assert(kOffQh == kPackKBlockBytes && kOffQh + 8 * 32 == kPackK5BlockBytes &&
              kPackK5BlockBytes == 8 * sizeof(BlockQ5_K));
constexpr uint64_t scale_offset(int i, int r) {  // word i of row r's 12 scale/min bytes
  return kOffScales + 32 * static_cast<uint64_t>(i) + 4 * static_cast<uint64_t>(r);
}
constexpr uint64_t qs_offset(int c, int j, int r) {
  return kOffQs + 256 * static_cast<uint64_t>(c) + 32 * static_cast<uint64_t>(j) +
         4 * static_cast<uint64_t>(r);
}
constexpr uint64_t qh_offset(int j, int r) {  // Q5_Kx8: qh[4j .. 4j + 3] of row r
  return kOffQh + 32 * static_cast<uint64_t>(j) + 4 * static_cast<uint64_t>(r);
}

// The source block's fields for Q4_K (kQ5 false) or Q5_K, which add qh before qs.
template <bool kQ5>
struct KBlock {
  static constexpr uint64_t kBytes = kQ5 ? sizeof(BlockQ5_K) : sizeof(BlockQ4_K);
  static constexpr uint64_t kPacked = kQ5 ? kPackK5BlockBytes : kPackKBlockBytes;
  static constexpr size_t kD = offsetof(BlockQ4_K, d);
  static constexpr size_t kDmin = offsetof(BlockQ4_K, dmin);
  static constexpr size_t kScales = offsetof(BlockQ4_K, scales);
  static constexpr size_t kQs = kQ5 ? offsetof(BlockQ5_K, qs) : offsetof(BlockQ4_K, qs);
  static_assert(offsetof(BlockQ5_K, d) == kD && offsetof(BlockQ5_K, dmin) == kDmin &&
                offsetof(BlockQ5_K, scales) == kScales);
};

// The portable kernel: the AVX2 kernels' integer sums and fused float formula, one row at a
// time (the same bits). Q5_K adds bit s of the row's qh[l] as bit 4 of element 32s + l.
template <bool kQ5>
void packed_k_generic(const PackedKernelArgs& a) {
  constexpr uint64_t kBlock = KBlock<kQ5>::kPacked;
  for (int64_t g = 0; g < a.n_groups; ++g) {
    const uint8_t* wg = a.w + static_cast<uint64_t>(g * a.nb) * kBlock;
    for (int j = 0; j < a.n_act; ++j) {
      const uint8_t* xr = a.act + static_cast<uint64_t>(j) * a.act_stride;
      float acc[8] = {};
      for (int64_t b = 0; b < a.nb; ++b) {
        const uint8_t* blk = wg + static_cast<uint64_t>(b) * kBlock;
        const auto* xq = reinterpret_cast<const int8_t*>(xr + static_cast<uint64_t>(b) * kX + kXQs);
        const PackedActK& xi = a.info_k[j * a.nb + b];
        for (int r = 0; r < 8; ++r) {
          uint8_t scales[kKScaleSize];
          for (int i = 0; i < 3; ++i) std::memcpy(scales + 4 * i, blk + scale_offset(i, r), 4);
          int32_t sumi = 0, summs = 0;
          for (int s = 0; s < 8; ++s) {
            int sc = 0, m = 0;
            tensor_detail::get_scale_min_k4(s, scales, &sc, &m);
            const int c = s / 2, shift = 4 * (s % 2);
            int32_t dot = 0;
            for (int l = 0; l < 32; ++l) {  // element 32s + l: byte qs[32c + l] of the row
              int q = (blk[qs_offset(c, l / 4, r) + l % 4] >> shift) & 0x0f;
              if (kQ5) q |= ((blk[qh_offset(l / 4, r) + l % 4] >> s) & 1) << 4;
              dot += q * xq[32 * s + l];
            }
            sumi += sc * dot;
            const int32_t pair = xi.min_pairs[s / 2];
            const auto p = static_cast<int16_t>(s % 2 == 0 ? pair & 0xffff : pair >> 16);
            summs += m * p;
          }
          const float d = fp16_to_fp32(tensor_detail::load_u16(blk + kOffD + 2 * r));
          const float dmin = fp16_to_fp32(tensor_detail::load_u16(blk + kOffDmin + 2 * r));
          const float diff =
              std::fma(d, static_cast<float>(sumi), -(dmin * static_cast<float>(summs)));
          acc[r] = std::fma(xi.d, diff, acc[r]);
        }
      }
      std::copy(acc, acc + 8, a.out + j * a.out_stride + 8 * g);
    }
  }
}

template <bool kQ5>
detail::PackedKernelFn kernel_for(Isa isa) {
#if defined(__x86_64__)
  if (isa != Isa::kGeneric) {  // AVX-512 CPUs run AVX2 too
    return kQ5 ? detail::packed_q5_kx8_avx2 : detail::packed_q4_kx8_avx2;
  }
#endif
  (void)isa;
  return packed_k_generic<kQ5>;
}

// One super-block of 8 rows into the packed layout.
template <bool kQ5>
void pack_block(const uint8_t* const rows[8], uint64_t b, uint8_t* d) {
  using B = KBlock<kQ5>;
  for (int r = 0; r < 8; ++r) {
    const uint8_t* blk = rows[r] + b * B::kBytes;
    std::memcpy(d + kOffD + 2 * r, blk + B::kD, 2);
    std::memcpy(d + kOffDmin + 2 * r, blk + B::kDmin, 2);
    for (int i = 0; i < 3; ++i) std::memcpy(d + scale_offset(i, r), blk + B::kScales + 4 * i, 4);
    for (int c = 0; c < 4; ++c) {
      for (int j = 0; j < 8; ++j)
        std::memcpy(d + qs_offset(c, j, r), blk + B::kQs + 32 * c + 4 * j, 4);
    }
    if constexpr (kQ5) {
      for (int j = 0; j < 8; ++j)
        std::memcpy(d + qh_offset(j, r), blk + offsetof(BlockQ5_K, qh) + 4 * j, 4);
    }
  }
}

template <bool kQ5>
Status matmul_kx8(const char* fn, const PackedMatmulArgs& a, Isa isa) {
  constexpr uint64_t kBlock = KBlock<kQ5>::kPacked;
  DARI_TRY(detail::check_groups(fn, a.k, kQK_K, kBlock, a.group_begin, a.group_end));
  if (!isa_supported(isa)) return make_error(str_format("%s: ISA not supported by this CPU", fn));
  const detail::PackedFormat f{fn, kQK_K, kBlock, kX, kernel_for<kQ5>(isa)};
  DARI_TRY(detail::check_packed(f, a));
  if (a.group_end == a.group_begin || a.n_act == 0) return Status::Ok();
  const PackedActK* info = detail::act_info_or_own(a, a.act_info_k, a.k / kQK_K, q8_k_act_info);
  detail::run_packed(f, a, nullptr, info);
  return Status::Ok();
}

}  // namespace

void q8_k_act_info(const void* act_row, int64_t k, PackedActK* out) {
  const auto* xr = static_cast<const uint8_t*>(act_row);
  for (int64_t b = 0; b < k / kQK_K; ++b) {
    const uint8_t* blk = xr + static_cast<uint64_t>(b) * kX;
    std::memcpy(&out[b].d, blk + offsetof(BlockQ8_K, d), sizeof(float));
    int16_t sums[16];
    std::memcpy(sums, blk + kXSums, sizeof sums);
    for (int t = 0; t < 4; ++t) {
      const int32_t lo = sums[4 * t] + sums[4 * t + 1];      // sub-block 2t
      const int32_t hi = sums[4 * t + 2] + sums[4 * t + 3];  // sub-block 2t + 1
      out[b].min_pairs[t] = static_cast<int32_t>((static_cast<uint32_t>(hi) << 16) |
                                                 (static_cast<uint32_t>(lo) & 0xffffu));
    }
  }
}

std::optional<uint64_t> q4_kx8_bytes(int64_t rows, int64_t k) {
  return detail::packed_matrix_bytes(rows, k, kQK_K, kPackKBlockBytes);
}

Status repack_q4_kx8(const RepackArgs& a) {
  return detail::repack_groups("repack_q4_kx8", a, kQK_K, KBlock<false>::kBytes, kPackKBlockBytes,
                               pack_block<false>);
}

Status matmul_q4_kx8(const PackedMatmulArgs& a) {
  return matmul_q4_kx8(a, active_isa());
}

Status matmul_q4_kx8(const PackedMatmulArgs& a, Isa isa) {
  return matmul_kx8<false>("matmul_q4_kx8", a, isa);
}

std::optional<uint64_t> q5_kx8_bytes(int64_t rows, int64_t k) {
  return detail::packed_matrix_bytes(rows, k, kQK_K, kPackK5BlockBytes);
}

Status repack_q5_kx8(const RepackArgs& a) {
  return detail::repack_groups("repack_q5_kx8", a, kQK_K, KBlock<true>::kBytes, kPackK5BlockBytes,
                               pack_block<true>);
}

Status matmul_q5_kx8(const PackedMatmulArgs& a) {
  return matmul_q5_kx8(a, active_isa());
}

Status matmul_q5_kx8(const PackedMatmulArgs& a, Isa isa) {
  return matmul_kx8<true>("matmul_q5_kx8", a, isa);
}

}  // namespace dari::simd
