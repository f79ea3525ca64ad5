// Trie walks (see walker.h).
#include "grammar/walker.h"

#include <algorithm>
#include <cstring>

namespace dari::grammar::detail {

// ---- StateTable ----

void StateTable::reset() {
  arena_.clear();
  entries_.clear();
  entries_.push_back(Entry{0, 0, 0, 0});  // kDead
  if (++stamp_ == 0) {
    std::fill(stamps_.begin(), stamps_.end(), 0);
    stamp_ = 1;
  }
}

void StateTable::rehash(size_t capacity) {
  slots_.assign(capacity, 0);
  stamps_.assign(capacity, 0);
  stamp_ = 1;
  const size_t mask = capacity - 1;
  for (uint32_t id = 1; id < entries_.size(); ++id) {
    size_t h = entries_[id].hash & mask;
    while (stamps_[h] == stamp_) h = (h + 1) & mask;
    stamps_[h] = stamp_;
    slots_[h] = id;
  }
}

uint32_t StateTable::intern(std::span<const uint32_t> leaves, bool accept) {
  if (leaves.empty() && !accept) return kDead;
  uint64_t h = accept ? 0x51ed27a3b1c4d9e1ULL : 0x2545f4914f6cdd1dULL;
  for (uint32_t v : leaves) h = mix64(h ^ v) + 0x9e3779b97f4a7c15ULL;
  if ((entries_.size() + 1) * 2 > slots_.size()) rehash(slots_.empty() ? 1024 : slots_.size() * 2);
  const size_t mask = slots_.size() - 1;
  size_t i = h & mask;
  while (stamps_[i] == stamp_) {
    const Entry& e = entries_[slots_[i]];
    if (e.hash == h && e.accept == static_cast<uint32_t>(accept) && e.len == leaves.size() &&
        std::equal(leaves.begin(), leaves.end(), arena_.begin() + e.off)) {
      return slots_[i];
    }
    i = (i + 1) & mask;
  }
  const auto id = static_cast<uint32_t>(entries_.size());
  entries_.push_back(Entry{static_cast<uint32_t>(arena_.size()),
                           static_cast<uint32_t>(leaves.size()), accept ? 1u : 0u, h});
  arena_.insert(arena_.end(), leaves.begin(), leaves.end());
  stamps_[i] = stamp_;
  slots_[i] = id;
  return id;
}

// ---- TransMemo ----

void TransMemo::reset() {
  rows_ready_ = 0;
  count_ = 0;
  if (++stamp_ == 0) {
    std::fill(stamps_.begin(), stamps_.end(), 0);
    stamp_ = 1;
  }
}

Trans TransMemo::get_slow(uint32_t s, uint8_t b) const {
  if (s < kMaxRows || keys_.empty()) return Trans{kUnset, 0};
  const uint64_t key = (uint64_t{s} << 8) | b;
  const size_t mask = keys_.size() - 1;
  size_t i = mix64(key) & mask;
  while (stamps_[i] == stamp_) {
    if (keys_[i] == key) return vals_[i];
    i = (i + 1) & mask;
  }
  return Trans{kUnset, 0};
}

void TransMemo::put(uint32_t s, uint8_t b, Trans t) {
  if (s < kMaxRows) {
    if (s >= rows_ready_) {
      const size_t need = (size_t{s} + 1) * 256;
      if (rows_.size() < need) rows_.resize(need);  // within the reserved storage
      std::fill(rows_.begin() + static_cast<ptrdiff_t>(size_t{rows_ready_} * 256),
                rows_.begin() + static_cast<ptrdiff_t>(need), Trans{kUnset, 0});
      rows_ready_ = s + 1;
    }
    rows_[size_t{s} * 256 + b] = t;
    return;
  }
  if ((count_ + 1) * 2 > keys_.size()) {
    // Grow (or first use): re-insert live entries.
    const size_t cap = keys_.empty() ? 4096 : keys_.size() * 2;
    std::vector<uint64_t> ok = std::move(keys_);
    std::vector<Trans> ov = std::move(vals_);
    std::vector<uint32_t> os = std::move(stamps_);
    const uint32_t old_stamp = stamp_;
    keys_.assign(cap, 0);
    vals_.assign(cap, Trans{kUnset, 0});
    stamps_.assign(cap, 0);
    stamp_ = 1;
    const size_t mask = cap - 1;
    for (size_t k = 0; k < ok.size(); ++k) {
      if (os[k] != old_stamp) continue;
      size_t i = mix64(ok[k]) & mask;
      while (stamps_[i] == stamp_) i = (i + 1) & mask;
      stamps_[i] = stamp_;
      keys_[i] = ok[k];
      vals_[i] = ov[k];
    }
  }
  const uint64_t key = (uint64_t{s} << 8) | b;
  const size_t mask = keys_.size() - 1;
  size_t i = mix64(key) & mask;
  while (stamps_[i] == stamp_) {
    if (keys_[i] == key) {
      vals_[i] = t;
      return;
    }
    i = (i + 1) & mask;
  }
  stamps_[i] = stamp_;
  keys_[i] = key;
  vals_[i] = t;
  ++count_;
}

// ---- Walk ----

Workspace& workspace() {
  thread_local Workspace ws;
  return ws;
}

Walk::Walk(const GrammarImpl& g, const Vocabulary& vocab, NodeStore& pers, Workspace& ws)
    : vocab_(vocab), ws_(ws), rec_(g.a, g.limits, &pers, &ws.scratch, ws.rbuf) {
  ws.scratch.reset(&pers);
  ws.states.reset();
  ws.memo.reset();
  ws.hole_masks.assign(1, 0);
  if (ws.depth_state.size() < size_t{vocab.max_depth()} + 1) {
    ws.depth_state.resize(size_t{vocab.max_depth()} + 1);
  }
}

bool Walk::closure_state(uint32_t seed, uint32_t* state) {
  const uint32_t seeds[1] = {seed};
  if (!rec_.closure(seeds, ws_.step)) return false;
  *state = ws_.states.intern(ws_.step.leaves, ws_.step.accept);
  return true;
}

Trans Walk::transition(uint32_t s, uint8_t b) {
  // The leaves are read before anything is interned (interning may move the arena).
  if (!rec_.step(ws_.states.leaves(s), b, ws_.step)) return Trans{kUnset, 0};
  Trans t;
  t.target = ws_.states.intern(ws_.step.leaves, ws_.step.accept);
  t.holes = 0;
  if (ws_.step.holes != 0) {
    t.holes = static_cast<uint32_t>(ws_.hole_masks.size());
    ws_.hole_masks.push_back(ws_.step.holes);
  }
  ws_.memo.put(s, b, t);
  return t;
}

void Walk::set_tokens(uint32_t node, std::span<uint64_t> bits) const {
  for (int32_t id : vocab_.tokens_at(node)) {
    bits[static_cast<size_t>(id) >> 6] |= uint64_t{1} << (id & 63);
  }
}

// The hot loop: one memo lookup per trie node. Bits are set without a branch (nodes without a
// token write into a sink word); dead subtrees are skipped.
template <bool kRecord>
bool Walk::run_impl(uint32_t first, uint32_t end, std::span<uint64_t> bits) {
  const TrieNode* nodes = vocab_.trie().data();
  uint32_t* ds = ws_.depth_state.data();
  TransMemo& memo = ws_.memo;
  const Trans* rows = memo.rows();
  uint32_t ready = memo.rows_ready();
  uint64_t* words = bits.data();
  uint64_t* sink = ws_.sink;
  uint32_t i = first;
  while (i < end) {
    const TrieNode nd = nodes[i];
    const uint32_t from = ds[nd.depth - 1];
    Trans t = from < ready ? rows[size_t{from} * 256 + nd.label] : memo.get_slow(from, nd.label);
    if (t.target == kUnset) [[unlikely]] {
      t = transition(from, nd.label);
      if (t.target == kUnset) return false;
      rows = memo.rows();
      ready = memo.rows_ready();
    }
    if constexpr (kRecord) {
      if (t.holes != 0) [[unlikely]] {
        ws_.returns.push_back(ReturnEvent{i, ws_.hole_masks[t.holes]});
      }
    }
    const bool alive = t.target != kDead;
    ds[nd.depth] = t.target;
    const uint32_t tok = nd.token;
    // Token-less nodes write to one of several sink words, so their writes do not form a chain.
    uint64_t* w = (alive && tok != kNoToken) ? words + (tok >> 6) : sink + (i & 7);
    *w |= uint64_t{1} << (tok & 63);
    if (nd.more_tokens && alive) [[unlikely]]
      set_tokens(i, bits);
    i = alive ? i + 1 : nd.next;
  }
  return true;
}

bool Walk::run(uint32_t first, uint32_t end, bool record_returns, std::span<uint64_t> bits) {
  return record_returns ? run_impl<true>(first, end, bits) : run_impl<false>(first, end, bits);
}

}  // namespace dari::grammar::detail
