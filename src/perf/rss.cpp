// Peak RSS from getrusage and /proc/self/status.
#include <sys/resource.h>

#include <cstdio>
#include <cstring>

#include "dari/perf/model_bench.h"

namespace dari::perf {

PeakRss peak_rss() {
  PeakRss r;
  struct rusage ru {};
  if (::getrusage(RUSAGE_SELF, &ru) == 0 && ru.ru_maxrss > 0) {
    r.maxrss_bytes = static_cast<uint64_t>(ru.ru_maxrss) * 1024;  // Linux: KiB
  }
  if (FILE* f = std::fopen("/proc/self/status", "r")) {
    char line[256];
    while (std::fgets(line, sizeof(line), f) != nullptr) {
      unsigned long long kib = 0;
      if (std::strncmp(line, "VmHWM:", 6) == 0 && std::sscanf(line + 6, "%llu", &kib) == 1) {
        r.vm_hwm_bytes = static_cast<uint64_t>(kib) * 1024;
        break;
      }
    }
    std::fclose(f);
  }
  return r;
}

}  // namespace dari::perf
