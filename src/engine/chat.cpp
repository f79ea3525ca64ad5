// ChatFormatter: chat template when available, plain fallback otherwise.
#include "dari/engine/chat.h"

#include <utility>

#include "dari/engine.h"

namespace dari {

ChatFormatter::ChatFormatter(const Engine& engine, bool use_template)
    : ChatFormatter(engine.tokenizer(), engine.chat_template(), use_template) {}

ChatFormatter::ChatFormatter(const Tokenizer& tokenizer, std::string chat_template,
                             bool use_template)
    : tokenizer_(tokenizer) {
  if (use_template) {
    template_ = std::move(chat_template);
    use_template_ = !template_.empty();
  }
}

std::string ChatFormatter::describe() const {
  return use_template_ ? "model chat template"
                       : "plain fallback (\"User: ...\\nAssistant:\")";
}

std::vector<std::string> ChatFormatter::stop_strings() const {
  if (use_template_) return {};
  return {"\nUser:"};
}

std::string ChatFormatter::render_fallback(const std::vector<ChatMessage>& messages) const {
  std::string out;
  for (const auto& m : messages) {
    if (m.role == "system") {
      out += m.content;
      out += "\n\n";
    } else if (m.role == "assistant") {
      out += "Assistant: " + m.content + "\n";
    } else if (m.role == "tool") {
      out += "Tool: " + m.content + "\n";
    } else {
      out += "User: " + m.content + "\n";
    }
  }
  out += "Assistant:";
  return out;
}

Result<std::string> ChatFormatter::render(const std::vector<ChatMessage>& messages,
                                          const ChatRenderOptions& opts) const {
  if (use_template_) return render_template(messages, opts);
  return render_fallback(messages);
}

Result<std::vector<int32_t>> ChatFormatter::tokenize(const std::vector<ChatMessage>& messages,
                                                     const ChatRenderOptions& opts) const {
  DARI_ASSIGN_OR_RETURN(std::string text, render(messages, opts));
  return tokenize_text(text);
}

std::vector<int32_t> ChatFormatter::tokenize_text(const std::string& text) const {
  const Tokenizer& tok = tokenizer_;
  EncodeOptions eo;
  eo.add_special = true;
  eo.parse_special = true;
  const TokenId bos = tok.bos();
  if (bos != kNoToken) {
    const std::string& bos_text = tok.token_text(bos);
    if (!bos_text.empty() && text.compare(0, bos_text.size(), bos_text) == 0) eo.add_bos = false;
  }
  return tok.encode(text, eo);
}

}  // namespace dari
