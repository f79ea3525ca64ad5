// Tool calls and reasoning in model output: turn a choice's generated text into OpenAI's
// assistant message shape (content, reasoning_content, tool_calls), after generation or
// incrementally while streaming.
//
// The server picks the formats once per model from its chat template source
// (detect_tool_call_format, detect_reasoning_format), derives the per-request options from the
// rendered prompt (parse_options_for_prompt), then parses each choice's text.
//
// Conventions:
//  - Never throws and never fails: tool-call text that does not parse (bad JSON, a call without
//    a name, a marker that is never closed) stays in `content` as the raw text the model wrote.
//  - Tool call arguments are the compact JSON text of an object, keys in the model's order
//    ("{}" when the call names no arguments).
//  - Reasoning is recognised only at the start of the output (or from the first byte when the
//    prompt opened the block); a "<think>" later in the text is plain content, and tool calls
//    inside reasoning are not parsed. Whitespace right after "</think>" and around tool calls is
//    dropped; one newline after "<think>" and one before "</think>" are dropped.
//  - The special tokens that delimit tool calls ([TOOL_CALLS], <|python_tag|>, DeepSeek's
//    <｜tool▁calls▁begin｜>, ...) must be present in the text: decode with special tokens shown.
//  - StreamingOutputParser fed the same text in any split yields, concatenated, exactly what
//    parse_model_output returns for the whole text.
//
// Thread safety: free functions are pure; one StreamingOutputParser per choice, one thread at a
// time.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace dari {

enum class ToolCallFormat {
  // No tool parsing: all text is content.
  kNone,
  // Hermes 2 Pro, Qwen2.5, Qwen3, QwQ: <tool_call>\n{"name", "arguments"}\n</tool_call>.
  kHermes,
  // Llama 3.1/3.2/3.3: {"name", "parameters"} at the start or after <|python_tag|> (several
  // separated by ';' or newlines); <|python_tag|>tool.call(k="v") for built-in tools; other
  // <|python_tag|> text is a call of "python" with {"code": text}.
  kLlama3,
  // [TOOL_CALLS] [{"name", "arguments", "id"}, ...] and [TOOL_CALLS]name[CALL_ID]id[ARGS]{...}.
  kMistral,
  // DeepSeek V3 and R1: <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>NAME
  // \n```json\n{...}\n```<｜tool▁call▁end｜>...<｜tool▁calls▁end｜>; also V3.1's
  // <｜tool▁call▁begin｜>NAME<｜tool▁sep｜>{...}<｜tool▁call▁end｜>.
  kDeepSeekV3,
  // Functionary v3.2: ">>>NAME\n{...}" segments, ">>>all\ntext" for content.
  kFunctionaryV3,
  // Functionary v3.1 (Llama 3.1): <function=NAME>{...}</function>, <|python_tag|>code.
  kFunctionaryV31,
  // Firefunction v2: functools[{"name", "arguments"}, ...].
  kFirefunctionV2,
  // Fallback: the whole output is {"tool_call": {"name", "arguments"}}, {"tool_calls": [...]}
  // or {"name", "arguments"}, optionally in a ```json fence.
  kGenericJson,
};

// Chooses from a chat template's Jinja source by the markers it writes. Templates without tool
// markers get kGenericJson (meant for requests that pass tools); never kNone.
ToolCallFormat detect_tool_call_format(std::string_view template_source);
// Stable lower-case name ("hermes", "llama3", "mistral", "deepseek_v3", "functionary_v3",
// "functionary_v3_1", "firefunction_v2", "generic_json", "none").
const char* tool_call_format_name(ToolCallFormat format);

enum class ReasoningFormat {
  kNone,
  kThinkTags,  // <think>...</think> (DeepSeek-R1, Qwen3, QwQ, DeepSeek-V3.1)
};

// kThinkTags when the template mentions <think> or </think>.
ReasoningFormat detect_reasoning_format(std::string_view template_source);
const char* reasoning_format_name(ReasoningFormat format);  // "none", "think_tags"

struct ParseOptions {
  ToolCallFormat tools = ToolCallFormat::kNone;
  ReasoningFormat reasoning = ReasoningFormat::kNone;
  // The rendered prompt ended with "<think>" (and maybe a newline): the template opened the
  // block, so the output is reasoning until "</think>" (a repeated "<think>" at the start is
  // dropped). An output that never closes it is all reasoning.
  bool thinking_forced_open = false;
  // The rendered prompt ended with ">>>" (functionary v3.2's generation prompt): the output
  // starts with a recipient line ("all\n" or "NAME\n"). Honoured for kFunctionaryV3 only; with
  // parse_tool_calls false a leading "all\n" is still dropped.
  bool recipient_forced_open = false;
  // False: tool-call text is left as content (the request passed no tools or tool_choice none).
  bool parse_tool_calls = true;
  // Seed for tool call ids; 0 draws one at random. Ids are "call_" + 24 alphanumerics, or 9
  // alphanumerics for kMistral (its templates require that shape), a Mistral id the model wrote
  // being kept. Equal seeds give equal ids (the i-th call's id depends on seed and i only).
  uint64_t id_seed = 0;
};

// Options for one request: `tools` and `reasoning` as chosen for the model, with the forced-open
// flags derived from the rendered prompt's ending.
ParseOptions parse_options_for_prompt(ToolCallFormat tools, ReasoningFormat reasoning,
                                      std::string_view rendered_prompt);

struct ToolCall {
  std::string id;
  std::string name;
  std::string arguments;  // compact JSON text of an object; "{}" if absent
};

struct ParsedMessage {
  std::string content;
  std::string reasoning_content;
  std::vector<ToolCall> tool_calls;
};

// Whole-output parse (see the conventions above).
ParsedMessage parse_model_output(std::string_view text, const ParseOptions& options);

// One step of streamed output, in OpenAI's order. For each tool call, `tool_calls` first holds
// a header (index, id, name, arguments "") and then its argument text (index only, id and name
// empty); this parser sends each call's whole arguments in one fragment once the call is
// complete. A server may send the header and the fragment in separate chunks.
struct StreamDelta {
  struct ToolDelta {
    int index = 0;
    std::string id;
    std::string name;
    std::string arguments;
  };
  std::string content;
  std::string reasoning_content;
  std::vector<ToolDelta> tool_calls;

  bool empty() const { return content.empty() && reasoning_content.empty() && tool_calls.empty(); }
};

// Incremental parser: feed the text pieces as they are detokenized. Text that may still turn
// out to be (part of) a marker or a tool call is held back until it is decided; finish()
// decides the rest the way parse_model_output does.
class StreamingOutputParser {
 public:
  explicit StreamingOutputParser(const ParseOptions& options);
  ~StreamingOutputParser();
  StreamingOutputParser(StreamingOutputParser&&) noexcept;
  StreamingOutputParser& operator=(StreamingOutputParser&&) noexcept;
  StreamingOutputParser(const StreamingOutputParser&) = delete;
  StreamingOutputParser& operator=(const StreamingOutputParser&) = delete;

  StreamDelta feed(std::string_view piece);
  // Flushes the held text; later feed() calls are ignored.
  StreamDelta finish();

  // Tool calls emitted so far (for the final finish_reason "tool_calls").
  int tool_call_count() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dari
