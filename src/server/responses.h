// JSON helpers for OpenAI response bodies (any thread; pure).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace dari {
class Tokenizer;
}

namespace dari::server {

// Compact JSON; invalid UTF-8 in strings is replaced (U+FFFD), never thrown.
std::string dump_json(const nlohmann::json& j);
// `s` as a client reads it back from dump_json (invalid UTF-8 replaced by U+FFFD): the text that
// provenance signs.
std::string as_delivered(const std::string& s);
// Chat logprobs entry: {"token", "logprob", "bytes"} (top_logprobs added by the caller).
nlohmann::json logprob_entry(const Tokenizer& tok, int32_t token, float logprob);
// GET /v1/models body.
std::string models_body(const std::string& model_name, int64_t created);

}  // namespace dari::server
