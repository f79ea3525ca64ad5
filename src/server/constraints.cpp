// Output constraints of a request compiled into grammars (see constraints.h).
#include "constraints.h"

#include "dari/engine/grammar_constraint.h"
#include "dari/grammar/json_schema.h"
#include "dari/grammar/matcher.h"
#include "dari/tokenizer/tokenizer.h"

namespace dari::server {

namespace {

using ojson = nlohmann::ordered_json;

// {"name": {"const": NAME}, "arguments": PARAMETERS} as one JSON Schema; each tool's $defs move to
// the root so that its "#/$defs/..." references still resolve.
ojson call_schema(const ToolDef& t, ojson* defs) {
  ojson params = t.parameters.is_null() ? ojson{{"type", "object"}} : t.parameters;
  for (const char* key : {"$defs", "definitions"}) {
    if (params.is_object() && params.contains(key) && params[key].is_object()) {
      for (const auto& [k, v] : params[key].items()) (*defs)[key][k] = v;
      params.erase(key);
    }
  }
  return {{"type", "object"},
          {"properties", {{"name", {{"const", t.name}}}, {"arguments", params}}},
          {"required", {"name", "arguments"}},
          {"additionalProperties", false}};
}

// Calls in one forced parallel answer.
constexpr int kMaxCalls = 16;

ojson tool_call_schema(const ApiRequest& req) {
  ojson defs = ojson::object();
  ojson calls = ojson::array();
  for (const auto& t : req.tools) {
    if (req.tool_choice == ToolChoice::kNamed && t.name != req.tool_choice_name) continue;
    calls.push_back(call_schema(t, &defs));
  }
  ojson one = calls.size() == 1 ? calls[0] : ojson{{"anyOf", calls}};
  ojson root = one;
  if (req.tool_choice == ToolChoice::kRequired && req.parallel_tool_calls) {
    root = {{"type", "object"},
            {"properties",
             {{"tool_calls",
               {{"type", "array"}, {"items", one}, {"minItems", 1}, {"maxItems", kMaxCalls}}}}},
            {"required", {"tool_calls"}},
            {"additionalProperties", false}};
  }
  for (const auto& [k, v] : defs.items()) root[k] = v;
  return root;
}

ApiError grammar_error(const std::string& param, const std::string& what) {
  return bad_request(param, "'" + param + "': " + what, "invalid_value");
}

}  // namespace

bool ConstraintBuilder::forces_tool_call(const ApiRequest& req) {
  return !req.tools.empty() &&
         (req.tool_choice == ToolChoice::kRequired || req.tool_choice == ToolChoice::kNamed);
}

Result<std::shared_ptr<const grammar::Vocabulary>> ConstraintBuilder::vocabulary(
    const Tokenizer& tok) {
  std::lock_guard<std::mutex> lock(mu_);
  const void* owner = &tok.impl();
  if (vocab_ && vocab_owner_ == owner) return vocab_;
  DARI_ASSIGN_OR_RETURN(vocab_, grammar_vocabulary(tok));
  vocab_owner_ = owner;
  return vocab_;
}

Result<std::shared_ptr<const grammar::Grammar>> ConstraintBuilder::compile(const std::string& gbnf,
                                                                          bool generated,
                                                                          bool* fresh) {
  *fresh = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = cache_.find(gbnf);
    if (it != cache_.end()) {
      lru_.splice(lru_.begin(), lru_, it->second.second);
      return it->second.first;
    }
  }
  // Compiled outside the lock (bounded by the grammar limits); a race compiles twice, harmlessly.
  // Text made from a schema is bounded by the schema limits, not by the GBNF source limit.
  grammar::GrammarLimits limits;
  if (generated) limits.max_source_bytes = 16u << 20;
  DARI_ASSIGN_OR_RETURN(std::shared_ptr<const grammar::Grammar> g,
                        grammar::compile_gbnf(gbnf, limits));
  std::lock_guard<std::mutex> lock(mu_);
  *fresh = true;
  if (cache_.count(gbnf) == 0) {
    lru_.push_front(gbnf);
    cache_[gbnf] = {g, lru_.begin()};
    if (cache_.size() > kMaxCached) {
      cache_.erase(lru_.back());
      lru_.pop_back();
    }
  }
  return g;
}

std::variant<std::shared_ptr<const TokenConstraintFactory>, ApiError> ConstraintBuilder::build(
    const ApiRequest& req, const Tokenizer& tok) {
  std::string param;
  Result<std::string> gbnf = std::string();
  grammar::SchemaOptions so;
  if (forces_tool_call(req)) {
    param = "tools";
    so.strict = true;
    so.permissive = true;
    // Calls are data for a program, not text for a reader: little room for layout, so that a
    // model cannot spend its tokens on whitespace.
    so.max_whitespace = 2;
    gbnf = grammar::json_schema_to_gbnf(tool_call_schema(req), so);
  } else {
    const OutputConstraint& c = req.output;
    param = c.param;
    switch (c.kind) {
      case OutputConstraint::Kind::kText:
        return std::shared_ptr<const TokenConstraintFactory>();
      case OutputConstraint::Kind::kJsonObject:
        gbnf = grammar::any_json_object_gbnf();
        break;
      case OutputConstraint::Kind::kJsonSchema:
        so.strict = c.strict;
        so.permissive = !c.strict;
        gbnf = grammar::json_schema_to_gbnf(c.schema, so);
        if (c.param == "response_format") param = "response_format.json_schema.schema";
        break;
      case OutputConstraint::Kind::kGrammar:
        gbnf = c.grammar;
        break;
    }
  }
  if (!gbnf.ok()) return grammar_error(param, gbnf.message());
  const bool generated =
      forces_tool_call(req) || req.output.kind != OutputConstraint::Kind::kGrammar;
  bool fresh = false;
  auto g = compile(*gbnf, generated, &fresh);
  if (!g.ok()) return grammar_error(param, g.message());
  auto v = vocabulary(tok);
  if (!v.ok()) {
    ApiError e;
    e.status = 500;
    e.type = "server_error";
    e.message = "grammar vocabulary: " + v.message();
    return e;
  }
  auto f = grammar_constraint(*g, *v);
  if (!f.ok()) return grammar_error(param, f.message());
  if (fresh) grammar::precompute_masks(*g, *v, grammar::kPrecomputeBudget);
  return *f;
}

}  // namespace dari::server
