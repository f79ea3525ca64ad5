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

#include <string>
#include <vector>

#include "dari/core/result.h"

namespace dari {

class Engine;
class Tokenizer;

struct ChatMessage {
  std::string role;     // "system", "user" or "assistant"
  std::string content;
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

  // The rendered conversation, ending with the prompt for the assistant's reply.
  Result<std::string> render(const std::vector<ChatMessage>& messages) const;
  // render() then tokenize, parsing special tokens; BOS is added as the metadata says unless the
  // rendered text already starts with the BOS token's text.
  Result<std::vector<int32_t>> tokenize(const std::vector<ChatMessage>& messages) const;

  // Stop strings for the reply (fallback: "\nUser:"; template: none, the EOG token ends it).
  std::vector<std::string> stop_strings() const;
  // The fallback's reply follows "Assistant:", so its first space is formatting, not content.
  bool strip_reply_leading_space() const { return !use_template_; }

 private:
  Result<std::string> render_template(const std::vector<ChatMessage>& messages) const;
  std::string render_fallback(const std::vector<ChatMessage>& messages) const;

  const Tokenizer& tokenizer_;
  std::string template_;
  bool use_template_ = false;
};

}  // namespace dari
