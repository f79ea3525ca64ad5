// OpenAI request parsing and validation (see dari/server/api.h).
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <utility>

#include "api_parse_tools.h"
#include "api_parse_util.h"
#include "dari/server/api.h"

namespace dari::server {

using json = nlohmann::ordered_json;
using namespace parse;  // NOLINT: the shared field checks

ApiError bad_request(std::string param, std::string message, std::string code) {
  ApiError e;
  e.status = 400;
  e.message = std::move(message);
  e.param = std::move(param);
  e.code = std::move(code);
  return e;
}

namespace {

// Fields of OpenAI's references that change nothing dari computes: read (type-checked where
// the type is simple) and otherwise ignored; docs/API.md says why for each.
bool is_accepted_noop(std::string_view k, bool chat) {
  static const std::set<std::string_view> kBoth = {"store", "metadata", "service_tier",
                                                   "cache_prompt", "prompt_cache_key",
                                                   "safety_identifier", "id_slot", "samplers",
                                                   "return_tokens", "timings_per_token"};
  static const std::set<std::string_view> kChat = {"prediction", "reasoning_effort",
                                                   "web_search_options", "verbosity"};
  return kBoth.count(k) != 0 || (chat && kChat.count(k) != 0);
}

// A message's content: a string, or an array of parts of which dari reads the text ones
// ("text", and "refusal" in assistant turns); `null` only where the caller allows it.
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
    auto type_it = part.find("type");
    if (type_it == part.end()) return bad_request(p + ".type", "'" + p + ".type' is required");
    if (!type_it->is_string()) return wrong_type(p + ".type", "a string", *type_it);
    const std::string type = type_it->get<std::string>();
    const char* field = type == "text" ? "text" : type == "refusal" ? "refusal" : nullptr;
    if (field == nullptr) {
      return unsupported_value(p + ".type", "content parts of type '" + type.substr(0, 32) +
                                                "' are not supported: this model reads text only");
    }
    auto text = part.find(field);
    if (text == part.end()) {
      return bad_request(p + "." + field, "'" + p + "." + field + "' is required");
    }
    if (!text->is_string()) return wrong_type(p + "." + field, "a string", *text);
    if (i > 0) *out += "\n";
    *out += text->get<std::string>();
  }
  return std::nullopt;
}

std::optional<ApiError> parse_role(const json& v, const std::string& p, ChatMessage* msg) {
  if (!v.is_string()) return wrong_type(p, "a string", v);
  msg->role = v.get<std::string>();
  if (msg->role == "developer") msg->role = "system";
  if (msg->role == "function") msg->role = "tool";  // the legacy name of a tool result
  if (msg->role != "system" && msg->role != "user" && msg->role != "assistant" &&
      msg->role != "tool") {
    return bad_request(p, "'" + p + "' must be one of system, developer, user, assistant, tool",
                       "invalid_value");
  }
  return std::nullopt;
}

