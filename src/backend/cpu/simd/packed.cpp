// Q4_0x8: size, repacking, the portable kernel and the driver (see packed.h for the layout).
// Compiled for baseline x86-64 (or any CPU); the AVX2 kernel is in avx2_packed.cpp.
#include "backend/cpu/simd/packed.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "backend/cpu/simd/packed_internal.h"
#include "dari/core/strings.h"
#include "dari/tensor/blocks.h"
#include "dari/tensor/dtype.h"
#include "tensor/numerics.h"

namespace dari::simd {
namespace {

using detail::PackedKernelArgs;

constexpr uint64_t kW = sizeof(BlockQ4_0);  // 18
constexpr uint64_t kX = sizeof(BlockQ8_0);  // 34
constexpr size_t kXQs = offsetof(BlockQ8_0, qs);
// Byte offset, inside a packed block, of row r's qs[4c .. 4c+3] (c in [0, 4)).
constexpr uint64_t qs_offset(int r, int c) {
  return 16 + 32 * static_cast<uint64_t>(c) + 4 * static_cast<uint64_t>(r);
}
// Groups per cache block of the driver: about this many bytes of packed weights stay hot while
// every activation chunk passes over them.
constexpr uint64_t kCacheBlockBytes = 64 * 1024;

// The portable kernel: the AVX2 kernel's arithmetic, one lane at a time.
void packed_generic(const PackedKernelArgs& a) {
  for (int64_t g = 0; g < a.n_groups; ++g) {
    const uint8_t* wg = a.w + static_cast<uint64_t>(g * a.nb) * kPackBlockBytes;
    for (int j = 0; j < a.n_act; ++j) {
      const uint8_t* xr = a.act + static_cast<uint64_t>(j) * a.act_stride;
      float acc[8] = {};
      for (int64_t b = 0; b < a.nb; ++b) {
        const uint8_t* blk = wg + static_cast<uint64_t>(b) * kPackBlockBytes;
        const uint8_t* xb = xr + static_cast<uint64_t>(b) * kX;
        const auto* xq = reinterpret_cast<const int8_t*>(xb + kXQs);
        const PackedActBlock& xi = a.info[j * a.nb + b];
        for (int r = 0; r < 8; ++r) {
          int32_t isum = 0;
          for (int e = 0; e < 16; ++e) {  // qs[e]: elements e (low nibble) and e + 16 (high)
            const uint8_t q = blk[qs_offset(r, e / 4) + e % 4];
            isum += (q & 0x0f) * xq[e] + (q >> 4) * xq[16 + e];
          }
          isum -= xi.sum8;
          const float dw = fp16_to_fp32(tensor_detail::load_u16(blk + 2 * r));
          acc[r] = std::fma(static_cast<float>(isum), dw * xi.dx, acc[r]);
        }
      }
      float* out = a.out + j * a.out_stride + 8 * g;
      std::copy(acc, acc + 8, out);
    }
  }
}

detail::PackedKernelFn kernel_for(Isa isa) {
#if defined(__x86_64__)
  if (isa != Isa::kGeneric) return detail::packed_q4_0x8_avx2;  // AVX-512 CPUs run AVX2 too
#endif
  (void)isa;
  return packed_generic;
}

// One block of 8 rows into the packed layout.
void pack_block(const uint8_t* const rows[8], uint64_t b, uint8_t* d) {
  for (int r = 0; r < 8; ++r) {
    const uint8_t* blk = rows[r] + b * kW;
    std::memcpy(d + 2 * r, blk, 2);
    for (int c = 0; c < 4; ++c) std::memcpy(d + qs_offset(r, c), blk + 2 + 4 * c, 4);
  }
}

}  // namespace

void q8_0_act_info(const void* act_row, int64_t k, PackedActBlock* out) {
  const auto* xr = static_cast<const uint8_t*>(act_row);
  for (int64_t b = 0; b < k / kQK8_0; ++b) {
    const uint8_t* blk = xr + static_cast<uint64_t>(b) * kX;
    const auto* q = reinterpret_cast<const int8_t*>(blk + kXQs);
    int32_t s = 0;
    for (int e = 0; e < 32; ++e) s += q[e];
    out[b].sum8 = 8 * s;
    out[b].dx = fp16_to_fp32(tensor_detail::load_u16(blk));
  }
}

std::optional<uint64_t> q4_0x8_bytes(int64_t rows, int64_t k) {
  return detail::packed_matrix_bytes(rows, k, kQK4_0, kPackBlockBytes);
}

Status repack_q4_0x8(const RepackArgs& a) {
  return detail::repack_groups("repack_q4_0x8", a, kQK4_0, kW, kPackBlockBytes, pack_block);
}

Status matmul_q4_0x8(const PackedMatmulArgs& a) {
  return matmul_q4_0x8(a, active_isa());
}

Status matmul_q4_0x8(const PackedMatmulArgs& a, Isa isa) {
  DARI_TRY(detail::check_groups("matmul_q4_0x8", a.k, kQK4_0, kPackBlockBytes, a.group_begin,
                                a.group_end));
  if (!isa_supported(isa)) return make_error("matmul_q4_0x8: ISA not supported by this CPU");
  const detail::PackedFormat f{"matmul_q4_0x8", kQK4_0, kPackBlockBytes, kX, kernel_for(isa)};
  DARI_TRY(detail::check_packed(f, a));
  if (a.group_end == a.group_begin || a.n_act == 0) return Status::Ok();
  const PackedActBlock* info = detail::act_info_or_own(a, a.act_info, a.k / kQK4_0, q8_0_act_info);
  detail::run_packed(f, a, info, nullptr);
  return Status::Ok();
}

const PackedLayout* packed_layout(GgmlType t) {
  using MatmulIsa = Status (*)(const PackedMatmulArgs&, Isa);
  static const PackedLayout kQ4_0{"Q4_0x8", q4_0x8_bytes, repack_q4_0x8,
                                  static_cast<MatmulIsa>(matmul_q4_0x8), false};
  static const PackedLayout kQ4_K{"Q4_Kx8", q4_kx8_bytes, repack_q4_kx8,
                                  static_cast<MatmulIsa>(matmul_q4_kx8), true};
  static const PackedLayout kQ5_K{"Q5_Kx8", q5_kx8_bytes, repack_q5_kx8,
                                  static_cast<MatmulIsa>(matmul_q5_kx8), true};
  switch (t) {
    case GgmlType::Q4_0:
      return &kQ4_0;
    case GgmlType::Q4_K:
      return &kQ4_K;
    case GgmlType::Q5_K:
      return &kQ5_K;
    default:
      return nullptr;
  }
}

namespace detail {

std::optional<uint64_t> packed_matrix_bytes(int64_t rows, int64_t k, int64_t block_elems,
                                            uint64_t block_bytes) {
  if (rows <= 0 || rows % kPackGroupRows != 0 || k <= 0 || k % block_elems != 0) {
    return std::nullopt;
  }
  const auto groups = static_cast<uint64_t>(rows / kPackGroupRows);
  const auto nb = static_cast<uint64_t>(k / block_elems);
  if (nb > UINT64_MAX / block_bytes / groups) return std::nullopt;
  return groups * nb * block_bytes;
}

Status check_groups(const char* fn, int64_t k, int64_t block_elems, uint64_t block_bytes,
                    int64_t gb, int64_t ge) {
  if (k <= 0 || k % block_elems != 0) {
    return make_error(str_format("%s: k=%lld is not a positive multiple of %lld", fn,
                                 static_cast<long long>(k), static_cast<long long>(block_elems)));
  }
  if (gb < 0 || ge < gb) {
    return make_error(str_format("%s: bad group range [%lld, %lld)", fn, static_cast<long long>(gb),
                                 static_cast<long long>(ge)));
  }
  if (ge > 0 && (ge > INT64_MAX / kPackGroupRows ||
                 !packed_matrix_bytes(ge * kPackGroupRows, k, block_elems, block_bytes))) {
    return make_error(str_format("%s: matrix size overflows", fn));
  }
  return Status::Ok();
}

Status repack_groups(const char* fn, const RepackArgs& a, int64_t block_elems,
                     uint64_t row_block_bytes, uint64_t block_bytes, PackBlockFn pack) {
  DARI_TRY(check_groups(fn, a.k, block_elems, block_bytes, a.group_begin, a.group_end));
  const auto nb = static_cast<uint64_t>(a.k / block_elems);
  if (a.group_end == a.group_begin) return Status::Ok();
  if (a.src == nullptr || a.dst == nullptr) return make_error(str_format("%s: null pointer", fn));
  if (a.src_stride < nb * row_block_bytes) {
    return make_error(str_format("%s: src_stride is less than a row", fn));
  }
  const auto* src = static_cast<const uint8_t*>(a.src);
  auto* dst = static_cast<uint8_t*>(a.dst);
  for (int64_t g = a.group_begin; g < a.group_end; ++g) {
    const uint8_t* rows[8];
    for (int r = 0; r < 8; ++r) {
      rows[r] = src + static_cast<uint64_t>(g * kPackGroupRows + r) * a.src_stride;
    }
    for (uint64_t b = 0; b < nb; ++b) {
      pack(rows, b, dst + (static_cast<uint64_t>(g) * nb + b) * block_bytes);
    }
  }
  return Status::Ok();
}

Status check_packed(const PackedFormat& f, const PackedMatmulArgs& a) {
  if (a.n_act < 0) return make_error(str_format("%s: negative n_act", f.fn));
  if (a.group_end == a.group_begin || a.n_act == 0) return Status::Ok();
  if (a.packed == nullptr || a.act == nullptr || a.out == nullptr) {
    return make_error(str_format("%s: null pointer", f.fn));
  }
  const auto nb = static_cast<uint64_t>(a.k / f.block_elems);
  if (a.act_stride < nb * f.act_bytes) {
    return make_error(str_format("%s: act_stride is less than an activation row", f.fn));
  }
  if (a.out_stride < a.group_end * kPackGroupRows) {
    return make_error(str_format("%s: out_stride is less than the rows", f.fn));
  }
  return Status::Ok();
}

void run_packed(const PackedFormat& f, const PackedMatmulArgs& a, const PackedActBlock* info,
                const PackedActK* info_k) {
  const int64_t nb = a.k / f.block_elems;
  const auto group_bytes = static_cast<uint64_t>(nb) * f.block_bytes;
  const int64_t block_groups =
      static_cast<int64_t>(std::max<uint64_t>(1, kCacheBlockBytes / group_bytes));
  const auto* w = static_cast<const uint8_t*>(a.packed);
  const auto* act = static_cast<const uint8_t*>(a.act);
  for (int64_t g0 = a.group_begin; g0 < a.group_end; g0 += block_groups) {
    const int64_t n_groups = std::min(block_groups, a.group_end - g0);
    for (int64_t j0 = 0; j0 < a.n_act; j0 += kPackedActMax) {
      const int n = static_cast<int>(std::min<int64_t>(kPackedActMax, a.n_act - j0));
      PackedKernelArgs ka;
      ka.nb = nb;
      ka.w = w + static_cast<uint64_t>(g0) * group_bytes;
      ka.n_groups = n_groups;
      ka.act = act + static_cast<uint64_t>(j0) * a.act_stride;
      ka.act_stride = a.act_stride;
      ka.info = info != nullptr ? info + j0 * nb : nullptr;
      ka.info_k = info_k != nullptr ? info_k + j0 * nb : nullptr;
      ka.n_act = n;
      ka.out = a.out + j0 * a.out_stride + g0 * kPackGroupRows;
      ka.out_stride = a.out_stride;
      f.kernel(ka);
    }
  }
}

}  // namespace detail
}  // namespace dari::simd
