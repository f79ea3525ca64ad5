#include "dari/perf/progress.h"

#include <unistd.h>

#include "dari/core/strings.h"

namespace dari::perf {

ProgressBar::ProgressBar(FILE* out) : out_(out), tty_(::isatty(::fileno(out)) != 0) {}

void ProgressBar::update(size_t item, size_t total, uint64_t done_bytes, uint64_t total_bytes,
                         const std::string& label) {
  const double frac =
      total_bytes > 0 ? static_cast<double>(done_bytes) / static_cast<double>(total_bytes) : 1.0;
  const int pct = static_cast<int>(frac * 100.0 + 0.5);
  constexpr int kWidth = 30;
  const int filled = static_cast<int>(frac * kWidth + 0.5);
  std::string bar(static_cast<size_t>(filled), '#');
  bar.resize(kWidth, '.');
  const std::string line =
      str_format("[%s] %3d%% %zu/%zu tensors, %s / %s  %s", bar.c_str(), pct, item, total,
                 human_bytes(done_bytes).c_str(), human_bytes(total_bytes).c_str(), label.c_str());
  if (tty_) {
    std::fprintf(out_, "\r%-110s", line.c_str());
  } else if (pct / 5 != last_pct_ / 5 || item == total) {
    std::fprintf(out_, "%s\n", line.c_str());
  }
  last_pct_ = pct;
  std::fflush(out_);
}

void ProgressBar::finish() {
  if (tty_) std::fprintf(out_, "\n");
}

}  // namespace dari::perf
