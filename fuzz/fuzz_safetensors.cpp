// Fuzzes the converter's input parsers from memory. The first byte picks the parser:
//   0: safetensors image (then every F32/F16/BF16 tensor is decoded),
//   1: model.safetensors.index.json, 2: SentencePiece tokenizer.model, 3: tokenizer.json.
// Any input must give a Result (never a crash, leak, overflow or UB).
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "dari/convert/safetensors.h"
#include "dari/convert/tokenizer_import.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t mode = data[0] % 4;
  const uint8_t* p = data + 1;
  const size_t n = size - 1;
  std::string_view text(reinterpret_cast<const char*>(p), n);
  switch (mode) {
    case 0: {
      auto f = dari::SafetensorsFile::parse(p, n, "fuzz.safetensors");
      if (!f.ok()) break;
      for (const auto& t : f->tensors()) {
        if (t.n_elements > (1u << 20)) continue;  // parse() proved the bytes exist
        std::vector<float> out(t.n_elements);
        (void)dari::safetensors_to_f32(t, out.data());
      }
      break;
    }
    case 1:
      (void)dari::parse_safetensors_index(text, "fuzz.index.json");
      break;
    case 2:
      (void)dari::import_sentencepiece(p, n, "fuzz.model");
      break;
    default: {
      auto md = dari::import_tokenizer_json(text, "fuzz.json", "llama");
      if (md.ok()) (void)dari::apply_tokenizer_config(text, "fuzz.json", &*md);
      break;
    }
  }
  return 0;
}
