// Context creation and destruction (see vk_context.h).
#include "vk_context.h"

#include <algorithm>
#include <new>

namespace dari_vk {
namespace {

constexpr uint32_t kBindings = 5;     // 4 tensors + op parameters (common.glsl)
constexpr uint32_t kPushBytes = 128;  // the minimum every device guarantees

Status init_device(Context* c) {
  const PhysDevice& d = *c->pd;
  const float prio = 1.0f;
  VkDeviceQueueCreateInfo q{};
  q.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO;
  q.queueFamilyIndex = d.queue_family;
  q.queueCount = 1;
  q.pQueuePriorities = &prio;
  std::vector<const char*> ext;
  if (d.memory_budget) ext.push_back(VK_EXT_MEMORY_BUDGET_EXTENSION_NAME);
  VkDeviceCreateInfo ci{};
  ci.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO;
  ci.queueCreateInfoCount = 1;
  ci.pQueueCreateInfos = &q;
  ci.enabledExtensionCount = static_cast<uint32_t>(ext.size());
  ci.ppEnabledExtensionNames = ext.data();
  VkResult r = vkCreateDevice(d.handle, &ci, nullptr, &c->dev);
  if (r != VK_SUCCESS) return vk_fail(r, "vkCreateDevice");
  vkGetDeviceQueue(c->dev, d.queue_family, 0, &c->queue);

  VkCommandPoolCreateInfo pci{};
  pci.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO;
  pci.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT;
  pci.queueFamilyIndex = d.queue_family;
  r = vkCreateCommandPool(c->dev, &pci, nullptr, &c->cmd_pool);
  if (r != VK_SUCCESS) return vk_fail(r, "vkCreateCommandPool");
  VkCommandBufferAllocateInfo ai{};
  ai.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO;
  ai.commandPool = c->cmd_pool;
  ai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
  ai.commandBufferCount = 1;
  r = vkAllocateCommandBuffers(c->dev, &ai, &c->cmd);
  if (r != VK_SUCCESS) return vk_fail(r, "vkAllocateCommandBuffers");
  VkFenceCreateInfo fci{};
  fci.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO;
  r = vkCreateFence(c->dev, &fci, nullptr, &c->fence);
  if (r != VK_SUCCESS) return vk_fail(r, "vkCreateFence");

  VkDescriptorSetLayoutBinding b[kBindings]{};
  for (uint32_t i = 0; i < kBindings; ++i) {
    b[i].binding = i;
    b[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
    b[i].descriptorCount = 1;
    b[i].stageFlags = VK_SHADER_STAGE_COMPUTE_BIT;
  }
  VkDescriptorSetLayoutCreateInfo dl{};
  dl.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO;
  dl.bindingCount = kBindings;
  dl.pBindings = b;
  r = vkCreateDescriptorSetLayout(c->dev, &dl, nullptr, &c->set_layout);
  if (r != VK_SUCCESS) return vk_fail(r, "vkCreateDescriptorSetLayout");
  VkPushConstantRange pc{};
  pc.stageFlags = VK_SHADER_STAGE_COMPUTE_BIT;
  pc.size = kPushBytes;
  VkPipelineLayoutCreateInfo pl{};
  pl.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO;
  pl.setLayoutCount = 1;
  pl.pSetLayouts = &c->set_layout;
  pl.pushConstantRangeCount = 1;
  pl.pPushConstantRanges = &pc;
  r = vkCreatePipelineLayout(c->dev, &pl, nullptr, &c->pipe_layout);
  if (r != VK_SUCCESS) return vk_fail(r, "vkCreatePipelineLayout");
  return Status::Ok();
}

}  // namespace

Status create_context(int32_t device, uint32_t flags, Context** out) {
  *out = nullptr;
  std::string err;
  if (instance(&err) == VK_NULL_HANDLE) return make_status(DARI_ERR_UNSUPPORTED, err);
  const auto& devs = devices();
  if (device < 0 || static_cast<size_t>(device) >= devs.size()) {
    return make_status(DARI_ERR_INVALID,
                       fmt("vulkan: device %d does not exist (%zu devices)", device, devs.size()));
  }
  auto* c = new (std::nothrow) Context;
  if (c == nullptr) return make_status(DARI_ERR_OUT_OF_MEMORY, "vulkan: out of host memory");
  c->index = device;
  c->pd = &devs[static_cast<size_t>(device)];
  c->name = device_name(device) + " (" + c->pd->props.deviceName + ")";
  c->force_staging = env_u64("DARI_VULKAN_FORCE_STAGING", 0) != 0;
  c->mem_limit = env_u64("DARI_VULKAN_MEMORY_LIMIT", 0);
  c->align = c->pd->min_align;
  uint64_t range = c->pd->max_range;
  const uint64_t cap = env_u64("DARI_VULKAN_MAX_RANGE", 0);
  if (cap != 0) range = std::min(range, std::max<uint64_t>(cap, 4096));
  c->max_range = range / 4 * 4;
  c->profile = (flags & DARI_CREATE_PROFILE) != 0 && c->pd->timestamps;
  // A CPU device runs a workgroup's invocations on one core, where loading the activations
  // dominates; more weight rows per workgroup amortise them. GPUs want more workgroups.
  c->vec_rows = c->pd->props.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU ? 8 : 4;
  const uint64_t rows = env_u64("DARI_VULKAN_VEC_ROWS", 0);  // tests: the other devices' value
  if (rows >= 1 && rows <= 16) c->vec_rows = static_cast<uint32_t>(rows);
  c->use_subgroups = c->pd->subgroup_arith && env_u64("DARI_VULKAN_NO_SUBGROUPS", 0) == 0 &&
                     (flags & DARI_CREATE_REFERENCE) == 0;
  Status s = init_device(c);
  if (!s.ok()) {
    s.msg = c->name + ": " + s.msg;
    destroy_context(c);
    return s;
  }
  *out = c;
  return Status::Ok();
}

void destroy_context(Context* c) {
  if (c == nullptr) return;
  if (c->dev != VK_NULL_HANDLE) {
    vkDeviceWaitIdle(c->dev);
    for (auto& kv : c->buffers) release_buffer(c, &kv.second);
    c->buffers.clear();
    release_buffer(c, &c->staging);
    release_buffer(c, &c->params);
    for (auto& kv : c->pipelines) vkDestroyPipeline(c->dev, kv.second, nullptr);
    for (VkDescriptorPool p : c->pools) vkDestroyDescriptorPool(c->dev, p, nullptr);
    if (c->query_pool) vkDestroyQueryPool(c->dev, c->query_pool, nullptr);
    if (c->pipe_layout) vkDestroyPipelineLayout(c->dev, c->pipe_layout, nullptr);
    if (c->set_layout) vkDestroyDescriptorSetLayout(c->dev, c->set_layout, nullptr);
    if (c->fence) vkDestroyFence(c->dev, c->fence, nullptr);
    if (c->cmd_pool) vkDestroyCommandPool(c->dev, c->cmd_pool, nullptr);
    vkDestroyDevice(c->dev, nullptr);
  }
  delete c;
}

int32_t fail(Context* c, const Status& s) {
  if (s.code == DARI_ERR_DEVICE_LOST) c->lost = true;
  c->last_error = c->name + ": " + s.msg;
  return s.code;
}

}  // namespace dari_vk
