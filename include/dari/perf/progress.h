// A one-line progress bar for long file writes (`dari quantize`, `dari bench --synthetic`).
//
// Thread safety: one ProgressBar per output stream, used by one thread.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

namespace dari::perf {

class ProgressBar {
 public:
  // Draws on `out` (stderr usually). When out is not a terminal, prints one line per update
  // instead of redrawing in place, at most every ~5% of the bytes and on the last item.
  explicit ProgressBar(FILE* out);
  // item/total: tensors done; done/total_bytes: bytes done; label: current tensor.
  void update(size_t item, size_t total, uint64_t done_bytes, uint64_t total_bytes,
              const std::string& label);
  // Ends the line (when redrawing in place).
  void finish();

 private:
  FILE* out_;
  bool tty_;
  int last_pct_ = -1;
};

}  // namespace dari::perf
