// Jinja parser: tokens -> AST (statements and expressions).
//
// Grammar and operator precedence follow Jinja 3.1 (parse_or > and > not > compare > + - >
// ~ > * / // % > ** > unary > primary/postfix/filters). Expression and block nesting are
// limited (kMaxParseDepth) so hostile templates cannot exhaust the stack.
//
// Thread safety: pure function.
#pragma once

#include <vector>

#include "dari/core/result.h"
#include "template/ast.h"
#include "template/lexer.h"

namespace dari::jinja {

inline constexpr int kMaxParseDepth = 200;

// Errors: "line L, column C: <what>" (unexpected token, unterminated block naming the tag and
// the line where it was opened, unknown tag).
Result<Body> parse_tokens(std::vector<Token> tokens);

}  // namespace dari::jinja
