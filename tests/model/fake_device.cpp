// The "fakedev" test plugin (see fake_device.h): opaque addresses in a PROT_NONE range, real
// memory inside, ops translated and run by the CPU's v2 table.
#include "model/fake_device.h"

#include <sys/mman.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "dari/backend/backend.h"

namespace dari::test {
namespace {

constexpr uint64_t kRangeBytes = uint64_t{1} << 38;  // 256 GiB of reserved address space
constexpr uint64_t kGap = 1 << 16;                   // unmapped gap after every buffer

struct Global {
  std::mutex mu;
  FakeDeviceConfig cfg;
  FakeDeviceStats stats;
  uintptr_t range_lo = 0, range_hi = 0, next = 0;
};

Global& g() {
  static Global* gl = [] {
    auto* p = new Global;
    // Reserve (never map) a range far from the heap; fall back to wherever the kernel puts it.
    void* hint = reinterpret_cast<void*>(uintptr_t{1} << 44);
    void* r =
        mmap(hint, kRangeBytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (r == MAP_FAILED) std::abort();
    p->range_lo = p->next = reinterpret_cast<uintptr_t>(r);
    p->range_hi = p->range_lo + kRangeBytes;
    return p;
  }();
  return *gl;
}

struct Buf {
  uint8_t* host;
  uint64_t size;
};

struct Ctx {
  const DariBackendPluginV2* cpu = dari_cpu_backend_plugin_v2();
  void* cpu_ctx = nullptr;
  std::map<uintptr_t, Buf> bufs;  // fake base -> real memory
  std::string error;
  std::vector<DariOp> ops;  // translated copy of the last graph
};

Ctx* cx(void* c) {
  return static_cast<Ctx*>(c);
}

int32_t fail(void* c, int32_t st, const std::string& msg) {
  cx(c)->error = "fakedev0: " + msg;
  return st;
}

// Real pointer for [addr, addr + bytes), or null when it is not inside one buffer.
uint8_t* translate(Ctx* c, const void* addr, uint64_t bytes) {
  const auto a = reinterpret_cast<uintptr_t>(addr);
  auto it = c->bufs.upper_bound(a);
  if (it == c->bufs.begin()) return nullptr;
  --it;
  const uint64_t off = a - it->first;
  if (off > it->second.size || bytes > it->second.size - off) return nullptr;
  return it->second.host + off;
}

int32_t device_count() {
  return 1;
}

int32_t device_info(int32_t device, DariDeviceInfoV2* out) {
  if (device != 0 || out == nullptr || out->struct_size < sizeof(DariDeviceInfoV2)) {
    return DARI_ERR_INVALID;
  }
  std::lock_guard<std::mutex> lock(g().mu);
  std::memset(out, 0, sizeof(*out));
  out->struct_size = sizeof(*out);
  out->kind = DARI_DEVICE_GPU;
  std::snprintf(out->name, sizeof(out->name), "fakedev0");
  std::snprintf(out->description, sizeof(out->description), "test device (CPU kernels)");
  const FakeDeviceConfig& cfg = g().cfg;
  out->memory_total = cfg.memory_limit;
  out->memory_free = cfg.memory_limit > g().stats.allocated && !cfg.hide_free
                         ? cfg.memory_limit - g().stats.allocated
                         : 0;
  out->max_buffer = cfg.max_buffer;
  out->caps = 0;  // no host memory
  return DARI_OK;
}

int32_t create(const DariCreateParams* p, void** ctx, char* err, size_t err_len) {
  auto* c = new Ctx;
  DariCreateParams cp = *p;
  cp.device = 0;
  const int32_t st = c->cpu->create(&cp, &c->cpu_ctx, err, err_len);
  if (st != DARI_OK) {
    delete c;
    *ctx = nullptr;
    return st;
  }
  *ctx = c;
  return DARI_OK;
}

void destroy(void* ctx) {
  Ctx* c = cx(ctx);
  if (!c->bufs.empty()) std::abort();  // dari must free every buffer before destroy()
  c->cpu->destroy(c->cpu_ctx);
  delete c;
}

const char* last_error(void* ctx) {
  return cx(ctx)->error.c_str();
}

int32_t alloc_buffer(void* ctx, uint64_t bytes, void** base) {
  Global& gl = g();
  std::lock_guard<std::mutex> lock(gl.mu);
  if (gl.cfg.max_buffer != 0 && bytes > gl.cfg.max_buffer) {
    return fail(ctx, DARI_ERR_OUT_OF_MEMORY,
                "buffer of " + std::to_string(bytes) + " bytes exceeds max_buffer");
  }
  if (gl.cfg.memory_limit != 0 && gl.stats.allocated + bytes > gl.cfg.memory_limit) {
    return fail(ctx, DARI_ERR_OUT_OF_MEMORY,
                "out of device memory: " + std::to_string(bytes) + " bytes requested, " +
                    std::to_string(gl.cfg.memory_limit - gl.stats.allocated) + " free");
  }
  const uint64_t span = (bytes + kGap + 4095) / 4096 * 4096;
  if (gl.next + span > gl.range_hi)
    return fail(ctx, DARI_ERR_OUT_OF_MEMORY, "address range used up");
  auto* host = static_cast<uint8_t*>(std::calloc(bytes == 0 ? 1 : bytes, 1));
  if (host == nullptr) return fail(ctx, DARI_ERR_OUT_OF_MEMORY, "host allocation failed");
  const uintptr_t a = gl.next;
  gl.next += span;
  cx(ctx)->bufs[a] = Buf{host, bytes};
  gl.stats.allocated += bytes;
  *base = reinterpret_cast<void*>(a);
  return DARI_OK;
}

void free_buffer(void* ctx, void* base) {
  Ctx* c = cx(ctx);
  auto it = c->bufs.find(reinterpret_cast<uintptr_t>(base));
  if (it == c->bufs.end()) std::abort();  // freeing something that is not a buffer
  std::lock_guard<std::mutex> lock(g().mu);
  g().stats.allocated -= it->second.size;
  std::free(it->second.host);
  c->bufs.erase(it);
}

int32_t upload(void* ctx, void* dst, const void* src, uint64_t bytes) {
  uint8_t* d = translate(cx(ctx), dst, bytes);
  if (d == nullptr) return fail(ctx, DARI_ERR_INVALID, "upload: destination outside any buffer");
  if (bytes) std::memcpy(d, src, bytes);
  return DARI_OK;
}

int32_t download(void* ctx, void* dst, const void* src, uint64_t bytes) {
  const uint8_t* s = translate(cx(ctx), src, bytes);
  if (s == nullptr) return fail(ctx, DARI_ERR_INVALID, "download: source outside any buffer");
  if (bytes) std::memcpy(dst, s, bytes);
  return DARI_OK;
}

int32_t copy(void* ctx, void* dst, const void* src, uint64_t bytes) {
  uint8_t* d = translate(cx(ctx), dst, bytes);
  const uint8_t* s = translate(cx(ctx), src, bytes);
  if (d == nullptr || s == nullptr) return fail(ctx, DARI_ERR_INVALID, "copy outside any buffer");
  if (bytes) std::memmove(d, s, bytes);
  return DARI_OK;
}

int32_t memory(void*, uint64_t* free_bytes, uint64_t* total) {
  std::lock_guard<std::mutex> lock(g().mu);
  const uint64_t lim = g().cfg.memory_limit, used = g().stats.allocated;
  if (free_bytes) *free_bytes = lim > used && !g().cfg.hide_free ? lim - used : 0;
  if (total) *total = lim;
  return DARI_OK;
}

int32_t supports_op(void* ctx, const DariOp* op) {
  {
    std::lock_guard<std::mutex> lock(g().mu);
    if (g().cfg.decline && g().cfg.decline(*op)) return 0;
  }
  return cx(ctx)->cpu->supports_op(cx(ctx)->cpu_ctx, op);
}

// The real-memory view of a device view: the whole extent [data, data + last byte] must lie in
// one buffer.
bool translate_view(Ctx* c, DariTensorView* v) {
  if (v->data == nullptr) return true;
  const TensorView t = from_c_view(*v);
  uint64_t extent = t.row_bytes();
  for (int i = 1; i < 4; ++i) extent += static_cast<uint64_t>(t.ne[i] - 1) * t.nb[i];
  uint8_t* p = translate(c, v->data, extent);
  if (p == nullptr) return false;
  v->data = p;
  return true;
}

int32_t pack_weight(void* ctx, const DariTensorView* w, int32_t* packed) {
  DariTensorView v = *w;
  if (!translate_view(cx(ctx), &v)) return fail(ctx, DARI_ERR_INVALID, "pack_weight: bad view");
  const int32_t st = cx(ctx)->cpu->pack_weight(cx(ctx)->cpu_ctx, &v, packed);
  if (st != DARI_OK) return fail(ctx, st, cx(ctx)->cpu->last_error(cx(ctx)->cpu_ctx));
  *packed = 0;  // the device copy stays in use either way
  return DARI_OK;
}

int32_t compute(void* ctx, const DariOp* ops, uint32_t n_ops) {
  Ctx* c = cx(ctx);
  c->ops.assign(ops, ops + n_ops);
  for (uint32_t i = 0; i < n_ops; ++i) {
    DariOp& op = c->ops[i];
    for (uint32_t s = 0; s < op.n_src && s < 3; ++s) {
      if (!translate_view(c, &op.src[s])) {
        return fail(
            ctx, DARI_ERR_INVALID,
            "op " + std::to_string(i) + " src " + std::to_string(s) + " is not device memory");
      }
    }
    if (!translate_view(c, &op.dst)) {
      return fail(ctx, DARI_ERR_INVALID, "op " + std::to_string(i) + " dst is not device memory");
    }
  }
  {
    std::lock_guard<std::mutex> lock(g().mu);
    ++g().stats.computes;
    g().stats.ops += n_ops;
  }
  const int32_t st = c->cpu->compute(c->cpu_ctx, c->ops.data(), n_ops);
  if (st != DARI_OK) return fail(ctx, st, c->cpu->last_error(c->cpu_ctx));
  return DARI_OK;
}

const DariBackendPluginV2 kTable = {
    DARI_PLUGIN_ABI_VERSION_2,
    sizeof(DariBackendPluginV2),
    "fakedev",
    device_count,
    device_info,
    create,
    destroy,
    last_error,
    alloc_buffer,
    free_buffer,
    upload,
    download,
    copy,
    memory,
    supports_op,
    pack_weight,
    compute,
    nullptr,
    nullptr,
    nullptr,
};

}  // namespace

const DariBackendPluginV2* fake_device_plugin() {
  return &kTable;
}

void set_fake_device_config(const FakeDeviceConfig& cfg) {
  std::lock_guard<std::mutex> lock(g().mu);
  g().cfg = cfg;
}

void register_fake_device(const FakeDeviceConfig& cfg) {
  set_fake_device_config(cfg);
  static std::once_flag once;
  std::call_once(once, [] {
    register_backend("fakedev", [](const BackendOptions& o) { return wrap_plugin_v2(&kTable, o); });
  });
}

FakeDeviceStats fake_device_stats() {
  std::lock_guard<std::mutex> lock(g().mu);
  return g().stats;
}

bool is_fake_device_address(const void* p) {
  const auto a = reinterpret_cast<uintptr_t>(p);
  return a >= g().range_lo && a < g().range_hi;
}

}  // namespace dari::test
