// GGUF reader and writer.
//
// GgufFile memory-maps a file (read-only, no copy of tensor data) and validates everything it
// reads: counts, lengths, dims, offsets and types are bounds- and overflow-checked before use,
// and errors name the file, the byte offset and the field. Metadata values are decoded into
// owned C++ values; tensor data stays in the mapping and is exposed as pointers that live as
// long as the GgufFile.
//
// Thread safety: a GgufFile is immutable after open(); any thread may read it concurrently.
//
// Accepted: GGUF v2 and v3, little-endian (v1 and big-endian files are rejected with a message
// saying so). Limits the reader enforces: general.alignment an unsigned integer, a power of two
// in 1..1 MiB (default 32); keys 1..65535 bytes, unique; tensor names 1..255 bytes, unique;
// arrays nested at most 8 deep; 1..4 dims, each 1..2^63-1 (zero-sized tensors are rejected),
// element count below 2^63, dim 0 a multiple of the type's block size; tensor offsets aligned,
// inside the file and not overlapping. bool values must be 0 or 1. At most 2^20 metadata keys,
// 2^20 tensors and 2^26 metadata array elements in all (so a hostile file cannot make the
// decoded metadata many times larger than itself).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "dari/core/result.h"
#include "dari/io/ggml_type.h"

namespace dari {

// Metadata value types, numbered as in the file.
enum class GgufValueType : uint32_t {
  UINT8 = 0,
  INT8 = 1,
  UINT16 = 2,
  INT16 = 3,
  UINT32 = 4,
  INT32 = 5,
  FLOAT32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
  UINT64 = 10,
  INT64 = 11,
  FLOAT64 = 12,
};
std::string_view gguf_value_type_name(GgufValueType t);

struct GgufArray;

// One metadata value. Arrays hold their element type and a vector of values (nested arrays are
// allowed by the format and supported).
class GgufValue {
 public:
  using Storage = std::variant<uint8_t, int8_t, uint16_t, int16_t, uint32_t, int32_t, float, bool,
                               std::string, std::shared_ptr<GgufArray>, uint64_t, int64_t, double>;

  GgufValue() : v_(uint8_t{0}) {}
  explicit GgufValue(Storage v) : v_(std::move(v)) {}

  // The variant index equals the GgufValueType number.
  GgufValueType type() const { return static_cast<GgufValueType>(v_.index()); }
  const Storage& storage() const { return v_; }

  bool is_integer() const;
  bool is_float() const;
  // Integer value of any integer type (including bool as 0/1? no: bool is not an integer).
  // Returns false if this is not an integer or the value does not fit in the target.
  bool to_u64(uint64_t* out) const;
  bool to_i64(int64_t* out) const;
  bool to_f64(double* out) const;  // integers or floats
  const std::string* as_string() const { return std::get_if<std::string>(&v_); }
  const GgufArray* as_array() const;
  const bool* as_bool() const { return std::get_if<bool>(&v_); }

 private:
  Storage v_;
};

struct GgufArray {
  GgufValueType elem_type = GgufValueType::UINT8;
  std::vector<GgufValue> items;
};

// One entry of the tensor directory, after validation.
struct GgufTensorInfo {
  std::string name;
  GgmlType type = GgmlType::F32;
  uint32_t n_dims = 0;
  uint64_t ne[4] = {1, 1, 1, 1};  // elements per dim, fastest-varying first; unused dims are 1
  uint64_t n_elements = 0;
  uint64_t offset = 0;  // bytes from the start of the data section
  uint64_t n_bytes = 0;
  const uint8_t* data = nullptr;  // into the mapping; valid while the GgufFile lives
};

class MappedFile;

class GgufFile {
 public:
  // Maps and validates `path`. Never aborts on bad input: returns an Error that names the file,
  // the byte offset and the field.
  static Result<GgufFile> open(const std::string& path);
  // Parses an in-memory image (used by the fuzzer and tests). The bytes must outlive the result.
  static Result<GgufFile> parse(const uint8_t* data, uint64_t size, std::string name = "<memory>");

  GgufFile(GgufFile&&) noexcept;
  GgufFile& operator=(GgufFile&&) noexcept;
  ~GgufFile();

  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }  // absolute file offset of tensor data
  uint64_t file_size() const { return size_; }

  // Metadata in file order.
  const std::vector<std::pair<std::string, GgufValue>>& metadata() const { return kv_; }
  const GgufValue* find(std::string_view key) const;
  bool has(std::string_view key) const { return find(key) != nullptr; }

  // Typed accessors. Missing key or wrong type -> Error naming the key and the found type.
  // Integer accessors accept any integer type whose value fits.
  Result<uint64_t> get_u64(std::string_view key) const;
  Result<uint32_t> get_u32(std::string_view key) const;
  Result<int64_t> get_i64(std::string_view key) const;
  Result<double> get_f64(std::string_view key) const;  // float32/float64 (or integer)
  Result<float> get_f32(std::string_view key) const;
  Result<bool> get_bool(std::string_view key) const;
  Result<std::string> get_string(std::string_view key) const;
  Result<std::vector<std::string>> get_string_array(std::string_view key) const;
  Result<std::vector<float>> get_f32_array(std::string_view key) const;
  Result<std::vector<int32_t>> get_i32_array(std::string_view key) const;  // any int type that fits
  Result<std::vector<uint64_t>> get_u64_array(std::string_view key) const;

