// Byte-level BPE encoding (`tokenizer.ggml.model = gpt2`): the regex pre-tokenizer splits the text
// into pre-tokens; each pre-token's bytes start as byte-level tokens and the adjacent pair with the
// lowest merge rank (ties: leftmost) is merged until no listed merge applies.
#include <queue>

#include "dari/core/strings.h"
#include "tokenizer/impl.h"
#include "tokenizer/utf8.h"

namespace dari {

namespace {

uint64_t pair_key(TokenId left, TokenId right) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) |
         static_cast<uint32_t>(right);
}

struct BpeSymbol {
  TokenId id = kNoToken;
  int prev = -1;
  int next = -1;
  bool alive = true;
};

struct BpeBigram {
  int32_t rank = 0;
  int left = 0;
  int right = 0;
  TokenId left_id = kNoToken;
  TokenId right_id = kNoToken;
  TokenId result = kNoToken;
};

struct BpeBigramGreater {
  bool operator()(const BpeBigram& a, const BpeBigram& b) const {
    return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
  }
};

using BpeQueue = std::priority_queue<BpeBigram, std::vector<BpeBigram>, BpeBigramGreater>;

void add_bigram(const TokenizerImpl& t, const std::vector<BpeSymbol>& syms, int left, int right,
                BpeQueue* queue) {
  if (left < 0 || right < 0) return;
  const TokenId l = syms[static_cast<size_t>(left)].id;
  const TokenId r = syms[static_cast<size_t>(right)].id;
  if (l == kNoToken || r == kNoToken) return;
  const tok::MergeEntry* m = t.merges.find(pair_key(l, r));
  if (m == nullptr) return;
  queue->push(BpeBigram{m->rank, left, right, l, r, m->result});
}

// Encodes one pre-token (raw bytes) into *out.
void encode_word(const TokenizerImpl& t, std::string_view word, std::vector<TokenId>* out) {
  if (t.ignore_merges) {
    const tok::ByteUnicodeTable& table = tok::byte_unicode_table();
    std::string encoded;
    encoded.reserve(word.size() * 2);
    for (char c : word) encoded += table.byte_to_utf8[static_cast<uint8_t>(c)];
    const TokenId whole = t.find(encoded);
    if (whole != kNoToken) {
      out->push_back(whole);
      return;
    }
  }
  std::vector<BpeSymbol> syms(word.size());
  for (size_t i = 0; i < word.size(); ++i) {
    syms[i].id = t.byte_char_token[static_cast<uint8_t>(word[i])];
    syms[i].prev = static_cast<int>(i) - 1;
    syms[i].next = i + 1 < word.size() ? static_cast<int>(i) + 1 : -1;
  }
  BpeQueue queue;
  for (size_t i = 1; i < syms.size(); ++i) {
    add_bigram(t, syms, static_cast<int>(i) - 1, static_cast<int>(i), &queue);
  }
  while (!queue.empty()) {
    const BpeBigram b = queue.top();
    queue.pop();
    BpeSymbol& l = syms[static_cast<size_t>(b.left)];
    BpeSymbol& r = syms[static_cast<size_t>(b.right)];
    // Outdated when either side has since been merged with something else.
    if (!l.alive || !r.alive || l.next != b.right || l.id != b.left_id || r.id != b.right_id) {
      continue;
    }
    l.id = b.result;
    r.alive = false;
    l.next = r.next;
    if (r.next >= 0) syms[static_cast<size_t>(r.next)].prev = b.left;
    add_bigram(t, syms, l.prev, b.left, &queue);
    add_bigram(t, syms, b.left, l.next, &queue);
  }
  for (int i = syms.empty() ? -1 : 0; i != -1; i = syms[static_cast<size_t>(i)].next) {
    const BpeSymbol& s = syms[static_cast<size_t>(i)];
    if (s.id != kNoToken) {
      out->push_back(s.id);
    } else if (t.unk != kNoToken) {
      out->push_back(t.unk);  // a byte without a byte-level token (broken vocab)
    }
  }
}

}  // namespace

bool BpeCache::lookup(std::string_view word, std::vector<TokenId>* out) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = map_.find(word);
  if (it == map_.end()) return false;
  out->insert(out->end(), it->second.begin(), it->second.end());
  return true;
}

void BpeCache::insert(std::string_view word, const TokenId* ids, size_t n) {
  if (word.size() > kMaxKeyBytes) return;
  std::lock_guard<std::mutex> lock(mu_);
  if (map_.size() >= kMaxEntries) map_.clear();
  map_.emplace(std::string(word), std::vector<TokenId>(ids, ids + n));
}

void bpe_encode(const TokenizerImpl& t, std::string_view text, std::vector<TokenId>* out) {
  std::vector<std::string_view> pieces;
  t.splitter->split(text, &pieces);
  for (std::string_view piece : pieces) {
    if (piece.size() <= BpeCache::kMaxKeyBytes && t.bpe_cache.lookup(piece, out)) continue;
    const size_t before = out->size();
    encode_word(t, piece, out);
    t.bpe_cache.insert(piece, out->data() + before, out->size() - before);
  }
}

Status bpe_prepare(TokenizerImpl* t, const std::vector<std::string>& merges) {
  const tok::ByteUnicodeTable& table = tok::byte_unicode_table();
  for (size_t b = 0; b < 256; ++b) t->byte_char_token[b] = t->find(table.byte_to_utf8[b]);
  t->merges.reserve(merges.size());
  std::string joined;
  for (size_t i = 0; i < merges.size(); ++i) {
    const std::string& m = merges[i];
    const size_t sp = m.size() > 1 ? m.find(' ', 1) : std::string::npos;
    if (sp == std::string::npos || sp + 1 >= m.size()) {
      return make_error(str_format("tokenizer.ggml.merges[%zu]: '%s' is not \"left right\"", i,
                                   printable(m).c_str()));
    }
    const std::string_view left = std::string_view(m).substr(0, sp);
    const std::string_view right = std::string_view(m).substr(sp + 1);
    joined.assign(left);
    joined.append(right);
    const TokenId l = t->find(left);
    const TokenId r = t->find(right);
    const TokenId res = t->find(joined);
    // A merge whose parts or result are not tokens can never fire on token ids; skip it.
    if (l == kNoToken || r == kNoToken || res == kNoToken) continue;
    if (i > static_cast<size_t>(INT32_MAX)) break;
    t->merges.insert(pair_key(l, r), static_cast<int32_t>(i), res);
  }
  return Status::Ok();
}

}  // namespace dari
