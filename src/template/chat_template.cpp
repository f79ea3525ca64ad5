// Chat-template rendering on top of Template (see chat_template.h).
#include "dari/template/chat_template.h"

namespace dari::jinja {

nlohmann::ordered_json chat_template_context(const ChatTemplateInputs& inputs) {
  nlohmann::ordered_json ctx = nlohmann::ordered_json::object();
  ctx["messages"] = inputs.messages;
  if (!inputs.tools.is_null()) ctx["tools"] = inputs.tools;
  ctx["add_generation_prompt"] = inputs.add_generation_prompt;
  if (inputs.bos_token) ctx["bos_token"] = *inputs.bos_token;
  if (inputs.eos_token) ctx["eos_token"] = *inputs.eos_token;
  for (const auto& [k, v] : inputs.extra_vars) ctx[k] = v;
  return ctx;
}

Result<std::string> render_chat_template(const std::string& source, const ChatTemplateInputs& inputs) {
  DARI_ASSIGN_OR_RETURN(Template t, Template::parse(source, inputs.options));
  auto secs = std::chrono::duration_cast<std::chrono::seconds>(inputs.now.time_since_epoch()).count();
  return t.render(chat_template_context(inputs), static_cast<int64_t>(secs), inputs.limits);
}

std::string render_plain_fallback(const nlohmann::ordered_json& messages, bool add_generation_prompt) {
  std::string out;
  if (messages.is_array()) {
    for (const auto& m : messages) {
      if (!m.is_object()) continue;
      std::string role = m.contains("role") && m["role"].is_string() ? m["role"].get<std::string>() : "user";
      std::string content;
      if (m.contains("content")) {
        const auto& c = m["content"];
        if (c.is_string()) {
          content = c.get<std::string>();
        } else if (c.is_array()) {
          for (const auto& part : c)
            if (part.is_object() && part.contains("text") && part["text"].is_string())
              content += part["text"].get<std::string>();
        }
      }
      out += role + ": " + content + "\n";
    }
  }
  if (add_generation_prompt) out += "assistant: ";
  return out;
}

}  // namespace dari::jinja
