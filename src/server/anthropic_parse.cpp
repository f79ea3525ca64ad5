// Anthropic Messages request parsing and validation (see anthropic.h).
#include <algorithm>
#include <initializer_list>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <utility>

#include "anthropic.h"
#include "api_parse_util.h"

namespace dari::server {

using json = nlohmann::ordered_json;
using namespace parse;  // NOLINT: the shared field checks

namespace {

// Tool names: Anthropic's ^[a-zA-Z0-9_-]{1,128}$.
constexpr size_t kMaxToolName = 128;
constexpr size_t kMaxToolId = 256;
constexpr size_t kMaxUserId = 256;            // metadata.user_id
constexpr int64_t kMinThinkingBudget = 1024;  // thinking.budget_tokens

std::string at(const std::string& base, size_t i) {
  return base + "[" + std::to_string(i) + "]";
}

ApiError required(const std::string& p) {
  return bad_request(p, "'" + p + "' is required");
}

ApiError invalid(const std::string& p, const std::string& message) {
  return bad_request(p, message, "invalid_value");
}

std::optional<ApiError> unknown_member(const std::string& p, const std::string& k,
                                       const ApiLimits& lim) {
  if (!lim.strict) return std::nullopt;
  const std::string name = p.empty() ? k.substr(0, 64) : p + "." + k.substr(0, 64);
  return bad_request(name, "unknown field '" + name + "'", "unknown_field");
}

// The members of the object `o` at `p` besides "type" are among `known`; "cache_control"
// (prompt caching, which changes nothing here) is accepted where `cacheable`.
std::optional<ApiError> check_members(const json& o, const std::string& p,
                                      std::initializer_list<std::string_view> known,
                                      const ApiLimits& lim, bool cacheable = true) {
  for (const auto& [k, v] : o.items()) {
    if (k == "type") continue;
    if (cacheable && k == "cache_control") {
      if (!v.is_null() && !v.is_object()) return wrong_type(p + ".cache_control", "an object", v);
      continue;
    }
    if (std::find(known.begin(), known.end(), k) != known.end()) continue;
    if (auto e = unknown_member(p, k, lim)) return e;
  }
  return std::nullopt;
}

// `o[key]` as a string; absent or null is an error when `needed`, else leaves *out alone.
std::optional<ApiError> member_string(const json& o, const char* key, const std::string& p,
                                      size_t max_bytes, bool needed, std::string* out) {
  auto it = o.find(key);
  const std::string mp = p + "." + key;
  if (it == o.end() || it->is_null()) {
    if (needed) return required(mp);
    return std::nullopt;
  }
  return get_string(*it, mp, max_bytes, out);
}

// A block's "type" (the object check included).
std::optional<ApiError> block_type(const json& b, const std::string& p, std::string* type) {
  if (!b.is_object()) return wrong_type(p, "an object", b);
  return member_string(b, "type", p, 64, true, type);
}

// {"type": "text", "text", "citations"?, "cache_control"?}: the text, which must not be empty.
std::optional<ApiError> read_text_block(const json& b, const std::string& p, const ApiLimits& lim,
                                        std::string* out) {
  if (auto e = check_members(b, p, {"text", "citations"}, lim)) return e;
  if (auto c = b.find("citations"); c != b.end() && !c->is_null() && !c->is_array()) {
    return wrong_type(p + ".citations", "an array", *c);
  }
  if (auto e = member_string(b, "text", p, SIZE_MAX, true, out)) return e;
  if (out->empty()) return invalid(p + ".text", "'" + p + ".text': text blocks must be non-empty");
  return std::nullopt;
}

ApiError unsupported_block(const std::string& p, const std::string& type) {
  const std::string t = type.substr(0, 48);
  if (t == "image" || t == "document" || t == "search_result" || t == "container_upload") {
    return unsupported_value(p + ".type", "content blocks of type '" + t +
                                              "' are not supported: this model reads text only");
  }
  return unsupported_value(p + ".type", "content blocks of type '" + t + "' are not supported");
}

// An array of text blocks (system, tool_result content), joined with "\n".
std::optional<ApiError> read_text_blocks(const json& v, const std::string& p, const ApiLimits& lim,
                                         std::string* out) {
  out->clear();
  for (size_t i = 0; i < v.size(); ++i) {
    const std::string bp = at(p, i);
    std::string type;
    if (auto e = block_type(v[i], bp, &type)) return e;
    if (type != "text") return unsupported_block(bp, type);
    std::string text;
    if (auto e = read_text_block(v[i], bp, lim, &text)) return e;
    if (i > 0) *out += "\n";
    *out += text;
  }
  return std::nullopt;
}

// One content block of a message, as read.
struct Block {
  enum class Kind { kText, kToolUse, kToolResult, kIgnored };
  Kind kind = Kind::kIgnored;
  std::string param;      // "messages[i].content[j]"
  std::string text;       // kText; kToolResult: its content
  std::string id;         // kToolUse: id; kToolResult: tool_use_id
  std::string name;       // kToolUse
  std::string arguments;  // kToolUse: compact JSON of `input`
};

// Consecutive messages of one role (Anthropic merges them into one turn).
struct Turn {
  std::string role;
  std::vector<Block> blocks;
};

std::optional<ApiError> read_tool_use(const json& b, const std::string& p, const ApiLimits& lim,
                                      Block* out) {
  out->kind = Block::Kind::kToolUse;
  if (auto e = check_members(b, p, {"id", "name", "input"}, lim)) return e;
  if (auto e = member_string(b, "id", p, kMaxToolId, true, &out->id)) return e;
  if (out->id.empty()) return invalid(p + ".id", "'" + p + ".id' must not be empty");
  if (auto e = member_string(b, "name", p, kMaxToolName, true, &out->name)) return e;
  if (out->name.empty()) return invalid(p + ".name", "'" + p + ".name' must not be empty");
  auto input = b.find("input");
  if (input == b.end()) return required(p + ".input");
  if (!input->is_object()) return wrong_type(p + ".input", "an object", *input);
  out->arguments = input->dump(-1, ' ', false, json::error_handler_t::replace);
  return std::nullopt;
}

std::optional<ApiError> read_tool_result(const json& b, const std::string& p, const ApiLimits& lim,
                                         Block* out) {
  out->kind = Block::Kind::kToolResult;
  if (auto e = check_members(b, p, {"tool_use_id", "content", "is_error"}, lim)) return e;
  if (auto e = member_string(b, "tool_use_id", p, kMaxToolId, true, &out->id)) return e;
  if (auto c = b.find("content"); c != b.end() && !c->is_null()) {
    if (c->is_string()) {
      out->text = c->get<std::string>();
    } else if (c->is_array()) {
      if (auto e = read_text_blocks(*c, p + ".content", lim, &out->text)) return e;
    } else {
      return wrong_type(p + ".content", "a string or an array of content blocks", *c);
    }
  }
  if (auto err = b.find("is_error"); err != b.end() && !err->is_null()) {
    bool is_error = false;
    if (auto e = get_bool(*err, p + ".is_error", &is_error)) return e;
  }
  return std::nullopt;
}

// One block of a message with `role`.
std::optional<ApiError> read_block(const json& b, const std::string& p, const std::string& role,
                                   const ApiLimits& lim, Block* out) {
  out->param = p;
  std::string type;
  if (auto e = block_type(b, p, &type)) return e;
  if (type == "text") {
    out->kind = Block::Kind::kText;
    return read_text_block(b, p, lim, &out->text);
  }
  if (type == "tool_use") {
    if (role != "assistant") {
      return invalid(p + ".type", "'tool_use' blocks are only allowed in assistant messages");
    }
    return read_tool_use(b, p, lim, out);
  }
  if (type == "tool_result") {
    if (role != "user") {
      return invalid(p + ".type", "'tool_result' blocks are only allowed in user messages");
    }
    return read_tool_result(b, p, lim, out);
  }
  // Earlier reasoning: read and dropped (the model does not see its old thinking).
  std::string ignored;
  if (type == "thinking") {
    if (auto e = check_members(b, p, {"thinking", "signature"}, lim, false)) return e;
    if (auto e = member_string(b, "thinking", p, SIZE_MAX, true, &ignored)) return e;
    return member_string(b, "signature", p, SIZE_MAX, true, &ignored);
  }
  if (type == "redacted_thinking") {
    if (auto e = check_members(b, p, {"data"}, lim, false)) return e;
    return member_string(b, "data", p, SIZE_MAX, true, &ignored);
  }
  return unsupported_block(p, type);
}

std::optional<ApiError> read_message(const json& m, const std::string& p, bool last,
                                     const ApiLimits& lim, Turn* out) {
  if (!m.is_object()) return wrong_type(p, "an object", m);
  if (auto e = check_members(m, p, {"role", "content"}, lim, false)) return e;
  auto role = m.find("role");
  if (role == m.end()) return required(p + ".role");
  if (auto e = get_string(*role, p + ".role", 64, &out->role)) return e;
  if (out->role != "user" && out->role != "assistant") {
    return invalid(
        p + ".role",
        "'" + p + ".role' must be \"user\" or \"assistant\"" +
            (out->role == "system" ? " (the system prompt is the top-level 'system' field)" : ""));
  }
  // Only the final message, if the assistant's (a prefill), may be empty.
  const bool may_be_empty = last && out->role == "assistant";
  auto content = m.find("content");
  if (content == m.end()) return required(p + ".content");
  const std::string cp = p + ".content";
  const ApiError empty = invalid(cp, "'" + cp +
                                         "' must be non-empty: only the final assistant message "
                                         "may be empty");
  if (content->is_string()) {
    Block b;
    b.kind = Block::Kind::kText;
    b.param = cp;
    b.text = content->get<std::string>();
    if (b.text.empty() && !may_be_empty) return empty;
    if (!b.text.empty()) out->blocks.push_back(std::move(b));
    return std::nullopt;
  }
  if (!content->is_array())
    return wrong_type(cp, "a string or an array of content blocks", *content);
  if (content->empty() && !may_be_empty) return empty;
  for (size_t j = 0; j < content->size(); ++j) {
    Block b;
    if (auto e = read_block((*content)[j], at(cp, j), out->role, lim, &b)) return e;
    out->blocks.push_back(std::move(b));
  }
  return std::nullopt;
}

// Anthropic's tool pairing rules, turn by turn: an assistant turn's tool_use ids are unique and
// each is answered by a tool_result in the next turn (when there is one); a user turn's
// tool_result blocks come before its other content and answer a tool_use of the turn before.
std::optional<ApiError> check_tool_pairing(const std::vector<Turn>& turns, const ApiLimits& lim) {
  for (size_t t = 0; t < turns.size(); ++t) {
    const Turn& turn = turns[t];
    if (turn.role == "assistant") {
      std::set<std::string> ids;
      uint32_t calls = 0;
      for (const Block& b : turn.blocks) {
        if (b.kind != Block::Kind::kToolUse) continue;
        if (++calls > lim.max_tool_calls) {
          return bad_request(b.param, "an assistant turn has more than " +
                                          std::to_string(lim.max_tool_calls) + " tool_use blocks");
        }
        if (!ids.insert(b.id).second) {
          return invalid(b.param + ".id", "tool_use id '" + b.id.substr(0, 64) + "' appears twice");
        }
      }
      if (t + 1 >= turns.size()) continue;
      std::set<std::string> answered;
      for (const Block& b : turns[t + 1].blocks) {
        if (b.kind == Block::Kind::kToolResult) answered.insert(b.id);
      }
      for (const Block& b : turn.blocks) {
        if (b.kind == Block::Kind::kToolUse && answered.count(b.id) == 0) {
          return invalid(b.param + ".id", "tool_use id '" + b.id.substr(0, 64) +
                                              "' has no tool_result block in the next message: "
                                              "each tool_use must be answered there");
        }
      }
      continue;
    }
    std::set<std::string> asked;
    if (t > 0) {
      for (const Block& b : turns[t - 1].blocks) {
        if (b.kind == Block::Kind::kToolUse) asked.insert(b.id);
      }
    }
    std::set<std::string> answered;
    bool other_content = false;
    for (const Block& b : turn.blocks) {
      if (b.kind == Block::Kind::kText) other_content = true;
      if (b.kind != Block::Kind::kToolResult) continue;
      if (other_content) {
        return invalid(b.param, "'" + b.param +
                                    "': tool_result blocks must come before any other content "
                                    "of a user message");
      }
      if (asked.count(b.id) == 0) {
        return invalid(b.param + ".tool_use_id",
                       "unexpected tool_use_id '" + b.id.substr(0, 64) +
                           "': each tool_result must answer a tool_use of the previous message");
      }
      if (!answered.insert(b.id).second) {
        return invalid(b.param + ".tool_use_id",
                       "tool_use_id '" + b.id.substr(0, 64) + "' is answered twice");
      }
    }
  }
  return std::nullopt;
}

// The turns as OpenAI-shaped messages (after the system message).
void append_chat_messages(const std::vector<Turn>& turns, std::vector<ChatMessage>* out) {
  std::map<std::string, std::string> tool_names;  // tool_use id -> name, of the turn before
  for (const Turn& turn : turns) {
    std::string text;
    bool any_text = false;
    auto add_text = [&](const std::string& s) {
      if (any_text) text += "\n";
      text += s;
      any_text = true;
    };
    if (turn.role == "assistant") {
      ChatMessage msg("assistant", "");
      tool_names.clear();
      for (const Block& b : turn.blocks) {
        if (b.kind == Block::Kind::kText) add_text(b.text);
        if (b.kind != Block::Kind::kToolUse) continue;
        tool_names[b.id] = b.name;
        msg.tool_calls.push_back({openai_tool_call_id(b.id), b.name, b.arguments});
      }
      msg.content = std::move(text);
      msg.content_null = !any_text && !msg.tool_calls.empty();
      out->push_back(std::move(msg));
      continue;
    }
    bool any_result = false;
    for (const Block& b : turn.blocks) {
      if (b.kind == Block::Kind::kText) add_text(b.text);
      if (b.kind != Block::Kind::kToolResult) continue;
      ChatMessage msg("tool", b.text);
      msg.tool_call_id = openai_tool_call_id(b.id);
      if (auto it = tool_names.find(b.id); it != tool_names.end()) msg.name = it->second;
      out->push_back(std::move(msg));
      any_result = true;
    }
    if (any_text || !any_result) out->emplace_back("user", std::move(text));
  }
}

std::optional<ApiError> parse_messages(const json& v, const ApiLimits& lim,
                                       std::vector<Turn>* turns) {
  if (!v.is_array()) return wrong_type("messages", "an array", v);
  if (v.empty()) return invalid("messages", "'messages' must not be empty");
  if (v.size() > lim.max_messages) {
    return bad_request("messages",
                       "'messages' has more than " + std::to_string(lim.max_messages) + " entries");
  }
  for (size_t i = 0; i < v.size(); ++i) {
    Turn t;
    if (auto e = read_message(v[i], at("messages", i), i + 1 == v.size(), lim, &t)) return e;
    if (!turns->empty() && turns->back().role == t.role) {
      auto& blocks = turns->back().blocks;
      blocks.insert(blocks.end(), std::make_move_iterator(t.blocks.begin()),
                    std::make_move_iterator(t.blocks.end()));
    } else {
      turns->push_back(std::move(t));
    }
  }
  return check_tool_pairing(*turns, lim);
}

std::optional<ApiError> parse_system(const json& v, const ApiLimits& lim, std::string* out) {
  if (v.is_string()) {
    *out = v.get<std::string>();
    return std::nullopt;
  }
  if (!v.is_array()) return wrong_type("system", "a string or an array of text blocks", v);
  return read_text_blocks(v, "system", lim, out);
}

std::optional<ApiError> parse_stop_sequences(const json& v, const ApiLimits& lim, ApiRequest* r) {
  if (!v.is_array()) return wrong_type("stop_sequences", "an array of strings", v);
  if (v.size() > kAnthropicMaxStopSequences) {
    return invalid("stop_sequences", "'stop_sequences' has more than " +
                                         std::to_string(kAnthropicMaxStopSequences) + " entries");
  }
  for (size_t i = 0; i < v.size(); ++i) {
    const std::string p = at("stop_sequences", i);
    std::string s;
    if (auto e = get_string(v[i], p, lim.max_stop_bytes, &s)) return e;
    if (s.empty()) return invalid(p, "'" + p + "' must not be empty");
    r->stop.push_back(std::move(s));
  }
  return std::nullopt;
}

bool valid_tool_name(const std::string& s) {
  if (s.empty() || s.size() > kMaxToolName) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
  });
}

