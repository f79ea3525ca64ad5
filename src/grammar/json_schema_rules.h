// Pieces of the JSON Schema converter that do not depend on the JSON type: the shared JSON
// value rules (GBNF text), GBNF / JSON-pointer escaping and the keyword tables.
#pragma once

#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "dari/grammar/json_schema.h"

namespace dari::grammar::detail {

// One JSON character inside a string: unescaped (no quote, backslash or control) or an escape.
inline constexpr const char* kJsonChar =
    R"([^"\\\x00-\x1F] | "\\" ( ["\\/bfnrt] | "u" [0-9a-fA-F]{4} ))";

struct SharedRule {
  std::string body;
  std::vector<const char*> uses;  // shared rules the body refers to
};

// The shared rules: ws, json-value, json-object, json-member, json-array, json-string,
// json-number, json-number-nonneg, json-integer, json-integer-nonneg, json-boolean, json-null,
// json-date, json-time, json-date-time, json-uuid, json-email (and json-date-body,
// json-time-body). Unknown names give an empty body.
SharedRule shared_json_rule(const std::string& name, const SchemaOptions& o);

// Every name shared_json_rule knows (reserved: schema-derived rules never take them).
const std::vector<const char*>& shared_json_rule_names();

// GBNF string literal for bytes (the text is valid UTF-8).
std::string gbnf_literal(std::string_view s);

// A JSON object key as a JSON-pointer token (~ -> ~0, / -> ~1).
std::string pointer_escape(std::string_view key);

// Keywords that only annotate (ignored), and restricting keywords that are not supported.
const std::set<std::string>& annotation_keywords();
const std::set<std::string>& unsupported_keywords();

}  // namespace dari::grammar::detail
