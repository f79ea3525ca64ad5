// JSON Schema -> grammar: random documents produced by walking the matcher with random allowed
// tokens must parse as JSON and validate against the schema (a small validator for the supported
// subset lives here); invalid documents are rejected; conversion errors name the pointer.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <random>
#include <regex>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "dari/grammar/json_schema.h"
#include "dari/grammar/matcher.h"
#include "grammar_test_util.h"

namespace dari::grammar {
namespace {

using nlohmann::json;
using testing::bit;
using testing::brute_force_mask;
using testing::mask_diff;
using testing::mask_of;

// ---- Validator for the supported subset (oneOf checked as anyOf, as the converter does). ----

size_t code_points(const std::string& s) {
  size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

const json* resolve(const json& root, const std::string& ref) {
  if (ref == "#") return &root;
  const json* cur = &root;
  size_t i = 2;
  while (i <= ref.size()) {
    size_t slash = ref.find('/', i);
    if (slash == std::string::npos) slash = ref.size();
    const std::string tok = ref.substr(i, slash - i);
    if (cur->is_object() && cur->contains(tok)) {
      cur = &(*cur)[tok];
    } else if (cur->is_array()) {
      cur = &(*cur)[std::stoul(tok)];
    } else {
      return nullptr;
    }
    i = slash + 1;
  }
  return cur;
}

bool matches_format(const std::string& fmt, const std::string& s) {
  static const std::string date = R"(\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01]))";
  static const std::string time =
      R"(([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d{1,9})?([Zz]|[+-]([01]\d|2[0-3]):[0-5]\d))";
  if (fmt == "date") return std::regex_match(s, std::regex(date));
  if (fmt == "time") return std::regex_match(s, std::regex(time));
  if (fmt == "date-time") return std::regex_match(s, std::regex(date + "[Tt]" + time));
  if (fmt == "uuid") {
    return std::regex_match(
        s,
        std::regex("[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"));
  }
  if (fmt == "email") {
    return std::regex_match(
        s, std::regex(R"([A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+)"));
  }
  return true;
}

bool type_ok(const std::string& t, const json& v) {
  if (t == "string") return v.is_string();
  if (t == "number") return v.is_number();
  // Integers beyond 64 bits parse as floating point.
  if (t == "integer") {
    return v.is_number_integer() ||
           (v.is_number_float() && std::trunc(v.get<double>()) == v.get<double>() &&
            std::abs(v.get<double>()) > 9e18);
  }
  if (t == "boolean") return v.is_boolean();
  if (t == "null") return v.is_null();
  if (t == "object") return v.is_object();
  if (t == "array") return v.is_array();
  return false;
}

bool validate(const json& root, const json& s, const json& v, bool strict) {
  if (s.is_boolean()) return s.get<bool>();
  if (s.contains("$ref")) {
    const json* t = resolve(root, s["$ref"].get<std::string>());
    if (t == nullptr || !validate(root, *t, v, strict)) return false;
  }
  if (s.contains("allOf")) {
    // The parts are merged: each is checked without the strict "no extras" rule, then the
    // merged property names are.
    std::set<std::string> names;
    bool extras = false;
    for (const json& sub : s["allOf"]) {
      if (!validate(root, sub, v, false)) return false;
      if (sub.contains("properties")) {
        for (auto it = sub["properties"].begin(); it != sub["properties"].end(); ++it) {
          names.insert(it.key());
        }
      }
      if (sub.contains("required")) {
        for (const json& r : sub["required"]) names.insert(r.get<std::string>());
      }
      extras = extras || sub.contains("additionalProperties");
    }
    if (strict && !extras && v.is_object()) {
      for (auto it = v.begin(); it != v.end(); ++it) {
        if (names.count(it.key()) == 0) return false;
      }
    }
  }
  for (const char* k : {"anyOf", "oneOf"}) {
    if (!s.contains(k)) continue;
    bool any = false;
    for (const json& sub : s[k]) any = any || validate(root, sub, v, strict);
    if (!any) return false;
  }
  if (s.contains("const") && s["const"] != v) return false;
  if (s.contains("enum")) {
    bool in = false;
    for (const json& e : s["enum"]) in = in || e == v;
    if (!in) return false;
  }
  if (s.contains("type")) {
    bool ok = false;
    if (s["type"].is_string()) ok = type_ok(s["type"].get<std::string>(), v);
    if (s["type"].is_array()) {
      for (const json& t : s["type"]) ok = ok || type_ok(t.get<std::string>(), v);
    }
    if (!ok) return false;
  }
  if (v.is_number() && s.contains("minimum") && v.get<double>() < 0 &&
      s["minimum"].get<double>() >= 0) {
    return false;
  }
  if (v.is_string()) {
    const std::string str = v.get<std::string>();
    if (s.contains("minLength") && code_points(str) < s["minLength"].get<size_t>()) return false;
    if (s.contains("maxLength") && code_points(str) > s["maxLength"].get<size_t>()) return false;
    if (s.contains("format") && !matches_format(s["format"].get<std::string>(), str)) return false;
  }
  if (v.is_object() && (s.contains("properties") || s.contains("required") ||
                        s.contains("additionalProperties") || s.value("type", "") == "object")) {
    const json props = s.value("properties", json::object());
    for (const json& r : s.value("required", json::array())) {
      if (!v.contains(r.get<std::string>())) return false;
    }
    for (auto it = v.begin(); it != v.end(); ++it) {
      if (props.contains(it.key())) {
        if (!validate(root, props[it.key()], it.value(), strict)) return false;
        continue;
      }
      bool listed_required = false;
      for (const json& r : s.value("required", json::array())) {
        listed_required = listed_required || r == it.key();
      }
      if (listed_required) continue;
      if (!s.contains("additionalProperties")) {
        if (strict && !s.contains("allOf")) return false;
        continue;
      }
      if (!validate(root, s["additionalProperties"], it.value(), strict)) return false;
    }
  }
  if (v.is_array()) {
    if (s.contains("minItems") && v.size() < s["minItems"].get<size_t>()) return false;
    if (s.contains("maxItems") && v.size() > s["maxItems"].get<size_t>()) return false;
    size_t k = 0;
    if (s.contains("prefixItems")) {
      const json& p = s["prefixItems"];
      for (; k < p.size() && k < v.size(); ++k) {
        if (!validate(root, p[k], v[k], strict)) return false;
      }
      if (!s.contains("items") && strict && v.size() > p.size()) return false;
    }
    if (s.contains("items")) {
      for (size_t i = k; i < v.size(); ++i) {
        if (!validate(root, s["items"], v[i], strict)) return false;
      }
    }
  }
  return true;
}

// ---- Random documents by walking the matcher. ----

std::shared_ptr<const Vocabulary> json_vocab() {
  std::vector<std::string> toks;
  for (int c = 0x20; c < 0x7F; ++c) toks.emplace_back(1, static_cast<char>(c));
  for (const char* t :
       {"\n",    "\t",       "  ",   "{\"",    "\":",      "\": ",  "\",",  "\"}",
        "\"]",   "},",       "}]",   "],",     "true",     "false", "null", "12",
        "0.5",   "e+",       "-1",   "\\n",    "\\u00e9",  "\\\"",  "name", "value",
        "2024-", "01-",      "T12:", "00:00Z", "\xC3\xA9", "\xC3",  "\xA9", "\xF0\x9F\x98\x80",
        "\xF0",  "\x9F\x98", "\x80", "\"a",    "a\"",      "@ex",   ".com", "-4a1b-"}) {
    toks.emplace_back(t);
  }
  toks.emplace_back("");  // a special token
  toks.emplace_back("<eos>");
  return testing::make_vocab(toks, {static_cast<int32_t>(toks.size() - 1)});
}

struct Walked {
  bool finished = false;
  std::string text;
};

Walked random_document(Matcher m, const Vocabulary& v, std::mt19937& rng, bool check_masks) {
  Walked out;
  for (int step = 0; step < 4000; ++step) {
    const auto bits = mask_of(m, v);
    if (check_masks && step % 7 == 0) {
      const auto want = brute_force_mask(m, v);
      EXPECT_EQ(bits, want) << "after '" << out.text << "'\n" << mask_diff(bits, want, v);
    }
    std::vector<int32_t> allowed;
    std::vector<double> weights;
    for (size_t t = 0; t < v.size(); ++t) {
      if (!bit(bits, t)) continue;
      const std::string_view tok = v.token(static_cast<int32_t>(t));
      double w = 1.0;
      if (v.is_eog(static_cast<int32_t>(t)))
        w = 40.0;
      else if (tok[0] == '"' || tok[0] == '}' || tok[0] == ']')
        w = 15.0;
      else if (tok[0] == ' ' || tok[0] == '\n' || tok[0] == '\t')
        w = 0.3;
      else if (tok[0] == '[' || tok[0] == '{')
        w = 0.5;
      allowed.push_back(static_cast<int32_t>(t));
      weights.push_back(w);
    }
    if (allowed.empty()) {
      ADD_FAILURE() << "nothing allowed after '" << out.text << "'";
      return out;
    }
    std::discrete_distribution<size_t> pick(weights.begin(), weights.end());
    const int32_t tok = allowed[pick(rng)];
    EXPECT_TRUE(m.accept(tok));
    if (m.terminated()) {
      out.finished = true;
      return out;
    }
    out.text += v.token(tok);
  }
  return out;
}

void check_schema(const json& schema, int docs, const SchemaOptions& opt = {}) {
  auto g = compile_json_schema(schema, opt);
  ASSERT_TRUE(g.ok()) << g.message() << "\nschema: " << schema.dump();
  auto v = json_vocab();
  auto m0 = Matcher::create(*g, v);
  ASSERT_TRUE(m0.ok()) << m0.message();
  std::mt19937 rng(static_cast<uint32_t>(std::hash<std::string>{}(schema.dump())));
  int finished = 0;
  for (int d = 0; d < docs; ++d) {
    Walked w = random_document(*m0, *v, rng, d < 2);
    if (!w.finished) continue;
    ++finished;
    json doc = json::parse(w.text, nullptr, false);
    ASSERT_FALSE(doc.is_discarded()) << "not JSON: " << w.text;
    EXPECT_TRUE(validate(schema, schema, doc, opt.strict))
        << "invalid: " << w.text << "\nschema: " << schema.dump();
  }
  EXPECT_GE(finished, docs / 2) << schema.dump();
}

bool accepts(const json& schema, const std::string& doc, const SchemaOptions& opt = {}) {
  auto g = compile_json_schema(schema, opt);
  EXPECT_TRUE(g.ok()) << g.message();
  if (!g.ok()) return false;
  return testing::full_match(*g, doc);
}

std::string schema_error(const json& schema, const SchemaOptions& opt = {}) {
  auto r = json_schema_to_gbnf(schema, opt);
  EXPECT_FALSE(r.ok()) << *r;
  return r.ok() ? std::string() : r.message();
}

TEST(JsonSchema, SimpleObject) {
  const json s = json::parse(R"({"type":"object","properties":{
      "name":{"type":"string"},"age":{"type":"integer"},"ok":{"type":"boolean"}},
      "required":["name","age","ok"]})");
  check_schema(s, 20);
  EXPECT_TRUE(accepts(s, R"({"age": 3, "name": "x", "ok": true})"));  // json keys are sorted
  EXPECT_TRUE(accepts(s, "{\n  \"age\": -12,\n  \"name\": \"\\u00e9\\n\",\n  \"ok\": false\n}"));
  EXPECT_FALSE(accepts(s, R"({"age": 3, "name": "x"})"));
  EXPECT_FALSE(accepts(s, R"({"age": 3.5, "name": "x", "ok": true})"));
  EXPECT_FALSE(accepts(s, R"({"age": 3, "name": "x", "ok": true, "extra": 1})"));
  EXPECT_FALSE(accepts(s, R"({"age": 03, "name": "x", "ok": true})"));
  EXPECT_FALSE(accepts(s, R"({"age": 3, "name": "x	", "ok": true})"));  // raw tab in string
}

TEST(JsonSchema, PropertyOrderFollowsOrderedJson) {
  const auto s = nlohmann::ordered_json::parse(
      R"({"type":"object","properties":{"zeta":{"type":"integer"},"alpha":{"type":"integer"}},
          "required":["zeta","alpha"]})");
  auto g = compile_json_schema(s);
  ASSERT_TRUE(g.ok()) << g.message();
  EXPECT_TRUE(testing::full_match(*g, R"({"zeta": 1, "alpha": 2})"));
  EXPECT_FALSE(testing::full_match(*g, R"({"alpha": 2, "zeta": 1})"));
}

