// Shared pieces of the `dari run` and `dari chat` commands: model/sampling options, SIGINT
// handling and timing output.
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

// Options shared by run and chat, with llama.cpp's defaults.
struct GenerationCliOptions {
  std::string model;
  int32_t n_predict = -1;  // -1: until end of generation or the context is full
  float temperature = 0.8f;
  int32_t top_k = 40;      // <= 0: disabled
  float top_p = 0.95f;
  float min_p = 0.05f;
  float repeat_penalty = 1.0f;
  int32_t repeat_last_n = 64;
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
  int64_t seed = -1;       // -1: random (printed to stderr)
  uint32_t threads = 0;
  bool no_repack = false;
  uint32_t ctx_size = 0;   // 0: the model's training context, at most 4096
  uint32_t batch_size = 512;
  std::vector<std::string> stop;
  bool ignore_eos = false;
  bool verbose = false;
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

}  // namespace dari::cli
