#include "backend/cpu/cpu_backend.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <map>
#include <thread>

#include "backend/cpu/kernels/kernels.h"
#include "dari/core/strings.h"
#include "dari/tensor/dtype.h"

namespace dari {
namespace {

// 64-byte aligned host memory, freed in the destructor.
class HostBuffer final : public Buffer {
 public:
  HostBuffer(void* p, uint64_t size) : p_(p), size_(size) {}
  ~HostBuffer() override { std::free(p_); }
  void* data() override { return p_; }
  uint64_t size() const override { return size_; }

 private:
  void* p_;
  uint64_t size_;
};

bool has_vec_dot(GgmlType t) {
  const TypeTraits* tr = type_traits(t);
  if (tr == nullptr || tr->vec_dot == nullptr) return false;
  const TypeTraits* vt = type_traits(tr->vec_dot_type);
  return vt != nullptr && (tr->vec_dot_type == GgmlType::F32 || vt->from_float != nullptr);
}
bool can_read(GgmlType t) {
  const TypeTraits* tr = type_traits(t);
  return tr != nullptr && (t == GgmlType::F32 || tr->to_float != nullptr);
}
bool can_write(GgmlType t) {
  const TypeTraits* tr = type_traits(t);
  return tr != nullptr && (t == GgmlType::F32 || tr->from_float != nullptr);
}

class CpuBackend final : public Backend {
 public:
  CpuBackend(unsigned n_threads, bool simd, bool repack, bool profile)
      : pool_(n_threads), repack_(repack), profile_(profile) {
    ctx_.pool = &pool_;
    ctx_.simd = simd;
    info_.name = "cpu";
    info_.description = str_format("CPU, %s matmul, %u threads",
                                   simd ? cpu::simd_isa_name() : "scalar", pool_.size());
    info_.host_memory = true;
  }

  const DeviceInfo& device() const override { return info_; }

  Result<std::unique_ptr<Buffer>> alloc(uint64_t bytes) override {
    uint64_t rounded = (bytes + 63) / 64 * 64;
    if (rounded < bytes) return make_error("cpu: allocation size overflows");
    void* p = std::aligned_alloc(64, rounded == 0 ? 64 : rounded);
    if (p == nullptr) return make_error("cpu: cannot allocate " + human_bytes(bytes));
    return std::unique_ptr<Buffer>(new HostBuffer(p, bytes));
  }

  bool supports(OpKind kind, std::span<const GgmlType> t) const override {
    auto all_f32 = [&] {
      for (GgmlType x : t) {
        if (x != GgmlType::F32) return false;
      }
      return true;
    };
    switch (kind) {
      case OpKind::kMatmul:
        return t.size() == 3 && has_vec_dot(t[0]) && t[1] == GgmlType::F32 && t[2] == GgmlType::F32;
      case OpKind::kGetRows:
        return t.size() == 2 && can_read(t[0]) && t[1] == GgmlType::F32;
      case OpKind::kSetRows:
        return t.size() == 2 && t[0] == GgmlType::F32 && can_write(t[1]);
      case OpKind::kCopy:
        return t.size() == 2 && (t[0] == t[1] || (can_read(t[0]) && can_write(t[1])));
      case OpKind::kAttention: {
        if (t.size() != 4 || t[0] != GgmlType::F32 || t[3] != GgmlType::F32) return false;
        for (size_t i = 1; i < 3; ++i) {
          if (t[i] != GgmlType::F32 && t[i] != GgmlType::F16 && t[i] != GgmlType::BF16)
            return false;
        }
        return true;
      }
      case OpKind::kRmsNorm:
      case OpKind::kRope:
      case OpKind::kSoftmax:
      case OpKind::kSiluMul:
      case OpKind::kAdd:
      case OpKind::kMul:
        return !t.empty() && all_f32();
    }
    return false;
  }