TEST(JsonSchema, OptionalPropertiesAndExtras) {
  const json s = json::parse(R"({"type":"object","properties":{
      "a":{"type":"integer"},"b":{"type":"string"},"c":{"type":"null"}},"required":["b"]})");
  check_schema(s, 20);
  EXPECT_TRUE(accepts(s, R"({"b": ""})"));
  EXPECT_TRUE(accepts(s, R"({"a": 1, "b": "", "c": null})"));
  EXPECT_TRUE(accepts(s, R"({"b": "", "c": null})"));
  EXPECT_FALSE(accepts(s, R"({"a": 1})"));
  EXPECT_FALSE(accepts(s, R"({"a": 1, , "b": ""})"));
  EXPECT_FALSE(accepts(s, R"({"b": "",})"));
  EXPECT_FALSE(accepts(s, R"({"b": "", "zz": 1})"));  // strict: no extras
  SchemaOptions loose;
  loose.strict = false;
  check_schema(s, 20, loose);
  EXPECT_TRUE(accepts(s, R"({"b": "", "zz": [1, {"q": null}]})", loose));
  EXPECT_TRUE(accepts(s, R"({"zz": 1, "b": ""})", loose) == false);  // extras come last
  const json extra_schema = json::parse(
      R"({"type":"object","properties":{"id":{"type":"integer"}},"required":["id"],
          "additionalProperties":{"type":"boolean"}})");
  check_schema(extra_schema, 15);
  EXPECT_TRUE(accepts(extra_schema, R"({"id": 1, "x": true, "y": false})"));
  EXPECT_FALSE(accepts(extra_schema, R"({"id": 1, "x": 1})"));
}

