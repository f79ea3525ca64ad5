// Public API of the tool-call and reasoning parsers: format detection, whole-output parse,
// streaming parser. The scanning itself is in output_scanner.cpp and tool_formats.cpp.
#include "dari/template/tool_calls.h"

#include "template/output_scanner.h"

namespace dari {

namespace {

bool contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

}  // namespace

ToolCallFormat detect_tool_call_format(std::string_view source) {
  if (contains(source, "tool▁calls▁begin") || contains(source, "tool▁call▁begin")) {
    return ToolCallFormat::kDeepSeekV3;
  }
  if (contains(source, "[TOOL_CALLS]")) return ToolCallFormat::kMistral;
  if (contains(source, "<tool_call>")) return ToolCallFormat::kHermes;
  if (contains(source, ">>>all") || (contains(source, ">>>") && contains(source, "recipient"))) {
    return ToolCallFormat::kFunctionaryV3;
  }
  if (contains(source, "<function=")) return ToolCallFormat::kFunctionaryV31;
  if (contains(source, "functools[")) return ToolCallFormat::kFirefunctionV2;
  if (contains(source, "<|python_tag|>") ||
      (contains(source, "<|start_header_id|>") && contains(source, "ipython"))) {
    return ToolCallFormat::kLlama3;
  }
  return ToolCallFormat::kGenericJson;
}

const char* tool_call_format_name(ToolCallFormat format) {
  switch (format) {
    case ToolCallFormat::kNone:
      return "none";
    case ToolCallFormat::kHermes:
      return "hermes";
    case ToolCallFormat::kLlama3:
      return "llama3";
    case ToolCallFormat::kMistral:
      return "mistral";
    case ToolCallFormat::kDeepSeekV3:
      return "deepseek_v3";
    case ToolCallFormat::kFunctionaryV3:
      return "functionary_v3";
    case ToolCallFormat::kFunctionaryV31:
      return "functionary_v3_1";
    case ToolCallFormat::kFirefunctionV2:
      return "firefunction_v2";
    case ToolCallFormat::kGenericJson:
      return "generic_json";
  }
  return "none";
}

ReasoningFormat detect_reasoning_format(std::string_view source) {
  if (contains(source, "<think>") || contains(source, "</think>")) {
    return ReasoningFormat::kThinkTags;
  }
  return ReasoningFormat::kNone;
}

const char* reasoning_format_name(ReasoningFormat format) {
  switch (format) {
    case ReasoningFormat::kNone:
      return "none";
    case ReasoningFormat::kThinkTags:
      return "think_tags";
  }
  return "none";
}

ParseOptions parse_options_for_prompt(ToolCallFormat tools, ReasoningFormat reasoning,
                                      std::string_view rendered_prompt) {
  ParseOptions options;
  options.tools = tools;
  options.reasoning = reasoning;
  const std::string_view end = rendered_prompt.substr(
      0, rendered_prompt.find_last_not_of(tool_parse::kSpace) + 1);  // npos + 1 == 0
  options.thinking_forced_open =
      reasoning == ReasoningFormat::kThinkTags && ends_with(end, tool_parse::kThinkOpen);
  options.recipient_forced_open =
      tools == ToolCallFormat::kFunctionaryV3 && ends_with(end, tool_parse::kRecipientMarker);
  return options;
}

ParsedMessage parse_model_output(std::string_view text, const ParseOptions& options) {
  ParsedMessage out;
  tool_parse::OutputScanner scanner(options);
  scanner.append(text);
  scanner.run(/*final=*/true, out);
  return out;
}

struct StreamingOutputParser::Impl {
  explicit Impl(const ParseOptions& options) : scanner(options) {}

  StreamDelta run(bool final) {
    ParsedMessage decided;
    scanner.run(final, decided);
    StreamDelta delta;
    delta.content = std::move(decided.content);
    delta.reasoning_content = std::move(decided.reasoning_content);
    for (auto& call : decided.tool_calls) {
      const int index = emitted_calls++;
      delta.tool_calls.push_back({index, std::move(call.id), std::move(call.name), ""});
      delta.tool_calls.push_back({index, "", "", std::move(call.arguments)});
    }
    return delta;
  }

  tool_parse::OutputScanner scanner;
  int emitted_calls = 0;
  bool finished = false;
};

StreamingOutputParser::StreamingOutputParser(const ParseOptions& options)
    : impl_(std::make_unique<Impl>(options)) {}
StreamingOutputParser::~StreamingOutputParser() = default;
StreamingOutputParser::StreamingOutputParser(StreamingOutputParser&&) noexcept = default;
StreamingOutputParser& StreamingOutputParser::operator=(StreamingOutputParser&&) noexcept = default;

StreamDelta StreamingOutputParser::feed(std::string_view piece) {
  if (impl_->finished || piece.empty()) return {};
  impl_->scanner.append(piece);
  return impl_->run(/*final=*/false);
}

StreamDelta StreamingOutputParser::finish() {
  if (impl_->finished) return {};
  impl_->finished = true;
  return impl_->run(/*final=*/true);
}

int StreamingOutputParser::tool_call_count() const {
  return impl_->emitted_calls;
}

}  // namespace dari
