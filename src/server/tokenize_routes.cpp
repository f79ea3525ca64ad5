// POST /tokenize and /detokenize (see tokenize_routes.h).
#include "tokenize_routes.h"

#include <limits>

#include "api_parse_util.h"
#include "dari/tokenizer/tokenizer.h"
#include "exchange.h"
#include "responses.h"

namespace dari::server {

using namespace parse;  // NOLINT: the shared field checks

namespace {

TokenizeReply error_reply(const ApiError& e) { return {e.status, error_body(e)}; }

std::variant<json, ApiError> parse_object(std::string_view body, const ApiLimits& limits) {
  if (json_depth_exceeds(body, limits.max_json_depth)) {
    return bad_request("", "request body nests too deeply");
  }
  json doc = json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return bad_request("", "request body is not valid JSON", "invalid_json");
  if (!doc.is_object()) return bad_request("", "request body must be a JSON object");
  return doc;
}

bool valid_utf8(std::string_view s) {
  return as_delivered(std::string(s)) == s;
}

}  // namespace

TokenizeReply tokenize_route(const ServingEngine& engine, std::string_view body,
                             const ApiLimits& limits) {
  auto parsed = parse_object(body, limits);
  if (auto* e = std::get_if<ApiError>(&parsed)) return error_reply(*e);
  const json& doc = std::get<json>(parsed);
  std::string content;
  bool add_special = false;
  bool parse_special = true;
  bool with_pieces = false;
  for (const auto& [k, v] : doc.items()) {
    std::optional<ApiError> e;
    if (k == "content") {
      e = get_string(v, k, std::numeric_limits<size_t>::max(), &content);
    } else if (k == "add_special") {
      e = get_bool(v, k, &add_special);
    } else if (k == "parse_special") {
      e = get_bool(v, k, &parse_special);
    } else if (k == "with_pieces") {
      e = get_bool(v, k, &with_pieces);
    } else if (limits.strict) {
      e = bad_request(k.substr(0, 64), "unknown field '" + k.substr(0, 64) + "'", "unknown_field");
    }
    if (e) return error_reply(*e);
  }
  if (!doc.contains("content")) return error_reply(bad_request("content", "'content' is required"));
  const Tokenizer& tok = engine.tokenizer();
  EncodeOptions eo;
  eo.add_special = add_special;
  eo.parse_special = parse_special;
  const std::vector<TokenId> ids = tok.encode(content, eo);
  json tokens = json::array();
  for (TokenId id : ids) {
    if (!with_pieces) {
      tokens.push_back(id);
      continue;
    }
    const std::string piece = tok.token_to_piece(id, /*render_special=*/true);
    json p = json::array();
    if (valid_utf8(piece)) {
      p = piece;
    } else {
      for (unsigned char c : piece) p.push_back(static_cast<int>(c));
    }
    tokens.push_back({{"id", id}, {"piece", p}});
  }
  return {200, dump_json(json{{"tokens", tokens}})};
}

TokenizeReply detokenize_route(const ServingEngine& engine, std::string_view body,
                               const ApiLimits& limits) {
  auto parsed = parse_object(body, limits);
  if (auto* e = std::get_if<ApiError>(&parsed)) return error_reply(*e);
  const json& doc = std::get<json>(parsed);
  auto it = doc.find("tokens");
  if (it == doc.end()) return error_reply(bad_request("tokens", "'tokens' is required"));
  if (!it->is_array()) return error_reply(wrong_type("tokens", "an array of token ids", *it));
  const Tokenizer& tok = engine.tokenizer();
  std::vector<TokenId> ids;
  ids.reserve(it->size());
  for (size_t i = 0; i < it->size(); ++i) {
    int64_t id = 0;
    const std::string p = "tokens[" + std::to_string(i) + "]";
    if (auto e = get_int((*it)[i], p, 0, static_cast<int64_t>(tok.n_tokens()) - 1, &id)) {
      return error_reply(*e);
    }
    ids.push_back(static_cast<TokenId>(id));
  }
  DecodeOptions d;
  d.render_special = true;
  auto text = tok.decode(ids, d);
  if (!text.ok()) return error_reply(bad_request("tokens", text.message(), "invalid_value"));
  return {200, dump_json(json{{"content", *text}})};
}

}  // namespace dari::server
