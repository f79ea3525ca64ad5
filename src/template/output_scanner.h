// Internals of the tool-call and reasoning parsers (include/dari/template/tool_calls.h).
//
// One OutputScanner serves both the whole-output parse and the streaming parser: text is
// appended, and run() decides as much of it as can no longer change (with `final`, all of it).
// Every decision is made the same way whether the text arrived at once or in pieces, which is
// what makes the streamed deltas add up to the whole-output parse.
//
// Thread safety: one scanner per thread; the free functions are pure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dari/template/tool_calls.h"

namespace dari::tool_parse {

inline constexpr std::string_view kSpace = " \t\r\n";

// Markers.
inline constexpr std::string_view kThinkOpen = "<think>";
inline constexpr std::string_view kThinkClose = "</think>";
inline constexpr std::string_view kHermesOpen = "<tool_call>";
inline constexpr std::string_view kHermesClose = "</tool_call>";
inline constexpr std::string_view kPythonTag = "<|python_tag|>";
inline constexpr std::string_view kMistralCalls = "[TOOL_CALLS]";
inline constexpr std::string_view kMistralArgs = "[ARGS]";
inline constexpr std::string_view kMistralCallId = "[CALL_ID]";
inline constexpr std::string_view kDeepSeekCallsBegin = "<｜tool▁calls▁begin｜>";
inline constexpr std::string_view kDeepSeekCallsEnd = "<｜tool▁calls▁end｜>";
inline constexpr std::string_view kDeepSeekCallBegin = "<｜tool▁call▁begin｜>";
inline constexpr std::string_view kDeepSeekCallEnd = "<｜tool▁call▁end｜>";
inline constexpr std::string_view kDeepSeekSep = "<｜tool▁sep｜>";
inline constexpr std::string_view kRecipientMarker = ">>>";
inline constexpr std::string_view kFunctionOpen = "<function=";
inline constexpr std::string_view kFunctionClose = "</function>";
inline constexpr std::string_view kFunctools = "functools[";

// Result of looking for the end of a JSON object or array that starts at s[0] ('{' or '[').
enum class JsonScan { kComplete, kIncomplete, kInvalid };
// Matches brackets outside strings (escapes honoured); sets *length to the value's length when
// complete. Mismatched brackets or nesting deeper than kMaxJsonDepth are kInvalid. The text is
// not otherwise validated (parse_json does that).
inline constexpr size_t kMaxJsonDepth = 128;
JsonScan scan_json_value(std::string_view s, size_t* length);

// The same scan, resumable: `state` remembers how far `s` was scanned, so a caller whose text
// grows (and never changes before state.pos) scans each byte once.
struct JsonScanState {
  std::string closers;  // expected closing brackets, innermost last
  bool in_string = false;
  bool escaped = false;
  size_t pos = 0;
  JsonScan result = JsonScan::kIncomplete;
  size_t length = 0;
};
JsonScan scan_json_resume(std::string_view s, JsonScanState& state, size_t* length);

// Parses JSON text without throwing; nullopt when it is not valid JSON.
std::optional<nlohmann::ordered_json> parse_json(std::string_view text);
// Compact JSON text, invalid UTF-8 replaced by U+FFFD.
std::string compact_json(const nlohmann::ordered_json& value);

// A call object: {"name", "arguments" | "parameters"} or OpenAI's {"function": {...}} shape;
// "arguments" may be an object or a string holding one. Absent or null arguments are "{}"
// unless `require_arguments`. "id" (a string) is kept in ToolCall::id. Names must be 1 to 256
// bytes without whitespace or control characters.
std::optional<ToolCall> call_from_json(const nlohmann::ordered_json& value, bool require_arguments);
// The arguments text of a call: an object or a string holding one, as compact JSON.
std::optional<std::string> arguments_from_json(const nlohmann::ordered_json& value);
bool valid_function_name(std::string_view name);

// Llama 3.1's built-in tool call syntax: NAME.call(key="value", other=1).
std::optional<ToolCall> parse_builtin_call(std::string_view text);

// "call_" + 24 alphanumerics (or 9 alphanumerics when `mistral`), a function of seed and index.
std::string make_call_id(uint64_t seed, size_t index, bool mistral);

std::string_view trim(std::string_view s);
bool is_space(char c);
// Characters of a function name in recipient/name positions: ASCII letters, digits, "_-.:".
bool is_name_char(char c);

// Whether `text` starts with `literal`, or could once more text arrives.
enum class Match { kYes, kNo, kPartial };
Match match_at(std::string_view text, std::string_view literal);

// JSON text that is exactly one bracket-balanced object or array (surrounding whitespace
// allowed), parsed; nullopt otherwise. The bracket check bounds the nesting nlohmann sees.
std::optional<nlohmann::ordered_json> parse_bounded_json(std::string_view text);
// The compact arguments text when `text` is one JSON object.
std::optional<std::string> arguments_object(std::string_view text);
// Strips a Markdown fence (```json ... ``` or ``` ... ```) around trimmed text; the trimmed text
// itself when it has no fence; nullopt for a fence that is not closed.
std::optional<std::string_view> strip_fence(std::string_view text);
// An array of call objects (non-empty, all valid) or one call object.
bool calls_from_json_list(const nlohmann::ordered_json& value, std::vector<ToolCall>* calls);
// Length of the longest proper prefix of `marker` that `text` ends with.
size_t partial_suffix(std::string_view text, std::string_view marker);

class OutputScanner {
 public:
  explicit OutputScanner(const ParseOptions& options);

