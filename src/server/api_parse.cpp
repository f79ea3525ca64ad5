// OpenAI request parsing and validation (see dari/server/api.h).
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <utility>

#include "dari/server/api.h"

namespace dari::server {

using json = nlohmann::json;

ApiError bad_request(std::string param, std::string message, std::string code) {
  ApiError e;
  e.status = 400;
  e.message = std::move(message);
  e.param = std::move(param);
  e.code = std::move(code);
  return e;
}

namespace {

// Deepest nesting of [ and { outside strings; the JSON parser runs only on bodies within the limit.
uint32_t json_depth(std::string_view s) {
  uint32_t depth = 0;
  uint32_t max_depth = 0;
  bool in_str = false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (in_str) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_str = false;
      }
    } else if (c == '"') {
      in_str = true;
    } else if (c == '[' || c == '{') {
      ++depth;
      if (depth > max_depth) max_depth = depth;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return max_depth;
}

const char* type_name(const json& v) {
  switch (v.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::boolean:
      return "a boolean";
    case json::value_t::string:
      return "a string";
    case json::value_t::array:
      return "an array";
    case json::value_t::object:
      return "an object";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
      return "an integer";
    case json::value_t::number_float:
      return "a number";
    default:
      return "an unsupported value";
  }
}

ApiError wrong_type(const std::string& param, const char* expected, const json& v) {
  return bad_request(param, "'" + param + "' must be " + expected + ", got " + type_name(v),
                     "invalid_type");
}

std::string fmt_num(double d) {
  std::string s = json(d).dump();
  return s;
}

// Reads a number in [lo, hi] (both inclusive unless lo_open).
std::optional<ApiError> get_number(const json& v, const std::string& param, double lo, double hi,
                                   bool lo_open, float* out) {
  if (!v.is_number()) return wrong_type(param, "a number", v);
  const double d = v.get<double>();
  if (!std::isfinite(d) || d > hi || d < lo || (lo_open && d <= lo)) {
    return bad_request(param,
                       "'" + param + "' must be in " + (lo_open ? "(" : "[") + fmt_num(lo) + ", " +
                           fmt_num(hi) + "], got " + fmt_num(d),
                       "invalid_value");
  }
  *out = static_cast<float>(d);
  return std::nullopt;
}

std::optional<ApiError> get_int(const json& v, const std::string& param, int64_t lo, int64_t hi,
                                int64_t* out) {
  if (v.is_number_unsigned()) {
    const uint64_t u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(hi)) {
      return bad_request(param, "'" + param + "' must be at most " + std::to_string(hi),
                         "invalid_value");
    }
    *out = static_cast<int64_t>(u);
  } else if (v.is_number_integer()) {
    *out = v.get<int64_t>();
  } else {
    return wrong_type(param, "an integer", v);
  }
  if (*out < lo || *out > hi) {
    return bad_request(param,
                       "'" + param + "' must be in [" + std::to_string(lo) + ", " +
                           std::to_string(hi) + "], got " + std::to_string(*out),
                       "invalid_value");
  }
  return std::nullopt;
}

std::optional<ApiError> get_bool(const json& v, const std::string& param, bool* out) {
  if (!v.is_boolean()) return wrong_type(param, "a boolean", v);
  *out = v.get<bool>();
  return std::nullopt;
}

std::optional<ApiError> get_string(const json& v, const std::string& param, size_t max_bytes,
                                   std::string* out) {
  if (!v.is_string()) return wrong_type(param, "a string", v);
  const auto& s = v.get_ref<const std::string&>();
  if (s.size() > max_bytes) {
    return bad_request(param,
                       "'" + param + "' is longer than " + std::to_string(max_bytes) + " bytes",
                       "invalid_value");
  }
  *out = s;
  return std::nullopt;
}

// Fields known to OpenAI's API that dari does not implement.
bool is_unsupported_field(std::string_view k) {
  static const std::set<std::string_view> kFields = {"tools",
                                                     "tool_choice",
                                                     "functions",
                                                     "function_call",
                                                     "parallel_tool_calls",
                                                     "response_format",
                                                     "audio",
                                                     "modalities",
                                                     "prediction",
                                                     "store",
                                                     "metadata",
                                                     "reasoning_effort",
                                                     "service_tier",
                                                     "web_search_options",
                                                     "suffix",
                                                     "best_of",
                                                     "echo",
                                                     "logprobs_offset",
                                                     "verbosity",
                                                     "prompt_cache_key",
                                                     "safety_identifier"};
  return kFields.count(k) != 0;
}

