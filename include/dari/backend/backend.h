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

enum class DeviceKind : uint32_t {
  kCpu = DARI_DEVICE_CPU,
  kGpu = DARI_DEVICE_GPU,
  kNpu = DARI_DEVICE_NPU,
  kOther = DARI_DEVICE_OTHER,
};
std::string_view device_kind_name(DeviceKind kind);

struct DeviceInfo {
  std::string name;           // e.g. "cpu", "Vulkan0"
  std::string description;    // e.g. "llvmpipe (LLVM 15.0.6, 256 bits)"
  std::string backend;        // registry name of the backend that runs it, e.g. "vulkan"
  int32_t index = 0;          // device index within that backend
  DeviceKind kind = DeviceKind::kCpu;
  uint64_t memory_bytes = 0;  // total, 0 if unknown
  uint64_t memory_free = 0;   // 0 if unknown
  uint64_t max_buffer = 0;    // largest single allocation, 0 if no limit
  uint32_t caps = 0;          // DARI_CAP_* (plugin_abi.h)
  bool host_memory = true;    // buffer addresses are host memory the CPU can read and write
};

// Device memory. data() is the buffer's base address in the device's address space: with
// DeviceInfo::host_memory the CPU may dereference it, otherwise only Backend::upload/download/
// copy_bytes and ops read or write it. Owned by whoever holds the unique_ptr; freed in the
// destructor, which must run before the Backend that made it is destroyed.
class Buffer {
 public:
  virtual ~Buffer() = default;
  virtual void* data() = 0;
  virtual uint64_t size() const = 0;
};

struct BackendOptions {
  int32_t device = 0;      // device index within the backend ("vulkan:1" selects 1)
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
  // True if this backend runs `op` as described (kind, types and shapes; data may be null).
  // The default asks supports() with the source and destination types.
  virtual bool supports_op(const Op& op) const;
  // Runs one op synchronously. Errors name the op and the offending view.
  virtual Status run(const Op& op) = 0;
  // Runs a whole graph (one forward step) in order, returning once every result is in device
  // memory. Op parameter pointers must stay valid until it returns. The default runs each op.
  virtual Status compute(std::span<const Op> ops);
  // Copies between host memory and this device's memory, and within the device. Addresses lie
  // inside buffers from alloc(). The defaults memcpy (host-memory devices only).
  virtual Status upload(void* dst, const void* host_src, uint64_t bytes);
  virtual Status download(void* host_dst, const void* src, uint64_t bytes);
  virtual Status copy_bytes(void* dst, const void* src, uint64_t bytes);
  // Bytes moved by upload() and download() since the backend was made (host <-> device traffic;
  // op parameters inside compute() are not counted). Host-memory backends count calls too.
  struct Transfers {
    uint64_t uploaded = 0;
    uint64_t downloaded = 0;
  };
  Transfers transfers() const { return transfers_; }
  // Current free device memory in bytes (0 = unknown).
  virtual uint64_t memory_free() const { return device().memory_free; }
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

 protected:
  Transfers transfers_;  // updated by upload()/download() implementations
};

// A forward step's ops, recorded in order and handed to Backend::compute() in one call. The
// builders mirror Backend's convenience wrappers. Parameter arrays the ops point to (positions,
// row ids, block tables) are borrowed: keep them alive until compute() returns.
// Not thread-safe; owned by the caller.
class OpGraph {
 public:
  void clear() { ops_.clear(); }
  std::span<const Op> ops() const { return ops_; }
  size_t size() const { return ops_.size(); }
  void add(const Op& op) { ops_.push_back(op); }

  void matmul(const TensorView& w, const TensorView& x, const TensorView& y);
  void rms_norm(const TensorView& x, const TensorView& weight, float eps, const TensorView& y);
  void rope(const TensorView& x, const DariRopeParams& p, const TensorView& y);
  void softmax(const TensorView& x, float scale, const TensorView& y);
  void silu_mul(const TensorView& gate, const TensorView& up, const TensorView& y);
  void add(const TensorView& a, const TensorView& b, const TensorView& y);
  void mul(const TensorView& a, const TensorView& b, const TensorView& y);
  void get_rows(const TensorView& table, std::span<const int32_t> ids, const TensorView& y);
  void set_rows(const TensorView& x, std::span<const int32_t> ids, const TensorView& dst);
  void attention(const TensorView& q, const TensorView& k_cache, const TensorView& v_cache,
                 const DariAttentionParams& p, const TensorView& y);
  void copy(const TensorView& x, const TensorView& y);

 private:
  std::vector<Op> ops_;
};

// Registry by name. "cpu" is always registered (the CPU's v2 plugin table behind the same
// adapter as an external plugin). Names not registered are looked up as plugin libraries
// "libdari-backend-<name>.so" on plugin_search_path() and registered on first use.
// Thread safety: all registry functions may be called from any thread.
using BackendFactory = std::function<Result<std::unique_ptr<Backend>>(const BackendOptions&)>;
void register_backend(const std::string& name, BackendFactory factory);
std::vector<std::string> backend_names();
// `spec` is NAME or NAME:DEVICE ("vulkan:1"); a device index in the spec overrides opts.device.
Result<std::unique_ptr<Backend>> create_backend(const std::string& spec,
                                                const BackendOptions& opts = {});

// Folders searched for backend plugin libraries, in order: each entry of $DARI_BACKEND_PATH
// (colon separated), folders added with add_plugin_search_dir(), the folder of the running
// executable, and <that folder>/../lib/dari.
std::vector<std::string> plugin_search_path();
void add_plugin_search_dir(const std::string& dir);
// Loads a plugin library (v1 or v2) and registers it under the name its table gives; returns
// that name. Loading the same file twice returns the name again.
Result<std::string> register_plugin_library(const std::string& path);
// Registers every libdari-backend-*.so found on the search path (errors are skipped, not fatal;
// they are returned as messages for `dari devices` to show).
std::vector<std::string> discover_plugins();

// Devices of every registered backend (after discover_plugins()), for `dari devices`.
std::vector<DeviceInfo> list_devices();

// Wraps a C ABI plugin table as a Backend (validates the version and struct size).
Result<std::unique_ptr<Backend>> wrap_plugin(const DariBackendPlugin* plugin,
                                             const BackendOptions& opts = {});
Result<std::unique_ptr<Backend>> wrap_plugin_v2(const DariBackendPluginV2* plugin,
                                                const BackendOptions& opts = {});
// Devices a v2 table reports (no context created).
Result<std::vector<DeviceInfo>> plugin_devices(const DariBackendPluginV2* plugin);
// dlopen()s a shared library, finds DARI_PLUGIN_ENTRY_NAME_V2 (or the v1 entry) and wraps it.
// The library stays loaded for the life of the process.
Result<std::unique_ptr<Backend>> load_plugin(const std::string& path,
                                             const BackendOptions& opts = {});

}  // namespace dari
