#include "convert/quantize_stream.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>

#include "dari/core/checked.h"
#include "dari/core/strings.h"
#include "dari/tensor/dtype.h"

namespace dari::convert_detail {

StreamOut::StreamOut(std::string path)
    : path_(std::move(path)), tmp_(path_ + ".tmp." + std::to_string(::getpid())) {}

StreamOut::~StreamOut() {
  if (f_ != nullptr) std::fclose(f_);
  if (!committed_) std::remove(tmp_.c_str());
}

Status StreamOut::open() {
  f_ = std::fopen(tmp_.c_str(), "wb");
  if (f_ == nullptr) return make_error(tmp_ + ": cannot create: " + std::strerror(errno));
  return Status::Ok();
}

Status StreamOut::write(const void* data, uint64_t n) {
  if (n != 0 && std::fwrite(data, 1, n, f_) != n) {
    return make_error(tmp_ + ": write failed: " + std::strerror(errno));
  }
  written_ += n;
  return Status::Ok();
}

Status StreamOut::pad_to(uint64_t align) {
  static const uint8_t kZeros[64] = {};
  uint64_t rem = align == 0 ? 0 : (align - written_ % align) % align;
  while (rem > 0) {
    const uint64_t n = std::min<uint64_t>(rem, sizeof(kZeros));
    DARI_TRY(write(kZeros, n));
    rem -= n;
  }
  return Status::Ok();
}

Status StreamOut::commit() {
  const int rc = std::fclose(f_);
  f_ = nullptr;
  if (rc != 0) return make_error(tmp_ + ": write failed on close");
  if (std::rename(tmp_.c_str(), path_.c_str()) != 0) {
    return make_error(path_ + ": cannot rename from " + tmp_ + ": " + std::strerror(errno));
  }
  committed_ = true;
  return Status::Ok();
}

Status encode_rows(ThreadPool& pool, GgmlType type, uint64_t rows, uint64_t cols,
                   const std::function<void(uint64_t, uint64_t, float*)>& fill,
                   std::vector<uint8_t>* out) {
  DARI_ASSIGN_OR_RETURN(uint64_t rb, row_bytes(type, static_cast<int64_t>(cols)));
  uint64_t total = 0;
  if (!checked_mul(rb, rows, &total) || total > (uint64_t{1} << 40)) {
    return make_error(str_format("%llu rows of %llu bytes do not fit in memory",
                                 static_cast<unsigned long long>(rows),
                                 static_cast<unsigned long long>(rb)));
  }
  out->resize(total);
  // About 1 MiB of floats per chunk keeps the scratch in cache and the threads balanced.
  const uint64_t chunk = std::max<uint64_t>(1, (uint64_t{1} << 18) / std::max<uint64_t>(cols, 1));
  const auto n_chunks = static_cast<int64_t>((rows + chunk - 1) / chunk);
  std::mutex err_mu;
  std::string err;
  uint8_t* dst = out->data();
  pool.parallel_for(n_chunks, 1, [&](int64_t c0, int64_t c1) {
    std::vector<float> scratch;
    for (int64_t c = c0; c < c1; ++c) {
      const uint64_t r0 = static_cast<uint64_t>(c) * chunk;
      const uint64_t r1 = std::min(rows, r0 + chunk);
      scratch.resize((r1 - r0) * cols);
      fill(r0, r1, scratch.data());
      for (uint64_t r = r0; r < r1; ++r) {
        Status st = quantize_row(type, scratch.data() + (r - r0) * cols, dst + r * rb,
                                 static_cast<int64_t>(cols));
        if (!st.ok()) {
          std::lock_guard<std::mutex> lock(err_mu);
          if (err.empty()) err = st.message();
          return;
        }
      }
    }
  });
  if (!err.empty()) return make_error(err);
  return Status::Ok();
}

}  // namespace dari::convert_detail
