// Tests of the tool-call and reasoning parsers (include/dari/template/tool_calls.h).
//
// Recorded outputs live in tests/template/tool_outputs (one text file per output, cases.json
// with the options and the expected message). Every recorded output is also streamed in pieces
// of 1, 2, 3 and 7 bytes and in random splits, and the deltas must add up to the whole-output
// parse; mutated outputs (truncated, spliced, marker fragments inserted) must keep that property
// too. Format detection and the forced-open flags are checked against the real chat templates
// in testdata/chat-templates.
#include "dari/template/tool_calls.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "dari/template/chat_template.h"

namespace {

using dari::ParsedMessage;
using dari::ParseOptions;
using dari::ReasoningFormat;
using dari::StreamDelta;
using dari::StreamingOutputParser;
using dari::ToolCallFormat;
using Json = nlohmann::ordered_json;

const std::string kOutputsDir = std::string(DARI_TOOL_OUTPUTS_DIR) + "/";
const std::string kTemplatesDir = std::string(DARI_TESTDATA_DIR) + "/chat-templates/";

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

ToolCallFormat format_from_name(const std::string& name) {
  for (const auto f : {ToolCallFormat::kNone, ToolCallFormat::kHermes, ToolCallFormat::kLlama3,
                       ToolCallFormat::kMistral, ToolCallFormat::kDeepSeekV3,
                       ToolCallFormat::kFunctionaryV3, ToolCallFormat::kFunctionaryV31,
                       ToolCallFormat::kFirefunctionV2, ToolCallFormat::kGenericJson}) {
    if (name == dari::tool_call_format_name(f)) return f;
  }
  ADD_FAILURE() << "unknown format " << name;
  return ToolCallFormat::kNone;
}

// ---------------------------------------------------------------------------------------------
// Streaming helpers

struct Streamed {
  ParsedMessage message;
  std::vector<StreamDelta> deltas;
};

// Checks the OpenAI shape of the tool deltas and folds the deltas into one message.
void fold(const StreamDelta& d, Streamed* s) {
  s->deltas.push_back(d);
  s->message.content += d.content;
  s->message.reasoning_content += d.reasoning_content;
  for (const auto& t : d.tool_calls) {
    if (!t.id.empty() || !t.name.empty()) {  // header of a new call
      EXPECT_EQ(t.index, static_cast<int>(s->message.tool_calls.size()));
      EXPECT_FALSE(t.id.empty());
      EXPECT_FALSE(t.name.empty());
      EXPECT_EQ(t.arguments, "");
      s->message.tool_calls.push_back({t.id, t.name, ""});
    } else {
      ASSERT_FALSE(s->message.tool_calls.empty());
      EXPECT_EQ(t.index, static_cast<int>(s->message.tool_calls.size()) - 1);
      s->message.tool_calls.back().arguments += t.arguments;
    }
  }
}

Streamed stream(const std::string& text, const ParseOptions& options,
                const std::vector<size_t>& cuts) {
  Streamed s;
  StreamingOutputParser parser(options);
  size_t at = 0;
  for (const size_t cut : cuts) {
    fold(parser.feed(std::string_view(text).substr(at, cut - at)), &s);
    at = cut;
  }
  fold(parser.feed(std::string_view(text).substr(at)), &s);
  fold(parser.finish(), &s);
  EXPECT_TRUE(parser.finish().empty());
  EXPECT_EQ(parser.tool_call_count(), static_cast<int>(s.message.tool_calls.size()));
  return s;
}

std::vector<size_t> fixed_cuts(size_t size, size_t step) {
  std::vector<size_t> cuts;
  for (size_t at = step; at < size; at += step) cuts.push_back(at);
  return cuts;
}

std::vector<size_t> random_cuts(size_t size, std::mt19937& rng) {
  std::vector<size_t> cuts;
  if (size < 2) return cuts;
  std::uniform_int_distribution<size_t> count(0, std::min<size_t>(size - 1, 24));
  std::uniform_int_distribution<size_t> where(1, size - 1);
  const size_t n = count(rng);
  for (size_t i = 0; i < n; ++i) cuts.push_back(where(rng));
  std::sort(cuts.begin(), cuts.end());
  cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
  return cuts;
}

std::string describe(const ParsedMessage& m) {
  Json j = {{"content", m.content}, {"reasoning_content", m.reasoning_content}};
  j["tool_calls"] = Json::array();
  for (const auto& c : m.tool_calls) {
    j["tool_calls"].push_back({{"id", c.id}, {"name", c.name}, {"arguments", c.arguments}});
  }
  return j.dump(1, ' ', false, Json::error_handler_t::replace);
}

// Streaming in all the standard splits gives exactly the whole-output parse.
void expect_stream_equivalent(const std::string& text, const ParseOptions& options, uint32_t seed) {
  const std::string whole = describe(dari::parse_model_output(text, options));
  for (const size_t step : {1, 2, 3, 7}) {
    SCOPED_TRACE("pieces of " + std::to_string(step));
    EXPECT_EQ(describe(stream(text, options, fixed_cuts(text.size(), step)).message), whole);
  }
  std::mt19937 rng(seed);
  for (int i = 0; i < 6; ++i) {
    const auto cuts = random_cuts(text.size(), rng);
    std::string where;
    for (const size_t c : cuts) where += std::to_string(c) + " ";
    SCOPED_TRACE("random cuts " + where);
    EXPECT_EQ(describe(stream(text, options, cuts).message), whole);
  }
}

// ---------------------------------------------------------------------------------------------
// Recorded outputs

struct RecordedCase {
  std::string name;
  Json entry;
};

void PrintTo(const RecordedCase& c, std::ostream* os) {
  *os << c.name;
}

std::vector<RecordedCase> load_recorded() {
  std::vector<RecordedCase> out;
  const Json cases = Json::parse(slurp(kOutputsDir + "cases.json"), nullptr, false);
  if (!cases.is_array()) return out;
  for (const auto& c : cases) {
    std::string name = c["file"].get<std::string>();
    name = name.substr(0, name.rfind('.'));
    for (char& ch : name) {
      if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
    }
    out.push_back({name, c});
  }
  return out;
}

// The output is the file without its final newline (see tool_outputs/README.md).
std::string recorded_text(const Json& entry) {
  std::string text = slurp(kOutputsDir + entry["file"].get<std::string>());
  if (!text.empty() && text.back() == '\n') text.pop_back();
  return text;
}

ParseOptions recorded_options(const Json& entry) {
  ParseOptions o;
  o.tools = format_from_name(entry["tools"].get<std::string>());
  o.reasoning =
      entry["reasoning"] == "think_tags" ? ReasoningFormat::kThinkTags : ReasoningFormat::kNone;
  o.thinking_forced_open = entry.value("thinking_forced_open", false);
  o.recipient_forced_open = entry.value("recipient_forced_open", false);
  o.parse_tool_calls = entry.value("parse_tool_calls", true);
  o.id_seed = 1234;
  return o;
}

class RecordedOutput : public ::testing::TestWithParam<RecordedCase> {};

TEST_P(RecordedOutput, ParsesAsExpected) {
  const Json& entry = GetParam().entry;
  const std::string text = recorded_text(entry);
  ASSERT_FALSE(text.empty()) << entry["file"];
  const ParsedMessage m = dari::parse_model_output(text, recorded_options(entry));
  const Json& expect = entry["expect"];
  EXPECT_EQ(m.content, expect["content"].get<std::string>());
  EXPECT_EQ(m.reasoning_content, expect["reasoning_content"].get<std::string>());
  ASSERT_EQ(m.tool_calls.size(), expect["tool_calls"].size()) << describe(m);
  for (size_t i = 0; i < m.tool_calls.size(); ++i) {
    const auto& call = m.tool_calls[i];
    const Json& want = expect["tool_calls"][i];
    EXPECT_EQ(call.name, want["name"].get<std::string>());
    // Same keys in the same order, and compact.
    const Json args = Json::parse(call.arguments, nullptr, false);
    EXPECT_EQ(args, want["arguments"]) << call.arguments;
    EXPECT_EQ(call.arguments, args.dump(-1, ' ', false));
    if (want.contains("id")) {
      EXPECT_EQ(call.id, want["id"].get<std::string>());
    } else if (entry["tools"] == "mistral") {
      EXPECT_EQ(call.id.size(), 9u) << call.id;
    } else {
      EXPECT_EQ(call.id.rfind("call_", 0), 0u) << call.id;
      EXPECT_EQ(call.id.size(), 29u) << call.id;
    }
  }
}

TEST_P(RecordedOutput, StreamingMatchesWholeParse) {
  const Json& entry = GetParam().entry;
  expect_stream_equivalent(recorded_text(entry), recorded_options(entry), 7);
}

// Mutations: every prefix of the output (a generation cut off by max_tokens), and random
// splices with marker fragments, must still stream to the whole-output parse.
TEST_P(RecordedOutput, MutationsStreamLikeWholeParse) {
  const Json& entry = GetParam().entry;
  const std::string text = recorded_text(entry);
  const ParseOptions options = recorded_options(entry);
  for (size_t n = 0; n <= text.size(); n += std::max<size_t>(1, text.size() / 23)) {
    SCOPED_TRACE("prefix " + std::to_string(n));
    expect_stream_equivalent(text.substr(0, n), options, static_cast<uint32_t>(n));
  }
  static const std::vector<std::string> kFragments = {"<tool_call>",
                                                      "</tool_call>",
                                                      "<|python_tag|>",
                                                      "[TOOL_CALLS]",
                                                      "[ARGS]",
                                                      "<think>",
                                                      "</think>",
                                                      ">>>",
                                                      "<function=",
                                                      "</function>",
                                                      "functools[",
                                                      "<｜tool▁calls▁begin｜>",
                                                      "<｜tool▁call▁begin｜>",
                                                      "<｜tool▁sep｜>",
                                                      "<｜tool▁call▁end｜>",
                                                      "{",
                                                      "}",
                                                      "[",
                                                      "]",
                                                      "\"",
                                                      "\\",
                                                      "\n",
                                                      " ",
                                                      ";",
                                                      "<",
                                                      "```json\n"};
  std::mt19937 rng(99);
  for (int i = 0; i < 12; ++i) {
    std::string mutated = text;
    const int edits = 1 + static_cast<int>(rng() % 3);
    for (int e = 0; e < edits; ++e) {
      const size_t at = mutated.empty() ? 0 : rng() % (mutated.size() + 1);
      if (rng() % 3 == 0 && at < mutated.size()) {
        mutated.erase(at, 1 + rng() % 4);
      } else {
        mutated.insert(at, kFragments[rng() % kFragments.size()]);
      }
    }
    SCOPED_TRACE("mutation " + std::to_string(i) + ": " + mutated);
    expect_stream_equivalent(mutated, options, static_cast<uint32_t>(i));
  }
}

INSTANTIATE_TEST_SUITE_P(ToolCalls, RecordedOutput, ::testing::ValuesIn(load_recorded()),
                         [](const auto& param_info) { return param_info.param.name; });

TEST(ToolCallRecorded, EveryFamilyHasCases) {
  const auto cases = load_recorded();
  ASSERT_GE(cases.size(), 80u);
  for (const char* family : {"hermes", "llama3", "mistral", "deepseek_v3", "functionary_v3",
                             "functionary_v3_1", "firefunction_v2", "generic_json"}) {
    size_t n = 0;
    size_t malformed = 0;
    for (const auto& c : cases) {
      if (c.entry["tools"] != family) continue;
      ++n;
      if (c.entry["file"].get<std::string>().find("malformed") != std::string::npos) ++malformed;
    }
    EXPECT_GE(n, 4u) << family;
    EXPECT_GE(malformed, 1u) << family;
  }
}

// ---------------------------------------------------------------------------------------------
// Detection from real chat templates

TEST(ToolCallDetect, RealTemplates) {
  const std::vector<std::pair<std::string, ToolCallFormat>> expected = {
      {"NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use", ToolCallFormat::kHermes},
      {"NousResearch-Hermes-3-Llama-3.1-8B-tool_use", ToolCallFormat::kHermes},
      {"Qwen-Qwen2.5-7B-Instruct", ToolCallFormat::kHermes},
      {"Qwen-Qwen3-0.6B", ToolCallFormat::kHermes},
      {"Qwen-QwQ-32B", ToolCallFormat::kHermes},
      {"meta-llama-Llama-3.1-8B-Instruct", ToolCallFormat::kLlama3},
      {"meta-llama-Llama-3.2-3B-Instruct", ToolCallFormat::kLlama3},
      {"meta-llama-Llama-3.3-70B-Instruct", ToolCallFormat::kLlama3},
      {"mistralai-Mistral-7B-Instruct-v0.3", ToolCallFormat::kMistral},
      {"mistralai-Mistral-Nemo-Instruct-2407", ToolCallFormat::kMistral},
      {"Mistral-Small-3.2-24B-Instruct-2506", ToolCallFormat::kMistral},
      {"deepseek-ai-DeepSeek-R1-Distill-Llama-8B", ToolCallFormat::kDeepSeekV3},
      {"deepseek-ai-DeepSeek-R1-Distill-Qwen-32B", ToolCallFormat::kDeepSeekV3},
      {"deepseek-ai-DeepSeek-V3.1", ToolCallFormat::kDeepSeekV3},
      {"llama-cpp-deepseek-r1", ToolCallFormat::kDeepSeekV3},
      {"meetkai-functionary-medium-v3.2", ToolCallFormat::kFunctionaryV3},
      {"meetkai-functionary-medium-v3.1", ToolCallFormat::kFunctionaryV31},
      {"fireworks-ai-llama-3-firefunction-v2", ToolCallFormat::kFirefunctionV2},
      {"chatml-generic", ToolCallFormat::kGenericJson},
      {"google-gemma-2-2b-it", ToolCallFormat::kGenericJson},
      {"microsoft-Phi-3.5-mini-instruct", ToolCallFormat::kGenericJson},
      {"CohereForAI-c4ai-command-r-plus-tool_use", ToolCallFormat::kGenericJson},
  };
  for (const auto& [name, format] : expected) {
    const std::string source = slurp(kTemplatesDir + name + ".jinja");
    ASSERT_FALSE(source.empty()) << name;
    EXPECT_EQ(dari::tool_call_format_name(dari::detect_tool_call_format(source)),
              std::string(dari::tool_call_format_name(format)))
        << name;
  }
}

TEST(ToolCallDetect, ReasoningFromRealTemplates) {
  for (const char* name :
       {"Qwen-Qwen3-0.6B", "Qwen-QwQ-32B", "deepseek-ai-DeepSeek-R1-Distill-Qwen-32B",
        "deepseek-ai-DeepSeek-V3.1", "llama-cpp-deepseek-r1"}) {
    EXPECT_EQ(dari::detect_reasoning_format(slurp(kTemplatesDir + name + ".jinja")),
              ReasoningFormat::kThinkTags)
        << name;
  }
  for (const char* name : {"Qwen-Qwen2.5-7B-Instruct", "meta-llama-Llama-3.1-8B-Instruct",
                           "mistralai-Mistral-7B-Instruct-v0.3", "chatml-generic"}) {
    EXPECT_EQ(dari::detect_reasoning_format(slurp(kTemplatesDir + name + ".jinja")),
              ReasoningFormat::kNone)
        << name;
  }
}

TEST(ToolCallDetect, Snippets) {
  EXPECT_EQ(dari::detect_tool_call_format("{{- '<tool_call>\\n' }}"), ToolCallFormat::kHermes);
  EXPECT_EQ(dari::detect_tool_call_format("{{ '[TOOL_CALLS]' + name }}"), ToolCallFormat::kMistral);
  EXPECT_EQ(dari::detect_tool_call_format("{{'<｜tool▁calls▁begin｜>'}}"),
            ToolCallFormat::kDeepSeekV3);
  EXPECT_EQ(dari::detect_tool_call_format("{{ '<|python_tag|>' + code }}"),
            ToolCallFormat::kLlama3);
  EXPECT_EQ(dari::detect_tool_call_format("{{ '>>>all\\n' + content }}"),
            ToolCallFormat::kFunctionaryV3);
  EXPECT_EQ(dari::detect_tool_call_format("{{ message.content }}"), ToolCallFormat::kGenericJson);
  EXPECT_EQ(dari::detect_tool_call_format(""), ToolCallFormat::kGenericJson);
  EXPECT_EQ(dari::detect_reasoning_format(""), ReasoningFormat::kNone);
  EXPECT_STREQ(dari::reasoning_format_name(ReasoningFormat::kThinkTags), "think_tags");
}

// The forced-open flags from prompts rendered by the real templates.
std::string render_prompt(const std::string& name, const Json& extra = Json::object()) {
  dari::jinja::ChatTemplateInputs in;
  in.messages = Json::parse(R"([{"role": "user", "content": "What is the weather in Paris?"}])");
  in.tools = Json::parse(R"([{"type": "function", "function": {"name": "get_weather",
      "description": "Current weather", "parameters": {"type": "object",
      "properties": {"location": {"type": "string"}}, "required": ["location"]}}}])");
  in.add_generation_prompt = true;
  in.bos_token = "<s>";
  in.eos_token = "</s>";
  for (const auto& [k, v] : extra.items()) in.extra_vars[k] = v;
  auto out = dari::jinja::render_chat_template(slurp(kTemplatesDir + name + ".jinja"), in);
  EXPECT_TRUE(out.ok()) << name << ": " << (out.ok() ? "" : out.message());
  return out.ok() ? *out : "";
}

