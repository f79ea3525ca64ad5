// JSON Schema -> GBNF, for response_format {type: json_schema | json_object} and tool calls.
//
// Supported: type (string, number, integer, boolean, null, object, array, and arrays of types),
// properties, required, additionalProperties (false / true / a schema), enum, const, anyOf,
// oneOf (treated as anyOf), allOf (merged: object keywords combined, other keywords must agree),
// items, prefixItems, minItems / maxItems, minLength / maxLength, $defs / definitions and any
// "#..." JSON pointer in $ref (recursion goes through rules), string formats date, time,
// date-time, uuid and email. true / {} mean any JSON value.
//
// Conventions (documented choices):
// - Properties are emitted in the order of `properties` (as OpenAI does), required and optional
//   ones interleaved in that order; an optional property may be left out. Extra properties, when
//   allowed, come after the listed ones and may repeat listed names. nlohmann::json keeps object
//   keys sorted, so pass an nlohmann::ordered_json (parsed from the request text) to keep the
//   schema's own order; with nlohmann::json the order is alphabetical.
// - Required names missing from `properties` are added after them, with any value.
// - additionalProperties not given: with `strict` (OpenAI strict mode) no extra properties,
//   otherwise any extra property with any value. Likewise prefixItems without items: with
//   `strict` exactly the listed elements, otherwise any further values.
// - Whitespace: at most `max_whitespace` bytes of [ \t\n] after '{' '[' ',' ':' and around
//   values, so a model cannot loop on whitespace. The document may start and end with it.
// - Numbers: integer and fraction parts and the exponent have at most `max_number_digits`
//   digits. minimum / maximum only decide whether a '-' sign may appear (minimum >= 0 forbids
//   it); other numeric bounds and multipleOf are not enforced.
// - enum / const values must be written exactly as their compact JSON serialisation (non-ASCII
//   characters unescaped). Unknown string formats are annotations (any string). Strings with
//   minLength / maxLength count characters (an escape sequence is one character).
// - Keywords that restrict values but are not supported (pattern, not, if/then/else,
//   uniqueItems, contains, patternProperties, ...) are errors naming their JSON pointer, unless
//   `permissive` (then they are ignored and outputs may violate them). Annotations (title,
//   description, default, examples, $schema, $id, $comment, ...) are ignored.
//
// Hostile schemas: the schema is measured before anything else (bytes, depth); a schema over
// max_schema_bytes is rejected after reading at most that many bytes of it. The GBNF produced,
// and the copies made when merging allOf / anyOf siblings, are bounded to 1 MiB plus 8 times
// the measured size; $ref chains to 32 hops; the conversion to 50000 subschema visits.
//
// Performance note: a string with minLength/maxLength is one automaton state per character
// position, so inside it every token needs its own mask (a near-full walk of the vocabulary the
// first time each position is seen); unbounded strings, numbers and whitespace are cached.
//
// Threads: plain functions, no shared state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "dari/core/result.h"
#include "dari/grammar/grammar.h"

namespace dari::grammar {

struct SchemaOptions {
  bool strict = true;                  // OpenAI strict mode (see additionalProperties above)
  bool permissive = false;             // ignore unsupported restricting keywords instead of failing
  uint32_t max_whitespace = 20;        // bytes of whitespace allowed at each place; 0: compact JSON
  uint32_t max_number_digits = 20;     // per integer part, fraction and exponent
  size_t max_schema_bytes = 1u << 20;  // strings + keys + 8 per value, counted while walking
  uint32_t max_depth = 64;             // nesting of JSON values in the schema document
  uint32_t max_enum_values = 1024;     // per enum
  uint32_t max_items = 1000;  // largest minItems/maxItems/minLength/maxLength (above: an error)
};

// The GBNF text for a schema (root rule `root`).
Result<std::string> json_schema_to_gbnf(const nlohmann::json& schema,
                                        const SchemaOptions& options = {});
Result<std::string> json_schema_to_gbnf(const nlohmann::ordered_json& schema,
                                        const SchemaOptions& options = {});

// response_format {type: json_object}: any JSON object, with bounded whitespace.
std::string any_json_object_gbnf(uint32_t max_whitespace = 20);

// json_schema_to_gbnf + compile_gbnf (the GBNF text is our own, so its size is bounded by the
// schema limits instead of limits.max_source_bytes).
Result<std::shared_ptr<const Grammar>> compile_json_schema(const nlohmann::json& schema,
                                                           const SchemaOptions& options = {},
                                                           const GrammarLimits& limits = {});
Result<std::shared_ptr<const Grammar>> compile_json_schema(const nlohmann::ordered_json& schema,
                                                           const SchemaOptions& options = {},
                                                           const GrammarLimits& limits = {});

}  // namespace dari::grammar
