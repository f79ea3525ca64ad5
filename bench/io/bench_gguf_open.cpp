// GgufFile::open on a 1 GiB file: the tensor data is mapped, never copied, so opening should
// cost about as much as parsing the small header (microseconds to a millisecond).
//
// The file is written to $TMPDIR (default /tmp) before each run as a sparse file: writer header + one
// F16 tensor of 2^29 elements, extended with ftruncate so it takes almost no disk.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "dari/io/gguf.h"

namespace {

// n_tokens: size of a tokenizer.ggml.tokens string array to put in the metadata (0 = none).
std::string make_sparse_gguf(size_t n_tokens) {
  const char* tmp = std::getenv("TMPDIR");
  std::string path = std::string(tmp != nullptr ? tmp : "/tmp") + "/dari-bench-1g-" +
                     std::to_string(n_tokens) + ".gguf";
  dari::GgufWriter w;
  w.set_string("general.architecture", "llama");
  w.set_string("general.name", "sparse-1g");
  w.set_u32("llama.block_count", 1);
  std::vector<std::string> tokens(n_tokens);
  for (size_t i = 0; i < tokens.size(); ++i) tokens[i] = "tok" + std::to_string(i);
  if (n_tokens > 0) w.set_string_array("tokenizer.ggml.tokens", tokens);  // decoded on open
  if (!w.add_tensor_info("token_embd.weight", dari::GgmlType::F16, {16384, 32768}).ok()) return "";
  auto header = w.header_bytes();
  auto size = w.file_size();
  if (!header.ok() || !size.ok()) return "";
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return "";
  bool ok = ::write(fd, header->data(), header->size()) == static_cast<ssize_t>(header->size()) &&
            ::ftruncate(fd, static_cast<off_t>(*size)) == 0;
  ::close(fd);
  return ok ? path : "";
}

void BM_GgufOpen1GiB(benchmark::State& state) {
  const std::string path = make_sparse_gguf(static_cast<size_t>(state.range(0)));
  if (path.empty()) {
    state.SkipWithError("could not write the sparse GGUF file");
    return;
  }
  for (auto _ : state) {
    auto f = dari::GgufFile::open(path);
    if (!f.ok()) {
      state.SkipWithError(f.message().c_str());
      return;
    }
    benchmark::DoNotOptimize(f->tensors()[0].data);
  }
  state.counters["file_GiB"] = static_cast<double>(std::filesystem::file_size(path)) / (1 << 30);
}
// Arg: vocabulary size in the metadata (0: header + one tensor only; 32000: a Llama-2 vocab).
BENCHMARK(BM_GgufOpen1GiB)->Arg(0)->Arg(32000)->Unit(benchmark::kMicrosecond);

void BM_GgufOpenStories260K(benchmark::State& state) {
  const std::string path = std::string(DARI_TESTDATA_DIR) + "/models/stories260K.gguf";
  for (auto _ : state) {
    auto f = dari::GgufFile::open(path);
    if (!f.ok()) {
      state.SkipWithError(f.message().c_str());
      return;
    }
    benchmark::DoNotOptimize(f->tensors().size());
  }
}
BENCHMARK(BM_GgufOpenStories260K)->Unit(benchmark::kMicrosecond);

}  // namespace
