// Parsed GBNF: rules of expression trees, before compilation to byte automata.
//
// Expression trees are at most GrammarLimits::max_nesting deep (groups and postfix operators
// both count), so recursive code over them is bounded.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace dari::grammar::detail {

struct SourcePos {
  uint32_t line = 1;
  uint32_t column = 1;
};

// Inclusive range of Unicode scalar values.
struct CodeRange {
  uint32_t lo;
  uint32_t hi;
};

inline constexpr uint32_t kUnbounded = std::numeric_limits<uint32_t>::max();

enum class ExprKind : uint8_t {
  kAlt,      // children: alternatives
  kSeq,      // children: in order (empty: the empty string)
  kLiteral,  // bytes (UTF-8)
  kClass,    // ranges: sorted, disjoint, non-adjacent, no surrogates (negation already applied)
  kRef,      // rule
  kRepeat,   // children[0] repeated min..max times (max may be kUnbounded)
};

struct Expr {
  ExprKind kind = ExprKind::kSeq;
  SourcePos pos;
  std::vector<Expr> children;
  std::string bytes;
  std::vector<CodeRange> ranges;
  uint32_t rule = 0;
  uint32_t min = 0;
  uint32_t max = 0;
};

struct RuleDef {
  std::string name;
  bool defined = false;
  SourcePos def_pos;    // where `name ::=` is
  SourcePos first_use;  // first reference (for "undefined rule" errors)
  Expr body;
};

struct Ast {
  std::vector<RuleDef> rules;
  uint32_t root = 0;
};

}  // namespace dari::grammar::detail