std::optional<ApiError> parse_content(const json& v, const std::string& param, std::string* out) {
  if (v.is_string()) {
    *out = v.get<std::string>();
    return std::nullopt;
  }
  if (!v.is_array()) return wrong_type(param, "a string or an array of text parts", v);
  out->clear();
  for (size_t i = 0; i < v.size(); ++i) {
    const std::string p = param + "[" + std::to_string(i) + "]";
    const json& part = v[i];
    if (!part.is_object()) return wrong_type(p, "an object", part);
    std::string text;
    auto type_it = part.find("type");
    if (type_it == part.end()) return bad_request(p + ".type", "'" + p + ".type' is required");
    if (!type_it->is_string() || type_it->get<std::string>() != "text") {
      return bad_request(p + ".type", "only content parts of type 'text' are supported",
                         "unsupported_value");
    }
    for (const auto& [k, pv] : part.items()) {
      if (k == "type") {
        continue;
      } else if (k == "text") {
        if (!pv.is_string()) return wrong_type(p + ".text", "a string", pv);
        text = pv.get<std::string>();
      } else {
        return bad_request(p + "." + k, "unknown field '" + p + "." + k + "'", "unknown_field");
      }
    }
    if (!part.contains("text")) return bad_request(p + ".text", "'" + p + ".text' is required");
    if (i > 0) *out += "\n";
    *out += text;
  }
  return std::nullopt;
}

std::optional<ApiError> parse_messages(const json& v, const ApiLimits& lim, ApiRequest* r) {
  if (!v.is_array()) return wrong_type("messages", "an array", v);
  if (v.empty()) return bad_request("messages", "'messages' must not be empty", "invalid_value");
  if (v.size() > lim.max_messages) {
    return bad_request("messages",
                       "'messages' has more than " + std::to_string(lim.max_messages) + " entries");
  }
  for (size_t i = 0; i < v.size(); ++i) {
    const std::string p = "messages[" + std::to_string(i) + "]";
    const json& m = v[i];
    if (!m.is_object()) return wrong_type(p, "an object", m);
    ChatMessage msg;
    bool have_content = false;
    for (const auto& [k, mv] : m.items()) {
      if (k == "role") {
        if (!mv.is_string()) return wrong_type(p + ".role", "a string", mv);
        msg.role = mv.get<std::string>();
        if (msg.role == "developer") msg.role = "system";
        if (msg.role != "system" && msg.role != "user" && msg.role != "assistant") {
          return bad_request(p + ".role",
                             "'" + p +
                                 ".role' must be one of system, developer, user, "
                                 "assistant (tool messages are not supported)",
                             "invalid_value");
        }
      } else if (k == "content") {
        if (auto e = parse_content(mv, p + ".content", &msg.content)) return e;
        have_content = true;
      } else if (k == "name" || k == "tool_calls" || k == "tool_call_id" || k == "function_call" ||
                 k == "refusal" || k == "audio") {
        return bad_request(p + "." + k, "'" + p + "." + k + "' is not supported",
                           "unsupported_parameter");
      } else {
        return bad_request(p + "." + k, "unknown field '" + p + "." + k + "'", "unknown_field");
      }
    }
    if (msg.role.empty()) return bad_request(p + ".role", "'" + p + ".role' is required");
    if (!have_content) return bad_request(p + ".content", "'" + p + ".content' is required");
    r->messages.push_back(std::move(msg));
  }
  return std::nullopt;
}

std::optional<ApiError> parse_token_array(const json& v, const std::string& param,
                                          std::vector<int32_t>* out) {
  for (size_t i = 0; i < v.size(); ++i) {
    int64_t t = 0;
    if (auto e = get_int(v[i], param + "[" + std::to_string(i) + "]", 0,
                         std::numeric_limits<int32_t>::max(), &t)) {
      return e;
    }
    out->push_back(static_cast<int32_t>(t));
  }
  return std::nullopt;
}

