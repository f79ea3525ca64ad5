// Agent-facing request fields: tools, tool_choice, response_format, template kwargs (see
// api_parse_tools.h).
#include "api_parse_tools.h"

#include <set>

namespace dari::server::parse {

namespace {

bool valid_function_name(const std::string& s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-' || c == '.';
    if (!ok) return false;
  }
  return true;
}

std::optional<ApiError> check_schema(const json& v, const std::string& param,
                                     const ApiLimits& lim) {
  if (!v.is_object() && !v.is_boolean()) return wrong_type(param, "an object (a JSON Schema)", v);
  if (!json_size_at_most(v, lim.max_schema_bytes)) {
    return bad_request(param,
                       "'" + param + "' is larger than " + std::to_string(lim.max_schema_bytes) +
                           " bytes",
                       "invalid_value");
  }
  return std::nullopt;
}

// One function description: {"name", "description", "parameters", "strict"}.
std::optional<ApiError> parse_function(const json& f, const std::string& p, const ApiLimits& lim,
                                       ToolDef* out) {
  if (!f.is_object()) return wrong_type(p, "an object", f);
  for (const auto& [k, v] : f.items()) {
    if (v.is_null()) continue;
    if (k == "name") {
      if (auto e = get_string(v, p + ".name", 64, &out->name)) return e;
    } else if (k == "description") {
      if (auto e = get_string(v, p + ".description", 64u << 10, &out->description)) return e;
    } else if (k == "parameters") {
      if (auto e = check_schema(v, p + ".parameters", lim)) return e;
      out->parameters = v;
    } else if (k == "strict") {
      if (auto e = get_bool(v, p + ".strict", &out->strict)) return e;
    }
  }
  if (!f.contains("name")) return bad_request(p + ".name", "'" + p + ".name' is required");
  if (!valid_function_name(out->name)) {
    return bad_request(p + ".name",
                       "'" + p + ".name' must be 1 to 64 characters of a-z, A-Z, 0-9, _, - or .",
                       "invalid_value");
  }
  return std::nullopt;
}

std::optional<ApiError> add_tool(ToolDef t, const std::string& p, ApiRequest* r) {
  for (const auto& have : r->tools) {
    if (have.name == t.name) {
      return bad_request(p, "tool name '" + t.name + "' appears twice", "invalid_value");
    }
  }
  r->tools.push_back(std::move(t));
  return std::nullopt;
}

}  // namespace

std::optional<ApiError> parse_tools(const json& v, const ApiLimits& lim, ApiRequest* r) {
  if (!v.is_array()) return wrong_type("tools", "an array", v);
  if (v.empty()) {  // OpenAI refuses an empty list rather than treating it as "no tools"
    return bad_request("tools", "Invalid 'tools': empty array. Expected an array with minimum "
                                "length 1, but got an empty array instead.",
                       "empty_array");
  }
  if (v.size() > lim.max_tools) {
    return bad_request("tools", "'tools' has more than " + std::to_string(lim.max_tools) +
                                    " entries");
  }
  r->tools_json = nlohmann::ordered_json::array();
  for (size_t i = 0; i < v.size(); ++i) {
    const std::string p = "tools[" + std::to_string(i) + "]";
    const json& t = v[i];
    if (!t.is_object()) return wrong_type(p, "an object", t);
    auto type = t.find("type");
    if (type == t.end() || !type->is_string()) {
      return bad_request(p + ".type", "'" + p + ".type' is required and must be \"function\"");
    }
    if (*type != "function") {
      return unsupported_value(p + ".type", "only tools of type \"function\" are supported, got \"" +
                                                type->get<std::string>().substr(0, 32) + "\"");
    }
    auto fn = t.find("function");
    if (fn == t.end()) return bad_request(p + ".function", "'" + p + ".function' is required");
    ToolDef def;
    if (auto e = parse_function(*fn, p + ".function", lim, &def)) return e;
    if (auto e = add_tool(std::move(def), p + ".function.name", r)) return e;
    // The template sees the tool as sent (key order kept: ordered_json from the text).
    r->tools_json.push_back(t);
  }
  return std::nullopt;
}

std::optional<ApiError> parse_functions(const json& v, const ApiLimits& lim, ApiRequest* r) {
  if (!v.is_array()) return wrong_type("functions", "an array", v);
  if (v.size() > lim.max_tools) {
    return bad_request("functions", "'functions' has more than " +
                                        std::to_string(lim.max_tools) + " entries");
  }
  r->legacy_functions = true;
  if (r->tools_json.is_null()) r->tools_json = nlohmann::ordered_json::array();
  for (size_t i = 0; i < v.size(); ++i) {
    const std::string p = "functions[" + std::to_string(i) + "]";
    ToolDef def;
    if (auto e = parse_function(v[i], p, lim, &def)) return e;
    if (auto e = add_tool(std::move(def), p + ".name", r)) return e;
    nlohmann::ordered_json t = {{"type", "function"}, {"function", v[i]}};
    r->tools_json.push_back(std::move(t));
  }
  return std::nullopt;
}