TEST(JsonSchema, ArraysAndTuples) {
  const json s = json::parse(R"({"type":"array","items":{"type":"integer"},
                                 "minItems":2,"maxItems":4})");
  check_schema(s, 20);
  EXPECT_TRUE(accepts(s, "[1, 2]"));
  EXPECT_TRUE(accepts(s, "[1,2,3,4]"));
  EXPECT_FALSE(accepts(s, "[1]"));
  EXPECT_FALSE(accepts(s, "[1,2,3,4,5]"));
  EXPECT_FALSE(accepts(s, "[1,2,]"));
  const json t = json::parse(R"({"type":"array","prefixItems":[{"type":"string"},
                                 {"type":"boolean"}],"items":{"type":"null"},"minItems":1})");
  check_schema(t, 20);
  EXPECT_TRUE(accepts(t, R"(["a"])"));
  EXPECT_TRUE(accepts(t, R"(["a", true, null, null])"));
  EXPECT_FALSE(accepts(t, R"([])"));
  EXPECT_FALSE(accepts(t, R"([true])"));
  EXPECT_FALSE(accepts(t, R"(["a", true, 1])"));
  const json empty = json::parse(R"({"type":"array","maxItems":0})");
  EXPECT_TRUE(accepts(empty, "[ ]"));
  EXPECT_FALSE(accepts(empty, "[1]"));
}