  void append(std::string_view piece);
  // Appends the newly decided content, reasoning and calls to `out`.
  void run(bool final, ParsedMessage& out);
  size_t call_count() const { return call_count_; }

 private:
  enum class State {
    kStart,          // before the first text: maybe "<think>"
    kReasoning,      // inside <think>
    kBodyStart,      // the family looks at the first text after reasoning
    kPlain,          // no markers: all content
    kContent,        // content, looking for the family's start markers
    kHermesCall,     // after <tool_call>
    kLlamaItems,     // JSON calls after <|python_tag|> or at the start of the body
    kToolCode,       // the rest of the output is the code of a python/built-in call
    kMistralRegion,  // after [TOOL_CALLS]
    kDeepSeekCalls,  // after <｜tool▁calls▁begin｜> (or at a bare <｜tool▁call▁begin｜>)
    kRecipient,      // functionary v3.2: recipient line after ">>>"
    kFunctionaryArgs,  // functionary v3.2: arguments of call_name_
    kFunctionaryCode,  // functionary v3.2: python code up to the next ">>>"
    kFunction31,       // functionary v3.1: after "<function="
    kFireArray,        // firefunction v2: the array after "functools"
    kGenericWhole,     // generic JSON: the whole body, decided at the end
  };

  // Each step either makes progress (returns true) or needs more text (false).
  bool step(bool final);
  bool step_start(bool final);
  bool step_reasoning(bool final);
  bool step_body_start(bool final);
  bool step_content(bool final);
  bool step_hermes(bool final);
  bool step_llama(bool final);
  bool step_tool_code(bool final);
  bool step_mistral(bool final);
  bool step_deepseek(bool final);
  bool step_recipient(bool final);
  bool step_functionary_args(bool final);
  bool step_functionary_code(bool final);
  bool step_function31(bool final);
  bool step_fire(bool final);
  bool step_generic(bool final);

  // Marker handling for kContent.
  const std::vector<std::string_view>& markers() const;
  void enter_region(std::string_view marker);
  // The region turned out not to be tool calls: its raw text becomes content and scanning goes
  // on as content (after the start marker, so the marker is not seen again).
  bool fail_region();

  // scan_json_value for the value at rest()[k], resumed across calls while k stays put.
  JsonScan scan_json_at(size_t k, size_t* length);

  std::string_view rest() const { return std::string_view(buf_).substr(head_); }
  void consume(size_t n) { head_ += n; }

  // Output, with whitespace next to tool calls and after reasoning dropped.
  void emit_content(std::string_view s);
  void emit_reasoning(std::string_view s);
  void emit_call(ToolCall call);
  void flush_content();

  ParseOptions options_;
  uint64_t seed_;
  std::vector<std::string_view> markers_;
  std::string buf_;
  size_t head_ = 0;
  State state_ = State::kStart;
  bool strip_newline_ = false;  // drop one "\n" at the start of the reasoning
  bool drop_space_ = false;     // drop the whitespace that starts the next content
  std::string pending_space_;   // content whitespace not yet known to be kept
  std::string raw_marker_;      // the region's start marker, content if the region fails
  size_t bare_marker_ = 0;      // length of a start marker left in the text (DeepSeek bare call)
  size_t region_calls_ = 0;     // calls parsed in the current region
  bool llama_bare_ = false;     // kLlamaItems at the start of the body (no <|python_tag|>)
  bool code_builtin_ = false;   // kToolCode may be a Llama built-in call
  std::string call_name_;       // functionary v3.2 recipient
  size_t call_count_ = 0;
  JsonScanState json_scan_;  // resumable scan of the value at buf_[json_start_]
  size_t json_start_ = std::string::npos;
  ParsedMessage* out_ = nullptr;
};

}  // namespace dari::tool_parse
