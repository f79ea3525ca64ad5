// Vocabulary: the tokens of one model as the grammar matcher sees them.
//
// Each token id maps to the bytes it stands for, already decoded by the caller (SentencePiece
// pieces with U+2581 turned into spaces and <0xNN> into that byte; byte-level BPE pieces mapped
// back to bytes). Tokens with no bytes (control / special tokens) are never allowed by a grammar;
// end-of-generation ids are allowed exactly when the grammar can end. EOG ids are matched by id,
// never by their bytes. Tokens longer than 65535 bytes are never allowed.
//
// Built once per model: it holds a byte trie of all tokens (depth-first order), walked by the
// matcher to compute masks, and a mask cache shared by every grammar used with it (entries are
// keyed by the exact structure of the grammar fragment they were computed for, so two requests
// whose schemas both contain JSON strings share that mask). Ownership/threads: immutable after
// create() apart from that cache, which is internally locked; share the Vocabulary as
// shared_ptr<const Vocabulary> between any number of Matchers on any threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "dari/core/result.h"

namespace dari::grammar {

namespace detail {
class MaskCache;
}

inline constexpr uint32_t kNoToken = 0xFFFFFFFFu;

// One node of the token trie, in depth-first (pre-)order; the root itself is not stored.
struct TrieNode {
  uint32_t next;        // index of the first node after this node's subtree
  uint32_t token;       // the lowest token id ending here, or kNoToken
  uint16_t depth;       // bytes from the root, >= 1
  uint8_t label;        // the byte on the edge into this node
  uint8_t more_tokens;  // 1: other ids with the same bytes end here too (see tokens_at)
};

class Vocabulary {
 public:
  // token_bytes[id] = bytes of token id. Fails if there are more than INT32_MAX tokens or an EOG
  // id is out of range. shared_cache_bytes bounds the cross-grammar mask cache (0: none).
  static Result<std::shared_ptr<const Vocabulary>> create(std::vector<std::string> token_bytes,
                                                          std::vector<int32_t> eog_ids,
                                                          size_t shared_cache_bytes = 64u << 20);
  ~Vocabulary();

  size_t size() const { return tokens_.size(); }
  // uint64 words in a mask over this vocabulary: ceil(size() / 64).
  size_t mask_words() const { return (tokens_.size() + 63) / 64; }
  std::string_view token(int32_t id) const { return tokens_[static_cast<size_t>(id)]; }
  bool is_eog(int32_t id) const { return eog_flag_[static_cast<size_t>(id)] != 0; }
  std::span<const int32_t> eog_ids() const { return eog_ids_; }

  // The trie (used by the matcher).
  std::span<const TrieNode> trie() const { return nodes_; }
  // Token ids whose bytes end exactly at trie node i.
  std::span<const int32_t> tokens_at(uint32_t node) const {
    return {token_ids_.data() + token_begin_[node], token_begin_[node + 1] - token_begin_[node]};
  }
  uint32_t max_depth() const { return max_depth_; }
  // The cross-grammar mask cache (internal; null when disabled).
  detail::MaskCache* shared_mask_cache() const { return shared_cache_.get(); }

 private:
  Vocabulary() = default;
  std::vector<std::string> tokens_;
  std::vector<uint8_t> eog_flag_;
  std::vector<int32_t> eog_ids_;
  std::vector<TrieNode> nodes_;
  std::vector<uint32_t> token_begin_;  // nodes_.size() + 1 offsets into token_ids_
  std::vector<int32_t> token_ids_;
  uint32_t max_depth_ = 0;
  std::shared_ptr<detail::MaskCache> shared_cache_;
};

}  // namespace dari::grammar
