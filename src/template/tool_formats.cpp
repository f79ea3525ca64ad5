// Tool-call regions of each family. A step either decides (a call, or the region's failure, after
// which its raw text is content) or waits for more text; it waits only while the text so far is
// still a prefix of something that would decide differently, so waiting never changes the result.
#include <cctype>
#include <string>

#include "template/output_scanner.h"

namespace dari::tool_parse {

namespace {

using nlohmann::ordered_json;
constexpr size_t npos = std::string_view::npos;

size_t skip_space(std::string_view s, size_t from) {
  while (from < s.size() && is_space(s[from])) ++from;
  return from;
}

size_t skip_name(std::string_view s, size_t from) {
  while (from < s.size() && is_name_char(s[from])) ++from;
  return from;
}

ToolCall python_call(std::string_view code) {
  ordered_json args = ordered_json::object();
  args["code"] = std::string(code);
  return ToolCall{"", "python", compact_json(args)};
}

// DeepSeek V3/R1 "TYPE<sep>NAME\n```json\n{...}\n```" or V3.1 "NAME<sep>{...}".
std::optional<ToolCall> deepseek_call(std::string_view inner) {
  const size_t sep = inner.find(kDeepSeekSep);
  if (sep == npos) return std::nullopt;
  const std::string_view left = trim(inner.substr(0, sep));
  const std::string_view right = inner.substr(sep + kDeepSeekSep.size());
  const size_t newline = right.find('\n');
  if (newline != npos) {
    const std::string_view name = trim(right.substr(0, newline));
    const auto body = strip_fence(right.substr(newline + 1));
    if (valid_function_name(name) && body) {
      if (auto args = arguments_object(*body)) return ToolCall{"", std::string(name), *args};
    }
  }
  // V3.1 writes the bare object; a fenced body belongs to the form above, whose name is missing.
  const std::string_view body = trim(right);
  if (!valid_function_name(left) || body.empty() || body.front() != '{') return std::nullopt;
  auto args = arguments_object(body);
  if (!args) return std::nullopt;
  return ToolCall{"", std::string(left), std::move(*args)};
}

bool generic_calls(std::string_view text, std::vector<ToolCall>* calls) {
  const auto body = strip_fence(text);
  if (!body) return false;
  const auto value = parse_bounded_json(*body);
  if (!value || !value->is_object()) return false;
  const auto list = value->find("tool_calls");
  if (list != value->end()) return list->is_array() && calls_from_json_list(*list, calls);
  const auto one = value->find("tool_call");
  if (one != value->end()) return one->is_object() && calls_from_json_list(*one, calls);
  auto call = call_from_json(*value, /*require_arguments=*/true);
  if (!call) return false;
  calls->push_back(std::move(*call));
  return true;
}

}  // namespace

// <tool_call>\n{"name": ..., "arguments": {...}}\n</tool_call>
bool OutputScanner::step_hermes(bool final) {
  const std::string_view r = rest();
  const size_t first = r.find_first_not_of(kSpace);
  if (first != npos && r[first] != '{') return fail_region();
  const size_t close = r.find(kHermesClose);
  if (close == npos) return final ? fail_region() : false;
  std::optional<ToolCall> call;
  if (auto value = parse_bounded_json(r.substr(0, close))) call = call_from_json(*value, false);
  if (!call) return fail_region();
  consume(close + kHermesClose.size());
  emit_call(std::move(*call));
  state_ = State::kContent;
  return true;
}

// JSON objects separated by whitespace or ';', after <|python_tag|> or at the start of the body
// (there they need "parameters" or "arguments", so that a JSON answer is not taken for a call).
bool OutputScanner::step_llama(bool final) {
  const std::string_view r = rest();
  size_t k = 0;
  while (k < r.size() && (is_space(r[k]) || r[k] == ';')) ++k;
  if (k == r.size()) {
    if (!final) return false;
    if (region_calls_ == 0) return fail_region();  // a marker with nothing after it
    consume(k);
    state_ = State::kContent;
    return true;
  }
  if (r[k] != '{') {
    if (region_calls_ > 0) {
      consume(k);
      state_ = State::kContent;
      return true;
    }
    if (llama_bare_) return fail_region();
    code_builtin_ = true;  // <|python_tag|>tool.call(...) or code
    state_ = State::kToolCode;
    return true;
  }
  size_t length = 0;
  switch (scan_json_at(k, &length)) {
    case JsonScan::kIncomplete:
      return final ? fail_region() : false;
    case JsonScan::kInvalid:
      return fail_region();
    case JsonScan::kComplete:
      break;
  }
  std::optional<ToolCall> call;
  if (auto value = parse_json(r.substr(k, length))) call = call_from_json(*value, llama_bare_);
  if (!call) return fail_region();
  call->id.clear();
  consume(k + length);
  emit_call(std::move(*call));
  return true;
}

// The rest of the output after <|python_tag|>: a built-in call or python code.
bool OutputScanner::step_tool_code(bool final) {
  if (!final) return false;
  const std::string_view r = rest();
  const std::string_view code = trim(r);
  if (code.empty()) return fail_region();
  std::optional<ToolCall> call;
  if (code_builtin_) call = parse_builtin_call(code);
  if (!call) call = python_call(code);
  consume(r.size());
  emit_call(std::move(*call));
  state_ = State::kContent;
  return true;
}

// [TOOL_CALLS] [{"name", "arguments", "id"}, ...] or [TOOL_CALLS]name[CALL_ID]id[ARGS]{...}.
bool OutputScanner::step_mistral(bool final) {
  const std::string_view r = rest();
  const size_t k = r.find_first_not_of(kSpace);
  if (k == npos) return final ? fail_region() : false;
  if (r[k] == '[' || r[k] == '{') {
    size_t length = 0;
    switch (scan_json_at(k, &length)) {
      case JsonScan::kIncomplete:
        return final ? fail_region() : false;
      case JsonScan::kInvalid:
        return fail_region();
      case JsonScan::kComplete:
        break;
    }
    std::vector<ToolCall> calls;
    const auto value = parse_json(r.substr(k, length));
    if (!value || !calls_from_json_list(*value, &calls)) return fail_region();
    consume(k + length);
    for (auto& call : calls) emit_call(std::move(call));
    state_ = State::kContent;
    return true;
  }
  size_t p = skip_name(r, k);
  if (p == k || p - k > 256) return fail_region();
  if (p == r.size()) return final ? fail_region() : false;
  const std::string name(r.substr(k, p - k));
  std::string id;
  Match args_marker = match_at(r.substr(p), kMistralArgs);
  const Match id_marker = match_at(r.substr(p), kMistralCallId);
  if (id_marker == Match::kYes) {
    const size_t id_start = p + kMistralCallId.size();
    p = id_start;
    while (p < r.size() && std::isalnum(static_cast<unsigned char>(r[p]))) ++p;
    if (p - id_start > 64) return fail_region();
    if (p == r.size()) return final ? fail_region() : false;
    id.assign(r.substr(id_start, p - id_start));
    args_marker = match_at(r.substr(p), kMistralArgs);
  } else if (id_marker == Match::kPartial && args_marker == Match::kNo) {
    args_marker = Match::kPartial;
  }
  if (args_marker == Match::kPartial) return final ? fail_region() : false;
  if (args_marker == Match::kNo) return fail_region();
  const size_t b = skip_space(r, p + kMistralArgs.size());
  if (b == r.size()) return final ? fail_region() : false;
  if (r[b] != '{') return fail_region();
  size_t length = 0;
  switch (scan_json_at(b, &length)) {
    case JsonScan::kIncomplete:
      return final ? fail_region() : false;
    case JsonScan::kInvalid:
      return fail_region();
    case JsonScan::kComplete:
      break;
  }
  auto args = arguments_object(r.substr(b, length));
  if (!args) return fail_region();
  consume(b + length);
  emit_call(ToolCall{std::move(id), name, std::move(*args)});
  state_ = State::kContent;
  return true;
}

// <｜tool▁call▁begin｜>...<｜tool▁call▁end｜> items until <｜tool▁calls▁end｜>.
bool OutputScanner::step_deepseek(bool final) {
  const std::string_view r = rest();
  const size_t k = r.find_first_not_of(kSpace);
  if (k == npos) {
    if (!final) return false;
    if (region_calls_ == 0) return fail_region();
    consume(r.size());
    state_ = State::kContent;
    return true;
  }
  const std::string_view t = r.substr(k);
  const Match end = match_at(t, kDeepSeekCallsEnd);
  const Match begin = match_at(t, kDeepSeekCallBegin);
  if (end == Match::kYes) {
    if (region_calls_ == 0) return fail_region();
    consume(k + kDeepSeekCallsEnd.size());
    state_ = State::kContent;
    return true;
  }
  if (begin == Match::kYes) {
    const size_t close = t.find(kDeepSeekCallEnd, kDeepSeekCallBegin.size());
    if (close == npos) return final ? fail_region() : false;
    const size_t inner_start = kDeepSeekCallBegin.size();
    auto call = deepseek_call(t.substr(inner_start, close - inner_start));
    if (!call) return fail_region();
    consume(k + close + kDeepSeekCallEnd.size());
    emit_call(std::move(*call));
    return true;
  }
  if ((end == Match::kPartial || begin == Match::kPartial) && !final) return false;
  return fail_region();
}

// Functionary v3.2 recipient line: "all\n" (content follows) or "NAME\n" (arguments follow).
bool OutputScanner::step_recipient(bool final) {
  const std::string_view r = rest();
  const size_t p = skip_name(r, 0);
  if (p > 64) return fail_region();  // too long for a name, however the line ends
  if (p == r.size()) return final ? fail_region() : false;
  if (p == 0 || r[p] != '\n') return fail_region();
  const std::string_view name = r.substr(0, p);
  consume(p + 1);
  if (name == "all") {
    raw_marker_.clear();
    state_ = State::kContent;
    return true;
  }
  raw_marker_.append(name).push_back('\n');
  call_name_.assign(name);
  state_ = State::kFunctionaryArgs;
  return true;
}

bool OutputScanner::step_functionary_args(bool final) {
  const std::string_view r = rest();
  const size_t k = r.find_first_not_of(kSpace);
  if (k == npos) return final ? fail_region() : false;
  if (r[k] != '{') {
    if (call_name_ != "python") return fail_region();
    state_ = State::kFunctionaryCode;
    return true;
  }
  size_t length = 0;
  switch (scan_json_at(k, &length)) {
    case JsonScan::kIncomplete:
      return final ? fail_region() : false;
    case JsonScan::kInvalid:
      return fail_region();
    case JsonScan::kComplete:
      break;
  }
  auto args = arguments_object(r.substr(k, length));
  if (!args) return fail_region();
  consume(k + length);
  emit_call(ToolCall{"", call_name_, std::move(*args)});
  state_ = State::kContent;
  return true;
}

// ">>>python\n" followed by code rather than JSON: the code runs to the next ">>>".
bool OutputScanner::step_functionary_code(bool final) {
  const std::string_view r = rest();
  const size_t next = r.find(kRecipientMarker);
  if (next == npos && !final) return false;
  const std::string_view raw = next == npos ? r : r.substr(0, next);
  const std::string_view code = trim(raw);
  if (code.empty()) return fail_region();
  consume(raw.size());
  emit_call(python_call(code));
  state_ = State::kContent;
  return true;
}

// Functionary v3.1: <function=NAME>{...}</function>.
bool OutputScanner::step_function31(bool final) {
  const std::string_view r = rest();
  const size_t p = skip_name(r, 0);
  if (p > 256) return fail_region();
  if (p == r.size()) return final ? fail_region() : false;
  if (p == 0 || r[p] != '>') return fail_region();
  const size_t b = skip_space(r, p + 1);
  if (b == r.size()) return final ? fail_region() : false;
  if (r[b] != '{') return fail_region();
  size_t length = 0;
  switch (scan_json_at(b, &length)) {
    case JsonScan::kIncomplete:
      return final ? fail_region() : false;
    case JsonScan::kInvalid:
      return fail_region();
    case JsonScan::kComplete:
      break;
  }
  const size_t q = skip_space(r, b + length);
  const Match close = match_at(r.substr(q), kFunctionClose);
  if (close == Match::kPartial) return final ? fail_region() : false;
  if (close == Match::kNo) return fail_region();
  auto args = arguments_object(r.substr(b, length));
  if (!args) return fail_region();
  consume(q + kFunctionClose.size());
  emit_call(ToolCall{"", std::string(r.substr(0, p)), std::move(*args)});
  state_ = State::kContent;
  return true;
}

// Firefunction v2: functools[{"name", "arguments"}, ...].
bool OutputScanner::step_fire(bool final) {
  const std::string_view r = rest();
  size_t length = 0;
  switch (scan_json_at(0, &length)) {
    case JsonScan::kIncomplete:
      return final ? fail_region() : false;
    case JsonScan::kInvalid:
      return fail_region();
    case JsonScan::kComplete:
      break;
  }
  std::vector<ToolCall> calls;
  const auto value = parse_json(r.substr(0, length));
  if (!value || !value->is_array() || !calls_from_json_list(*value, &calls)) return fail_region();
  consume(length);
  for (auto& call : calls) emit_call(std::move(call));
  state_ = State::kContent;
  return true;
}

// Generic JSON: the whole body is one JSON object (maybe fenced), decided at the end.
bool OutputScanner::step_generic(bool final) {
  if (!final) return false;
  const std::string_view r = rest();
  if (r.empty()) return false;
  std::vector<ToolCall> calls;
  if (generic_calls(r, &calls)) {
    for (auto& call : calls) emit_call(std::move(call));
  } else {
    emit_content(r);
  }
  consume(r.size());
  state_ = State::kPlain;
  return true;
}

}  // namespace dari::tool_parse
