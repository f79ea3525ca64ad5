// Adapter from the v2 C plugin ABI (plugin_abi.h) to the C++ Backend interface. Every backend
// dari ships is reached through it, the CPU included, so the seam a vendor implements is the one
// the default path exercises.
#include <algorithm>
#include <cstddef>
#include <cstring>

#include "dari/backend/backend.h"
#include "dari/core/strings.h"

namespace dari {
namespace {

std::string status_name(int32_t st) {
  switch (st) {
    case DARI_OK: return "ok";
    case DARI_ERR_UNSUPPORTED: return "unsupported";
    case DARI_ERR_OUT_OF_MEMORY: return "out of device memory";
    case DARI_ERR_DEVICE_LOST: return "device lost";
    case DARI_ERR_INVALID: return "invalid argument";
    default: return "error";
  }
}

DeviceInfo from_c_info(const DariDeviceInfoV2& c, const std::string& backend, int32_t index) {
  DeviceInfo d;
  d.name.assign(c.name, strnlen(c.name, sizeof(c.name)));
  d.description.assign(c.description, strnlen(c.description, sizeof(c.description)));
  d.backend = backend;
  d.index = index;
  d.kind = c.kind <= DARI_DEVICE_OTHER ? static_cast<DeviceKind>(c.kind) : DeviceKind::kOther;
  d.memory_bytes = c.memory_total;
  d.memory_free = c.memory_free;
  d.max_buffer = c.max_buffer;
  d.caps = c.caps;
  d.host_memory = (c.caps & DARI_CAP_HOST_MEMORY) != 0;
  return d;
}

// A plugin-owned allocation; returned to the plugin in the destructor.
class PluginBufferV2 final : public Buffer {
 public:
  PluginBufferV2(const DariBackendPluginV2* plugin, void* ctx, void* base, uint64_t size)
      : plugin_(plugin), ctx_(ctx), base_(base), size_(size) {}
  ~PluginBufferV2() override { plugin_->free_buffer(ctx_, base_); }
  void* data() override { return base_; }
  uint64_t size() const override { return size_; }

 private:
  const DariBackendPluginV2* plugin_;
  void* ctx_;
  void* base_;
  uint64_t size_;
};

// Optional table entries exist only when the plugin's struct_size covers them (an older minor
// revision of the table ends earlier).
#define DARI_OPTIONAL_FN(table, field)                                                   \
  ((offsetof(DariBackendPluginV2, field) + sizeof((table)->field) <= (table)->struct_size) \
       ? (table)->field                                                                  \
       : nullptr)

class PluginBackendV2 final : public Backend {
 public:
  PluginBackendV2(const DariBackendPluginV2* plugin, void* ctx, DeviceInfo info)
      : plugin_(plugin), ctx_(ctx), info_(std::move(info)) {}
  ~PluginBackendV2() override { plugin_->destroy(ctx_); }

  const DeviceInfo& device() const override { return info_; }

  Result<std::unique_ptr<Buffer>> alloc(uint64_t bytes) override {
    void* base = nullptr;
    const int32_t st = plugin_->alloc_buffer(ctx_, bytes, &base);
    if (st != DARI_OK || (base == nullptr && bytes != 0)) {
      return fail("cannot allocate " + human_bytes(bytes), st);
    }
    return std::unique_ptr<Buffer>(new PluginBufferV2(plugin_, ctx_, base, bytes));
  }

  bool supports(OpKind kind, std::span<const GgmlType> types) const override {
    // Shape-free question: ask about a one-element op of these types.
    if (types.empty() || types.size() > 4) return false;
    Op op{};
    op.kind = static_cast<uint32_t>(kind);
    op.n_src = static_cast<uint32_t>(types.size() - 1);
    for (size_t i = 0; i + 1 < types.size(); ++i) op.src[i].type = static_cast<uint32_t>(types[i]);
    op.dst.type = static_cast<uint32_t>(types.back());
    return plugin_->supports_op(ctx_, &op) == 1;
  }
  bool supports_op(const Op& op) const override { return plugin_->supports_op(ctx_, &op) == 1; }

  Status run(const Op& op) override { return compute(std::span<const Op>(&op, 1)); }

  Status compute(std::span<const Op> ops) override {
    if (ops.empty()) return Status::Ok();
    if (ops.size() > UINT32_MAX) return make_error(info_.name + ": graph too large");
    const int32_t st = plugin_->compute(ctx_, ops.data(), static_cast<uint32_t>(ops.size()));
    if (st != DARI_OK) return fail("compute", st);
    return Status::Ok();
  }

  Status upload(void* dst, const void* src, uint64_t bytes) override {
    const int32_t st = plugin_->upload(ctx_, dst, src, bytes);
    if (st == DARI_OK) transfers_.uploaded += bytes;
    return st == DARI_OK ? Status::Ok() : fail("upload of " + human_bytes(bytes), st);
  }
  Status download(void* dst, const void* src, uint64_t bytes) override {
    const int32_t st = plugin_->download(ctx_, dst, src, bytes);
    if (st == DARI_OK) transfers_.downloaded += bytes;
    return st == DARI_OK ? Status::Ok() : fail("download of " + human_bytes(bytes), st);
  }
  Status copy_bytes(void* dst, const void* src, uint64_t bytes) override {
    const int32_t st = plugin_->copy(ctx_, dst, src, bytes);
    return st == DARI_OK ? Status::Ok() : fail("copy of " + human_bytes(bytes), st);
  }
  uint64_t memory_free() const override {
    uint64_t free_bytes = 0, total = 0;
    if (plugin_->memory(ctx_, &free_bytes, &total) != DARI_OK) return 0;
    return free_bytes;
  }

