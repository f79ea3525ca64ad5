// Helpers for the io tests: a raw GGUF byte builder that writes any field value (valid or not),
// value comparison, and the fuzz seed folder.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "dari/io/gguf.h"

namespace dari::test {

// Appends little-endian fields with no validation, so tests can write broken files on purpose.
class RawGguf {
 public:
  template <class T>
  RawGguf& pod(T v) {
    uint8_t b[sizeof(T)];
    std::memcpy(b, &v, sizeof(T));
    bytes.insert(bytes.end(), b, b + sizeof(T));
    return *this;
  }
  RawGguf& u8(uint8_t v) { return pod(v); }
  RawGguf& u32(uint32_t v) { return pod(v); }
  RawGguf& u64(uint64_t v) { return pod(v); }
  RawGguf& str(std::string_view s) {
    u64(s.size());
    bytes.insert(bytes.end(), s.begin(), s.end());
    return *this;
  }
  RawGguf& header(uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
    bytes.insert(bytes.end(), {'G', 'G', 'U', 'F'});
    return u32(version).u64(n_tensors).u64(n_kv);
  }
  RawGguf& kv_u32(std::string_view key, uint32_t v) { return str(key).u32(4).u32(v); }
  RawGguf& kv_str(std::string_view key, std::string_view v) { return str(key).u32(8).str(v); }
  RawGguf& tensor(std::string_view name, const std::vector<uint64_t>& ne, uint32_t type,
                  uint64_t offset) {
    str(name).u32(static_cast<uint32_t>(ne.size()));
    for (uint64_t d : ne) u64(d);
    return u32(type).u64(offset);
  }
  RawGguf& pad(uint64_t align) {
    while (bytes.size() % align != 0) bytes.push_back(0);
    return *this;
  }
  RawGguf& zeros(size_t n) {
    bytes.insert(bytes.end(), n, 0);
    return *this;
  }
  uint64_t size() const { return bytes.size(); }

  std::vector<uint8_t> bytes;
};

inline std::filesystem::path seed_dir() {
  std::filesystem::path dir = std::filesystem::path(DARI_BINARY_DIR) / "fuzz-seeds" / "fuzz_gguf";
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  return dir;
}

// Saves `bytes` as a fuzz seed named `name` (best effort: a failure does not fail the test).
inline void save_seed(const std::string& name, const std::vector<uint8_t>& bytes) {
  std::ofstream out(seed_dir() / name, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

inline std::filesystem::path temp_dir() {
  std::filesystem::path dir = std::filesystem::temp_directory_path() /
                              ("dari-io-test-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  return dir;
}

// Deep equality of two metadata values: same type, same value (floats bitwise).
inline bool same_value(const GgufValue& a, const GgufValue& b) {
  if (a.type() != b.type()) return false;
  const GgufArray* aa = a.as_array();
  const GgufArray* ba = b.as_array();
  if (aa != nullptr) {
    if (aa->elem_type != ba->elem_type || aa->items.size() != ba->items.size()) return false;
    for (size_t i = 0; i < aa->items.size(); ++i) {
      if (!same_value(aa->items[i], ba->items[i])) return false;
    }
    return true;
  }
  if (const float* f = std::get_if<float>(&a.storage())) {
    return std::memcmp(f, &std::get<float>(b.storage()), sizeof(float)) == 0;
  }
  if (const double* d = std::get_if<double>(&a.storage())) {
    return std::memcmp(d, &std::get<double>(b.storage()), sizeof(double)) == 0;
  }
  return a.storage() == b.storage();
}

}  // namespace dari::test
