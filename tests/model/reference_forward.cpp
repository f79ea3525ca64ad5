#include "model/reference_forward.h"

#include <cmath>
#include <map>
#include <numbers>
#include <string>

#include "dari/tensor/dtype.h"

namespace dari::test {
namespace {

using Vec = std::vector<double>;

struct Mat {
  uint64_t rows = 0, cols = 0;  // rows = output features (ne1), cols = input (ne0)
  Vec v;
  Vec mul(const Vec& x) const {
    Vec y(rows, 0.0);
    for (uint64_t r = 0; r < rows; ++r) {
      double s = 0.0;
      for (uint64_t c = 0; c < cols; ++c) s += v[r * cols + c] * x[c];
      y[r] = s;
    }
    return y;
  }
};

Result<Mat> load(const GgufFile& f, const std::string& name) {
  const GgufTensorInfo* t = f.find_tensor(name);
  if (t == nullptr) return make_error("reference: missing " + name);
  Mat m;
  m.cols = t->ne[0];
  m.rows = t->n_elements / t->ne[0];
  DARI_ASSIGN_OR_RETURN(std::vector<float> fl,
                        dequantize_tensor(t->type, t->data, t->n_bytes, m.rows, m.cols));
  m.v.assign(fl.begin(), fl.end());
  return m;
}

Vec rms(const Vec& x, const Vec& w, double eps) {
  double ss = 0.0;
  for (double a : x) ss += a * a;
  double s = 1.0 / std::sqrt(ss / static_cast<double>(x.size()) + eps);
  Vec y(x.size());
  for (size_t i = 0; i < x.size(); ++i) y[i] = x[i] * s * w[i];
  return y;
}

struct Hp {
  std::string arch;
  uint32_t n_embd, n_layer, n_head, n_kv, hd, n_rot;
  double eps, base, lin_scale = 1.0;
  bool neox;
  Vec freq_factor;  // per rotated pair (1 = none)
};

Result<Hp> read_hp(const GgufFile& f) {
  Hp h;
  DARI_ASSIGN_OR_RETURN(h.arch, f.get_string("general.architecture"));
  const std::string a = h.arch;
  DARI_ASSIGN_OR_RETURN(h.n_embd, f.get_u32(a + ".embedding_length"));
  DARI_ASSIGN_OR_RETURN(h.n_layer, f.get_u32(a + ".block_count"));
  DARI_ASSIGN_OR_RETURN(h.n_head, f.get_u32(a + ".attention.head_count"));
  DARI_ASSIGN_OR_RETURN(h.n_kv, f.get_u32_or(a + ".attention.head_count_kv", h.n_head));
  DARI_ASSIGN_OR_RETURN(h.hd, f.get_u32_or(a + ".attention.key_length", h.n_embd / h.n_head));
  DARI_ASSIGN_OR_RETURN(h.n_rot, f.get_u32_or(a + ".rope.dimension_count", h.hd));
  DARI_ASSIGN_OR_RETURN(float eps, f.get_f32_or(a + ".attention.layer_norm_rms_epsilon", 1e-5f));
  DARI_ASSIGN_OR_RETURN(float base, f.get_f32_or(a + ".rope.freq_base", 10000.0f));
  h.eps = eps;
  h.base = base;
  h.neox = a != "llama";
  h.freq_factor.assign(h.n_rot / 2, 1.0);
  DARI_ASSIGN_OR_RETURN(std::string scaling, f.get_string_or(a + ".rope.scaling.type", "none"));
  DARI_ASSIGN_OR_RETURN(float factor, f.get_f32_or(a + ".rope.scaling.factor", 1.0f));
  DARI_ASSIGN_OR_RETURN(uint32_t orig, f.get_u32_or(a + ".rope.scaling.original_context_length", 0));
  if (scaling == "linear") h.lin_scale = 1.0 / factor;
  if (f.find_tensor("rope_freqs.weight") != nullptr) {
    DARI_ASSIGN_OR_RETURN(Mat ff, load(f, "rope_freqs.weight"));
    h.freq_factor = ff.v;
  } else if (scaling == "llama3") {
    // Meta's llama3 rule with low_freq_factor 1, high_freq_factor 4.
    const double lo = 1.0, hi = 4.0;
    for (uint32_t i = 0; i < h.n_rot / 2; ++i) {
      double freq = 1.0 / std::pow(h.base, 2.0 * i / h.n_rot);
      double wavelen = 2.0 * std::numbers::pi / freq;
      double scaled = freq;
      if (wavelen > orig / lo) {
        scaled = freq / factor;
      } else if (wavelen >= orig / hi) {
        double smooth = (orig / wavelen - lo) / (hi - lo);
        scaled = (1.0 - smooth) * freq / factor + smooth * freq;
      }
      h.freq_factor[i] = freq / scaled;
    }
  }
  return h;
}

void apply_rope(Vec& x, uint32_t heads, const Hp& h, int64_t pos) {
  const uint32_t half = h.n_rot / 2;
  for (uint32_t hh = 0; hh < heads; ++hh) {
    double* v = x.data() + static_cast<size_t>(hh) * h.hd;
    for (uint32_t i = 0; i < half; ++i) {
      double theta = static_cast<double>(pos) * h.lin_scale * std::pow(h.base, -2.0 * i / h.n_rot) /
                     h.freq_factor[i];
      uint32_t a = h.neox ? i : 2 * i, b = h.neox ? i + half : 2 * i + 1;
      double x0 = v[a], x1 = v[b];
      v[a] = x0 * std::cos(theta) - x1 * std::sin(theta);
      v[b] = x0 * std::sin(theta) + x1 * std::cos(theta);
    }
  }
}

}  // namespace

Result<std::vector<std::vector<double>>> reference_forward(const GgufFile& f,
                                                           const std::vector<int32_t>& tokens) {
  DARI_ASSIGN_OR_RETURN(Hp h, read_hp(f));
  std::map<std::string, Mat> w;
  for (const GgufTensorInfo& t : f.tensors()) {
    DARI_ASSIGN_OR_RETURN(w[t.name], load(f, t.name));
  }
  auto get = [&](const std::string& n) -> const Mat& { return w.at(n); };
  const Mat& embd = get("token_embd.weight");
  const Mat& out = w.count("output.weight") ? get("output.weight") : embd;
  const uint32_t group = h.n_head / h.n_kv;
  std::vector<std::vector<Vec>> keys(h.n_layer), vals(h.n_layer);
  std::vector<std::vector<double>> logits;
  for (size_t pos = 0; pos < tokens.size(); ++pos) {
    Vec x(embd.v.begin() + tokens[pos] * embd.cols, embd.v.begin() + (tokens[pos] + 1) * embd.cols);
    for (uint32_t il = 0; il < h.n_layer; ++il) {
      const std::string p = "blk." + std::to_string(il) + ".";
      Vec n = rms(x, get(p + "attn_norm.weight").v, h.eps);
      Vec q = get(p + "attn_q.weight").mul(n), k = get(p + "attn_k.weight").mul(n);
      Vec v = get(p + "attn_v.weight").mul(n);
      if (w.count(p + "attn_q.bias")) {
        for (size_t i = 0; i < q.size(); ++i) q[i] += get(p + "attn_q.bias").v[i];
        for (size_t i = 0; i < k.size(); ++i) k[i] += get(p + "attn_k.bias").v[i];
        for (size_t i = 0; i < v.size(); ++i) v[i] += get(p + "attn_v.bias").v[i];
      }
      if (w.count(p + "attn_q_norm.weight")) {
        for (auto [vec, heads, nm] : {std::tuple{&q, h.n_head, "attn_q_norm.weight"},
                                      std::tuple{&k, h.n_kv, "attn_k_norm.weight"}}) {
          for (uint32_t hh = 0; hh < heads; ++hh) {
            Vec head(vec->begin() + hh * h.hd, vec->begin() + (hh + 1) * h.hd);
            head = rms(head, get(p + nm).v, h.eps);
            std::copy(head.begin(), head.end(), vec->begin() + hh * h.hd);
          }
        }
      }
      apply_rope(q, h.n_head, h, static_cast<int64_t>(pos));
      apply_rope(k, h.n_kv, h, static_cast<int64_t>(pos));
      keys[il].push_back(k);
      vals[il].push_back(v);
      Vec att(static_cast<size_t>(h.n_head) * h.hd, 0.0);
      for (uint32_t hh = 0; hh < h.n_head; ++hh) {
        const size_t qo = static_cast<size_t>(hh) * h.hd, ko = static_cast<size_t>(hh / group) * h.hd;
        Vec sc(pos + 1);
        double mx = -INFINITY;
        for (size_t t = 0; t <= pos; ++t) {
          double s = 0.0;
          for (uint32_t d = 0; d < h.hd; ++d) s += q[qo + d] * keys[il][t][ko + d];
          sc[t] = s / std::sqrt(static_cast<double>(h.hd));
          mx = std::max(mx, sc[t]);
        }
        double z = 0.0;
        for (double& s : sc) z += (s = std::exp(s - mx));
        for (size_t t = 0; t <= pos; ++t) {
          for (uint32_t d = 0; d < h.hd; ++d) att[qo + d] += sc[t] / z * vals[il][t][ko + d];
        }
      }
      Vec o = get(p + "attn_output.weight").mul(att);
      for (size_t i = 0; i < x.size(); ++i) x[i] += o[i];
      n = rms(x, get(p + "ffn_norm.weight").v, h.eps);
      Vec g = get(p + "ffn_gate.weight").mul(n), u = get(p + "ffn_up.weight").mul(n);
      for (size_t i = 0; i < g.size(); ++i) g[i] = g[i] / (1.0 + std::exp(-g[i])) * u[i];
      Vec d = get(p + "ffn_down.weight").mul(g);
      for (size_t i = 0; i < x.size(); ++i) x[i] += d[i];
    }
    logits.push_back(out.mul(rms(x, get("output_norm.weight").v, h.eps)));
  }
  return logits;
}

}  // namespace dari::test
