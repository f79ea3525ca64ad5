// Request preparation for `dari serve`: the body of a completions request parsed, validated and
// turned into engine requests (chat rendered through the model's template, prompts tokenized).
//
// This is the expensive part of a request before the engine sees it (a multi-megabyte prompt
// takes about a second to tokenize), so the server runs it on its worker pool, never on an I/O
// thread. Validation against the model (token ids inside the vocabulary, prompt length against
// the context) is the engine's: ServingEngine::submit checks each request once, and the exchange
// maps its answer to the OpenAI error.
//
// Thread safety: a pure function of its arguments; the engine's tokenizer and chat template are
// immutable after load, so any thread may call it.
#pragma once

#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "dari/engine/serving.h"
#include "dari/server/api.h"
#include "dari/template/tool_calls.h"

namespace dari::server {

struct PreparedRequest {
  ApiRequest req;
  // One engine request per prompt (n choices each); sampling, stops and max_tokens filled in.
  std::vector<ServingRequest> runs;
  bool strip_leading_space = false;  // the plain chat fallback's "Assistant:" space
  std::string rendered_prompt;       // chat: the conversation as the template rendered it
  // Chat: read tool calls and reasoning out of each choice's text (tool_calls.h).
  bool parse_output = false;
  ParseOptions output_options;
};

class ConstraintBuilder;

struct PrepareInput {
  Endpoint endpoint = Endpoint::kChat;
  std::string_view body;             // the raw JSON body
  const ApiLimits* limits = nullptr;  // not null
  const ServingEngine* engine = nullptr;  // not null: tokenizer, template, vocabulary size
  ConstraintBuilder* constraints = nullptr;  // null: requests with output constraints get 400
};

std::variant<PreparedRequest, ApiError> prepare_request(const PrepareInput& in);

// 400 context_length_exceeded: "This model's maximum context length is N tokens; the prompt has
// M tokens<extra>".
ApiError too_long(uint32_t n_ctx, size_t prompt_tokens, const std::string& extra,
                  std::string param);
// A 503 with Retry-After: 1 (loading, shutting down, engine queue gone).
ApiError service_unavailable(std::string message);

}  // namespace dari::server
