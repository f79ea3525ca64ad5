// Trie walks: the vocabulary's byte trie walked in depth-first order while carrying a set of
// parse stacks, as a lazily built DFA: sets of stacks are interned into state ids, and each
// (state, byte) transition is computed once per walk and then looked up. Subtrees whose state
// is dead are skipped.
//
// All buffers live in a per-thread Workspace, reused across calls (memory grows with the largest
// walk a thread has done; the transition rows are capped at TransMemo::kMaxRows).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "dari/grammar/vocabulary.h"
#include "grammar/grammar_impl.h"
#include "grammar/mask_cache.h"
#include "grammar/stacks.h"

namespace dari::grammar::detail {

inline constexpr uint32_t kUnset = 0xFFFFFFFFu;
inline constexpr uint32_t kDead = 0;  // state id of the empty set

struct Trans {
  uint32_t target;  // state id; kUnset: not computed
  uint32_t holes;   // index into Workspace::hole_masks; 0: none
};

// Sets of leaf stacks (+ accept flag) -> dense ids; id 0 is the dead state.
class StateTable {
 public:
  void reset();
  uint32_t intern(std::span<const uint32_t> leaves, bool accept);
  std::span<const uint32_t> leaves(uint32_t id) const {
    return {arena_.data() + entries_[id].off, entries_[id].len};
  }
  bool accept(uint32_t id) const { return entries_[id].accept != 0; }
  uint32_t size() const { return static_cast<uint32_t>(entries_.size()); }

 private:
  struct Entry {
    uint32_t off;
    uint32_t len;
    uint32_t accept;
    uint64_t hash;
  };
  void rehash(size_t capacity);
  std::vector<uint32_t> arena_;
  std::vector<Entry> entries_;
  std::vector<uint32_t> slots_, stamps_;
  uint32_t stamp_ = 1;
};

// (state, byte) -> Trans: a dense 256-entry row for each state id below kMaxRows (rows are
// initialised as states appear; the storage is reserved once, so row pointers stay valid), a hash
// table for the others.
class TransMemo {
 public:
  static constexpr uint32_t kMaxRows = 1024;
  TransMemo() { rows_.reserve(size_t{kMaxRows} * 256); }
  void reset();
  // Rows [0, rows_ready()) are valid at rows() + 256 * state.
  const Trans* rows() const { return rows_.data(); }
  uint32_t rows_ready() const { return rows_ready_; }
  Trans get(uint32_t s, uint8_t b) const {
    if (s < rows_ready_) return rows_[size_t{s} * 256 + b];
    return get_slow(s, b);
  }
  Trans get_slow(uint32_t s, uint8_t b) const;
  void put(uint32_t s, uint8_t b, Trans t);

 private:
  std::vector<Trans> rows_;
  uint32_t rows_ready_ = 0;
  std::vector<uint64_t> keys_;
  std::vector<Trans> vals_;
  std::vector<uint32_t> stamps_;
  uint32_t stamp_ = 1;
  size_t count_ = 0;
};

struct Workspace {
  ScratchStore scratch;
  RecogniserBuffers rbuf;
  StepResult step;
  StateTable states;
  TransMemo memo;
  std::vector<uint64_t> hole_masks;
  std::vector<uint32_t> depth_state;
  std::vector<uint64_t> bits;
  uint64_t sink[8] = {};  // bit writes of nodes without tokens land here
  std::vector<ReturnEvent> returns;
  std::vector<uint32_t> key;
  std::vector<uint32_t> skey;
  std::vector<uint32_t> hole_parent;
  std::vector<uint32_t> tmp;
  std::vector<uint32_t> tmp2;
  std::vector<uint32_t> frame_key;         // one frame's cache key
  std::vector<ReturnEvent> frame_returns;  // returns of several frames, holes renumbered
};

// The calling thread's workspace.
Workspace& workspace();

// One walk session: resets the workspace's scratch nodes, states and memo.
class Walk {
 public:
  Walk(const GrammarImpl& g, const Vocabulary& vocab, NodeStore& pers, Workspace& ws);

  uint32_t state(std::span<const uint32_t> leaves, bool accept) {
    return ws_.states.intern(leaves, accept);
  }
  // The state after closing `seed` (a stack node), or false on a recogniser limit.
  bool closure_state(uint32_t seed, uint32_t* state);
  // Walks nodes [first, end) of the trie; node depths there must exceed `base_depth`, and
  // ws.depth_state[base_depth] must hold the starting state. Sets the bits of accepted tokens;
  // with record_returns, appends a ReturnEvent wherever a frame returns into a hole.
  bool run(uint32_t first, uint32_t end, bool record_returns, std::span<uint64_t> bits);
  // Sets the bits of the tokens ending at trie node `node`.
  void set_tokens(uint32_t node, std::span<uint64_t> bits) const;

  Recogniser& recogniser() { return rec_; }
  Workspace& ws() { return ws_; }

 private:
  // kUnset target on a recogniser failure.
  Trans transition(uint32_t s, uint8_t b);
  template <bool kRecord>
  bool run_impl(uint32_t first, uint32_t end, std::span<uint64_t> bits);

  const Vocabulary& vocab_;
  Workspace& ws_;
  Recogniser rec_;
};

}  // namespace dari::grammar::detail