ParseOptions options_for_template(const std::string& name, const Json& extra = Json::object()) {
  const std::string source = slurp(kTemplatesDir + name + ".jinja");
  return dari::parse_options_for_prompt(dari::detect_tool_call_format(source),
                                        dari::detect_reasoning_format(source),
                                        render_prompt(name, extra));
}

TEST(ToolCallDetect, ForcedOpenFromRenderedPrompts) {
  EXPECT_TRUE(options_for_template("Qwen-QwQ-32B").thinking_forced_open);
  EXPECT_TRUE(
      options_for_template("deepseek-ai-DeepSeek-R1-Distill-Qwen-32B").thinking_forced_open);
  EXPECT_FALSE(options_for_template("Qwen-Qwen3-0.6B").thinking_forced_open);
  EXPECT_FALSE(
      options_for_template("Qwen-Qwen3-0.6B", {{"enable_thinking", false}}).thinking_forced_open);
  EXPECT_TRUE(
      options_for_template("deepseek-ai-DeepSeek-V3.1", {{"thinking", true}}).thinking_forced_open);
  EXPECT_FALSE(options_for_template("deepseek-ai-DeepSeek-V3.1").thinking_forced_open);
  const ParseOptions functionary = options_for_template("meetkai-functionary-medium-v3.2");
  EXPECT_TRUE(functionary.recipient_forced_open);
  EXPECT_EQ(functionary.tools, ToolCallFormat::kFunctionaryV3);
  EXPECT_FALSE(options_for_template("meta-llama-Llama-3.1-8B-Instruct").recipient_forced_open);

  // Qwen3 with thinking off: the empty block is in the prompt; the output is plain content.
  const ParseOptions qwen3 = options_for_template("Qwen-Qwen3-0.6B", {{"enable_thinking", false}});
  const auto m = dari::parse_model_output("Paris is sunny.", qwen3);
  EXPECT_EQ(m.content, "Paris is sunny.");
  EXPECT_EQ(m.reasoning_content, "");
}

