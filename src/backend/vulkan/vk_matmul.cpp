// MATMUL: y[M][N] = x[M][K] (F32) . w[N][K]^T (any supported weight type), as dispatches of
// matmul_vec_* (M <= 4: one workgroup per 4 weight rows, 8 on software devices) or matmul_tiled_*
// (64 x 32 output tiles). Big operands are split: N into chunks whose weight rows fit one binding,
// M into chunks whose activation and output rows fit.
#include <algorithm>

#include "vk_ops.h"

namespace dari_vk {
namespace {

// MatmulPush in matmul.glsl.
struct MatmulPush {
  uint32_t k, n, m, ngroups, w_off, w_nb1, x_off, x_nb1, y_off, y_nb1;
};

constexpr uint64_t kVecMaxM = 4;  // MAXM in matmul_vec.comp

bool weight_type_ok(uint32_t t) {
  switch (t) {
    case kF32:
    case kF16:
    case kBF16:
    case kQ8_0:
    case kQ4_0:
    case kQ4_1:
    case kQ5_0:
    case kQ5_1:
    case kQ4_K:
    case kQ5_K:
    case kQ6_K:
      return true;
    default:
      return false;
  }
}

}  // namespace

std::string check_matmul(const Context* c, const DariOp& op) {
  const DariTensorView &w = op.src[0], &x = op.src[1], &y = op.dst;
  std::string s = check_view(w, "weights");
  if (!s.empty()) return s;
  if (!weight_type_ok(w.type)) return "weight type " + describe(w) + " not supported";
  if (!(s = check_view(x, "activations")).empty() || !(s = check_view(y, "dst")).empty()) return s;
  if (x.type != kF32 || y.type != kF32) return "activations and dst must be F32";
  if (!uniform_rows(w) || !uniform_rows(x) || !uniform_rows(y)) return "non-uniform row strides";
  if (x.ne[0] != w.ne[0] || y.ne[0] != static_cast<int64_t>(n_rows(w)) || n_rows(y) != n_rows(x)) {
    return "shapes do not match: weights " + describe(w) + ", activations " + describe(x) +
           ", dst " + describe(y);
  }
  const uint64_t wa = w.type == kF32 ? 4 : 2;  // F32 words are read whole
  if (w.nb[1] % wa != 0 || x.nb[1] % 4 != 0 || y.nb[1] % 4 != 0) return "strides not aligned";
  const uint64_t lim = span_limit(c);
  if (view_row_bytes(w) > lim || view_row_bytes(x) > lim) return "row exceeds the binding range";
  return {};
}

Status encode_matmul(Encoder& e, const DariOp& op) {
  Context* c = e.ctx();
  const DariTensorView &w = op.src[0], &x = op.src[1], &y = op.dst;
  if (addr_of(w) % (w.type == kF32 ? 4 : 2) != 0 || addr_of(x) % 4 != 0 || addr_of(y) % 4 != 0) {
    return make_status(DARI_ERR_INVALID, "matmul operand addresses are not aligned");
  }
  const uint64_t K = static_cast<uint64_t>(w.ne[0]);
  const uint64_t N = n_rows(w), M = n_rows(x);
  const uint64_t lim = span_limit(c);
  const uint64_t wrb = view_row_bytes(w), xrb = view_row_bytes(x);
  // Weight rows per chunk (a multiple of 64 unless it is all of N).
  uint64_t n_chunk = N;
  if ((N - 1) * w.nb[1] + wrb > lim) {
    n_chunk = std::max<uint64_t>(1, (lim - wrb) / w.nb[1] + 1);
    if (n_chunk >= 64) n_chunk = n_chunk / 64 * 64;
  }
  // One output row of a chunk (4 bytes per weight row) must fit as well.
  if (4 * n_chunk > lim) n_chunk = lim / 4 / 64 * 64;
  const bool vec = M <= kVecMaxM;
  const std::string tn = type_info(w.type).name;
  const std::string pipe =
      vec ? ((c->use_subgroups ? "matmul_vec_sg_" : "matmul_vec_") + tn) : "matmul_tiled_" + tn;
  for (uint64_t n0 = 0; n0 < N; n0 += n_chunk) {
    const uint64_t nn = std::min(n_chunk, N - n0);
    // Activation/output rows per chunk: both spans must fit (a multiple of 32 when split).
    uint64_t m_chunk = M;
    auto fits = [&](uint64_t mm) {
      return (mm - 1) * x.nb[1] + xrb <= lim && (mm - 1) * y.nb[1] + 4 * nn <= lim;
    };
    while (m_chunk > 1 && !fits(m_chunk)) m_chunk = (m_chunk + 1) / 2;
    if (m_chunk > 32 && m_chunk < M) m_chunk = m_chunk / 32 * 32;
    if (vec) m_chunk = std::min(m_chunk, kVecMaxM);
    for (uint64_t m0 = 0; m0 < M; m0 += m_chunk) {
      const uint64_t mm = std::min(m_chunk, M - m0);
      BindRange br[3];
      DVK_TRY(bind(c, addr_of(w) + n0 * w.nb[1], (nn - 1) * w.nb[1] + wrb, false, &br[0]));
      DVK_TRY(bind(c, addr_of(x) + m0 * x.nb[1], (mm - 1) * x.nb[1] + xrb, false, &br[1]));
      DVK_TRY(
          bind(c, addr_of(y) + m0 * y.nb[1] + 4 * n0, (mm - 1) * y.nb[1] + 4 * nn, true, &br[2]));
      MatmulPush p{};
      p.k = static_cast<uint32_t>(K);
      p.n = static_cast<uint32_t>(nn);
      p.m = static_cast<uint32_t>(mm);
      p.ngroups = static_cast<uint32_t>((K + 7) / 8);
      p.w_off = br[0].rem;
      p.w_nb1 = static_cast<uint32_t>(w.nb[1]);
      p.x_off = br[1].rem;
      p.x_nb1 = static_cast<uint32_t>(x.nb[1]);
      p.y_off = br[2].rem;
      p.y_nb1 = static_cast<uint32_t>(y.nb[1]);
      uint32_t gx = 1, gy = 1, gz = 1;
      if (vec) {  // c->vec_rows weight rows per workgroup
        const uint64_t wgs = (nn + c->vec_rows - 1) / c->vec_rows;
        gx = static_cast<uint32_t>(std::min<uint64_t>(wgs, 65535));
        gy = static_cast<uint32_t>((wgs + 65534) / 65535);
      } else {
        gx = static_cast<uint32_t>((nn + 63) / 64);
        gy = static_cast<uint32_t>((mm + 31) / 32);
      }
      DVK_TRY(e.dispatch(pipe.c_str(), br, 3, &p, sizeof(p), gx, gy, gz, vec ? c->vec_rows : 0));
    }
  }
  return Status::Ok();
}

}  // namespace dari_vk
