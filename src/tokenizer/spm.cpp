// SentencePiece-style encoding (`tokenizer.ggml.model = llama`): start from single characters and
// repeatedly merge the adjacent pair whose concatenation is the vocab token with the highest score
// (ties: leftmost), then map leftover characters that are not tokens to byte-fallback tokens.
#include <queue>

#include "tokenizer/impl.h"
#include "tokenizer/utf8.h"

namespace dari {

namespace {

struct SpmSymbol {
  int prev = -1;
  int next = -1;
  size_t begin = 0;  // byte offset into the escaped text
  size_t n = 0;      // bytes; 0 once merged into the left neighbour
};

struct SpmBigram {
  float score = 0.0f;
  int left = 0;
  int right = 0;
  size_t size = 0;  // bytes of left + right when queued
};

struct SpmBigramLess {
  bool operator()(const SpmBigram& a, const SpmBigram& b) const {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  }
};

using SpmQueue = std::priority_queue<SpmBigram, std::vector<SpmBigram>, SpmBigramLess>;

void try_add_bigram(const TokenizerImpl& t, std::string_view text,
                    const std::vector<SpmSymbol>& syms, int left, int right, SpmQueue* queue) {
  if (left < 0 || right < 0) return;
  const SpmSymbol& l = syms[static_cast<size_t>(left)];
  const SpmSymbol& r = syms[static_cast<size_t>(right)];
  const TokenId id = t.find(text.substr(l.begin, l.n + r.n));
  if (id == kNoToken) return;
  const float score = t.scores.empty() ? 0.0f : t.scores[static_cast<size_t>(id)];
  queue->push(SpmBigram{score, left, right, l.n + r.n});
}

void emit_symbol(const TokenizerImpl& t, std::string_view piece, std::vector<TokenId>* out) {
  const TokenId id = t.find(piece);
  if (id != kNoToken) {
    out->push_back(id);
    return;
  }
  // Not a token (merged symbols always are, so this is one character): byte fallback.
  for (char c : piece) {
    const TokenId b = t.byte_fallback[static_cast<uint8_t>(c)];
    if (b != kNoToken) {
      out->push_back(b);
    } else if (t.unk != kNoToken) {
      out->push_back(t.unk);
      break;  // one unknown token for the whole character
    }
  }
}

}  // namespace

void spm_encode(const TokenizerImpl& t, std::string_view raw, std::vector<TokenId>* out) {
  std::string text;
  text.reserve(raw.size() + raw.size() / 4);
  for (char c : raw) {
    if (c == ' ') {
      text += "\xE2\x96\x81";  // U+2581 LOWER ONE EIGHTH BLOCK
    } else {
      text.push_back(c);
    }
  }
  std::vector<SpmSymbol> syms;
  syms.reserve(text.size());
  for (size_t pos = 0; pos < text.size();) {
    size_t len = tok::valid_utf8_len(text, pos);
    if (len == 0) len = 1;  // invalid byte: its own symbol, later byte fallback
    SpmSymbol s;
    s.begin = pos;
    s.n = len;
    s.prev = static_cast<int>(syms.size()) - 1;
    pos += len;
    s.next = pos < text.size() ? static_cast<int>(syms.size()) + 1 : -1;
    syms.push_back(s);
  }
  SpmQueue queue;
  for (size_t i = 1; i < syms.size(); ++i) {
    try_add_bigram(t, text, syms, static_cast<int>(i) - 1, static_cast<int>(i), &queue);
  }
  while (!queue.empty()) {
    const SpmBigram b = queue.top();
    queue.pop();
    SpmSymbol& l = syms[static_cast<size_t>(b.left)];
    SpmSymbol& r = syms[static_cast<size_t>(b.right)];
    if (l.n == 0 || r.n == 0 || l.n + r.n != b.size) continue;  // outdated
    l.n += r.n;
    r.n = 0;
    l.next = r.next;
    if (r.next >= 0) syms[static_cast<size_t>(r.next)].prev = b.left;
    try_add_bigram(t, text, syms, l.prev, b.left, &queue);
    try_add_bigram(t, text, syms, b.left, l.next, &queue);
  }
  for (int i = syms.empty() ? -1 : 0; i != -1; i = syms[static_cast<size_t>(i)].next) {
    const SpmSymbol& s = syms[static_cast<size_t>(i)];
    if (s.n > 0) emit_symbol(t, std::string_view(text).substr(s.begin, s.n), out);
  }
}

}  // namespace dari