TEST(ToolCallDetect, OptionsForPromptEdges) {
  auto o = dari::parse_options_for_prompt(ToolCallFormat::kHermes, ReasoningFormat::kThinkTags,
                                          "<|im_start|>assistant\n<think>\n");
  EXPECT_TRUE(o.thinking_forced_open);
  o = dari::parse_options_for_prompt(ToolCallFormat::kHermes, ReasoningFormat::kThinkTags,
                                     "<think>\n\n</think>\n\n");
  EXPECT_FALSE(o.thinking_forced_open);
  o = dari::parse_options_for_prompt(ToolCallFormat::kHermes, ReasoningFormat::kNone, "<think>\n");
  EXPECT_FALSE(o.thinking_forced_open);
  o = dari::parse_options_for_prompt(ToolCallFormat::kFunctionaryV3, ReasoningFormat::kNone, "");
  EXPECT_FALSE(o.recipient_forced_open);
  EXPECT_FALSE(
      dari::parse_options_for_prompt(ToolCallFormat::kNone, ReasoningFormat::kThinkTags, "  \n")
          .thinking_forced_open);
}

// ---------------------------------------------------------------------------------------------
// Arguments, ids

ParseOptions hermes() {
  ParseOptions o;
  o.tools = ToolCallFormat::kHermes;
  o.id_seed = 5;
  return o;
}

