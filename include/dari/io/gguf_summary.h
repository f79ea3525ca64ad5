// A structured description of a GGUF file for `dari inspect` (and anyone else who wants one):
// architecture, hyperparameters, tokenizer, tensors, totals.
//
// summarize_gguf copies what it needs; the summary does not refer back into the GgufFile.
// Plain values; any thread may build or read one.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dari/io/gguf.h"

namespace dari {

// Name of a general.file_type value (llama.cpp's LLAMA_FTYPE numbering), e.g. 2 -> "MOSTLY_Q4_0";
// "UNKNOWN" for numbers not in the table.
std::string_view gguf_file_type_name(uint32_t file_type);

// Short display of a metadata value: scalars in full, strings quoted and escaped (cut at
// max_string bytes), arrays as "[n x type]" followed by the first few items.
std::string gguf_value_display(const GgufValue& v, size_t max_string = 64);

struct GgufTokenizerSummary {
  std::string model;  // tokenizer.ggml.model ("" if absent)
  std::string pre;    // tokenizer.ggml.pre ("" if absent)
  uint64_t n_tokens = 0;
  uint64_t n_merges = 0;
  std::optional<int64_t> bos_id, eos_id, unk_id, pad_id;
  bool has_chat_template = false;
};

struct GgufTensorSummary {
  std::string name;
  std::string type;            // GGUF type name, e.g. "Q4_K"
  std::vector<uint64_t> shape;  // n_dims entries, fastest first
  uint64_t n_elements = 0;
  uint64_t n_bytes = 0;
  uint64_t offset = 0;  // from the start of the data section
};

struct GgufMetadataSummary {
  std::string key;
  std::string type;     // "uint32", "array of string", ...
  std::string display;  // gguf_value_display()
};

struct GgufSummary {
  std::string path;
  uint32_t version = 0;
  uint64_t file_size = 0;
  uint64_t alignment = 0;
  uint64_t data_offset = 0;
  std::string architecture;  // general.architecture ("" if absent)
  std::string name;          // general.name ("" if absent)
  std::optional<uint32_t> file_type;
  std::string file_type_name;  // "" when file_type is absent
  // The `<architecture>.*` keys, with the prefix stripped ("context_length", "rope.freq_base").
  std::vector<std::pair<std::string, GgufValue>> hyperparameters;
  GgufTokenizerSummary tokenizer;
  std::vector<GgufMetadataSummary> metadata;  // every key, in file order
  std::vector<GgufTensorSummary> tensors;     // file order
  uint64_t total_parameters = 0;              // sum of n_elements (saturating)
  uint64_t total_tensor_bytes = 0;            // sum of n_bytes (saturating)
};

GgufSummary summarize_gguf(const GgufFile& file);

// Human-readable multi-line report.
std::string gguf_summary_to_text(const GgufSummary& s);
// JSON document (invalid UTF-8 in strings is replaced by U+FFFD). indent < 0: one line.
std::string gguf_summary_to_json(const GgufSummary& s, int indent = 2);

}  // namespace dari
