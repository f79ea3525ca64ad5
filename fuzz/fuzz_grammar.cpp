// libFuzzer harness for the grammar engine: GBNF text (or, after a leading 0x01 byte, a JSON
// Schema) is compiled under tight limits; when it compiles, a matcher runs over a tiny vocabulary
// (single bytes, a few multi-byte pieces, UTF-8 fragments, an empty special token, an EOG token)
// for a bounded number of steps. At each step the mask must equal the brute-force reference
// (every token tried on a copy), and the next token is chosen from the mask by the input's own
// bytes. Any crash, hang, leak, sanitizer report or mask mismatch is a bug.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "dari/grammar/json_schema.h"
#include "dari/grammar/matcher.h"

namespace {

using dari::grammar::Matcher;
using dari::grammar::Vocabulary;

const std::shared_ptr<const Vocabulary>& tiny_vocab() {
  static const std::shared_ptr<const Vocabulary> v = [] {
    std::vector<std::string> toks;
    for (const char* t : {"a",    "b",    "0",        "1",        " ",    "\n",
                          "\"",   "\\",   "{",        "}",        "[",    "]",
                          ",",    ":",    "-",        ".",        "e",    "x",
                          "true", "null", "{\"",      "\":",      "\",",  "ab",
                          "\xC3", "\xA9", "\xC3\xA9", "\xE2\x82", "\xAC", "\xF0\x9F\x98\x80",
                          "(",    ")",    "|",        "*",        "#",    "",
                          "<eos>"}) {
      toks.emplace_back(t);
    }
    return *Vocabulary::create(std::move(toks), {36}, /*shared_cache_bytes=*/1 << 20);
  }();
  return v;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 8192) return 0;
  std::string input(reinterpret_cast<const char*>(data), size);
  dari::grammar::GrammarLimits limits;
  limits.max_elements = 1u << 16;
  limits.max_repeat = 64;
  limits.max_stacks = 256;
  limits.max_work = 1u << 16;
  limits.mask_cache_bytes = 1 << 18;

  dari::Result<std::shared_ptr<const dari::grammar::Grammar>> grammar =
      dari::make_error("no grammar");
  if (!input.empty() && input[0] == '\x01') {
    auto schema = nlohmann::json::parse(input.substr(1), nullptr, /*allow_exceptions=*/false);
    if (schema.is_discarded()) return 0;
    dari::grammar::SchemaOptions opt;
    opt.max_schema_bytes = 1 << 14;
    opt.max_depth = 24;
    opt.max_items = 16;
    opt.max_whitespace = 2;
    opt.max_number_digits = 3;
    opt.strict = (size % 2) == 0;
    grammar = dari::grammar::compile_json_schema(schema, opt, limits);
  } else {
    grammar = dari::grammar::compile_gbnf(input, limits);
  }
  if (!grammar.ok()) return 0;

  const auto& vocab = tiny_vocab();
  auto m = Matcher::create(*grammar, vocab);
  if (!m.ok()) return 0;
  std::vector<uint64_t> bits(vocab->mask_words());
  size_t choice = 0;
  for (int step = 0; step < 24; ++step) {
    const dari::Status st = m->fill_mask(bits);
    if (!st.ok()) break;  // a recogniser bound: a clean failure
    std::vector<int32_t> allowed;
    for (size_t t = 0; t < vocab->size(); ++t) {
      const bool on = (bits[t / 64] >> (t % 64)) & 1;
      Matcher copy = *m;
      const bool accepted = copy.accept(static_cast<int32_t>(t));
      if (on != accepted && copy.status().ok()) {
        std::fprintf(stderr, "fuzz_grammar: mask says %d, accept says %d for token %zu\n", on,
                     accepted, t);
        std::abort();
      }
      if (on) allowed.push_back(static_cast<int32_t>(t));
    }
    if (allowed.empty()) break;
    choice = choice * 31 + (size > 0 ? data[static_cast<size_t>(step) % size] : 0);
    if (!m->accept(allowed[choice % allowed.size()]) || m->terminated()) break;
  }
  return 0;
}
