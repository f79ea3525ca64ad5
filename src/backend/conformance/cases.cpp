// The conformance suite's cases: edge shapes for every op kind. Each builder makes random inputs
// (uniform in [-1, 1]; weights quantized with the type traits' from_float) and the op's
// parameters; runner.cpp runs it on both backends. Shapes cover: one row, M = 1 / 7 / 33, long
// rows (4096+), K not a multiple of 32 where the type allows it (F32, F16, BF16), GQA 4:1 and
// 1:1, paged block tables with shuffled physical blocks, rope normal/neox with freq_scale,
// freq_factors and n_dims < head_dim, and broadcast add/mul.
#include "backend/conformance/cases.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "dari/core/strings.h"
#include "dari/tensor/dtype.h"

namespace dari::conformance {

Op Case::make_op(const std::vector<void*>& src_data, void* dst_data) {
  Op op{};
  op.kind = static_cast<uint32_t>(kind);
  op.n_src = static_cast<uint32_t>(src.size());
  for (size_t i = 0; i < src.size() && i < 3; ++i) op.src[i] = to_c_view(src[i].view(src_data[i]));
  op.dst = to_c_view(dst.view(dst_data));
  OpParams& p = op.params;
  p.eps = eps;
  p.scale = scale;
  if (!row_ids.empty()) {
    p.row_ids = row_ids.data();
    p.n_row_ids = static_cast<int64_t>(row_ids.size());
  }
  p.rope = rope;
  p.rope.positions = positions.empty() ? nullptr : positions.data();
  p.rope.freq_factors = freq_factors.empty() ? nullptr : freq_factors.data();
  p.attn = attn;
  if (kind == OpKind::kAttention) {
    table_ptrs.clear();
    for (const auto& t : tables) table_ptrs.push_back(t.data());
    p.attn.positions = positions.data();
    p.attn.row_seq = row_seq.data();
    p.attn.block_tables = table_ptrs.data();
    p.attn.block_counts = block_counts.data();
    p.rope.positions = nullptr;
  }
  return op;
}

namespace {

// A [ne0, ne1, ne2] tensor of `type` holding `values` (quantized row by row).
HostTensor make_tensor(GgmlType type, const std::vector<float>& values, int64_t ne0, int64_t ne1,
                       int64_t ne2) {
  HostTensor t;
  t.type = type;
  t.ne[0] = ne0;
  t.ne[1] = ne1;
  t.ne[2] = ne2;
  auto q = quantize_tensor(type, values.data(), static_cast<uint64_t>(ne1 * ne2),
                           static_cast<uint64_t>(ne0));
  if (q.ok()) t.bytes = std::move(q).value();  // shapes here are valid by construction
  return t;
}

}  // namespace

std::vector<float> uniform_floats(std::mt19937& rng, size_t n, float scale) {
  std::uniform_real_distribution<float> d(-scale, scale);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

HostTensor random_tensor(std::mt19937& rng, GgmlType type, int64_t ne0, int64_t ne1, int64_t ne2,
                         float scale) {
  return make_tensor(type, uniform_floats(rng, static_cast<size_t>(ne0 * ne1 * ne2), scale), ne0,
                     ne1, ne2);
}

HostTensor zero_tensor(GgmlType type, int64_t ne0, int64_t ne1, int64_t ne2) {
  return make_tensor(type, std::vector<float>(static_cast<size_t>(ne0 * ne1 * ne2), 0.0f), ne0, ne1,
                     ne2);
}

std::vector<Op> GraphCase::make_ops(const std::vector<void*>& addrs) {
  std::vector<Op> ops;
  for (GraphNode& n : nodes) {
    std::vector<void*> src;
    for (int i : n.src) src.push_back(addrs[static_cast<size_t>(i)]);
    ops.push_back(n.op->make_op(src, addrs[static_cast<size_t>(n.dst)]));
  }
  return ops;
}

namespace {

std::string tn(GgmlType t) {
  return std::string(ggml_type_name(t));
}

bool is_float(GgmlType t) {
  return t == GgmlType::F32 || t == GgmlType::F16 || t == GgmlType::BF16;
}

HostTensor zeros(GgmlType type, int64_t ne0, int64_t ne1 = 1, int64_t ne2 = 1) {
  return zero_tensor(type, ne0, ne1, ne2);
}

double all_bytes(const Case& c) {
  double b = static_cast<double>(c.dst.bytes.size());
  for (const HostTensor& t : c.src) b += static_cast<double>(t.bytes.size());
  return b;
}

double row_size(const HostTensor& t) {
  const int64_t rows = t.ne[1] * t.ne[2] * t.ne[3];
  return rows > 0 ? static_cast<double>(t.bytes.size()) / static_cast<double>(rows) : 0.0;
}

// n distinct ids in [0, limit) in random order (or with repeats).
std::vector<int32_t> random_ids(std::mt19937& rng, int64_t n, int64_t limit, bool distinct) {
  std::vector<int32_t> ids;
  if (distinct) {
    ids.resize(static_cast<size_t>(limit));
    std::iota(ids.begin(), ids.end(), 0);
    std::shuffle(ids.begin(), ids.end(), rng);
    ids.resize(static_cast<size_t>(n));
  } else {
    std::uniform_int_distribution<int32_t> d(0, static_cast<int32_t>(limit - 1));
    for (int64_t i = 0; i < n; ++i) ids.push_back(d(rng));
  }
  return ids;
}

double threshold_of(OpKind kind, const std::string& type) {
  const Threshold* t = find_threshold(std::string(op_name(kind)), type);
  return t != nullptr ? t->nmse : 0.0;
}

void add_case(std::vector<CaseDef>* out, OpKind kind, const std::string& type,
              const std::string& shape, std::function<std::unique_ptr<Case>(std::mt19937&)> b) {
  out->push_back(
      {std::string(op_name(kind)), type, shape, threshold_of(kind, type), std::move(b), {}});
}

// Row lengths for a type: a long row, a short row (K % 32 != 0 where the type allows it), and
// a mid-sized row.
struct RowLens {
  int64_t long_row, short_row, mid_row;
};
RowLens row_lens(GgmlType t) {
  if (is_float(t)) return {4096, 100, 257};
  if (type_traits(t)->block_elems == 256) return {4096, 768, 256};
  return {4096, 96, 160};
}

void matmul_cases(std::vector<CaseDef>* out) {
  for (GgmlType t : suite_types()) {
    const RowLens r = row_lens(t);
    struct Shape {
      int64_t k, n, m;
      bool pack;
    };
    const Shape shapes[] = {{r.long_row, 256, 1, false},  // decode, long rows
                            {r.short_row, 33, 7, false},  // odd N and M, short K
                            {r.mid_row, 1, 33, false},    // one weight row
                            {1024, 128, 33, true}};       // packed layout where the backend has one
    for (const Shape& s : shapes) {
      const std::string shape = str_format("k=%lld n=%lld m=%lld%s", static_cast<long long>(s.k),
                                           static_cast<long long>(s.n), static_cast<long long>(s.m),
                                           s.pack ? " pack" : "");
      add_case(out, OpKind::kMatmul, tn(t), shape, [t, s](std::mt19937& rng) {
        auto c = std::make_unique<Case>();
        c->kind = OpKind::kMatmul;
        c->src.push_back(random_tensor(rng, t, s.k, s.n));
        c->src.push_back(random_tensor(rng, GgmlType::F32, s.k, s.m));
        c->dst = zeros(GgmlType::F32, s.n, s.m);
        c->pack = s.pack;
        c->bytes = all_bytes(*c);
        c->flops =
            2.0 * static_cast<double>(s.k) * static_cast<double>(s.n) * static_cast<double>(s.m);
        return c;
      });
    }
  }
}

void norm_cases(std::vector<CaseDef>* out) {
  struct Shape {
    int64_t d, rows;
    bool weight;
  };
  for (const Shape s : {Shape{4096, 1, true}, Shape{100, 7, true}, Shape{4096, 33, false}}) {
    const std::string shape =
        str_format("[%lld,%lld]%s", static_cast<long long>(s.d), static_cast<long long>(s.rows),
                   s.weight ? "" : " no weight");
    add_case(out, OpKind::kRmsNorm, "F32", shape, [s](std::mt19937& rng) {
      auto c = std::make_unique<Case>();
      c->kind = OpKind::kRmsNorm;
      c->src.push_back(random_tensor(rng, GgmlType::F32, s.d, s.rows));
      if (s.weight) c->src.push_back(random_tensor(rng, GgmlType::F32, s.d));
      c->dst = zeros(GgmlType::F32, s.d, s.rows);
      c->eps = s.weight ? 1e-5f : 1e-6f;
      c->bytes = all_bytes(*c);
      return c;
    });
  }
  struct Soft {
    int64_t d, rows;
    float scale, range;
  };
  for (const Soft s :
       {Soft{4096, 1, 1.0f, 1.0f}, Soft{100, 7, 0.125f, 8.0f}, Soft{1000, 33, 1.0f, 8.0f}}) {
    const std::string shape = str_format("[%lld,%lld] scale=%g", static_cast<long long>(s.d),
                                         static_cast<long long>(s.rows), s.scale);
    add_case(out, OpKind::kSoftmax, "F32", shape, [s](std::mt19937& rng) {
      auto c = std::make_unique<Case>();
      c->kind = OpKind::kSoftmax;
      c->src.push_back(random_tensor(rng, GgmlType::F32, s.d, s.rows, 1, s.range));
      c->dst = zeros(GgmlType::F32, s.d, s.rows);
      c->scale = s.scale;
      c->bytes = all_bytes(*c);
      return c;
    });
  }
}

void rope_cases(std::vector<CaseDef>* out) {
  struct Shape {
    int64_t hd, heads, m;
    int32_t n_dims, mode;
    float base, freq_scale;
    bool factors;
  };
  const Shape shapes[] = {{64, 4, 1, 64, DARI_ROPE_NORMAL, 10000.0f, 1.0f, false},
                          {64, 4, 7, 64, DARI_ROPE_NEOX, 10000.0f, 1.0f, false},
                          {128, 2, 33, 64, DARI_ROPE_NORMAL, 10000.0f, 0.5f, false},
                          {128, 2, 33, 64, DARI_ROPE_NEOX, 500000.0f, 0.25f, true},
                          {80, 3, 7, 32, DARI_ROPE_NEOX, 10000.0f, 1.0f, false},
                          {128, 8, 1, 128, DARI_ROPE_NORMAL, 1000000.0f, 1.0f, true}};
  for (const Shape& s : shapes) {
    const std::string shape =
        str_format("hd=%lld h=%lld m=%lld %s n_dims=%d fs=%g%s", static_cast<long long>(s.hd),
                   static_cast<long long>(s.heads), static_cast<long long>(s.m),
                   s.mode == DARI_ROPE_NEOX ? "neox" : "normal", s.n_dims, s.freq_scale,
                   s.factors ? " ff" : "");
    add_case(out, OpKind::kRope, "F32", shape, [s](std::mt19937& rng) {
      auto c = std::make_unique<Case>();
      c->kind = OpKind::kRope;
      c->src.push_back(random_tensor(rng, GgmlType::F32, s.hd, s.heads, s.m));
      c->dst = zeros(GgmlType::F32, s.hd, s.heads, s.m);
      std::uniform_int_distribution<int32_t> pos(0, 4095);
      for (int64_t i = 0; i < s.m; ++i) c->positions.push_back(pos(rng));
      if (s.factors) {  // llama3-style: low frequencies stretched up to 8x
        std::uniform_real_distribution<float> f(1.0f, 8.0f);
        for (int32_t i = 0; i < s.n_dims / 2; ++i) c->freq_factors.push_back(f(rng));
      }
      c->rope.n_dims = s.n_dims;
      c->rope.mode = s.mode;
      c->rope.freq_base = s.base;
      c->rope.freq_scale = s.freq_scale;
      c->bytes = all_bytes(*c);
      return c;
    });
  }
}

void elementwise_cases(std::vector<CaseDef>* out) {
  struct Shape {
    int64_t d, rows;
    bool broadcast;
  };
  for (OpKind kind : {OpKind::kSiluMul, OpKind::kAdd, OpKind::kMul}) {
    std::vector<Shape> shapes = {{4096, 1, false}, {100, 7, false}, {5000, 33, false}};
    if (kind != OpKind::kSiluMul) {
      shapes.push_back({4096, 33, true});
      shapes.push_back({100, 7, true});
    }
    for (const Shape& s : shapes) {
      const std::string shape =
          str_format("[%lld,%lld]%s", static_cast<long long>(s.d), static_cast<long long>(s.rows),
                     s.broadcast ? " + [d,1] broadcast" : "");
      add_case(out, kind, "F32", shape, [kind, s](std::mt19937& rng) {
        auto c = std::make_unique<Case>();
        c->kind = kind;
        c->src.push_back(random_tensor(rng, GgmlType::F32, s.d, s.rows, 1, 4.0f));
        c->src.push_back(random_tensor(rng, GgmlType::F32, s.d, s.broadcast ? 1 : s.rows));
        c->dst = zeros(GgmlType::F32, s.d, s.rows);
        c->bytes = all_bytes(*c);
        return c;
      });
    }
  }
}

void row_cases(std::vector<CaseDef>* out) {
  for (GgmlType t : suite_types()) {
    const RowLens r = row_lens(t);
    struct Shape {
      int64_t d, table_rows, n;
    };
    // get_rows: one id, a batch with repeats, long rows.
    for (const Shape s :
         {Shape{r.short_row, 40, 1}, Shape{r.short_row, 40, 33}, Shape{r.long_row, 16, 7}}) {
      const std::string shape =
          str_format("table [%lld,%lld] ids=%lld", static_cast<long long>(s.d),
                     static_cast<long long>(s.table_rows), static_cast<long long>(s.n));
      add_case(out, OpKind::kGetRows, tn(t), shape, [t, s](std::mt19937& rng) {
        auto c = std::make_unique<Case>();
        c->kind = OpKind::kGetRows;
        c->src.push_back(random_tensor(rng, t, s.d, s.table_rows));
        c->dst = zeros(GgmlType::F32, s.d, s.n);
        c->row_ids = random_ids(rng, s.n, s.table_rows, false);
        c->bytes = static_cast<double>(s.n) * row_size(c->src[0]) +
                   static_cast<double>(c->dst.bytes.size());
        return c;
      });
    }
    // set_rows: distinct target rows in random order into a filled table (a KV cache write).
    for (const Shape s :
         {Shape{r.long_row, 8, 1}, Shape{r.short_row, 40, 7}, Shape{r.mid_row, 64, 33}}) {
      const std::string shape =
          str_format("rows=%lld into [%lld,%lld]", static_cast<long long>(s.n),
                     static_cast<long long>(s.d), static_cast<long long>(s.table_rows));
      add_case(out, OpKind::kSetRows, tn(t), shape, [t, s](std::mt19937& rng) {
        auto c = std::make_unique<Case>();
        c->kind = OpKind::kSetRows;
        c->src.push_back(random_tensor(rng, GgmlType::F32, s.d, s.n));
        c->dst = random_tensor(rng, t, s.d, s.table_rows);
        c->row_ids = random_ids(rng, s.n, s.table_rows, true);
        c->bytes = static_cast<double>(c->src[0].bytes.size()) +
                   static_cast<double>(s.n) * row_size(c->dst);
        return c;
      });
    }
  }
}

void copy_cases(std::vector<CaseDef>* out) {
  std::vector<std::pair<GgmlType, GgmlType>> pairs = {{GgmlType::F32, GgmlType::F32},
                                                      {GgmlType::F16, GgmlType::F16}};
  for (GgmlType t : suite_types()) {
    if (t == GgmlType::F32) continue;
    pairs.push_back({GgmlType::F32, t});
    pairs.push_back({t, GgmlType::F32});
  }
  for (const auto& [from, to] : pairs) {
    const GgmlType q = from == GgmlType::F32 ? to : from;
    const RowLens r = row_lens(q);
    for (const auto& [d, rows] : {std::pair<int64_t, int64_t>{r.long_row, 3}, {r.short_row, 33}}) {
      const std::string type = tn(from) + "->" + tn(to);
      const std::string shape =
          str_format("[%lld,%lld]", static_cast<long long>(d), static_cast<long long>(rows));
      const GgmlType f = from, g = to;
      const int64_t dd = d, rr = rows;
      add_case(out, OpKind::kCopy, type, shape, [f, g, dd, rr](std::mt19937& rng) {
        auto c = std::make_unique<Case>();
        c->kind = OpKind::kCopy;
        c->src.push_back(random_tensor(rng, f, dd, rr));
        c->dst = zeros(g, dd, rr);
        c->bytes = all_bytes(*c);
        return c;
      });
    }
  }
}

// Attention over a paged cache: each sequence's blocks are drawn from a shuffled pool, so
// logical block b of a sequence sits at an unrelated physical block.
struct AttnShape {
  int64_t hd;
  int32_t n_head, n_head_kv, block_tokens;
  std::vector<int32_t> seq_len;   // tokens in each sequence's cache after this step
  std::vector<int32_t> new_rows;  // rows of this step per sequence (the last ones)
};

std::unique_ptr<Case> build_attention(std::mt19937& rng, GgmlType kv, const AttnShape& s) {
  auto c = std::make_unique<Case>();
  c->kind = OpKind::kAttention;
  const int32_t n_seqs = static_cast<int32_t>(s.seq_len.size());
  int32_t blocks = 2;  // spare blocks no sequence uses
  for (int32_t len : s.seq_len) blocks += (len + s.block_tokens - 1) / s.block_tokens;
  std::vector<int32_t> pool = random_ids(rng, blocks, blocks, true);
  size_t next = 0;
  double visible = 0.0;  // (row, key) pairs
  for (int32_t q = 0; q < n_seqs; ++q) {
    const int32_t len = s.seq_len[static_cast<size_t>(q)];
    std::vector<int32_t> table;
    for (int32_t b = 0; b < (len + s.block_tokens - 1) / s.block_tokens; ++b)
      table.push_back(pool[next++]);
    c->tables.push_back(table);
    c->block_counts.push_back(static_cast<int32_t>(table.size()));
    for (int32_t p = len - s.new_rows[static_cast<size_t>(q)]; p < len; ++p) {
      c->positions.push_back(p);
      c->row_seq.push_back(q);
      visible += p + 1;
    }
  }
  const int64_t m = static_cast<int64_t>(c->positions.size());
  const int64_t cache_rows = static_cast<int64_t>(blocks) * s.block_tokens;
  c->src.push_back(random_tensor(rng, GgmlType::F32, s.hd, s.n_head, m, 2.0f));
  c->src.push_back(random_tensor(rng, kv, s.hd * s.n_head_kv, cache_rows));
  c->src.push_back(random_tensor(rng, kv, s.hd * s.n_head_kv, cache_rows));
  c->dst = zeros(GgmlType::F32, s.hd, s.n_head, m);
  c->attn.n_head = s.n_head;
  c->attn.n_head_kv = s.n_head_kv;
  c->attn.block_tokens = s.block_tokens;
  c->attn.n_seqs = n_seqs;
  c->attn.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(s.hd)));
  double kv_rows = 0.0;
  for (int32_t len : s.seq_len) kv_rows += len;
  c->bytes =
      2.0 * static_cast<double>(c->src[0].bytes.size()) + 2.0 * kv_rows * row_size(c->src[1]);
  c->flops = 4.0 * static_cast<double>(s.hd) * s.n_head * visible;
  return c;
}

void attention_cases(std::vector<CaseDef>* out) {
  const std::vector<AttnShape> shapes = {
      {64, 8, 2, 16, {300}, {1}},         // GQA 4:1 decode
      {64, 8, 2, 16, {46, 130}, {6, 1}},  // two sequences: a prefill chunk and a decode row
      {128, 4, 4, 32, {33}, {33}},        // 1:1, whole prompt
      {128, 8, 2, 16, {4100}, {1}},       // long context
  };
  for (GgmlType kv : {GgmlType::F32, GgmlType::F16, GgmlType::BF16}) {
    for (const AttnShape& s : shapes) {
      std::string lens;
      for (size_t i = 0; i < s.seq_len.size(); ++i) {
        lens += str_format("%s%d+%d", i ? "," : "", s.seq_len[i] - s.new_rows[i], s.new_rows[i]);
      }
      const std::string shape =
          str_format("hd=%lld h=%d/%d bt=%d seqs=%s", static_cast<long long>(s.hd), s.n_head,
                     s.n_head_kv, s.block_tokens, lens.c_str());
      add_case(out, OpKind::kAttention, tn(kv), shape,
               [kv, s](std::mt19937& rng) { return build_attention(rng, kv, s); });
    }
  }
}

}  // namespace

std::vector<CaseDef> all_cases() {
  std::vector<CaseDef> out;
  matmul_cases(&out);
  norm_cases(&out);
  rope_cases(&out);
  elementwise_cases(&out);
  row_cases(&out);
  attention_cases(&out);
  copy_cases(&out);
  graph_cases(&out);
  return out;
}

}  // namespace dari::conformance
