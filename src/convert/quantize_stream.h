// Internal helpers shared by quantize.cpp and synthetic.cpp: a streamed output file that appears
// under its name only when complete, and a row-parallel encoder.
//
// Thread safety: StreamOut is owned by one thread. encode_rows() runs `fill` on the pool's
// threads (each call on a disjoint row range) and returns when all rows are done.
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "dari/core/result.h"
#include "dari/core/thread_pool.h"
#include "dari/io/ggml_type.h"

namespace dari::convert_detail {

// Writes to PATH.tmp.<pid>; commit() renames it over PATH. Destroyed uncommitted: the temp file
// is removed.
class StreamOut {
 public:
  explicit StreamOut(std::string path);
  ~StreamOut();
  StreamOut(const StreamOut&) = delete;
  StreamOut& operator=(const StreamOut&) = delete;

  Status open();
  Status write(const void* data, uint64_t n);
  Status pad_to(uint64_t align);  // zero bytes up to a multiple of align
  uint64_t written() const { return written_; }
  Status commit();

 private:
  std::string path_, tmp_;
  FILE* f_ = nullptr;
  uint64_t written_ = 0;
  bool committed_ = false;
};

// Encodes a [rows, cols] tensor of `type` into `out` (resized to rows * row_bytes): for each row
// range, fill(r0, r1, floats) must write (r1 - r0) * cols floats, which are then quantised with
// the reference encoder. Rows are split over `pool` in chunks; results do not depend on the
// chunking as long as fill() is a pure function of the row index.
Status encode_rows(ThreadPool& pool, GgmlType type, uint64_t rows, uint64_t cols,
                   const std::function<void(uint64_t, uint64_t, float*)>& fill,
                   std::vector<uint8_t>* out);

}  // namespace dari::convert_detail
