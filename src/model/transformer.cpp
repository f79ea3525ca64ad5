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

// Row bookkeeping for one forward() call.
struct TransformerModel::Plan {
  int64_t n_rows = 0;
  std::vector<int32_t> cache_rows;     // [rows] KV cache row each token is written to
  std::vector<int32_t> row_seq;        // [rows] index into tables
  std::vector<const int32_t*> tables;  // per distinct sequence in the batch
  std::vector<int32_t> table_sizes;
  std::vector<int32_t> logit_rows;  // rows needing logits, in row order
  DariAttentionParams attn{};
  DariRopeParams rope{};
};

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
  DARI_ASSIGN_OR_RETURN(std::unique_ptr<Backend> backend, create_backend(opts.backend, bo));
  if (!backend->device().host_memory) {
    // Weights and the KV cache live in host memory; device-buffer upload is not implemented yet.
    return make_error("backend '" + opts.backend + "' does not use host memory (unsupported)");
  }
  std::unique_ptr<TransformerModel> m(new TransformerModel(std::move(file), std::move(backend)));
  auto cfg = read_model_config(m->file_, *arch);
  if (!cfg.ok()) return make_error(m->file_.path() + ": " + cfg.message());
  m->cfg_ = std::move(cfg).value();
  DARI_TRY(m->bind(*arch));
  DARI_TRY(m->pack_weights());
  return std::unique_ptr<Model>(std::move(m));
}

Status TransformerModel::pack_weights() {
  std::vector<const TensorView*> mats{&w_.output};
  for (const LayerWeights& L : w_.layers) {
    for (const TensorView* v : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down}) {
      mats.push_back(v);
    }
  }
  std::map<const void*, const GgufTensorInfo*> by_data;
  for (const GgufTensorInfo& t : file_.tensors()) by_data.emplace(t.data, &t);
  for (const TensorView* v : mats) {
    DARI_ASSIGN_OR_RETURN(const bool copied, backend_->pack_weight(*v));
    const auto it = by_data.find(v->data);
    if (copied && it != by_data.end() && v->data != w_.token_embd.data) {
      file_.release_tensor_pages(*it->second);
    }
  }
  return Status::Ok();
}

Status TransformerModel::bind(const ArchSpec& arch) {
  WeightBinder b(file_, *backend_);
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
  }
  DariAttentionParams& ap = plan->attn;
  ap.n_head = static_cast<int32_t>(cfg_.n_head);
  ap.n_head_kv = static_cast<int32_t>(cfg_.n_head_kv);
  ap.block_tokens = bt;
  ap.n_seqs = static_cast<int32_t>(plan->tables.size());
  ap.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(cfg_.head_dim)));
  ap.positions = batch.positions.data();
  ap.row_seq = plan->row_seq.data();
  ap.block_tables = plan->tables.data();
  ap.block_counts = plan->table_sizes.data();
  DariRopeParams& rp = plan->rope;
  rp.n_dims = static_cast<int32_t>(cfg_.rope_dim);
  rp.mode = cfg_.rope_type == RopeType::kNeox ? DARI_ROPE_NEOX : DARI_ROPE_NORMAL;
  rp.freq_base = cfg_.rope_freq_base;
  rp.freq_scale = cfg_.rope_scaling == RopeScaling::kLinear ? 1.0f / cfg_.rope_scale_factor : 1.0f;
  rp.freq_factors = freq_factors_;
  rp.positions = batch.positions.data();
  return Status::Ok();
}

