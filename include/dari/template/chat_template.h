// Chat templates: render a conversation with a model's Jinja chat template, the way Hugging
// Face transformers' apply_chat_template(..., tokenize=False) does.
//
// Conventions (they match the goldens in testdata/chat-templates):
//  - Options default to trim_blocks=true, lstrip_blocks=true (transformers' environment), with
//    break/continue enabled and no autoescaping. As in Python Jinja, `safe` and `escape` still
//    make Markup values, and Markup + str escapes the str (meetkai-functionary-v3.1's tool list).
//  - Variables: messages, add_generation_prompt, bos_token / eos_token (each only when set),
//    tools (only when not null: the *-tool_use templates fail when tools is defined as None),
//    then every extra variable (extra variables override the standard ones).
//  - Globals: raise_exception(msg) fails the render with msg; strftime_now(fmt) formats `now`
//    (UTC); range, namespace, dict, joiner.
//  - tojson is Python json.dumps(ensure_ascii=False, separators (", ", ": ")), keeping key order.
//    Pass messages/tools as nlohmann::ordered_json (a plain nlohmann::json converts implicitly,
//    but its keys are sorted, which changes tojson output).
//  - Limits: RenderLimits (output size, list size, loop iterations, steps, depth) stop
//    pathological templates with an error instead of a hang or a crash.
//
// Thread safety: pure functions of their arguments.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "dari/core/result.h"
#include "dari/template/template.h"

namespace dari::jinja {

struct ChatTemplateInputs {
  nlohmann::ordered_json messages = nlohmann::ordered_json::array();  // [{role, content, ...}]
  nlohmann::ordered_json tools = nullptr;  // null: `tools` is not defined for the template
  bool add_generation_prompt = false;
  std::optional<std::string> bos_token;  // nullopt: not defined
  std::optional<std::string> eos_token;
  std::map<std::string, nlohmann::ordered_json> extra_vars;  // e.g. date_string
  std::chrono::system_clock::time_point now{};  // what strftime_now() formats
  TemplateOptions options{/*trim_blocks=*/true, /*lstrip_blocks=*/true};
  RenderLimits limits{};
};

// Builds the render context (the JSON object of variables) from `inputs`.
nlohmann::ordered_json chat_template_context(const ChatTemplateInputs& inputs);

// Parses `source` and renders it. Errors carry "line L, column C: message"; for a template's
// raise_exception("...") the message is the template's text.
Result<std::string> render_chat_template(const std::string& source, const ChatTemplateInputs& inputs);

// Plain format for models without a chat template: one "<role>: <content>\n" line per message
// (content arrays contribute their "text" parts, joined without separator; missing or null
// content is empty), then "assistant: " when add_generation_prompt is set.
std::string render_plain_fallback(const nlohmann::ordered_json& messages, bool add_generation_prompt);

}  // namespace dari::jinja
