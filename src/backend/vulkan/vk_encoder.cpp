// Encoder and pipeline cache (vk_encoder.h).
#include "vk_encoder.h"

#include <algorithm>

#include "vk_shaders.h"

namespace dari_vk {
namespace {

constexpr uint32_t kBindings = 5;

struct Range {
  VkBuffer buf;
  uint64_t begin, end;
};

bool overlaps(const std::vector<Range>& v, const BindRange& b) {
  for (const Range& r : v) {
    if (r.buf == b.buf && r.begin < b.offset + b.range && b.offset < r.end) return true;
  }
  return false;
}

}  // namespace

Status Encoder::prepare_queries() {
  Context* c = c_;
  const uint32_t need = static_cast<uint32_t>(marks_.size() + 1);
  if (c->query_pool != VK_NULL_HANDLE && c->query_capacity >= need) return Status::Ok();
  if (c->query_pool != VK_NULL_HANDLE) vkDestroyQueryPool(c->dev, c->query_pool, nullptr);
  c->query_pool = VK_NULL_HANDLE;
  VkQueryPoolCreateInfo qi{};
  qi.sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO;
  qi.queryType = VK_QUERY_TYPE_TIMESTAMP;
  qi.queryCount = std::max<uint32_t>(need, 256);
  VkResult r = vkCreateQueryPool(c->dev, &qi, nullptr, &c->query_pool);
  if (r != VK_SUCCESS) return vk_fail(r, "vkCreateQueryPool");
  c->query_capacity = qi.queryCount;
  return Status::Ok();
}

void Encoder::collect_times() {
  Context* c = c_;
  const uint32_t n = static_cast<uint32_t>(marks_.size() + 1);
  std::vector<uint64_t> ts(n);
  if (vkGetQueryPoolResults(c->dev, c->query_pool, 0, n, n * sizeof(uint64_t), ts.data(),
                            sizeof(uint64_t), VK_QUERY_RESULT_64_BIT) != VK_SUCCESS) {
    return;
  }
  const double ns = c->pd->props.limits.timestampPeriod;
  for (size_t i = 0; i < marks_.size(); ++i) {
    Context::ProfileEntry& e = c->op_times[marks_[i].label];
    e.calls += 1;
    e.seconds += static_cast<double>(ts[i + 1] - ts[i]) * ns * 1e-9;
  }
}

Status get_pipeline(Context* c, const std::string& name, uint32_t spec0, VkPipeline* out) {
  const std::string key = spec0 == 0 ? name : name + "#" + std::to_string(spec0);
  auto it = c->pipelines.find(key);
  if (it != c->pipelines.end()) {
    *out = it->second;
    return Status::Ok();
  }
  const SpirvBlob* blob = find_spirv(name.c_str());
  if (blob == nullptr) return make_status(DARI_ERR_INTERNAL, "no shader named " + name);
  VkShaderModuleCreateInfo mi{};
  mi.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO;
  mi.codeSize = blob->words * 4;
  mi.pCode = blob->code;
  VkShaderModule mod = VK_NULL_HANDLE;
  VkResult r = vkCreateShaderModule(c->dev, &mi, nullptr, &mod);
  if (r != VK_SUCCESS) return vk_fail(r, "vkCreateShaderModule " + name);
  VkComputePipelineCreateInfo pi{};
  pi.sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO;
  pi.stage.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO;
  pi.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
  pi.stage.module = mod;
  pi.stage.pName = "main";
  const VkSpecializationMapEntry entry{0, 0, sizeof(uint32_t)};
  VkSpecializationInfo spec{1, &entry, sizeof(uint32_t), &spec0};
  if (spec0 != 0) pi.stage.pSpecializationInfo = &spec;
  pi.layout = c->pipe_layout;
  VkPipeline p = VK_NULL_HANDLE;
  r = vkCreateComputePipelines(c->dev, VK_NULL_HANDLE, 1, &pi, nullptr, &p);
  vkDestroyShaderModule(c->dev, mod, nullptr);
  if (r != VK_SUCCESS) return vk_fail(r, "vkCreateComputePipelines " + name);
  c->pipelines.emplace(key, p);
  *out = p;
  return Status::Ok();
}

Status Encoder::dispatch(const char* name, const BindRange* binds, uint32_t n_binds,
                         const void* push, size_t push_bytes, uint32_t gx, uint32_t gy, uint32_t gz,
                         uint32_t spec0) {
  Dispatch d;
  DVK_TRY(get_pipeline(c_, name, spec0, &d.pipeline));
  d.n_binds = std::min<uint32_t>(n_binds, 4);
  for (uint32_t i = 0; i < d.n_binds; ++i) d.binds[i] = binds[i];
  d.push_bytes = static_cast<uint32_t>(std::min<size_t>(push_bytes, sizeof(d.push)));
  std::memcpy(d.push, push, d.push_bytes);
  d.groups[0] = gx;
  d.groups[1] = gy;
  d.groups[2] = gz;
  if (gx == 0 || gy == 0 || gz == 0) return Status::Ok();  // nothing to do
  dispatches_.push_back(d);
  return Status::Ok();
}

Status Encoder::submit() {
  Context* c = c_;
  if (dispatches_.empty()) return Status::Ok();  // nothing to time either
  if (params_.empty()) params_.push_back(0);
  if (params_.size() * 4 > c->max_range) {
    return make_status(
        DARI_ERR_UNSUPPORTED,
        fmt("op parameters of %zu bytes exceed the binding range", params_.size() * 4));
  }
  DVK_TRY(ensure_host_buffer(c, &c->params, params_.size() * 4));
  std::memcpy(c->params.mapped, params_.data(), params_.size() * 4);

  // Descriptor sets: one per dispatch, from pools reset at every call.
  for (VkDescriptorPool p : c->pools) vkResetDescriptorPool(c->dev, p, 0);
  std::vector<VkDescriptorSet> sets(dispatches_.size());
  size_t got = 0;
  size_t pool_i = 0;
  while (got < sets.size()) {
    if (pool_i == c->pools.size()) {
      const uint32_t n = static_cast<uint32_t>(std::max<size_t>(256, sets.size() - got));
      VkDescriptorPoolSize ps{VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, n * kBindings};
      VkDescriptorPoolCreateInfo pci{};
      pci.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO;
      pci.maxSets = n;
      pci.poolSizeCount = 1;
      pci.pPoolSizes = &ps;
      VkDescriptorPool pool = VK_NULL_HANDLE;
      VkResult r = vkCreateDescriptorPool(c->dev, &pci, nullptr, &pool);
      if (r != VK_SUCCESS) return vk_fail(r, "vkCreateDescriptorPool");
      c->pools.push_back(pool);
    }
    VkDescriptorSetAllocateInfo ai{};
    ai.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO;
    ai.descriptorPool = c->pools[pool_i];
    ai.descriptorSetCount = 1;
    ai.pSetLayouts = &c->set_layout;
    VkResult r = vkAllocateDescriptorSets(c->dev, &ai, &sets[got]);
    if (r == VK_ERROR_OUT_OF_POOL_MEMORY || r == VK_ERROR_FRAGMENTED_POOL) {
      ++pool_i;
      continue;
    }
    if (r != VK_SUCCESS) return vk_fail(r, "vkAllocateDescriptorSets");
    ++got;
  }

  const bool timing = c->profile && !marks_.empty();
  if (timing) DVK_TRY(prepare_queries());
  DVK_TRY(begin_cmd(c));
  size_t next_mark = 0;
  if (timing) {
    vkCmdResetQueryPool(c->cmd, c->query_pool, 0, static_cast<uint32_t>(marks_.size() + 1));
    vkCmdWriteTimestamp(c->cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, c->query_pool, 0);
  }
  // Writes the timestamps of ops that end before dispatch i.
  auto stamp = [&](size_t i) {
    while (timing && next_mark < marks_.size() && marks_[next_mark].end <= i) {
      ++next_mark;
      vkCmdWriteTimestamp(c->cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, c->query_pool,
                          static_cast<uint32_t>(next_mark));
    }
  };
  std::vector<Range> written, read;
  VkPipeline bound = VK_NULL_HANDLE;
  for (size_t i = 0; i < dispatches_.size(); ++i) {
    stamp(i);
    const Dispatch& d = dispatches_[i];
    VkDescriptorBufferInfo info[kBindings];
    VkWriteDescriptorSet w[kBindings]{};
    bool hazard = false;
    for (uint32_t b = 0; b < kBindings; ++b) {
      if (b < d.n_binds && d.binds[b].buf != VK_NULL_HANDLE) {
        const BindRange& br = d.binds[b];
        info[b] = {br.buf, br.offset, br.range};
        hazard = hazard || overlaps(written, br) || (br.write && overlaps(read, br));
      } else {
        // Op parameters, or an unused slot.
        info[b] = {c->params.buf, 0, std::min<VkDeviceSize>(c->params.alloc, c->max_range)};
      }
      w[b].sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET;
      w[b].dstSet = sets[i];
      w[b].dstBinding = b;
      w[b].descriptorCount = 1;
      w[b].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
      w[b].pBufferInfo = &info[b];
    }
    vkUpdateDescriptorSets(c->dev, kBindings, w, 0, nullptr);
    if (hazard) {
      VkMemoryBarrier mb{};
      mb.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER;
      mb.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT;
      mb.dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT;
      vkCmdPipelineBarrier(c->cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
                           VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1, &mb, 0, nullptr, 0, nullptr);
      written.clear();
      read.clear();
    }
    for (uint32_t b = 0; b < d.n_binds; ++b) {
      const BindRange& br = d.binds[b];
      if (br.buf == VK_NULL_HANDLE) continue;
      (br.write ? written : read).push_back({br.buf, br.offset, br.offset + br.range});
    }
    if (d.pipeline != bound) {
      vkCmdBindPipeline(c->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, d.pipeline);
      bound = d.pipeline;
    }
    vkCmdBindDescriptorSets(c->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, c->pipe_layout, 0, 1, &sets[i],
                            0, nullptr);
    if (d.push_bytes != 0) {
      vkCmdPushConstants(c->cmd, c->pipe_layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, d.push_bytes,
                         d.push);
    }
    vkCmdDispatch(c->cmd, d.groups[0], d.groups[1], d.groups[2]);
  }
  stamp(dispatches_.size());
  const size_t n_dispatches = dispatches_.size();
  dispatches_.clear();
  DVK_TRY(end_submit_wait(c));
  if (timing && n_dispatches > 0) collect_times();
  return Status::Ok();
}

}  // namespace dari_vk