TEST(ToolCallParse, ArgumentsAreCompactInModelOrder) {
  const auto m = dari::parse_model_output(
      "<tool_call>\n{ \"name\" : \"f\",\n \"arguments\" : { \"b\" : 1 , \"a\" : [ 1, 2.5, \"x y\" "
      "],"
      " \"c\": {\"z\": null, \"e\": \"\\u00e9\\n\"} } }\n</tool_call>",
      hermes());
  ASSERT_EQ(m.tool_calls.size(), 1u);
  EXPECT_EQ(m.tool_calls[0].arguments,
            "{\"b\":1,\"a\":[1,2.5,\"x y\"],\"c\":{\"z\":null,\"e\":\"\xc3\xa9\\n\"}}");
  EXPECT_EQ(m.content, "");
}

TEST(ToolCallParse, OpenAiShapedCallObject) {
  const auto m = dari::parse_model_output(
      "<tool_call>{\"type\": \"function\", \"function\": {\"name\": \"f\", \"arguments\": "
      "\"{\\\"x\\\": 1}\"}}</tool_call>",
      hermes());
  ASSERT_EQ(m.tool_calls.size(), 1u);
  EXPECT_EQ(m.tool_calls[0].name, "f");
  EXPECT_EQ(m.tool_calls[0].arguments, "{\"x\":1}");
}