TEST(JsonSchema, EnumConstAnyOfTypes) {
  const json e = json::parse(R"({"enum":["red","gr\"een",3,null,{"a":[1]}]})");
  check_schema(e, 20);
  EXPECT_TRUE(accepts(e, R"("gr\"een")"));
  EXPECT_TRUE(accepts(e, R"({"a":[1]})"));
  EXPECT_FALSE(accepts(e, R"("blue")"));
  const json c = json::parse(R"({"const":"fixed"})");
  EXPECT_TRUE(accepts(c, R"("fixed")"));
  EXPECT_FALSE(accepts(c, R"("fixe")"));
  const json a = json::parse(R"({"anyOf":[{"type":"integer"},
      {"type":"object","properties":{"k":{"type":"string"}},"required":["k"]}]})");
  check_schema(a, 20);
  const json o = json::parse(R"({"oneOf":[{"type":"boolean"},{"type":"null"}]})");
  check_schema(o, 10);
  const json types = json::parse(R"({"type":["string","null"]})");
  check_schema(types, 10);
  EXPECT_TRUE(accepts(types, "null"));
  EXPECT_TRUE(accepts(types, "\"x\""));
  EXPECT_FALSE(accepts(types, "1"));
  const json nonneg = json::parse(R"({"type":"number","minimum":0})");
  check_schema(nonneg, 10);
  EXPECT_FALSE(accepts(nonneg, "-1"));
  EXPECT_TRUE(accepts(nonneg, "1.5e+3"));
}

TEST(JsonSchema, AllOfMergesObjects) {
  const json s = json::parse(R"({"allOf":[
      {"type":"object","properties":{"a":{"type":"integer"}},"required":["a"]},
      {"properties":{"b":{"type":"string"}},"required":["b"]}]})");
  check_schema(s, 15);
  EXPECT_TRUE(accepts(s, R"({"a": 1, "b": "x"})"));
  EXPECT_FALSE(accepts(s, R"({"a": 1})"));
  EXPECT_NE(schema_error(json::parse(R"({"allOf":[{"type":"string"},{"type":"integer"}]})"))
                .find("do not intersect"),
            std::string::npos);
}

