// MappedFile: a whole file mapped read-only (private, copy-on-write never used).
//
// Owns the mapping; data() stays valid until the object is destroyed. An empty file maps to
// nothing: data() is nullptr and size() is 0. Immutable after open(); any thread may read it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "dari/core/result.h"

namespace dari {

class MappedFile {
 public:
  static Result<std::unique_ptr<MappedFile>> open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  uint64_t size() const { return size_; }
  // Drops this process's copies of the whole pages inside [p, p + n) (the part inside the
  // mapping): they stop counting towards RSS and are read from the file again if touched.
  // Contents seen by readers do not change (a private, read-only mapping). Any thread.
  void release_pages(const uint8_t* p, uint64_t n) const;

 private:
  MappedFile() = default;
  const uint8_t* data_ = nullptr;
  uint64_t size_ = 0;
};

}  // namespace dari
