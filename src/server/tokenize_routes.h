// POST /tokenize and POST /detokenize, in llama-server's shapes:
//   /tokenize    {"content": "text", "add_special": false, "parse_special": true,
//                 "with_pieces": false}
//                → {"tokens": [ids]} or, with_pieces, {"tokens": [{"id": 1, "piece": "text"}]}
//                  (a piece that is not valid UTF-8 on its own is its byte values instead)
//   /detokenize  {"tokens": [ids]} → {"content": "text"}
// Errors are OpenAI-shaped 400s naming the field. Pure functions of the engine's immutable
// tokenizer: any thread (the server runs them on its workers).
#pragma once

#include <string>
#include <string_view>

#include "dari/engine/serving.h"
#include "dari/server/api.h"

namespace dari::server {

struct TokenizeReply {
  int status = 200;
  std::string body;  // JSON
};

TokenizeReply tokenize_route(const ServingEngine& engine, std::string_view body,
                             const ApiLimits& limits);
TokenizeReply detokenize_route(const ServingEngine& engine, std::string_view body,
                               const ApiLimits& limits);

}  // namespace dari::server
