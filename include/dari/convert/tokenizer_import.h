// Import of Hugging Face tokenizer files into GGUF tokenizer metadata (the keys llama.cpp uses).
//
//  * tokenizer.model (SentencePiece ModelProto, protobuf wire format parsed here) -> model "llama"
//    with tokens, scores, token types, bos/eos/unk/pad ids and add_space_prefix
//    (normalizer_spec.add_dummy_prefix).
//  * tokenizer.json with a byte-level BPE model -> model "gpt2" with tokens, token types, merges
//    and a pre-tokenizer name (tokenizer.ggml.pre) chosen by this rule: architecture qwen2 or
//    qwen3 -> "qwen2"; otherwise a Split pre-tokenizer regex with \p{N}{1,3} (the Llama 3
//    pattern) -> "llama-bpe"; otherwise "default".
//  * tokenizer_config.json: bos_token / eos_token / pad_token / unk_token (string or
//    {"content": ...}) resolved to ids, add_bos_token / add_eos_token, chat_template.
//
// GGUF token types: 1 normal, 2 unknown, 3 control, 4 user defined, 5 unused, 6 byte.
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dari/core/result.h"

namespace dari {

class GgufWriter;

enum GgufTokenType : int32_t {
  kTokenNormal = 1,
  kTokenUnknown = 2,
  kTokenControl = 3,
  kTokenUserDefined = 4,
  kTokenUnused = 5,
  kTokenByte = 6,
};

struct TokenizerMetadata {
  std::string model;  // "llama" (SentencePiece) or "gpt2" (byte-level BPE)
  std::string pre;    // tokenizer.ggml.pre (gpt2 only)
  std::vector<std::string> tokens;
  std::vector<float> scores;  // one per token (llama only; empty for gpt2)
  std::vector<int32_t> token_types;
  std::vector<std::string> merges;  // "a b" (gpt2 only)
  std::optional<uint32_t> bos_id, eos_id, unk_id, pad_id;
  std::optional<bool> add_bos, add_eos, add_space_prefix;
  std::string chat_template;  // empty = none
};

// Largest vocabulary accepted from a file.
inline constexpr size_t kMaxVocab = 1u << 22;

// Parses a SentencePiece tokenizer.model image. `name` is used in error messages.
Result<TokenizerMetadata> import_sentencepiece(const uint8_t* data, size_t size,
                                               const std::string& name);

// Parses a tokenizer.json (BPE model only). `arch` is the GGUF architecture (for `pre`).
Result<TokenizerMetadata> import_tokenizer_json(std::string_view json, const std::string& name,
                                                std::string_view arch);

// Applies tokenizer_config.json on top of `md` (special tokens resolved by their text).
Status apply_tokenizer_config(std::string_view json, const std::string& name,
                              TokenizerMetadata* md);

// Pads the vocabulary to n_vocab with "[PAD<i>]" tokens of type unused (score -1000), as
// llama.cpp does when config.json's vocab_size exceeds the tokenizer's. Error when the tokenizer
// has more tokens than n_vocab.
Status pad_vocab(TokenizerMetadata* md, uint32_t n_vocab);

// Reads a checkpoint folder: tokenizer.json if present (BPE), else tokenizer.model; then
// tokenizer_config.json if present. Error when neither tokenizer file exists.
Result<TokenizerMetadata> import_hf_tokenizer(const std::string& dir, std::string_view arch);

// Writes the tokenizer.ggml.* (and tokenizer.chat_template) keys.
void write_tokenizer_metadata(const TokenizerMetadata& md, GgufWriter* w);

}  // namespace dari
