// Vulkan instance and physical devices, shared by every context of the process.
// The instance is created lazily on first use (thread-safe, std::call_once) and lives until the
// process exits; the device list never changes afterwards, so readers need no lock.
#pragma once

#include <string>
#include <vector>

#include "vk_common.h"

namespace dari_vk {

struct PhysDevice {
  VkPhysicalDevice handle = VK_NULL_HANDLE;
  uint32_t queue_family = 0;  // first family with compute
  VkPhysicalDeviceProperties props{};
  VkPhysicalDeviceMemoryProperties mem{};
  uint32_t subgroup_size = 0;
  bool subgroup_arith = false;  // subgroup arithmetic in compute shaders
  bool memory_budget = false;   // VK_EXT_memory_budget
  bool f16 = false;             // shaderFloat16
  uint64_t max_alloc = 0;       // maxMemoryAllocationSize
  uint64_t max_range = 0;       // maxStorageBufferRange
  uint32_t min_align = 16;      // minStorageBufferOffsetAlignment
  int device_local_type = -1;   // preferred memory type for buffers
  bool device_local_host_visible = false;
  uint64_t heap_size = 0;   // heap of device_local_type
  bool timestamps = false;  // the compute queue can write timestamps
};

// The instance (VK_NULL_HANDLE if Vulkan is unusable; then *err says why).
VkInstance instance(std::string* err);
// Physical devices with a compute queue, in enumeration order (empty when none).
const std::vector<PhysDevice>& devices();
// Fills a DariDeviceInfoV2 (respecting out->struct_size); DARI_ERR_INVALID for a bad index.
int32_t fill_device_info(int32_t index, DariDeviceInfoV2* out);
// Free bytes of the device-local heap (budget extension when present, else the heap size).
uint64_t heap_free(const PhysDevice& d);
// "Vulkan<i>".
std::string device_name(int32_t index);

}  // namespace dari_vk
