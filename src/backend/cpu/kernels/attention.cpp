// Causal grouped-query attention over a paged KV cache.
//
// Each (token row, query head) is computed independently: scores over positions 0..p of the
// row's own sequence in increasing order, a max-subtracted softmax, then the weighted sum of V in
// the same order. The result for a row therefore never depends on other rows in the batch.
// With ctx.simd the same steps run through dari_simd's attention helpers (scores of 8 positions
// per vector from K converted to fp32 columns, a polynomial exp, V accumulated in registers),
// one call per run of consecutive cache rows inside a block. A task there covers the query heads
// that share one KV head, for up to kTileRows consecutive rows of one sequence: each run of K and
// V rows is converted once and read by all of them (GQA sharing), while every (row, head) still
// does exactly the arithmetic it would do alone (each score depends only on its query and its
// cache row), so the result is independent of the batch and the thread split.
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

// The SIMD path: K runs converted once per task into fp32 columns (kv_load_t) and scored for
// every query against them (kv_scores_t); V runs converted into fp32 rows (kv_load, exact) and
// summed with the F32 axpy.
struct SimdAttn {
  simd::KvLoadTFn load_k = nullptr;
  simd::KvLoadFn load_v = nullptr;
  simd::KvScoresTFn scores = nullptr;
  simd::KvAxpyFn axpy = nullptr;  // F32 rows
  simd::ExpSumFn exp_sum = nullptr;
  bool ok() const {
    return load_k != nullptr && load_v != nullptr && scores != nullptr && axpy != nullptr &&
           exp_sum != nullptr;
  }
};

// A task of the SIMD path: rows [begin, end) of one sequence (at most kTileRows, consecutive in
// the batch) and one KV head, i.e. (end - begin) * group (row, query head) pairs that all read
// the same K and V cache rows. Each run of cache rows is converted once for all the pairs.
constexpr int64_t kTileRows = 4;
struct RowTile {
  int64_t begin = 0, end = 0;
};

std::vector<RowTile> make_tiles(const DariAttentionParams& p, int64_t rows) {
  std::vector<RowTile> tiles;
  for (int64_t i = 0; i < rows;) {
    int64_t e = i + 1;
    while (e < rows && e - i < kTileRows && p.row_seq[e] == p.row_seq[i]) ++e;
    tiles.push_back({i, e});
    i = e;
  }
  return tiles;
}

// Everything a task reads; built once per op by the calling thread.
struct AttnJob {
  const DariAttentionParams* p = nullptr;
  TensorView q, k, v, y;
  int64_t hd = 0, n_head = 0, group = 0;
  uint64_t head_bytes = 0;  // bytes of one KV head inside a cache row
  SimdAttn sa;
};

// Per-thread buffers, grown as needed and kept between ops (one set per pool thread; the
// largest is scores: kTileRows * group * (context length) floats, 4 MiB per thread at 32K
// tokens with 8 query heads per KV head).
struct TileScratch {
  std::vector<float> rows;    // one run of V rows in fp32: [run length][hd]
  std::vector<float> kt;      // one run of K rows in fp32 columns: [hd][kv_t_ld(run length)]
  std::vector<float> scores;  // [pair][n_max]: scores, then softmax numerators
  std::vector<float> sums;    // [pair]: softmax denominators
  std::vector<float> acc;     // [pair][hd]: weighted V sums
};

// Calls use(t, len) after load(first cache row of KV head kvh, row stride, len) for each run
// [t, t + len) of cache rows inside one block, for t from 0 up to n_max.
template <typename Load, typename Use>
void for_each_run(const AttnJob& job, const TensorView& kv, const int32_t* table, int64_t kvh,
                  int64_t n_max, Load&& load, Use&& use) {
  const int64_t bt = job.p->block_tokens;
  for (int64_t t = 0; t < n_max;) {
    const int64_t len = std::min(bt - t % bt, n_max - t);
    const uint64_t row = static_cast<uint64_t>(table[t / bt]) * static_cast<uint64_t>(bt) +
                         static_cast<uint64_t>(t % bt);
    load(kv.flat_row(0) + row * kv.nb[1] + static_cast<uint64_t>(kvh) * job.head_bytes, kv.nb[1],
         len);
    use(t, len);
    t += len;
  }
}

