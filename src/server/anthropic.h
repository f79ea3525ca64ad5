// Anthropic Messages API (`POST /v1/messages`): request translation into the server's ApiRequest
// and the response shapes (a message body, the SSE event sequence, error bodies). No I/O, no
// model access; the exchange feeds these with what the engine produced.
//
// Requests (parse_anthropic_request) are checked field by field as Anthropic documents them and
// mapped onto the OpenAI-shaped ApiRequest (endpoint kMessages):
//  - `system` becomes the first message; consecutive messages of one role form one turn, as
//    Anthropic merges them; text blocks are joined with "\n"; `thinking` and
//    `redacted_thinking` blocks are read and dropped; image, document and other non-text blocks
//    are a 400 (the model reads text only).
//  - an assistant `tool_use` block becomes a ChatToolCall (arguments: the compact JSON of
//    `input`); each user `tool_result` block becomes a role "tool" message (tool_call_id, and
//    the name of the call it answers) placed before the user's text. Anthropic's pairing rules
//    hold: results come first in their message and answer exactly the calls of the assistant
//    turn before them.
//  - tool ids are translated both ways: a response's "call_X" becomes "toolu_X"
//    (anthropic_tool_use_id) and a request's "toolu_X" goes back (openai_tool_call_id), so a
//    chat template sees the ids the tool-call parser made.
//  - `tools` become ToolDefs and tools_json in OpenAI's {"type": "function", "function":
//    {name, description, parameters}} shape; `tool_choice` any/tool/none/auto map to
//    kRequired/kNamed/kNone/kAuto; `disable_parallel_tool_use` clears parallel_tool_calls.
//  - `thinking` enabled (or adaptive) / disabled sets chat_template_kwargs enable_thinking.
//  - unknown fields are ignored (recorded in ignored_fields) or, with ApiLimits::strict, a 400.
//
// Thread safety: free functions are pure; an AnthropicStreamWriter belongs to one response and
// is used from one thread at a time.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "dari/server/api.h"
#include "dari/template/tool_calls.h"

namespace dari::server {

// Anthropic accepts more stop sequences than OpenAI's 4 (ApiLimits::max_stop does not apply).
inline constexpr uint32_t kAnthropicMaxStopSequences = 16;

// body: the raw request body (JSON). Returns the request (endpoint kMessages, n = 1) or the 400
// to send, whose param names the field ("messages[1].content[0].tool_use_id").
std::variant<ApiRequest, ApiError> parse_anthropic_request(std::string_view body,
                                                           const ApiLimits& limits = {});

// Anthropic's error type for an HTTP status: 400 invalid_request_error, 401
// authentication_error, 403 permission_error, 404 not_found_error, 413 request_too_large, 429
// rate_limit_error, 503/529 overloaded_error, other 5xx api_error, other 4xx
// invalid_request_error.
const char* anthropic_error_type(int status);
// {"type": "error", "error": {"type", "message"}}.
std::string anthropic_error_body(const ApiError& e);

// "call_X" -> "toolu_X"; any other id gets the "toolu_" prefix ("" stays "").
std::string anthropic_tool_use_id(std::string_view call_id);
// The inverse for the ids anthropic_tool_use_id makes: "toolu_" + 24 characters -> "call_" +
// them, "toolu_" + anything else -> the rest (Mistral's 9-character ids); other ids unchanged.
std::string openai_tool_call_id(std::string_view tool_use_id);
// An OpenAI finish_reason as Anthropic's stop_reason: "length" -> "max_tokens", "tool_calls"
// (or "function_call") -> "tool_use", "content_filter" -> "refusal", anything else ("stop")
// -> "end_turn". A stop on one of the request's stop_sequences is "stop_sequence": the caller
// knows which sequence matched.
const char* anthropic_stop_reason(std::string_view finish_reason);

// One finished reply, for the non-streaming body.
struct AnthropicResult {
  std::string id;  // "msg_..."
  std::string model;
  std::string text;
  std::string thinking;
  std::vector<ToolCall> tool_calls;  // ids as the parser made them ("call_..."), converted here
  std::string stop_reason;           // "end_turn" | "max_tokens" | "stop_sequence" | "tool_use"
  std::string stop_sequence;         // the matched sequence ("" -> null)
  uint64_t input_tokens = 0;
  uint64_t output_tokens = 0;
  nlohmann::json extra;  // fields the server adds (e.g. provenance); merged when an object
};

// {"id", "type": "message", "role": "assistant", "model", "content": [thinking?, text?,
// tool_use...], "stop_reason", "stop_sequence", "usage": {"input_tokens", "output_tokens"}} plus
// the members of `extra`. A block is present only when it has something in it (an empty reply
// has "content": []); a tool_use block's input is the parsed arguments ({} when they are not a
// JSON object).
std::string anthropic_message_body(const AnthropicResult& r);

// The SSE events of one streamed reply ("event: NAME\ndata: JSON\n\n" each), in Anthropic's
// order: message_start and ping; then content blocks, each content_block_start, its deltas and
// content_block_stop, indexes counting from 0; then message_delta and message_stop.
class AnthropicStreamWriter {
 public:
  // message_start (the message with empty content, stop_reason null, usage {input_tokens,
  // output_tokens: 0}) followed by a ping.
  std::string start(const std::string& id, const std::string& model, uint64_t input_tokens);
  // One parser step: reasoning (a thinking block), content (a text block), then tool calls (a
  // header opens a tool_use block with input {}, its argument text follows as input_json_delta).
  // A change of kind closes the open block first. Empty after finish().
  std::string feed(const StreamDelta& d);
  // content_block_stop of the open block, message_delta {delta: {stop_reason, stop_sequence},
  // usage: {output_tokens}} with the members of `extra` (an object) added to the event, then
  // message_stop. Empty when called again.
  std::string finish(const std::string& stop_reason, const std::string& stop_sequence,
                     uint64_t output_tokens, const nlohmann::json& extra = nullptr);
  // An `error` event ({"type": "error", "error": {...}}); the stream ends after it.
  static std::string error_event(const ApiError& e);

  int blocks_opened() const { return next_index_; }

 private:
  enum class Block { kNone, kThinking, kText, kToolUse };
  std::string open(Block kind, const nlohmann::ordered_json& content_block);
  std::string close();
  std::string text_like(Block kind, const std::string& text);

  Block open_ = Block::kNone;
  int open_index_ = -1;  // index of the open block
  int open_tool_ = -1;   // the open tool_use block's StreamDelta tool index
  int next_index_ = 0;
  bool finished_ = false;
};

}  // namespace dari::server
