// Backend registry: names to factories, plugin libraries found on a search path, and the device
// list for `dari devices`.
#include <dirent.h>
#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <set>

#include "dari/backend/backend.h"
#include "dari/core/strings.h"

namespace dari {
namespace {

constexpr const char* kPluginPrefix = "libdari-backend-";
constexpr const char* kPluginSuffix = ".so";

struct Registry {
  std::mutex mu;
  std::map<std::string, BackendFactory> factories;
  // v2 tables by name, for list_devices() (v1 plugins report no devices without a context).
  std::map<std::string, const DariBackendPluginV2*> tables;
  std::map<std::string, std::string> loaded;  // library path -> registered name
  std::vector<std::string> extra_dirs;
};

Registry& registry() {
  static Registry* r = [] {
    auto* reg = new Registry;
    const DariBackendPluginV2* cpu = dari_cpu_backend_plugin_v2();
    reg->factories["cpu"] = [cpu](const BackendOptions& o) { return wrap_plugin_v2(cpu, o); };
    reg->tables["cpu"] = cpu;
    return reg;
  }();
  return *r;
}

std::string exe_dir() {
  char buf[4096];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return "";
  std::string p(buf, static_cast<size_t>(n));
  const size_t slash = p.rfind('/');
  return slash == std::string::npos ? "" : p.substr(0, slash);
}

bool valid_name(const std::string& n) {
  if (n.empty() || n.size() > 31) return false;
  for (char c : n) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) return false;
  }
  return true;
}

// "vulkan:1" -> ("vulkan", 1); "cpu" -> ("cpu", -1).
Result<std::pair<std::string, int32_t>> parse_spec(const std::string& spec) {
  const size_t colon = spec.find(':');
  if (colon == std::string::npos) return std::make_pair(spec, int32_t{-1});
  const std::string name = spec.substr(0, colon), dev = spec.substr(colon + 1);
  char* end = nullptr;
  const long v = std::strtol(dev.c_str(), &end, 10);
  if (dev.empty() || end == nullptr || *end != '\0' || v < 0 || v > 1023) {
    return make_error("backend '" + printable(spec) + "': the device after ':' must be a number");
  }
  return std::make_pair(name, static_cast<int32_t>(v));
}

// dlopen()s `path` and returns its entry points (either may be null).
Result<std::pair<const DariBackendPluginV2*, const DariBackendPlugin*>> open_library(
    const std::string& path) {
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* e = dlerror();
    return make_error("backend plugin " + path + ": dlopen failed: " + (e ? e : "?"));
  }
  void* s2 = dlsym(handle, DARI_PLUGIN_ENTRY_NAME_V2);
  void* s1 = dlsym(handle, DARI_PLUGIN_ENTRY_NAME);
  if (s2 == nullptr && s1 == nullptr) {
    // A plugin built for a later ABI exports only its own entry (dari_backend_plugin_v3, ...).
    for (int v = 3; v <= 9; ++v) {
      if (dlsym(handle, str_format("dari_backend_plugin_v%d", v).c_str()) != nullptr) {
        dlclose(handle);
        return make_error(str_format("backend plugin %s: built for ABI v%d, newer than this dari "
                                     "(it loads v%u and v%u plugins)",
                                     path.c_str(), v, DARI_PLUGIN_ABI_VERSION,
                                     DARI_PLUGIN_ABI_VERSION_2));
      }
    }
    dlclose(handle);
    return make_error("backend plugin " + path + ": exports neither " + DARI_PLUGIN_ENTRY_NAME_V2 +
                      " nor " + DARI_PLUGIN_ENTRY_NAME);
  }
  const DariBackendPluginV2* t2 = nullptr;
  const DariBackendPlugin* t1 = nullptr;
  if (s2 != nullptr) {
    DariPluginEntryV2Fn f = nullptr;
    std::memcpy(&f, &s2, sizeof(f));
    t2 = f();
  } else {
    DariPluginEntryFn f = nullptr;
    std::memcpy(&f, &s1, sizeof(f));
    t1 = f();
  }
  return std::make_pair(t2, t1);  // the library stays loaded for the life of the process
}

}  // namespace

void register_backend(const std::string& name, BackendFactory factory) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  r.factories[name] = std::move(factory);
}

std::vector<std::string> backend_names() {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  std::vector<std::string> out;
  for (const auto& [name, f] : r.factories) out.push_back(name);
  return out;
}

void add_plugin_search_dir(const std::string& dir) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  r.extra_dirs.push_back(dir);
}

std::vector<std::string> plugin_search_path() {
  std::vector<std::string> dirs;
  if (const char* env = std::getenv("DARI_BACKEND_PATH")) {
    for (const std::string& d : split(env, ':')) {
      if (!d.empty()) dirs.push_back(d);
    }
  }
  {
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mu);
    dirs.insert(dirs.end(), r.extra_dirs.begin(), r.extra_dirs.end());
  }
  const std::string exe = exe_dir();
  if (!exe.empty()) {
    dirs.push_back(exe);
    dirs.push_back(exe + "/../lib/dari");
  }
  return dirs;
}

