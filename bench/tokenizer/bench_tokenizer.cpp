// Tokenizer throughput: 1 MB of English and 1 MB of mixed Korean / English / code text, generated
// deterministically, encoded with the llama-bpe (Llama 3) vocab; and vocab load time.
// Reported as bytes/s (Google Benchmark's SetBytesProcessed). One thread.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>
#include <vector>

#include "dari/io/gguf.h"
#include "dari/tokenizer/tokenizer.h"

namespace {

std::string testdata(const char* name) {
  return std::string(DARI_TESTDATA_DIR) + "/tokenizer/" + name;
}

// xorshift: deterministic and identical on every platform.
struct Rng {
  uint64_t s = 0x9E3779B97F4A7C15ull;
  uint64_t next() {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
  }
  size_t pick(size_t n) { return static_cast<size_t>(next() % n); }
};

std::string make_text(bool mixed, size_t bytes) {
  static const std::vector<std::string> kEnglish = {
      "the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "inference", "engine",
      "model", "token", "server", "request", "latency", "throughput", "memory", "cache",
      "schedule", "batch", "It's", "we'll", "they're", "1234", "2026", "hello", "world",
      "language", "optimisation", "performance", "of", "and", "to", "in", "a", "is"};
  static const std::vector<std::string> kKorean = {
      "안녕하세요", "세계", "토큰", "모델", "서버", "요청", "추론", "엔진", "메모리", "한국어",
      "텍스트", "처리", "속도", "입니다", "그리고"};
  static const std::vector<std::string> kCode = {
      "for (int i = 0; i < n; ++i) {", "return x * 2;", "}", "if (a != b) break;",
      "std::vector<int> v;", "def f(x):", "    return x + 1", "#include <cstdio>",
      "printf(\"%d\\n\", x);", "x += y >> 3;"};
  Rng rng;
  std::string out;
  out.reserve(bytes + 64);
  size_t words_in_line = 0;
  while (out.size() < bytes) {
    const size_t kind = mixed ? rng.pick(3) : 0;
    if (kind == 2) {
      out += "\n" + kCode[rng.pick(kCode.size())] + "\n";
      words_in_line = 0;
      continue;
    }
    const auto& list = kind == 1 ? kKorean : kEnglish;
    out += list[rng.pick(list.size())];
    if (++words_in_line >= 12 + rng.pick(6)) {
      out += rng.pick(4) == 0 ? ".\n\n" : ". ";
      words_in_line = 0;
    } else {
      out += rng.pick(9) == 0 ? ", " : " ";
    }
  }
  out.resize(bytes);  // may cut a UTF-8 character: fine (bytes are bytes)
  return out;
}

const dari::Tokenizer& llama_bpe() {
  static const dari::Tokenizer tok = [] {
    auto t = dari::Tokenizer::open(testdata("ggml-vocab-llama-bpe.gguf"));
    if (!t.ok()) {
      std::fprintf(stderr, "%s\n", t.message().c_str());
      std::abort();
    }
    return std::move(t).value();
  }();
  return tok;
}

void encode_bench(benchmark::State& state, bool mixed, bool cold_cache) {
  const std::string text = make_text(mixed, 1 << 20);
  dari::EncodeOptions opt;
  opt.add_special = false;
  size_t n_tokens = 0;
  const dari::Tokenizer& warm = llama_bpe();  // loaded (and its cache warmed) outside the timing
  n_tokens = warm.encode(text, opt).size();
  for (auto _ : state) {
    // A fresh tokenizer each iteration measures the uncached path (the load is not timed).
    if (cold_cache) {
      state.PauseTiming();
      static dari::Tokenizer fresh = llama_bpe();
      auto t = dari::Tokenizer::open(testdata("ggml-vocab-llama-bpe.gguf"));
      fresh = std::move(t).value();
      state.ResumeTiming();
      n_tokens = fresh.encode(text, opt).size();
    } else {
      n_tokens = warm.encode(text, opt).size();
    }
    benchmark::DoNotOptimize(n_tokens);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(text.size()));
  state.counters["tokens"] = static_cast<double>(n_tokens);
}

void BM_EncodeEnglish1MB(benchmark::State& s) { encode_bench(s, false, false); }
void BM_EncodeMixed1MB(benchmark::State& s) { encode_bench(s, true, false); }
void BM_EncodeEnglish1MB_ColdCache(benchmark::State& s) { encode_bench(s, false, true); }
void BM_EncodeMixed1MB_ColdCache(benchmark::State& s) { encode_bench(s, true, true); }
BENCHMARK(BM_EncodeEnglish1MB)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_EncodeMixed1MB)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_EncodeEnglish1MB_ColdCache)->Unit(benchmark::kMillisecond)->Iterations(3);
BENCHMARK(BM_EncodeMixed1MB_ColdCache)->Unit(benchmark::kMillisecond)->Iterations(3);

void load_bench(benchmark::State& state, const char* file) {
  for (auto _ : state) {
    auto t = dari::Tokenizer::open(testdata(file));
    if (!t.ok()) state.SkipWithError(t.message().c_str());
    benchmark::DoNotOptimize(t);
  }
}
void BM_LoadLlamaBpe(benchmark::State& s) { load_bench(s, "ggml-vocab-llama-bpe.gguf"); }
void BM_LoadQwen2(benchmark::State& s) { load_bench(s, "ggml-vocab-qwen2.gguf"); }
void BM_LoadLlamaSpm(benchmark::State& s) { load_bench(s, "ggml-vocab-llama-spm.gguf"); }
void BM_GgufOpenLlamaBpe(benchmark::State& state) {
  for (auto _ : state) {
    auto f = dari::GgufFile::open(testdata("ggml-vocab-llama-bpe.gguf"));
    benchmark::DoNotOptimize(f);
  }
}
BENCHMARK(BM_LoadLlamaBpe)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_LoadQwen2)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_LoadLlamaSpm)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_GgufOpenLlamaBpe)->Unit(benchmark::kMillisecond);

}  // namespace
