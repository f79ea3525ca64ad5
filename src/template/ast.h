// Jinja AST: expression and statement nodes produced by the parser.
//
// Nodes are owned by unique_ptrs in their parent; the whole tree is owned by the parsed
// Template (shared, immutable after parsing). Line/column refer to the template source.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "template/value.h"

namespace dari::jinja {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

enum class ExprKind : uint8_t {
  kLiteral,   // literal
  kName,      // name
  kList,      // children
  kTuple,     // children (evaluated to a list)
  kDict,      // children: key0, value0, key1, value1, ...
  kUnary,     // name: "-", "+", "not"; children[0]
  kBinary,    // name: + - * / // % ** ~; children[0], children[1]
  kAnd,       // children[0], children[1]
  kOr,
  kCompare,   // children[0] then (ops[i], children[i+1]): == != < > <= >= in notin
  kCond,      // children: then, cond, [else]
  kGetAttr,   // children[0] . name
  kGetItem,   // children[0] [ children[1] ]
  kSlice,     // children[0] [ a : b : c ]; missing parts are nullptr
  kCall,      // children[0] (children[1..]) with kwargs
  kFilter,    // children[0] | name(children[1..], kwargs); children[0] null in filter blocks
  kTest,      // children[0] is [not] name(children[1..]); negated
};

struct Expr {
  ExprKind kind = ExprKind::kLiteral;
  int line = 0;
  int col = 0;
  Value literal;
  std::string name;
  bool negated = false;  // kTest: "is not"
  std::vector<ExprPtr> children;
  std::vector<std::pair<std::string, ExprPtr>> kwargs;
  std::vector<std::string> ops;  // kCompare
};

struct Stmt;
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

enum class StmtKind : uint8_t {
  kText,         // text
  kOutput,       // {{ expr }}
  kIf,           // conds[i] -> bodies[i]; else_body
  kFor,          // targets in expr [if cond] body [else else_body]
  kSet,          // targets (names) or ns attr (targets[0] . attr) = expr
  kSetBlock,     // targets[0] = rendered body, then filter chain in `expr` (may be null)
  kMacro,        // name(params) body
  kCallBlock,    // expr = call expression; params = caller params; body = caller body
  kFilterBlock,  // expr = filter chain applied to the rendered body
  kBreak,
  kContinue,
  kDo,           // expression statement
  kScope,        // plain nested body ({% generation %}, {% block %})
};

struct Stmt {
  StmtKind kind = StmtKind::kText;
  int line = 0;
  int col = 0;
  std::string text;                  // kText
  std::string name;                  // macro name / set attribute
  ExprPtr expr;                      // main expression
  ExprPtr cond;                      // kFor filter
  std::vector<std::string> targets;  // for / set targets
  std::vector<ExprPtr> conds;        // kIf
  std::vector<Body> bodies;          // kIf
  Body body;
  Body else_body;
  std::vector<std::pair<std::string, ExprPtr>> params;  // macro / caller params with defaults
};

}  // namespace dari::jinja