std::optional<ApiError> parse_tool_choice(const json& v, bool legacy, ApiRequest* r) {
  const std::string param = legacy ? "function_call" : "tool_choice";
  if (legacy) r->legacy_functions = true;
  if (v.is_string()) {
    const std::string s = v.get<std::string>();
    if (s == "none") {
      r->tool_choice = ToolChoice::kNone;
    } else if (s == "auto") {
      r->tool_choice = ToolChoice::kAuto;
    } else if (s == "required" && !legacy) {
      r->tool_choice = ToolChoice::kRequired;
    } else {
      return bad_request(param,
                         "'" + param + "' must be \"none\", \"auto\"" +
                             (legacy ? "" : ", \"required\"") + " or a named function",
                         "invalid_value");
    }
    return std::nullopt;
  }
  if (!v.is_object()) return wrong_type(param, "a string or an object", v);
  // {"type": "function", "function": {"name": X}} or, legacy, {"name": X}.
  const json* fn = &v;
  if (!legacy) {
    auto type = v.find("type");
    if (type == v.end() || *type != "function") {
      return bad_request(param + ".type", "'" + param + ".type' must be \"function\"",
                         "invalid_value");
    }
    auto f = v.find("function");
    if (f == v.end() || !f->is_object()) {
      return bad_request(param + ".function", "'" + param + ".function' must be an object");
    }
    fn = &*f;
  }
  auto name = fn->find("name");
  const std::string np = legacy ? param + ".name" : param + ".function.name";
  if (name == fn->end()) return bad_request(np, "'" + np + "' is required");
  if (auto e = get_string(*name, np, 64, &r->tool_choice_name)) return e;
  r->tool_choice = ToolChoice::kNamed;
  return std::nullopt;
}

std::optional<ApiError> finish_tools(ApiRequest* r) {
  if (r->tool_choice == ToolChoice::kNamed) {
    bool found = false;
    for (const auto& t : r->tools) found = found || t.name == r->tool_choice_name;
    if (!found) {
      return bad_request("tool_choice",
                         "'tool_choice' names function '" + r->tool_choice_name +
                             "', which is not in 'tools'",
                         "invalid_value");
    }
  }
  if (r->tools.empty()) {
    if (r->tool_choice == ToolChoice::kRequired) {
      return bad_request("tool_choice", "'tool_choice' is \"required\" but 'tools' is empty",
                         "invalid_value");
    }
    r->tool_choice = ToolChoice::kNone;
  }
  if (r->tool_choice != ToolChoice::kNone && r->output.kind != OutputConstraint::Kind::kText) {
    return bad_request(r->output.param,
                       "'" + r->output.param + "' cannot be combined with tool calls; set "
                       "'tool_choice' to \"none\" or drop one of them",
                       "invalid_value");
  }
  return std::nullopt;
}

namespace {

std::optional<ApiError> set_output(OutputConstraint c, ApiRequest* r) {
  if (r->output.kind != OutputConstraint::Kind::kText && c.kind != OutputConstraint::Kind::kText) {
    return bad_request(c.param,
                       "'" + c.param + "' cannot be combined with '" + r->output.param + "'",
                       "invalid_value");
  }
  if (c.kind != OutputConstraint::Kind::kText) r->output = std::move(c);
  return std::nullopt;
}

}  // namespace

std::optional<ApiError> parse_response_format(const json& v, const ApiLimits& lim,
                                              ApiRequest* r) {
  if (!v.is_object()) return wrong_type("response_format", "an object", v);
  auto type = v.find("type");
  if (type == v.end() || !type->is_string()) {
    return bad_request("response_format.type", "'response_format.type' is required");
  }
  OutputConstraint c;
  c.param = "response_format";
  const std::string t = type->get<std::string>();
  if (t == "text") return std::nullopt;
  if (t == "json_object") {
    c.kind = OutputConstraint::Kind::kJsonObject;
    auto schema = v.find("schema");  // llama.cpp's extension
    if (schema != v.end() && !schema->is_null()) {
      if (auto e = check_schema(*schema, "response_format.schema", lim)) return e;
      c.kind = OutputConstraint::Kind::kJsonSchema;
      c.schema = *schema;
    }
    return set_output(std::move(c), r);
  }
  if (t != "json_schema") {
    return bad_request("response_format.type",
                       "'response_format.type' must be \"text\", \"json_object\" or "
                       "\"json_schema\"",
                       "invalid_value");
  }
  auto js = v.find("json_schema");
  if (js == v.end() || !js->is_object()) {
    return bad_request("response_format.json_schema",
                       "'response_format.json_schema' is required and must be an object");
  }
  c.kind = OutputConstraint::Kind::kJsonSchema;
  for (const auto& [k, f] : js->items()) {
    const std::string p = "response_format.json_schema." + k;
    if (f.is_null()) continue;
    if (k == "name") {
      if (auto e = get_string(f, p, 64, &c.name)) return e;
    } else if (k == "strict") {
      if (auto e = get_bool(f, p, &c.strict)) return e;
    } else if (k == "schema") {
      if (auto e = check_schema(f, p, lim)) return e;
      c.schema = f;
    }
  }
  if (c.name.empty()) {
    return bad_request("response_format.json_schema.name",
                       "'response_format.json_schema.name' is required");
  }
  if (c.schema.is_null()) c.schema = json::object();  // any JSON value as an object? OpenAI: {}
  return set_output(std::move(c), r);
}

