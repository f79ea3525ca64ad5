// Grammars for constrained decoding: GBNF text compiled into a byte-level pushdown automaton.
//
// GBNF is the grammar syntax of llama.cpp, as users write it:
//   root  ::= "{" ws pair ("," ws pair)* "}"     # comments run to the end of the line
//   pair  ::= [a-z]+ ws ":" ws ("true" | "false") ws
//   ws    ::= [ \t\n]{0,20}
// - rules `name ::= alternatives`; names are [A-Za-z0-9_-]+; the start rule is `root`.
//   A rule ends where the next `name ::=` begins, so alternatives and sequences may span lines.
// - alternatives `a | b`, groups `( ... )`, the empty sequence (`x ::= "a" | `).
// - string literals "..." and character classes [a-z] / [^"\\] with escapes \n \r \t \\ \" \'
//   \[ \] \- \^ \/ \xHH \uHHHH \UHHHHHHHH (the hex escapes name Unicode code points, written as
//   UTF-8); `.` is any one character (any Unicode scalar value).
// - postfix operators * + ? {m} {m,} {m,n} {,n} (bounds at most GrammarLimits::max_repeat).
// Matching is on bytes: every literal and class is compiled to UTF-8 byte sequences, so tokens
// that split a multi-byte character are handled. Classes never match surrogates or invalid UTF-8.
//
// Rejected (Error naming line:column, columns in bytes from 1): syntax errors, undefined rules,
// duplicate definitions, left recursion (direct or indirect, also through rules that can match
// the empty string), a `root` that matches no finite string, and any exceeded limit.
//
// Ownership/threads: a Grammar is immutable once compiled and may be shared (shared_ptr<const>)
// by any number of Matchers on any threads. It owns the mask caches of the vocabularies it is
// used with (one per Vocabulary, internally locked), so they die with the Grammar.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "dari/core/result.h"

namespace dari::grammar {

namespace detail {
struct GrammarImpl;
}

struct GrammarLimits {
  size_t max_source_bytes = 256 * 1024;  // GBNF text
  uint32_t max_rules = 20000;            // rules, including those made for repetitions
  uint32_t max_elements = 1u << 20;      // automaton states + edges after expanding x{m,n}
  uint32_t max_nesting = 64;             // depth of ( ... ) groups
  uint32_t max_repeat = 1000;            // largest m or n in x{m,n}
  // Recogniser bounds, checked while matching (a Matcher fails instead of stalling):
  uint32_t max_stacks = 4096;           // parse stacks alive after one byte
  uint64_t max_work = 1ull << 22;       // stack steps per fill_mask / accept call
  size_t mask_cache_bytes = 64u << 20;  // per (Grammar, Vocabulary) pair; 0 disables caching
};

class Grammar {
 public:
  explicit Grammar(std::unique_ptr<detail::GrammarImpl> impl);
  ~Grammar();
  Grammar(const Grammar&) = delete;
  Grammar& operator=(const Grammar&) = delete;

  size_t rule_count() const;
  size_t state_count() const;  // automaton states over all rules
  size_t edge_count() const;
  const GrammarLimits& limits() const;
  // Human-readable dump of the compiled automaton (for debugging and tests).
  std::string describe() const;

  const detail::GrammarImpl& impl() const { return *impl_; }

 private:
  std::unique_ptr<detail::GrammarImpl> impl_;
};

// Parses and compiles GBNF text. Runs in time roughly linear in the expanded grammar size.
Result<std::shared_ptr<const Grammar>> compile_gbnf(std::string_view source,
                                                    const GrammarLimits& limits = {});

}  // namespace dari::grammar
