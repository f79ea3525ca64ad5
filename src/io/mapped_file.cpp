#include "io/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "dari/core/strings.h"

namespace dari {
namespace {

std::string errno_text() {
  return std::strerror(errno);
}

// Closes a descriptor on every return path.
struct FdCloser {
  int fd;
  ~FdCloser() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

Result<std::unique_ptr<MappedFile>> MappedFile::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return make_error(str_format("%s: cannot open: %s", path.c_str(), errno_text().c_str()));
  FdCloser closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    return make_error(str_format("%s: cannot stat: %s", path.c_str(), errno_text().c_str()));
  }
  if (!S_ISREG(st.st_mode)) return make_error(str_format("%s: not a regular file", path.c_str()));
  if (st.st_size < 0) return make_error(str_format("%s: negative file size", path.c_str()));
  std::unique_ptr<MappedFile> mf(new MappedFile());
  mf->size_ = static_cast<uint64_t>(st.st_size);
  if (mf->size_ == 0) return mf;  // mmap of length 0 is invalid; an empty mapping is fine
  if (mf->size_ > static_cast<uint64_t>(SIZE_MAX)) {
    return make_error(str_format("%s: file too large to map", path.c_str()));
  }
  void* p = ::mmap(nullptr, static_cast<size_t>(mf->size_), PROT_READ, MAP_PRIVATE, fd, 0);
  if (p == MAP_FAILED) {
    mf->size_ = 0;
    return make_error(str_format("%s: mmap failed: %s", path.c_str(), errno_text().c_str()));
  }
  mf->data_ = static_cast<const uint8_t*>(p);
  return mf;
}

void MappedFile::release_pages(const uint8_t* p, uint64_t n) const {
  if (data_ == nullptr || p < data_ || p >= data_ + size_) return;
  const auto page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  const auto off = static_cast<uint64_t>(p - data_);
  const uint64_t end = off + std::min(n, size_ - off);
  const uint64_t first = (off + page - 1) / page * page;  // whole pages only
  const uint64_t last = end / page * page;
  if (first >= last) return;
  // Advice only: a failure leaves the pages resident, which is harmless.
  (void)::madvise(const_cast<uint8_t*>(data_ + first), static_cast<size_t>(last - first),
                  MADV_DONTNEED);
}

MappedFile::~MappedFile() {
  if (data_ != nullptr) ::munmap(const_cast<uint8_t*>(data_), static_cast<size_t>(size_));
}

}  // namespace dari
