// Vocabulary: token bytes and their trie (depth-first order, built from the sorted tokens).
#include "dari/grammar/vocabulary.h"

#include <algorithm>
#include <limits>
#include <numeric>

#include "dari/core/strings.h"
#include "grammar/mask_cache.h"

namespace dari::grammar {

Vocabulary::~Vocabulary() = default;

Result<std::shared_ptr<const Vocabulary>> Vocabulary::create(std::vector<std::string> token_bytes,
                                                             std::vector<int32_t> eog_ids,
                                                             size_t shared_cache_bytes) {
  if (token_bytes.size() > static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
    return make_error(str_format("grammar vocabulary: %zu tokens is over the limit of %d",
                                 token_bytes.size(), std::numeric_limits<int32_t>::max()));
  }
  std::shared_ptr<Vocabulary> v(new Vocabulary());
  v->tokens_ = std::move(token_bytes);
  const size_t n = v->tokens_.size();
  v->eog_flag_.assign(n, 0);
  for (int32_t id : eog_ids) {
    if (id < 0 || static_cast<size_t>(id) >= n) {
      return make_error(
          str_format("grammar vocabulary: end-of-generation id %d is out of range "
                     "(vocabulary of %zu tokens)",
                     id, n));
    }
    if (!v->eog_flag_[static_cast<size_t>(id)]) v->eog_ids_.push_back(id);
    v->eog_flag_[static_cast<size_t>(id)] = 1;
  }

  // Tokens in the trie: not EOG, 1..65535 bytes; sorted by bytes, then id.
  std::vector<int32_t> order;
  order.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    const size_t len = v->tokens_[i].size();
    if (len == 0 || len > 0xFFFF || v->eog_flag_[i]) continue;
    order.push_back(static_cast<int32_t>(i));
  }
  const auto& toks = v->tokens_;
  std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
    const int c = toks[static_cast<size_t>(a)].compare(toks[static_cast<size_t>(b)]);
    return c != 0 ? c < 0 : a < b;
  });

  std::vector<uint32_t> path;                        // node index at each depth - 1
  std::vector<std::pair<uint32_t, int32_t>> attach;  // (node, token)
  const std::string* prev = nullptr;
  for (int32_t id : order) {
    const std::string& s = toks[static_cast<size_t>(id)];
    size_t lcp = 0;
    if (prev != nullptr) {
      const size_t m = std::min(prev->size(), s.size());
      while (lcp < m && (*prev)[lcp] == s[lcp]) ++lcp;
    }
    while (path.size() > lcp) {
      v->nodes_[path.back()].next = static_cast<uint32_t>(v->nodes_.size());
      path.pop_back();
    }
    for (size_t k = lcp; k < s.size(); ++k) {
      TrieNode node;
      node.next = 0;
      node.token = kNoToken;
      node.depth = static_cast<uint16_t>(k + 1);
      node.label = static_cast<uint8_t>(s[k]);
      node.more_tokens = 0;
      path.push_back(static_cast<uint32_t>(v->nodes_.size()));
      v->nodes_.push_back(node);
    }
    TrieNode& end = v->nodes_[path.back()];
    if (end.token == kNoToken) {
      end.token = static_cast<uint32_t>(id);  // ids of equal bytes come in increasing order
    } else {
      end.more_tokens = 1;
    }
    attach.emplace_back(path.back(), id);
    v->max_depth_ = std::max<uint32_t>(v->max_depth_, static_cast<uint32_t>(s.size()));
    prev = &s;
  }
  while (!path.empty()) {
    v->nodes_[path.back()].next = static_cast<uint32_t>(v->nodes_.size());
    path.pop_back();
  }
  // Tokens per node (attach is already ordered by node).
  v->token_begin_.assign(v->nodes_.size() + 1, 0);
  for (const auto& [node, id] : attach) ++v->token_begin_[node + 1];
  for (size_t i = 0; i < v->nodes_.size(); ++i) v->token_begin_[i + 1] += v->token_begin_[i];
  v->token_ids_.reserve(attach.size());
  for (const auto& [node, id] : attach) v->token_ids_.push_back(id);
  if (shared_cache_bytes > 0)
    v->shared_cache_ = std::make_shared<detail::MaskCache>(shared_cache_bytes);
  return std::shared_ptr<const Vocabulary>(std::move(v));
}

}  // namespace dari::grammar
