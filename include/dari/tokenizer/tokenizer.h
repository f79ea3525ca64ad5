// Tokenizer: text <-> token ids for SentencePiece-style (`llama`), byte-level BPE (`gpt2`) and
// WordPiece (`bert`) vocabularies, matching llama.cpp / Hugging Face on the shared test vectors.
//
// Ownership: a Tokenizer holds a shared pointer to immutable state; copies are cheap and share
// it. Thread safety: every const method may be called from any number of threads at once (the
// BPE word cache is internally locked).
//
// Text is a byte string. Invalid UTF-8 never crashes and never loses bytes where the model can
// represent them:
//  - BPE: the regex pre-tokenizer treats invalid bytes as unmatched (PCRE2_MATCH_INVALID_UTF), so
//    they become their own pieces, and every byte maps to a byte-level token: bytes are bytes.
//  - SPM: an invalid byte is a one-byte symbol that is not a token, so it is encoded with the
//    byte-fallback tokens <0xNN> (or the unknown token when the vocab has no byte tokens).
//  - WordPiece: invalid bytes decode to U+FFFD, which BERT's normaliser drops (lossy by design,
//    like case folding and accent stripping).
#pragma once

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "dari/core/result.h"
#include "dari/tokenizer/vocab.h"

namespace dari {

struct EncodeOptions {
  // Add BOS / EOS as the vocabulary's metadata says (add_bos_token / add_eos_token).
  bool add_special = true;
  // Match the text of control / unknown tokens (e.g. "<|eot_id|>") as those tokens. Off: such
  // text is plain text. User-defined tokens (type 4) are matched either way, as llama.cpp does.
  bool parse_special = false;
  // Overrides of the metadata when add_special is true (unset: use the metadata).
  std::optional<bool> add_bos;
  std::optional<bool> add_eos;
};

struct DecodeOptions {
  // Render control / unknown tokens as their text (otherwise they decode to nothing).
  bool render_special = false;
  // SPM with add_space_prefix: drop the one leading space of the first piece, the one the
  // encoder added. Use for text that was encoded from the start (not for continuations).
  bool strip_leading_space = false;
};

class TokenizerImpl;

class Tokenizer {
 public:
  // Validates `data`: token count > 0, scores/types the same length as tokens, types in 0..6,
  // special ids in range, merges well formed. Errors name the field.
  static Result<Tokenizer> create(VocabData data);
  static Result<Tokenizer> from_gguf(const GgufFile& file);
  // Opens a GGUF file (a vocab-only file or a full model) and reads its tokenizer.
  static Result<Tokenizer> open(const std::string& gguf_path);

  // Never fails: see the header comment for invalid UTF-8.
  std::vector<TokenId> encode(std::string_view text, const EncodeOptions& options) const;

  // The bytes one token stands for (may be part of a UTF-8 character). Out-of-range ids and
  // unused tokens give "". Control / unknown tokens give "" unless render_special.
  std::string token_to_piece(TokenId id, bool render_special = false) const;
  // Concatenated pieces. Any id outside [0, n_tokens) is an Error naming its position. The
  // result may be invalid UTF-8 when the ids end inside a character (use IncrementalDecoder for
  // streaming).
  Result<std::string> decode(std::span<const TokenId> ids, const DecodeOptions& options) const;

  size_t n_tokens() const;
  VocabKind kind() const;
  const std::string& pre() const;
  const std::string& token_text(TokenId id) const;  // "" when out of range
  TokenType token_type(TokenId id) const;           // kUndefined when out of range
  TokenId find_token(std::string_view text) const;  // kNoToken when absent
  TokenId bos() const;
  TokenId eos() const;
  TokenId unk() const;
  TokenId pad() const;
  bool add_bos() const;
  bool add_eos() const;
  bool add_space_prefix() const;
  // True for tokens that end generation (EOS, and control tokens such as <|eot_id|>, <|im_end|>,
  // <|end|>, <|endoftext|> when present).
  bool is_end_of_generation(TokenId id) const;

  const TokenizerImpl& impl() const { return *impl_; }

 private:
  explicit Tokenizer(std::shared_ptr<const TokenizerImpl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const TokenizerImpl> impl_;
};

}  // namespace dari
