// A test-only v2 backend plugin ("fakedev") that simulates a device without host memory.
//
// Buffers are host allocations inside the plugin, but the addresses it hands out lie in a
// reserved PROT_NONE range of the address space: anything in dari that dereferenced a device
// address would fault. Every op's views are translated back to the real memory and run by the
// CPU's own v2 table, so results are the CPU's, bit for bit. It counts allocated bytes and can
// refuse allocations past a memory limit (out of device memory), and can decline chosen ops in
// supports_op() (to exercise placement fallback).
//
// Thread safety: the configuration and counters are process-wide and guarded by a mutex; set the
// configuration before creating backends (tests run serially).
#pragma once

#include <cstdint>
#include <functional>

#include "dari/backend/plugin_abi.h"

namespace dari::test {

struct FakeDeviceConfig {
  uint64_t memory_limit = 0;  // bytes the device holds; 0 = unlimited (memory_free reports 0)
  uint64_t max_buffer = 0;    // largest single allocation reported and enforced; 0 = no limit
  bool hide_free = false;     // report free memory as unknown (0) while enforcing the limit
  // Ops for which supports_op() answers 0 (null = decline nothing beyond what the CPU declines).
  std::function<bool(const DariOp&)> decline;
};

struct FakeDeviceStats {
  uint64_t allocated = 0;  // bytes in live buffers
  uint64_t computes = 0;   // compute() calls
  uint64_t ops = 0;        // ops run
};

// Registers "fakedev" (once per process) and resets the configuration to `cfg`.
void register_fake_device(const FakeDeviceConfig& cfg = {});
// Changes the configuration (e.g. lowers the memory limit after load).
void set_fake_device_config(const FakeDeviceConfig& cfg);
FakeDeviceStats fake_device_stats();
// True if p lies in the fake device's address range.
bool is_fake_device_address(const void* p);
const DariBackendPluginV2* fake_device_plugin();

}  // namespace dari::test
