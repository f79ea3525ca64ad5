// Parse stacks and the recogniser step.
//
// A stack is a node id; node = (state q, parent node id). Nodes are hash-consed, so two equal
// stacks have the same id and sets of stacks are sets of ids. Reserved ids below kFirstNode:
//   kEmpty (0)       the bottom: below the root rule's frame
//   1..kMaxHoles     "holes": stand-ins for an unknown caller, used when computing a mask from
//                    the top frames only; a frame returning into hole h is reported in a bit mask
// A matcher's own nodes live in a NodeStore (ids from kFirstNode); nodes made while walking the
// trie live in a ScratchStore (ids with kScratchBit) that is reset after each call.
//
// The leaves of a state are its stacks whose top state has byte edges; the closure of a stack
// follows calls (push), final states (pop) and records `accept` when the root frame returns.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "dari/grammar/grammar.h"
#include "grammar/grammar_impl.h"

namespace dari::grammar::detail {

inline constexpr uint32_t kEmpty = 0;
inline constexpr uint32_t kMaxHoles = 64;
inline constexpr uint32_t kFirstNode = kMaxHoles + 1;
inline constexpr uint32_t kScratchBit = 0x80000000u;

inline bool is_hole(uint32_t id) {
  return id >= 1 && id <= kMaxHoles;
}

struct Node {
  uint32_t q;
  uint32_t parent;
};

inline uint64_t mix64(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

inline uint64_t node_hash(uint32_t q, uint32_t parent) {
  return mix64((uint64_t{q} << 32) | parent);
}

// Persistent nodes of one matcher (copied with it).
class NodeStore {
 public:
  uint32_t intern(uint32_t q, uint32_t parent);
  // The id of (q, parent), or kEmpty if it is not stored.
  uint32_t find(uint32_t q, uint32_t parent) const;
  const Node& get(uint32_t id) const { return nodes_[id - kFirstNode]; }
  size_t size() const { return nodes_.size(); }
  void clear();

 private:
  void grow();
  std::vector<Node> nodes_;
  std::vector<uint32_t> slots_;  // node ids; 0 = free
};

// Nodes made during one call; lookups fall back to the matcher's NodeStore first so that equal
// stacks keep one id.
class ScratchStore {
 public:
  void reset(const NodeStore* base);
  uint32_t intern(uint32_t q, uint32_t parent);
  const Node& get(uint32_t id) const { return nodes_[id & ~kScratchBit]; }

 private:
  void rehash(size_t capacity);
  const NodeStore* base_ = nullptr;
  std::vector<Node> nodes_;
  std::vector<uint32_t> slots_;  // scratch index + 1; valid iff stamps_[i] == stamp_
  std::vector<uint32_t> stamps_;
  uint32_t stamp_ = 1;
};

// Set of ids cleared in O(1).
class IdSet {
 public:
  void clear();
  bool insert(uint32_t id);  // true if it was not there

 private:
  void rehash(size_t capacity);
  std::vector<uint32_t> keys_, stamps_;
  uint32_t stamp_ = 1;
  size_t count_ = 0;
};

struct StepResult {
  std::vector<uint32_t> leaves;  // sorted node ids
  bool accept = false;           // the root frame returned
  uint64_t holes = 0;            // bit h-1: a frame returned into hole h
};

// Buffers reused by the recogniser.
struct RecogniserBuffers {
  IdSet visited;
  std::vector<uint32_t> work;
  std::vector<uint32_t> seeds;
};

// Closure and byte steps over one automaton. Nodes are interned in `pers` when `scratch` is
// null, else in `scratch`. Each processed stack node counts one unit of work; a call fails (and
// failure() says why) past `work_limit` total units or with more than max_stacks leaves.
class Recogniser {
 public:
  Recogniser(const Automaton& a, const GrammarLimits& limits, NodeStore* pers,
             ScratchStore* scratch, RecogniserBuffers& buf)
      : a_(a), lim_(limits), pers_(pers), scratch_(scratch), buf_(buf) {}

  bool closure(std::span<const uint32_t> seeds, StepResult& out);
  bool step(std::span<const uint32_t> leaves, uint8_t byte, StepResult& out);

  const Node& get(uint32_t id) const {
    return (id & kScratchBit) ? scratch_->get(id) : pers_->get(id);
  }
  uint32_t intern(uint32_t q, uint32_t parent) {
    return scratch_ ? scratch_->intern(q, parent) : pers_->intern(q, parent);
  }
  uint64_t work() const { return work_; }
  const std::string& failure() const { return failure_; }

 private:
  const Automaton& a_;
  const GrammarLimits& lim_;
  NodeStore* pers_;
  ScratchStore* scratch_;
  RecogniserBuffers& buf_;
  uint64_t work_ = 0;
  std::string failure_;
};

}  // namespace dari::grammar::detail
