// Backend interface: devices, buffers and ops on tensor views.
//
// The model composes these ops and never calls a kernel directly, so another device (a GPU, or an
// NPU through the C plugin ABI in plugin_abi.h) can run the same model. Op descriptors are the C
// ABI structs themselves (DariOp); the C++ helpers below build them from TensorViews.
//
// Ownership: a Backend owns its device resources; Buffers it allocates must not outlive it.
// Thread safety: a Backend is used by one thread at a time (it may use worker threads inside
// run()); the registry may be used from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "dari/backend/plugin_abi.h"
#include "dari/core/result.h"
#include "dari/tensor/view.h"

namespace dari {

enum class OpKind : uint32_t {
  kMatmul = DARI_OP_MATMUL,
  kRmsNorm = DARI_OP_RMS_NORM,
  kRope = DARI_OP_ROPE,
  kSoftmax = DARI_OP_SOFTMAX,
  kSiluMul = DARI_OP_SILU_MUL,
  kAdd = DARI_OP_ADD,
  kMul = DARI_OP_MUL,
  kGetRows = DARI_OP_GET_ROWS,
  kSetRows = DARI_OP_SET_ROWS,
  kAttention = DARI_OP_ATTENTION,
  kCopy = DARI_OP_COPY,
};
std::string_view op_name(OpKind kind);

using Op = DariOp;
using OpParams = DariOpParams;

DariTensorView to_c_view(const TensorView& v);
TensorView from_c_view(const DariTensorView& v);

// Descriptor builders (shapes documented on DariOpKind in plugin_abi.h).
Op make_op(OpKind kind, std::initializer_list<TensorView> srcs, const TensorView& dst,
           const OpParams& params = {});

struct DeviceInfo {
  std::string name;
  std::string description;
  uint64_t memory_bytes = 0;  // 0 if unknown
  bool host_memory = true;    // buffers are host memory the CPU can read
};

// Device memory. Owned by whoever holds the unique_ptr; freed in the destructor.
class Buffer {
 public:
  virtual ~Buffer() = default;
  virtual void* data() = 0;
  virtual uint64_t size() const = 0;
};

struct BackendOptions {
  uint32_t n_threads = 0;  // 0 = hardware concurrency
  // CPU: use the run-time dispatched SIMD matmul kernels (src/backend/cpu/simd) where they cover
  // the weight type; false = the scalar traits path everywhere (reference / conformance runs).
  bool simd = true;
  // Let pack_weight() keep copies of weight matrices in a faster layout (CPU: Q4_0, Q4_K and
  // Q5_K in groups of 8 rows). false = matmul always reads the given views (llama.cpp's
  // --no-repack).
  bool repack = true;
  // Time every op for op_profile() (a clock read before and after each op).
  bool profile = false;
};

// Time spent in one kind of op since the last reset (BackendOptions::profile). `op` names the
// op; matmuls add the weight type, "x8" when a packed copy was read, and the activation rows
// bucket, e.g. "matmul Q4_0x8 m=2-8".
struct OpProfile {
  std::string op;
  uint64_t calls = 0;
  double seconds = 0.0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual const DeviceInfo& device() const = 0;
  virtual Result<std::unique_ptr<Buffer>> alloc(uint64_t bytes) = 0;
  // True if `kind` can run with these types (src0, src1, ..., dst).
  virtual bool supports(OpKind kind, std::span<const GgmlType> types) const = 0;
  // Runs one op synchronously. Errors name the op and the offending view.
  virtual Status run(const Op& op) = 0;
  // Declares `w` a constant weight matrix that matmul will read for the life of the backend (its
  // memory must stay valid and unchanged). The backend may keep a copy in a faster layout and
  // read that instead whenever matmul gets this exact view. Returns true if it made a copy (the
  // caller may then let the original's pages go), false if it reads `w` as is. Not for views
  // that ops write to.
  virtual Result<bool> pack_weight(const TensorView& w) {
    (void)w;
    return false;
  }
  // Bytes held by packed copies.
  virtual uint64_t packed_bytes() const { return 0; }
  // With BackendOptions::profile: time per op since the last reset, largest first (empty when
  // profiling is off or unsupported). Same thread as run().
  virtual std::vector<OpProfile> op_profile() const { return {}; }
  virtual void reset_op_profile() {}

  // Convenience wrappers (all F32 unless stated; shapes as in plugin_abi.h).
  Status matmul(const TensorView& w, const TensorView& x, const TensorView& y);
  Status rms_norm(const TensorView& x, const TensorView& weight, float eps, const TensorView& y);
  Status rope(const TensorView& x, const DariRopeParams& p, const TensorView& y);
  Status softmax(const TensorView& x, float scale, const TensorView& y);
  Status silu_mul(const TensorView& gate, const TensorView& up, const TensorView& y);
  Status add(const TensorView& a, const TensorView& b, const TensorView& y);
  Status mul(const TensorView& a, const TensorView& b, const TensorView& y);
  Status get_rows(const TensorView& table, std::span<const int32_t> ids, const TensorView& y);
  Status set_rows(const TensorView& x, std::span<const int32_t> ids, const TensorView& dst);
  Status attention(const TensorView& q, const TensorView& k_cache, const TensorView& v_cache,
                   const DariAttentionParams& p, const TensorView& y);
  Status copy(const TensorView& x, const TensorView& y);
};

// Registry by name. "cpu" is always registered.
using BackendFactory = std::function<Result<std::unique_ptr<Backend>>(const BackendOptions&)>;
void register_backend(const std::string& name, BackendFactory factory);
std::vector<std::string> backend_names();
Result<std::unique_ptr<Backend>> create_backend(const std::string& name,
                                                const BackendOptions& opts = {});

// Wraps a C ABI plugin table as a Backend (validates the version and struct size).
Result<std::unique_ptr<Backend>> wrap_plugin(const DariBackendPlugin* plugin,
                                             const BackendOptions& opts = {});
// dlopen()s a shared library, finds DARI_PLUGIN_ENTRY_NAME and wraps it. The library stays
// loaded for the life of the process.
Result<std::unique_ptr<Backend>> load_plugin(const std::string& path,
                                             const BackendOptions& opts = {});

}  // namespace dari