TEST(ToolCallParse, ArgumentsMustBeObjects) {
  for (const char* args : {"[1, 2]", "\"text\"", "42", "\"[1]\"", "\"{bad\""}) {
    const std::string text =
        std::string("<tool_call>{\"name\": \"f\", \"arguments\": ") + args + "}</tool_call>";
    const auto m = dari::parse_model_output(text, hermes());
    EXPECT_TRUE(m.tool_calls.empty()) << args;
    EXPECT_EQ(m.content, text);
  }
}

TEST(ToolCallParse, NamesAreChecked) {
  for (const char* name : {"", "two words", "new\\nline", "a{b}"}) {
    const std::string text =
        std::string("<tool_call>{\"name\": \"") + name + "\", \"arguments\": {}}</tool_call>";
    EXPECT_TRUE(dari::parse_model_output(text, hermes()).tool_calls.empty()) << name;
  }
  const auto ok = dari::parse_model_output(
      "<tool_call>{\"name\": \"mcp.server:tool-1_x\", \"arguments\": {}}</tool_call>", hermes());
  ASSERT_EQ(ok.tool_calls.size(), 1u);
  EXPECT_EQ(ok.tool_calls[0].name, "mcp.server:tool-1_x");
}

TEST(ToolCallParse, IdsFollowTheSeed) {
  const std::string text =
      "<tool_call>{\"name\": \"a\", \"arguments\": {}}</tool_call>"
      "<tool_call>{\"name\": \"b\", \"arguments\": {}}</tool_call>";
  ParseOptions o = hermes();
  const auto a = dari::parse_model_output(text, o);
  const auto b = dari::parse_model_output(text, o);
  ASSERT_EQ(a.tool_calls.size(), 2u);
  EXPECT_EQ(a.tool_calls[0].id, b.tool_calls[0].id);
  EXPECT_NE(a.tool_calls[0].id, a.tool_calls[1].id);
  for (const auto& call : a.tool_calls) {
    ASSERT_EQ(call.id.size(), 29u);
    EXPECT_EQ(call.id.substr(0, 5), "call_");
    for (const char c : call.id.substr(5)) EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c)));
  }
  o.id_seed = 6;
  EXPECT_NE(dari::parse_model_output(text, o).tool_calls[0].id, a.tool_calls[0].id);
  o.id_seed = 0;  // random
  const auto r1 = dari::parse_model_output(text, o);
  const auto r2 = dari::parse_model_output(text, o);
  ASSERT_EQ(r1.tool_calls.size(), 2u);
  EXPECT_EQ(r1.tool_calls[0].id.size(), 29u);
  EXPECT_NE(r1.tool_calls[0].id, r2.tool_calls[0].id);
}