std::optional<ApiError> parse_json_schema_field(const json& v, const ApiLimits& lim,
                                                ApiRequest* r) {
  if (auto e = check_schema(v, "json_schema", lim)) return e;
  OutputConstraint c;
  c.param = "json_schema";
  c.kind = OutputConstraint::Kind::kJsonSchema;
  c.schema = v;
  return set_output(std::move(c), r);
}

std::optional<ApiError> parse_grammar_field(const json& v, const ApiLimits& lim, ApiRequest* r) {
  OutputConstraint c;
  c.param = "grammar";
  c.kind = OutputConstraint::Kind::kGrammar;
  if (auto e = get_string(v, "grammar", lim.max_grammar_bytes, &c.grammar)) return e;
  if (c.grammar.empty()) return std::nullopt;  // llama.cpp: an empty grammar means none
  return set_output(std::move(c), r);
}

std::optional<ApiError> parse_template_kwargs(const json& v, const ApiLimits& lim,
                                              ApiRequest* r) {
  if (!v.is_object()) return wrong_type("chat_template_kwargs", "an object", v);
  if (v.size() > lim.max_template_kwargs) {
    return bad_request("chat_template_kwargs", "'chat_template_kwargs' has more than " +
                                                   std::to_string(lim.max_template_kwargs) +
                                                   " entries");
  }
  if (!json_size_at_most(v, lim.max_schema_bytes)) {
    return bad_request("chat_template_kwargs", "'chat_template_kwargs' is too large");
  }
  static const std::set<std::string> kReserved = {"messages", "tools", "add_generation_prompt",
                                                  "bos_token", "eos_token"};
  for (const auto& [k, val] : v.items()) {
    if (kReserved.count(k) != 0) {
      return bad_request("chat_template_kwargs." + k,
                         "'chat_template_kwargs." + k + "' is set by the server", "invalid_value");
    }
    r->chat_template_kwargs[k] = val;
  }
  return std::nullopt;
}

std::optional<ApiError> parse_message_tool_calls(const json& v, const std::string& param,
                                                 const ApiLimits& lim, ChatMessage* msg) {
  if (!v.is_array()) return wrong_type(param, "an array", v);
  if (v.size() > lim.max_tool_calls) {
    return bad_request(param, "'" + param + "' has more than " +
                                  std::to_string(lim.max_tool_calls) + " entries");
  }
  for (size_t i = 0; i < v.size(); ++i) {
    const std::string p = param + "[" + std::to_string(i) + "]";
    const json& c = v[i];
    if (!c.is_object()) return wrong_type(p, "an object", c);
    ChatToolCall call;
    if (auto id = c.find("id"); id != c.end() && !id->is_null()) {
      if (auto e = get_string(*id, p + ".id", 256, &call.id)) return e;
    }
    auto fn = c.find("function");
    if (fn == c.end() || !fn->is_object()) {
      return bad_request(p + ".function", "'" + p + ".function' is required and must be an object");
    }
    auto name = fn->find("name");
    if (name == fn->end()) return bad_request(p + ".function.name", "'" + p + ".function.name' is required");
    if (auto e = get_string(*name, p + ".function.name", 256, &call.name)) return e;
    if (auto args = fn->find("arguments"); args != fn->end() && !args->is_null()) {
      // OpenAI sends a JSON string; some clients send the object itself.
      if (args->is_string()) {
        call.arguments = args->get<std::string>();
      } else if (args->is_object()) {
        call.arguments = args->dump();
      } else {
        return wrong_type(p + ".function.arguments", "a string of JSON", *args);
      }
    } else {
      call.arguments = "{}";
    }
    msg->tool_calls.push_back(std::move(call));
  }
  return std::nullopt;
}

}  // namespace dari::server::parse
