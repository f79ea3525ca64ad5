// Output constraints of a request: response_format (json_object, json_schema), the `grammar` and
// `json_schema` extensions, and forced tool calls (tool_choice "required" or a named function),
// each compiled into a grammar that the sampler enforces token by token.
//
// Forced tool calls use one JSON shape whatever the model's chat template, so that the grammar
// never needs a template's special marker tokens: {"name": NAME, "arguments": {...}} for one call
// and {"tool_calls": [call, ...]} (at most 16) when parallel calls are allowed; the output is then read with
// the generic JSON tool-call parser. Each tool's arguments follow its `parameters` schema (strict:
// no properties beyond those listed; keywords the converter does not enforce are ignored), with
// at most 2 bytes of whitespace at each place.
//
// Grammars are cached by their GBNF text (the last kMaxCached), so requests that repeat a schema
// share one compiled grammar and its token-mask cache. The model's grammar vocabulary is built on
// first use. A newly compiled grammar's masks are precomputed here (up to
// grammar::kPrecomputeBudget, on the calling thread, before the request reaches the engine), so
// that first masks do not walk the vocabulary on the token path; what the budget leaves is
// computed when first needed.
//
// Thread safety: build() may be called from any thread (the server's prepare workers).
#pragma once

#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <variant>

#include "dari/grammar/grammar.h"
#include "dari/grammar/vocabulary.h"
#include "dari/sampling/sampler.h"
#include "dari/server/api.h"

namespace dari {
class Tokenizer;
}

namespace dari::server {

class ConstraintBuilder {
 public:
  static constexpr size_t kMaxCached = 64;

  // The sampler constraint for `req` (null: unconstrained), or the 400 naming the field.
  std::variant<std::shared_ptr<const TokenConstraintFactory>, ApiError> build(
      const ApiRequest& req, const Tokenizer& tok);
  // True when build() forced a tool call for `req` (its output is the generic JSON shape).
  static bool forces_tool_call(const ApiRequest& req);

 private:
  Result<std::shared_ptr<const grammar::Vocabulary>> vocabulary(const Tokenizer& tok);
  // generated: the text came from a schema (its size was bounded there). *fresh: not cached.
  Result<std::shared_ptr<const grammar::Grammar>> compile(const std::string& gbnf, bool generated,
                                                          bool* fresh);

  std::mutex mu_;
  const void* vocab_owner_ = nullptr;  // the tokenizer state the vocabulary was built from
  std::shared_ptr<const grammar::Vocabulary> vocab_;
  std::list<std::string> lru_;  // most recent first
  std::unordered_map<std::string,
                     std::pair<std::shared_ptr<const grammar::Grammar>,
                               std::list<std::string>::iterator>>
      cache_;
};

}  // namespace dari::server
