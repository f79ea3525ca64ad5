// libFuzzer harness for the tokenizer: arbitrary bytes are encoded (with and without special-token
// parsing) and interpreted as token ids to decode, with the incremental decoder and a stop
// matcher. Out-of-range ids must come back as errors (decode, IncrementalDecoder::push) or as
// empty pieces (token_to_piece), never a crash.
//
// Vocabs: DARI_FUZZ_VOCAB (one GGUF path) if set; otherwise llama-spm, gpt-2 and bert-bge from
// the compile-time DARI_TESTDATA_DIR (the repository's tests/data unless configured otherwise).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "dari/tokenizer/detokenizer.h"
#include "dari/tokenizer/tokenizer.h"

namespace {

std::vector<dari::Tokenizer> load_vocabs() {
  std::vector<dari::Tokenizer> out;
  if (const char* env = std::getenv("DARI_FUZZ_VOCAB"); env != nullptr && *env != '\0') {
    auto t = dari::Tokenizer::open(env);
    if (!t.ok()) {
      std::fprintf(stderr, "fuzz_tokenizer: %s\n", t.message().c_str());
      std::abort();
    }
    out.push_back(std::move(t).value());
    return out;
  }
  std::vector<std::string> dirs = {"tests/data/tokenizer"};
#ifdef DARI_TESTDATA_DIR
  dirs.insert(dirs.begin(), std::string(DARI_TESTDATA_DIR) + "/tokenizer");
#endif
  for (const std::string& dir : dirs) {
    if (!std::filesystem::exists(dir + "/ggml-vocab-llama-spm.gguf")) continue;
    for (const char* name : {"llama-spm", "gpt-2", "bert-bge"}) {
      auto t = dari::Tokenizer::open(dir + "/ggml-vocab-" + name + ".gguf");
      if (t.ok()) out.push_back(std::move(t).value());
    }
    if (!out.empty()) return out;
  }
  std::fprintf(stderr, "fuzz_tokenizer: no vocab found; set DARI_FUZZ_VOCAB=path.gguf\n");
  std::abort();
}

const std::vector<dari::Tokenizer>& vocabs() {
  static const std::vector<dari::Tokenizer> v = load_vocabs();
  return v;
}

void decode_ids(const dari::Tokenizer& t, const uint8_t* data, size_t size) {
  std::vector<dari::TokenId> ids;
  for (size_t i = 0; i + 4 <= size; i += 4) {
    int32_t v = 0;
    std::memcpy(&v, data + i, 4);
    // Mostly in-range ids (so decoding is exercised), some raw values (out of range).
    ids.push_back((v & 0x40000000) != 0 ? v : static_cast<int32_t>(static_cast<uint32_t>(v) %
                                                                   t.n_tokens()));
  }
  dari::DecodeOptions opt;
  opt.render_special = (size & 1) != 0;
  opt.strip_leading_space = (size & 2) != 0;
  auto full = t.decode(ids, opt);
  (void)full;
  dari::IncrementalDecoder dec(t, opt);
  dari::StopMatcher stop({"\n\n", "</s>", "\xE2\x96\x81"});
  for (dari::TokenId id : ids) {
    (void)t.token_to_piece(id, true);
    auto r = dec.push(id);
    if (r.ok()) (void)stop.push(*r);
  }
  (void)stop.push(dec.flush());
  (void)stop.flush();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const auto& v = vocabs();
  const uint8_t mode = data[0];
  const dari::Tokenizer& t = v[(mode >> 2) % v.size()];
  const uint8_t* rest = data + 1;
  const size_t n = size - 1;
  if ((mode & 0x80) != 0) {
    decode_ids(t, rest, n);
    return 0;
  }
  dari::EncodeOptions opt;
  opt.parse_special = (mode & 1) != 0;
  opt.add_special = (mode & 2) != 0;
  const std::string text(reinterpret_cast<const char*>(rest), n);
  const std::vector<dari::TokenId> ids = t.encode(text, opt);
  for (dari::TokenId id : ids) {
    if (id < 0 || static_cast<size_t>(id) >= t.n_tokens()) std::abort();  // encoder bug
  }
  auto back = t.decode(ids, dari::DecodeOptions{});
  if (!back.ok()) std::abort();  // every id the encoder produces must decode
  return 0;
}