  Result<bool> pack_weight(const TensorView& w) override {
    auto fn = DARI_OPTIONAL_FN(plugin_, pack_weight);
    if (fn == nullptr) return false;
    const DariTensorView c = to_c_view(w);
    int32_t packed = 0;
    const int32_t st = fn(ctx_, &c, &packed);
    if (st != DARI_OK) return fail("pack_weight " + w.describe(), st);
    return packed != 0;
  }
  uint64_t packed_bytes() const override {
    auto fn = DARI_OPTIONAL_FN(plugin_, packed_bytes);
    return fn ? fn(ctx_) : 0;
  }
  std::vector<OpProfile> op_profile() const override {
    auto fn = DARI_OPTIONAL_FN(plugin_, op_profile);
    if (fn == nullptr) return {};
    std::vector<DariOpProfileEntry> raw(64);
    uint32_t n = fn(ctx_, raw.data(), static_cast<uint32_t>(raw.size()));
    if (n > raw.size()) {
      raw.resize(n);
      n = std::min<uint32_t>(n, fn(ctx_, raw.data(), n));
    }
    std::vector<OpProfile> out;
    for (uint32_t i = 0; i < n; ++i) {
      out.push_back({std::string(raw[i].op, strnlen(raw[i].op, sizeof(raw[i].op))), raw[i].calls,
                     raw[i].seconds});
    }
    return out;
  }
  void reset_op_profile() override {
    if (auto fn = DARI_OPTIONAL_FN(plugin_, reset_op_profile)) fn(ctx_);
  }

 private:
  // An error naming the device, what failed, the ABI status and the plugin's own message.
  Error fail(const std::string& what, int32_t st) const {
    const char* msg = plugin_->last_error(ctx_);
    std::string detail = msg != nullptr ? std::string(msg, strnlen(msg, 1024)) : "";
    return make_error(info_.name + ": " + what + " failed (" + status_name(st) + ")" +
                      (detail.empty() ? "" : ": " + detail));
  }

  const DariBackendPluginV2* plugin_;
  void* ctx_;
  DeviceInfo info_;
};

Status check_table(const DariBackendPluginV2* p) {
  if (p == nullptr) return make_error("backend plugin: null plugin table");
  if (p->abi_version != DARI_PLUGIN_ABI_VERSION_2) {
    return make_error(str_format(
        "backend plugin: ABI version %u%s; this dari supports versions %u and %u",
        p->abi_version, p->abi_version > DARI_PLUGIN_ABI_VERSION_2 ? " is newer than dari's" : "",
        DARI_PLUGIN_ABI_VERSION, DARI_PLUGIN_ABI_VERSION_2));
  }
  const size_t required = offsetof(DariBackendPluginV2, compute) + sizeof(p->compute);
  if (p->struct_size < required) {
    return make_error(str_format("backend plugin: v2 table is %u bytes, expected at least %zu",
                                 p->struct_size, required));
  }
  if (p->name == nullptr || !p->device_count || !p->device_info || !p->create || !p->destroy ||
      !p->last_error || !p->alloc_buffer || !p->free_buffer || !p->upload || !p->download ||
      !p->copy || !p->memory || !p->supports_op || !p->compute) {
    return make_error("backend plugin: v2 table has a null name or required function");
  }
  return Status::Ok();
}

}  // namespace

Result<std::vector<DeviceInfo>> plugin_devices(const DariBackendPluginV2* plugin) {
  DARI_TRY(check_table(plugin));
  const std::string name(plugin->name, strnlen(plugin->name, 32));
  const int32_t n = plugin->device_count();
  std::vector<DeviceInfo> out;
  for (int32_t i = 0; i < n && i < 64; ++i) {
    DariDeviceInfoV2 c{};
    c.struct_size = sizeof(c);
    if (plugin->device_info(i, &c) != DARI_OK) continue;
    out.push_back(from_c_info(c, name, i));
  }
  return out;
}

Result<std::unique_ptr<Backend>> wrap_plugin_v2(const DariBackendPluginV2* plugin,
                                                const BackendOptions& opts) {
  DARI_TRY(check_table(plugin));
  const std::string name(plugin->name, strnlen(plugin->name, 32));
  const int32_t n = plugin->device_count();
  if (opts.device < 0 || opts.device >= n) {
    return make_error(str_format("backend '%s': no device %d (it has %d)", name.c_str(),
                                 opts.device, n < 0 ? 0 : n));
  }
  DariDeviceInfoV2 c{};
  c.struct_size = sizeof(c);
  if (plugin->device_info(opts.device, &c) != DARI_OK) {
    return make_error(str_format("backend '%s': device_info(%d) failed", name.c_str(), opts.device));
  }
  DariCreateParams cp{};
  cp.struct_size = sizeof(cp);
  cp.device = opts.device;
  cp.n_threads = opts.n_threads;
  cp.flags = (opts.repack ? 0u : DARI_CREATE_NO_REPACK) | (opts.profile ? DARI_CREATE_PROFILE : 0u) |
             (opts.simd ? 0u : DARI_CREATE_REFERENCE);
  void* ctx = nullptr;
  char err[512] = {0};
  const int32_t st = plugin->create(&cp, &ctx, err, sizeof(err));
  if (st != DARI_OK || ctx == nullptr) {
    err[sizeof(err) - 1] = '\0';
    return make_error(str_format("backend '%s': cannot open device %d (%s): %s", name.c_str(),
                                 opts.device, status_name(st).c_str(), err));
  }
  return std::unique_ptr<Backend>(new PluginBackendV2(plugin, ctx, from_c_info(c, name, opts.device)));
}

}  // namespace dari
