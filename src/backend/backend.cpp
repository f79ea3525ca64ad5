#include "dari/backend/backend.h"

#include <map>
#include <mutex>

#include "backend/cpu/cpu_backend.h"

namespace dari {

std::string_view op_name(OpKind kind) {
  switch (kind) {
    case OpKind::kMatmul: return "matmul";
    case OpKind::kRmsNorm: return "rms_norm";
    case OpKind::kRope: return "rope";
    case OpKind::kSoftmax: return "softmax";
    case OpKind::kSiluMul: return "silu_mul";
    case OpKind::kAdd: return "add";
    case OpKind::kMul: return "mul";
    case OpKind::kGetRows: return "get_rows";
    case OpKind::kSetRows: return "set_rows";
    case OpKind::kAttention: return "attention";
    case OpKind::kCopy: return "copy";
  }
  return "unknown";
}

DariTensorView to_c_view(const TensorView& v) {
  DariTensorView c{};
  c.data = v.data;
  c.type = static_cast<uint32_t>(v.type);
  for (int i = 0; i < 4; ++i) {
    c.ne[i] = v.ne[i];
    c.nb[i] = v.nb[i];
  }
  return c;
}

TensorView from_c_view(const DariTensorView& c) {
  TensorView v;
  v.data = c.data;
  v.type = static_cast<GgmlType>(c.type);
  for (int i = 0; i < 4; ++i) {
    v.ne[i] = c.ne[i];
    v.nb[i] = c.nb[i];
  }
  return v;
}

Op make_op(OpKind kind, std::initializer_list<TensorView> srcs, const TensorView& dst,
           const OpParams& params) {
  Op op{};
  op.kind = static_cast<uint32_t>(kind);
  uint32_t n = 0;
  for (const TensorView& s : srcs) {
    if (n < 3) op.src[n++] = to_c_view(s);
  }
  op.n_src = n;
  op.dst = to_c_view(dst);
  op.params = params;
  return op;
}

Status Backend::matmul(const TensorView& w, const TensorView& x, const TensorView& y) {
  return run(make_op(OpKind::kMatmul, {w, x}, y));
}

Status Backend::rms_norm(const TensorView& x, const TensorView& weight, float eps,
                         const TensorView& y) {
  OpParams p{};
  p.eps = eps;
  if (weight.empty()) return run(make_op(OpKind::kRmsNorm, {x}, y, p));
  return run(make_op(OpKind::kRmsNorm, {x, weight}, y, p));
}

Status Backend::rope(const TensorView& x, const DariRopeParams& rp, const TensorView& y) {
  OpParams p{};
  p.rope = rp;
  return run(make_op(OpKind::kRope, {x}, y, p));
}

Status Backend::softmax(const TensorView& x, float scale, const TensorView& y) {
  OpParams p{};
  p.scale = scale;
  return run(make_op(OpKind::kSoftmax, {x}, y, p));
}

Status Backend::silu_mul(const TensorView& gate, const TensorView& up, const TensorView& y) {
  return run(make_op(OpKind::kSiluMul, {gate, up}, y));
}

Status Backend::add(const TensorView& a, const TensorView& b, const TensorView& y) {
  return run(make_op(OpKind::kAdd, {a, b}, y));
}

Status Backend::mul(const TensorView& a, const TensorView& b, const TensorView& y) {
  return run(make_op(OpKind::kMul, {a, b}, y));
}

Status Backend::get_rows(const TensorView& table, std::span<const int32_t> ids,
                         const TensorView& y) {
  OpParams p{};
  p.row_ids = ids.data();
  p.n_row_ids = static_cast<int64_t>(ids.size());
  return run(make_op(OpKind::kGetRows, {table}, y, p));
}

Status Backend::set_rows(const TensorView& x, std::span<const int32_t> ids, const TensorView& dst) {
  OpParams p{};
  p.row_ids = ids.data();
  p.n_row_ids = static_cast<int64_t>(ids.size());
  return run(make_op(OpKind::kSetRows, {x}, dst, p));
}

Status Backend::attention(const TensorView& q, const TensorView& k_cache,
                          const TensorView& v_cache, const DariAttentionParams& ap,
                          const TensorView& y) {
  OpParams p{};
  p.attn = ap;
  return run(make_op(OpKind::kAttention, {q, k_cache, v_cache}, y, p));
}

Status Backend::copy(const TensorView& x, const TensorView& y) {
  return run(make_op(OpKind::kCopy, {x}, y));
}

namespace {

struct Registry {
  std::mutex mu;
  std::map<std::string, BackendFactory> factories;
};

Registry& registry() {
  static Registry* r = [] {
    auto* reg = new Registry;
    reg->factories["cpu"] = [](const BackendOptions& o) { return create_cpu_backend(o); };
    return reg;
  }();
  return *r;
}

}  // namespace

void register_backend(const std::string& name, BackendFactory factory) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  r.factories[name] = std::move(factory);
}

std::vector<std::string> backend_names() {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  std::vector<std::string> out;
  for (const auto& [name, f] : r.factories) out.push_back(name);
  return out;
}

Result<std::unique_ptr<Backend>> create_backend(const std::string& name,
                                                const BackendOptions& opts) {
  BackendFactory factory;
  {
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mu);
    auto it = r.factories.find(name);
    if (it == r.factories.end()) {
      std::string known;
      for (const auto& [n, f] : r.factories) known += (known.empty() ? "" : ", ") + n;
      return make_error("unknown backend '" + name + "' (registered: " + known + ")");
    }
    factory = it->second;
  }
  return factory(opts);
}

}  // namespace dari
