// ChatFormatter: turns a conversation into the prompt tokens for one chat turn.
//
// It uses the model's chat template (GGUF `tokenizer.chat_template`) through the template engine
// when both are available; otherwise a documented plain fallback:
//     [<system text>"\n\n"]  then per message  "User: <text>\n"  or  "Assistant: <text>\n",
//     then "Assistant:" as the generation prompt; "\nUser:" is a stop string.
// System messages in the fallback are written as plain text before the first turn.
//
// Ownership: keeps a reference to the Tokenizer (or the Engine's), which must outlive it.
// Thread safety: render()/tokenize() are const and may run on any thread (the tokenizer is
// immutable after load).
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "dari/core/result.h"

namespace dari {

class Engine;
class Tokenizer;

// A function call made by the assistant in an earlier turn (OpenAI `tool_calls[i]`).
struct ChatToolCall {
  std::string id;
  std::string name;
  std::string arguments;  // JSON text as the client sent it (normally an object)
};

struct ChatMessage {
  ChatMessage() = default;
  ChatMessage(std::string r, std::string c) : role(std::move(r)), content(std::move(c)) {}

  std::string role;  // "system", "user", "assistant" or "tool"
  std::string content;
  std::string name;                     // optional participant / tool name
  std::string tool_call_id;             // role "tool": the call this message answers
  std::vector<ChatToolCall> tool_calls;  // role "assistant": calls it made
  std::string reasoning_content;        // role "assistant": its earlier reasoning, if sent back
  bool content_null = false;            // an assistant turn with tool calls and no content
};

// What a request adds to the template's variables besides the messages.
struct ChatRenderOptions {
  // The tool list as OpenAI sends it ([{"type": "function", "function": {...}}]); null: the
  // template does not see `tools` at all (some templates fail when it is defined as None).
  nlohmann::ordered_json tools = nullptr;
  // Extra template variables (`chat_template_kwargs`, e.g. enable_thinking); they override the
  // standard ones of the same name.
  std::map<std::string, nlohmann::ordered_json> extra_vars;
};

class ChatFormatter {
 public:
  // use_template = false forces the plain fallback.
  explicit ChatFormatter(const Engine& engine, bool use_template = true);
  // For callers without an Engine (the server): the tokenizer and the model's chat template
  // ("" = none, so the fallback).
  ChatFormatter(const Tokenizer& tokenizer, std::string chat_template, bool use_template = true);

  bool uses_template() const { return use_template_; }
  std::string describe() const;  // "chat template" or "plain fallback (...)" for -v output

  // The rendered conversation, ending with the prompt for the assistant's reply. The plain
  // fallback ignores `opts` (it has no way to show tools).
  Result<std::string> render(const std::vector<ChatMessage>& messages,
                             const ChatRenderOptions& opts = {}) const;
  // render() then tokenize, parsing special tokens; BOS is added as the metadata says unless the
  // rendered text already starts with the BOS token's text.
  Result<std::vector<int32_t>> tokenize(const std::vector<ChatMessage>& messages,
                                        const ChatRenderOptions& opts = {}) const;
  // tokenize() of text that render() produced.
  std::vector<int32_t> tokenize_text(const std::string& text) const;
  const std::string& template_source() const { return template_; }

  // Stop strings for the reply (fallback: "\nUser:"; template: none, the EOG token ends it).
  std::vector<std::string> stop_strings() const;
  // The fallback's reply follows "Assistant:", so its first space is formatting, not content.
  bool strip_reply_leading_space() const { return !use_template_; }

 private:
  Result<std::string> render_template(const std::vector<ChatMessage>& messages,
                                      const ChatRenderOptions& opts) const;
  std::string render_fallback(const std::vector<ChatMessage>& messages) const;

  const Tokenizer& tokenizer_;
  std::string template_;
  bool use_template_ = false;
};

}  // namespace dari
