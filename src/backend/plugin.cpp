// Adapter from the v1 C plugin ABI (plugin_abi.h: host memory, one op per call) to the C++
// Backend interface. v2 plugins go through plugin_v2.cpp.
#include <cstring>

#include "dari/backend/backend.h"
#include "dari/core/strings.h"

namespace dari {
namespace {

// Plugin-allocated memory; returned to the plugin in the destructor.
class PluginBuffer final : public Buffer {
 public:
  PluginBuffer(const DariBackendPlugin* plugin, void* ctx, void* ptr, uint64_t size)
      : plugin_(plugin), ctx_(ctx), ptr_(ptr), size_(size) {}
  ~PluginBuffer() override { plugin_->free_buffer(ctx_, ptr_); }
  void* data() override { return ptr_; }
  uint64_t size() const override { return size_; }

 private:
  const DariBackendPlugin* plugin_;
  void* ctx_;
  void* ptr_;
  uint64_t size_;
};

class PluginBackend final : public Backend {
 public:
  PluginBackend(const DariBackendPlugin* plugin, void* ctx, DeviceInfo info)
      : plugin_(plugin), ctx_(ctx), info_(std::move(info)) {}
  ~PluginBackend() override { plugin_->destroy(ctx_); }

  const DeviceInfo& device() const override { return info_; }

  Result<std::unique_ptr<Buffer>> alloc(uint64_t bytes) override {
    void* p = plugin_->alloc_buffer(ctx_, bytes);
    if (p == nullptr) {
      return make_error(str_format("%s: cannot allocate %s", info_.name.c_str(),
                                   human_bytes(bytes).c_str()));
    }
    return std::unique_ptr<Buffer>(new PluginBuffer(plugin_, ctx_, p, bytes));
  }

  bool supports(OpKind kind, std::span<const GgmlType> types) const override {
    std::vector<uint32_t> raw;
    raw.reserve(types.size());
    for (GgmlType t : types) raw.push_back(static_cast<uint32_t>(t));
    return plugin_->supports(ctx_, static_cast<uint32_t>(kind), raw.data(),
                             static_cast<uint32_t>(raw.size())) != 0;
  }

  Status run(const Op& op) override {
    char err[512];
    err[0] = '\0';
    if (plugin_->run(ctx_, &op, err, sizeof(err)) != 0) {
      err[sizeof(err) - 1] = '\0';
      return make_error(info_.name + ": " + err);
    }
    return Status::Ok();
  }

 private:
  const DariBackendPlugin* plugin_;
  void* ctx_;
  DeviceInfo info_;
};

}  // namespace

Result<std::unique_ptr<Backend>> wrap_plugin(const DariBackendPlugin* plugin,
                                             const BackendOptions& opts) {
  if (plugin == nullptr) return make_error("backend plugin: null plugin table");
  if (plugin->abi_version != DARI_PLUGIN_ABI_VERSION) {
    return make_error(str_format("backend plugin: ABI version %u, dari supports %u",
                                 plugin->abi_version, DARI_PLUGIN_ABI_VERSION));
  }
  if (plugin->struct_size < sizeof(DariBackendPlugin)) {
    return make_error(str_format("backend plugin: table is %u bytes, expected at least %zu",
                                 plugin->struct_size, sizeof(DariBackendPlugin)));
  }
  if (!plugin->create || !plugin->destroy || !plugin->device_info || !plugin->alloc_buffer ||
      !plugin->free_buffer || !plugin->supports || !plugin->run) {
    return make_error("backend plugin: table has a null function pointer");
  }
  void* ctx = plugin->create(opts.n_threads);
  if (ctx == nullptr) return make_error("backend plugin: create() failed");
  DariDeviceInfo c{};
  if (plugin->device_info(ctx, &c) != 0) {
    plugin->destroy(ctx);
    return make_error("backend plugin: device_info() failed");
  }
  c.name[sizeof(c.name) - 1] = '\0';
  c.description[sizeof(c.description) - 1] = '\0';
  DeviceInfo info;
  info.name = c.name;
  info.description = c.description;
  info.memory_bytes = c.memory_bytes;
  info.host_memory = c.host_memory != 0;
  info.backend = plugin->name != nullptr ? std::string(plugin->name, strnlen(plugin->name, 32)) : "";
  if (info.host_memory) info.caps = DARI_CAP_HOST_MEMORY;
  return std::unique_ptr<Backend>(new PluginBackend(plugin, ctx, std::move(info)));
}

}  // namespace dari
