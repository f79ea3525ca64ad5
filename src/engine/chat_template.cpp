// ChatFormatter::render_template: the model's Jinja chat template, rendered the way Hugging Face
// transformers does (trim_blocks and lstrip_blocks on; messages, add_generation_prompt,
// bos_token and eos_token as variables). Built only when the template library exists.
#include <ctime>

#include "dari/engine.h"
#include "dari/engine/chat.h"
#include "dari/template/template.h"

namespace dari {

Result<std::string> ChatFormatter::render_template(const std::vector<ChatMessage>& messages) const {
  jinja::TemplateOptions topts;
  topts.trim_blocks = true;
  topts.lstrip_blocks = true;
  auto tmpl = jinja::Template::parse(template_, topts);
  if (!tmpl.ok()) return make_error("chat template: " + tmpl.message());
  nlohmann::ordered_json ctx = nlohmann::ordered_json::object();
  nlohmann::ordered_json msgs = nlohmann::ordered_json::array();
  for (const auto& m : messages) {
    nlohmann::ordered_json jm = nlohmann::ordered_json::object();
    jm["role"] = m.role;
    jm["content"] = m.content;
    msgs.push_back(std::move(jm));
  }
  ctx["messages"] = std::move(msgs);
  ctx["add_generation_prompt"] = true;
  const Tokenizer& tok = tokenizer_;
  ctx["bos_token"] = tok.bos() != kNoToken ? tok.token_text(tok.bos()) : std::string();
  ctx["eos_token"] = tok.eos() != kNoToken ? tok.token_text(tok.eos()) : std::string();
  auto out = tmpl->render(ctx, static_cast<int64_t>(std::time(nullptr)));
  if (!out.ok()) return make_error("chat template: " + out.message());
  return std::move(out).value();
}

}  // namespace dari
