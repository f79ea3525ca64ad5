// GBNF text -> Ast (syntax only; rule references are resolved to indices, undefined ones are
// errors). See include/dari/grammar/grammar.h for the accepted syntax.
#pragma once

#include <string>
#include <string_view>

#include "dari/core/result.h"
#include "dari/grammar/grammar.h"
#include "grammar/ast.h"

namespace dari::grammar::detail {

Result<Ast> parse_gbnf(std::string_view source, const GrammarLimits& limits);

// "L:C" for messages.
std::string format_pos(SourcePos pos);

// Appends the UTF-8 encoding of a scalar value (cp <= 0x10FFFF, not a surrogate).
void append_utf8(std::string& out, uint32_t cp);

// Sorts and merges ranges, removes surrogates; with `negate`, complements over all scalar values.
std::vector<CodeRange> normalize_ranges(std::vector<CodeRange> ranges, bool negate);

}  // namespace dari::grammar::detail