// One custom tool {name, description?, input_schema, strict?}; other `type`s are server tools.
std::optional<ApiError> parse_tool(const json& t, const std::string& p, const ApiLimits& lim,
                                   ApiRequest* r) {
  if (!t.is_object()) return wrong_type(p, "an object", t);
  std::string type = "custom";
  if (auto e = member_string(t, "type", p, 64, false, &type)) return e;
  if (type != "custom") {
    return unsupported_value(p + ".type", "server tools (type '" + type.substr(0, 48) +
                                              "') are not supported; define the tool with a name "
                                              "and an input_schema");
  }
  if (auto e = check_members(t, p, {"name", "description", "input_schema", "strict"}, lim)) {
    return e;
  }
  ToolDef def;
  if (auto e = member_string(t, "name", p, kMaxToolName, true, &def.name)) return e;
  if (!valid_tool_name(def.name)) {
    return invalid(p + ".name", "'" + p +
                                    ".name' must be 1 to 128 characters of a-z, A-Z, 0-9, "
                                    "_ or -");
  }
  if (auto e = member_string(t, "description", p, 64u << 10, false, &def.description)) return e;
  if (auto s = t.find("strict"); s != t.end() && !s->is_null()) {
    if (auto e = get_bool(*s, p + ".strict", &def.strict)) return e;
  }
  const std::string sp = p + ".input_schema";
  auto schema = t.find("input_schema");
  if (schema == t.end() || schema->is_null()) return required(sp);
  if (!schema->is_object()) return wrong_type(sp, "an object (a JSON Schema)", *schema);
  auto stype = schema->find("type");
  if (stype == schema->end() || *stype != "object") {
    return invalid(sp + ".type", "'" + sp + ".type' must be \"object\"");
  }
  if (!json_size_at_most(*schema, lim.max_schema_bytes)) {
    return invalid(
        sp, "'" + sp + "' is larger than " + std::to_string(lim.max_schema_bytes) + " bytes");
  }
  for (const auto& have : r->tools) {
    if (have.name == def.name) {
      return invalid(p + ".name", "tool name '" + def.name + "' appears twice");
    }
  }
  def.parameters = *schema;
  // The shape chat templates expect (OpenAI's).
  json fn = json::object();
  fn["name"] = def.name;
  if (t.contains("description") && !t["description"].is_null()) fn["description"] = def.description;
  fn["parameters"] = *schema;
  r->tools_json.push_back(json{{"type", "function"}, {"function", std::move(fn)}});
  r->tools.push_back(std::move(def));
  return std::nullopt;
}

