// The llama-family forward pass, composed only of backend ops.
//
// Activations are row-major [rows][features] F32 (one row per batch token). Every op treats rows
// independently and the CPU kernels use a fixed reduction order per row, so a sequence's logits do
// not depend on what else shares the batch.
#include "model/transformer.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "dari/core/strings.h"

namespace dari {

Result<std::unique_ptr<Model>> TransformerModel::create(GgufFile file,
                                                        const ModelLoadOptions& opts) {
  DARI_ASSIGN_OR_RETURN(std::string arch_name, file.get_string("general.architecture"));
  const ArchSpec* arch = find_arch(arch_name);
  if (arch == nullptr) {
    return make_error(file.path() + ": unknown architecture '" + printable(arch_name) +
                      "' (supported: " + known_arch_names() + ")");
  }
  BackendOptions bo;
  bo.n_threads = opts.n_threads;
  bo.repack = opts.repack;
  bo.profile = opts.profile;
  DARI_ASSIGN_OR_RETURN(std::unique_ptr<Backend> main, create_backend(opts.backend, bo));
  std::shared_ptr<Backend> main_shared(std::move(main)), cpu;
  if (main_shared->device().backend != "cpu") {
    // A device: the CPU runs what the device does not (-ngl, declined layers) and checks the
    // weight types at bind time (every type the model can run at all runs on the CPU).
    DARI_ASSIGN_OR_RETURN(std::unique_ptr<Backend> c, create_backend("cpu", bo));
    cpu = std::move(c);
  }
  std::unique_ptr<TransformerModel> m(new TransformerModel(std::move(file)));
  auto cfg = read_model_config(m->file_, *arch);
  if (!cfg.ok()) return make_error(m->file_.path() + ": " + cfg.message());
  m->cfg_ = std::move(cfg).value();
  DARI_TRY(m->bind(*arch, cpu != nullptr ? *cpu : *main_shared));
  DARI_TRY(m->place(opts, std::move(main_shared), std::move(cpu)));
  return std::unique_ptr<Model>(std::move(m));
}

std::vector<OpProfile> TransformerModel::op_profile() const {
  std::vector<OpProfile> out;
  for (const auto& e : execs_) {
    for (OpProfile& p : e->backend->op_profile()) {
      if (execs_.size() > 1) p.op = e->backend->device().name + " " + p.op;
      out.push_back(std::move(p));
    }
  }
  return out;
}

void TransformerModel::reset_op_profile() {
  for (const auto& e : execs_) e->backend->reset_op_profile();
}

std::vector<std::shared_ptr<Backend>> TransformerModel::kv_backends() const {
  std::vector<std::shared_ptr<Backend>> out(cfg_.n_layer);
  bool any = false;
  for (uint32_t il = 0; il < cfg_.n_layer; ++il) {
    const Exec& e = *execs_[layer_exec_[il]];
    if (!e.host) {
      out[il] = e.backend;
      any = true;
    }
  }
  if (!any) out.clear();
  return out;
}

ModelPlacement TransformerModel::placement() const {
  ModelPlacement p;
  auto name = [&](uint8_t e) { return execs_[e]->backend->device().name; };
  for (uint8_t e : layer_exec_) p.layers.push_back(name(e));
  p.embedding = name(embd_exec_);
  p.output = name(out_exec_);
  for (const auto& e : execs_) {
    for (const auto& b : e->weights) p.device_weight_bytes += b->size();
  }
  return p;
}

Backend::Transfers TransformerModel::transfers() const {
  Backend::Transfers t;
  for (const auto& e : execs_) {
    t.uploaded += e->backend->transfers().uploaded;
    t.downloaded += e->backend->transfers().downloaded;
  }
  return t;
}

Status TransformerModel::bind(const ArchSpec& arch, const Backend& checker) {
  WeightBinder b(file_, checker);
  const GgufTensorInfo* te = file_.find_tensor("token_embd.weight");
  if (te == nullptr) return make_error(file_.path() + ": missing tensor 'token_embd.weight'");
  if (cfg_.n_vocab == 0) {
    if (te->ne[1] == 0 || te->ne[1] > (uint64_t{1} << 24)) {
      return make_error(file_.path() + ": token_embd.weight has a bad vocabulary dimension");
    }
    cfg_.n_vocab = static_cast<uint32_t>(te->ne[1]);
  }
  DARI_ASSIGN_OR_RETURN(w_.token_embd, b.embedding("token_embd.weight", cfg_.n_embd, cfg_.n_vocab));
  DARI_ASSIGN_OR_RETURN(w_.output_norm, b.vector("output_norm.weight", cfg_.n_embd));
  cfg_.tied_output = !b.has("output.weight");
  if (cfg_.tied_output) {
    DARI_ASSIGN_OR_RETURN(w_.output, b.matrix("token_embd.weight", cfg_.n_embd, cfg_.n_vocab));
  } else {
    DARI_ASSIGN_OR_RETURN(w_.output, b.matrix("output.weight", cfg_.n_embd, cfg_.n_vocab));
  }
  w_.layers.resize(cfg_.n_layer);
  for (uint32_t il = 0; il < cfg_.n_layer; ++il) {
    DARI_TRY(arch.bind_layer(b, cfg_, il, &w_.layers[il]));
  }
  if (b.has("rope_freqs.weight")) {
    DARI_ASSIGN_OR_RETURN(w_.rope_freqs, b.vector("rope_freqs.weight", cfg_.rope_dim / 2));
    freq_factors_ = static_cast<const float*>(w_.rope_freqs.data);
  } else if (cfg_.rope_scaling == RopeScaling::kLlama3) {
    b.owned().push_back(llama3_freq_factors(cfg_));
    freq_factors_ = b.owned().back().data();
  }
  if (freq_factors_ != nullptr) {
    for (uint32_t i = 0; i < cfg_.rope_dim / 2; ++i) {
      if (!(freq_factors_[i] > 0.0f) || !std::isfinite(freq_factors_[i])) {
        return make_error(file_.path() + ": rope_freqs.weight must hold finite values > 0");
      }
    }
  }
  owned_ = std::move(b.owned());  // deque move keeps element addresses
  return Status::Ok();
}

Status TransformerModel::plan_batch(const ForwardBatch& batch, const KvCache& kv,
                                    Plan* plan) const {
  const size_t n = batch.tokens.size();
  if (batch.positions.size() != n || batch.seq_ids.size() != n || batch.need_logits.size() != n) {
    return make_error(
        str_format("forward: batch vectors differ in length (tokens %zu, positions "
                   "%zu, seq_ids %zu, need_logits %zu)",
                   n, batch.positions.size(), batch.seq_ids.size(), batch.need_logits.size()));
  }
  const KvCacheOptions& ko = kv.options();
  if (ko.n_layers != cfg_.n_layer || ko.n_kv_heads != cfg_.n_head_kv ||
      ko.head_dim != cfg_.head_dim) {
    return make_error("forward: KV cache shape does not match the model (use kv_options())");
  }
  if (!batch.need_hidden.empty() && batch.need_hidden.size() != n) {
    return make_error(str_format("forward: need_hidden has %zu entries for %zu tokens",
                                 batch.need_hidden.size(), n));
  }
  if (n > static_cast<size_t>(INT32_MAX)) return make_error("forward: batch too large");
  plan->n_rows = static_cast<int64_t>(n);
  std::map<SeqId, int32_t> seq_index;
  std::vector<uint32_t> next_pos;  // per batch sequence: the position its next row must have
  const int32_t bt = static_cast<int32_t>(ko.block_tokens);
  for (size_t i = 0; i < n; ++i) {
    const int32_t tok = batch.tokens[i];
    const SeqId s = batch.seq_ids[i];
    if (tok < 0 || static_cast<uint32_t>(tok) >= cfg_.n_vocab) {
      return make_error(
          str_format("forward: row %zu: token id %d out of range [0, %u)", i, tok, cfg_.n_vocab));
    }
    if (!kv.has_sequence(s))
      return make_error(str_format("forward: row %zu: unknown sequence %d", i, s));
    auto [it, inserted] = seq_index.emplace(s, static_cast<int32_t>(plan->tables.size()));
    if (inserted) {
      const std::vector<int32_t>& table = kv.block_table(s);
      plan->tables.push_back(table.data());
      plan->table_sizes.push_back(static_cast<int32_t>(table.size()));
      next_pos.push_back(kv.length(s));
    }
    const int32_t si = it->second;
    const int32_t pos = batch.positions[i];
    if (pos < 0 || static_cast<uint32_t>(pos) != next_pos[si]) {
      return make_error(str_format("forward: row %zu: sequence %d position %d, expected %u", i, s,
                                   pos, next_pos[si]));
    }
    ++next_pos[si];
    if (pos / bt >= plan->table_sizes[si]) {
      return make_error(
          str_format("forward: row %zu: sequence %d position %d has no reserved KV "
                     "block (call KvCache::reserve first)",
                     i, s, pos));
    }
    plan->row_seq.push_back(si);
    plan->cache_rows.push_back(plan->tables[si][pos / bt] * bt + pos % bt);
    if (batch.need_logits[i]) plan->logit_rows.push_back(static_cast<int32_t>(i));
    if (!batch.need_hidden.empty() && batch.need_hidden[i]) {
      plan->hidden_rows.push_back(static_cast<int32_t>(i));
    }
  }
  fill_params(plan, batch.positions.data(), bt);
  return Status::Ok();
}

void TransformerModel::fill_params(Plan* plan, const int32_t* positions,
                                   int32_t block_tokens) const {
  const int32_t bt = block_tokens;
  DariAttentionParams& ap = plan->attn;
  ap.n_head = static_cast<int32_t>(cfg_.n_head);
  ap.n_head_kv = static_cast<int32_t>(cfg_.n_head_kv);
  ap.block_tokens = bt;
  ap.n_seqs = static_cast<int32_t>(plan->tables.size());
  ap.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(cfg_.head_dim)));
  ap.positions = positions;
  ap.row_seq = plan->row_seq.data();
  ap.block_tables = plan->tables.data();
  ap.block_counts = plan->table_sizes.data();
  DariRopeParams& rp = plan->rope;
  rp.n_dims = static_cast<int32_t>(cfg_.rope_dim);
  rp.mode = cfg_.rope_type == RopeType::kNeox ? DARI_ROPE_NEOX : DARI_ROPE_NORMAL;
  rp.freq_base = cfg_.rope_freq_base;
  rp.freq_scale = cfg_.rope_scaling == RopeScaling::kLinear ? 1.0f / cfg_.rope_scale_factor : 1.0f;
  rp.freq_factors = freq_factors_;
  rp.positions = positions;
}

