// Matcher: the per-request state of a grammar during generation (one per choice).
//
// A pushdown recogniser over bytes: its state is a set of parse stacks (persistent linked lists
// with shared tails, hash-consed, so equal stacks are stored once). fill_mask walks the
// vocabulary's byte trie carrying that state and prunes every subtree no stack survives.
//
// Mask cache: the state's top frames (each stack's innermost rule position, with the rest of the
// stack abstracted) key a cache shared by every Matcher of the same Grammar and Vocabulary. An
// entry holds the tokens decided inside those frames plus the trie nodes where a frame returns
// into its caller; only those subtrees are walked again with the real stacks. Entries are kept
// per frame (a state of several stacks takes the union of its frames' entries), so they can be
// computed before generation (precompute_masks). The text of a JSON string, a number or
// whitespace costs one full walk per grammar, then a lookup.
//
// Ownership/threads: a Matcher owns its state and holds shared_ptrs to its Grammar and
// Vocabulary. It is not thread-safe, but different Matchers may run on different threads at once
// even when they share a Grammar and Vocabulary. Copying a Matcher (n > 1 choices) copies the
// state; the copies then advance independently.
//
// Failure: hostile grammars can make the stack sets explode. When a call would exceed
// GrammarLimits::max_stacks or max_work, the Matcher fails: fill_mask returns the error (and
// allows nothing but end-of-generation ids), accept returns false, status() holds the error.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "dari/core/result.h"
#include "dari/grammar/grammar.h"
#include "dari/grammar/vocabulary.h"

namespace dari::grammar {

namespace detail {
class MatcherState;
}

class Matcher {
 public:
  // Fails if the grammar's start state already exceeds the recogniser bounds.
  static Result<Matcher> create(std::shared_ptr<const Grammar> grammar,
                                std::shared_ptr<const Vocabulary> vocabulary);

  Matcher(const Matcher& other);
  Matcher& operator=(const Matcher& other);
  Matcher(Matcher&&) noexcept;
  Matcher& operator=(Matcher&&) noexcept;
  ~Matcher();

  // Overwrites `allowed` (at least vocabulary.mask_words() words; bit t of word t / 64 is token
  // t) with the tokens that keep the output a valid prefix of the grammar; EOG ids are set iff
  // can_end(). After an EOG token was accepted, nothing is allowed. Returns the failure status if
  // the matcher failed (then only EOG ids are set).
  Status fill_mask(std::span<uint64_t> allowed);

  // Advances by one token. False (state unchanged) if the token is not allowed. Accepting an EOG
  // id when can_end() terminates the matcher.
  bool accept(int32_t token);
  // Advances by raw bytes (e.g. a forced prefix). False (state unchanged) if not a valid prefix.
  bool accept_bytes(std::string_view bytes);

  bool can_end() const;     // the bytes so far form a complete sentence of the grammar
  bool must_end() const;    // can_end() and no byte may follow
  bool terminated() const;  // an EOG token was accepted
  const Status& status() const;
  // Back to the start state (keeps the cache).
  void reset();

  // Introspection for benchmarks and tests: was the last fill_mask served from the cache?
  bool last_mask_cached() const;
  size_t stack_count() const;  // stacks in the current state

 private:
  explicit Matcher(std::unique_ptr<detail::MatcherState> state);
  std::unique_ptr<detail::MatcherState> s_;
};

// Computes ahead of generation the cache entries that first masks would otherwise compute on
// the token path: one per grammar state with byte edges (masks are unions of per-frame entries),
// until `budget` has passed; entries land in the cache every Matcher of this grammar and
// vocabulary shares. Any thread, concurrently with running Matchers. True if every state was
// done; *computed (optional) counts the entries that were not cached yet.
// The budget `dari serve` gives a grammar it has not seen before (bench-serve uses the same).
inline constexpr std::chrono::milliseconds kPrecomputeBudget{1000};

bool precompute_masks(const std::shared_ptr<const Grammar>& grammar,
                      const std::shared_ptr<const Vocabulary>& vocabulary,
                      std::chrono::milliseconds budget, size_t* computed = nullptr);

}  // namespace dari::grammar