std::optional<ApiError> parse_tools(const json& v, const ApiLimits& lim, ApiRequest* r) {
  if (!v.is_array()) return wrong_type("tools", "an array", v);
  if (v.size() > lim.max_tools) {
    return bad_request("tools",
                       "'tools' has more than " + std::to_string(lim.max_tools) + " entries");
  }
  r->tools_json = json::array();
  for (size_t i = 0; i < v.size(); ++i) {
    if (auto e = parse_tool(v[i], at("tools", i), lim, r)) return e;
  }
  return std::nullopt;
}

struct State {
  std::vector<Turn> turns;
  std::string system;
  std::optional<float> top_p;
  std::string tool_choice;  // "" when absent, else its type
  std::string thinking;     // "" when absent, else its type
  int64_t budget_tokens = -1;
};

// tool_choice: {type: auto|any|tool|none, name (tool), disable_parallel_tool_use}.
std::optional<ApiError> parse_tool_choice(const json& v, const ApiLimits& lim, ApiRequest* r,
                                          State* st) {
  if (!v.is_object()) return wrong_type("tool_choice", "an object", v);
  if (auto e = member_string(v, "type", "tool_choice", 16, true, &st->tool_choice)) return e;
  const std::string& type = st->tool_choice;
  if (type == "auto") {
    r->tool_choice = ToolChoice::kAuto;
  } else if (type == "any") {
    r->tool_choice = ToolChoice::kRequired;
  } else if (type == "tool") {
    r->tool_choice = ToolChoice::kNamed;
    if (auto e =
            member_string(v, "name", "tool_choice", kMaxToolName, true, &r->tool_choice_name)) {
      return e;
    }
  } else if (type == "none") {
    r->tool_choice = ToolChoice::kNone;
  } else {
    return invalid("tool_choice.type",
                   "'tool_choice.type' must be \"auto\", \"any\", \"tool\" or \"none\"");
  }
  if (type == "tool") {
    if (auto e =
            check_members(v, "tool_choice", {"name", "disable_parallel_tool_use"}, lim, false)) {
      return e;
    }
  } else if (auto e = check_members(v, "tool_choice", {"disable_parallel_tool_use"}, lim, false)) {
    return e;
  }
  if (auto d = v.find("disable_parallel_tool_use"); d != v.end() && !d->is_null()) {
    bool disable = false;
    if (auto e = get_bool(*d, "tool_choice.disable_parallel_tool_use", &disable)) return e;
    r->parallel_tool_calls = !disable;
  }
  return std::nullopt;
}

