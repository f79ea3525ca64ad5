// Embedded SPIR-V modules (generated spirv_embed.cpp, see embed_spirv.cmake). Read-only data
// with static storage; safe from any thread.
#pragma once

#include <cstddef>
#include <cstdint>

namespace dari_vk {

struct SpirvBlob {
  const char* name;      // variant name, e.g. "matmul_vec_q4_0"
  const uint32_t* code;  // SPIR-V words
  size_t words;
};

// The module named `name`, or nullptr.
const SpirvBlob* find_spirv(const char* name);

}  // namespace dari_vk