TEST(JsonSchema, RecursiveRefs) {
  const json s = json::parse(R"({"$defs":{"node":{"type":"object","properties":{
      "value":{"type":"integer"},
      "children":{"type":"array","items":{"$ref":"#/$defs/node"},"maxItems":2}},
      "required":["value","children"]}},"$ref":"#/$defs/node"})");
  check_schema(s, 20);
  // nlohmann::json sorts keys: "children" comes first.
  EXPECT_TRUE(accepts(s, R"({"children": [{"children": [], "value": 2}], "value": 1})"));
  EXPECT_FALSE(accepts(s, R"({"children": [{"value": 2}], "value": 1})"));
  const json defs = json::parse(R"({"definitions":{"p":{"type":"string"}},
      "type":"object","properties":{"x":{"$ref":"#/definitions/p"}},"required":["x"]})");
  EXPECT_TRUE(accepts(defs, R"({"x": "y"})"));
}

TEST(JsonSchema, StringsFormatsAndLengths) {
  for (const char* fmt : {"date", "time", "date-time", "uuid", "email"}) {
    json s = {{"type", "string"}, {"format", fmt}};
    check_schema(s, 10);
  }
  EXPECT_TRUE(accepts(json{{"type", "string"}, {"format", "date"}}, "\"2024-02-29\""));
  EXPECT_FALSE(accepts(json{{"type", "string"}, {"format", "date"}}, "\"2024-13-01\""));
  EXPECT_TRUE(accepts(json{{"type", "string"}, {"format", "date-time"}},
                      "\"2024-01-02T03:04:05.123+02:00\""));
  EXPECT_TRUE(accepts(json{{"type", "string"}, {"format", "uuid"}},
                      "\"123e4567-e89b-12d3-a456-426614174000\""));
  EXPECT_TRUE(accepts(json{{"type", "string"}, {"format", "email"}}, "\"a.b@ex.com\""));
  EXPECT_FALSE(accepts(json{{"type", "string"}, {"format", "email"}}, "\"a.b@excom\""));
  const json len = json::parse(R"({"type":"string","minLength":2,"maxLength":5})");
  check_schema(len, 20);
  EXPECT_TRUE(accepts(len, "\"\xC3\xA9\\n\""));  // two characters
  EXPECT_FALSE(accepts(len, "\"a\""));
  EXPECT_FALSE(accepts(len, "\"abcdef\""));
}

TEST(JsonSchema, AnyValueAndJsonObject) {
  check_schema(json::object(), 20);
  check_schema(json(true), 10);
  auto g = compile_gbnf(any_json_object_gbnf());
  ASSERT_TRUE(g.ok()) << g.message();
  EXPECT_TRUE(testing::full_match(*g, R"( {"a": [1, 2.5, "x", {"b": null}], "c": true} )"));
  EXPECT_FALSE(testing::full_match(*g, R"([1])"));
  EXPECT_FALSE(testing::full_match(*g, R"({"a": 1,})"));
  EXPECT_FALSE(testing::full_match(*g, "{\"a\": 1}" + std::string(30, ' ')));  // bounded ws
  EXPECT_TRUE(testing::full_match(*g, "{\"a\": 1}" + std::string(20, ' ')));
  auto compact = compile_gbnf(any_json_object_gbnf(0));
  ASSERT_TRUE(compact.ok());
  EXPECT_FALSE(testing::full_match(*compact, R"({"a": 1})"));
  EXPECT_TRUE(testing::full_match(*compact, R"({"a":1})"));
}

TEST(JsonSchema, ErrorsNameThePointer) {
  EXPECT_NE(schema_error(json::parse(R"({"type":"object","properties":{"a":
      {"type":"string","pattern":"x+"}}})"))
                .find("/properties/a/pattern"),
            std::string::npos);
  SchemaOptions permissive;
  permissive.permissive = true;
  EXPECT_TRUE(
      json_schema_to_gbnf(json::parse(R"({"type":"string","pattern":"x+"})"), permissive).ok());
  EXPECT_NE(schema_error(json::parse(R"({"properties":{"a":{"$ref":"#/$defs/missing"}}})"))
                .find("at /properties/a: unresolvable $ref '#/$defs/missing'"),
            std::string::npos);
  EXPECT_NE(schema_error(json::parse(R"({"$ref":"http://example.com/s.json"})")).find("only local"),
            std::string::npos);
  EXPECT_NE(schema_error(json::parse(R"({"items":false,"minItems":1})")).find("minItems"),
            std::string::npos);
  EXPECT_NE(schema_error(json(false)).find("matches nothing"), std::string::npos);
  EXPECT_NE(schema_error(json::parse(R"({"type":"strin"})")).find("/type: unknown type"),
            std::string::npos);
  EXPECT_NE(schema_error(json::parse(R"({"type":"string","maxLength":100000})")).find("/maxLength"),
            std::string::npos);
}

}  // namespace
}  // namespace dari::grammar
