// Small helpers shared by the Vulkan plugin's files: a status type carrying a DariStatus code and
// a message, printf-style formatting, Vulkan result names, environment knobs, type sizes.
// No state; safe from any thread.
#pragma once

#include <vulkan/vulkan.h>

#include <cstdint>
#include <string>

#include "plugin_abi.h"

namespace dari_vk {

// A DariStatus code plus a message (empty on success).
struct Status {
  int32_t code = DARI_OK;
  std::string msg;
  bool ok() const { return code == DARI_OK; }
  static Status Ok() { return {}; }
};

Status make_status(int32_t code, std::string msg);
std::string fmt(const char* f, ...) __attribute__((format(printf, 1, 2)));
const char* vk_result_name(VkResult r);
// Maps a failed VkResult to a status: device lost, out of memory, or internal.
Status vk_fail(VkResult r, const std::string& what);

#define DVK_TRY(expr)              \
  do {                             \
    ::dari_vk::Status s_ = (expr); \
    if (!s_.ok()) return s_;       \
  } while (0)

// Unsigned integer from the environment; `def` when unset or malformed.
uint64_t env_u64(const char* name, uint64_t def);

// GGUF type ids this plugin knows.
enum Type : uint32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ4_1 = 3,
  kQ5_0 = 6,
  kQ5_1 = 7,
  kQ8_0 = 8,
  kQ4_K = 12,
  kQ5_K = 13,
  kQ6_K = 14,
  kBF16 = 30
};

struct TypeInfo {
  uint32_t block_elems = 0;  // 0 = unknown type
  uint32_t block_bytes = 0;
  const char* name = "?";  // also the shader variant suffix (lower case)
};
TypeInfo type_info(uint32_t type);
// Bytes of one row of ne0 elements (ne0 must be a multiple of the block size).
inline uint64_t row_bytes(const TypeInfo& t, int64_t ne0) {
  return static_cast<uint64_t>(ne0) / t.block_elems * t.block_bytes;
}

const char* op_name(uint32_t kind);

}  // namespace dari_vk
