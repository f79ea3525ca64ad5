// Shared JSON rules and helpers of the JSON Schema converter (see json_schema_rules.h).
#include "grammar/json_schema_rules.h"

#include <algorithm>

#include "dari/core/strings.h"

namespace dari::grammar::detail {

const std::vector<const char*>& shared_json_rule_names() {
  static const std::vector<const char*> names = {
      "root",         "ws",         "json-value",         "json-object",
      "json-member",  "json-array", "json-string",        "json-number",
      "json-integer", "json-null",  "json-number-nonneg", "json-integer-nonneg",
      "json-boolean", "json-date",  "json-time",          "json-date-time",
      "json-uuid",    "json-email", "json-date-body",     "json-time-body",
  };
  return names;
}

SharedRule shared_json_rule(const std::string& name, const SchemaOptions& o) {
  const uint32_t d = std::max<uint32_t>(o.max_number_digits, 1);
  const std::string int_part = str_format("( \"0\" | [1-9] [0-9]{0,%u} )", d - 1);
  const std::string frac = str_format("( \".\" [0-9]{1,%u} )?", d);
  const std::string exp = str_format("( [eE] [-+]? [0-9]{1,%u} )?", d);
  const std::string quote = "\"\\\"\"";  // the GBNF literal of one double quote
  SharedRule r;
  if (name == "ws") {
    r.body = o.max_whitespace == 0 ? "\"\"" : str_format("[ \\t\\n]{0,%u}", o.max_whitespace);
    return r;
  }
  r.uses = {"ws"};
  if (name == "json-value") {
    r.body = "json-object | json-array | json-string | json-number | json-boolean | json-null";
    r.uses = {"json-object", "json-array",   "json-string",
              "json-number", "json-boolean", "json-null"};
  } else if (name == "json-object") {
    r.body = "\"{\" ws ( json-member ( \",\" ws json-member )* )? \"}\"";
    r.uses = {"ws", "json-member"};
  } else if (name == "json-member") {
    r.body = "json-string ws \":\" ws json-value ws";
    r.uses = {"ws", "json-string", "json-value"};
  } else if (name == "json-array") {
    r.body = "\"[\" ws ( json-value ws ( \",\" ws json-value ws )* )? \"]\"";
    r.uses = {"ws", "json-value"};
  } else if (name == "json-string") {
    r.body = quote + " ( " + kJsonChar + " )* " + quote;
  } else if (name == "json-number") {
    r.body = "\"-\"? " + int_part + " " + frac + " " + exp;
  } else if (name == "json-number-nonneg") {
    r.body = int_part + " " + frac + " " + exp;
  } else if (name == "json-integer") {
    r.body = "\"-\"? " + int_part;
  } else if (name == "json-integer-nonneg") {
    r.body = int_part;
  } else if (name == "json-boolean") {
    r.body = "\"true\" | \"false\"";
  } else if (name == "json-null") {
    r.body = "\"null\"";
  } else if (name == "json-date-body") {
    r.body =
        "[0-9]{4} \"-\" ( \"0\" [1-9] | \"1\" [0-2] ) \"-\" ( \"0\" [1-9] | [12] [0-9] | \"3\" "
        "[01] )";
  } else if (name == "json-time-body") {
    r.body =
        "( [01] [0-9] | \"2\" [0-3] ) \":\" [0-5] [0-9] \":\" [0-5] [0-9] ( \".\" [0-9]{1,9} )? "
        "( [Zz] | [+-] ( [01] [0-9] | \"2\" [0-3] ) \":\" [0-5] [0-9] )";
  } else if (name == "json-date") {
    r.body = quote + " json-date-body " + quote;
    r.uses = {"json-date-body"};
  } else if (name == "json-time") {
    r.body = quote + " json-time-body " + quote;
    r.uses = {"json-time-body"};
  } else if (name == "json-date-time") {
    r.body = quote + " json-date-body [Tt] json-time-body " + quote;
    r.uses = {"json-date-body", "json-time-body"};
  } else if (name == "json-uuid") {
    r.body = quote +
             " [0-9a-fA-F]{8} \"-\" [0-9a-fA-F]{4} \"-\" [0-9a-fA-F]{4} \"-\" [0-9a-fA-F]{4} "
             "\"-\" [0-9a-fA-F]{12} " +
             quote;
  } else if (name == "json-email") {
    r.body = quote +
             " [A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+ \"@\" [A-Za-z0-9-]+ ( \".\" [A-Za-z0-9-]+ )+ " +
             quote;
  }
  return r;
}

std::string gbnf_literal(std::string_view s) {
  std::string out = "\"";
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"') {
      out += "\\\"";
    } else if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7F) {
      out += str_format("\\x%02X", c);
    } else {
      out += ch;
    }
  }
  out += "\"";
  return out;
}

std::string pointer_escape(std::string_view key) {
  std::string out;
  for (char c : key) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

const std::set<std::string>& annotation_keywords() {
  static const std::set<std::string> k = {
      "title",
      "description",
      "default",
      "examples",
      "$schema",
      "$id",
      "$comment",
      "deprecated",
      "readOnly",
      "writeOnly",
      "$anchor",
      "$vocabulary",
      "contentMediaType",
      "contentEncoding",
      "discriminator",
      "example",
      "strict",
      "$defs",
      "definitions",
  };
  return k;
}

const std::set<std::string>& unsupported_keywords() {
  static const std::set<std::string> k = {
      "pattern",
      "patternProperties",
      "propertyNames",
      "not",
      "if",
      "then",
      "else",
      "uniqueItems",
      "contains",
      "minContains",
      "maxContains",
      "minProperties",
      "maxProperties",
      "multipleOf",
      "dependentRequired",
      "dependentSchemas",
      "dependencies",
      "unevaluatedProperties",
      "unevaluatedItems",
      "$dynamicRef",
      "$recursiveRef",
      "contentSchema",
  };
  return k;
}

}  // namespace dari::grammar::detail
