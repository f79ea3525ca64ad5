// Cache of masks computed from top frames, shared by the Matchers of one (Grammar, Vocabulary).
//
// Key: the top frames of a state, canonically: for each leaf stack (sorted by state, then by
// caller), its automaton state and the hole that stands for its caller (holes numbered in order
// of first appearance; the root's bottom is kRootHole).
// Entry: the tokens accepted without leaving those frames, plus "returns": trie nodes at which a
// frame returned into a hole (the matcher walks those subtrees again with the real callers).
//
// Memory: bounded by a byte budget; least recently used entries go first. Entries are immutable
// and handed out as shared_ptr, so an evicted entry stays valid for whoever holds it.
// Threads: all methods are safe to call concurrently (one mutex).
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace dari::grammar::detail {

struct Automaton;

inline constexpr uint32_t kRootHole = 0xFFFFFFFFu;

struct ReturnEvent {
  uint32_t node;   // trie node (its byte consumed)
  uint64_t holes;  // bit h-1: returned into hole h
};

struct MaskEntry {
  bool dense = true;
  std::vector<uint64_t> bits;   // dense: the accepted tokens as a mask
  std::vector<int32_t> tokens;  // sparse: the accepted token ids
  std::vector<ReturnEvent> returns;
  size_t bytes() const {
    return sizeof(MaskEntry) + bits.size() * 8 + tokens.size() * 4 + returns.size() * 16;
  }
};

struct KeyHash {
  size_t operator()(const std::vector<uint32_t>& k) const;
};

// The key of a top-frame key in a cache shared between grammars: the key's (state, hole) pairs
// with states renumbered in discovery order, followed by every state reachable from them (byte
// edges, called rules' starts, return states) with its final flag and edges. Equal keys mean
// isomorphic fragments, so equal walks. False if more than max_states states are reachable.
bool structural_key(const Automaton& a, const std::vector<uint32_t>& key, uint32_t max_states,
                    std::vector<uint32_t>* out);

class MaskCache {
 public:
  explicit MaskCache(size_t max_bytes) : max_bytes_(max_bytes) {}

  std::shared_ptr<const MaskEntry> find(const std::vector<uint32_t>& key);
  void insert(const std::vector<uint32_t>& key, std::shared_ptr<const MaskEntry> entry);

  struct Stats {
    uint64_t hits = 0;
    uint64_t misses = 0;
    size_t entries = 0;
    size_t bytes = 0;
  };
  Stats stats() const;

 private:
  struct Item {
    std::vector<uint32_t> key;
    std::shared_ptr<const MaskEntry> entry;
    size_t bytes;
  };
  using List = std::list<Item>;

  mutable std::mutex mu_;
  size_t max_bytes_;
  size_t bytes_ = 0;
  uint64_t hits_ = 0, misses_ = 0;
  List lru_;  // front: most recent
  std::unordered_map<std::vector<uint32_t>, List::iterator, KeyHash> map_;
};

}  // namespace dari::grammar::detail
