// Helpers declared in vk_common.h.
#include "vk_common.h"

#include <cstdarg>
#include <cstdio>
#include <cstdlib>

namespace dari_vk {

Status make_status(int32_t code, std::string msg) {
  Status s;
  s.code = code;
  s.msg = std::move(msg);
  return s;
}

std::string fmt(const char* f, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, f);
  std::vsnprintf(buf, sizeof(buf), f, ap);
  va_end(ap);
  return buf;
}

const char* vk_result_name(VkResult r) {
  switch (r) {
    case VK_SUCCESS:
      return "VK_SUCCESS";
    case VK_NOT_READY:
      return "VK_NOT_READY";
    case VK_TIMEOUT:
      return "VK_TIMEOUT";
    case VK_ERROR_OUT_OF_HOST_MEMORY:
      return "VK_ERROR_OUT_OF_HOST_MEMORY";
    case VK_ERROR_OUT_OF_DEVICE_MEMORY:
      return "VK_ERROR_OUT_OF_DEVICE_MEMORY";
    case VK_ERROR_INITIALIZATION_FAILED:
      return "VK_ERROR_INITIALIZATION_FAILED";
    case VK_ERROR_DEVICE_LOST:
      return "VK_ERROR_DEVICE_LOST";
    case VK_ERROR_MEMORY_MAP_FAILED:
      return "VK_ERROR_MEMORY_MAP_FAILED";
    case VK_ERROR_LAYER_NOT_PRESENT:
      return "VK_ERROR_LAYER_NOT_PRESENT";
    case VK_ERROR_EXTENSION_NOT_PRESENT:
      return "VK_ERROR_EXTENSION_NOT_PRESENT";
    case VK_ERROR_FEATURE_NOT_PRESENT:
      return "VK_ERROR_FEATURE_NOT_PRESENT";
    case VK_ERROR_INCOMPATIBLE_DRIVER:
      return "VK_ERROR_INCOMPATIBLE_DRIVER";
    case VK_ERROR_TOO_MANY_OBJECTS:
      return "VK_ERROR_TOO_MANY_OBJECTS";
    case VK_ERROR_OUT_OF_POOL_MEMORY:
      return "VK_ERROR_OUT_OF_POOL_MEMORY";
    default:
      return "VkResult(other)";
  }
}

Status vk_fail(VkResult r, const std::string& what) {
  std::string msg = what + ": " + vk_result_name(r) + fmt(" (%d)", static_cast<int>(r));
  if (r == VK_ERROR_DEVICE_LOST) return make_status(DARI_ERR_DEVICE_LOST, msg);
  if (r == VK_ERROR_OUT_OF_DEVICE_MEMORY || r == VK_ERROR_OUT_OF_HOST_MEMORY) {
    return make_status(DARI_ERR_OUT_OF_MEMORY, msg);
  }
  return make_status(DARI_ERR_INTERNAL, msg);
}

uint64_t env_u64(const char* name, uint64_t def) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return def;
  char* end = nullptr;
  unsigned long long x = std::strtoull(v, &end, 0);
  return (end != nullptr && *end == '\0') ? static_cast<uint64_t>(x) : def;
}

TypeInfo type_info(uint32_t type) {
  switch (type) {
    case kF32:
      return {1, 4, "f32"};
    case kF16:
      return {1, 2, "f16"};
    case kBF16:
      return {1, 2, "bf16"};
    case kQ8_0:
      return {32, 34, "q8_0"};
    case kQ4_0:
      return {32, 18, "q4_0"};
    case kQ4_1:
      return {32, 20, "q4_1"};
    case kQ5_0:
      return {32, 22, "q5_0"};
    case kQ5_1:
      return {32, 24, "q5_1"};
    case kQ4_K:
      return {256, 144, "q4_k"};
    case kQ5_K:
      return {256, 176, "q5_k"};
    case kQ6_K:
      return {256, 210, "q6_k"};
    default:
      return {};
  }
}

const char* op_name(uint32_t kind) {
  static const char* const kNames[] = {"matmul",   "rms_norm",  "rope", "softmax",
                                       "silu_mul", "add",       "mul",  "get_rows",
                                       "set_rows", "attention", "copy"};
  return kind < DARI_OP_COUNT ? kNames[kind] : "unknown";
}

}  // namespace dari_vk
