// OpenAI request parsing and validation for `dari serve` (no I/O, no model access).
//
// parse_chat_request() / parse_completion_request() turn a request body into a validated
// ApiRequest or an ApiError carrying the HTTP status, OpenAI error type, the field at fault
// ("param", e.g. "messages[1].role") and a code. Every field of OpenAI's chat completions and
// completions references is accepted and type- and range-checked, as are the common extensions
// of llama.cpp and vLLM (top_k, min_p, typical_p, repetition_penalty, grammar,
// chat_template_kwargs, ...); docs/API.md lists each field and what dari does with it. Fields
// the server does not know are ignored and listed in ApiRequest::ignored_fields (the server
// counts them in /metrics), or rejected with 400 when ApiLimits::strict is set. A value dari
// cannot honour (an image part, audio output, best_of above n) is a 400 naming the field.
// Model-dependent checks (token ids < n_vocab, prompt length vs the context, a grammar against
// the vocabulary) happen later, in the request handler, once the prompt is tokenized.
//
// Thread safety: pure functions over their arguments; callable from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "dari/engine/chat.h"

namespace dari::server {

// An error response: {"error": {"message", "type", "param", "code"}} with `status`.
struct ApiError {
  int status = 400;
  std::string message;
  std::string type = "invalid_request_error";
  std::string param;      // "" → null
  std::string code;       // "" → null
  int retry_after_s = 0;  // > 0: a Retry-After header (429/503)
};

ApiError bad_request(std::string param, std::string message, std::string code = "");

// Size limits applied while parsing (the body size itself is limited by the transport).
struct ApiLimits {
  uint32_t max_n = 16;        // choices per prompt
  uint32_t max_choices = 64;  // prompts x n
  uint32_t max_messages = 4096;
  uint32_t max_prompts = 64;  // entries of a completions prompt array
  uint32_t max_stop = 4;      // OpenAI allows up to 4 stop sequences
  uint32_t max_stop_bytes = 256;
  uint32_t max_logit_bias = 1024;
  uint32_t max_user_bytes = 1024;
  uint32_t max_model_bytes = 512;
  uint32_t max_json_depth = 64;
  uint32_t max_tools = 128;
  uint32_t max_tool_calls = 128;          // per assistant message
  uint64_t max_schema_bytes = 256u << 10;  // one tool's parameters or a response schema, as JSON
  uint64_t max_grammar_bytes = 256u << 10;
  uint32_t max_template_kwargs = 64;
  uint32_t max_ignored_fields = 64;  // unknown field names kept for the metrics per request
  // Reject unknown fields (400 unknown_field) instead of ignoring them (`--strict-api`).
  bool strict = false;
};

// One function the model may call (`tools[i]`, type "function").
struct ToolDef {
  std::string name;  // [A-Za-z0-9_-], 1..64 bytes
  std::string description;
  nlohmann::ordered_json parameters;  // JSON Schema of the arguments; null: none (key order kept)
  bool strict = false;
};

// `tool_choice`: none (never call), auto (model decides), required (at least one call), or one
// named function.
enum class ToolChoice { kNone, kAuto, kRequired, kNamed };

// `response_format` (or the extensions `json_schema` / `grammar`).
struct OutputConstraint {
  enum class Kind { kText, kJsonObject, kJsonSchema, kGrammar };
  Kind kind = Kind::kText;
  nlohmann::ordered_json schema;  // kJsonSchema (kJsonObject with a schema becomes kJsonSchema)
  std::string name;       // json_schema.name
  bool strict = false;    // json_schema.strict
  std::string grammar;    // kGrammar: GBNF source
  std::string param;      // the request field it came from, for errors ("response_format")
};

enum class Endpoint { kChat, kCompletions, kMessages };

// A completions prompt entry: text (tokenized later) or token ids.
using PromptInput = std::variant<std::string, std::vector<int32_t>>;

struct ApiRequest {
  Endpoint endpoint = Endpoint::kChat;
  std::string model;
  std::vector<ChatMessage> messages;  // chat
  std::vector<PromptInput> prompts;   // completions (at least one)
  std::optional<int32_t> max_tokens;  // >= 1 when set
  float temperature = 1.0f;           // [0, 2]
  float top_p = 1.0f;                 // (0, 1]
  std::vector<std::string> stop;
  std::optional<int64_t> seed;
  uint32_t n = 1;
  float presence_penalty = 0.0f;        // [-2, 2]
  float frequency_penalty = 0.0f;       // [-2, 2]
  std::map<int32_t, float> logit_bias;  // token id (>= 0) -> [-100, 100]
  int32_t logprobs = -1;                // -1: none; else number of top alternatives (0..20)
  std::string user;
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  // Extensions (llama.cpp / vLLM names).
  int32_t top_k = 0;                  // 0 (or -1): disabled
  float min_p = 0.0f;                 // [0, 1]
  float typical_p = 1.0f;             // (0, 1]
  float repetition_penalty = 1.0f;    // (0, 10]; also `repeat_penalty`
  int32_t repeat_last_n = 64;         // >= -1
  bool ignore_eos = false;
  // Completions: `echo` prepends the prompt to each choice's text.
  bool echo = false;
  // Tools (chat).
  std::vector<ToolDef> tools;
  nlohmann::ordered_json tools_json = nullptr;  // the tools as sent, for the chat template
  ToolChoice tool_choice = ToolChoice::kAuto;   // default: auto with tools, none without
  std::string tool_choice_name;                 // kNamed
  bool parallel_tool_calls = true;
  bool legacy_functions = false;  // sent as `functions` / `function_call` (answer function_call)
  OutputConstraint output;
  std::map<std::string, nlohmann::ordered_json> chat_template_kwargs;
  // Top-level field names the server does not know (ignored; at most max_ignored_fields).
  std::vector<std::string> ignored_fields;
};

// body: the raw request body (JSON). Returns the request or the error to send.
std::variant<ApiRequest, ApiError> parse_request(Endpoint endpoint, std::string_view body,
                                                 const ApiLimits& limits = {});

}  // namespace dari::server