Status TransformerModel::run_layer(uint32_t il, const Plan& plan, KvCache& kv, float* x) {
  const LayerWeights& L = w_.layers[il];
  Backend& be = *backend_;
  const int64_t m = plan.n_rows, e = cfg_.n_embd, hd = cfg_.head_dim;
  const int64_t nh = cfg_.n_head, nkv = cfg_.n_head_kv, ff = cfg_.n_ff;
  auto f32 = [](float* p, int64_t ne0, int64_t ne1, int64_t ne2 = 1) {
    return TensorView::contiguous(p, GgmlType::F32, ne0, ne1, ne2);
  };
  const TensorView xv = f32(x, e, m), cur = f32(cur_.data(), e, m);
  const TensorView q = f32(q_.data(), nh * hd, m), k = f32(k_.data(), nkv * hd, m);
  const TensorView v = f32(v_.data(), nkv * hd, m), att = f32(att_.data(), nh * hd, m);
  // Attention block.
  DARI_TRY(be.rms_norm(xv, L.attn_norm, cfg_.rms_eps, cur));
  DARI_TRY(be.matmul(L.wq, cur, q));
  DARI_TRY(be.matmul(L.wk, cur, k));
  DARI_TRY(be.matmul(L.wv, cur, v));
  if (!L.bq.empty()) {
    DARI_TRY(be.add(q, L.bq, q));
    DARI_TRY(be.add(k, L.bk, k));
    DARI_TRY(be.add(v, L.bv, v));
  }
  const TensorView qh = f32(q_.data(), hd, nh, m), kh = f32(k_.data(), hd, nkv, m);
  if (!L.q_norm.empty()) {
    DARI_TRY(be.rms_norm(qh, L.q_norm, cfg_.rms_eps, qh));
    DARI_TRY(be.rms_norm(kh, L.k_norm, cfg_.rms_eps, kh));
  }
  DARI_TRY(be.rope(qh, plan.rope, qh));
  DARI_TRY(be.rope(kh, plan.rope, kh));
  const KvCacheOptions& ko = kv.options();
  const int64_t cache_rows = int64_t{ko.n_blocks} * ko.block_tokens;
  const TensorView kc = TensorView::contiguous(kv.k_row(il, 0, 0), ko.dtype, nkv * hd, cache_rows);
  const TensorView vc = TensorView::contiguous(kv.v_row(il, 0, 0), ko.dtype, nkv * hd, cache_rows);
  DARI_TRY(be.set_rows(k, plan.cache_rows, kc));
  DARI_TRY(be.set_rows(v, plan.cache_rows, vc));
  DARI_TRY(be.attention(qh, kc, vc, plan.attn, f32(att_.data(), hd, nh, m)));
  DARI_TRY(be.matmul(L.wo, att, cur));
  DARI_TRY(be.add(xv, cur, xv));
  // Feed-forward block (SwiGLU).
  const TensorView g = f32(gate_.data(), ff, m), u = f32(up_.data(), ff, m);
  DARI_TRY(be.rms_norm(xv, L.ffn_norm, cfg_.rms_eps, cur));
  DARI_TRY(be.matmul(L.w_gate, cur, g));
  DARI_TRY(be.matmul(L.w_up, cur, u));
  DARI_TRY(be.silu_mul(g, u, g));
  DARI_TRY(be.matmul(L.w_down, g, cur));
  DARI_TRY(be.add(xv, cur, xv));
  return Status::Ok();
}

Status TransformerModel::forward(const ForwardBatch& batch, KvCache& kv,
                                 std::vector<float>* logits) {
  if (logits == nullptr) return make_error("forward: logits output is null");
  std::lock_guard<std::mutex> lock(forward_mu_);
  logits->clear();
  Plan plan;
  DARI_TRY(plan_batch(batch, kv, &plan));
  const int64_t m = plan.n_rows;
  if (m == 0) return Status::Ok();
  const auto e = static_cast<size_t>(cfg_.n_embd), rows = static_cast<size_t>(m);
  const auto qd = static_cast<size_t>(cfg_.n_head) * cfg_.head_dim;
  const auto kvd = static_cast<size_t>(cfg_.n_head_kv) * cfg_.head_dim;
  std::vector<float> x(e * rows);
  cur_.resize(e * rows);
  q_.resize(qd * rows);
  att_.resize(qd * rows);
  k_.resize(kvd * rows);
  v_.resize(kvd * rows);
  gate_.resize(static_cast<size_t>(cfg_.n_ff) * rows);
  up_.resize(static_cast<size_t>(cfg_.n_ff) * rows);
  const TensorView xv = TensorView::contiguous(x.data(), GgmlType::F32, cfg_.n_embd, m);
  DARI_TRY(backend_->get_rows(w_.token_embd, batch.tokens, xv));
  for (uint32_t il = 0; il < cfg_.n_layer; ++il) DARI_TRY(run_layer(il, plan, kv, x.data()));
  const auto n_out = static_cast<int64_t>(plan.logit_rows.size());
  if (n_out == 0) return Status::Ok();
  // Final norm and output projection only for the rows that need logits.
  std::vector<float> sel(e * static_cast<size_t>(n_out));
  const TensorView sv = TensorView::contiguous(sel.data(), GgmlType::F32, cfg_.n_embd, n_out);
  DARI_TRY(backend_->get_rows(xv, plan.logit_rows, sv));
  DARI_TRY(backend_->rms_norm(sv, w_.output_norm, cfg_.rms_eps, sv));
  logits->resize(static_cast<size_t>(cfg_.n_vocab) * static_cast<size_t>(n_out));
  DARI_TRY(backend_->matmul(
      w_.output, sv, TensorView::contiguous(logits->data(), GgmlType::F32, cfg_.n_vocab, n_out)));
  return Status::Ok();
}

}  // namespace dari
