// Shared options, signal handling and timing output of `dari run` / `dari chat`, and the backend
// options of every command that loads a model.
#include "cmd_common.h"

#include <signal.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

#include "dari/backend/backend.h"

namespace dari::cli {
namespace {

std::atomic<bool> g_cancel{false};
std::atomic<int> g_sigints{0};

extern "C" void on_sigint(int) {
  g_sigints.fetch_add(1, std::memory_order_relaxed);
  g_cancel.store(true, std::memory_order_relaxed);
}

}  // namespace

std::atomic<bool>& cancel_flag() {
  return g_cancel;
}
int sigint_count() {
  return g_sigints.load(std::memory_order_relaxed);
}
void reset_sigint() {
  g_sigints.store(0, std::memory_order_relaxed);
  g_cancel.store(false, std::memory_order_relaxed);
}

void install_sigint_handler() {
  struct sigaction sa {};
  sa.sa_handler = on_sigint;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: a blocking read at the prompt returns EINTR
  sigaction(SIGINT, &sa, nullptr);
}

void add_generation_options(CLI::App& app, GenerationCliOptions* o) {
  app.add_option("-m,--model", o->model, "GGUF model file");
  app.add_option("-n,--n-predict", o->n_predict,
                 "tokens to generate (-1: until end of generation or the context is full)")
      ->check(CLI::Range(-1, INT32_MAX));
  app.add_option("--temp", o->temperature, "temperature (<= 0: greedy)")->capture_default_str();
  app.add_option("--top-k", o->top_k, "top-k (<= 0: disabled)")->capture_default_str();
  app.add_option("--top-p", o->top_p, "top-p (1: disabled)")->capture_default_str();
  app.add_option("--min-p", o->min_p, "min-p (0: disabled)")->capture_default_str();
  app.add_option("--repeat-penalty", o->repeat_penalty, "repetition penalty (1: disabled)")
      ->capture_default_str();
  app.add_option("--repeat-last-n", o->repeat_last_n,
                 "tokens of history the repetition penalty looks at (-1: all)")
      ->capture_default_str();
  app.add_option("--presence-penalty", o->presence_penalty, "presence penalty [-2, 2]");
  app.add_option("--frequency-penalty", o->frequency_penalty, "frequency penalty [-2, 2]");
  app.add_option("-s,--seed", o->seed, "RNG seed (-1: random)")->capture_default_str();
  app.add_option("-t,--threads", o->threads, "threads (0: all cores)");
  app.add_flag("--no-repack", o->no_repack,
               "read Q4_0, Q4_K and Q5_K weights as stored (no faster copy made at load)");
  app.add_option("-c,--ctx-size", o->ctx_size,
                 "context size in tokens (0: the model's, at most 4096)");
  app.add_option("-b,--batch-size", o->batch_size, "prompt tokens per forward pass")
      ->check(CLI::Range(1u, 1u << 20))
      ->capture_default_str();
  app.add_option("--stop", o->stop, "stop string (repeatable)");
  app.add_flag("--ignore-eos", o->ignore_eos, "keep generating past end-of-generation tokens");
  app.add_flag("-v,--verbose", o->verbose, "print model and sampling details to stderr");
  add_backend_options(app, &o->backend);
}

void add_backend_options(CLI::App& app, BackendCliOptions* o) {
  app.add_option("--backend", o->backend,
                 "backend NAME[:DEVICE] to run the model on, e.g. vulkan or vulkan:1 (see `dari "
                 "devices`)")
      ->capture_default_str();
  app.add_option("--n-gpu-layers,--gpu-layers", o->n_gpu_layers,
                 "(also -ngl) layers to put on the --backend device, counted from the last "
                 "layer (-1 or all: every layer; default: all unless the backend is cpu)");
  app.add_option("--device", o->device,
                 "(also -dev) run on the device of this name from `dari devices`, e.g. Vulkan0 "
                 "(none: the cpu), instead of --backend");
  app.add_flag("--list-devices", o->list_devices,
               "print the backends' devices (as `dari devices`) and exit");
  app.add_option("--backend-plugin", o->plugins,
                 "load a backend plugin library (libdari-backend-NAME.so) before looking up "
                 "--backend (repeatable)");
}

namespace {

// "" / "all" / "auto" -> -1; N >= -1 -> N.
bool parse_gpu_layers(const std::string& s, int32_t* out) {
  if (s.empty() || s == "all" || s == "auto") {
    *out = -1;
    return true;
  }
  char* end = nullptr;
  errno = 0;
  const long v = std::strtol(s.c_str(), &end, 10);
  if (errno != 0 || end == s.c_str() || *end != '\0' || v < -1 || v > INT32_MAX) return false;
  *out = static_cast<int32_t>(v);
  return true;
}

bool same_name(const std::string& a, const std::string& b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// --device NAME -> "backend:index" (names compare case-insensitively); "" after an error line.
std::string spec_for_device(const std::string& name) {
  if (same_name(name, "none")) return "cpu";
  discover_plugins();  // load errors are `dari devices`' business
  std::string known;
  for (const DeviceInfo& d : list_devices()) {
    if (same_name(d.name, name)) return d.backend + ":" + std::to_string(d.index);
    known += (known.empty() ? "" : ", ") + d.name;
  }
  std::fprintf(stderr,
               "dari: error: --device %s: no such device (devices: %s; see `dari devices`)\n",
               name.c_str(), known.c_str());
  return "";
}

}  // namespace

bool resolve_backend(const BackendCliOptions& o, ResolvedBackend* out) {
  namespace fs = std::filesystem;
  for (const std::string& p : o.plugins) {
    std::error_code ec;
    // An existing file is loaded by its absolute path (dlopen would search the library path for
    // a bare file name); anything else goes to dlopen as typed, so its error names it.
    std::string path = p;
    if (fs::exists(p, ec)) path = fs::absolute(p, ec).lexically_normal().string();
    auto r = register_plugin_library(path);
    if (!r.ok()) {
      std::string msg = r.message();
      if (msg.find(path) == std::string::npos) msg = path + ": " + msg;
      std::fprintf(stderr, "dari: error: --backend-plugin: %s\n", msg.c_str());
      return false;
    }
  }
  if (o.list_devices) {
    std::fflush(stderr);
    std::exit(print_devices(false));  // nothing is open yet: exiting here is what llama.cpp does
  }
  if (!parse_gpu_layers(o.n_gpu_layers, &out->n_gpu_layers)) {
    std::fprintf(stderr,
                 "dari: error: -ngl: expected a number of layers (N >= 0, -1 or all), got '%s'\n",
                 o.n_gpu_layers.c_str());
    return false;
  }
  out->spec = o.backend.empty() ? "cpu" : o.backend;
  if (!o.device.empty()) {
    if (out->spec != "cpu") {
      std::fprintf(stderr, "dari: error: give --backend or --device, not both\n");
      return false;
    }
    out->spec = spec_for_device(o.device);
    if (out->spec.empty()) return false;
  }
  if (out->is_cpu() && !o.n_gpu_layers.empty() && out->n_gpu_layers != 0) {
    // llama.cpp users type -ngl 99 out of habit: say which device would take it, if any.
    std::string hint = "choose a device with --backend, see `dari devices`";
    discover_plugins();  // load errors are `dari devices`' business
    for (const DeviceInfo& d : list_devices()) {
      if (d.backend != "cpu") {
        hint = "add --backend " + d.backend + ":" + std::to_string(d.index) + " for " + d.name;
        break;
      }
    }
    std::fprintf(stderr, "dari: warning: -ngl %s is ignored: the backend is cpu (%s)\n",
                 o.n_gpu_layers.c_str(), hint.c_str());
  }
  if (out->spec == "cpu") return true;
  // Open the device once so that a wrong name or index fails here, in one line, before the model
  // is read. The model load opens its own context.
  BackendOptions bo;
  bo.n_threads = 1;
  auto b = create_backend(out->spec, bo);
  if (!b.ok()) {
    std::fprintf(stderr, "dari: error: --backend %s: %s\n", out->spec.c_str(), b.message().c_str());
    return false;
  }
  return true;
}

void report_backend_unwired(const ResolvedBackend& r) {
  std::fprintf(stderr,
               "dari: error: --backend %s: this command's engine options have no backend "
               "setting yet, so it runs on the cpu only (use --backend cpu)\n",
               r.spec.c_str());
}

std::string default_model_override() {
  const char* env = std::getenv("DARI_DEFAULT_MODEL");
  return env != nullptr ? env : "";
}

std::string find_default_model() {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (std::string env = default_model_override(); !env.empty()) {
    return fs::is_regular_file(env, ec) ? env : "";
  }
  std::vector<fs::path> candidates;
  fs::path exe_dir = fs::read_symlink("/proc/self/exe", ec).parent_path();
  if (!ec) {
    candidates.push_back(exe_dir / kDefaultModelFile);                    // beside the binary
    candidates.push_back(exe_dir / "../share/dari" / kDefaultModelFile);  // installed
  }
  candidates.push_back(fs::path(DARI_SOURCE_DIR) / "models" / kDefaultModelFile);  // source tree
  for (const auto& c : candidates) {
    if (fs::is_regular_file(c, ec)) return fs::weakly_canonical(c, ec).string();
  }
  return "";
}

std::unique_ptr<Engine> load_engine(const GenerationCliOptions& o, uint32_t max_sequences) {
  ResolvedBackend rb;
  EngineOptions eo;
  if (!resolve_backend(o.backend, &rb) || !apply_backend(rb, &eo)) return nullptr;
  std::string model = o.model;
  if (model.empty()) {
    model = find_default_model();
    if (model.empty()) {
      std::string env = default_model_override();
      if (!env.empty()) {
        std::fprintf(stderr,
                     "dari: error: no model given (-m) and DARI_DEFAULT_MODEL=%s is not "
                     "a file\n",
                     env.c_str());
      } else {
        std::fprintf(stderr,
                     "dari: error: no model given (-m) and the default model %s was not "
                     "found beside the binary, in ../share/dari, or in the source tree\n",
                     kDefaultModelFile);
      }
      return nullptr;
    }
    std::fprintf(stderr, "dari: using the default model %s\n", model.c_str());
  }
  eo.model_path = model;
  eo.n_ctx = o.ctx_size;
  eo.n_threads = o.threads;
  eo.repack = !o.no_repack;
  eo.prefill_chunk = o.batch_size;
  eo.max_sequences = max_sequences;
  auto e = Engine::load(eo);
  if (!e.ok()) {
    std::fprintf(stderr, "dari: error: %s\n", e.message().c_str());
    return nullptr;
  }
  return std::move(e).value();
}

GenerateOptions make_generate_options(const GenerationCliOptions& o) {
  GenerateOptions g;
  SamplingParams& s = g.sampling;
  s.temperature = o.temperature;
  s.top_k = o.top_k > 0 ? o.top_k : 0;
  s.top_p = o.top_p;
  s.min_p = o.min_p;
  s.repetition_penalty = o.repeat_penalty;
  s.repeat_last_n = o.repeat_last_n;
  s.presence_penalty = o.presence_penalty;
  s.frequency_penalty = o.frequency_penalty;
  s.seed = o.seed < 0 ? random_seed() : static_cast<uint64_t>(o.seed);
  std::fprintf(stderr, "dari: seed %llu\n", static_cast<unsigned long long>(s.seed));
  g.max_tokens = o.n_predict;
  g.stop = o.stop;
  g.ignore_eog = o.ignore_eos;
  g.cancel = &cancel_flag();
  return g;
}

void print_timings(double load_ms, const GenerationResult& r) {
  const auto& t = r.timings;
  const uint32_t evaluated = t.prompt_tokens - t.cached_tokens;
  auto rate = [](uint32_t n, double ms) { return ms > 0.0 ? 1000.0 * n / ms : 0.0; };
  std::fprintf(stderr, "\n");
  if (load_ms >= 0.0) std::fprintf(stderr, "dari: load time         = %10.2f ms\n", load_ms);
  std::fprintf(stderr,
               "dari: prompt eval time  = %10.2f ms / %5u tokens (%8.2f tokens/s, %u cached)\n",
               t.prompt_ms, evaluated, rate(evaluated, t.prompt_ms), t.cached_tokens);
  std::fprintf(stderr, "dari: generation time   = %10.2f ms / %5u tokens (%8.2f tokens/s)\n",
               t.generation_ms, t.generated_tokens, rate(t.generated_tokens, t.generation_ms));
  std::fprintf(stderr, "dari: finish reason     = %s\n", finish_reason_name(r.finish));
}

Result<std::string> read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(path + ": cannot open the file");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return make_error(path + ": read error");
  return ss.str();
}

}  // namespace dari::cli