Result<std::string> register_plugin_library(const std::string& path) {
  Registry& r = registry();
  {
    std::lock_guard<std::mutex> lock(r.mu);
    if (auto it = r.loaded.find(path); it != r.loaded.end()) return it->second;
  }
  DARI_ASSIGN_OR_RETURN(auto tables, open_library(path));
  std::string name;
  BackendFactory factory;
  if (tables.first != nullptr) {
    const DariBackendPluginV2* t = tables.first;
    auto devices = plugin_devices(t);  // validates the table
    if (!devices.ok()) return make_error(path + ": " + devices.message());
    name.assign(t->name, strnlen(t->name, 32));
    factory = [t](const BackendOptions& o) { return wrap_plugin_v2(t, o); };
  } else {
    const DariBackendPlugin* t = tables.second;
    if (t == nullptr || t->name == nullptr) return make_error(path + ": null v1 plugin table");
    name.assign(t->name, strnlen(t->name, 32));
    factory = [t, path](const BackendOptions& o) -> Result<std::unique_ptr<Backend>> {
      auto b = wrap_plugin(t, o);
      if (!b.ok()) return make_error(path + ": " + b.message());
      return b;
    };
  }
  if (!valid_name(name)) {
    return make_error(path + ": plugin name '" + printable(name) + "' is not [a-z0-9_-]{1,31}");
  }
  std::lock_guard<std::mutex> lock(r.mu);
  // A name registered in code (cpu) stays; one from another library is replaced by this one.
  if (r.factories.count(name) != 0) {
    bool from_library = false;
    for (const auto& [p, n] : r.loaded) from_library |= n == name;
    if (!from_library) return make_error(path + ": backend name '" + name + "' is already taken");
  }
  r.factories[name] = std::move(factory);
  if (tables.first != nullptr) r.tables[name] = tables.first;
  r.loaded[path] = name;
  return name;
}

std::vector<std::string> discover_plugins() {
  std::vector<std::string> errors;
  std::set<std::string> seen;
  for (const std::string& dir : plugin_search_path()) {
    DIR* d = opendir(dir.c_str());
    if (d == nullptr) continue;
    std::vector<std::string> files;
    while (dirent* e = readdir(d)) {
      const std::string f = e->d_name;
      if (f.rfind(kPluginPrefix, 0) == 0 && f.size() > std::strlen(kPluginSuffix) &&
          f.compare(f.size() - 3, 3, kPluginSuffix) == 0) {
        files.push_back(f);
      }
    }
    closedir(d);
    std::sort(files.begin(), files.end());
    for (const std::string& f : files) {
      if (!seen.insert(f).second) continue;  // the first folder on the path wins
      auto r = register_plugin_library(dir + "/" + f);
      if (!r.ok()) errors.push_back(r.message());
    }
  }
  return errors;
}

Result<std::unique_ptr<Backend>> create_backend(const std::string& spec,
                                                const BackendOptions& opts) {
  DARI_ASSIGN_OR_RETURN(auto parsed, parse_spec(spec));
  const std::string& name = parsed.first;
  BackendOptions o = opts;
  if (parsed.second >= 0) o.device = parsed.second;
  auto find = [&]() -> BackendFactory {
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mu);
    auto it = r.factories.find(name);
    return it == r.factories.end() ? BackendFactory{} : it->second;
  };
  BackendFactory factory = find();
  std::vector<std::string> errors;
  if (!factory && valid_name(name)) {
    // Not registered yet: look for libdari-backend-<name>.so on the search path.
    for (const std::string& dir : plugin_search_path()) {
      const std::string path = dir + "/" + kPluginPrefix + name + kPluginSuffix;
      if (access(path.c_str(), F_OK) != 0) continue;
      auto r = register_plugin_library(path);
      if (!r.ok()) {
        errors.push_back(r.message());
        continue;
      }
      factory = find();
      if (factory) break;
    }
  }
  if (!factory) {
    if (!errors.empty()) return make_error("backend '" + printable(name) + "': " + errors.front());
    std::string known;
    for (const std::string& n : backend_names()) known += (known.empty() ? "" : ", ") + n;
    return make_error("unknown backend '" + printable(name) + "' (registered: " + known +
                      "; plugins are looked up as " + kPluginPrefix + "<name>" + kPluginSuffix +
                      " in $DARI_BACKEND_PATH and beside the dari executable)");
  }
  return factory(o);
}

std::vector<DeviceInfo> list_devices() {
  std::vector<std::pair<std::string, const DariBackendPluginV2*>> tables;
  {
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mu);
    tables.assign(r.tables.begin(), r.tables.end());
  }
  std::vector<DeviceInfo> out;
  for (const auto& [name, t] : tables) {
    auto devs = plugin_devices(t);
    if (devs.ok()) out.insert(out.end(), devs.value().begin(), devs.value().end());
  }
  return out;
}

Result<std::unique_ptr<Backend>> load_plugin(const std::string& path, const BackendOptions& opts) {
  DARI_ASSIGN_OR_RETURN(auto tables, open_library(path));
  if (tables.first != nullptr) {
    auto b = wrap_plugin_v2(tables.first, opts);
    if (!b.ok()) return make_error(path + ": " + b.message());
    return b;
  }
  auto b = wrap_plugin(tables.second, opts);
  if (!b.ok()) return make_error(path + ": " + b.message());
  return b;
}

}  // namespace dari
