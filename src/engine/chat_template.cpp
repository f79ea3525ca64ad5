// ChatFormatter::render_template: the model's Jinja chat template, rendered the way Hugging Face
// transformers does (trim_blocks and lstrip_blocks on; messages, add_generation_prompt,
// bos_token and eos_token as variables). Built only when the template library exists.
#include <ctime>

#include "dari/engine.h"
#include "dari/engine/chat.h"
#include "dari/template/template.h"

namespace dari {

namespace {

using ojson = nlohmann::ordered_json;

// One message as templates expect it: OpenAI's shape, with a tool call's arguments as an object
// (templates write them with tojson; the client sent a JSON string) when they parse as one.
ojson message_json(const ChatMessage& m) {
  ojson jm = ojson::object();
  jm["role"] = m.role;
  jm["content"] = m.content_null ? ojson(nullptr) : ojson(m.content);
  if (!m.name.empty()) jm["name"] = m.name;
  if (!m.tool_call_id.empty()) jm["tool_call_id"] = m.tool_call_id;
  if (!m.reasoning_content.empty()) jm["reasoning_content"] = m.reasoning_content;
  if (!m.tool_calls.empty()) {
    ojson calls = ojson::array();
    for (const auto& c : m.tool_calls) {
      ojson args = ojson::parse(c.arguments, nullptr, /*allow_exceptions=*/false);
      if (args.is_discarded()) args = c.arguments;
      calls.push_back({{"id", c.id},
                       {"type", "function"},
                       {"function", {{"name", c.name}, {"arguments", std::move(args)}}}});
    }
    jm["tool_calls"] = std::move(calls);
  }
  return jm;
}

}  // namespace

Result<std::string> ChatFormatter::render_template(const std::vector<ChatMessage>& messages,
                                                   const ChatRenderOptions& opts) const {
  jinja::TemplateOptions topts;
  topts.trim_blocks = true;
  topts.lstrip_blocks = true;
  auto tmpl = jinja::Template::parse(template_, topts);
  if (!tmpl.ok()) return make_error("chat template: " + tmpl.message());
  nlohmann::ordered_json ctx = nlohmann::ordered_json::object();
  nlohmann::ordered_json msgs = nlohmann::ordered_json::array();
  for (const auto& m : messages) msgs.push_back(message_json(m));
  ctx["messages"] = std::move(msgs);
  ctx["add_generation_prompt"] = true;
  const Tokenizer& tok = tokenizer_;
  ctx["bos_token"] = tok.bos() != kNoToken ? tok.token_text(tok.bos()) : std::string();
  ctx["eos_token"] = tok.eos() != kNoToken ? tok.token_text(tok.eos()) : std::string();
  if (!opts.tools.is_null()) ctx["tools"] = opts.tools;
  for (const auto& [k, v] : opts.extra_vars) ctx[k] = v;
  auto out = tmpl->render(ctx, static_cast<int64_t>(std::time(nullptr)));
  if (!out.ok()) return make_error("chat template: " + out.message());
  return std::move(out).value();
}

}  // namespace dari