void TransformerModel::record_layer(OpGraph& g, uint32_t il, const Plan& plan,
                                    const ScratchViews& s, const TensorView& kc,
                                    const TensorView& vc) const {
  const LayerWeights& L = w_.layers[il];
  const int64_t m = plan.n_rows, e = cfg_.n_embd, hd = cfg_.head_dim;
  const int64_t nh = cfg_.n_head, nkv = cfg_.n_head_kv, ff = cfg_.n_ff;
  auto f32 = [](uint8_t* p, int64_t ne0, int64_t ne1, int64_t ne2 = 1) {
    return TensorView::contiguous(p, GgmlType::F32, ne0, ne1, ne2);
  };
  const TensorView xv = f32(s.x, e, m), cur = f32(s.cur, e, m);
  const TensorView q = f32(s.q, nh * hd, m), k = f32(s.k, nkv * hd, m);
  const TensorView v = f32(s.v, nkv * hd, m), att = f32(s.att, nh * hd, m);
  // Attention block.
  g.rms_norm(xv, L.attn_norm, cfg_.rms_eps, cur);
  g.matmul(L.wq, cur, q);
  g.matmul(L.wk, cur, k);
  g.matmul(L.wv, cur, v);
  if (!L.bq.empty()) {
    g.add(q, L.bq, q);
    g.add(k, L.bk, k);
    g.add(v, L.bv, v);
  }
  const TensorView qh = f32(s.q, hd, nh, m), kh = f32(s.k, hd, nkv, m);
  if (!L.q_norm.empty()) {
    g.rms_norm(qh, L.q_norm, cfg_.rms_eps, qh);
    g.rms_norm(kh, L.k_norm, cfg_.rms_eps, kh);
  }
  g.rope(qh, plan.rope, qh);
  g.rope(kh, plan.rope, kh);
  g.set_rows(k, plan.cache_rows, kc);
  g.set_rows(v, plan.cache_rows, vc);
  g.attention(qh, kc, vc, plan.attn, f32(s.att, hd, nh, m));
  g.matmul(L.wo, att, cur);
  g.add(xv, cur, xv);
  // Feed-forward block (SwiGLU).
  const TensorView gv = f32(s.gate, ff, m), u = f32(s.up, ff, m);
  g.rms_norm(xv, L.ffn_norm, cfg_.rms_eps, cur);
  g.matmul(L.w_gate, cur, gv);
  g.matmul(L.w_up, cur, u);
  g.silu_mul(gv, u, gv);
  g.matmul(L.w_down, gv, cur);
  g.add(xv, cur, xv);
}

