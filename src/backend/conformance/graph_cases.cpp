// Graph cases: several dependent ops in one compute() call, as a forward step submits them. They
// check what single ops cannot: that op i sees what op j < i wrote (barriers, ordering, fusion),
// and that a pool tensor viewed with two shapes means the same bytes.
//   ffn     rms_norm -> matmul (gate), matmul (up) -> silu_mul -> matmul (down) -> add (residual)
//   decode  rope (q), rope (k) -> set_rows (k, v into a paged cache) -> attention
#include <algorithm>
#include <cmath>
#include <numeric>

#include "backend/conformance/cases.h"
#include "dari/core/strings.h"
#include "dari/tensor/dtype.h"

namespace dari::conformance {
namespace {

// The shape (no bytes) of pool tensor i, optionally viewed as [ne0, ne1].
HostTensor shape_of(const GraphCase& g, int i, int64_t ne0 = 0, int64_t ne1 = 0) {
  HostTensor t;
  const HostTensor& p = g.tensors[static_cast<size_t>(i)];
  t.type = p.type;
  for (int d = 0; d < 4; ++d) t.ne[d] = p.ne[d];
  if (ne0 > 0) {
    t.ne[0] = ne0;
    t.ne[1] = ne1;
    t.ne[2] = t.ne[3] = 1;
  }
  return t;
}

// Appends a node of `kind` over pool tensors; returns its Case for the parameters.
Case* add_node(GraphCase* g, OpKind kind, const std::vector<int>& src, int dst) {
  GraphNode n;
  n.op = std::make_unique<Case>();
  n.op->kind = kind;
  for (int i : src) n.op->src.push_back(shape_of(*g, i));
  n.op->dst = shape_of(*g, dst);
  n.src = src;
  n.dst = dst;
  g->nodes.push_back(std::move(n));
  return g->nodes.back().op.get();
}

int add_tensor(GraphCase* g, HostTensor t) {
  g->tensors.push_back(std::move(t));
  return static_cast<int>(g->tensors.size() - 1);
}

double pool_bytes(const GraphCase& g) {
  double b = 0.0;
  for (const HostTensor& t : g.tensors) b += static_cast<double>(t.bytes.size());
  return b;
}

std::unique_ptr<GraphCase> build_ffn(std::mt19937& rng, GgmlType w, int64_t k, int64_t n,
                                     int64_t m) {
  auto g = std::make_unique<GraphCase>();
  const GgmlType f = GgmlType::F32;
  const int x = add_tensor(g.get(), random_tensor(rng, f, k, m));
  const int norm_w = add_tensor(g.get(), random_tensor(rng, f, k));
  const int w_gate = add_tensor(g.get(), random_tensor(rng, w, k, n));
  const int w_up = add_tensor(g.get(), random_tensor(rng, w, k, n));
  const int w_down = add_tensor(g.get(), random_tensor(rng, w, n, k));
  const int h = add_tensor(g.get(), zero_tensor(f, k, m));
  const int gate = add_tensor(g.get(), zero_tensor(f, n, m));
  const int up = add_tensor(g.get(), zero_tensor(f, n, m));
  const int act = add_tensor(g.get(), zero_tensor(f, n, m));
  const int down = add_tensor(g.get(), zero_tensor(f, k, m));
  const int y = add_tensor(g.get(), zero_tensor(f, k, m));
  add_node(g.get(), OpKind::kRmsNorm, {x, norm_w}, h)->eps = 1e-5f;
  add_node(g.get(), OpKind::kMatmul, {w_gate, h}, gate);
  add_node(g.get(), OpKind::kMatmul, {w_up, h}, up);
  add_node(g.get(), OpKind::kSiluMul, {gate, up}, act);
  add_node(g.get(), OpKind::kMatmul, {w_down, act}, down);
  add_node(g.get(), OpKind::kAdd, {down, x}, y);
  g->outputs = {y};
  g->bytes = pool_bytes(*g);
  g->flops = 6.0 * static_cast<double>(k) * static_cast<double>(n) * static_cast<double>(m);
  return g;
}

// One step of two sequences: a prefill chunk of 6 rows (positions 34..39) and a decode row
// (position 129), GQA 4:1, head_dim 64, blocks of 16 tokens drawn from a shuffled pool.
std::unique_ptr<GraphCase> build_decode(std::mt19937& rng, GgmlType kv) {
  constexpr int64_t hd = 64;
  constexpr int32_t n_head = 8, n_kv = 2, bt = 16;
  const std::vector<int32_t> seq_len = {40, 130}, new_rows = {6, 1};
  auto g = std::make_unique<GraphCase>();
  int32_t blocks = 3;  // spare blocks no sequence uses
  for (int32_t len : seq_len) blocks += (len + bt - 1) / bt;
  std::vector<int32_t> pool(static_cast<size_t>(blocks));
  std::iota(pool.begin(), pool.end(), 0);
  std::shuffle(pool.begin(), pool.end(), rng);
  std::vector<std::vector<int32_t>> tables;
  std::vector<int32_t> positions, row_seq, cache_rows;
  size_t next = 0;
  double visible = 0.0;
  for (size_t s = 0; s < seq_len.size(); ++s) {
    std::vector<int32_t> table;
    for (int32_t b = 0; b < (seq_len[s] + bt - 1) / bt; ++b) table.push_back(pool[next++]);
    for (int32_t p = seq_len[s] - new_rows[s]; p < seq_len[s]; ++p) {
      positions.push_back(p);
      row_seq.push_back(static_cast<int32_t>(s));
      cache_rows.push_back(table[static_cast<size_t>(p / bt)] * bt + p % bt);
      visible += p + 1;
    }
    tables.push_back(std::move(table));
  }
  const int64_t m = static_cast<int64_t>(positions.size());
  const int64_t rows = static_cast<int64_t>(blocks) * bt;
  const GgmlType f = GgmlType::F32;
  const int q_in = add_tensor(g.get(), random_tensor(rng, f, hd, n_head, m, 2.0f));
  const int k_in = add_tensor(g.get(), random_tensor(rng, f, hd, n_kv, m));
  const int v_in = add_tensor(g.get(), random_tensor(rng, f, hd * n_kv, m));
  const int q = add_tensor(g.get(), zero_tensor(f, hd, n_head, m));
  const int k = add_tensor(g.get(), zero_tensor(f, hd, n_kv, m));
  const int k_cache = add_tensor(g.get(), random_tensor(rng, kv, hd * n_kv, rows));
  const int v_cache = add_tensor(g.get(), random_tensor(rng, kv, hd * n_kv, rows));
  const int out = add_tensor(g.get(), zero_tensor(f, hd, n_head, m));
  for (const auto& [src, dst] : {std::pair<int, int>{q_in, q}, {k_in, k}}) {
    Case* r = add_node(g.get(), OpKind::kRope, {src}, dst);
    r->rope.n_dims = static_cast<int32_t>(hd);
    r->rope.mode = DARI_ROPE_NEOX;
    r->rope.freq_base = 10000.0f;
    r->rope.freq_scale = 1.0f;
    r->positions = positions;
  }
  Case* set_k = add_node(g.get(), OpKind::kSetRows, {k}, k_cache);
  set_k->src[0] = shape_of(*g, k, hd * n_kv, m);  // [hd, n_kv, M] written by rope, as rows
  set_k->row_ids = cache_rows;
  add_node(g.get(), OpKind::kSetRows, {v_in}, v_cache)->row_ids = cache_rows;
  Case* a = add_node(g.get(), OpKind::kAttention, {q, k_cache, v_cache}, out);
  a->attn.n_head = n_head;
  a->attn.n_head_kv = n_kv;
  a->attn.block_tokens = bt;
  a->attn.n_seqs = static_cast<int32_t>(tables.size());
  a->attn.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(hd)));
  a->positions = positions;
  a->row_seq = row_seq;
  a->tables = tables;
  for (const auto& t : tables) a->block_counts.push_back(static_cast<int32_t>(t.size()));
  g->outputs = {out, k_cache, v_cache};
  g->bytes = pool_bytes(*g);
  g->flops = 4.0 * hd * n_head * visible;
  return g;
}

}  // namespace

void graph_cases(std::vector<CaseDef>* out) {
  for (GgmlType w : {GgmlType::F32, GgmlType::F16, GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::Q4_K,
                     GgmlType::Q6_K}) {
    const std::string type(ggml_type_name(w));
    const Threshold* t = find_threshold("ffn", type);
    out->push_back(
        {"ffn", type, "k=256 n=512 m=7, 6 ops", t ? t->nmse : 0.0, {}, [w](std::mt19937& rng) {
           return build_ffn(rng, w, 256, 512, 7);
         }});
  }
  for (GgmlType kv : {GgmlType::F32, GgmlType::F16}) {
    const std::string type(ggml_type_name(kv));
    const Threshold* t = find_threshold("decode", type);
    out->push_back({"decode",
                    type,
                    "hd=64 h=8/2 seqs=34+6,129+1, 5 ops",
                    t ? t->nmse : 0.0,
                    {},
                    [kv](std::mt19937& rng) { return build_decode(rng, kv); }});
  }
}

}  // namespace dari::conformance
