// Safetensors reader: single files and sharded checkpoints (model.safetensors.index.json).
//
// File layout: u64 little-endian header length N, N bytes of JSON (an object mapping tensor
// names to {"dtype", "shape", "data_offsets": [begin, end]}, plus an optional "__metadata__"
// object of strings), then the data section; offsets are relative to its start (byte 8 + N).
//
// Everything read from the file is validated before use: the header length (<= kMaxHeaderBytes
// and inside the file), the JSON, every shape (non-negative integers, overflow-checked product),
// every data range (inside the file, exactly product x dtype size bytes, no two overlapping).
// Errors are Results whose message names the file and the tensor.
//
// Ownership: SafetensorsFile owns its mapping (or, for parse(), borrows caller memory that must
// outlive it); SafetensorsTensor::data points into that memory.
// Thread safety: immutable after open()/parse(); any thread may read concurrently.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "dari/core/result.h"

namespace dari {

class MappedFile;

enum class SafetensorsDtype {
  kBool, kU8, kI8, kI16, kU16, kI32, kU32, kI64, kU64,
  kF16, kBF16, kF32, kF64, kF8E4M3, kF8E5M2, kF8E8M0, kF4,
};

// Name as written in the file ("BF16"), bytes per element (0 for sub-byte F4).
std::string_view safetensors_dtype_name(SafetensorsDtype t);
uint32_t safetensors_dtype_bytes(SafetensorsDtype t);

struct SafetensorsTensor {
  std::string name;
  SafetensorsDtype dtype = SafetensorsDtype::kF32;
  std::vector<uint64_t> shape;  // as in the file: slowest-varying first (row-major)
  uint64_t n_elements = 0;
  uint64_t n_bytes = 0;
  uint64_t file_offset = 0;       // absolute byte offset in the file
  const uint8_t* data = nullptr;  // n_bytes bytes; valid while the owning file lives
};

class SafetensorsFile {
 public:
  // Largest JSON header accepted (bytes).
  static constexpr uint64_t kMaxHeaderBytes = 100ull << 20;

  static Result<SafetensorsFile> open(const std::string& path);
  // Parses an in-memory image; `data` must outlive the result. `name` is used in messages.
  static Result<SafetensorsFile> parse(const uint8_t* data, uint64_t size, std::string name);

  SafetensorsFile(SafetensorsFile&&) noexcept;
  SafetensorsFile& operator=(SafetensorsFile&&) noexcept;
  ~SafetensorsFile();

  const std::string& path() const { return path_; }
  // Tensors in file-offset order.
  const std::vector<SafetensorsTensor>& tensors() const { return tensors_; }
  const SafetensorsTensor* find(std::string_view name) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  SafetensorsFile() = default;
  std::string path_;
  std::unique_ptr<MappedFile> map_;
  std::vector<SafetensorsTensor> tensors_;
  std::map<std::string, size_t, std::less<>> index_;
  std::map<std::string, std::string> metadata_;
  friend struct SafetensorsParser;
};

// Converts a F32/F16/BF16 tensor to floats; dst holds t.n_elements floats. Any other dtype is an
// Error naming the tensor and its dtype.
Status safetensors_to_f32(const SafetensorsTensor& t, float* dst);

// Parses the "weight_map" of a model.safetensors.index.json (tensor name -> shard file name).
// Shard names must be plain file names: no '/', '\\', "..", NUL, not empty.
Result<std::map<std::string, std::string>> parse_safetensors_index(std::string_view json,
                                                                   const std::string& name);

// A whole checkpoint directory: model.safetensors, or the shards listed by
// model.safetensors.index.json, or (no index) every *.safetensors file in the folder.
// Tensor names are unique across shards; with an index, each tensor must be in the shard that
// the index names.
class SafetensorsCheckpoint {
 public:
  static Result<SafetensorsCheckpoint> open_dir(const std::string& dir);

  // All tensors, ordered by name.
  std::vector<const SafetensorsTensor*> tensors() const;
  const SafetensorsTensor* find(std::string_view name) const;
  // Shard file that holds `name` (for messages); "" when absent.
  std::string file_of(std::string_view name) const;
  size_t n_files() const { return files_.size(); }

 private:
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, std::pair<size_t, const SafetensorsTensor*>, std::less<>> by_name_;
};

}  // namespace dari
