// Records one compute() call: ops append dispatches and parameter words; submit() uploads the
// parameters to one host-visible buffer, records every dispatch into the context's single
// command buffer (a compute->compute barrier only where a dispatch touches a range an earlier,
// unbarriered dispatch wrote, or writes what one read), submits once and waits on one fence.
// Owned by the compute() call on the calling thread.
#pragma once

#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "vk_context.h"

namespace dari_vk {

struct Dispatch {
  VkPipeline pipeline = VK_NULL_HANDLE;
  BindRange binds[4];
  uint32_t n_binds = 0;
  uint32_t push[32] = {};  // 128 bytes
  uint32_t push_bytes = 0;
  uint32_t groups[3] = {1, 1, 1};
};

class Encoder {
 public:
  explicit Encoder(Context* c) : c_(c) {}
  Context* ctx() const { return c_; }

  // Appends `words` 32-bit words to the parameter area; returns their word offset.
  uint32_t add_params(const void* data, size_t words) {
    const size_t at = params_.size();
    params_.resize(at + words);
    if (words != 0) std::memcpy(params_.data() + at, data, words * 4);
    return static_cast<uint32_t>(at);
  }
  size_t param_words() const { return params_.size(); }
  // Overwrites words [at, at + words) written earlier.
  void patch_params(uint32_t at, const void* data, size_t words) {
    if (words != 0) std::memcpy(params_.data() + at, data, words * 4);
  }
  // Parameter blocks already written in this call, by a key the op builds (e.g. rope tables
  // shared by every layer); value = word offset.
  std::map<std::string, uint32_t> memo;

  // Queues one dispatch of pipeline `name` (created on first use). Bindings 0..n-1 as given.
  // spec0 != 0: value of specialization constant 0 (the pipeline is cached per value).
  Status dispatch(const char* name, const BindRange* binds, uint32_t n_binds, const void* push,
                  size_t push_bytes, uint32_t gx, uint32_t gy, uint32_t gz, uint32_t spec0 = 0);

  // Ends the current op (profiling): its dispatches since the previous mark are timed under
  // `label`.
  void end_op(std::string label) { marks_.push_back({dispatches_.size(), std::move(label)}); }

  // Records, submits and waits. The encoder is spent afterwards.
  Status submit();

 private:
  Context* c_;
  std::vector<uint32_t> params_;
  std::vector<Dispatch> dispatches_;
  struct Mark {
    size_t end;  // dispatches_ index one past the op's last dispatch
    std::string label;
  };
  std::vector<Mark> marks_;
  Status prepare_queries();
  void collect_times();
};

// The pipeline of shader variant `name` (embedded SPIR-V), created once per context.
Status get_pipeline(Context* c, const std::string& name, uint32_t spec0, VkPipeline* out);

// Splits `rows` (>= 1) over the y and z workgroup counts (y <= 65535).
inline void rows_grid(uint64_t rows, uint32_t* gy, uint32_t* gz) {
  *gy = static_cast<uint32_t>(rows < 65535 ? rows : 65535);
  *gz = static_cast<uint32_t>((rows + 65534) / 65535);
}

}  // namespace dari_vk
