// dari quantize IN OUT TYPE: re-encode the matrices of an F32/F16/BF16 GGUF model (llama.cpp's
// type mixes, see dari/convert/quantize.h), with a progress bar on stderr.
#include <cstdio>
#include <memory>
#include <string>

#include "command.h"
#include "dari/convert/quantize.h"
#include "dari/core/strings.h"
#include "dari/perf/progress.h"

namespace {

struct QuantizeArgs {
  std::string in;
  std::string out;
  std::string type;
  unsigned threads = 0;
};

int run_quantize(const QuantizeArgs& a) {
  auto mix = dari::parse_quant_mix(a.type);
  if (!mix.ok()) {
    std::fprintf(stderr, "dari: error: %s\n", mix.message().c_str());
    return 1;
  }
  if (a.in == a.out) {
    std::fprintf(stderr, "dari: error: the output must be a different file from the input\n");
    return 1;
  }
  dari::perf::ProgressBar bar(stderr);
  dari::QuantizeOptions opts;
  opts.n_threads = a.threads;
  opts.on_tensor = [&](const dari::QuantizeEvent& e) {
    bar.update(e.index, e.total, e.done_in_bytes, e.total_in_bytes,
               e.name + " " + std::string(dari::ggml_type_name(e.from)) + " -> " +
                   std::string(dari::ggml_type_name(e.to)));
  };
  auto sum = dari::quantize_gguf(a.in, a.out, *mix, opts);
  bar.finish();
  if (!sum.ok()) {
    std::fprintf(stderr, "dari: error: %s\n", sum.message().c_str());
    return 1;
  }
  std::fprintf(stderr, "wrote %s: %s, %zu tensors (%zu re-encoded), %s -> %s\n", a.out.c_str(),
               mix->name.c_str(), sum->n_tensors, sum->n_quantized,
               dari::human_bytes(sum->in_file_bytes).c_str(),
               dari::human_bytes(sum->out_file_bytes).c_str());
  return 0;
}

}  // namespace

DARI_COMMAND("quantize",
             "Quantize an F32/F16/BF16 GGUF model (Q8_0, Q4_0, Q4_K_M, Q5_K_M, Q6_K, ...)",
             [](CLI::App& sub) -> std::function<int()> {
               auto a = std::make_shared<QuantizeArgs>();
               sub.add_option("in", a->in, "Input GGUF (F32, F16 or BF16 weights)")->required();
               sub.add_option("out", a->out, "Output GGUF path")->required();
               sub.add_option("type", a->type, "Q8_0, Q4_0, Q4_K_M, Q5_K_M, Q6_K, F16, BF16 or F32")
                   ->required();
               sub.add_option("-t,--threads", a->threads, "Threads (default: all cores)");
               return [a]() { return run_quantize(*a); };
             });
