// Shared pieces of the `dari run` and `dari chat` commands: model/sampling options, SIGINT
// handling and timing output; the backend options of run, chat, serve, bench and bench-serve.
//
// Thread safety: called from main()'s thread only; the SIGINT handler touches only the atomics.
#pragma once

#include <CLI/CLI.hpp>
#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "dari/engine.h"

namespace dari::cli {

// --backend NAME[:DEVICE], -ngl/--n-gpu-layers N, --backend-plugin PATH (repeatable) and
// -dev/--device NAME, shared by
// run, chat, serve, bench and bench-serve. Meanings follow llama.cpp: -ngl counts layers from the
// last one, -1 or "all" (the default on a backend other than cpu) puts every layer on the device.
struct BackendCliOptions {
  std::string backend = "cpu";       // registry spec (dari/backend/backend.h create_backend)
  std::string n_gpu_layers;          // as typed: "" (default), N >= -1, "all" or "auto"
  std::vector<std::string> plugins;  // libraries to register before the backend is looked up
  bool list_devices = false;         // llama.cpp's --list-devices: print them and exit 0
  std::string device;  // llama.cpp's --device: a device name from `dari devices` ("Vulkan0"),
                       // or "none" (the cpu); replaces --backend when given
};
void add_backend_options(CLI::App& app, BackendCliOptions* o);

// The options after resolve_backend(): a spec that names an existing device, and -ngl as a number.
struct ResolvedBackend {
  std::string spec = "cpu";
  int32_t n_gpu_layers = -1;  // -1: all layers (ModelLoadOptions::n_gpu_layers)
  bool is_cpu() const { return spec == "cpu" || spec.rfind("cpu:", 0) == 0; }
};
// Registers the --backend-plugin libraries, parses -ngl and opens the backend's device once to
// prove it exists. On failure prints one "dari: error: ..." line and returns false. With
// --list-devices it prints the devices and exits the process (status 0), as llama.cpp does.
bool resolve_backend(const BackendCliOptions& o, ResolvedBackend* out);

// `dari devices` (cmd_devices.cpp): loads the plugins on the search path and prints every device
// (a table, or JSON); returns the exit status.
int print_devices(bool json);

// Prints the error for a non-cpu backend given to options that cannot carry it.
void report_backend_unwired(const ResolvedBackend& r);

// Copies the backend choice into engine/bench options that have `backend` and `n_gpu_layers`
// members (EngineOptions, ServingOptions, perf options). Options without them run on the CPU
// only: a non-cpu choice is then an error (one line printed, false returned).
template <class EngineOpts>
bool apply_backend(const ResolvedBackend& r, EngineOpts* opts) {
  if constexpr (requires {
                  opts->backend = r.spec;
                  opts->n_gpu_layers = r.n_gpu_layers;
                }) {
    opts->backend = r.spec;
    opts->n_gpu_layers = r.n_gpu_layers;
    return true;
  } else {
    if (r.is_cpu()) return true;
    report_backend_unwired(r);
    return false;
  }
}
// Options shared by run and chat, with llama.cpp's defaults.
struct GenerationCliOptions {
  std::string model;
  int32_t n_predict = -1;  // -1: until end of generation or the context is full
  float temperature = 0.8f;
  int32_t top_k = 40;  // <= 0: disabled
  float top_p = 0.95f;
  float min_p = 0.05f;
  float repeat_penalty = 1.0f;
  int32_t repeat_last_n = 64;
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
  int64_t seed = -1;  // -1: random (printed to stderr)
  uint32_t threads = 0;
  bool no_repack = false;
  uint32_t ctx_size = 0;  // 0: the model's training context, at most 4096
  uint32_t batch_size = 512;
  std::vector<std::string> stop;
  bool ignore_eos = false;
  bool verbose = false;
  BackendCliOptions backend;
};

void add_generation_options(CLI::App& app, GenerationCliOptions* o);

// SIGINT: the first Ctrl-C sets cancel_flag() (generation stops between tokens); the handler
// stays installed, so a Ctrl-C while waiting for input interrupts the read (no SA_RESTART).
void install_sigint_handler();
std::atomic<bool>& cancel_flag();
// Number of SIGINTs received since the last reset.
int sigint_count();
void reset_sigint();

// The project's embedded default model, used when -m is omitted.
inline constexpr const char* kDefaultModelFile = "dari-tiny.gguf";
// Path of the default model: $DARI_DEFAULT_MODEL when set (and only it), else beside the binary,
// else <binary>/../share/dari, else models/ in the source tree; "" when none exists.
std::string find_default_model();
// Loads the model named by -m, or the default model when -m is empty (saying which file it used
// on stderr); prints errors to stderr and returns null on failure.
std::unique_ptr<Engine> load_engine(const GenerationCliOptions& o, uint32_t max_sequences);
// Sampling and stop settings from the options; resolves the random seed (printed to stderr).
GenerateOptions make_generate_options(const GenerationCliOptions& o);
void print_timings(double load_ms, const GenerationResult& r);
// The whole file as bytes; the error names the path.
Result<std::string> read_text_file(const std::string& path);

}  // namespace dari::cli
