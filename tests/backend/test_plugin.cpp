// A minimal out-of-tree-style backend plugin for the dlopen test: it exports the entry point and
// serves the CPU backend's table under its own name.
#include "dari/backend/plugin_abi.h"

namespace {
DariBackendPlugin g_table;
}  // namespace

extern "C" __attribute__((visibility("default"))) const DariBackendPlugin* dari_backend_plugin_v1(
    void) {
  g_table = *dari_cpu_backend_plugin();
  g_table.name = "test-plugin";
  return &g_table;
}
