// OpenAI request parsing and validation for `dari serve` (no I/O, no model access).
//
// parse_chat_request() / parse_completion_request() turn a request body into a validated
// ApiRequest or an ApiError carrying the HTTP status, OpenAI error type, the field at fault
// ("param", e.g. "messages[1].role") and a code. Every field is type- and range-checked; fields
// the server does not implement (tools, response_format, ...) and unknown fields are rejected
// with 400 naming the field. Model-dependent checks (token ids < n_vocab, prompt length vs the
// context) happen later, in the request handler, once the prompt is tokenized.
//
// Thread safety: pure functions over their arguments; callable from any thread.
#pragma once

#include <cstdint>
#include <map>
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
};

enum class Endpoint { kChat, kCompletions };

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
};

// body: the raw request body (JSON). Returns the request or the error to send.
std::variant<ApiRequest, ApiError> parse_request(Endpoint endpoint, std::string_view body,
                                                 const ApiLimits& limits = {});

}  // namespace dari::server