TEST(ToolCallParse, MistralIdsKeptOrMadeInItsShape) {
  ParseOptions o;
  o.tools = ToolCallFormat::kMistral;
  const auto m = dari::parse_model_output(
      "[TOOL_CALLS] [{\"name\": \"a\", \"arguments\": {}, \"id\": \"abc123XYZ\"}, "
      "{\"name\": \"b\", \"arguments\": {}, \"id\": \"too-long-or-odd\"}, "
      "{\"name\": \"c\", \"arguments\": {}}]",
      o);
  ASSERT_EQ(m.tool_calls.size(), 3u);
  EXPECT_EQ(m.tool_calls[0].id, "abc123XYZ");
  for (size_t i = 1; i < 3; ++i) {
    ASSERT_EQ(m.tool_calls[i].id.size(), 9u);
    for (const char c : m.tool_calls[i].id)
      EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c)));
  }
}

TEST(ToolCallParse, ToolsNoneIsPlainText) {
  ParseOptions o;
  const std::string text =
      "<tool_call>{\"name\": \"a\", \"arguments\": {}}</tool_call> [TOOL_CALLS]";
  const auto m = dari::parse_model_output(text, o);
  EXPECT_EQ(m.content, text);
  EXPECT_TRUE(m.tool_calls.empty());
}

TEST(ToolCallParse, HostileInputDoesNotCrash) {
  ParseOptions o = hermes();
  const std::string deep =
      "<tool_call>{\"name\": \"f\", \"arguments\": " + std::string(100000, '[') +
      std::string(100000, ']') + "}</tool_call>";
  auto m = dari::parse_model_output(deep, o);
  EXPECT_TRUE(m.tool_calls.empty());
  EXPECT_EQ(m.content, deep);
  o.tools = ToolCallFormat::kGenericJson;
  const std::string generic = std::string(50000, '{');
  EXPECT_EQ(dari::parse_model_output(generic, o).content, generic);
  o.tools = ToolCallFormat::kLlama3;
  const std::string bytes = "{\"name\": \"f\", \"parameters\": {\"x\": \"\xff\xfe\"}}";
  m = dari::parse_model_output(bytes, o);  // invalid UTF-8: not JSON, so content
  EXPECT_TRUE(m.tool_calls.empty());
  EXPECT_EQ(m.content, bytes);
}

// ---------------------------------------------------------------------------------------------
// Streaming behaviour

TEST(ToolCallStream, PlainTextFlowsWithoutDelay) {
  StreamingOutputParser p(hermes());
  EXPECT_EQ(p.feed("Hello").content, "Hello");
  EXPECT_EQ(p.feed(" world").content, " world");
  EXPECT_EQ(p.feed(", a <").content, ", a");  // "<" might start a marker; the space waits
  EXPECT_EQ(p.feed(" b.").content, " < b.");
  EXPECT_TRUE(p.finish().empty());
}

