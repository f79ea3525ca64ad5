// dari convert HF_DIR OUT.gguf [--type T] [--name NAME]: Hugging Face checkpoint -> GGUF.
#include <cstdio>
#include <memory>
#include <string>

#include "command.h"
#include "dari/convert/convert.h"
#include "dari/core/strings.h"

namespace {

struct ConvertArgs {
  std::string dir;
  std::string out;
  std::string type = "F16";
  std::string name;
};

std::string dims_text(const std::vector<uint64_t>& ne) {
  std::string s;
  for (size_t i = 0; i < ne.size(); ++i) s += (i ? " x " : "") + std::to_string(ne[i]);
  return s;
}

int run_convert(const ConvertArgs& a) {
  auto type = dari::parse_output_type(a.type);
  if (!type.ok()) {
    std::fprintf(stderr, "dari: error: %s\n", type.message().c_str());
    return 1;
  }
  dari::ConvertOptions opts;
  opts.type = *type;
  opts.name = a.name;
  opts.on_tensor = [](const dari::ConvertTensorEvent& e) {
    std::fprintf(stderr, "[%3zu/%3zu] %-32s %-6s %-16s %s\n", e.index, e.total, e.name.c_str(),
                 std::string(dari::ggml_type_name(e.type)).c_str(), dims_text(e.ne).c_str(),
                 dari::human_bytes(e.n_bytes).c_str());
  };
  auto sum = dari::convert_hf_checkpoint(a.dir, a.out, opts);
  if (!sum.ok()) {
    std::fprintf(stderr, "dari: error: %s\n", sum.message().c_str());
    return 1;
  }
  std::fprintf(stderr,
               "wrote %s: arch %s, %zu tensors, %.2fM params, tokenizer %s (%zu tokens), %s\n",
               a.out.c_str(), sum->arch.c_str(), sum->n_tensors,
               static_cast<double>(sum->n_params) / 1e6, sum->tokenizer_model.c_str(),
               sum->n_vocab, dari::human_bytes(sum->file_bytes).c_str());
  return 0;
}

}  // namespace

DARI_COMMAND("convert", "Convert a Hugging Face checkpoint (safetensors) to GGUF",
             [](CLI::App& sub) -> std::function<int()> {
               auto args = std::make_shared<ConvertArgs>();
               sub.add_option("hf_dir", args->dir,
                              "Folder with config.json, *.safetensors and tokenizer files")
                   ->required();
               sub.add_option("out", args->out, "Output GGUF path")->required();
               sub.add_option("--type", args->type,
                              "Output type: F32, F16, BF16, Q8_0, Q4_0, ... (default F16)");
               sub.add_option("--name", args->name, "general.name (default: from config/folder)");
               return [args]() { return run_convert(*args); };
             });
