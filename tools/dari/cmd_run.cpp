// `dari run`: one prompt in, the generated continuation streamed to stdout, timings to stderr.
//
// stdout receives only the generated text (no prompt echo, no added newline), flushed per piece,
// so the output can be piped. Ctrl-C ends the generation early and still prints the timings.

#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <sstream>

#include "cmd_common.h"
#include "command.h"

namespace dari::cli {
namespace {

struct RunOptions {
  GenerationCliOptions gen;
  std::string prompt;
  std::string file;
  bool from_stdin = false;
  bool no_bos = false;
};

bool read_prompt(const RunOptions& o, std::string* out) {
  const int sources = (o.file.empty() ? 0 : 1) + (o.from_stdin ? 1 : 0);
  if (sources > 0 && !o.prompt.empty()) {
    std::fprintf(stderr, "dari: error: give the prompt with only one of -p, -f, --stdin\n");
    return false;
  }
  if (sources > 1) {
    std::fprintf(stderr, "dari: error: give the prompt with only one of -p, -f, --stdin\n");
    return false;
  }
  if (!o.file.empty()) {
    std::ifstream in(o.file, std::ios::binary);
    if (!in) {
      std::fprintf(stderr, "dari: error: cannot open prompt file '%s'\n", o.file.c_str());
      return false;
    }
    out->assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    return true;
  }
  if (o.from_stdin) {
    std::ostringstream ss;
    ss << std::cin.rdbuf();
    *out = ss.str();
    return true;
  }
  *out = o.prompt;
  return true;
}

int run_main(const RunOptions& o) {
  std::string prompt;
  if (!read_prompt(o, &prompt)) return 1;
  std::unique_ptr<Engine> engine = load_engine(o.gen, 1);
  if (!engine) return 1;
  EncodeOptions eo;
  eo.add_special = true;
  eo.parse_special = true;
  if (o.no_bos) eo.add_bos = false;
  const std::vector<int32_t> tokens = engine->tokenizer().encode(prompt, eo);
  GenerateOptions g = make_generate_options(o.gen);
  if (o.gen.verbose) {
    std::fprintf(stderr, "dari: prompt %zu tokens, context %u\n", tokens.size(), engine->n_ctx());
  }
  auto seq = engine->create_sequence();
  if (!seq.ok()) {
    std::fprintf(stderr, "dari: error: %s\n", seq.message().c_str());
    return 1;
  }
  install_sigint_handler();
  reset_sigint();
  auto r = engine->generate(*seq, tokens, g, [](const TokenEvent& ev) {
    if (!ev.text.empty()) {
      std::fwrite(ev.text.data(), 1, ev.text.size(), stdout);
      std::fflush(stdout);
    }
  });
  if (!r.ok()) {
    std::fprintf(stderr, "\ndari: error: %s\n", r.message().c_str());
    return 1;
  }
  print_timings(engine->load_ms(), *r);
  return 0;
}

DARI_COMMAND("run", "Generate a continuation of a prompt (streams text to stdout)",
             [](CLI::App& sub) -> std::function<int()> {
               auto o = std::make_shared<RunOptions>();
               add_generation_options(sub, &o->gen);
               sub.add_option("-p,--prompt", o->prompt, "prompt text");
               sub.add_option("-f,--file", o->file, "read the prompt from a file");
               sub.add_flag("--stdin", o->from_stdin, "read the prompt from stdin");
               sub.add_flag("--no-bos", o->no_bos, "do not add BOS even if the model asks");
               return [o]() { return run_main(*o); };
             });

}  // namespace
}  // namespace dari::cli

