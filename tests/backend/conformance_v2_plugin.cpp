// A dlopen-able v2 plugin serving the CPU backend's v2 table under the name "cpu-dl", so the
// conformance suite and `dari backend-test --backend-plugin` exercise the whole external path
// (search, dlopen, table checks, the v2 adapter) on a backend that passes.
#include "dari/backend/plugin_abi.h"

namespace {
DariBackendPluginV2 g_table;
}  // namespace

extern "C" __attribute__((visibility("default"))) const DariBackendPluginV2* dari_backend_plugin_v2(
    void) {
  g_table = *dari_cpu_backend_plugin_v2();
  g_table.name = "cpu-dl";
  return &g_table;
}
