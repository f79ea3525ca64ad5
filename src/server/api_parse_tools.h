// Parsers for the agent-facing request fields: tools, tool_choice, the legacy functions /
// function_call, response_format (and the json_schema / grammar extensions),
// chat_template_kwargs, and an assistant message's tool_calls. Each returns the 400 to send or
// nullopt. Pure functions; any thread.
#pragma once

#include <optional>
#include <string>

#include "api_parse_util.h"
#include "dari/engine/chat.h"
#include "dari/server/api.h"

namespace dari::server::parse {

std::optional<ApiError> parse_tools(const json& v, const ApiLimits& lim, ApiRequest* r);
std::optional<ApiError> parse_functions(const json& v, const ApiLimits& lim, ApiRequest* r);
// tool_choice (or, with `legacy`, function_call).
std::optional<ApiError> parse_tool_choice(const json& v, bool legacy, ApiRequest* r);
// Once every field is read: a named choice names a tool that exists; defaults.
std::optional<ApiError> finish_tools(ApiRequest* r);
std::optional<ApiError> parse_response_format(const json& v, const ApiLimits& lim,
                                              ApiRequest* r);
// The llama.cpp extensions: `json_schema` (a schema object) and `grammar` (GBNF text).
std::optional<ApiError> parse_json_schema_field(const json& v, const ApiLimits& lim,
                                                ApiRequest* r);
std::optional<ApiError> parse_grammar_field(const json& v, const ApiLimits& lim, ApiRequest* r);
std::optional<ApiError> parse_template_kwargs(const json& v, const ApiLimits& lim,
                                              ApiRequest* r);
// messages[i].tool_calls; `param` is "messages[i].tool_calls".
std::optional<ApiError> parse_message_tool_calls(const json& v, const std::string& param,
                                                 const ApiLimits& lim, ChatMessage* msg);

}  // namespace dari::server::parse