// thinking: {type: enabled, budget_tokens} | {type: disabled} | {type: adaptive}.
std::optional<ApiError> parse_thinking(const json& v, const ApiLimits& lim, State* st) {
  if (!v.is_object()) return wrong_type("thinking", "an object", v);
  if (auto e = member_string(v, "type", "thinking", 16, true, &st->thinking)) return e;
  if (st->thinking == "enabled") {
    if (auto e = check_members(v, "thinking", {"budget_tokens"}, lim, false)) return e;
    auto b = v.find("budget_tokens");
    if (b == v.end() || b->is_null()) return required("thinking.budget_tokens");
    return get_int(*b, "thinking.budget_tokens", kMinThinkingBudget,
                   std::numeric_limits<int32_t>::max(), &st->budget_tokens);
  }
  if (st->thinking == "disabled" || st->thinking == "adaptive") {
    return check_members(v, "thinking", {}, lim, false);
  }
  return invalid("thinking.type",
                 "'thinking.type' must be \"enabled\", \"disabled\" or "
                 "\"adaptive\"");
}

std::optional<ApiError> parse_metadata(const json& v, const ApiLimits& lim, ApiRequest* r) {
  if (!v.is_object()) return wrong_type("metadata", "an object", v);
  if (auto e = check_members(v, "metadata", {"user_id"}, lim, false)) return e;
  return member_string(v, "user_id", "metadata", std::min<size_t>(kMaxUserId, lim.max_user_bytes),
                       false, &r->user);
}

