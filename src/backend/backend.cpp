#include "dari/backend/backend.h"

#include <cstring>
#include <vector>

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

namespace {

// One builder per op; Backend's wrappers run the op, OpGraph's record it.
Op matmul_op(const TensorView& w, const TensorView& x, const TensorView& y) {
  return make_op(OpKind::kMatmul, {w, x}, y);
}
Op rms_norm_op(const TensorView& x, const TensorView& weight, float eps, const TensorView& y) {
  OpParams p{};
  p.eps = eps;
  if (weight.empty()) return make_op(OpKind::kRmsNorm, {x}, y, p);
  return make_op(OpKind::kRmsNorm, {x, weight}, y, p);
}
Op rope_op(const TensorView& x, const DariRopeParams& rp, const TensorView& y) {
  OpParams p{};
  p.rope = rp;
  return make_op(OpKind::kRope, {x}, y, p);
}
Op softmax_op(const TensorView& x, float scale, const TensorView& y) {
  OpParams p{};
  p.scale = scale;
  return make_op(OpKind::kSoftmax, {x}, y, p);
}
Op rows_op(OpKind kind, const TensorView& src, std::span<const int32_t> ids, const TensorView& y) {
  OpParams p{};
  p.row_ids = ids.data();
  p.n_row_ids = static_cast<int64_t>(ids.size());
  return make_op(kind, {src}, y, p);
}
Op attention_op(const TensorView& q, const TensorView& k_cache, const TensorView& v_cache,
                const DariAttentionParams& ap, const TensorView& y) {
  OpParams p{};
  p.attn = ap;
  return make_op(OpKind::kAttention, {q, k_cache, v_cache}, y, p);
}

}  // namespace

std::string_view device_kind_name(DeviceKind kind) {
  switch (kind) {
    case DeviceKind::kCpu: return "cpu";
    case DeviceKind::kGpu: return "gpu";
    case DeviceKind::kNpu: return "npu";
    case DeviceKind::kOther: return "other";
  }
  return "other";
}

bool Backend::supports_op(const Op& op) const {
  if (op.kind >= DARI_OP_COUNT || op.n_src > 3) return false;
  std::vector<GgmlType> types;
  for (uint32_t i = 0; i < op.n_src; ++i) types.push_back(static_cast<GgmlType>(op.src[i].type));
  types.push_back(static_cast<GgmlType>(op.dst.type));
  return supports(static_cast<OpKind>(op.kind), types);
}

Status Backend::compute(std::span<const Op> ops) {
  for (const Op& op : ops) DARI_TRY(run(op));
  return Status::Ok();
}

Status Backend::upload(void* dst, const void* host_src, uint64_t bytes) {
  if (!device().host_memory) return make_error(device().name + ": upload is not implemented");
  if (bytes != 0) std::memcpy(dst, host_src, bytes);
  transfers_.uploaded += bytes;
  return Status::Ok();
}

Status Backend::download(void* host_dst, const void* src, uint64_t bytes) {
  if (!device().host_memory) return make_error(device().name + ": download is not implemented");
  if (bytes != 0) std::memcpy(host_dst, src, bytes);
  transfers_.downloaded += bytes;
  return Status::Ok();
}

Status Backend::copy_bytes(void* dst, const void* src, uint64_t bytes) {
  if (!device().host_memory) return make_error(device().name + ": copy is not implemented");
  if (bytes != 0) std::memmove(dst, src, bytes);
  return Status::Ok();
}

Status Backend::matmul(const TensorView& w, const TensorView& x, const TensorView& y) {
  return run(matmul_op(w, x, y));
}
Status Backend::rms_norm(const TensorView& x, const TensorView& weight, float eps,
                         const TensorView& y) {
  return run(rms_norm_op(x, weight, eps, y));
}
Status Backend::rope(const TensorView& x, const DariRopeParams& rp, const TensorView& y) {
  return run(rope_op(x, rp, y));
}
Status Backend::softmax(const TensorView& x, float scale, const TensorView& y) {
  return run(softmax_op(x, scale, y));
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
  return run(rows_op(OpKind::kGetRows, table, ids, y));
}
Status Backend::set_rows(const TensorView& x, std::span<const int32_t> ids, const TensorView& dst) {
  return run(rows_op(OpKind::kSetRows, x, ids, dst));
}
Status Backend::attention(const TensorView& q, const TensorView& k_cache,
                          const TensorView& v_cache, const DariAttentionParams& ap,
                          const TensorView& y) {
  return run(attention_op(q, k_cache, v_cache, ap, y));
}
Status Backend::copy(const TensorView& x, const TensorView& y) {
  return run(make_op(OpKind::kCopy, {x}, y));
}

void OpGraph::matmul(const TensorView& w, const TensorView& x, const TensorView& y) {
  ops_.push_back(matmul_op(w, x, y));
}
void OpGraph::rms_norm(const TensorView& x, const TensorView& weight, float eps,
                       const TensorView& y) {
  ops_.push_back(rms_norm_op(x, weight, eps, y));
}
void OpGraph::rope(const TensorView& x, const DariRopeParams& p, const TensorView& y) {
  ops_.push_back(rope_op(x, p, y));
}
void OpGraph::softmax(const TensorView& x, float scale, const TensorView& y) {
  ops_.push_back(softmax_op(x, scale, y));
}
void OpGraph::silu_mul(const TensorView& gate, const TensorView& up, const TensorView& y) {
  ops_.push_back(make_op(OpKind::kSiluMul, {gate, up}, y));
}
void OpGraph::add(const TensorView& a, const TensorView& b, const TensorView& y) {
  ops_.push_back(make_op(OpKind::kAdd, {a, b}, y));
}
void OpGraph::mul(const TensorView& a, const TensorView& b, const TensorView& y) {
  ops_.push_back(make_op(OpKind::kMul, {a, b}, y));
}
void OpGraph::get_rows(const TensorView& table, std::span<const int32_t> ids,
                       const TensorView& y) {
  ops_.push_back(rows_op(OpKind::kGetRows, table, ids, y));
}
void OpGraph::set_rows(const TensorView& x, std::span<const int32_t> ids, const TensorView& dst) {
  ops_.push_back(rows_op(OpKind::kSetRows, x, ids, dst));
}
void OpGraph::attention(const TensorView& q, const TensorView& k_cache, const TensorView& v_cache,
                        const DariAttentionParams& p, const TensorView& y) {
  ops_.push_back(attention_op(q, k_cache, v_cache, p, y));
}
void OpGraph::copy(const TensorView& x, const TensorView& y) {
  ops_.push_back(make_op(OpKind::kCopy, {x}, y));
}

}  // namespace dari
