// The compiled form of a grammar: one epsilon-free byte automaton per rule, in one numbering.
//
// A state has byte edges (a byte range -> next state of the same rule), call edges (run rule r,
// then continue at `ret`) and a final flag (the rule may return here). A parse stack is a list of
// states: the top one is where the innermost rule is, each one below is where its caller goes on
// after the call returns. Call edges whose `ret` is final and has no edges are `tail` calls: the
// caller's frame is dropped instead of pushed, so right recursion (x*, lists) keeps stacks flat.
//
// Invariants after compile: every state can reach a final state (dead ends are trimmed); every
// rule called is productive; no rule can call itself without consuming a byte (no left
// recursion), so the closure of any stack is finite.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "dari/grammar/grammar.h"
#include "dari/grammar/vocabulary.h"
#include "grammar/ast.h"

namespace dari::grammar::detail {

class MaskCache;

struct ByteEdge {
  uint8_t lo;
  uint8_t hi;
  uint32_t target;
};

struct CallEdge {
  uint32_t rule;
  uint32_t ret;
  uint32_t tail;  // 1: do not push `ret` (it is final with no edges)
};

struct Automaton {
  std::vector<uint32_t> byte_begin{0};  // state s: bytes[byte_begin[s] .. byte_begin[s+1])
  std::vector<ByteEdge> bytes;
  std::vector<uint32_t> call_begin{0};
  std::vector<CallEdge> calls;
  std::vector<uint8_t> is_final;
  std::vector<uint32_t> state_rule;  // the rule a state was built for (for messages)
  std::vector<uint32_t> rule_start;
  std::vector<std::string> rule_names;
  std::vector<SourcePos> rule_pos;
  uint32_t root = 0;

  uint32_t n_states() const { return static_cast<uint32_t>(is_final.size()); }
  bool has_bytes(uint32_t s) const { return byte_begin[s + 1] != byte_begin[s]; }
};

struct GrammarImpl {
  GrammarLimits limits;
  Automaton a;

  // Mask caches, one per Vocabulary this grammar is matched against.
  std::shared_ptr<MaskCache> cache_for(const std::shared_ptr<const Vocabulary>& vocab) const;

 private:
  mutable std::mutex cache_mu_;
  mutable std::vector<std::pair<std::weak_ptr<const Vocabulary>, std::shared_ptr<MaskCache>>>
      caches_;
};

// AST -> epsilon-free automaton (states of each rule contiguous), before analysis.
Result<Automaton> build_automaton(const Ast& ast, const GrammarLimits& limits);

// Rejects left recursion (naming the cycle), trims dead states, checks that root matches a
// finite string, merges states with identical edges, sets tail flags.
Status analyse_automaton(Automaton& a, const GrammarLimits& limits);

}  // namespace dari::grammar::detail