// One top-level field.
std::optional<ApiError> parse_field(const std::string& k, const json& v, const ApiLimits& lim,
                                    ApiRequest* r, State* st) {
  int64_t i = 0;
  if (k == "model") {
    if (auto e = get_string(v, k, lim.max_model_bytes, &r->model)) return e;
    if (r->model.empty()) return invalid(k, "'model' must not be empty");
    return std::nullopt;
  }
  if (k == "max_tokens") {
    if (auto e = get_int(v, k, 1, std::numeric_limits<int32_t>::max(), &i)) return e;
    r->max_tokens = static_cast<int32_t>(i);
    return std::nullopt;
  }
  if (k == "messages") return parse_messages(v, lim, &st->turns);
  if (k == "system") return parse_system(v, lim, &st->system);
  if (k == "stop_sequences") return parse_stop_sequences(v, lim, r);
  if (k == "temperature") return get_number(v, k, 0.0, 1.0, false, &r->temperature);
  if (k == "top_p") {
    float p = 1.0f;
    if (auto e = get_number(v, k, 0.0, 1.0, false, &p)) return e;
    st->top_p = p;
    return std::nullopt;
  }
  if (k == "top_k") {
    if (auto e = get_int(v, k, 0, 1 << 30, &i)) return e;
    r->top_k = static_cast<int32_t>(i);
    return std::nullopt;
  }
  if (k == "stream") return get_bool(v, k, &r->stream);
  if (k == "metadata") return parse_metadata(v, lim, r);
  if (k == "tools") return parse_tools(v, lim, r);
  if (k == "tool_choice") return parse_tool_choice(v, lim, r, st);
  if (k == "thinking") return parse_thinking(v, lim, st);
  if (k == "service_tier") {
    std::string tier;
    if (auto e = get_string(v, k, 64, &tier)) return e;
    if (tier != "auto" && tier != "standard_only") {
      return invalid(k, "'service_tier' must be \"auto\" or \"standard_only\"");
    }
    return std::nullopt;
  }
  if (k == "container") {  // code execution containers: nothing to reuse here
    if (!v.is_string() && !v.is_object()) return wrong_type(k, "a string or an object", v);
    return std::nullopt;
  }
  if (k == "mcp_servers") {
    if (!v.is_array()) return wrong_type(k, "an array", v);
    if (!v.empty()) return unsupported_value(k, "MCP servers ('mcp_servers') are not supported");
    return std::nullopt;
  }
  if (lim.strict) return unknown_member("", k, lim);
  if (r->ignored_fields.size() < lim.max_ignored_fields) {
    r->ignored_fields.push_back(k.substr(0, 64));
  }
  return std::nullopt;
}

