// `dari inspect FILE [--json]`: describe a GGUF file (header, hyperparameters, tokenizer,
// tensors). The work is done by dari_io (gguf_summary.h); this file only handles arguments
// and output.
#include <cstdio>
#include <memory>
#include <string>

#include "command.h"
#include "dari/io/gguf.h"
#include "dari/io/gguf_summary.h"

namespace {

struct InspectArgs {
  std::string path;
  bool json = false;
};

int run_inspect(const InspectArgs& args) {
  auto file = dari::GgufFile::open(args.path);
  if (!file.ok()) {
    std::fprintf(stderr, "dari: error: %s\n", file.message().c_str());
    return 1;
  }
  dari::GgufSummary summary = dari::summarize_gguf(*file);
  std::string out = args.json ? dari::gguf_summary_to_json(summary) + "\n"
                              : dari::gguf_summary_to_text(summary);
  std::fwrite(out.data(), 1, out.size(), stdout);
  return std::fflush(stdout) == 0 ? 0 : 1;
}

std::function<int()> setup_inspect(CLI::App& sub) {
  auto args = std::make_shared<InspectArgs>();
  sub.add_option("file", args->path, "GGUF file to describe")->required();
  sub.add_flag("--json", args->json, "print a JSON document instead of text");
  return [args]() { return run_inspect(*args); };
}

}  // namespace

DARI_COMMAND("inspect", "Describe a GGUF file: metadata, hyperparameters, tokenizer, tensors",
             setup_inspect);
