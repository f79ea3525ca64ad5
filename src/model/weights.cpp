// WeightBinder (tensor lookup + validation) and the architecture registry.
#include <array>

#include "dari/core/strings.h"
#include "dari/tensor/dtype.h"
#include "model/arch/arch.h"

namespace dari {
namespace {

std::string shape_str(const uint64_t* ne, uint32_t n) {
  std::string s = "[";
  for (uint32_t i = 0; i < n; ++i) {
    s += (i ? ", " : "") + std::to_string(ne[i]);
  }
  return s + "]";
}

}  // namespace

Result<const GgufTensorInfo*> WeightBinder::find(const std::string& name,
                                                 std::vector<uint64_t> ne) const {
  const GgufTensorInfo* t = file_.find_tensor(name);
  if (t == nullptr) {
    return make_error(file_.path() + ": missing tensor '" + name + "' (expected shape " +
                      shape_str(ne.data(), static_cast<uint32_t>(ne.size())) + ")");
  }
  bool match = true;
  for (size_t i = 0; i < 4; ++i) {
    uint64_t want = i < ne.size() ? ne[i] : 1;
    if (t->ne[i] != want) match = false;
  }
  if (!match) {
    return make_error(file_.path() + ": tensor '" + name + "' has shape " +
                      shape_str(t->ne, t->n_dims) + ", expected " +
                      shape_str(ne.data(), static_cast<uint32_t>(ne.size())));
  }
  return t;
}

Result<TensorView> WeightBinder::matrix(const std::string& name, uint64_t in, uint64_t out) const {
  DARI_ASSIGN_OR_RETURN(const GgufTensorInfo* t, find(name, {in, out}));
  const std::array<GgmlType, 3> types{t->type, GgmlType::F32, GgmlType::F32};
  if (!backend_.supports(OpKind::kMatmul, types)) {
    return make_error(file_.path() + ": tensor '" + name + "': type " +
                      std::string(ggml_type_name(t->type)) + " is not supported for matmul by the " +
                      backend_.device().name + " backend");
  }
  return TensorView::contiguous(t->data, t->type, static_cast<int64_t>(in),
                                static_cast<int64_t>(out));
}

Result<TensorView> WeightBinder::embedding(const std::string& name, uint64_t n_embd,
                                           uint64_t n_vocab) const {
  DARI_ASSIGN_OR_RETURN(const GgufTensorInfo* t, find(name, {n_embd, n_vocab}));
  const std::array<GgmlType, 2> types{t->type, GgmlType::F32};
  if (!backend_.supports(OpKind::kGetRows, types)) {
    return make_error(file_.path() + ": tensor '" + name + "': type " +
                      std::string(ggml_type_name(t->type)) + " cannot be read by the " +
                      backend_.device().name + " backend");
  }
  return TensorView::contiguous(t->data, t->type, static_cast<int64_t>(n_embd),
                                static_cast<int64_t>(n_vocab));
}

Result<TensorView> WeightBinder::vector(const std::string& name, uint64_t n) {
  DARI_ASSIGN_OR_RETURN(const GgufTensorInfo* t, find(name, {n}));
  if (t->type == GgmlType::F32) return TensorView::contiguous(t->data, t->type, static_cast<int64_t>(n));
  const TypeTraits* tr = type_traits(t->type);
  if (tr == nullptr || tr->to_float == nullptr) {
    return make_error(file_.path() + ": tensor '" + name + "': type " +
                      std::string(ggml_type_name(t->type)) + " has no float conversion");
  }
  owned_.emplace_back(n);
  tr->to_float(t->data, owned_.back().data(), static_cast<int64_t>(n));
  return TensorView::contiguous(owned_.back().data(), GgmlType::F32, static_cast<int64_t>(n));
}

const ArchSpec* find_arch(std::string_view name) {
  for (const ArchSpec* a : {&llama_arch(), &qwen2_arch(), &qwen3_arch()}) {
    if (a->name == name) return a;
  }
  return nullptr;
}

std::string known_arch_names() { return "llama, qwen2, qwen3"; }

}  // namespace dari
