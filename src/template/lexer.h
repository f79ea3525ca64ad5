// Jinja lexer: template source -> tokens, with Jinja 3.1's whitespace control.
//
// Handles `{{ }}`, `{% %}`, `{# #}`, `{% raw %}`, the `-`/`+` modifiers, trim_blocks and
// lstrip_blocks exactly as Python Jinja's lexer does (including its "line starting" rule), and
// keep_trailing_newline=False (one trailing newline of the source is dropped). Line endings
// \r\n and \r are normalised to \n first.
//
// Thread safety: pure function.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "dari/core/result.h"

namespace dari::jinja {

enum class TokenType : uint8_t {
  kText, kVarBegin, kVarEnd, kBlockBegin, kBlockEnd,
  kName, kString, kInt, kFloat, kOp, kEof
};

struct Token {
  TokenType type = TokenType::kEof;
  std::string text;  // text, name, decoded string literal, or operator spelling
  int64_t int_value = 0;
  double float_value = 0.0;
  int line = 1;
  int col = 1;
};

struct LexOptions {
  bool trim_blocks = false;
  bool lstrip_blocks = false;
};

// Errors: "line L, column C: <what>" (unterminated tag/string/comment, bad character).
Result<std::vector<Token>> tokenize(const std::string& source, const LexOptions& options);

}  // namespace dari::jinja