// One task: every (row, head) pair of the tile scores its positions 0..p in order, takes a
// max-subtracted softmax and sums V in the same order, exactly as a lone row would.
void run_tile(const AttnJob& job, RowTile tile, int64_t kvh, TileScratch* s) {
  const DariAttentionParams& p = *job.p;
  const int64_t hd = job.hd, group = job.group;
  const int64_t pairs = (tile.end - tile.begin) * group;
  int64_t n_max = 0;
  for (int64_t i = tile.begin; i < tile.end; ++i)
    n_max = std::max<int64_t>(n_max, p.positions[i] + 1);
  const int64_t max_run = std::min<int64_t>(p.block_tokens, n_max);
  s->rows.resize(static_cast<size_t>(max_run * hd));
  s->kt.resize(static_cast<size_t>(simd::kv_t_ld(max_run) * hd));
  s->scores.resize(static_cast<size_t>(pairs * n_max));
  s->sums.resize(static_cast<size_t>(pairs));
  s->acc.assign(static_cast<size_t>(pairs * hd), 0.0f);
  const int32_t* table = p.block_tables[p.row_seq[tile.begin]];
  const auto* rows = reinterpret_cast<const uint8_t*>(s->rows.data());
  const uint64_t row_stride = static_cast<uint64_t>(hd) * sizeof(float);
  // Calls fn(pair, query row index, count) for the pairs that still have positions in the run.
  auto each_pair = [&](int64_t t, int64_t len, auto&& fn) {
    for (int64_t i = tile.begin; i < tile.end; ++i) {
      const int64_t count = std::min<int64_t>(len, p.positions[i] + 1 - t);
      if (count <= 0) continue;
      for (int64_t g = 0; g < group; ++g) {
        fn((i - tile.begin) * group + g, i * job.n_head + kvh * group + g, count);
      }
    }
  };
  auto load_k = [&](const uint8_t* src, uint64_t stride, int64_t len) {
    job.sa.load_k(src, stride, len, hd, s->kt.data());
  };
  for_each_run(job, job.k, table, kvh, n_max, load_k, [&](int64_t t, int64_t len) {
    const int64_t ld = simd::kv_t_ld(len);
    each_pair(t, len, [&](int64_t pair, int64_t qrow, int64_t count) {
      job.sa.scores(job.q.f32_row(qrow), s->kt.data(), ld, count, hd, p.scale,
                    s->scores.data() + pair * n_max + t);
    });
  });
  for (int64_t i = tile.begin; i < tile.end; ++i) {
    const int64_t n_pos = p.positions[i] + 1;
    for (int64_t g = 0; g < group; ++g) {
      const int64_t pair = (i - tile.begin) * group + g;
      float* sc = s->scores.data() + pair * n_max;
      float mx = -INFINITY;
      // A compare-select max vectorises (std::fmax is a call per element); like fmax, it skips NaN.
      for (int64_t t = 0; t < n_pos; ++t) mx = sc[t] > mx ? sc[t] : mx;
      s->sums[static_cast<size_t>(pair)] = job.sa.exp_sum(sc, n_pos, mx);
    }
  }
  auto load_v = [&](const uint8_t* src, uint64_t stride, int64_t len) {
    job.sa.load_v(src, stride, len, hd, s->rows.data());
  };
  for_each_run(job, job.v, table, kvh, n_max, load_v, [&](int64_t t, int64_t len) {
    each_pair(t, len, [&](int64_t pair, int64_t, int64_t count) {
      job.sa.axpy(s->scores.data() + pair * n_max + t, rows, row_stride, count, hd,
                  s->acc.data() + pair * hd);
    });
  });
  for (int64_t i = tile.begin; i < tile.end; ++i) {
    for (int64_t g = 0; g < group; ++g) {
      const int64_t pair = (i - tile.begin) * group + g;
      const float* acc = s->acc.data() + pair * hd;
      float* yr = job.y.f32_row(i * job.n_head + kvh * group + g);
      const float inv = 1.0f / s->sums[static_cast<size_t>(pair)];
      for (int64_t d = 0; d < hd; ++d) yr[d] = acc[d] * inv;
    }
  }
}

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
  if (ctx.simd && uniform(k) && uniform(v)) {
    const simd::Isa isa = simd::active_isa();
    AttnJob job;
    job.p = &p;
    job.q = q;
    job.k = k;
    job.v = v;
    job.y = y;
    job.hd = hd;
    job.n_head = n_head;
    job.group = group;
    job.head_bytes = head_bytes;
    job.sa = {simd::kv_load_t_fn(k.type, isa), simd::kv_load_fn(v.type, isa),
              simd::kv_scores_t_fn(isa), simd::kv_axpy_fn(GgmlType::F32, isa),
              simd::exp_sum_fn(isa)};
    if (job.sa.ok()) {
      const std::vector<RowTile> tiles = make_tiles(p, rows);
      const int64_t n_kv = p.n_head_kv;
      // Grain 1: tasks differ in size (later rows see more positions), so threads take one at a
      // time.
      ctx.pool->parallel_for(
          static_cast<int64_t>(tiles.size()) * n_kv, 1, [&](int64_t b, int64_t e) {
            thread_local TileScratch scratch;
            for (int64_t task = b; task < e; ++task) {
              run_tile(job, tiles[static_cast<size_t>(task / n_kv)], task % n_kv, &scratch);
            }
          });
      return Status::Ok();
    }
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
