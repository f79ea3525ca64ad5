// The output scanner's core: reasoning, content with markers, the output sinks. The tool-call
// regions of each family are in tool_formats.cpp.
#include <algorithm>
#include <cctype>
#include <random>

#include "template/output_scanner.h"

namespace dari::tool_parse {

namespace {

uint64_t random_seed() {
  std::random_device device;
  const uint64_t seed = (static_cast<uint64_t>(device()) << 32) ^ device();
  return seed == 0 ? 1 : seed;
}

}  // namespace

OutputScanner::OutputScanner(const ParseOptions& options)
    : options_(options), seed_(options.id_seed != 0 ? options.id_seed : random_seed()) {
  switch (options_.tools) {
    case ToolCallFormat::kHermes:
      markers_ = {kHermesOpen};
      break;
    case ToolCallFormat::kLlama3:
      markers_ = {kPythonTag};
      break;
    case ToolCallFormat::kMistral:
      markers_ = {kMistralCalls};
      break;
    case ToolCallFormat::kDeepSeekV3:
      markers_ = {kDeepSeekCallsBegin, kDeepSeekCallBegin};
      break;
    case ToolCallFormat::kFunctionaryV3:
      markers_ = {kRecipientMarker};
      break;
    case ToolCallFormat::kFunctionaryV31:
      markers_ = {kFunctionOpen, kPythonTag};
      break;
    case ToolCallFormat::kFirefunctionV2:
      markers_ = {kFunctools};
      break;
    case ToolCallFormat::kGenericJson:
    case ToolCallFormat::kNone:
      break;
  }
}

void OutputScanner::append(std::string_view piece) {
  if (head_ > 4096 && head_ > buf_.size() / 2) {
    buf_.erase(0, head_);
    json_start_ = (json_start_ != std::string::npos && json_start_ >= head_) ? json_start_ - head_
                                                                             : std::string::npos;
    head_ = 0;
  }
  buf_.append(piece);
}

void OutputScanner::run(bool final, ParsedMessage& out) {
  out_ = &out;
  // Every step consumes text or moves to a state that does; the bound is a safety net.
  size_t budget = 8 * (rest().size() + 16);
  while (budget-- > 0 && step(final)) {
  }
  if (final) {
    if (!rest().empty()) {
      emit_content(rest());
      consume(rest().size());
    }
    flush_content();
  }
  out_ = nullptr;
}

JsonScan OutputScanner::scan_json_at(size_t k, size_t* length) {
  if (json_start_ != head_ + k) {
    json_start_ = head_ + k;
    json_scan_ = JsonScanState{};
  }
  return scan_json_resume(std::string_view(buf_).substr(json_start_), json_scan_, length);
}

bool OutputScanner::step(bool final) {
  switch (state_) {
    case State::kStart:
      return step_start(final);
    case State::kReasoning:
      return step_reasoning(final);
    case State::kBodyStart:
      return step_body_start(final);
    case State::kPlain: {
      const std::string_view r = rest();
      if (r.empty()) return false;
      emit_content(r);
      consume(r.size());
      return true;
    }
    case State::kContent:
      return step_content(final);
    case State::kHermesCall:
      return step_hermes(final);
    case State::kLlamaItems:
      return step_llama(final);
    case State::kToolCode:
      return step_tool_code(final);
    case State::kMistralRegion:
      return step_mistral(final);
    case State::kDeepSeekCalls:
      return step_deepseek(final);
    case State::kRecipient:
      return step_recipient(final);
    case State::kFunctionaryArgs:
      return step_functionary_args(final);
    case State::kFunctionaryCode:
      return step_functionary_code(final);
    case State::kFunction31:
      return step_function31(final);
    case State::kFireArray:
      return step_fire(final);
    case State::kGenericWhole:
      return step_generic(final);
  }
  return false;
}

bool OutputScanner::step_start(bool final) {
  const bool forced = options_.thinking_forced_open;
  if (options_.reasoning != ReasoningFormat::kThinkTags) {
    state_ = State::kBodyStart;
    return true;
  }
  const std::string_view r = rest();
  const size_t k = r.find_first_not_of(kSpace);
  if (k != std::string_view::npos) {
    const std::string_view t = r.substr(k);
    const Match open = match_at(t, kThinkOpen);
    if (open == Match::kYes) {
      consume(k + kThinkOpen.size());
      state_ = State::kReasoning;
      strip_newline_ = true;
      return true;
    }
    if (open == Match::kPartial && !final) return false;
  } else if (!final) {
    return false;  // only whitespace so far
  }
  state_ = forced ? State::kReasoning : State::kBodyStart;
  strip_newline_ = forced;
  return true;
}

bool OutputScanner::step_reasoning(bool final) {
  const std::string_view r = rest();
  if (strip_newline_) {
    if (r.empty()) return false;
    strip_newline_ = false;
    if (r.front() == '\n') consume(1);
    return true;
  }
  const size_t close = r.find(kThinkClose);
  if (close != std::string_view::npos) {
    std::string_view chunk = r.substr(0, close);
    if (!chunk.empty() && chunk.back() == '\n') chunk.remove_suffix(1);
    emit_reasoning(chunk);
    consume(close + kThinkClose.size());
    drop_space_ = true;
    pending_space_.clear();
    state_ = State::kBodyStart;
    return true;
  }
  if (r.empty()) return false;
  size_t keep = 0;
  if (!final) {
    // A "</think>" may be arriving, and the newline before it is not reasoning.
    static constexpr std::string_view kNewlineClose = "\n</think>";
    keep = std::max(partial_suffix(r, kThinkClose), partial_suffix(r, kNewlineClose));
  }
  if (keep == r.size()) return false;
  emit_reasoning(r.substr(0, r.size() - keep));
  consume(r.size() - keep);
  return true;
}

bool OutputScanner::step_body_start(bool final) {
  const std::string_view r = rest();
  const bool tools = options_.parse_tool_calls && options_.tools != ToolCallFormat::kNone;
  region_calls_ = 0;
  raw_marker_.clear();
  bare_marker_ = 0;
  if (!tools) {
    if (options_.tools == ToolCallFormat::kFunctionaryV3 && options_.recipient_forced_open) {
      static constexpr std::string_view kAll = "all\n";
      const Match all = match_at(r, kAll);
      if (all == Match::kPartial && !final) return false;
      if (all == Match::kYes) consume(kAll.size());
    }
    state_ = State::kPlain;
    return true;
  }
  switch (options_.tools) {
    case ToolCallFormat::kLlama3:
    case ToolCallFormat::kGenericJson: {
      const size_t k = r.find_first_not_of(kSpace);
      if (k == std::string_view::npos && !final) return false;
      const bool llama = options_.tools == ToolCallFormat::kLlama3;
      if (k != std::string_view::npos && llama && r[k] == '{') {
        emit_content(r.substr(0, k));
        consume(k);
        llama_bare_ = true;
        state_ = State::kLlamaItems;
      } else if (k != std::string_view::npos && !llama && (r[k] == '{' || r[k] == '`')) {
        state_ = State::kGenericWhole;
      } else {
        state_ = llama ? State::kContent : State::kPlain;
      }
      return true;
    }
    case ToolCallFormat::kFunctionaryV3:
      state_ = options_.recipient_forced_open ? State::kRecipient : State::kContent;
      return true;
    default:
      state_ = State::kContent;
      return true;
  }
}

bool OutputScanner::step_content(bool final) {
  const std::string_view r = rest();
  if (r.empty()) return false;
  size_t best = std::string_view::npos;
  std::string_view which;
  for (const std::string_view m : markers_) {
    const size_t at = r.find(m);
    if (at < best) {
      best = at;
      which = m;
    }
  }
  if (best != std::string_view::npos) {
    emit_content(r.substr(0, best));
    consume(best);
    enter_region(which);
    return true;
  }
  size_t keep = 0;
  if (!final) {
    for (const std::string_view m : markers_) keep = std::max(keep, partial_suffix(r, m));
  }
  if (keep == r.size()) return false;
  emit_content(r.substr(0, r.size() - keep));
  consume(r.size() - keep);
  return true;
}

void OutputScanner::enter_region(std::string_view marker) {
  region_calls_ = 0;
  bare_marker_ = 0;
  raw_marker_.assign(marker);
  size_t take = marker.size();
  switch (options_.tools) {
    case ToolCallFormat::kHermes:
      state_ = State::kHermesCall;
      break;
    case ToolCallFormat::kLlama3:
      llama_bare_ = false;
      state_ = State::kLlamaItems;
      break;
    case ToolCallFormat::kMistral:
      state_ = State::kMistralRegion;
      break;
    case ToolCallFormat::kDeepSeekV3:
      if (marker == kDeepSeekCallBegin) {  // a call without the outer marker
        raw_marker_.clear();
        bare_marker_ = marker.size();
        take = 0;
      }
      state_ = State::kDeepSeekCalls;
      break;
    case ToolCallFormat::kFunctionaryV3:
      state_ = State::kRecipient;
      break;
    case ToolCallFormat::kFunctionaryV31:
      if (marker == kPythonTag) {
        code_builtin_ = false;
        state_ = State::kToolCode;
      } else {
        state_ = State::kFunction31;
      }
      break;
    case ToolCallFormat::kFirefunctionV2:
      take = marker.size() - 1;  // leave the '[' for the JSON
      raw_marker_.pop_back();
      state_ = State::kFireArray;
      break;
    case ToolCallFormat::kGenericJson:
    case ToolCallFormat::kNone:
      state_ = State::kPlain;
      break;
  }
  consume(take);
}

bool OutputScanner::fail_region() {
  state_ = State::kContent;
  if (region_calls_ > 0) return true;  // the calls stand; the rest is content
  emit_content(raw_marker_);
  raw_marker_.clear();
  if (bare_marker_ > 0) {
    emit_content(rest().substr(0, bare_marker_));
    consume(bare_marker_);
    bare_marker_ = 0;
  }
  return true;
}

void OutputScanner::emit_content(std::string_view s) {
  if (s.empty()) return;
  if (s.find_first_not_of(kSpace) == std::string_view::npos) {
    if (!drop_space_) pending_space_.append(s);
    return;
  }
  if (drop_space_) {
    s.remove_prefix(s.find_first_not_of(kSpace));
    drop_space_ = false;
    pending_space_.clear();
  } else {
    out_->content += pending_space_;
    pending_space_.clear();
  }
  const size_t end = s.find_last_not_of(kSpace) + 1;
  out_->content.append(s.substr(0, end));
  pending_space_.assign(s.substr(end));
}

void OutputScanner::emit_reasoning(std::string_view s) {
  out_->reasoning_content.append(s);
}

void OutputScanner::emit_call(ToolCall call) {
  pending_space_.clear();
  drop_space_ = true;
  const bool mistral = options_.tools == ToolCallFormat::kMistral;
  bool keep_id = false;
  if (mistral && call.id.size() == 9) {
    keep_id = std::all_of(call.id.begin(), call.id.end(),
                          [](char c) { return std::isalnum(static_cast<unsigned char>(c)); });
  }
  if (!keep_id) call.id = make_call_id(seed_, call_count_, mistral);
  ++call_count_;
  ++region_calls_;
  raw_marker_.clear();
  bare_marker_ = 0;
  out_->tool_calls.push_back(std::move(call));
}

void OutputScanner::flush_content() {
  if (!drop_space_) out_->content += pending_space_;
  pending_space_.clear();
}

}  // namespace dari::tool_parse
