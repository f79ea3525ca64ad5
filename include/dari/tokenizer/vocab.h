// Tokenizer vocabulary: token texts, scores, types, merges and special ids.
//
// VocabData is the plain, unvalidated description of a vocabulary, either filled in by hand
// (tests) or read from the `tokenizer.ggml.*` keys of a GGUF file (vocab_from_gguf). It is
// validated when a Tokenizer is built from it (Tokenizer::create).
//
// Ownership: plain values. Thread safety: none needed (immutable after construction).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "dari/core/result.h"

namespace dari {

class GgufFile;

using TokenId = int32_t;
inline constexpr TokenId kNoToken = -1;

// Numbered as in GGUF `tokenizer.ggml.token_type` (and llama.cpp / SentencePiece).
enum class TokenType : int32_t {
  kUndefined = 0,
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6,
};

// `tokenizer.ggml.model`: "llama" (SentencePiece-style), "gpt2" (byte-level BPE), "bert"
// (WordPiece).
enum class VocabKind { kSpm, kBpe, kWordPiece };

struct VocabData {
  VocabKind kind = VocabKind::kSpm;
  // `tokenizer.ggml.pre`; selects the BPE pre-tokenizer regexes ("default" when absent).
  std::string pre = "default";
  std::vector<std::string> tokens;      // id -> text (SPM: spaces as U+2581; BPE: byte-level form)
  std::vector<float> scores;            // empty, or one per token (SPM merge priority)
  std::vector<int32_t> types;           // empty (all normal), or one TokenType per token
  std::vector<std::string> merges;      // BPE only: "left right", highest priority first
  TokenId bos = kNoToken;
  TokenId eos = kNoToken;
  TokenId unk = kNoToken;
  TokenId pad = kNoToken;
  TokenId sep = kNoToken;
  // Unset: the default for the kind (SPM: bos yes, eos no, space prefix yes; BPE: llama-bpe adds
  // BOS, others not; WordPiece: CLS and SEP yes).
  std::optional<bool> add_bos;
  std::optional<bool> add_eos;
  std::optional<bool> add_space_prefix;
  // `general.name`. llama.cpp sets per-token strip attributes by model name (see below).
  std::string name;
  // Hugging Face added-token flags that GGUF does not store. When a special (or user-defined)
  // token is matched in the text, lstrip drops the ASCII whitespace right before it and rstrip
  // the ASCII whitespace right after it. Tokenizer::create then applies llama.cpp's per-model
  // rules on top: when `name` contains "phi-3" or "phi3" (case-insensitive), every control,
  // unknown and user-defined token and "</s>" get rstrip, except "<unk>", "<s>" and
  // "<|endoftext|>" (this mirrors the rstrip flags of Phi-3's tokenizer.json).
  std::vector<TokenId> lstrip_tokens;
  std::vector<TokenId> rstrip_tokens;
};

// Reads the `tokenizer.ggml.*` keys of an opened GGUF file. Errors name the file and the key
// (missing tokens, unknown model, wrong types). Range checks happen in Tokenizer::create.
Result<VocabData> vocab_from_gguf(const GgufFile& file);

}  // namespace dari