  // Q4_0, Q4_K and Q5_K matrices whose rows come in whole groups of 8 get a Q4_0x8 / Q4_Kx8 /
  // Q5_Kx8 copy (simd/packed.h), made on the pool. Other views are read as they are.
  Result<bool> pack_weight(const TensorView& w) override {
    if (!repack_ || !ctx_.simd) return false;
    const uint64_t bytes = cpu::packed_bytes(w);
    if (bytes == 0) return false;
    if (auto it = ctx_.packed.find(w.data); it != ctx_.packed.end()) {
      return make_error("cpu: pack_weight: a different view of " + w.describe() +
                        " is already packed");
    }
    DARI_ASSIGN_OR_RETURN(std::unique_ptr<Buffer> buf, alloc(bytes));
    auto* dst = static_cast<uint8_t*>(buf->data());
    if (!cpu::repack_weight(pool_, w, dst)) {
      return make_error("cpu: pack_weight: cannot repack " + w.describe());
    }
    ctx_.packed.emplace(w.data, cpu::PackedWeight{w, dst});
    packed_buffers_.push_back(std::move(buf));
    packed_bytes_ += bytes;
    return true;
  }

  uint64_t packed_bytes() const override { return packed_bytes_; }

  std::vector<OpProfile> op_profile() const override {
    std::vector<OpProfile> out;
    for (const auto& [name, e] : times_) out.push_back({name, e.calls, e.seconds});
    std::sort(out.begin(), out.end(),
              [](const OpProfile& a, const OpProfile& b) { return a.seconds > b.seconds; });
    return out;
  }
  void reset_op_profile() override { times_.clear(); }

  Status run(const Op& op) override {
    if (!profile_) return run_op(op);
    const auto t0 = std::chrono::steady_clock::now();
    Status st = run_op(op);
    Entry& e = times_[profile_key(op)];
    e.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    ++e.calls;
    return st;
  }

 private:
  struct Entry {
    uint64_t calls = 0;
    double seconds = 0.0;
  };

  // OpProfile::op for an op (see backend.h).
  std::string profile_key(const Op& op) const {
    const auto kind = static_cast<OpKind>(op.kind);
    std::string key(op_name(kind));
    if (kind != OpKind::kMatmul || op.n_src < 2) return key;
    key += ' ';
    key += ggml_type_name(static_cast<GgmlType>(op.src[0].type));
    if (ctx_.packed.count(op.src[0].data) != 0) key += "x8";
    const int64_t m = op.src[1].ne[1] * op.src[1].ne[2] * op.src[1].ne[3];
    key += m <= 1 ? " m=1" : m <= 8 ? " m=2-8" : m <= 64 ? " m=9-64" : " m>64";
    return key;
  }

  Status run_op(const Op& op) {
    if (op.n_src > 3) return make_error("cpu: op has more than 3 sources");
    switch (static_cast<OpKind>(op.kind)) {
      case OpKind::kMatmul:
        return cpu::matmul(ctx_, op);
      case OpKind::kRmsNorm:
        return cpu::rms_norm(ctx_, op);
      case OpKind::kRope:
        return cpu::rope(ctx_, op);
      case OpKind::kSoftmax:
        return cpu::softmax(ctx_, op);
      case OpKind::kSiluMul:
        return cpu::silu_mul(ctx_, op);
      case OpKind::kAdd:
        return cpu::add(ctx_, op);
      case OpKind::kMul:
        return cpu::mul(ctx_, op);
      case OpKind::kGetRows:
        return cpu::get_rows(ctx_, op);
      case OpKind::kSetRows:
        return cpu::set_rows(ctx_, op);
      case OpKind::kAttention:
        return cpu::attention(ctx_, op);
      case OpKind::kCopy:
        return cpu::copy(ctx_, op);
    }
    return make_error(str_format("cpu: unknown op kind %u", op.kind));
  }

  ThreadPool pool_;
  bool repack_;
  bool profile_;
  std::map<std::string, Entry> times_;  // by profile_key; owning thread only
  cpu::KernelContext ctx_;
  DeviceInfo info_;
  std::vector<std::unique_ptr<Buffer>> packed_buffers_;  // the copies ctx_.packed points into
  uint64_t packed_bytes_ = 0;
};

}  // namespace

Result<std::unique_ptr<Backend>> create_cpu_backend(const BackendOptions& opts) {
  return std::unique_ptr<Backend>(
      new CpuBackend(opts.n_threads, opts.simd, opts.repack, opts.profile));
}

}  // namespace dari
