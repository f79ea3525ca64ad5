// Device buffers, the private address range, and host <-> device transfers (vk_context.h).
// Addresses start at 1 << 40; each buffer's base is 256-aligned and followed by a gap of at
// least 4 KiB, so an address one past a buffer's end never resolves into the next buffer.
#include <algorithm>
#include <cstring>

#include "vk_context.h"

namespace dari_vk {
namespace {

constexpr uint64_t kAddrAlign = 256;
constexpr uint64_t kAddrGap = 4096;
constexpr uint64_t kStagingChunk = uint64_t{16} << 20;  // bytes per staged transfer step

uint64_t round_up(uint64_t x, uint64_t a) {
  return (x + a - 1) / a * a;
}

// Creates a buffer + memory of memory type `type`; maps it when `map` is set.
Status create_raw(Context* c, uint64_t bytes, uint32_t type, bool map, Buffer* b) {
  b->alloc = std::max<uint64_t>(16, round_up(bytes, 16));
  VkBufferCreateInfo bi{};
  bi.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO;
  bi.size = b->alloc;
  bi.usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
             VK_BUFFER_USAGE_TRANSFER_DST_BIT;
  bi.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
  VkResult r = vkCreateBuffer(c->dev, &bi, nullptr, &b->buf);
  if (r != VK_SUCCESS)
    return vk_fail(r, fmt("vkCreateBuffer(%llu bytes)", (unsigned long long)bytes));
  VkMemoryRequirements req{};
  vkGetBufferMemoryRequirements(c->dev, b->buf, &req);
  if ((req.memoryTypeBits & (1u << type)) == 0) {
    // Fall back to any allowed type with the same host visibility wish.
    const VkMemoryPropertyFlags want =
        map ? (VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT) : 0;
    uint32_t i = 0;
    for (; i < c->pd->mem.memoryTypeCount; ++i) {
      if ((req.memoryTypeBits & (1u << i)) &&
          (c->pd->mem.memoryTypes[i].propertyFlags & want) == want) {
        break;
      }
    }
    if (i == c->pd->mem.memoryTypeCount) {
      return make_status(DARI_ERR_INTERNAL, "no memory type for a buffer");
    }
    type = i;
  }
  VkMemoryAllocateInfo ai{};
  ai.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO;
  ai.allocationSize = req.size;
  ai.memoryTypeIndex = type;
  r = vkAllocateMemory(c->dev, &ai, nullptr, &b->mem);
  if (r != VK_SUCCESS) {
    return vk_fail(r, fmt("vkAllocateMemory(%llu bytes)", (unsigned long long)req.size));
  }
  r = vkBindBufferMemory(c->dev, b->buf, b->mem, 0);
  if (r != VK_SUCCESS) return vk_fail(r, "vkBindBufferMemory");
  if (map) {
    r = vkMapMemory(c->dev, b->mem, 0, VK_WHOLE_SIZE, 0, &b->mapped);
    if (r != VK_SUCCESS) return vk_fail(r, "vkMapMemory");
  }
  return Status::Ok();
}

// First memory type that is host visible and coherent (for staging / params).
uint32_t host_type(const PhysDevice& d) {
  const VkMemoryPropertyFlags want =
      VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
  for (uint32_t i = 0; i < d.mem.memoryTypeCount; ++i) {
    if ((d.mem.memoryTypes[i].propertyFlags & want) == want) return i;
  }
  return 0;
}

}  // namespace

void release_buffer(Context* c, Buffer* b) {
  if (b->mapped) vkUnmapMemory(c->dev, b->mem);
  if (b->buf) vkDestroyBuffer(c->dev, b->buf, nullptr);
  if (b->mem) vkFreeMemory(c->dev, b->mem, nullptr);
  *b = Buffer{};
}

Status ensure_host_buffer(Context* c, Buffer* b, uint64_t bytes) {
  if (b->buf != VK_NULL_HANDLE && b->alloc >= bytes) return Status::Ok();
  release_buffer(c, b);
  const uint64_t want = std::max<uint64_t>(round_up(bytes, 4096), 64 * 1024);
  Status s = create_raw(c, want, host_type(*c->pd), true, b);
  if (!s.ok()) release_buffer(c, b);
  b->size = want;
  return s;
}

Status alloc_buffer(Context* c, uint64_t bytes, uint64_t* base) {
  const PhysDevice& d = *c->pd;
  const uint64_t limit = c->mem_limit != 0 ? std::min(c->mem_limit, d.heap_size) : d.heap_size;
  const uint64_t free_now = limit > c->allocated ? limit - c->allocated : 0;
  const uint64_t free_dev = c->mem_limit != 0 ? free_now : std::min(free_now, heap_free(d));
  if (bytes > free_dev || (d.max_alloc != 0 && bytes > d.max_alloc)) {
    return make_status(DARI_ERR_OUT_OF_MEMORY,
                       fmt("out of device memory: alloc_buffer of %llu bytes, %llu bytes free "
                           "(limit %llu, largest buffer %llu)",
                           (unsigned long long)bytes, (unsigned long long)free_dev,
                           (unsigned long long)limit, (unsigned long long)d.max_alloc));
  }
  Buffer b;
  b.size = bytes;
  const bool map = d.device_local_host_visible && !c->force_staging;
  Status s = create_raw(c, bytes, static_cast<uint32_t>(d.device_local_type), map, &b);
  if (!s.ok()) {
    release_buffer(c, &b);
    if (s.code == DARI_ERR_OUT_OF_MEMORY) {
      s.msg = fmt("out of device memory: alloc_buffer of %llu bytes, %llu bytes free: ",
                  (unsigned long long)bytes, (unsigned long long)free_dev) +
              s.msg;
    }
    return s;
  }
  b.base = c->next_addr;
  c->next_addr = round_up(b.base + b.alloc + kAddrGap, kAddrAlign);
  c->allocated += b.alloc;
  *base = b.base;
  c->buffers.emplace(b.base, b);
  return Status::Ok();
}

void free_buffer(Context* c, uint64_t base) {
  auto it = c->buffers.find(base);
  if (it == c->buffers.end()) return;
  // Work using this buffer has completed: every call waits for its submission.
  c->allocated -= it->second.alloc;
  release_buffer(c, &it->second);
  c->buffers.erase(it);
}

Status resolve(Context* c, uint64_t addr, uint64_t bytes, const Buffer** out) {
  auto it = c->buffers.upper_bound(addr);
  if (it != c->buffers.begin()) {
    --it;
    const Buffer& b = it->second;
    if (addr >= b.base && addr - b.base <= b.size && bytes <= b.size - (addr - b.base)) {
      *out = &b;
      return Status::Ok();
    }
  }
  return make_status(DARI_ERR_INVALID,
                     fmt("address 0x%llx (+%llu bytes) is not inside a buffer of this context",
                         (unsigned long long)addr, (unsigned long long)bytes));
}

Status bind(Context* c, uint64_t addr, uint64_t bytes, bool write, BindRange* out) {
  const Buffer* b = nullptr;
  DVK_TRY(resolve(c, addr, bytes, &b));
  const uint64_t off = addr - b->base;
  const uint64_t aligned = off / c->align * c->align;
  const uint64_t range = std::min(round_up(off - aligned + bytes, 4), b->alloc - aligned);
  if (range > c->max_range) {
    return make_status(DARI_ERR_UNSUPPORTED,
                       fmt("binding of %llu bytes exceeds the storage buffer range %llu",
                           (unsigned long long)range, (unsigned long long)c->max_range));
  }
  out->buf = b->buf;
  out->offset = aligned;
  out->range = std::max<uint64_t>(range, 4);
  out->rem = static_cast<uint32_t>(off - aligned);
  out->write = write;
  return Status::Ok();
}

Status begin_cmd(Context* c) {
  if (c->lost) return make_status(DARI_ERR_DEVICE_LOST, "device was lost earlier");
  VkResult r = vkResetCommandBuffer(c->cmd, 0);
  if (r != VK_SUCCESS) return vk_fail(r, "vkResetCommandBuffer");
  VkCommandBufferBeginInfo bi{};
  bi.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO;
  bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
  r = vkBeginCommandBuffer(c->cmd, &bi);
  return r == VK_SUCCESS ? Status::Ok() : vk_fail(r, "vkBeginCommandBuffer");
}

Status end_submit_wait(Context* c) {
  // Makes this submission's writes visible to the host (mapped reads) and to later submissions.
  VkMemoryBarrier mb{};
  mb.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER;
  mb.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
  mb.dstAccessMask = VK_ACCESS_HOST_READ_BIT | VK_ACCESS_SHADER_READ_BIT |
                     VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_READ_BIT |
                     VK_ACCESS_TRANSFER_WRITE_BIT;
  vkCmdPipelineBarrier(c->cmd,
                       VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                       VK_PIPELINE_STAGE_HOST_BIT | VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT |
                           VK_PIPELINE_STAGE_TRANSFER_BIT,
                       0, 1, &mb, 0, nullptr, 0, nullptr);
  VkResult r = vkEndCommandBuffer(c->cmd);
  if (r != VK_SUCCESS) return vk_fail(r, "vkEndCommandBuffer");
  VkSubmitInfo si{};
  si.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO;
  si.commandBufferCount = 1;
  si.pCommandBuffers = &c->cmd;
  r = vkResetFences(c->dev, 1, &c->fence);
  if (r != VK_SUCCESS) return vk_fail(r, "vkResetFences");
  r = vkQueueSubmit(c->queue, 1, &si, c->fence);
  if (r != VK_SUCCESS) return vk_fail(r, "vkQueueSubmit");
  r = vkWaitForFences(c->dev, 1, &c->fence, VK_TRUE, UINT64_MAX);
  return r == VK_SUCCESS ? Status::Ok() : vk_fail(r, "vkWaitForFences");
}

Status upload(Context* c, uint64_t dst, const void* src, uint64_t bytes) {
  const Buffer* b = nullptr;
  DVK_TRY(resolve(c, dst, bytes, &b));
  if (bytes == 0) return Status::Ok();
  const uint64_t off = dst - b->base;
  if (b->mapped != nullptr) {
    std::memcpy(static_cast<uint8_t*>(b->mapped) + off, src, bytes);
    return Status::Ok();
  }
  DVK_TRY(ensure_host_buffer(c, &c->staging, std::min(bytes, kStagingChunk)));
  for (uint64_t done = 0; done < bytes;) {
    const uint64_t n = std::min(bytes - done, c->staging.alloc);
    std::memcpy(c->staging.mapped, static_cast<const uint8_t*>(src) + done, n);
    VkBufferCopy region{0, off + done, n};
    DVK_TRY(submit_now(
        c, [&](VkCommandBuffer cmd) { vkCmdCopyBuffer(cmd, c->staging.buf, b->buf, 1, &region); }));
    done += n;
  }
  return Status::Ok();
}

Status download(Context* c, void* dst, uint64_t src, uint64_t bytes) {
  const Buffer* b = nullptr;
  DVK_TRY(resolve(c, src, bytes, &b));
  if (bytes == 0) return Status::Ok();
  const uint64_t off = src - b->base;
  if (b->mapped != nullptr) {
    std::memcpy(dst, static_cast<const uint8_t*>(b->mapped) + off, bytes);
    return Status::Ok();
  }
  DVK_TRY(ensure_host_buffer(c, &c->staging, std::min(bytes, kStagingChunk)));
  for (uint64_t done = 0; done < bytes;) {
    const uint64_t n = std::min(bytes - done, c->staging.alloc);
    VkBufferCopy region{off + done, 0, n};
    DVK_TRY(submit_now(
        c, [&](VkCommandBuffer cmd) { vkCmdCopyBuffer(cmd, b->buf, c->staging.buf, 1, &region); }));
    std::memcpy(static_cast<uint8_t*>(dst) + done, c->staging.mapped, n);
    done += n;
  }
  return Status::Ok();
}

Status copy(Context* c, uint64_t dst, uint64_t src, uint64_t bytes) {
  const Buffer* db = nullptr;
  const Buffer* sb = nullptr;
  DVK_TRY(resolve(c, dst, bytes, &db));
  DVK_TRY(resolve(c, src, bytes, &sb));
  if (bytes == 0 || dst == src) return Status::Ok();
  const uint64_t doff = dst - db->base, soff = src - sb->base;
  const bool overlap = db == sb && doff < soff + bytes && soff < doff + bytes;
  if (!overlap) {
    VkBufferCopy region{soff, doff, bytes};
    return submit_now(
        c, [&](VkCommandBuffer cmd) { vkCmdCopyBuffer(cmd, sb->buf, db->buf, 1, &region); });
  }
  // Overlapping ranges of one buffer (vkCmdCopyBuffer forbids it): move chunks through the
  // staging buffer, front to back when moving down, back to front when moving up.
  DVK_TRY(ensure_host_buffer(c, &c->staging, std::min(bytes, kStagingChunk)));
  const uint64_t step = c->staging.alloc;
  const uint64_t n_steps = (bytes + step - 1) / step;
  for (uint64_t i = 0; i < n_steps; ++i) {
    const uint64_t k = doff < soff ? i : n_steps - 1 - i;
    const uint64_t at = k * step, n = std::min(step, bytes - at);
    VkBufferCopy in{soff + at, 0, n};
    VkBufferCopy outr{0, doff + at, n};
    DVK_TRY(submit_now(c, [&](VkCommandBuffer cmd) {
      vkCmdCopyBuffer(cmd, sb->buf, c->staging.buf, 1, &in);
      VkMemoryBarrier mb{};
      mb.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER;
      mb.srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT;
      mb.dstAccessMask = VK_ACCESS_TRANSFER_READ_BIT;
      vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_TRANSFER_BIT, 0,
                           1, &mb, 0, nullptr, 0, nullptr);
      vkCmdCopyBuffer(cmd, c->staging.buf, db->buf, 1, &outr);
    }));
  }
  return Status::Ok();
}

void memory_info(Context* c, uint64_t* free_bytes, uint64_t* total_bytes) {
  const PhysDevice& d = *c->pd;
  const uint64_t total = c->mem_limit != 0 ? std::min(c->mem_limit, d.heap_size) : d.heap_size;
  uint64_t fr = total > c->allocated ? total - c->allocated : 0;
  if (c->mem_limit == 0) fr = std::min(fr, heap_free(d));
  if (free_bytes) *free_bytes = fr;
  if (total_bytes) *total_bytes = total;
}

}  // namespace dari_vk
