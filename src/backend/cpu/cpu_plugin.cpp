// The CPU backend exposed through the C plugin ABI, so the ABI path can be checked against the
// C++ path (tests/backend conformance) and serve as a template for vendor plugins.
#include <cstdlib>
#include <cstring>
#include <new>

#include "backend/cpu/cpu_backend.h"
#include "dari/backend/plugin_abi.h"

namespace {

using dari::Backend;

// Context owned by the caller between create() and destroy().
struct CpuPluginContext {
  std::unique_ptr<Backend> backend;
};

void* cpu_create(uint32_t n_threads) {
  dari::BackendOptions o;
  o.n_threads = n_threads;
  auto b = dari::create_cpu_backend(o);
  if (!b.ok()) return nullptr;
  auto* ctx = new (std::nothrow) CpuPluginContext;
  if (ctx == nullptr) return nullptr;
  ctx->backend = std::move(b).value();
  return ctx;
}

void cpu_destroy(void* ctx) { delete static_cast<CpuPluginContext*>(ctx); }

int cpu_device_info(void* ctx, DariDeviceInfo* out) {
  if (ctx == nullptr || out == nullptr) return 1;
  const dari::DeviceInfo& d = static_cast<CpuPluginContext*>(ctx)->backend->device();
  std::memset(out, 0, sizeof(*out));
  dari::copy_c_string(out->name, sizeof(out->name), d.name);
  dari::copy_c_string(out->description, sizeof(out->description), d.description);
  out->memory_bytes = d.memory_bytes;
  out->host_memory = d.host_memory ? 1 : 0;
  return 0;
}

void* cpu_alloc(void*, uint64_t bytes) {
  uint64_t rounded = (bytes + 63) / 64 * 64;
  if (rounded < bytes) return nullptr;
  return std::aligned_alloc(64, rounded == 0 ? 64 : rounded);
}

void cpu_free(void*, void* p) { std::free(p); }

int cpu_supports(void* ctx, uint32_t kind, const uint32_t* types, uint32_t n_types) {
  if (ctx == nullptr || kind >= DARI_OP_COUNT || (n_types > 0 && types == nullptr)) return 0;
  std::vector<dari::GgmlType> t;
  for (uint32_t i = 0; i < n_types; ++i) {
    if (!dari::ggml_type_info(types[i])) return 0;
    t.push_back(static_cast<dari::GgmlType>(types[i]));
  }
  return static_cast<CpuPluginContext*>(ctx)->backend->supports(static_cast<dari::OpKind>(kind), t)
             ? 1
             : 0;
}

int cpu_run(void* ctx, const DariOp* op, char* err, size_t err_len) {
  if (ctx == nullptr || op == nullptr) {
    dari::copy_c_string(err, err_len, "null context or op");
    return 1;
  }
  if (op->kind >= DARI_OP_COUNT) {
    dari::copy_c_string(err, err_len, "unknown op kind");
    return 1;
  }
  dari::Status s = static_cast<CpuPluginContext*>(ctx)->backend->run(*op);
  if (!s.ok()) {
    dari::copy_c_string(err, err_len, s.message());
    return 1;
  }
  return 0;
}

const DariBackendPlugin kCpuPlugin = {
    DARI_PLUGIN_ABI_VERSION, sizeof(DariBackendPlugin), "cpu-plugin", cpu_create, cpu_destroy,
    cpu_device_info, cpu_alloc, cpu_free, cpu_supports, cpu_run,
};

}  // namespace

void dari::copy_c_string(char* dst, size_t cap, std::string_view s) {
  if (dst == nullptr || cap == 0) return;
  const size_t n = s.size() < cap - 1 ? s.size() : cap - 1;
  std::memcpy(dst, s.data(), n);
  dst[n] = '\0';
}

extern "C" const DariBackendPlugin* dari_cpu_backend_plugin(void) { return &kCpuPlugin; }
