// Where the model runs: layer placement (-ngl, per-layer fallback), the load-time fit check,
// device weight upload, pack_weight, and the activation scratch.
//
// Placement granularity is the layer: a layer whose ops (or weight types) the device declines in
// supports_op() runs entirely on the CPU, so a model with one odd tensor type still offloads the
// other layers. The output head goes with the last layer; the embedding lookup with the first.
#include <algorithm>
#include <map>
#include <set>

#include "dari/core/strings.h"
#include "model/transformer.h"

namespace dari {
namespace {

constexpr uint64_t kAlign = 256;  // device offsets of weights and scratch regions
constexpr uint64_t kGroupBytes = uint64_t{1} << 30;  // weight buffers hold up to 1 GiB each
// Scratch the fit check sets aside: a prefill chunk of this many rows, this many logits rows.
constexpr int64_t kScratchRowsEstimate = 512;
constexpr int64_t kScratchLogitRowsEstimate = 16;

uint64_t align_up(uint64_t v) {
  return (v + kAlign - 1) / kAlign * kAlign;
}

uint64_t view_bytes(const TensorView& v) {
  return v.row_bytes() * static_cast<uint64_t>(v.n_rows());
}

// A layer's tensors with their GGUF suffixes (absent optional tensors included, as empty views).
template <typename L>
auto layer_tensors(L& w) {
  using V = decltype(&w.wq);
  return std::vector<std::pair<const char*, V>>{
      {"attn_norm", &w.attn_norm}, {"attn_q", &w.wq},         {"attn_k", &w.wk},
      {"attn_v", &w.wv},           {"attn_output", &w.wo},    {"attn_q.bias", &w.bq},
      {"attn_k.bias", &w.bk},      {"attn_v.bias", &w.bv},    {"attn_q_norm", &w.q_norm},
      {"attn_k_norm", &w.k_norm},  {"ffn_norm", &w.ffn_norm}, {"ffn_gate", &w.w_gate},
      {"ffn_up", &w.w_up},         {"ffn_down", &w.w_down}};
}

uint64_t layer_weight_bytes(const LayerWeights& L) {
  uint64_t n = 0;
  for (const auto& [name, v] : layer_tensors(L)) n += v->empty() ? 0 : align_up(view_bytes(*v));
  return n;
}

// Device bytes one placement needs.
struct Need {
  uint64_t weights = 0, kv = 0, scratch = 0;
  uint32_t layers = 0;  // layers on the device
  uint64_t total() const { return weights + kv + scratch; }
};

}  // namespace

uint64_t Scratch::bytes(const ScratchDims& d, int64_t rows, int64_t out_rows) {
  auto region = [](int64_t features, int64_t r) {
    return align_up(static_cast<uint64_t>(features) * static_cast<uint64_t>(r) * sizeof(float));
  };
  return 2 * region(d.e, rows) + 2 * region(d.qd, rows) + 2 * region(d.kvd, rows) +
         2 * region(d.ff, rows) + region(d.e, out_rows) + region(d.vocab, out_rows);
}

Status Scratch::ensure(Backend& be, const ScratchDims& d, int64_t rows, int64_t out_rows) {
  if (buf_ != nullptr && rows <= rows_ && out_rows <= out_rows_) return Status::Ok();
  const int64_t r = std::max(rows, rows_), o = std::max(out_rows, out_rows_);
  reset();  // free the old buffer first: lower peak device memory
  auto buf = be.alloc(bytes(d, r, o));
  if (!buf.ok()) {
    return make_error(str_format("forward: scratch for %lld rows (%lld with logits) on %s: %s",
                                 static_cast<long long>(r), static_cast<long long>(o),
                                 be.device().name.c_str(), buf.message().c_str()));
  }
  buf_ = std::move(buf).value();
  // Device addresses: pointer arithmetic only.
  uint8_t* p = static_cast<uint8_t*>(buf_->data());
  auto take = [&](int64_t features, int64_t n) {
    uint8_t* at = p;
    p += align_up(static_cast<uint64_t>(features) * static_cast<uint64_t>(n) * sizeof(float));
    return at;
  };
  views_.x = take(d.e, r);
  views_.cur = take(d.e, r);
  views_.q = take(d.qd, r);
  views_.att = take(d.qd, r);
  views_.k = take(d.kvd, r);
  views_.v = take(d.kvd, r);
  views_.gate = take(d.ff, r);
  views_.up = take(d.ff, r);
  views_.sel = take(d.e, o);
  views_.logits = take(d.vocab, o);
  rows_ = r;
  out_rows_ = o;
  return Status::Ok();
}

bool TransformerModel::layer_supported(const Backend& be, uint32_t il, GgmlType kv_dtype) const {
  // Record the layer for one row with null scratch and cache addresses: supports_op() looks at
  // kinds, types and shapes only.
  Plan plan;
  const int32_t pos = 0, table = 0;
  plan.n_rows = 1;
  plan.cache_rows = {0};
  plan.row_seq = {0};
  plan.tables = {&table};
  plan.table_sizes = {1};
  fill_params(&plan, &pos, 16);
  const int64_t kvd = int64_t{cfg_.n_head_kv} * cfg_.head_dim;
  const TensorView kc = TensorView::contiguous(static_cast<void*>(nullptr), kv_dtype, kvd, 16);
  OpGraph g;
  record_layer(g, il, plan, ScratchViews{}, kc, kc);
  for (const Op& op : g.ops()) {
    if (!be.supports_op(op)) return false;
  }
  return true;
}

bool TransformerModel::output_supported(const Backend& be) const {
  const TensorView x =
      TensorView::contiguous(static_cast<void*>(nullptr), GgmlType::F32, cfg_.n_embd, 1);
  const TensorView y =
      TensorView::contiguous(static_cast<void*>(nullptr), GgmlType::F32, cfg_.n_vocab, 1);
  const int32_t row = 0;
  OpGraph g;
  g.get_rows(x, std::span<const int32_t>(&row, 1), x);
  g.rms_norm(x, w_.output_norm, cfg_.rms_eps, x);
  g.matmul(w_.output, x, y);
  for (const Op& op : g.ops()) {
    if (!be.supports_op(op)) return false;
  }
  return true;
}

bool TransformerModel::embedding_supported(const Backend& be) const {
  const TensorView x =
      TensorView::contiguous(static_cast<void*>(nullptr), GgmlType::F32, cfg_.n_embd, 1);
  const int32_t tok = 0;
  OpGraph g;
  g.get_rows(w_.token_embd, std::span<const int32_t>(&tok, 1), x);
  return be.supports_op(g.ops()[0]);
}

Status TransformerModel::place(const ModelLoadOptions& opts, std::shared_ptr<Backend> main,
                               std::shared_ptr<Backend> cpu) {
  const uint32_t n = cfg_.n_layer;
  auto add_exec = [&](std::shared_ptr<Backend> be) {
    auto e = std::make_unique<Exec>();
    e->host = be->device().host_memory;
    e->backend = std::move(be);
    execs_.push_back(std::move(e));
  };
  layer_exec_.assign(n, 0);
  embd_exec_ = out_exec_ = 0;
  if (cpu == nullptr) {  // the CPU alone runs everything
    add_exec(std::move(main));
    return pack_weights();
  }

  const Backend& dev = *main;  // main is moved into execs_ only once placement is decided
  std::vector<uint8_t> ok(n);
  for (uint32_t il = 0; il < n; ++il) ok[il] = layer_supported(dev, il, opts.kv_dtype) ? 1 : 0;
  const bool out_ok = output_supported(dev), embd_ok = embedding_supported(dev);
  const uint64_t kv_row =
      uint64_t{cfg_.n_head_kv} * cfg_.head_dim * (opts.kv_dtype == GgmlType::F32 ? 4 : 2);
  const uint64_t kv_tokens = (uint64_t{opts.n_ctx} + 15) / 16 * 16;  // KvCacheOptions blocks
  // Device placement for the last k layers: per layer, embedding, output; and the bytes needed.
  struct Layout {
    std::vector<uint8_t> on_dev;
    bool embd = false, out = false;
    Need need;
  };
  auto layout = [&](uint32_t k) {
    Layout l;
    l.on_dev.assign(n, 0);
    for (uint32_t il = n - k; il < n; ++il) l.on_dev[il] = ok[il];
    l.out = k > 0 && l.on_dev[n - 1] && out_ok;
    l.embd = n > 0 && l.on_dev[0] && embd_ok;
    for (uint32_t il = 0; il < n; ++il) {
      if (!l.on_dev[il]) continue;
      ++l.need.layers;
      l.need.weights += layer_weight_bytes(w_.layers[il]);
      l.need.kv += 2 * kv_row * kv_tokens;
    }
    if (l.out)
      l.need.weights += align_up(view_bytes(w_.output_norm)) + align_up(view_bytes(w_.output));
    if (l.embd && !(l.out && w_.output.data == w_.token_embd.data)) {
      l.need.weights += align_up(view_bytes(w_.token_embd));
    }
    if (l.need.layers > 0 || l.embd || l.out) {
      l.need.scratch = Scratch::bytes(dims(), kScratchRowsEstimate, kScratchLogitRowsEstimate);
    }
    return l;
  };
  const uint32_t ngl =
      opts.n_gpu_layers < 0 || static_cast<uint32_t>(opts.n_gpu_layers) > n ? n : opts.n_gpu_layers;
  const Layout want = layout(ngl);
  const uint64_t free_bytes = dev.device().host_memory ? 0 : main->memory_free();
  if (free_bytes != 0 && want.need.total() > free_bytes) {
    uint32_t fit = 0;
    for (uint32_t k = ngl; k-- > 0;) {
      if (layout(k).need.total() <= free_bytes) {
        fit = k;
        break;
      }
    }
    const Need& w = want.need;
    return make_error(str_format(
        "%s: does not fit on %s: %u layers need %s (weights %s, KV cache for %u tokens %s, "
        "scratch %s) but %s is free; -ngl %u would fit (of %u layers)%s",
        file_.path().c_str(), dev.device().name.c_str(), w.layers, human_bytes(w.total()).c_str(),
        human_bytes(w.weights).c_str(), opts.n_ctx, human_bytes(w.kv).c_str(),
        human_bytes(w.scratch).c_str(), human_bytes(free_bytes).c_str(), fit, n,
        fit == 0 ? ", i.e. the CPU only" : ""));
  }
  // Execs in use: the device (when anything runs there), then the CPU (when anything stays).
  const auto n_dev = static_cast<uint32_t>(std::count(want.on_dev.begin(), want.on_dev.end(), 1));
  const bool dev_used = n_dev > 0 || want.embd || want.out;
  const bool cpu_used = n_dev != n || !want.embd || !want.out;
  if (dev_used) add_exec(std::move(main));
  if (cpu_used) add_exec(std::move(cpu));
  const uint8_t d = 0, c = dev_used ? 1 : 0;
  for (uint32_t il = 0; il < n; ++il) layer_exec_[il] = want.on_dev[il] ? d : c;
  embd_exec_ = want.embd ? d : c;
  out_exec_ = want.out ? d : c;
  if (dev_used && !execs_[d]->host) DARI_TRY(upload_weights(d));
  return pack_weights();
}

Status TransformerModel::upload_weights(uint8_t exec) {
  Exec& ex = *execs_[exec];
  Backend& be = *ex.backend;
  struct Item {
    std::string name;
    TensorView* view;
  };
  std::vector<Item> items;
  if (embd_exec_ == exec) items.push_back({"token_embd.weight", &w_.token_embd});
  for (uint32_t il = 0; il < cfg_.n_layer; ++il) {
    if (layer_exec_[il] != exec) continue;
    for (const auto& [name, v] : layer_tensors(w_.layers[il])) {
      if (!v->empty()) items.push_back({str_format("blk.%u.%s", il, name), v});
    }
  }
  if (out_exec_ == exec) {
    items.push_back({"output_norm.weight", &w_.output_norm});
    items.push_back({"output.weight", &w_.output});
  }
  // Group tensors into buffers of at most min(max_buffer, 1 GiB); a tensor shared by two views
  // (tied output) is uploaded once.
  const uint64_t max_buf = be.device().max_buffer;
  const uint64_t cap = max_buf != 0 ? std::min(max_buf, kGroupBytes) : kGroupBytes;
  struct Place {
    size_t group;
    uint64_t offset, bytes;
  };
  std::map<const void*, Place> where;
  std::vector<uint64_t> groups;
  for (const Item& it : items) {
    if (where.count(it.view->data) != 0) continue;
    const uint64_t b = view_bytes(*it.view);
    if (max_buf != 0 && b > max_buf) {
      return make_error(str_format("%s: tensor '%s' (%s) is larger than %s's largest buffer (%s)",
                                   file_.path().c_str(), it.name.c_str(), human_bytes(b).c_str(),
                                   be.device().name.c_str(), human_bytes(max_buf).c_str()));
    }
    if (groups.empty() || groups.back() + b > cap) groups.push_back(0);
    where[it.view->data] = Place{groups.size() - 1, groups.back(), b};
    groups.back() = align_up(groups.back() + b);
  }
  for (size_t g = 0; g < groups.size(); ++g) {
    auto buf = be.alloc(groups[g]);
    if (!buf.ok()) {
      return make_error(str_format("%s: cannot allocate weight buffer %zu of %zu (%s) on %s: %s",
                                   file_.path().c_str(), g + 1, groups.size(),
                                   human_bytes(groups[g]).c_str(), be.device().name.c_str(),
                                   buf.message().c_str()));
    }
    ex.weights.push_back(std::move(buf).value());
  }
  std::map<const void*, void*> moved;  // host source -> device address
  for (const auto& [host, p] : where) {
    uint8_t* dst = static_cast<uint8_t*>(ex.weights[p.group]->data()) + p.offset;
    DARI_TRY(be.upload(dst, host, p.bytes));
    moved[host] = dst;
  }
  for (const Item& it : items) it.view->data = moved.at(it.view->data);
  // Mapped pages of uploaded tensors that no host-side view reads any more can go.
  std::set<const void*> host_views;
  if (execs_[embd_exec_]->host) host_views.insert(w_.token_embd.data);
  if (execs_[out_exec_]->host) host_views.insert(w_.output.data);
  for (uint32_t il = 0; il < cfg_.n_layer; ++il) {
    if (!execs_[layer_exec_[il]]->host) continue;
    for (const auto& [name, v] : layer_tensors(w_.layers[il])) host_views.insert(v->data);
  }
  for (const GgufTensorInfo& t : file_.tensors()) {
    if (moved.count(t.data) != 0 && host_views.count(t.data) == 0) file_.release_tensor_pages(t);
  }
  return Status::Ok();
}

Status TransformerModel::pack_weights() {
  std::vector<std::pair<uint8_t, const TensorView*>> mats{{out_exec_, &w_.output}};
  for (uint32_t il = 0; il < cfg_.n_layer; ++il) {
    const LayerWeights& L = w_.layers[il];
    for (const TensorView* v : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down}) {
      mats.emplace_back(layer_exec_[il], v);
    }
  }
  std::map<const void*, const GgufTensorInfo*> by_data;
  for (const GgufTensorInfo& t : file_.tensors()) by_data.emplace(t.data, &t);
  for (const auto& [exec, v] : mats) {
    // A device gets its own copy's address; it may keep a faster layout of it.
    DARI_ASSIGN_OR_RETURN(const bool copied, execs_[exec]->backend->pack_weight(*v));
    const auto it = by_data.find(v->data);
    if (copied && execs_[exec]->host && it != by_data.end() && v->data != w_.token_embd.data) {
      file_.release_tensor_pages(*it->second);
    }
  }
  return Status::Ok();
}

}  // namespace dari
