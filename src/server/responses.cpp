// JSON helpers for OpenAI response bodies.
#include "responses.h"

#include <cmath>

#include "dari/tokenizer/tokenizer.h"
#include "exchange.h"

namespace dari::server {

using json = nlohmann::json;

std::string dump_json(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string as_delivered(const std::string& s) {
  const json back = json::parse(dump_json(json(s)), nullptr, false);
  return back.is_string() ? back.get<std::string>() : std::string();
}

json logprob_entry(const Tokenizer& tok, int32_t token, float logprob) {
  const std::string piece = tok.token_to_piece(token);
  json bytes = json::array();
  for (unsigned char ch : piece) bytes.push_back(static_cast<int>(ch));
  // JSON has no -infinity; OpenAI reports -9999.0 for impossible tokens.
  const double lp = std::isfinite(logprob) ? static_cast<double>(logprob) : -9999.0;
  return json{{"token", piece}, {"logprob", lp}, {"bytes", bytes}};
}

std::string models_body(const std::string& model_name, int64_t created) {
  json j = {{"object", "list"},
            {"data", json::array({{{"id", model_name},
                                   {"object", "model"},
                                   {"created", created},
                                   {"owned_by", "dari"},
                                   // Disclosure (AI Basic Act Art. 31(1), EU AI Act Art. 50).
                                   {"generative", true},
                                   {"ai_generated_output", true}}})}};
  return dump_json(j);
}

std::string error_body(const ApiError& e) {
  json err = {{"message", e.message},
              {"type", e.type},
              {"param", e.param.empty() ? json(nullptr) : json(e.param)},
              {"code", e.code.empty() ? json(nullptr) : json(e.code)}};
  return dump_json(json{{"error", err}});
}

}  // namespace dari::server
