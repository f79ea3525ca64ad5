// TokenizerImpl: the validated, immutable state behind a Tokenizer, and the per-model encoders.
//
// Ownership: built once on the heap by Tokenizer::create and never moved afterwards (the hash
// maps hold string_views into `tokens`). Thread safety: immutable except the BPE word cache,
// which has its own mutex.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "dari/tokenizer/tokenizer.h"
#include "tokenizer/flat_tables.h"
#include "tokenizer/pretokenizer.h"

namespace dari {

struct StringViewHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

// Special / user-defined token texts indexed by their first byte for a single left-to-right scan
// (longest match first at each position).
struct SpecialIndex {
  std::array<std::vector<TokenId>, 256> by_first_byte;  // each sorted by text length, longest first
  bool empty = true;
};

// Bounded cache: raw pre-token bytes -> token ids. Cleared when it reaches kMaxEntries.
class BpeCache {
 public:
  static constexpr size_t kMaxEntries = 1 << 16;
  static constexpr size_t kMaxKeyBytes = 64;
  bool lookup(std::string_view word, std::vector<TokenId>* out) const;
  void insert(std::string_view word, const TokenId* ids, size_t n);

 private:
  mutable std::mutex mu_;
  std::unordered_map<std::string, std::vector<TokenId>, StringViewHash, std::equal_to<>> map_;
};

class TokenizerImpl {
 public:
  VocabKind kind = VocabKind::kSpm;
  std::string pre;
  std::vector<std::string> tokens;
  std::vector<float> scores;
  std::vector<TokenType> types;
  tok::TokenIndex token_index;  // over `tokens`
  TokenId bos = kNoToken, eos = kNoToken, unk = kNoToken, pad = kNoToken, sep = kNoToken;
  bool add_bos = false, add_eos = false, add_space_prefix = false;
  std::vector<TokenId> end_of_generation;  // sorted

  // SPM: id of "<0xNN>" per byte (kNoToken when absent).
  std::array<TokenId, 256> byte_fallback{};
  // BPE: id of the byte-level character of each byte (kNoToken when absent).
  std::array<TokenId, 256> byte_char_token{};
  tok::MergeTable merges;  // key: (left id << 32) | right id
  bool ignore_merges = false;
  std::unique_ptr<tok::RegexSplitter> splitter;
  mutable BpeCache bpe_cache;

  // WordPiece: longest token in bytes (bounds the greedy match).
  size_t max_token_bytes = 0;
  // WordPiece vocab in Hugging Face form ("##" marks continuations) rather than llama.cpp's GGUF
  // form (U+2581 marks word starts).
  bool wordpiece_hash_prefix = false;

  SpecialIndex specials_all;   // control, unknown and user-defined: used with parse_special
  SpecialIndex specials_user;  // user-defined only: always used
  // Per token: kStripLeft / kStripRight (VocabData::lstrip_tokens / rstrip_tokens plus the
  // per-model rules); only looked at for tokens matched as special.
  static constexpr uint8_t kStripLeft = 1, kStripRight = 2;
  std::vector<uint8_t> strip;

  TokenId find(std::string_view text) const {
    return token_index.find(text);
  }
  bool valid(TokenId id) const { return id >= 0 && static_cast<size_t>(id) < tokens.size(); }
};

// Encoders for one fragment of raw text (no special tokens inside), appending to *out.
// SPM: `text` already has the space prefix (if any); spaces are escaped here.
void spm_encode(const TokenizerImpl& t, std::string_view text, std::vector<TokenId>* out);
void bpe_encode(const TokenizerImpl& t, std::string_view text, std::vector<TokenId>* out);
void wordpiece_encode(const TokenizerImpl& t, std::string_view text, std::vector<TokenId>* out);

// Builds merges / byte tables (BPE); Error on malformed merges.
Status bpe_prepare(TokenizerImpl* t, const std::vector<std::string>& merges);

}  // namespace dari
