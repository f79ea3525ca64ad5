// Regex pre-tokenizer of byte-level BPE vocabularies (`tokenizer.ggml.pre`).
//
// A pre-tokenizer is a list of PCRE2 patterns applied in turn: each pattern splits every piece
// produced by the previous one into its matches and the unmatched gaps between them (both kept,
// in order), as Hugging Face's Split(behavior = Isolated) does.
//
// Ownership: owns the compiled patterns. Thread safety: split() may run on many threads at once
// (compiled patterns are read-only; match data is per call).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "dari/core/result.h"

namespace dari::tok {

struct PreTokenizerSpec {
  std::vector<std::string> patterns;
  bool ignore_merges = false;  // look whole pre-tokens up in the vocab before merging (Llama 3)
};

// The patterns for a `tokenizer.ggml.pre` value; Error for an unknown name.
Result<PreTokenizerSpec> pretokenizer_spec(std::string_view pre);

class RegexSplitter {
 public:
  // Compiles every pattern (UTF, UCP, MATCH_INVALID_UTF; JIT when available).
  static Result<std::unique_ptr<RegexSplitter>> create(const std::vector<std::string>& patterns);
  ~RegexSplitter();
  RegexSplitter(const RegexSplitter&) = delete;
  RegexSplitter& operator=(const RegexSplitter&) = delete;

  // Appends the pieces of `text` (views into it, in order, covering it completely) to *pieces.
  void split(std::string_view text, std::vector<std::string_view>* pieces) const;

 private:
  RegexSplitter() = default;
  struct Compiled;
  std::vector<Compiled> codes_;
};

}  // namespace dari::tok