std::optional<ApiError> parse_prompt(const json& v, const ApiLimits& lim, ApiRequest* r) {
  if (v.is_string()) {
    r->prompts.emplace_back(v.get<std::string>());
    return std::nullopt;
  }
  if (!v.is_array()) {
    return wrong_type("prompt", "a string, an array of strings or an array of token arrays", v);
  }
  if (v.empty()) return bad_request("prompt", "'prompt' must not be empty", "invalid_value");
  if (v[0].is_number()) {  // one token array
    std::vector<int32_t> toks;
    if (auto e = parse_token_array(v, "prompt", &toks)) return e;
    r->prompts.emplace_back(std::move(toks));
    return std::nullopt;
  }
  if (v.size() > lim.max_prompts) {
    return bad_request("prompt",
                       "'prompt' has more than " + std::to_string(lim.max_prompts) + " entries");
  }
  for (size_t i = 0; i < v.size(); ++i) {
    const std::string p = "prompt[" + std::to_string(i) + "]";
    if (v[i].is_string()) {
      r->prompts.emplace_back(v[i].get<std::string>());
    } else if (v[i].is_array()) {
      if (v[i].empty()) return bad_request(p, "'" + p + "' must not be empty", "invalid_value");
      std::vector<int32_t> toks;
      if (auto e = parse_token_array(v[i], p, &toks)) return e;
      r->prompts.emplace_back(std::move(toks));
    } else {
      return wrong_type(p, "a string or an array of token ids", v[i]);
    }
  }
  return std::nullopt;
}

std::optional<ApiError> parse_stop(const json& v, const ApiLimits& lim, ApiRequest* r) {
  auto add = [&](const json& s, const std::string& p) -> std::optional<ApiError> {
    std::string str;
    if (auto e = get_string(s, p, lim.max_stop_bytes, &str)) return e;
    if (str.empty()) return bad_request(p, "'" + p + "' must not be empty", "invalid_value");
    r->stop.push_back(std::move(str));
    return std::nullopt;
  };
  if (v.is_string()) return add(v, "stop");
  if (!v.is_array()) return wrong_type("stop", "a string or an array of strings", v);
  if (v.size() > lim.max_stop) {
    return bad_request("stop", "'stop' has more than " + std::to_string(lim.max_stop) + " entries",
                       "invalid_value");
  }
  for (size_t i = 0; i < v.size(); ++i) {
    if (auto e = add(v[i], "stop[" + std::to_string(i) + "]")) return e;
  }
  return std::nullopt;
}

std::optional<ApiError> parse_logit_bias(const json& v, const ApiLimits& lim, ApiRequest* r) {
  if (!v.is_object()) return wrong_type("logit_bias", "an object", v);
  if (v.size() > lim.max_logit_bias) {
    return bad_request("logit_bias", "'logit_bias' has more than " +
                                         std::to_string(lim.max_logit_bias) + " entries");
  }
  for (const auto& [k, bv] : v.items()) {
    const std::string p = "logit_bias." + k.substr(0, 32);
    int64_t id = -1;
    bool digits = !k.empty() && k.size() <= 10;
    for (char c : k) digits = digits && c >= '0' && c <= '9';
    if (digits) id = std::stoll(k);
    if (!digits || id > std::numeric_limits<int32_t>::max()) {
      return bad_request("logit_bias",
                         "'logit_bias' keys must be token ids (non-negative "
                         "integers as strings), got '" +
                             k.substr(0, 32) + "'",
                         "invalid_value");
    }
    float bias = 0.0f;
    if (auto e = get_number(bv, p, -100.0, 100.0, false, &bias)) return e;
    r->logit_bias[static_cast<int32_t>(id)] = bias;
  }
  return std::nullopt;
}

std::optional<ApiError> parse_stream_options(const json& v, ApiRequest* r) {
  if (!v.is_object()) return wrong_type("stream_options", "an object", v);
  for (const auto& [k, sv] : v.items()) {
    if (k == "include_usage") {
      if (auto e = get_bool(sv, "stream_options.include_usage", &r->include_usage)) return e;
    } else {
      return bad_request("stream_options." + k, "unknown field 'stream_options." + k + "'",
                         "unknown_field");
    }
  }
  return std::nullopt;
}