Status TransformerModel::flush(uint8_t exec) {
  const Status st = execs_[exec]->backend->compute(graph_.ops());
  graph_.clear();
  return st;
}

Status TransformerModel::cross(uint8_t from, uint8_t to, uint8_t* ScratchViews::*region,
                               uint64_t bytes) {
  Exec& a = *execs_[from];
  Exec& b = *execs_[to];
  uint8_t* src = a.scratch.views().*region;
  uint8_t* dst = b.scratch.views().*region;
  if (a.host) return b.backend->upload(dst, src, bytes);  // src is host memory
  if (b.host) return a.backend->download(dst, src, bytes);
  stage_.resize(bytes / sizeof(float));  // two devices: through the host
  DARI_TRY(a.backend->download(stage_.data(), src, bytes));
  return b.backend->upload(dst, stage_.data(), bytes);
}

Status TransformerModel::forward(const ForwardBatch& batch, KvCache& kv,
                                 std::vector<float>* logits) {
  return forward_hidden(batch, kv, logits, nullptr);
}

Status TransformerModel::forward_hidden(const ForwardBatch& batch, KvCache& kv,
                                        std::vector<float>* logits, std::vector<float>* hidden) {
  if (logits == nullptr) return make_error("forward: logits output is null");
  std::lock_guard<std::mutex> lock(forward_mu_);
  logits->clear();
  if (hidden != nullptr) hidden->clear();
  Plan plan;
  DARI_TRY(plan_batch(batch, kv, &plan));
  const auto n_hid = static_cast<int64_t>(plan.hidden_rows.size());
  if (n_hid > 0 && hidden == nullptr) {
    return make_error("forward: rows need hidden states but the hidden output is null");
  }
  const int64_t m = plan.n_rows;
  if (m == 0) return Status::Ok();
  const auto n_out = static_cast<int64_t>(plan.logit_rows.size());
  const ScratchDims d = dims();
  for (size_t i = 0; i < execs_.size(); ++i) {
    DARI_TRY(execs_[i]->scratch.ensure(*execs_[i]->backend, d, m, n_out));
  }
  const KvCacheOptions& ko = kv.options();
  const int64_t cache_rows = int64_t{ko.n_blocks} * ko.block_tokens;
  const uint64_t x_bytes = static_cast<uint64_t>(d.e * m) * sizeof(float);
  graph_.clear();
  uint8_t cur = embd_exec_;
  graph_.get_rows(w_.token_embd, batch.tokens,
                  TensorView::contiguous(execs_[cur]->scratch.views().x, GgmlType::F32, d.e, m));
  for (uint32_t il = 0; il < cfg_.n_layer; ++il) {
    const uint8_t e = layer_exec_[il];
    if (e != cur) {  // boundary: run what this exec has, then move the activations once
      DARI_TRY(flush(cur));
      DARI_TRY(cross(cur, e, &ScratchViews::x, x_bytes));
      cur = e;
    }
    if (kv.layer_backend(il) != (execs_[e]->host ? nullptr : execs_[e]->backend.get())) {
      return make_error(str_format(
          "forward: layer %u's KV cache is not on the backend that runs it (make the cache "
          "from Model::kv_options())",
          il));
    }
    const TensorView kc = TensorView::contiguous(kv.k_row(il, 0, 0), ko.dtype, d.kvd, cache_rows);
    const TensorView vc = TensorView::contiguous(kv.v_row(il, 0, 0), ko.dtype, d.kvd, cache_rows);
    record_layer(graph_, il, plan, execs_[e]->scratch.views(), kc, vc);
  }
  if (n_out == 0 && n_hid == 0) return flush(cur);
  // Hidden states (embeddings): the rows that want them are gathered into `cur` (free after the
  // last layer, room for every row) and get the output norm with the same ops as the logits rows.
  const uint64_t hid_bytes = static_cast<uint64_t>(d.e * n_hid) * sizeof(float);
  if (n_hid > 0) {
    graph_.get_rows(
        TensorView::contiguous(execs_[cur]->scratch.views().x, GgmlType::F32, d.e, m),
        plan.hidden_rows,
        TensorView::contiguous(execs_[cur]->scratch.views().cur, GgmlType::F32, d.e, n_hid));
  }
  // Final norm and output projection only for the rows that need logits.
  const uint64_t sel_bytes = static_cast<uint64_t>(d.e * n_out) * sizeof(float);
  if (n_out > 0) {
    graph_.get_rows(
        TensorView::contiguous(execs_[cur]->scratch.views().x, GgmlType::F32, d.e, m),
        plan.logit_rows,
        TensorView::contiguous(execs_[cur]->scratch.views().sel, GgmlType::F32, d.e, n_out));
  }
  if (out_exec_ != cur) {
    DARI_TRY(flush(cur));
    if (n_out > 0) DARI_TRY(cross(cur, out_exec_, &ScratchViews::sel, sel_bytes));
    if (n_hid > 0) DARI_TRY(cross(cur, out_exec_, &ScratchViews::cur, hid_bytes));
    cur = out_exec_;
  }
  Exec& out = *execs_[out_exec_];
  void* hdst = nullptr;
  if (n_hid > 0) {
    hidden->resize(static_cast<size_t>(d.e) * static_cast<size_t>(n_hid));
    // A host-memory backend writes the hidden rows in place; a device normalises in its scratch.
    hdst = out.host ? static_cast<void*>(hidden->data()) : out.scratch.views().cur;
    graph_.rms_norm(TensorView::contiguous(out.scratch.views().cur, GgmlType::F32, d.e, n_hid),
                    w_.output_norm, cfg_.rms_eps,
                    TensorView::contiguous(hdst, GgmlType::F32, d.e, n_hid));
  }
  void* dst = nullptr;
  if (n_out > 0) {
    const TensorView sv =
        TensorView::contiguous(out.scratch.views().sel, GgmlType::F32, d.e, n_out);
    graph_.rms_norm(sv, w_.output_norm, cfg_.rms_eps, sv);
    logits->resize(static_cast<size_t>(d.vocab) * static_cast<size_t>(n_out));
    // A host-memory backend writes the logits in place; a device writes its scratch, downloaded.
    dst = out.host ? static_cast<void*>(logits->data()) : out.scratch.views().logits;
    graph_.matmul(w_.output, sv, TensorView::contiguous(dst, GgmlType::F32, d.vocab, n_out));
  }
  DARI_TRY(flush(cur));
  if (!out.host && n_out > 0) {
    DARI_TRY(out.backend->download(logits->data(), dst, logits->size() * sizeof(float)));
  }
  if (!out.host && n_hid > 0) DARI_TRY(out.backend->download(hidden->data(), hdst, hid_bytes));
  return Status::Ok();
}

ScratchDims TransformerModel::dims() const {
  ScratchDims d;
  d.e = cfg_.n_embd;
  d.qd = int64_t{cfg_.n_head} * cfg_.head_dim;
  d.kvd = int64_t{cfg_.n_head_kv} * cfg_.head_dim;
  d.ff = cfg_.n_ff;
  d.vocab = cfg_.n_vocab;
  return d;
}

}  // namespace dari