// One message's field `k`; unknown ones are ignored (or rejected when strict).
std::optional<ApiError> parse_message_field(const std::string& k, const json& mv,
                                            const std::string& p, const ApiLimits& lim,
                                            ChatMessage* msg, bool* have_content) {
  if (k == "role") return parse_role(mv, p + ".role", msg);
  if (k == "content") {
    *have_content = true;
    if (mv.is_null()) {
      msg->content_null = true;
      return std::nullopt;
    }
    return parse_content(mv, p + ".content", &msg->content);
  }
  if (mv.is_null()) return std::nullopt;
  if (k == "name") return get_string(mv, p + ".name", 256, &msg->name);
  if (k == "tool_call_id") return get_string(mv, p + ".tool_call_id", 256, &msg->tool_call_id);
  if (k == "tool_calls") return parse_message_tool_calls(mv, p + ".tool_calls", lim, msg);
  if (k == "reasoning_content") {
    return get_string(mv, p + ".reasoning_content", SIZE_MAX, &msg->reasoning_content);
  }
  if (k == "function_call") {  // legacy: one call without an id
    json calls = json::array({{{"id", ""}, {"type", "function"}, {"function", mv}}});
    return parse_message_tool_calls(calls, p + ".function_call", lim, msg);
  }
  if (k == "refusal" || k == "audio" || k == "annotations") return std::nullopt;
  if (lim.strict) {
    return bad_request(p + "." + k, "unknown field '" + p + "." + k.substr(0, 64) + "'",
                       "unknown_field");
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
      if (auto e = parse_message_field(k, mv, p, lim, &msg, &have_content)) return e;
    }
    if (msg.role.empty()) return bad_request(p + ".role", "'" + p + ".role' is required");
    // An assistant turn may carry tool calls instead of content (content absent or null).
    const bool may_omit = msg.role == "assistant" && !msg.tool_calls.empty();
    if (!have_content && msg.role == "assistant" && !msg.tool_calls.empty()) {
      msg.content_null = true;
    } else if (!have_content || (msg.content_null && !may_omit)) {
      return bad_request(p + ".content", "'" + p + ".content' is required");
    }
    if (!msg.tool_calls.empty() && msg.role != "assistant") {
      return bad_request(p + ".tool_calls", "only assistant messages carry 'tool_calls'",
                         "invalid_value");
    }
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

std::optional<ApiError> parse_stream_options(const json& v, const ApiLimits& lim,
                                             ApiRequest* r) {
  if (!v.is_object()) return wrong_type("stream_options", "an object", v);
  for (const auto& [k, sv] : v.items()) {
    if (sv.is_null()) continue;
    if (k == "include_usage") {
      if (auto e = get_bool(sv, "stream_options.include_usage", &r->include_usage)) return e;
    } else if (k == "include_obfuscation" || k == "continuous_usage_stats") {
      bool ignored = false;
      if (auto e = get_bool(sv, "stream_options." + k, &ignored)) return e;
    } else if (lim.strict) {
      return bad_request("stream_options." + k, "unknown field 'stream_options." + k + "'",
                         "unknown_field");
    }
  }
  return std::nullopt;
}

struct FieldState {
  bool chat_logprobs = false;
  int64_t top_logprobs = -1;
  bool have_stream_options = false;
  int64_t best_of = -1;
};

// The sampling knobs shared by both endpoints, OpenAI's and the common extensions.
std::optional<std::optional<ApiError>> parse_sampling_field(const std::string& k, const json& v,
                                                            ApiRequest* r) {
  int64_t i = 0;
  if (k == "temperature") return get_number(v, k, 0.0, 2.0, false, &r->temperature);
  if (k == "top_p") return get_number(v, k, 0.0, 1.0, true, &r->top_p);
  if (k == "presence_penalty") return get_number(v, k, -2.0, 2.0, false, &r->presence_penalty);
  if (k == "frequency_penalty") return get_number(v, k, -2.0, 2.0, false, &r->frequency_penalty);
  if (k == "min_p") return get_number(v, k, 0.0, 1.0, false, &r->min_p);
  if (k == "typical_p") return get_number(v, k, 0.0, 1.0, true, &r->typical_p);
  if (k == "repetition_penalty" || k == "repeat_penalty") {
    return get_number(v, k, 0.0, 10.0, true, &r->repetition_penalty);
  }
  if (k == "top_k") {
    if (auto e = get_int(v, k, -1, 1 << 30, &i)) return e;
    r->top_k = i < 0 ? 0 : static_cast<int32_t>(i);  // vLLM's -1 and llama.cpp's 0: disabled
    return std::optional<ApiError>();
  }
  if (k == "repeat_last_n") {
    if (auto e = get_int(v, k, -1, 1 << 30, &i)) return e;
    r->repeat_last_n = static_cast<int32_t>(i);
    return std::optional<ApiError>();
  }
  if (k == "ignore_eos") return get_bool(v, k, &r->ignore_eos);
  if (k == "seed") {
    if (auto e = get_int(v, k, std::numeric_limits<int64_t>::min(),
                         std::numeric_limits<int64_t>::max(), &i)) {
      return e;
    }
    r->seed = i;
    return std::optional<ApiError>();
  }
  return std::nullopt;
}

// Fields of one endpoint only.
std::optional<std::optional<ApiError>> parse_endpoint_field(const std::string& k, const json& v,
                                                            const ApiLimits& lim, ApiRequest* r,
                                                            FieldState* st) {
  int64_t i = 0;
  if (r->endpoint == Endpoint::kChat) {
    if (k == "messages") return parse_messages(v, lim, r);
    if (k == "logprobs") return get_bool(v, k, &st->chat_logprobs);
    if (k == "top_logprobs") return get_int(v, k, 0, 20, &st->top_logprobs);
    if (k == "tools") return parse_tools(v, lim, r);
    if (k == "functions") return parse_functions(v, lim, r);
    if (k == "tool_choice") return parse_tool_choice(v, false, r);
    if (k == "function_call") return parse_tool_choice(v, true, r);
    if (k == "parallel_tool_calls") return get_bool(v, k, &r->parallel_tool_calls);
    if (k == "response_format") return parse_response_format(v, lim, r);
    if (k == "chat_template_kwargs") return parse_template_kwargs(v, lim, r);
    if (k == "modalities") {
      if (!v.is_array()) return wrong_type(k, "an array", v);
      for (const auto& m : v) {
        if (m != "text") return unsupported_value(k, "only the \"text\" modality is supported");
      }
      return std::optional<ApiError>();
    }
    if (k == "audio") return unsupported_value(k, "audio output is not supported");
    return std::nullopt;
  }
  if (k == "prompt") return parse_prompt(v, lim, r);
  if (k == "logprobs") {
    if (auto e = get_int(v, k, 0, 5, &i)) return e;
    r->logprobs = static_cast<int32_t>(i);
    return std::optional<ApiError>();
  }
  if (k == "echo") return get_bool(v, k, &r->echo);
  if (k == "best_of") return get_int(v, k, 1, lim.max_n, &st->best_of);
  if (k == "suffix") {
    std::string suffix;
    if (auto e = get_string(v, k, 1u << 20, &suffix)) return e;
    if (!suffix.empty()) return unsupported_value(k, "'suffix' (insertion) is not supported");
    return std::optional<ApiError>();
  }
  return std::nullopt;
}

// One top-level field.
std::optional<ApiError> parse_field(const std::string& k, const json& v, const ApiLimits& lim,
                                    ApiRequest* r, FieldState* st) {
  int64_t i = 0;
  if (k == "model") return get_string(v, k, lim.max_model_bytes, &r->model);
  if (auto handled = parse_endpoint_field(k, v, lim, r, st)) return *handled;
  if (auto handled = parse_sampling_field(k, v, r)) return *handled;
  if (k == "max_tokens" || k == "max_completion_tokens" || k == "n_predict") {
    if (auto e = get_int(v, k, 1, std::numeric_limits<int32_t>::max(), &i)) return e;
    r->max_tokens = static_cast<int32_t>(i);
    return std::nullopt;
  }
  if (k == "stop") return parse_stop(v, lim, r);
  if (k == "n") {
    if (auto e = get_int(v, k, 1, lim.max_n, &i)) return e;
    r->n = static_cast<uint32_t>(i);
    return std::nullopt;
  }
  if (k == "logit_bias") return parse_logit_bias(v, lim, r);
  if (k == "user") return get_string(v, k, lim.max_user_bytes, &r->user);
  if (k == "stream") return get_bool(v, k, &r->stream);
  if (k == "stream_options") {
    st->have_stream_options = true;
    return parse_stream_options(v, lim, r);
  }
  if (k == "grammar") return parse_grammar_field(v, lim, r);
  if (k == "json_schema") return parse_json_schema_field(v, lim, r);
  if (is_accepted_noop(k, r->endpoint == Endpoint::kChat)) return std::nullopt;
  if (lim.strict) {
    return bad_request(k.substr(0, 64), "unknown field '" + k.substr(0, 64) + "'",
                       "unknown_field");
  }
  if (r->ignored_fields.size() < lim.max_ignored_fields) r->ignored_fields.push_back(k.substr(0, 64));
  return std::nullopt;
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
  FieldState st;
  for (const auto& [k, v] : doc.items()) {
    if (v.is_null() && k != "messages" && k != "prompt" && k != "model") continue;  // as absent
    if (auto e = parse_field(k, v, limits, &r, &st)) return *e;
  }
  if (!doc.contains("model")) return bad_request("model", "'model' is required");
  if (endpoint == Endpoint::kChat) {
    if (!doc.contains("messages")) return bad_request("messages", "'messages' is required");
    if (st.top_logprobs >= 0 && !st.chat_logprobs) {
      return bad_request("top_logprobs", "'top_logprobs' requires 'logprobs': true");
    }
    if (st.chat_logprobs) r.logprobs = static_cast<int32_t>(st.top_logprobs < 0 ? 0 : st.top_logprobs);
    if (auto e = finish_tools(&r)) return *e;
  } else {
    if (!doc.contains("prompt")) return bad_request("prompt", "'prompt' is required");
    if (st.best_of >= 0 && st.best_of < static_cast<int64_t>(r.n)) {
      return bad_request("best_of", "'best_of' must be at least 'n'", "invalid_value");
    }
    if (st.best_of > static_cast<int64_t>(r.n)) {
      return unsupported_value("best_of", "'best_of' greater than 'n' is not supported");
    }
    if (r.echo && r.logprobs >= 0) {
      return unsupported_value("echo", "'echo' with 'logprobs' is not supported");
    }
  }
  if (st.have_stream_options && !r.stream) {
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