TEST(ToolCallStream, MarkerPrefixIsHeldUntilDecided) {
  StreamingOutputParser p(hermes());
  EXPECT_EQ(p.feed("Checking.\n<tool").content, "Checking.");
  EXPECT_TRUE(p.feed("_call>\n{\"name\": \"get_weather\", ").empty());
  const StreamDelta d = p.feed("\"arguments\": {\"location\": \"Paris\"}}\n</tool_call>");
  ASSERT_EQ(d.tool_calls.size(), 2u);  // emitted as soon as the call closes
  EXPECT_EQ(d.content, "");
  EXPECT_EQ(d.tool_calls[0].index, 0);
  EXPECT_EQ(d.tool_calls[0].name, "get_weather");
  EXPECT_EQ(d.tool_calls[0].arguments, "");
  EXPECT_EQ(d.tool_calls[0].id.substr(0, 5), "call_");
  EXPECT_EQ(d.tool_calls[1].index, 0);
  EXPECT_EQ(d.tool_calls[1].id, "");
  EXPECT_EQ(d.tool_calls[1].arguments, "{\"location\":\"Paris\"}");
  EXPECT_EQ(p.tool_call_count(), 1);
  EXPECT_TRUE(p.finish().empty());
}

TEST(ToolCallStream, NotAMarkerAfterAll) {
  StreamingOutputParser p(hermes());
  EXPECT_EQ(p.feed("x <tool").content, "x");
  EXPECT_EQ(p.feed("box>").content, " <toolbox>");
}

TEST(ToolCallStream, UnterminatedCallBecomesContentAtFinish) {
  StreamingOutputParser p(hermes());
  EXPECT_EQ(p.feed("Sure. <tool_call>{\"name\": \"f\", \"argu").content, "Sure.");
  const StreamDelta d = p.finish();
  EXPECT_EQ(d.content, " <tool_call>{\"name\": \"f\", \"argu");
  EXPECT_TRUE(d.tool_calls.empty());
}

TEST(ToolCallStream, ReasoningStreamsBeforeTheBlockCloses) {
  ParseOptions o = hermes();
  o.reasoning = ReasoningFormat::kThinkTags;
  StreamingOutputParser p(o);
  EXPECT_TRUE(p.feed("<th").empty());
  EXPECT_TRUE(p.feed("ink>").empty());
  EXPECT_EQ(p.feed("\nFirst thought").reasoning_content, "First thought");
  EXPECT_EQ(p.feed(".\n").reasoning_content, ".");  // the newline may precede </think>
  EXPECT_TRUE(p.feed("</thi").empty());
  StreamDelta d = p.feed("nk>\n\nThe answer");
  EXPECT_EQ(d.reasoning_content, "");
  EXPECT_EQ(d.content, "The answer");
  EXPECT_TRUE(p.finish().empty());
}

TEST(ToolCallStream, ForcedOpenReasoning) {
  ParseOptions o;
  o.reasoning = ReasoningFormat::kThinkTags;
  o.thinking_forced_open = true;
  StreamingOutputParser p(o);
  EXPECT_EQ(p.feed("Hmm, ").reasoning_content, "Hmm, ");
  const StreamDelta d = p.feed("ok</think>Done");
  EXPECT_EQ(d.reasoning_content, "ok");
  EXPECT_EQ(d.content, "Done");
}

TEST(ToolCallStream, FeedAfterFinishIsIgnored) {
  StreamingOutputParser p(hermes());
  p.feed("abc");
  EXPECT_EQ(p.finish().content, "");  // "abc" was already sent
  EXPECT_TRUE(p.feed("more").empty());
  EXPECT_TRUE(p.finish().empty());
}

TEST(ToolCallStream, MovedParserKeepsState) {
  StreamingOutputParser a(hermes());
  EXPECT_EQ(a.feed("x <tool_").content, "x");
  StreamingOutputParser b(std::move(a));
  EXPECT_EQ(b.finish().content, " <tool_");
}

