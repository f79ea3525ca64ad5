// The exported C ABI v2 table (plugin_abi.h). Every entry point converts exceptions and
// failures into a DariStatus plus the context's last_error. Only dari_backend_plugin_v2 is
// exported; everything else has hidden visibility.
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <new>
#include <utility>
#include <vector>

#include "vk_context.h"
#include "vk_ops.h"

namespace dari_vk {
namespace {

Context* ctx_of(void* p) {
  return static_cast<Context*>(p);
}
uint64_t addr(const void* p) {
  return static_cast<uint64_t>(reinterpret_cast<uintptr_t>(p));
}

// Runs f() (returning Status) with the usual failure handling.
template <class F>
int32_t guarded(Context* c, F f) {
  if (c == nullptr) return DARI_ERR_INVALID;
  try {
    if (c->lost) return fail(c, make_status(DARI_ERR_DEVICE_LOST, "device was lost earlier"));
    Status s = f();
    if (!s.ok()) return fail(c, s);
    c->last_error.clear();
    return DARI_OK;
  } catch (const std::bad_alloc&) {
    return fail(c, make_status(DARI_ERR_OUT_OF_MEMORY, "out of host memory"));
  } catch (...) {
    return fail(c, make_status(DARI_ERR_INTERNAL, "unexpected exception"));
  }
}

int32_t vk_device_count() {
  try {
    return static_cast<int32_t>(devices().size());
  } catch (...) {
    return 0;
  }
}

int32_t vk_device_info(int32_t device, DariDeviceInfoV2* out) {
  try {
    return fill_device_info(device, out);
  } catch (...) {
    return DARI_ERR_INTERNAL;
  }
}

void write_err(char* err, size_t len, const std::string& s) {
  if (err == nullptr || len == 0) return;
  const size_t n = std::min(s.size(), len - 1);
  std::memcpy(err, s.data(), n);
  err[n] = '\0';
}

int32_t vk_create(const DariCreateParams* params, void** out, char* err, size_t err_len) {
  if (out == nullptr) return DARI_ERR_INVALID;
  *out = nullptr;
  if (params == nullptr || params->struct_size < offsetof(DariCreateParams, n_threads)) {
    write_err(err, err_len, "vulkan: bad DariCreateParams");
    return DARI_ERR_INVALID;
  }
  try {
    Context* c = nullptr;
    const uint32_t flags =
        params->struct_size >= offsetof(DariCreateParams, flags) + sizeof(params->flags)
            ? params->flags
            : 0;
    Status s = create_context(params->device, flags, &c);
    if (!s.ok()) {
      write_err(err, err_len, s.msg);
      return s.code;
    }
    *out = c;
    return DARI_OK;
  } catch (...) {
    write_err(err, err_len, "vulkan: create failed");
    return DARI_ERR_INTERNAL;
  }
}

void vk_destroy(void* p) {
  destroy_context(ctx_of(p));
}

const char* vk_last_error(void* p) {
  return p == nullptr ? "vulkan: null context" : ctx_of(p)->last_error.c_str();
}

int32_t vk_alloc(void* p, uint64_t bytes, void** base) {
  Context* c = ctx_of(p);
  if (base == nullptr) return DARI_ERR_INVALID;
  *base = nullptr;
  return guarded(c, [&] {
    uint64_t b = 0;
    Status s = alloc_buffer(c, bytes, &b);
    if (s.ok()) *base = reinterpret_cast<void*>(static_cast<uintptr_t>(b));
    return s;
  });
}

void vk_free(void* p, void* base) {
  if (p != nullptr) free_buffer(ctx_of(p), addr(base));
}

int32_t vk_upload(void* p, void* dst, const void* src, uint64_t bytes) {
  Context* c = ctx_of(p);
  return guarded(c, [&] {
    Status s = upload(c, addr(dst), src, bytes);
    if (!s.ok()) s.msg = fmt("upload of %llu bytes: ", (unsigned long long)bytes) + s.msg;
    return s;
  });
}

int32_t vk_download(void* p, void* dst, const void* src, uint64_t bytes) {
  Context* c = ctx_of(p);
  return guarded(c, [&] {
    Status s = download(c, dst, addr(src), bytes);
    if (!s.ok()) s.msg = fmt("download of %llu bytes: ", (unsigned long long)bytes) + s.msg;
    return s;
  });
}

int32_t vk_copy(void* p, void* dst, const void* src, uint64_t bytes) {
  Context* c = ctx_of(p);
  return guarded(c, [&] {
    Status s = copy(c, addr(dst), addr(src), bytes);
    if (!s.ok()) s.msg = fmt("copy of %llu bytes: ", (unsigned long long)bytes) + s.msg;
    return s;
  });
}

int32_t vk_memory(void* p, uint64_t* free_bytes, uint64_t* total_bytes) {
  Context* c = ctx_of(p);
  return guarded(c, [&] {
    memory_info(c, free_bytes, total_bytes);
    return Status::Ok();
  });
}

int32_t vk_supports_op(void* p, const DariOp* op) {
  if (p == nullptr || op == nullptr) return 0;
  try {
    return check_op(ctx_of(p), *op).empty() ? 1 : 0;
  } catch (...) {
    return 0;
  }
}

int32_t vk_pack_weight(void* p, const DariTensorView*, int32_t* packed) {
  if (packed != nullptr) *packed = 0;
  return p == nullptr ? DARI_ERR_INVALID : DARI_OK;
}

// Profile bucket of an op: "matmul Q4_0 m=1", "matmul Q4_0 m=2-8", "attention F16", "add".
std::string profile_label(const DariOp& op) {
  std::string s = op_name(op.kind);
  auto upper = [](const DariTensorView& v) {
    std::string t = type_info(v.type).name;
    for (char& ch : t) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    return t;
  };
  if (op.kind == DARI_OP_MATMUL) {
    const uint64_t m = n_rows(op.src[1]);
    s += " " + upper(op.src[0]) + (m == 1 ? " m=1" : m <= 8 ? " m=2-8" : " m>8");
  } else if (op.kind == DARI_OP_GET_ROWS || op.kind == DARI_OP_COPY) {
    s += " " + upper(op.src[0]);
  } else if (op.kind == DARI_OP_ATTENTION) {
    s += " " + upper(op.src[1]);
  } else if (op.kind == DARI_OP_SET_ROWS) {
    s += " " + upper(op.dst);
  }
  return s;
}

int32_t vk_compute(void* p, const DariOp* ops, uint32_t n_ops) {
  Context* c = ctx_of(p);
  if (n_ops > 0 && ops == nullptr) return DARI_ERR_INVALID;
  return guarded(c, [&] {
    Encoder e(c);
    for (uint32_t i = 0; i < n_ops; ++i) {
      Status s = encode_op(e, ops[i]);
      if (s.ok() && c->profile) e.end_op(profile_label(ops[i]));
      if (!s.ok()) {
        const DariOp& op = ops[i];
        std::string shapes;
        for (uint32_t k = 0; k < op.n_src && k < 3; ++k) {
          shapes += fmt(" src%u %s", k, describe(op.src[k]).c_str());
        }
        shapes += " dst " + describe(op.dst);
        s.msg = fmt("op %u (%s):", i, op_name(op.kind)) + shapes + ": " + s.msg;
        return s;
      }
    }
    Status s = e.submit();
    if (!s.ok()) s.msg = fmt("compute of %u ops: ", n_ops) + s.msg;
    return s;
  });
}

uint64_t vk_packed_bytes(void*) {
  return 0;
}

uint32_t vk_op_profile(void* p, DariOpProfileEntry* out, uint32_t cap) {
  if (p == nullptr) return 0;
  Context* c = ctx_of(p);
  std::vector<std::pair<std::string, Context::ProfileEntry>> v(c->op_times.begin(),
                                                               c->op_times.end());
  std::sort(v.begin(), v.end(),
            [](const auto& a, const auto& b) { return a.second.seconds > b.second.seconds; });
  for (uint32_t i = 0; i < cap && i < v.size() && out != nullptr; ++i) {
    std::memset(&out[i], 0, sizeof(out[i]));
    std::snprintf(out[i].op, sizeof(out[i].op), "%s", v[i].first.c_str());
    out[i].calls = v[i].second.calls;
    out[i].seconds = v[i].second.seconds;
  }
  return static_cast<uint32_t>(v.size());
}

void vk_reset_op_profile(void* p) {
  if (p != nullptr) ctx_of(p)->op_times.clear();
}

const DariBackendPluginV2 kTable = {
    DARI_PLUGIN_ABI_VERSION_2,
    sizeof(DariBackendPluginV2),
    "vulkan",
    vk_device_count,
    vk_device_info,
    vk_create,
    vk_destroy,
    vk_last_error,
    vk_alloc,
    vk_free,
    vk_upload,
    vk_download,
    vk_copy,
    vk_memory,
    vk_supports_op,
    vk_pack_weight,
    vk_compute,
    vk_packed_bytes,
    vk_op_profile,
    vk_reset_op_profile,
};

}  // namespace
}  // namespace dari_vk

extern "C" __attribute__((visibility("default"))) const DariBackendPluginV2* dari_backend_plugin_v2(
    void) {
  return &dari_vk::kTable;
}
