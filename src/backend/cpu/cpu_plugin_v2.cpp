// The CPU backend's v2 plugin table. The registry's "cpu" backend is this table behind the same
// adapter (plugin_v2.cpp) as any external plugin, so the fastest backend proves the seam. It is
// also a worked example for vendors: a host-memory device, addresses are host pointers.
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <new>
#include <thread>
#include <string>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/kernels/kernels.h"
#include "dari/backend/plugin_abi.h"
#include "dari/core/strings.h"

namespace {

using dari::Backend;
using dari::copy_c_string;

// Owned by the caller between create() and destroy(); used by one thread at a time.
struct CpuContextV2 {
  std::unique_ptr<Backend> backend;
  std::string error;  // last_error()
};

// Bytes of RAM in total and available now (MemAvailable), 0 when unknown.
void host_memory(uint64_t* free_bytes, uint64_t* total) {
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  *total = pages > 0 && page > 0 ? static_cast<uint64_t>(pages) * static_cast<uint64_t>(page) : 0;
  *free_bytes = 0;
  if (FILE* f = std::fopen("/proc/meminfo", "r")) {
    char line[128];
    unsigned long long kb = 0;
    while (std::fgets(line, sizeof(line), f) != nullptr) {
      if (std::sscanf(line, "MemAvailable: %llu kB", &kb) == 1) {
        *free_bytes = static_cast<uint64_t>(kb) * 1024;
        break;
      }
    }
    std::fclose(f);
  }
}

int32_t v2_device_count() { return 1; }

int32_t v2_device_info(int32_t device, DariDeviceInfoV2* out) {
  if (device != 0 || out == nullptr || out->struct_size < sizeof(DariDeviceInfoV2)) {
    return DARI_ERR_INVALID;
  }
  std::memset(out, 0, sizeof(*out));
  out->struct_size = sizeof(*out);
  out->kind = DARI_DEVICE_CPU;
  copy_c_string(out->name, sizeof(out->name), "cpu");
  const unsigned threads = std::thread::hardware_concurrency();
  copy_c_string(out->description, sizeof(out->description),
           dari::str_format("CPU, %s matmul, %u hardware threads", dari::cpu::simd_isa_name(),
                            threads));
  host_memory(&out->memory_free, &out->memory_total);
  out->caps = DARI_CAP_HOST_MEMORY | DARI_CAP_UNIFIED;
  return DARI_OK;
}

int32_t v2_create(const DariCreateParams* p, void** ctx, char* err, size_t err_len) {
  if (ctx != nullptr) *ctx = nullptr;
  if (p == nullptr || ctx == nullptr || p->struct_size < sizeof(DariCreateParams)) {
    copy_c_string(err, err_len, "bad create parameters");
    return DARI_ERR_INVALID;
  }
  if (p->device != 0) {
    copy_c_string(err, err_len, dari::str_format("no CPU device %d (there is one: 0)", p->device));
    return DARI_ERR_INVALID;
  }
  dari::BackendOptions o;
  o.n_threads = p->n_threads;
  o.repack = (p->flags & DARI_CREATE_NO_REPACK) == 0;
  o.profile = (p->flags & DARI_CREATE_PROFILE) != 0;
  o.simd = (p->flags & DARI_CREATE_REFERENCE) == 0;
  auto b = dari::create_cpu_backend(o);
  if (!b.ok()) {
    copy_c_string(err, err_len, b.message());
    return DARI_ERR_INTERNAL;
  }
  auto* c = new (std::nothrow) CpuContextV2;
  if (c == nullptr) {
    copy_c_string(err, err_len, "out of host memory");
    return DARI_ERR_OUT_OF_MEMORY;
  }
  c->backend = std::move(b).value();
  *ctx = c;
  return DARI_OK;
}

CpuContextV2* cx(void* ctx) { return static_cast<CpuContextV2*>(ctx); }

void v2_destroy(void* ctx) { delete cx(ctx); }

const char* v2_last_error(void* ctx) { return ctx ? cx(ctx)->error.c_str() : "null context"; }

int32_t fail(void* ctx, int32_t st, const std::string& msg) {
  cx(ctx)->error = msg;
  return st;
}

int32_t v2_alloc(void* ctx, uint64_t bytes, void** base) {
  const uint64_t rounded = (bytes + 63) / 64 * 64;
  if (rounded < bytes) return fail(ctx, DARI_ERR_INVALID, "cpu: allocation size overflows");
  void* p = std::aligned_alloc(64, rounded == 0 ? 64 : rounded);
  if (p == nullptr) {
    return fail(ctx, DARI_ERR_OUT_OF_MEMORY, "cpu: cannot allocate " + dari::human_bytes(bytes));
  }
  *base = p;
  return DARI_OK;
}

void v2_free(void*, void* base) { std::free(base); }

int32_t v2_memcpy(void*, void* dst, const void* src, uint64_t bytes) {
  if (bytes != 0) std::memmove(dst, src, bytes);
  return DARI_OK;
}

int32_t v2_memory(void*, uint64_t* free_bytes, uint64_t* total) {
  uint64_t f = 0, t = 0;
  host_memory(&f, &t);
  if (free_bytes != nullptr) *free_bytes = f;
  if (total != nullptr) *total = t;
  return DARI_OK;
}

int32_t v2_supports_op(void* ctx, const DariOp* op) {
  if (ctx == nullptr || op == nullptr) return 0;
  return cx(ctx)->backend->supports_op(*op) ? 1 : 0;
}

int32_t v2_pack_weight(void* ctx, const DariTensorView* w, int32_t* packed) {
  auto r = cx(ctx)->backend->pack_weight(dari::from_c_view(*w));
  if (!r.ok()) return fail(ctx, DARI_ERR_INTERNAL, r.message());
  *packed = r.value() ? 1 : 0;
  return DARI_OK;
}

int32_t v2_compute(void* ctx, const DariOp* ops, uint32_t n_ops) {
  if (ctx == nullptr || (ops == nullptr && n_ops != 0)) return DARI_ERR_INVALID;
  for (uint32_t i = 0; i < n_ops; ++i) {
    if (ops[i].kind >= DARI_OP_COUNT) {
      return fail(ctx, DARI_ERR_UNSUPPORTED,
                  dari::str_format("op %u: unknown kind %u", i, ops[i].kind));
    }
    dari::Status s = cx(ctx)->backend->run(ops[i]);
    if (!s.ok()) return fail(ctx, DARI_ERR_INVALID, s.message());
  }
  return DARI_OK;
}

uint64_t v2_packed_bytes(void* ctx) { return cx(ctx)->backend->packed_bytes(); }

uint32_t v2_op_profile(void* ctx, DariOpProfileEntry* out, uint32_t cap) {
  const std::vector<dari::OpProfile> prof = cx(ctx)->backend->op_profile();
  for (uint32_t i = 0; i < cap && i < prof.size(); ++i) {
    copy_c_string(out[i].op, sizeof(out[i].op), prof[i].op);
    out[i].calls = prof[i].calls;
    out[i].seconds = prof[i].seconds;
  }
  return static_cast<uint32_t>(prof.size());
}

void v2_reset_op_profile(void* ctx) { cx(ctx)->backend->reset_op_profile(); }

const DariBackendPluginV2 kCpuPluginV2 = {
    DARI_PLUGIN_ABI_VERSION_2,
    sizeof(DariBackendPluginV2),
    "cpu",
    v2_device_count,
    v2_device_info,
    v2_create,
    v2_destroy,
    v2_last_error,
    v2_alloc,
    v2_free,
    v2_memcpy,
    v2_memcpy,
    v2_memcpy,
    v2_memory,
    v2_supports_op,
    v2_pack_weight,
    v2_compute,
    v2_packed_bytes,
    v2_op_profile,
    v2_reset_op_profile,
};

}  // namespace

extern "C" const DariBackendPluginV2* dari_cpu_backend_plugin_v2(void) { return &kCpuPluginV2; }
