// Response checks of the soak load generator (pure functions; any thread).
//
// Each returns "" when the response is what OpenAI's API promises, else a short description of
// the first problem found.
#pragma once

#include <string>
#include <vector>

#include "load_client.h"

namespace dari::bench {

enum class Api { kChat, kCompletions };

// A non-streaming 200 response: object type, choices with text and a finish_reason, usage with
// total = prompt + completion.
std::string check_completion(Api api, const Response& r);

// The payloads of a streaming response's "data: " lines (including "[DONE]"): every chunk has
// the right object type and one id, some choice finishes ("stop"/"length"), [DONE] comes last,
// and with include_usage a usage chunk is present.
std::string check_stream(Api api, int status, const std::vector<std::string>& payloads,
                         bool include_usage);

// An error response: the status, and the body exactly {"error": {"message", "type", "param",
// "code"}} (message and type strings, param and code string or null). `param`, when not empty,
// must be the start of error.param.
std::string check_error(const Response& r, int status, const std::string& param);

}  // namespace dari::bench
