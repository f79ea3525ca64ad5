// `dari devices`: every backend and its devices (llama.cpp's --list-devices), after loading the
// plugins on the search path ($DARI_BACKEND_PATH, beside the executable, ../lib/dari). Plugins
// that fail to load are printed as warnings on stderr; the exit status is 0 as long as the list
// could be made (a library named with --backend-plugin must load). --json prints one object for
// machines.
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "cmd_common.h"
#include "command.h"
#include "dari/backend/backend.h"
#include "dari/core/strings.h"

namespace dari::cli {
namespace {

struct DevicesArgs {
  bool json = false;
  std::vector<std::string> plugins;
};

std::vector<std::string> cap_names(uint32_t caps) {
  static const std::pair<uint32_t, const char*> kCaps[] = {{DARI_CAP_HOST_MEMORY, "host-memory"},
                                                           {DARI_CAP_F16, "f16"},
                                                           {DARI_CAP_SUBGROUPS, "subgroups"},
                                                           {DARI_CAP_UNIFIED, "unified"},
                                                           {DARI_CAP_SOFTWARE, "software"}};
  std::vector<std::string> out;
  for (const auto& [bit, name] : kCaps) {
    if ((caps & bit) != 0) out.push_back(name);
  }
  if ((caps & ~0x1fu) != 0) out.push_back(str_format("0x%x", caps & ~0x1fu));
  return out;
}

std::string join(const std::vector<std::string>& v, const char* sep) {
  std::string s;
  for (const std::string& x : v) s += (s.empty() ? "" : sep) + x;
  return s;
}

std::string memory_text(const DeviceInfo& d) {
  if (d.memory_bytes == 0) return "unknown";
  if (d.memory_free == 0) return human_bytes(d.memory_bytes) + " total";
  return human_bytes(d.memory_free) + " free / " + human_bytes(d.memory_bytes);
}

// Devices of every registered backend: v2 tables answer without a context; a backend that only
// the registry knows (v1 plugins, registered factories) is opened once to ask.
std::vector<DeviceInfo> all_devices(std::vector<std::string>* warnings) {
  std::vector<DeviceInfo> devs = list_devices();
  std::set<std::string> seen;
  for (const DeviceInfo& d : devs) seen.insert(d.backend);
  for (const std::string& name : backend_names()) {
    if (seen.count(name) != 0) continue;
    auto b = create_backend(name);
    if (!b.ok()) {
      warnings->push_back(b.message());
      continue;
    }
    DeviceInfo d = (*b)->device();
    d.backend = name;
    devs.push_back(d);
  }
  return devs;
}

}  // namespace

int print_devices(bool json) {
  std::vector<std::string> warnings;
  for (std::string& e : discover_plugins()) warnings.push_back(std::move(e));
  const std::vector<DeviceInfo> devs = all_devices(&warnings);
  if (!json) {
    for (const std::string& w : warnings) std::fprintf(stderr, "dari: warning: %s\n", w.c_str());
  }
  if (json) {
    nlohmann::json j;
    j["devices"] = nlohmann::json::array();
    for (const DeviceInfo& d : devs) {
      j["devices"].push_back({{"backend", d.backend},
                              {"index", d.index},
                              {"spec", d.backend + ":" + std::to_string(d.index)},
                              {"name", d.name},
                              {"kind", std::string(device_kind_name(d.kind))},
                              {"description", d.description},
                              {"memory_total", d.memory_bytes},
                              {"memory_free", d.memory_free},
                              {"max_buffer", d.max_buffer},
                              {"host_memory", d.host_memory},
                              {"caps", cap_names(d.caps)}});
    }
    j["warnings"] = warnings;
    j["search_path"] = plugin_search_path();
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }
  std::printf("%-12s %-4s %-12s %-6s %-28s %-30s %s\n", "BACKEND", "DEV", "NAME", "KIND", "MEMORY",
              "CAPS", "DESCRIPTION");
  for (const DeviceInfo& d : devs) {
    const std::string caps = join(cap_names(d.caps), ",");
    std::printf("%-12s %-4d %-12s %-6s %-28s %-30s %s\n", d.backend.c_str(), d.index,
                d.name.c_str(), std::string(device_kind_name(d.kind)).c_str(),
                memory_text(d).c_str(), caps.empty() ? "-" : caps.c_str(), d.description.c_str());
  }
  std::printf("\nuse: --backend BACKEND[:DEV] (e.g. --backend %s); plugins are searched in: %s\n",
              devs.empty()
                  ? "cpu"
                  : (devs.back().backend + ":" + std::to_string(devs.back().index)).c_str(),
              join(plugin_search_path(), ":").c_str());
  return 0;
}

namespace {

int devices_main(const DevicesArgs& a) {
  BackendCliOptions plugins_only;  // registers --backend-plugin libraries, errors in one line
  plugins_only.plugins = a.plugins;
  ResolvedBackend unused;
  if (!resolve_backend(plugins_only, &unused)) return 1;
  return print_devices(a.json);
}

std::function<int()> setup(CLI::App& app) {
  auto a = std::make_shared<DevicesArgs>();
  app.add_flag("--json", a->json, "print one JSON object (devices, warnings, search_path)");
  app.add_option("--backend-plugin", a->plugins,
                 "also load this backend plugin library (repeatable)");
  return [a] { return devices_main(*a); };
}

DARI_COMMAND("devices", "List backends and their devices (loads the plugins it finds)", setup);

}  // namespace
}  // namespace dari::cli
