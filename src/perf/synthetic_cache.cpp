// Cache folder of synthetic models for `dari bench --synthetic`.
#include <chrono>
#include <cstdlib>
#include <filesystem>

#include "dari/core/strings.h"
#include "dari/perf/model_bench.h"

namespace dari::perf {

std::string default_cache_dir() {
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  if (xdg != nullptr && xdg[0] == '/') return std::string(xdg) + "/dari";
  const char* home = std::getenv("HOME");
  if (home != nullptr && home[0] != '\0') return std::string(home) + "/.cache/dari";
  return ".dari-cache";
}

Result<CachedModel> ensure_synthetic_model(
    const std::string& shape_name, const std::string& type, const std::string& cache_dir,
    uint64_t seed, unsigned n_threads,
    const std::function<void(const SyntheticProgress&)>& on_tensor) {
  DARI_ASSIGN_OR_RETURN(SyntheticShape shape, synthetic_shape(shape_name));
  DARI_ASSIGN_OR_RETURN(QuantMix mix, parse_quant_mix(type));
  CachedModel c;
  c.path = cache_dir + "/" +
           str_format("synthetic-%s-%s-seed%llu.gguf", shape.name.c_str(), mix.name.c_str(),
                      static_cast<unsigned long long>(seed));
  std::error_code ec;
  if (std::filesystem::is_regular_file(c.path, ec)) return c;
  std::filesystem::create_directories(cache_dir, ec);
  if (ec) return make_error(cache_dir + ": cannot create the cache folder: " + ec.message());
  SyntheticOptions so;
  so.seed = seed;
  so.n_threads = n_threads;
  so.on_tensor = on_tensor;
  const auto t0 = std::chrono::steady_clock::now();
  DARI_ASSIGN_OR_RETURN(c.summary, write_synthetic_model(shape, mix, c.path, so));
  c.write_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  c.created = true;
  return c;
}

}  // namespace dari::perf
