// One plugin context: a VkDevice with one compute queue, the buffers it allocated (addressed
// through a private address range), pipelines, and the per-compute() resources.
// Threads: dari calls a context from one thread at a time; nothing here is locked.
// Units: sizes and offsets are bytes unless a name says otherwise.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "vk_common.h"
#include "vk_device.h"

namespace dari_vk {

// A VkBuffer with its own memory. Owned by Context::buffers.
struct Buffer {
  uint64_t base = 0;   // address handed to dari
  uint64_t size = 0;   // bytes requested
  uint64_t alloc = 0;  // bytes of the VkBuffer (size rounded up, at least 16)
  VkBuffer buf = VK_NULL_HANDLE;
  VkDeviceMemory mem = VK_NULL_HANDLE;
  void* mapped = nullptr;  // host pointer when host-visible and coherent
};

// A bound range of one buffer for a shader: [offset, offset + range) with the tensor's first
// accessed byte at offset + rem.
struct BindRange {
  VkBuffer buf = VK_NULL_HANDLE;
  uint64_t offset = 0;
  uint64_t range = 0;
  uint32_t rem = 0;
  bool write = false;
};

struct Context {
  int32_t index = 0;
  const PhysDevice* pd = nullptr;
  std::string name;  // "Vulkan0 (llvmpipe ...)" for messages
  VkDevice dev = VK_NULL_HANDLE;
  VkQueue queue = VK_NULL_HANDLE;
  VkCommandPool cmd_pool = VK_NULL_HANDLE;
  VkCommandBuffer cmd = VK_NULL_HANDLE;
  VkFence fence = VK_NULL_HANDLE;
  bool lost = false;  // a VK_ERROR_DEVICE_LOST was seen: every later call fails

  // Knobs (environment, read at create()).
  bool force_staging = false;  // DARI_VULKAN_FORCE_STAGING=1: never map tensor buffers
  uint64_t mem_limit = 0;      // DARI_VULKAN_MEMORY_LIMIT (bytes of tensor buffers), 0 = heap
  uint64_t max_range = 0;      // bytes one binding may cover (DARI_VULKAN_MAX_RANGE caps it)
  uint32_t align = 16;         // minStorageBufferOffsetAlignment
  bool use_subgroups = false;  // matmul_vec_sg_* pipelines (DARI_VULKAN_NO_SUBGROUPS=1: off)
  uint32_t vec_rows = 4;       // weight rows per matmul_vec workgroup (8 on software devices;
                               // DARI_VULKAN_VEC_ROWS=1..16 overrides)

  // Memory (vk_memory.cpp).
  std::map<uint64_t, Buffer> buffers;  // by base address
  uint64_t next_addr = uint64_t{1} << 40;
  uint64_t allocated = 0;  // bytes of live tensor buffers
  Buffer staging;          // host-visible transfer buffer, grown on demand
  Buffer params;           // host-visible op parameter buffer, grown on demand

  // Pipelines (vk_encoder.cpp).
  VkDescriptorSetLayout set_layout = VK_NULL_HANDLE;
  VkPipelineLayout pipe_layout = VK_NULL_HANDLE;
  std::map<std::string, VkPipeline> pipelines;
  std::vector<VkDescriptorPool> pools;  // reset at each compute()

  // Op timing (DARI_CREATE_PROFILE): one timestamp query per op, summed per label.
  bool profile = false;
  VkQueryPool query_pool = VK_NULL_HANDLE;
  uint32_t query_capacity = 0;
  struct ProfileEntry {
    uint64_t calls = 0;
    double seconds = 0.0;
  };
  std::map<std::string, ProfileEntry> op_times;  // by label, e.g. "matmul Q4_0 m=1"

  std::string last_error;
};

// Context lifetime (vk_context.cpp).
// flags: DARI_CREATE_* (REFERENCE selects the shared-memory reductions, no subgroups).
Status create_context(int32_t device, uint32_t flags, Context** out);
void destroy_context(Context* c);
// Prefixes a failure with the device name and records it as last_error; returns s.code.
int32_t fail(Context* c, const Status& s);

// Memory (vk_memory.cpp).
Status alloc_buffer(Context* c, uint64_t bytes, uint64_t* base);
void free_buffer(Context* c, uint64_t base);
// The buffer holding [addr, addr + bytes), or DARI_ERR_INVALID.
Status resolve(Context* c, uint64_t addr, uint64_t bytes, const Buffer** out);
Status upload(Context* c, uint64_t dst, const void* src, uint64_t bytes);
Status download(Context* c, void* dst, uint64_t src, uint64_t bytes);
Status copy(Context* c, uint64_t dst, uint64_t src, uint64_t bytes);
void memory_info(Context* c, uint64_t* free_bytes, uint64_t* total_bytes);
// A host-visible buffer (staging / params) of at least `bytes`, created or grown.
Status ensure_host_buffer(Context* c, Buffer* b, uint64_t bytes);
void release_buffer(Context* c, Buffer* b);
// Records `rec` into the context's command buffer, submits it and waits.
template <class F>
Status submit_now(Context* c, F rec);
Status begin_cmd(Context* c);
Status end_submit_wait(Context* c);
template <class F>
Status submit_now(Context* c, F rec) {
  DVK_TRY(begin_cmd(c));
  rec(c->cmd);
  return end_submit_wait(c);
}
// Binds bytes [addr, addr + bytes) of one buffer: offset rounded down to the alignment, range
// checked against max_range.
Status bind(Context* c, uint64_t addr, uint64_t bytes, bool write, BindRange* out);

}  // namespace dari_vk