// One top-level field; `seen_logprobs_bool`: the chat `logprobs` flag.
std::optional<ApiError> parse_field(const std::string& k, const json& v, const ApiLimits& lim,
                                    ApiRequest* r, bool* chat_logprobs, int64_t* top_logprobs,
                                    bool* have_stream_options) {
  const bool chat = r->endpoint == Endpoint::kChat;
  int64_t i = 0;
  if (k == "model") return get_string(v, k, lim.max_model_bytes, &r->model);
  if (k == "messages" && chat) return parse_messages(v, lim, r);
  if (k == "prompt" && !chat) return parse_prompt(v, lim, r);
  if (k == "max_tokens" || (k == "max_completion_tokens" && chat)) {
    if (auto e = get_int(v, k, 1, std::numeric_limits<int32_t>::max(), &i)) return e;
    r->max_tokens = static_cast<int32_t>(i);
    return std::nullopt;
  }
  if (k == "temperature") return get_number(v, k, 0.0, 2.0, false, &r->temperature);
  if (k == "top_p") return get_number(v, k, 0.0, 1.0, true, &r->top_p);
  if (k == "presence_penalty") return get_number(v, k, -2.0, 2.0, false, &r->presence_penalty);
  if (k == "frequency_penalty") return get_number(v, k, -2.0, 2.0, false, &r->frequency_penalty);
  if (k == "stop") return parse_stop(v, lim, r);
  if (k == "seed") {
    if (auto e = get_int(v, k, std::numeric_limits<int64_t>::min(),
                         std::numeric_limits<int64_t>::max(), &i)) {
      return e;
    }
    r->seed = i;
    return std::nullopt;
  }
  if (k == "n") {
    if (auto e = get_int(v, k, 1, lim.max_n, &i)) return e;
    r->n = static_cast<uint32_t>(i);
    return std::nullopt;
  }
  if (k == "logit_bias") return parse_logit_bias(v, lim, r);
  if (k == "logprobs" && chat) return get_bool(v, k, chat_logprobs);
  if (k == "top_logprobs" && chat) return get_int(v, k, 0, 20, top_logprobs);
  if (k == "logprobs" && !chat) {
    if (auto e = get_int(v, k, 0, 5, &i)) return e;
    r->logprobs = static_cast<int32_t>(i);
    return std::nullopt;
  }
  if (k == "user") return get_string(v, k, lim.max_user_bytes, &r->user);
  if (k == "stream") return get_bool(v, k, &r->stream);
  if (k == "stream_options") {
    *have_stream_options = true;
    return parse_stream_options(v, r);
  }
  if (is_unsupported_field(k) || (!chat && (k == "messages" || k == "top_logprobs")) ||
      (chat && k == "prompt")) {
    return bad_request(k, "'" + k + "' is not supported by this server/endpoint",
                       "unsupported_parameter");
  }
  return bad_request(k, "unknown field '" + k.substr(0, 64) + "'", "unknown_field");
}

}  // namespace

std::variant<ApiRequest, ApiError> parse_request(Endpoint endpoint, std::string_view body,
                                                 const ApiLimits& limits) {
  if (json_depth(body) > limits.max_json_depth) {
    return bad_request(
        "", "request body nests deeper than " + std::to_string(limits.max_json_depth) + " levels");
  }
  const json doc = json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) {
    return bad_request("", "request body is not valid JSON", "invalid_json");
  }
  if (!doc.is_object()) return bad_request("", "request body must be a JSON object");
  ApiRequest r;
  r.endpoint = endpoint;
  bool chat_logprobs = false;
  int64_t top_logprobs = -1;
  bool have_stream_options = false;
  for (const auto& [k, v] : doc.items()) {
    if (v.is_null() && k != "messages" && k != "prompt" && k != "model") continue;  // as absent
    if (auto e =
            parse_field(k, v, limits, &r, &chat_logprobs, &top_logprobs, &have_stream_options)) {
      return *e;
    }
  }
  if (!doc.contains("model")) return bad_request("model", "'model' is required");
  if (endpoint == Endpoint::kChat) {
    if (!doc.contains("messages")) return bad_request("messages", "'messages' is required");
    if (top_logprobs >= 0 && !chat_logprobs) {
      return bad_request("top_logprobs", "'top_logprobs' requires 'logprobs': true");
    }
    if (chat_logprobs) r.logprobs = static_cast<int32_t>(top_logprobs < 0 ? 0 : top_logprobs);
  } else if (!doc.contains("prompt")) {
    return bad_request("prompt", "'prompt' is required");
  }
  if (have_stream_options && !r.stream) {
    return bad_request("stream_options", "'stream_options' is only allowed when 'stream' is true");
  }
  const uint64_t choices = static_cast<uint64_t>(r.n) * std::max<size_t>(1, r.prompts.size());
  if (choices > limits.max_choices) {
    return bad_request("n", "prompts x n = " + std::to_string(choices) + " exceeds the limit of " +
                                std::to_string(limits.max_choices) + " choices");
  }
  return r;
}

}  // namespace dari::server
