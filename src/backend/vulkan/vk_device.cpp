// Instance creation and physical device discovery (see vk_device.h). Thread-safe: the only
// mutable state is built once under std::call_once.
#include "vk_device.h"

#include <algorithm>
#include <cstring>
#include <mutex>

namespace dari_vk {
namespace {

struct Global {
  std::once_flag once;
  VkInstance inst = VK_NULL_HANDLE;
  std::string error;
  std::vector<PhysDevice> devs;
};

Global& global() {
  static Global* g = new Global;  // never destroyed: may be used during exit from any thread
  return *g;
}

bool has_extension(VkPhysicalDevice pd, const char* name) {
  uint32_t n = 0;
  vkEnumerateDeviceExtensionProperties(pd, nullptr, &n, nullptr);
  std::vector<VkExtensionProperties> ext(n);
  vkEnumerateDeviceExtensionProperties(pd, nullptr, &n, ext.data());
  for (const auto& e : ext) {
    if (std::strcmp(e.extensionName, name) == 0) return true;
  }
  return false;
}

void probe(PhysDevice* d) {
  VkPhysicalDeviceSubgroupProperties sg{};
  sg.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES;
  VkPhysicalDeviceMaintenance3Properties m3{};
  m3.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES;
  m3.pNext = &sg;
  VkPhysicalDeviceProperties2 p2{};
  p2.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2;
  p2.pNext = &m3;
  vkGetPhysicalDeviceProperties2(d->handle, &p2);
  d->props = p2.properties;
  d->subgroup_size = sg.subgroupSize;
  d->subgroup_arith = (sg.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) != 0 &&
                      (sg.supportedOperations & VK_SUBGROUP_FEATURE_ARITHMETIC_BIT) != 0 &&
                      (sg.supportedOperations & VK_SUBGROUP_FEATURE_BASIC_BIT) != 0;
  d->max_alloc = m3.maxMemoryAllocationSize;
  d->max_range = d->props.limits.maxStorageBufferRange;
  d->min_align = static_cast<uint32_t>(
      std::max<VkDeviceSize>(4, d->props.limits.minStorageBufferOffsetAlignment));

  VkPhysicalDeviceShaderFloat16Int8Features f16{};
  f16.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES;
  VkPhysicalDeviceFeatures2 f2{};
  f2.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2;
  // The float16 feature struct exists from Vulkan 1.2 or with VK_KHR_shader_float16_int8.
  if (d->props.apiVersion >= VK_API_VERSION_1_2 ||
      has_extension(d->handle, VK_KHR_SHADER_FLOAT16_INT8_EXTENSION_NAME)) {
    f2.pNext = &f16;
  }
  vkGetPhysicalDeviceFeatures2(d->handle, &f2);
  d->f16 = f16.shaderFloat16 == VK_TRUE;

  d->memory_budget = has_extension(d->handle, VK_EXT_MEMORY_BUDGET_EXTENSION_NAME);
  vkGetPhysicalDeviceMemoryProperties(d->handle, &d->mem);
  // Prefer device-local memory; among those, one that is also host visible + coherent (then
  // uploads are plain memcpy).
  int best = -1;
  int best_score = -1;
  for (uint32_t i = 0; i < d->mem.memoryTypeCount; ++i) {
    const VkMemoryPropertyFlags f = d->mem.memoryTypes[i].propertyFlags;
    int score = 0;
    if (f & VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT) score += 4;
    if ((f & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT) && (f & VK_MEMORY_PROPERTY_HOST_COHERENT_BIT)) {
      score += 1;
    }
    if (f & VK_MEMORY_PROPERTY_PROTECTED_BIT) continue;
    if (score > best_score) {
      best_score = score;
      best = static_cast<int>(i);
    }
  }
  d->device_local_type = best;
  if (best >= 0) {
    const VkMemoryType& t = d->mem.memoryTypes[best];
    d->device_local_host_visible = (t.propertyFlags & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT) &&
                                   (t.propertyFlags & VK_MEMORY_PROPERTY_HOST_COHERENT_BIT);
    d->heap_size = d->mem.memoryHeaps[t.heapIndex].size;
  }
}

void init(Global& g) {
  VkApplicationInfo app{};
  app.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO;
  app.pApplicationName = "dari";
  app.pEngineName = "dari-backend-vulkan";
  app.apiVersion = VK_API_VERSION_1_1;
  VkInstanceCreateInfo ci{};
  ci.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO;
  ci.pApplicationInfo = &app;
  VkResult r = vkCreateInstance(&ci, nullptr, &g.inst);
  if (r != VK_SUCCESS) {
    g.inst = VK_NULL_HANDLE;
    g.error = std::string("vkCreateInstance failed: ") + vk_result_name(r);
    return;
  }
  uint32_t n = 0;
  vkEnumeratePhysicalDevices(g.inst, &n, nullptr);
  std::vector<VkPhysicalDevice> pds(n);
  vkEnumeratePhysicalDevices(g.inst, &n, pds.data());
  for (VkPhysicalDevice pd : pds) {
    VkPhysicalDeviceProperties props{};
    vkGetPhysicalDeviceProperties(pd, &props);
    if (props.apiVersion < VK_API_VERSION_1_1) continue;
    uint32_t nq = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(pd, &nq, nullptr);
    std::vector<VkQueueFamilyProperties> qf(nq);
    vkGetPhysicalDeviceQueueFamilyProperties(pd, &nq, qf.data());
    for (uint32_t i = 0; i < nq; ++i) {
      if (qf[i].queueFlags & VK_QUEUE_COMPUTE_BIT) {
        PhysDevice d;
        d.handle = pd;
        d.queue_family = i;
        d.timestamps = qf[i].timestampValidBits > 0;
        probe(&d);
        if (d.device_local_type >= 0) g.devs.push_back(d);
        break;
      }
    }
  }
}

void copy_str(char* dst, size_t cap, const std::string& s) {
  if (cap == 0) return;
  const size_t n = std::min(s.size(), cap - 1);
  std::memcpy(dst, s.data(), n);
  dst[n] = '\0';
}

}  // namespace

VkInstance instance(std::string* err) {
  Global& g = global();
  std::call_once(g.once, [&g] { init(g); });
  if (g.inst == VK_NULL_HANDLE && err != nullptr) *err = g.error;
  return g.inst;
}

const std::vector<PhysDevice>& devices() {
  instance(nullptr);
  return global().devs;
}

std::string device_name(int32_t index) {
  return fmt("Vulkan%d", index);
}

uint64_t heap_free(const PhysDevice& d) {
  if (!d.memory_budget) return d.heap_size;
  VkPhysicalDeviceMemoryBudgetPropertiesEXT b{};
  b.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_BUDGET_PROPERTIES_EXT;
  VkPhysicalDeviceMemoryProperties2 p{};
  p.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_PROPERTIES_2;
  p.pNext = &b;
  vkGetPhysicalDeviceMemoryProperties2(d.handle, &p);
  const uint32_t heap = d.mem.memoryTypes[d.device_local_type].heapIndex;
  const uint64_t budget = b.heapBudget[heap], usage = b.heapUsage[heap];
  return budget > usage ? budget - usage : 0;
}

int32_t fill_device_info(int32_t index, DariDeviceInfoV2* out) {
  const auto& devs = devices();
  if (out == nullptr || index < 0 || static_cast<size_t>(index) >= devs.size()) {
    return DARI_ERR_INVALID;
  }
  const PhysDevice& d = devs[static_cast<size_t>(index)];
  DariDeviceInfoV2 info;
  std::memset(&info, 0, sizeof(info));
  info.struct_size = sizeof(info);
  const bool software = d.props.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU;
  info.kind = DARI_DEVICE_GPU;
  copy_str(info.name, sizeof(info.name), device_name(index));
  copy_str(info.description, sizeof(info.description), d.props.deviceName);
  info.memory_total = d.heap_size;
  info.memory_free = heap_free(d);
  info.max_buffer = d.max_alloc;
  info.caps = 0;
  if (software) info.caps |= DARI_CAP_SOFTWARE;
  if (d.device_local_host_visible) info.caps |= DARI_CAP_UNIFIED;
  if (d.subgroup_arith) info.caps |= DARI_CAP_SUBGROUPS;
  if (d.f16) info.caps |= DARI_CAP_F16;
  // Copy only the fields the caller's struct has room for.
  const uint32_t want = out->struct_size == 0 ? sizeof(info) : out->struct_size;
  const size_t n = std::min<size_t>(want, sizeof(info));
  info.struct_size = static_cast<uint32_t>(n);
  std::memcpy(out, &info, n);
  return DARI_OK;
}

}  // namespace dari_vk
