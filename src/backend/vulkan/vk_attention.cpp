// ATTENTION over a paged K/V cache (attention.comp): q/dst [head_dim][n_head][M] F32, K/V
// caches [n_head_kv * head_dim][rows] F32/F16/BF16. Positions, row->sequence ids and the block
// tables are copied into the parameter buffer; every (token, head) is one workgroup.
#include <algorithm>
#include <vector>

#include "vk_ops.h"

namespace dari_vk {
namespace {

// AttnPush in attention.comp (108 bytes).
struct AttnPush {
  uint32_t hd, n_head, group, bt;
  float scale;
  uint32_t ktype, vtype, rows;
  ViewPush qv, ov;
  uint32_t k_off, k_nb1, v_off, v_nb1, pos_off, seq_off, tbl_off;
};
static_assert(sizeof(AttnPush) == 108, "AttnPush must match attention.comp");

constexpr int64_t kMaxHeadDim = 512;  // MAX_HD in attention.comp

bool kv_type_ok(uint32_t t) {
  return t == kF32 || t == kF16 || t == kBF16;
}

}  // namespace

std::string check_attention(const Context* c, const DariOp& op) {
  const DariTensorView &q = op.src[0], &k = op.src[1], &v = op.src[2], &y = op.dst;
  std::string s;
  for (const auto& [view, what] :
       {std::pair{&q, "q"}, {&k, "k_cache"}, {&v, "v_cache"}, {&y, "dst"}}) {
    if (!(s = check_view(*view, what)).empty()) return s;
  }
  if (q.type != kF32 || y.type != kF32) return "q and dst must be F32";
  if (!kv_type_ok(k.type) || !kv_type_ok(v.type)) return "KV type must be F32, F16 or BF16";
  for (int i = 0; i < 4; ++i) {
    if (q.ne[i] != y.ne[i] || k.ne[i] != v.ne[i]) return "shape mismatch";
  }
  const DariAttentionParams& p = op.params.attn;
  if (p.n_head <= 0 || p.n_head_kv <= 0 || p.n_head % p.n_head_kv != 0 || p.block_tokens <= 0 ||
      q.ne[1] != p.n_head || k.ne[0] != q.ne[0] * p.n_head_kv) {
    return fmt("bad heads (n_head %d, n_head_kv %d, block_tokens %d) for q %s and k %s", p.n_head,
               p.n_head_kv, p.block_tokens, describe(q).c_str(), describe(k).c_str());
  }
  if (q.ne[0] > kMaxHeadDim)
    return fmt("head_dim %lld > %lld", (long long)q.ne[0], (long long)kMaxHeadDim);
  if (!uniform_rows(k) || !uniform_rows(v)) return "K/V cache rows must be evenly strided";
  if (q.nb[1] % 4 || q.nb[2] % 4 || q.nb[3] % 4 || y.nb[1] % 4 || y.nb[2] % 4 || y.nb[3] % 4 ||
      k.nb[1] % 2 || v.nb[1] % 2) {
    return "strides not aligned";
  }
  const uint64_t lim = span_limit(c);
  if (row_span(k, 0, n_rows(k) - 1) > lim || row_span(v, 0, n_rows(v) - 1) > lim ||
      row_span(q, 0, n_rows(q) - 1) > lim || row_span(y, 0, n_rows(y) - 1) > lim) {
    return "attention operands exceed the binding range";
  }
  return {};
}

Status encode_attention(Encoder& e, const DariOp& op) {
  Context* c = e.ctx();
  const DariTensorView &q = op.src[0], &k = op.src[1], &v = op.src[2], &y = op.dst;
  const DariAttentionParams& p = op.params.attn;
  const uint64_t tokens = n_rows(q) / static_cast<uint64_t>(p.n_head);
  if (p.positions == nullptr || p.row_seq == nullptr || p.n_seqs < 0 ||
      (p.n_seqs > 0 && (p.block_tables == nullptr || p.block_counts == nullptr))) {
    return make_status(DARI_ERR_INVALID, "attention: missing positions, row_seq or block tables");
  }
  const int64_t cache_blocks = static_cast<int64_t>(n_rows(k)) / p.block_tokens;
  for (int32_t s = 0; s < p.n_seqs; ++s) {
    if (p.block_counts[s] < 0 || (p.block_counts[s] > 0 && p.block_tables[s] == nullptr)) {
      return make_status(DARI_ERR_INVALID, fmt("attention: sequence %d has a bad block table", s));
    }
    for (int32_t b = 0; b < p.block_counts[s]; ++b) {
      if (p.block_tables[s][b] < 0 || p.block_tables[s][b] >= cache_blocks) {
        return make_status(DARI_ERR_INVALID,
                           fmt("attention: sequence %d block %d is %d, cache has %lld", s, b,
                               p.block_tables[s][b], (long long)cache_blocks));
      }
    }
  }
  for (uint64_t i = 0; i < tokens; ++i) {
    const int32_t s = p.row_seq[i];
    if (s < 0 || s >= p.n_seqs || p.positions[i] < 0 ||
        p.positions[i] / p.block_tokens >= p.block_counts[s]) {
      return make_status(DARI_ERR_INVALID,
                         fmt("attention: row %llu (sequence %d, position %d) is outside its "
                             "block table",
                             (unsigned long long)i, s, p.positions[i]));
    }
  }
  if (addr_of(q) % 4 || addr_of(y) % 4 || addr_of(k) % 2 || addr_of(v) % 2) {
    return make_status(DARI_ERR_INVALID, "attention operand addresses are not aligned");
  }
  AttnPush a{};
  a.hd = static_cast<uint32_t>(q.ne[0]);
  a.n_head = static_cast<uint32_t>(p.n_head);
  a.group = static_cast<uint32_t>(p.n_head / p.n_head_kv);
  a.bt = static_cast<uint32_t>(p.block_tokens);
  a.scale = p.scale;
  a.ktype = k.type;
  a.vtype = v.type;
  a.rows = static_cast<uint32_t>(tokens);
  a.pos_off = e.add_params(p.positions, tokens);
  a.seq_off = e.add_params(p.row_seq, tokens);
  // Tables flattened; prm[tbl_off + s] = word offset of table s.
  std::vector<int32_t> offs(static_cast<size_t>(std::max(p.n_seqs, 1)), 0);
  a.tbl_off = e.add_params(offs.data(), offs.size());
  for (int32_t s = 0; s < p.n_seqs; ++s) {
    offs[static_cast<size_t>(s)] = static_cast<int32_t>(
        e.add_params(p.block_tables[s], static_cast<size_t>(p.block_counts[s])));
  }
  // Patch the offsets in (add_params copied placeholders).
  {
    std::vector<uint32_t> tmp(offs.begin(), offs.end());
    e.patch_params(a.tbl_off, tmp.data(), tmp.size());
  }
  BindRange br[4];
  DVK_TRY(bind_rows(c, q, 0, n_rows(q) - 1, false, &br[0], &a.qv));
  ViewPush kvp, vvp;
  DVK_TRY(bind_rows(c, k, 0, n_rows(k) - 1, false, &br[1], &kvp));
  DVK_TRY(bind_rows(c, v, 0, n_rows(v) - 1, false, &br[2], &vvp));
  DVK_TRY(bind_rows(c, y, 0, n_rows(y) - 1, true, &br[3], &a.ov));
  a.k_off = br[1].rem;
  a.k_nb1 = static_cast<uint32_t>(k.nb[1]);
  a.v_off = br[2].rem;
  a.v_nb1 = static_cast<uint32_t>(v.nb[1]);
  const uint64_t groups = tokens * static_cast<uint64_t>(p.n_head);
  const uint32_t gx = static_cast<uint32_t>(std::min<uint64_t>(groups, 65535));
  const uint32_t gy = static_cast<uint32_t>((groups + 65534) / 65535);
  return e.dispatch("attention", br, 4, &a, sizeof(a), gx, gy, 1);
}

}  // namespace dari_vk