// Long outputs: the scanner drops consumed text and resumes its JSON scan across pieces; both
// must keep the result independent of the split.
TEST(ToolCallStream, LongOutputsAcrossBufferCompaction) {
  std::string filler;
  for (int i = 0; i < 700; ++i) filler += "line " + std::to_string(i) + " [x] {y}\n";
  std::string big = "{\"text\": \"";
  for (int i = 0; i < 900; ++i) big += "chunk \\\" " + std::to_string(i) + " ";
  big += "\"}";
  ParseOptions o;
  o.id_seed = 11;
  for (const auto format : {ToolCallFormat::kMistral, ToolCallFormat::kLlama3,
                            ToolCallFormat::kFunctionaryV3, ToolCallFormat::kHermes}) {
    o.tools = format;
    std::string text;
    switch (format) {
      case ToolCallFormat::kMistral:
        text = filler + "[TOOL_CALLS]write[ARGS]" + big + filler + "[TOOL_CALLS]write[ARGS]" + big;
        break;
      case ToolCallFormat::kLlama3:
        text = filler + "<|python_tag|>{\"name\": \"write\", \"parameters\": " + big + "}; " +
               "{\"name\": \"write\", \"parameters\": " + big + "}";
        break;
      case ToolCallFormat::kFunctionaryV3:
        text = ">>>all\n" + filler + ">>>write\n" + big + ">>>write\n" + big;
        break;
      default:
        text = filler + "<tool_call>{\"name\": \"write\", \"arguments\": " + big + "}</tool_call>";
        break;
    }
    SCOPED_TRACE(dari::tool_call_format_name(format));
    const auto whole = dari::parse_model_output(text, o);
    EXPECT_EQ(whole.tool_calls.size(), format == ToolCallFormat::kHermes ? 1u : 2u);
    const size_t fillers = format == ToolCallFormat::kMistral ? 2 : 1;
    EXPECT_EQ(whole.content.size(), (filler.size() - 1) * fillers);  // "\n" before a call dropped
    for (const size_t step : {1, 3, 64}) {
      EXPECT_EQ(describe(stream(text, o, fixed_cuts(text.size(), step)).message), describe(whole));
    }
  }
}

// Names are bounded; the bound must not depend on how the text arrives.
TEST(ToolCallStream, OverlongNamesAreContentInEverySplit) {
  ParseOptions o;
  o.id_seed = 3;
  o.tools = ToolCallFormat::kFunctionaryV3;
  o.recipient_forced_open = true;
  for (const size_t n : {64, 65, 70}) {
    const std::string name(n, 'f');
    const std::string text = name + "\n{\"a\": 1}";
    const auto m = dari::parse_model_output(text, o);
    EXPECT_EQ(m.tool_calls.size(), n <= 64 ? 1u : 0u) << n;
    expect_stream_equivalent(text, o, 1);
  }
  o.recipient_forced_open = false;
  o.tools = ToolCallFormat::kFunctionaryV31;
  for (const size_t n : {256, 257, 300}) {
    const std::string text = "<function=" + std::string(n, 'g') + ">{\"a\": 1}</function>";
    EXPECT_EQ(dari::parse_model_output(text, o).tool_calls.size(), n <= 256 ? 1u : 0u) << n;
    expect_stream_equivalent(text, o, 2);
  }
  o.tools = ToolCallFormat::kMistral;
  for (const size_t n : {256, 257}) {
    const std::string text = "[TOOL_CALLS]" + std::string(n, 'h') + "[ARGS]{\"a\": 1}";
    EXPECT_EQ(dari::parse_model_output(text, o).tool_calls.size(), n <= 256 ? 1u : 0u) << n;
    expect_stream_equivalent(text, o, 3);
  }
}

TEST(ToolCallStream, RandomTextAgainstEveryFormat) {
  // Random strings over an alphabet rich in marker characters.
  static const std::vector<std::string> kAlphabet = {
      "<",        ">",        "|",         "/",     "[",          "]",          "{",
      "}",        "\"",       ":",         ",",     ";",          " ",          "\n",
      "a",        "x",        "tool_call", "think", "python_tag", "TOOL_CALLS", "ARGS",
      "CALL_ID",  "function", "functools", "name",  "arguments",  "parameters", "｜",
      "tool▁sep", "```",      "all",       "\\"};
  std::mt19937 rng(2024);
  for (const auto format : {ToolCallFormat::kNone, ToolCallFormat::kHermes, ToolCallFormat::kLlama3,
                            ToolCallFormat::kMistral, ToolCallFormat::kDeepSeekV3,
                            ToolCallFormat::kFunctionaryV3, ToolCallFormat::kFunctionaryV31,
                            ToolCallFormat::kFirefunctionV2, ToolCallFormat::kGenericJson}) {
    for (int i = 0; i < 40; ++i) {
      std::string text;
      const int n = static_cast<int>(rng() % 40);
      for (int k = 0; k < n; ++k) text += kAlphabet[rng() % kAlphabet.size()];
      ParseOptions o;
      o.tools = format;
      o.reasoning = (i % 2) ? ReasoningFormat::kThinkTags : ReasoningFormat::kNone;
      o.thinking_forced_open = (i % 4) == 3;
      o.recipient_forced_open = (i % 3) == 0;
      o.id_seed = 77;
      SCOPED_TRACE(std::string(dari::tool_call_format_name(format)) + ": " + text);
      expect_stream_equivalent(text, o, static_cast<uint32_t>(i));
    }
  }
}

}  // namespace
