// Broken backend plugins for the loader's failure-path tests (conformance_loader_test.cpp). One
// source, built as several MODULE libraries, each with one define:
//   BAD_NO_ENTRY   exports no dari_backend_plugin_* symbol
//   BAD_ABI3       a v2 entry whose table says abi_version 3 (a newer dari ABI)
//   BAD_SIZE       struct_size smaller than the v2 table's required fields
//   BAD_NULL_FN    compute == NULL
//   BAD_CREATE     a valid table whose create() fails with a message
// The functions are stubs: every failure happens before an op could run.
#include <cstring>

#include "dari/backend/plugin_abi.h"

#ifndef BAD_NAME
#define BAD_NAME "bad"
#endif

namespace {

int32_t device_count() {
  return 1;
}
int32_t device_info(int32_t device, DariDeviceInfoV2* out) {
  if (device != 0 || out == nullptr) return DARI_ERR_INVALID;
  std::memset(out, 0, sizeof(*out));
  out->struct_size = sizeof(*out);
  out->kind = DARI_DEVICE_OTHER;
  std::strcpy(out->name, "bad0");
  std::strcpy(out->description, "a deliberately broken test plugin");
  return DARI_OK;
}
int32_t create(const DariCreateParams*, void** ctx, char* err, size_t err_len) {
  *ctx = nullptr;
  if (err != nullptr && err_len > 0) {
    std::strncpy(err, "bad0: simulated device initialisation failure", err_len - 1);
    err[err_len - 1] = '\0';
  }
  return DARI_ERR_DEVICE_LOST;
}
void destroy(void*) {}
const char* last_error(void*) {
  return "bad plugin";
}
int32_t alloc_buffer(void*, uint64_t, void**) {
  return DARI_ERR_OUT_OF_MEMORY;
}
void free_buffer(void*, void*) {}
int32_t move_bytes(void*, void*, const void*, uint64_t) {
  return DARI_ERR_INVALID;
}
int32_t memory(void*, uint64_t* f, uint64_t* t) {
  *f = 0;
  *t = 0;
  return DARI_OK;
}
int32_t supports_op(void*, const DariOp*) {
  return 0;
}
int32_t compute(void*, const DariOp*, uint32_t) {
  return DARI_ERR_UNSUPPORTED;
}

DariBackendPluginV2 make_table() {
  DariBackendPluginV2 t{};
  t.abi_version = DARI_PLUGIN_ABI_VERSION_2;
  t.struct_size = sizeof(DariBackendPluginV2);
  t.name = BAD_NAME;
  t.device_count = device_count;
  t.device_info = device_info;
  t.create = create;
  t.destroy = destroy;
  t.last_error = last_error;
  t.alloc_buffer = alloc_buffer;
  t.free_buffer = free_buffer;
  t.upload = move_bytes;
  t.download = move_bytes;
  t.copy = move_bytes;
  t.memory = memory;
  t.supports_op = supports_op;
  t.compute = compute;
#if defined(BAD_ABI3)
  t.abi_version = 3;
#elif defined(BAD_SIZE)
  t.struct_size = 24;
#elif defined(BAD_NULL_FN)
  t.compute = nullptr;
#endif
  return t;
}

const DariBackendPluginV2 kTable = make_table();

}  // namespace

#if !defined(BAD_NO_ENTRY)
extern "C" __attribute__((visibility("default"))) const DariBackendPluginV2* dari_backend_plugin_v2(
    void) {
  return &kTable;
}
#else
extern "C" __attribute__((visibility("default"))) int dari_not_a_backend(void) {
  return kTable.struct_size != 0;
}
#endif
