// Causal grouped-query attention over a paged KV cache.
//
// Each (token row, query head) is computed independently: scores over positions 0..p of the
// row's own sequence in increasing order, a max-subtracted softmax, then the weighted sum of V in
// the same order. The result for a row therefore never depends on other rows in the batch.
// With ctx.simd the same steps run through dari_simd's attention helpers (vector dot products
// per cache row, a polynomial exp, V accumulated in registers), one call per run of consecutive
// cache rows inside a block; each (row, head) stays one task, so the result is still
// independent of the batch and of the thread split.
#include <algorithm>
#include <cmath>
#include <vector>

#include "backend/cpu/kernels/kernels.h"
#include "backend/cpu/simd/simd_kernels.h"
#include "dari/core/strings.h"
#include "dari/tensor/dtype.h"

namespace dari::cpu {
namespace {

// Loads n elements of a K/V head slice as floats.
void load_head(GgmlType type, const uint8_t* src, int64_t n, float* out) {
  if (type == GgmlType::F32) {
    const float* s = reinterpret_cast<const float*>(src);
    for (int64_t i = 0; i < n; ++i) out[i] = s[i];
    return;
  }
  const uint16_t* h = reinterpret_cast<const uint16_t*>(src);
  if (type == GgmlType::F16) {
    for (int64_t i = 0; i < n; ++i) out[i] = fp16_to_fp32(h[i]);
  } else {
    for (int64_t i = 0; i < n; ++i) out[i] = bf16_to_fp32(h[i]);
  }
}

Status check_attention(const Op& op, const TensorView& q, const TensorView& k, const TensorView& v,
                       const TensorView& y) {
  const OpKind kind = OpKind::kAttention;
  DARI_TRY(check_f32(kind, "q", q));
  DARI_TRY(check_view(kind, "k_cache", k));
  DARI_TRY(check_view(kind, "v_cache", v));
  DARI_TRY(check_f32(kind, "dst", y));
  DARI_TRY(check_same_shape(kind, q, y));
  DARI_TRY(check_same_shape(kind, k, v));
  for (GgmlType t : {k.type, v.type}) {
    if (t != GgmlType::F32 && t != GgmlType::F16 && t != GgmlType::BF16) {
      return make_error("attention: KV type must be F32, F16 or BF16, got " + k.describe());
    }
  }
  const DariAttentionParams& p = op.params.attn;
  if (p.n_head <= 0 || p.n_head_kv <= 0 || p.n_head % p.n_head_kv != 0 || p.block_tokens <= 0 ||
      p.n_seqs < 0 || q.ne[1] != p.n_head || k.ne[0] != q.ne[0] * p.n_head_kv) {
    return make_error(str_format(
        "attention: bad heads (n_head %d, n_head_kv %d, block_tokens %d)"
        " for q %s and k %s",
        p.n_head, p.n_head_kv, p.block_tokens, q.describe().c_str(), k.describe().c_str()));
  }
  if (p.positions == nullptr || p.row_seq == nullptr ||
      (p.n_seqs > 0 && (p.block_tables == nullptr || p.block_counts == nullptr))) {
    return make_error("attention: missing positions, row_seq or block tables");
  }
  const int64_t cache_blocks = k.n_rows() / p.block_tokens;
  for (int32_t s = 0; s < p.n_seqs; ++s) {
    if (p.block_counts[s] < 0 || (p.block_counts[s] > 0 && p.block_tables[s] == nullptr)) {
      return make_error(str_format("attention: sequence %d has a bad block table", s));
    }
    for (int32_t b = 0; b < p.block_counts[s]; ++b) {
      int32_t id = p.block_tables[s][b];
      if (id < 0 || id >= cache_blocks) {
        return make_error(str_format("attention: sequence %d block %d is %d, cache has %lld", s, b,
                                     id, static_cast<long long>(cache_blocks)));
      }
    }
  }
  const int64_t rows = q.ne[2] * q.ne[3];
  for (int64_t i = 0; i < rows; ++i) {
    int32_t s = p.row_seq[i];
    if (s < 0 || s >= p.n_seqs || p.positions[i] < 0 ||
        p.positions[i] / p.block_tokens >= p.block_counts[s]) {
      return make_error(
          str_format("attention: row %lld (sequence %d, position %d) is outside its"
                     " block table",
                     static_cast<long long>(i), s, p.positions[i]));
    }
  }
  return Status::Ok();
}

// Rows of v are evenly strided when the flattened row index maps to one stride.
bool uniform(const TensorView& v) {
  return (v.ne[2] == 1 || v.nb[2] == v.nb[1] * static_cast<uint64_t>(v.ne[1])) &&
         (v.ne[3] == 1 || v.nb[3] == v.nb[2] * static_cast<uint64_t>(v.ne[2]));
}

struct SimdAttn {
  simd::KvDotFn dot = nullptr;
  simd::KvAxpyFn axpy = nullptr;
  simd::ExpSumFn exp_sum = nullptr;
  bool ok() const { return dot != nullptr && axpy != nullptr && exp_sum != nullptr; }
};

}  // namespace

Status attention(KernelContext& ctx, const Op& op) {
  if (op.n_src < 3) return make_error("attention: needs q, k_cache and v_cache");
  TensorView q = from_c_view(op.src[0]);
  TensorView k = from_c_view(op.src[1]);
  TensorView v = from_c_view(op.src[2]);
  TensorView y = from_c_view(op.dst);
  DARI_TRY(check_attention(op, q, k, v, y));
  const DariAttentionParams& p = op.params.attn;
  const int64_t hd = q.ne[0];
  const int64_t n_head = p.n_head;
  const int64_t group = p.n_head / p.n_head_kv;
  const int64_t rows = q.ne[2] * q.ne[3];
  const uint64_t head_bytes = k.row_bytes() / static_cast<uint64_t>(p.n_head_kv);
  auto cache_row = [&](const int32_t* table, int64_t pos) {
    return static_cast<int64_t>(table[pos / p.block_tokens]) * p.block_tokens +
           pos % p.block_tokens;
  };
  SimdAttn sa;
  if (ctx.simd && uniform(k) && uniform(v)) {
    const simd::Isa isa = simd::active_isa();
    sa = {simd::kv_dot_fn(k.type, isa), simd::kv_axpy_fn(v.type, isa), simd::exp_sum_fn(isa)};
  }
  if (sa.ok()) {
    const uint8_t* k0 = k.flat_row(0);
    const uint8_t* v0 = v.flat_row(0);
    const uint64_t ks = k.nb[1], vs = v.nb[1];
    const int64_t bt = p.block_tokens;
    ctx.pool->parallel_for(rows * n_head, 0, [&](int64_t b, int64_t e) {
      std::vector<float> scores, acc(static_cast<size_t>(hd));
      for (int64_t task = b; task < e; ++task) {
        const int64_t i = task / n_head, h = task % n_head, kvh = h / group;
        const int64_t n_pos = p.positions[i] + 1;
        const int32_t* table = p.block_tables[p.row_seq[i]];
        const float* qr = q.f32_row(i * n_head + h);
        scores.resize(static_cast<size_t>(n_pos));
        // Runs of consecutive cache rows: [t, t + len) inside one block.
        for (int64_t t = 0; t < n_pos;) {
          const int64_t len = std::min(bt - t % bt, n_pos - t);
          const uint64_t row = static_cast<uint64_t>(cache_row(table, t));
          sa.dot(qr, k0 + row * ks + static_cast<uint64_t>(kvh) * head_bytes, ks, len, hd, p.scale,
                 scores.data() + t);
          t += len;
        }
        float mx = -INFINITY;
        for (float sc : scores) mx = std::fmax(mx, sc);
        const float sum = sa.exp_sum(scores.data(), n_pos, mx);
        std::fill(acc.begin(), acc.end(), 0.0f);
        for (int64_t t = 0; t < n_pos;) {
          const int64_t len = std::min(bt - t % bt, n_pos - t);
          const uint64_t row = static_cast<uint64_t>(cache_row(table, t));
          sa.axpy(scores.data() + t, v0 + row * vs + static_cast<uint64_t>(kvh) * head_bytes, vs,
                  len, hd, acc.data());
          t += len;
        }
        float* yr = y.f32_row(i * n_head + h);
        const float inv = 1.0f / sum;
        for (int64_t d = 0; d < hd; ++d) yr[d] = acc[static_cast<size_t>(d)] * inv;
      }
    });
    return Status::Ok();
  }
  ctx.pool->parallel_for(rows * n_head, 0, [&](int64_t b, int64_t e) {
    std::vector<float> scores, kv(static_cast<size_t>(hd)), acc(static_cast<size_t>(hd));
    for (int64_t task = b; task < e; ++task) {
      const int64_t i = task / n_head, h = task % n_head, kvh = h / group;
      const int64_t pos = p.positions[i];
      const int32_t* table = p.block_tables[p.row_seq[i]];
      const float* qr = q.f32_row(i * n_head + h);
      scores.resize(static_cast<size_t>(pos + 1));
      float mx = -INFINITY;
      for (int64_t t = 0; t <= pos; ++t) {
        load_head(k.type, k.flat_row(cache_row(table, t)) + kvh * head_bytes, hd, kv.data());
        float dot = 0.0f;
        for (int64_t d = 0; d < hd; ++d) dot += qr[d] * kv[static_cast<size_t>(d)];
        scores[static_cast<size_t>(t)] = dot * p.scale;
        mx = std::fmax(mx, scores[static_cast<size_t>(t)]);
      }
      float sum = 0.0f;
      for (float& sc : scores) {
        sc = std::exp(sc - mx);
        sum += sc;
      }
      std::fill(acc.begin(), acc.end(), 0.0f);
      for (int64_t t = 0; t <= pos; ++t) {
        load_head(v.type, v.flat_row(cache_row(table, t)) + kvh * head_bytes, hd, kv.data());
        const float w = scores[static_cast<size_t>(t)];
        for (int64_t d = 0; d < hd; ++d)
          acc[static_cast<size_t>(d)] += w * kv[static_cast<size_t>(d)];
      }
      float* yr = y.f32_row(i * n_head + h);
      const float inv = 1.0f / sum;
      for (int64_t d = 0; d < hd; ++d) yr[d] = acc[static_cast<size_t>(d)] * inv;
    }
  });
  return Status::Ok();
}

}  // namespace dari::cpu
