// libFuzzer harness for the Jinja interpreter: parse + render arbitrary templates with
// arbitrary JSON messages, under tight limits. Any crash, hang, leak or sanitizer report is a bug.
//
// Input layout: <template source> [NUL <JSON messages array>]. A leading 0x01 byte selects
// trim_blocks=lstrip_blocks=false (default: both true, as chat templates use).
#include <cstddef>
#include <cstdint>
#include <string>

#include "dari/template/chat_template.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string input(reinterpret_cast<const char*>(data), size);
  dari::jinja::ChatTemplateInputs in;
  if (!input.empty() && input[0] == '\x01') {
    in.options = {false, false};
    input.erase(0, 1);
  }
  std::string source = input;
  size_t nul = input.find('\0');
  if (nul != std::string::npos) {
    source = input.substr(0, nul);
    auto j = nlohmann::ordered_json::parse(input.substr(nul + 1), nullptr, /*allow_exceptions=*/false);
    if (!j.is_discarded()) in.messages = j;
  } else {
    in.messages = nlohmann::ordered_json::parse(
        R"([{"role":"system","content":"S"},{"role":"user","content":"hi"},)"
        R"({"role":"assistant","content":null,"tool_calls":[{"function":{"name":"f","arguments":{"a":1}}}]}])");
  }
  in.tools = nlohmann::ordered_json::parse(R"([{"type":"function","function":{"name":"f","parameters":{}}}])");
  in.bos_token = "<s>";
  in.eos_token = "</s>";
  in.add_generation_prompt = true;
  in.limits.max_output_bytes = 1 << 20;
  in.limits.max_list_items = 1 << 14;
  in.limits.max_loop_iterations = 1 << 14;
  in.limits.max_steps = 1 << 18;
  auto r = dari::jinja::render_chat_template(source, in);
  (void)r;
  return 0;
}