// Once every field is read: the cross-field rules, then the messages in OpenAI's form.
std::optional<ApiError> finish(const json& doc, ApiRequest* r, State* st) {
  for (const char* k : {"model", "max_tokens", "messages"}) {
    if (!doc.contains(k)) return required(k);
  }
  if (st->thinking == "enabled" && st->budget_tokens >= *r->max_tokens) {
    return invalid("thinking.budget_tokens",
                   "'thinking.budget_tokens' must be less than 'max_tokens' (" +
                       std::to_string(*r->max_tokens) + ")");
  }
  if (!st->thinking.empty()) {
    r->chat_template_kwargs["enable_thinking"] = st->thinking != "disabled";
  }
  if (st->top_p) {
    // Nucleus sampling with p = 0 keeps the most likely token alone: top_k 1 (the sampler wants
    // top_p in (0, 1]).
    if (*st->top_p > 0.0f) {
      r->top_p = *st->top_p;
    } else {
      r->top_k = 1;
    }
  }
  if (r->tool_choice == ToolChoice::kNamed) {
    const bool found = std::any_of(r->tools.begin(), r->tools.end(),
                                   [&](const ToolDef& t) { return t.name == r->tool_choice_name; });
    if (!found) {
      return invalid("tool_choice.name", "'tool_choice.name' names tool '" + r->tool_choice_name +
                                             "', which is not in 'tools'");
    }
  }
  if (r->tools.empty()) {
    if (r->tool_choice == ToolChoice::kRequired) {
      return invalid("tool_choice", "'tool_choice' of type \"any\" requires 'tools'");
    }
    r->tool_choice = ToolChoice::kNone;
  }
  if (!st->system.empty()) r->messages.emplace_back("system", st->system);
  append_chat_messages(st->turns, &r->messages);
  return std::nullopt;
}

}  // namespace

std::variant<ApiRequest, ApiError> parse_anthropic_request(std::string_view body,
                                                           const ApiLimits& limits) {
  if (json_depth(body) > limits.max_json_depth) {
    return bad_request(
        "", "request body nests deeper than " + std::to_string(limits.max_json_depth) + " levels");
  }
  const json doc = json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return bad_request("", "request body is not valid JSON", "invalid_json");
  if (!doc.is_object()) return bad_request("", "request body must be a JSON object");
  ApiRequest r;
  r.endpoint = Endpoint::kMessages;
  State st;
  for (const auto& [k, v] : doc.items()) {
    // Optional fields sent as null count as absent; the required ones must have a value.
    if (v.is_null() && k != "model" && k != "max_tokens" && k != "messages") continue;
    if (auto e = parse_field(k, v, limits, &r, &st)) return *e;
  }
  if (auto e = finish(doc, &r, &st)) return *e;
  return r;
}

}  // namespace dari::server