  // Same, but a missing key yields `def` (a present key of the wrong type is still an Error).
  Result<uint32_t> get_u32_or(std::string_view key, uint32_t def) const;
  Result<uint64_t> get_u64_or(std::string_view key, uint64_t def) const;
  Result<float> get_f32_or(std::string_view key, float def) const;
  Result<bool> get_bool_or(std::string_view key, bool def) const;
  Result<std::string> get_string_or(std::string_view key, std::string def) const;

  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
  const GgufTensorInfo* find_tensor(std::string_view name) const;
  // For a file opened with open(): drops the process's resident copies of the tensor's whole
  // pages (after a backend copied the data; the bytes stay readable and are read from the file
  // again if touched). No-op for parse()d images. Any thread.
  void release_tensor_pages(const GgufTensorInfo& t) const;

 private:
  GgufFile() = default;
  std::string path_;
  std::unique_ptr<MappedFile> map_;
  const uint8_t* base_ = nullptr;
  uint64_t size_ = 0;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  std::vector<std::pair<std::string, GgufValue>> kv_;
  std::map<std::string, size_t, std::less<>> kv_index_;
  std::vector<GgufTensorInfo> tensors_;
  std::map<std::string, size_t, std::less<>> tensor_index_;
  friend class GgufParser;
};

// Builds a GGUF file in memory and writes it. Output is accepted by GgufFile and by llama.cpp.
// Not thread-safe; one writer per file.
class GgufWriter {
 public:
  GgufWriter() = default;

  // Metadata, written in insertion order; setting an existing key replaces its value in place.
  void set(std::string key, GgufValue value);
  void set_u32(std::string key, uint32_t v) { set(std::move(key), GgufValue(GgufValue::Storage(v))); }
  void set_i32(std::string key, int32_t v) { set(std::move(key), GgufValue(GgufValue::Storage(v))); }
  void set_u64(std::string key, uint64_t v) { set(std::move(key), GgufValue(GgufValue::Storage(v))); }
  void set_f32(std::string key, float v) { set(std::move(key), GgufValue(GgufValue::Storage(v))); }
  void set_bool(std::string key, bool v) { set(std::move(key), GgufValue(GgufValue::Storage(v))); }
  void set_string(std::string key, std::string v);
  void set_string_array(std::string key, const std::vector<std::string>& v);
  void set_f32_array(std::string key, const std::vector<float>& v);
  void set_i32_array(std::string key, const std::vector<int32_t>& v);

  // Adds a tensor; `data` must hold exactly ggml_row_bytes(type, ne[0]) * ne[1] * ne[2] * ne[3]
  // bytes (copied). ne lists n_dims dims, fastest first.
  Status add_tensor(std::string name, GgmlType type, std::vector<uint64_t> ne,
                    const void* data, uint64_t n_bytes);

  // Declares a tensor without data: its bytes are written by the caller at
  // header_bytes().size() + (its offset) (e.g. a sparse benchmark file). to_bytes() and write()
  // refuse a writer holding such tensors.
  Status add_tensor_info(std::string name, GgmlType type, std::vector<uint64_t> ne);

  // Sets general.alignment (power of two, at most 1 MiB; a bad value makes to_bytes() fail);
  // default 32. Stored as the uint32 key general.alignment, as llama.cpp requires.
  void set_alignment(uint32_t alignment);

  // Serialises the whole file (GGUF v3).
  Result<std::vector<uint8_t>> to_bytes() const;
  // Writes to `path` + ".tmp.<pid>" and renames it over `path`, so readers never see half a file.
  Status write(const std::string& path) const;

  // Everything before the data section: header, metadata, tensor directory, padding.
  Result<std::vector<uint8_t>> header_bytes() const;
  // Size of the whole file to_bytes() would produce (each tensor's data padded to alignment).
  Result<uint64_t> file_size() const;

 private:
  struct PendingTensor {
    std::string name;
    GgmlType type;
    std::vector<uint64_t> ne;
    std::vector<uint8_t> data;
    bool has_data = true;  // false for add_tensor_info()
    uint64_t n_bytes = 0;
  };
  Status check_tensor(const std::string& name, GgmlType type, const std::vector<uint64_t>& ne,
                      uint64_t* n_bytes) const;
  Result<uint64_t> effective_alignment() const;
  Status serialize(std::vector<uint8_t>* out, bool with_data) const;
  std::vector<std::pair<std::string, GgufValue>> kv_;
  std::vector<PendingTensor> tensors_;
  uint32_t alignment_ = 32;
};

}  // namespace dari
