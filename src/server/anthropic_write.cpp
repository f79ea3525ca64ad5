// Anthropic Messages responses: the message body, the SSE events, error bodies, tool ids (see
// anthropic.h).
#include <utility>

#include "anthropic.h"

namespace dari::server {

using ojson = nlohmann::ordered_json;

namespace {

constexpr std::string_view kCallPrefix = "call_";
constexpr std::string_view kToolUsePrefix = "toolu_";
constexpr size_t kGeneratedIdChars = 24;  // "call_" + 24 alphanumerics (the tool-call parser)

// Compact JSON; invalid UTF-8 in strings is replaced (U+FFFD), never thrown (as dump_json).
std::string dump(const ojson& j) {
  return j.dump(-1, ' ', false, ojson::error_handler_t::replace);
}

std::string sse(std::string_view event, const ojson& data) {
  std::string out = "event: ";
  out += event;
  out += "\ndata: ";
  out += dump(data);
  out += "\n\n";
  return out;
}

ojson or_null(const std::string& s) {
  return s.empty() ? ojson(nullptr) : ojson(s);
}

// A tool call's arguments as the tool_use block's input: the JSON object, or {} when the text
// is not one (the tool-call parser always makes an object).
ojson tool_input(const std::string& arguments) {
  ojson v = ojson::parse(arguments, nullptr, /*allow_exceptions=*/false);
  if (v.is_discarded() || !v.is_object()) return ojson::object();
  return v;
}

void merge_extra(const nlohmann::json& extra, ojson* out) {
  if (!extra.is_object()) return;
  for (const auto& [k, v] : extra.items()) (*out)[k] = ojson(v);
}

ojson error_json(const ApiError& e) {
  return ojson{{"type", "error"},
               {"error", {{"type", anthropic_error_type(e.status)}, {"message", e.message}}}};
}

}  // namespace

const char* anthropic_error_type(int status) {
  switch (status) {
    case 400:
      return "invalid_request_error";
    case 401:
      return "authentication_error";
    case 403:
      return "permission_error";
    case 404:
      return "not_found_error";
    case 413:
      return "request_too_large";
    case 429:
      return "rate_limit_error";
    case 503:
    case 529:
      return "overloaded_error";
    default:
      return status >= 500 ? "api_error" : "invalid_request_error";
  }
}

std::string anthropic_error_body(const ApiError& e) {
  return dump(error_json(e));
}

std::string anthropic_tool_use_id(std::string_view call_id) {
  if (call_id.empty() || call_id.substr(0, kToolUsePrefix.size()) == kToolUsePrefix) {
    return std::string(call_id);
  }
  if (call_id.substr(0, kCallPrefix.size()) == kCallPrefix)
    call_id.remove_prefix(kCallPrefix.size());
  return std::string(kToolUsePrefix) + std::string(call_id);
}

std::string openai_tool_call_id(std::string_view tool_use_id) {
  if (tool_use_id.size() <= kToolUsePrefix.size() ||
      tool_use_id.substr(0, kToolUsePrefix.size()) != kToolUsePrefix) {
    return std::string(tool_use_id);
  }
  const std::string_view rest = tool_use_id.substr(kToolUsePrefix.size());
  if (rest.size() == kGeneratedIdChars) return std::string(kCallPrefix) + std::string(rest);
  return std::string(rest);
}

const char* anthropic_stop_reason(std::string_view finish_reason) {
  if (finish_reason == "length") return "max_tokens";
  if (finish_reason == "tool_calls" || finish_reason == "function_call") return "tool_use";
  if (finish_reason == "content_filter") return "refusal";
  return "end_turn";
}

std::string anthropic_message_body(const AnthropicResult& r) {
  ojson content = ojson::array();
  if (!r.thinking.empty()) {
    content.push_back({{"type", "thinking"}, {"thinking", r.thinking}, {"signature", ""}});
  }
  if (!r.text.empty()) content.push_back({{"type", "text"}, {"text", r.text}});
  for (const ToolCall& c : r.tool_calls) {
    content.push_back({{"type", "tool_use"},
                       {"id", anthropic_tool_use_id(c.id)},
                       {"name", c.name},
                       {"input", tool_input(c.arguments)}});
  }
  ojson body = {{"id", r.id},
                {"type", "message"},
                {"role", "assistant"},
                {"model", r.model},
                {"content", std::move(content)},
                {"stop_reason", or_null(r.stop_reason)},
                {"stop_sequence", or_null(r.stop_sequence)},
                {"usage", {{"input_tokens", r.input_tokens}, {"output_tokens", r.output_tokens}}}};
  merge_extra(r.extra, &body);
  return dump(body);
}

std::string AnthropicStreamWriter::start(const std::string& id, const std::string& model,
                                         uint64_t input_tokens) {
  ojson message = {{"id", id},
                   {"type", "message"},
                   {"role", "assistant"},
                   {"model", model},
                   {"content", ojson::array()},
                   {"stop_reason", nullptr},
                   {"stop_sequence", nullptr},
                   {"usage", {{"input_tokens", input_tokens}, {"output_tokens", 0}}}};
  return sse("message_start", {{"type", "message_start"}, {"message", std::move(message)}}) +
         sse("ping", {{"type", "ping"}});
}

std::string AnthropicStreamWriter::open(Block kind, const ojson& content_block) {
  open_ = kind;
  open_index_ = next_index_++;
  return sse(
      "content_block_start",
      {{"type", "content_block_start"}, {"index", open_index_}, {"content_block", content_block}});
}

std::string AnthropicStreamWriter::close() {
  if (open_ == Block::kNone) return "";
  open_ = Block::kNone;
  open_tool_ = -1;
  return sse("content_block_stop", {{"type", "content_block_stop"}, {"index", open_index_}});
}

std::string AnthropicStreamWriter::text_like(Block kind, const std::string& text) {
  std::string out;
  const bool thinking = kind == Block::kThinking;
  if (open_ != kind) {
    out += close();
    out += open(kind, thinking ? ojson{{"type", "thinking"}, {"thinking", ""}, {"signature", ""}}
                               : ojson{{"type", "text"}, {"text", ""}});
  }
  ojson delta = thinking ? ojson{{"type", "thinking_delta"}, {"thinking", text}}
                         : ojson{{"type", "text_delta"}, {"text", text}};
  out +=
      sse("content_block_delta",
          {{"type", "content_block_delta"}, {"index", open_index_}, {"delta", std::move(delta)}});
  return out;
}

std::string AnthropicStreamWriter::feed(const StreamDelta& d) {
  if (finished_) return "";
  std::string out;
  if (!d.reasoning_content.empty()) out += text_like(Block::kThinking, d.reasoning_content);
  if (!d.content.empty()) out += text_like(Block::kText, d.content);
  for (const StreamDelta::ToolDelta& t : d.tool_calls) {
    if (!t.id.empty() || !t.name.empty()) {  // a call's header: its own block
      out += close();
      out += open(Block::kToolUse, {{"type", "tool_use"},
                                    {"id", anthropic_tool_use_id(t.id)},
                                    {"name", t.name},
                                    {"input", ojson::object()}});
      open_tool_ = t.index;
    }
    // Argument text belongs to the open call (the parser sends each call's header first).
    if (t.arguments.empty() || open_ != Block::kToolUse || open_tool_ != t.index) continue;
    out += sse("content_block_delta",
               {{"type", "content_block_delta"},
                {"index", open_index_},
                {"delta", {{"type", "input_json_delta"}, {"partial_json", t.arguments}}}});
  }
  return out;
}

std::string AnthropicStreamWriter::finish(const std::string& stop_reason,
                                          const std::string& stop_sequence, uint64_t output_tokens,
                                          const nlohmann::json& extra) {
  if (finished_) return "";
  finished_ = true;
  std::string out = close();
  ojson delta = {
      {"type", "message_delta"},
      {"delta", {{"stop_reason", or_null(stop_reason)}, {"stop_sequence", or_null(stop_sequence)}}},
      {"usage", {{"output_tokens", output_tokens}}}};
  merge_extra(extra, &delta);
  out += sse("message_delta", delta);
  out += sse("message_stop", {{"type", "message_stop"}});
  return out;
}

std::string AnthropicStreamWriter::error_event(const ApiError& e) {
  return sse("error", error_json(e));
}

}  // namespace dari::server
