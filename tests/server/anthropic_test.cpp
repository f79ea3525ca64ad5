// Anthropic Messages API translation (src/server/anthropic.h): request mapping and validation,
// error bodies, the non-streaming message body and the SSE event sequence.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "server/anthropic.h"

namespace dari::server {
namespace {

using json = nlohmann::json;

// The fields every valid request needs.
#define B R"("model":"m","max_tokens":64)"
#define U R"("messages":[{"role":"user","content":"hi"}])"

ApiRequest ok(const std::string& body, const ApiLimits& lim = {}) {
  auto r = parse_anthropic_request(body, lim);
  if (auto* e = std::get_if<ApiError>(&r)) {
    ADD_FAILURE() << body << "\n-> " << e->param << ": " << e->message;
    return {};
  }
  return std::get<ApiRequest>(std::move(r));
}

// ---- request mapping ----

TEST(AnthropicRequest, MapsTheBasicFields) {
  ApiRequest r = ok(R"({"model":"claude-x","max_tokens":300,"system":"Be brief.",
      "messages":[{"role":"user","content":"Hello"}],"stop_sequences":["END","\n\nHuman:"],
      "temperature":0.3,"top_p":0.9,"top_k":40,"stream":true,"metadata":{"user_id":"u-1"},
      "service_tier":"auto","container":null,"mcp_servers":[]})");
  EXPECT_EQ(r.endpoint, Endpoint::kMessages);
  EXPECT_EQ(r.model, "claude-x");
  ASSERT_TRUE(r.max_tokens.has_value());
  EXPECT_EQ(*r.max_tokens, 300);
  EXPECT_EQ(r.n, 1u);
  ASSERT_EQ(r.messages.size(), 2u);
  EXPECT_EQ(r.messages[0].role, "system");
  EXPECT_EQ(r.messages[0].content, "Be brief.");
  EXPECT_EQ(r.messages[1].role, "user");
  EXPECT_EQ(r.messages[1].content, "Hello");
  EXPECT_EQ(r.stop, (std::vector<std::string>{"END", "\n\nHuman:"}));
  EXPECT_FLOAT_EQ(r.temperature, 0.3f);
  EXPECT_FLOAT_EQ(r.top_p, 0.9f);
  EXPECT_EQ(r.top_k, 40);
  EXPECT_TRUE(r.stream);
  EXPECT_EQ(r.user, "u-1");
  EXPECT_TRUE(r.tools.empty());
  EXPECT_TRUE(r.tools_json.is_null());
  EXPECT_EQ(r.tool_choice, ToolChoice::kNone);
  EXPECT_TRUE(r.chat_template_kwargs.empty());
  EXPECT_TRUE(r.ignored_fields.empty());
}

TEST(AnthropicRequest, DefaultsMatchAnthropics) {
  ApiRequest r = ok("{" B "," U "}");
  EXPECT_FLOAT_EQ(r.temperature, 1.0f);
  EXPECT_FLOAT_EQ(r.top_p, 1.0f);
  EXPECT_EQ(r.top_k, 0);
  EXPECT_FALSE(r.stream);
  EXPECT_TRUE(r.stop.empty());
  ASSERT_EQ(r.messages.size(), 1u);  // no system message without `system`
}

TEST(AnthropicRequest, SixteenStopSequencesAreAllowed) {
  std::string stops;
  for (int i = 0; i < 16; ++i)
    stops += std::string(i ? "," : "") + "\"s" + std::to_string(i) + "\"";
  ApiRequest r = ok("{" B "," U ",\"stop_sequences\":[" + stops + "]}");
  EXPECT_EQ(r.stop.size(), 16u);
}

TEST(AnthropicRequest, TopPZeroKeepsTheMostLikelyToken) {
  ApiRequest r = ok("{" B "," U R"(,"top_p":0})");
  EXPECT_FLOAT_EQ(r.top_p, 1.0f);
  EXPECT_EQ(r.top_k, 1);
}

TEST(AnthropicRequest, SystemBlocksAndMultiBlockContentAreJoined) {
  ApiRequest r = ok("{" B R"(,"system":[{"type":"text","text":"You are terse."},
      {"type":"text","text":"Answer in French.","cache_control":{"type":"ephemeral"}}],
      "messages":[
        {"role":"user","content":[{"type":"text","text":"Line one"},{"type":"text","text":"Line two"}]},
        {"role":"user","content":"Merged turn"},
        {"role":"assistant","content":[{"type":"thinking","thinking":"hmm","signature":"sig"},
                                       {"type":"redacted_thinking","data":"xyz"},
                                       {"type":"text","text":"Bonjour","citations":null}]},
        {"role":"user","content":"Encore"}]})");
  ASSERT_EQ(r.messages.size(), 4u);
  EXPECT_EQ(r.messages[0].role, "system");
  EXPECT_EQ(r.messages[0].content, "You are terse.\nAnswer in French.");
  EXPECT_EQ(r.messages[1].role, "user");
  EXPECT_EQ(r.messages[1].content, "Line one\nLine two\nMerged turn");
  EXPECT_EQ(r.messages[2].role, "assistant");
  EXPECT_EQ(r.messages[2].content, "Bonjour");  // thinking dropped
  EXPECT_TRUE(r.messages[2].reasoning_content.empty());
  EXPECT_FALSE(r.messages[2].content_null);
  EXPECT_EQ(r.messages[3].content, "Encore");
}

TEST(AnthropicRequest, FinalAssistantMessageMayBeEmptyOrAPrefill) {
  ApiRequest r = ok("{" B R"(,"messages":[{"role":"user","content":"Hi"},
      {"role":"assistant","content":"Sure, here"}]})");
  ASSERT_EQ(r.messages.size(), 2u);
  EXPECT_EQ(r.messages[1].role, "assistant");
  EXPECT_EQ(r.messages[1].content, "Sure, here");
  ApiRequest e = ok("{" B R"(,"messages":[{"role":"user","content":"Hi"},
      {"role":"assistant","content":[]}]})");
  ASSERT_EQ(e.messages.size(), 2u);
  EXPECT_EQ(e.messages[1].content, "");
}

TEST(AnthropicRequest, ToolUseAndToolResultRoundTrip) {
  const std::string id1 = "toolu_ABCDEFGHIJKLMNOPQRSTUVWX";  // 24 characters: a parser id
  ApiRequest r = ok("{" B R"(,"tools":[{"name":"get_weather","input_schema":{"type":"object"}},
      {"name":"get_time","input_schema":{"type":"object"}}],
      "messages":[
        {"role":"user","content":"Weather and time in Paris?"},
        {"role":"assistant","content":[
          {"type":"text","text":"Let me check."},
          {"type":"tool_use","id":")" +
                    id1 + R"(","name":"get_weather","input":{"city":"Paris","units":"C"}},
          {"type":"tool_use","id":"toolu_abc123XYZ","name":"get_time","input":{}}]},
        {"role":"user","content":[
          {"type":"tool_result","tool_use_id":")" +
                    id1 + R"(","content":"18C, cloudy"},
          {"type":"tool_result","tool_use_id":"toolu_abc123XYZ","is_error":true,
           "content":[{"type":"text","text":"clock"},{"type":"text","text":"unavailable"}]},
          {"type":"text","text":"Thanks!"}]},
        {"role":"assistant","content":[{"type":"tool_use","id":"custom-7","name":"get_time","input":{"tz":"CET"}}]},
        {"role":"user","content":[{"type":"tool_result","tool_use_id":"custom-7"}]}]})");
  ASSERT_EQ(r.messages.size(), 7u);
  const ChatMessage& a = r.messages[1];
  EXPECT_EQ(a.role, "assistant");
  EXPECT_EQ(a.content, "Let me check.");
  ASSERT_EQ(a.tool_calls.size(), 2u);
  EXPECT_EQ(a.tool_calls[0].id, "call_ABCDEFGHIJKLMNOPQRSTUVWX");
  EXPECT_EQ(a.tool_calls[0].name, "get_weather");
  EXPECT_EQ(a.tool_calls[0].arguments, R"({"city":"Paris","units":"C"})");
  EXPECT_EQ(a.tool_calls[1].id, "abc123XYZ");  // a Mistral-shaped id goes back as it was
  EXPECT_EQ(a.tool_calls[1].arguments, "{}");

  EXPECT_EQ(r.messages[2].role, "tool");
  EXPECT_EQ(r.messages[2].tool_call_id, "call_ABCDEFGHIJKLMNOPQRSTUVWX");
  EXPECT_EQ(r.messages[2].name, "get_weather");
  EXPECT_EQ(r.messages[2].content, "18C, cloudy");
  EXPECT_EQ(r.messages[3].role, "tool");
  EXPECT_EQ(r.messages[3].tool_call_id, "abc123XYZ");
  EXPECT_EQ(r.messages[3].name, "get_time");
  EXPECT_EQ(r.messages[3].content, "clock\nunavailable");
  EXPECT_EQ(r.messages[4].role, "user");
  EXPECT_EQ(r.messages[4].content, "Thanks!");

  const ChatMessage& b = r.messages[5];  // tool calls only: content null, as OpenAI's
  EXPECT_EQ(b.role, "assistant");
  EXPECT_TRUE(b.content_null);
  ASSERT_EQ(b.tool_calls.size(), 1u);
  EXPECT_EQ(b.tool_calls[0].id, "custom-7");
  EXPECT_EQ(b.tool_calls[0].arguments, R"({"tz":"CET"})");
  EXPECT_EQ(r.messages[6].role, "tool");  // results only: no empty user message after them
  EXPECT_EQ(r.messages[6].content, "");
  EXPECT_EQ(r.messages[6].tool_call_id, "custom-7");
  EXPECT_EQ(r.tool_choice, ToolChoice::kAuto);
}

TEST(AnthropicRequest, ToolsBecomeOpenAIShapedDefinitions) {
  ApiRequest r = ok("{" B "," U R"(,"tools":[
      {"name":"get_weather","description":"Current weather","cache_control":{"type":"ephemeral"},
       "input_schema":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}},
      {"type":"custom","name":"no-desc_2","input_schema":{"type":"object"},"strict":true}]})");
  ASSERT_EQ(r.tools.size(), 2u);
  EXPECT_EQ(r.tools[0].name, "get_weather");
  EXPECT_EQ(r.tools[0].description, "Current weather");
  EXPECT_EQ(r.tools[0].parameters["required"][0], "city");
  EXPECT_FALSE(r.tools[0].strict);
  EXPECT_EQ(r.tools[1].name, "no-desc_2");
  EXPECT_TRUE(r.tools[1].strict);
  const auto expected = nlohmann::ordered_json::parse(R"([
      {"type":"function","function":{"name":"get_weather","description":"Current weather",
        "parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}},
      {"type":"function","function":{"name":"no-desc_2","parameters":{"type":"object"}}}])");
  EXPECT_EQ(r.tools_json, expected);
  EXPECT_EQ(r.tools_json.dump(), expected.dump());  // key order kept
  EXPECT_EQ(r.tool_choice, ToolChoice::kAuto);
  EXPECT_TRUE(r.parallel_tool_calls);
}

TEST(AnthropicRequest, EveryToolChoice) {
  const std::string tools = R"(,"tools":[{"name":"t1","input_schema":{"type":"object"}}])";
  auto with = [&](const std::string& choice) {
    return ok("{" B "," U + tools + R"(,"tool_choice":)" + choice + "}");
  };
  ApiRequest a = with(R"({"type":"auto"})");
  EXPECT_EQ(a.tool_choice, ToolChoice::kAuto);
  EXPECT_TRUE(a.parallel_tool_calls);
  ApiRequest any = with(R"({"type":"any","disable_parallel_tool_use":true})");
  EXPECT_EQ(any.tool_choice, ToolChoice::kRequired);
  EXPECT_FALSE(any.parallel_tool_calls);
  ApiRequest named = with(R"({"type":"tool","name":"t1","disable_parallel_tool_use":false})");
  EXPECT_EQ(named.tool_choice, ToolChoice::kNamed);
  EXPECT_EQ(named.tool_choice_name, "t1");
  EXPECT_TRUE(named.parallel_tool_calls);
  ApiRequest none = with(R"({"type":"none"})");
  EXPECT_EQ(none.tool_choice, ToolChoice::kNone);
  EXPECT_EQ(none.tools.size(), 1u);
  ApiRequest auto_only = with(R"({"type":"auto","disable_parallel_tool_use":true})");
  EXPECT_FALSE(auto_only.parallel_tool_calls);
  // Without tools, auto and none mean no tool calls.
  EXPECT_EQ(ok("{" B "," U R"(,"tool_choice":{"type":"auto"}})").tool_choice, ToolChoice::kNone);
  EXPECT_EQ(ok("{" B "," U R"(,"tools":[],"tool_choice":{"type":"none"}})").tool_choice,
            ToolChoice::kNone);
}

TEST(AnthropicRequest, ThinkingSetsEnableThinking) {
  ApiRequest on = ok(R"({"model":"m","max_tokens":4096,)" U
                     R"(,"thinking":{"type":"enabled","budget_tokens":2048}})");
  ASSERT_EQ(on.chat_template_kwargs.count("enable_thinking"), 1u);
  EXPECT_EQ(on.chat_template_kwargs["enable_thinking"], true);
  ApiRequest off = ok("{" B "," U R"(,"thinking":{"type":"disabled"}})");
  EXPECT_EQ(off.chat_template_kwargs["enable_thinking"], false);
  ApiRequest adaptive = ok("{" B "," U R"(,"thinking":{"type":"adaptive"}})");
  EXPECT_EQ(adaptive.chat_template_kwargs["enable_thinking"], true);
  EXPECT_TRUE(ok("{" B "," U R"(,"thinking":null})").chat_template_kwargs.empty());
}

TEST(AnthropicRequest, UnknownFieldsAreIgnoredOrRejectedWhenStrict) {
  const std::string body =
      "{" B "," U R"(,"context_management":{},"output_config":{"effort":"high"},
      "messages_extra":1})";
  ApiRequest r = ok(body);
  EXPECT_EQ(r.ignored_fields,
            (std::vector<std::string>{"context_management", "output_config", "messages_extra"}));
  ApiLimits strict;
  strict.strict = true;
  auto s = parse_anthropic_request(body, strict);
  ASSERT_TRUE(std::holds_alternative<ApiError>(s));
  EXPECT_EQ(std::get<ApiError>(s).param, "context_management");
  EXPECT_EQ(std::get<ApiError>(s).code, "unknown_field");
  // Known fields pass in strict mode, nested members included.
  ok(R"({"model":"m","max_tokens":2000,"system":[{"type":"text","text":"s","cache_control":{"type":"ephemeral"}}],
        "messages":[{"role":"user","content":[{"type":"text","text":"x","cache_control":{"type":"ephemeral"}}]}],
        "tools":[{"name":"t","description":"d","input_schema":{"type":"object"},"cache_control":{"type":"ephemeral"}}],
        "tool_choice":{"type":"tool","name":"t","disable_parallel_tool_use":true},
        "thinking":{"type":"enabled","budget_tokens":1024},"metadata":{"user_id":"u"},
        "stop_sequences":["x"],"temperature":0,"top_p":1,"top_k":5,"stream":false,
        "service_tier":"standard_only","container":"c","mcp_servers":[]})",
     strict);
  auto nested = parse_anthropic_request(
      "{" B R"(,"messages":[{"role":"user","content":[{"type":"text","text":"x","colour":1}]}]})",
      strict);
  ASSERT_TRUE(std::holds_alternative<ApiError>(nested));
  EXPECT_EQ(std::get<ApiError>(nested).param, "messages[0].content[0].colour");
  // Not strict: nested unknown members are ignored.
  ok("{" B R"(,"messages":[{"role":"user","content":[{"type":"text","text":"x","colour":1}]}]})");
}

// ---- validation: every error names its field ----

struct BadCase {
  std::string body;
  std::string param;
};

class AnthropicBadRequest : public ::testing::TestWithParam<BadCase> {};

TEST_P(AnthropicBadRequest, IsRejectedWithParam) {
  const BadCase& c = GetParam();
  auto r = parse_anthropic_request(c.body);
  ASSERT_TRUE(std::holds_alternative<ApiError>(r)) << c.body;
  const ApiError& e = std::get<ApiError>(r);
  EXPECT_EQ(e.status, 400) << c.body;
  EXPECT_EQ(e.param, c.param) << c.body << " -> " << e.message;
  EXPECT_FALSE(e.message.empty());
  EXPECT_EQ(e.type, "invalid_request_error");
  EXPECT_NE(anthropic_error_body(e).find("invalid_request_error"), std::string::npos);
}

#define TOOL R"("tools":[{"name":"t1","input_schema":{"type":"object"}}])"
#define MSG(role, content) R"({"role":")" role R"(","content":)" content "}"
#define ASSIST_USE \
  MSG("assistant", R"([{"type":"tool_use","id":"toolu_1","name":"t1","input":{}}])")

INSTANTIATE_TEST_SUITE_P(
    Cases, AnthropicBadRequest,
    ::testing::Values(
        // The body.
        BadCase{"", ""}, BadCase{"{", ""}, BadCase{"[]", ""}, BadCase{"null", ""},
        BadCase{std::string(100, '[') + std::string(100, ']'), ""},
        // Required fields.
        BadCase{R"({"max_tokens":5,)" U "}", "model"},
        BadCase{R"({"model":5,"max_tokens":5,)" U "}", "model"},
        BadCase{R"({"model":"","max_tokens":5,)" U "}", "model"},
        BadCase{R"({"model":null,"max_tokens":5,)" U "}", "model"},
        BadCase{R"({"model":"m",)" U "}", "max_tokens"},
        BadCase{R"({"model":"m","max_tokens":0,)" U "}", "max_tokens"},
        BadCase{R"({"model":"m","max_tokens":-3,)" U "}", "max_tokens"},
        BadCase{R"({"model":"m","max_tokens":1.5,)" U "}", "max_tokens"},
        BadCase{R"({"model":"m","max_tokens":"9",)" U "}", "max_tokens"},
        BadCase{R"({"model":"m","max_tokens":null,)" U "}", "max_tokens"},
        BadCase{"{" B "}", "messages"}, BadCase{"{" B R"(,"messages":[]})", "messages"},
        BadCase{"{" B R"(,"messages":{}})", "messages"},
        BadCase{"{" B R"(,"messages":null})", "messages"},
        // Messages.
        BadCase{"{" B R"(,"messages":[5]})", "messages[0]"},
        BadCase{"{" B R"(,"messages":[{"content":"x"}]})", "messages[0].role"},
        BadCase{"{" B R"(,"messages":[)" MSG("system", R"("x")") "]}", "messages[0].role"},
        BadCase{"{" B R"(,"messages":[)" MSG("tool", R"("x")") "]}", "messages[0].role"},
        BadCase{"{" B R"(,"messages":[{"role":3,"content":"x"}]})", "messages[0].role"},
        BadCase{"{" B R"(,"messages":[{"role":"user"}]})", "messages[0].content"},
        BadCase{"{" B R"(,"messages":[)" MSG("user", "7") "]}", "messages[0].content"},
        BadCase{"{" B R"(,"messages":[)" MSG("user", "null") "]}", "messages[0].content"},
        BadCase{"{" B R"(,"messages":[)" MSG("user", R"("")") "]}", "messages[0].content"},
        BadCase{"{" B R"(,"messages":[)" MSG("user", "[]") "]}", "messages[0].content"},
        BadCase{"{" B R"(,"messages":[)" MSG("assistant", R"("")") "," MSG("user", R"("x")") "]}",
                "messages[0].content"},
        BadCase{"{" B R"(,"messages":[)" MSG("user", "[5]") "]}", "messages[0].content[0]"},
        BadCase{"{" B R"(,"messages":[)" MSG("user", R"([{"text":"x"}])") "]}",
                "messages[0].content[0].type"},
        BadCase{"{" B R"(,"messages":[)" MSG("user", R"([{"type":"text"}])") "]}",
                "messages[0].content[0].text"},
        BadCase{"{" B R"(,"messages":[)" MSG("user", R"([{"type":"text","text":""}])") "]}",
                "messages[0].content[0].text"},
        BadCase{"{" B R"(,"messages":[)" MSG("user", R"([{"type":"text","text":5}])") "]}",
                "messages[0].content[0].text"},
        BadCase{"{" B
                R"(,"messages":[)" MSG("user",
                                       R"([{"type":"text","text":"x","cache_control":5}])") "]}",
                "messages[0].content[0].cache_control"},
        BadCase{"{" B R"(,"messages":[)" MSG("user", R"([{"type":"image","source":{}}])") "]}",
                "messages[0].content[0].type"},
        BadCase{"{" B R"(,"messages":[)" MSG("user", R"([{"type":"document","source":{}}])") "]}",
                "messages[0].content[0].type"},
        BadCase{"{" B R"(,"messages":[)" MSG("user", R"([{"type":"video"}])") "]}",
                "messages[0].content[0].type"},
        BadCase{"{" B
                R"(,"messages":[)" MSG("assistant", R"([{"type":"thinking","thinking":"x"}])") "]}",
                "messages[0].content[0].signature"},
        BadCase{"{" B R"(,"messages":[)" MSG("assistant", R"([{"type":"redacted_thinking"}])") "]}",
                "messages[0].content[0].data"},
        // tool_use / tool_result blocks.
        BadCase{"{" B R"(,"messages":[)" MSG(
                    "user", R"([{"type":"tool_use","id":"a","name":"t1","input":{}}])") "]}",
                "messages[0].content[0].type"},
        BadCase{"{" B R"(,"messages":[)" MSG("assistant",
                                             R"([{"type":"tool_result","tool_use_id":"a"}])") "]}",
                "messages[0].content[0].type"},
        BadCase{"{" B
                R"(,"messages":[)" MSG("assistant",
                                       R"([{"type":"tool_use","name":"t1","input":{}}])") "]}",
                "messages[0].content[0].id"},
        BadCase{"{" B R"(,"messages":[)" MSG(
                    "assistant", R"([{"type":"tool_use","id":"","name":"t1","input":{}}])") "]}",
                "messages[0].content[0].id"},
        BadCase{"{" B R"(,"messages":[)" MSG("assistant",
                                             R"([{"type":"tool_use","id":"a","input":{}}])") "]}",
                "messages[0].content[0].name"},
        BadCase{"{" B R"(,"messages":[)" MSG("assistant",
                                             R"([{"type":"tool_use","id":"a","name":"t1"}])") "]}",
                "messages[0].content[0].input"},
        BadCase{"{" B R"(,"messages":[)" MSG(
                    "assistant", R"([{"type":"tool_use","id":"a","name":"t1","input":"{}"}])") "]}",
                "messages[0].content[0].input"},
        BadCase{"{" B R"(,"messages":[)" ASSIST_USE
                "," MSG("user", R"([{"type":"tool_result"}])") "]}",
                "messages[1].content[0].tool_use_id"},
        BadCase{
            "{" B R"(,"messages":[)" ASSIST_USE
            "," MSG("user", R"([{"type":"tool_result","tool_use_id":"toolu_1","content":5}])") "]}",
            "messages[1].content[0].content"},
        BadCase{"{" B R"(,"messages":[)" ASSIST_USE
                "," MSG("user", R"([{"type":"tool_result","tool_use_id":"toolu_1",
                                     "content":[{"type":"image","source":{}}]}])") "]}",
                "messages[1].content[0].content[0].type"},
        BadCase{"{" B R"(,"messages":[)" ASSIST_USE
                "," MSG("user",
                        R"([{"type":"tool_result","tool_use_id":"toolu_1","is_error":"y"}])") "]}",
                "messages[1].content[0].is_error"},
        // Pairing: every tool_use answered in the next message, results first, no strangers.
        BadCase{"{" B R"(,"messages":[)" ASSIST_USE "," MSG("user", R"("no result")") "]}",
                "messages[0].content[0].id"},
        BadCase{"{" B R"(,"messages":[)" ASSIST_USE
                "," MSG("user", R"([{"type":"text","text":"first"},
                                    {"type":"tool_result","tool_use_id":"toolu_1"}])") "]}",
                "messages[1].content[1]"},
        BadCase{"{" B R"(,"messages":[)" ASSIST_USE
                "," MSG("user", R"([{"type":"tool_result","tool_use_id":"toolu_1"},
                                    {"type":"tool_result","tool_use_id":"toolu_2"}])") "]}",
                "messages[1].content[1].tool_use_id"},
        BadCase{"{" B
                R"(,"messages":[)" MSG("user",
                                       R"([{"type":"tool_result","tool_use_id":"toolu_1"}])") "]}",
                "messages[0].content[0].tool_use_id"},
        BadCase{"{" B R"(,"messages":[)" ASSIST_USE
                "," MSG("user", R"([{"type":"tool_result","tool_use_id":"toolu_1"},
                                    {"type":"tool_result","tool_use_id":"toolu_1"}])") "]}",
                "messages[1].content[1].tool_use_id"},
        BadCase{"{" B
                R"(,"messages":[)" MSG("assistant",
                                       R"([{"type":"tool_use","id":"a","name":"t1","input":{}},
                                         {"type":"tool_use","id":"a","name":"t1","input":{}}])") "]"
                                                                                                 "}",
                "messages[0].content[1].id"},
        // System.
        BadCase{"{" B "," U R"(,"system":5})", "system"},
        BadCase{"{" B "," U R"(,"system":[{"type":"image","source":{}}]})", "system[0].type"},
        BadCase{"{" B "," U R"(,"system":[{"type":"text","text":""}]})", "system[0].text"},
        BadCase{"{" B "," U R"(,"system":["plain"]})", "system[0]"},
        // Sampling and limits.
        BadCase{"{" B "," U R"(,"stop_sequences":"x"})", "stop_sequences"},
        BadCase{"{" B "," U R"(,"stop_sequences":["1","2","3","4","5","6","7","8","9","10","11",
                                                    "12","13","14","15","16","17"]})",
                "stop_sequences"},
        BadCase{"{" B "," U R"(,"stop_sequences":[""]})", "stop_sequences[0]"},
        BadCase{"{" B "," U R"(,"stop_sequences":["a",5]})", "stop_sequences[1]"},
        BadCase{"{" B "," U ",\"stop_sequences\":[\"" + std::string(300, 'x') + "\"]}",
                "stop_sequences[0]"},
        BadCase{"{" B "," U R"(,"temperature":1.5})", "temperature"},
        BadCase{"{" B "," U R"(,"temperature":-0.1})", "temperature"},
        BadCase{"{" B "," U R"(,"temperature":"hot"})", "temperature"},
        BadCase{"{" B "," U R"(,"top_p":1.01})", "top_p"},
        BadCase{"{" B "," U R"(,"top_k":-1})", "top_k"},
        BadCase{"{" B "," U R"(,"top_k":2.5})", "top_k"},
        BadCase{"{" B "," U R"(,"stream":"yes"})", "stream"},
        BadCase{"{" B "," U R"(,"metadata":5})", "metadata"},
        BadCase{"{" B "," U R"(,"metadata":{"user_id":5}})", "metadata.user_id"},
        BadCase{"{" B "," U ",\"metadata\":{\"user_id\":\"" + std::string(257, 'u') + "\"}}",
                "metadata.user_id"},
        BadCase{"{" B "," U R"(,"service_tier":"priority"})", "service_tier"},
        BadCase{"{" B "," U R"(,"container":5})", "container"},
        BadCase{"{" B "," U R"(,"mcp_servers":5})", "mcp_servers"},
        BadCase{"{" B "," U R"(,"mcp_servers":[{"type":"url","url":"https://x","name":"x"}]})",
                "mcp_servers"},
        // Tools.
        BadCase{"{" B "," U R"(,"tools":{}})", "tools"},
        BadCase{"{" B "," U R"(,"tools":[5]})", "tools[0]"},
        BadCase{"{" B "," U R"(,"tools":[{"input_schema":{"type":"object"}}]})", "tools[0].name"},
        BadCase{"{" B "," U R"(,"tools":[{"name":"a b","input_schema":{"type":"object"}}]})",
                "tools[0].name"},
        BadCase{"{" B "," U R"(,"tools":[{"name":"","input_schema":{"type":"object"}}]})",
                "tools[0].name"},
        BadCase{"{" B "," U R"(,"tools":[{"name":"t"}]})", "tools[0].input_schema"},
        BadCase{"{" B "," U R"(,"tools":[{"name":"t","input_schema":"{}"}]})",
                "tools[0].input_schema"},
        BadCase{"{" B "," U R"(,"tools":[{"name":"t","input_schema":{"type":"array"}}]})",
                "tools[0].input_schema.type"},
        BadCase{"{" B "," U R"(,"tools":[{"name":"t","input_schema":{}}]})",
                "tools[0].input_schema.type"},
        BadCase{"{" B "," U
                R"(,"tools":[{"name":"t","description":5,"input_schema":{"type":"object"}}]})",
                "tools[0].description"},
        BadCase{"{" B "," U
                R"(,"tools":[{"name":"t","strict":"y","input_schema":{"type":"object"}}]})",
                "tools[0].strict"},
        BadCase{"{" B "," U R"(,"tools":[{"type":"web_search_20250305","name":"web_search"}]})",
                "tools[0].type"},
        BadCase{"{" B "," U R"(,"tools":[{"type":"bash_20250124","name":"bash"}]})",
                "tools[0].type"},
        BadCase{"{" B "," U R"(,"tools":[{"name":"t","input_schema":{"type":"object"}},
                                      {"name":"t","input_schema":{"type":"object"}}]})",
                "tools[1].name"},
        // tool_choice.
        BadCase{"{" B "," U "," TOOL R"(,"tool_choice":"auto"})", "tool_choice"},
        BadCase{"{" B "," U "," TOOL R"(,"tool_choice":{}})", "tool_choice.type"},
        BadCase{"{" B "," U "," TOOL R"(,"tool_choice":{"type":"required"}})", "tool_choice.type"},
        BadCase{"{" B "," U "," TOOL R"(,"tool_choice":{"type":"tool"}})", "tool_choice.name"},
        BadCase{"{" B "," U "," TOOL R"(,"tool_choice":{"type":"tool","name":"nope"}})",
                "tool_choice.name"},
        BadCase{"{" B "," U "," TOOL
                R"(,"tool_choice":{"type":"any","disable_parallel_tool_use":1}})",
                "tool_choice.disable_parallel_tool_use"},
        BadCase{"{" B "," U R"(,"tool_choice":{"type":"any"}})", "tool_choice"},
        BadCase{"{" B "," U R"(,"tool_choice":{"type":"tool","name":"t1"}})", "tool_choice.name"},
        // thinking.
        BadCase{"{" B "," U R"(,"thinking":5})", "thinking"},
        BadCase{"{" B "," U R"(,"thinking":{}})", "thinking.type"},
        BadCase{"{" B "," U R"(,"thinking":{"type":"on"}})", "thinking.type"},
        BadCase{"{" B "," U R"(,"thinking":{"type":"enabled"}})", "thinking.budget_tokens"},
        BadCase{R"({"model":"m","max_tokens":5000,)" U
                R"(,"thinking":{"type":"enabled","budget_tokens":1023}})",
                "thinking.budget_tokens"},
        BadCase{R"({"model":"m","max_tokens":2048,)" U
                R"(,"thinking":{"type":"enabled","budget_tokens":2048}})",
                "thinking.budget_tokens"},
        BadCase{R"({"model":"m","max_tokens":5000,)" U
                R"(,"thinking":{"type":"enabled","budget_tokens":"2000"}})",
                "thinking.budget_tokens"}));

// ---- error bodies ----

TEST(AnthropicError, TypeFollowsTheStatus) {
  const std::vector<std::pair<int, std::string>> cases = {{400, "invalid_request_error"},
                                                          {401, "authentication_error"},
                                                          {403, "permission_error"},
                                                          {404, "not_found_error"},
                                                          {413, "request_too_large"},
                                                          {422, "invalid_request_error"},
                                                          {429, "rate_limit_error"},
                                                          {500, "api_error"},
                                                          {502, "api_error"},
                                                          {503, "overloaded_error"},
                                                          {529, "overloaded_error"}};
  for (const auto& [status, type] : cases) {
    ApiError e;
    e.status = status;
    e.message = "something \"quoted\"";
    e.type = "openai_type_ignored";
    const json body = json::parse(anthropic_error_body(e));
    EXPECT_EQ(body, (json{{"type", "error"},
                          {"error", {{"type", type}, {"message", "something \"quoted\""}}}}))
        << status;
  }
}

// ---- ids and stop reasons ----

TEST(AnthropicIds, ToolIdsConvertBothWays) {
  EXPECT_EQ(anthropic_tool_use_id("call_ABCDEFGHIJKLMNOPQRSTUVWX"),
            "toolu_ABCDEFGHIJKLMNOPQRSTUVWX");
  EXPECT_EQ(openai_tool_call_id("toolu_ABCDEFGHIJKLMNOPQRSTUVWX"), "call_ABCDEFGHIJKLMNOPQRSTUVWX");
  EXPECT_EQ(anthropic_tool_use_id("abc123XYZ"), "toolu_abc123XYZ");  // Mistral's 9 characters
  EXPECT_EQ(openai_tool_call_id("toolu_abc123XYZ"), "abc123XYZ");
  EXPECT_EQ(anthropic_tool_use_id("toolu_keep"), "toolu_keep");
  EXPECT_EQ(anthropic_tool_use_id(""), "");
  EXPECT_EQ(openai_tool_call_id("custom-7"), "custom-7");
  EXPECT_EQ(openai_tool_call_id("toolu_"), "toolu_");
}

TEST(AnthropicIds, StopReasons) {
  EXPECT_STREQ(anthropic_stop_reason("stop"), "end_turn");
  EXPECT_STREQ(anthropic_stop_reason("length"), "max_tokens");
  EXPECT_STREQ(anthropic_stop_reason("tool_calls"), "tool_use");
  EXPECT_STREQ(anthropic_stop_reason("content_filter"), "refusal");
}

// ---- the non-streaming body ----

TEST(AnthropicBody, FullMessageShape) {
  AnthropicResult r;
  r.id = "msg_01";
  r.model = "m";
  r.thinking = "Think first.";
  r.text = "Calling tools.";
  r.tool_calls = {{"call_ABCDEFGHIJKLMNOPQRSTUVWX", "get_weather", R"({"city":"Paris"})"},
                  {"call_BBCDEFGHIJKLMNOPQRSTUVWX", "get_time", "not json"}};
  r.stop_reason = "tool_use";
  r.input_tokens = 12;
  r.output_tokens = 34;
  r.extra = {{"provenance", {{"sig", "abc"}}}};
  const std::string text = anthropic_message_body(r);
  const json body = json::parse(text);
  const json expected = json::parse(R"({
    "id":"msg_01","type":"message","role":"assistant","model":"m",
    "content":[
      {"type":"thinking","thinking":"Think first.","signature":""},
      {"type":"text","text":"Calling tools."},
      {"type":"tool_use","id":"toolu_ABCDEFGHIJKLMNOPQRSTUVWX","name":"get_weather","input":{"city":"Paris"}},
      {"type":"tool_use","id":"toolu_BBCDEFGHIJKLMNOPQRSTUVWX","name":"get_time","input":{}}],
    "stop_reason":"tool_use","stop_sequence":null,
    "usage":{"input_tokens":12,"output_tokens":34},
    "provenance":{"sig":"abc"}})");
  EXPECT_EQ(body, expected);
  EXPECT_EQ(text.rfind(R"({"id":"msg_01","type":"message","role":"assistant")", 0), 0u) << text;
}

TEST(AnthropicBody, TextOnlyWithStopSequence) {
  AnthropicResult r;
  r.id = "msg_2";
  r.model = "m";
  r.text = "Hello \xff";  // invalid UTF-8 is replaced, never thrown
  r.stop_reason = "stop_sequence";
  r.stop_sequence = "END";
  r.extra = "not an object";  // ignored
  const json body = json::parse(anthropic_message_body(r));
  ASSERT_EQ(body["content"].size(), 1u);
  EXPECT_EQ(body["content"][0]["type"], "text");
  EXPECT_EQ(body["content"][0]["text"], "Hello \xef\xbf\xbd");
  EXPECT_EQ(body["stop_reason"], "stop_sequence");
  EXPECT_EQ(body["stop_sequence"], "END");
  EXPECT_EQ(body["usage"], (json{{"input_tokens", 0}, {"output_tokens", 0}}));
  EXPECT_EQ(body.size(), 8u);
}

TEST(AnthropicBody, EmptyReplyHasNoBlocks) {
  AnthropicResult r;
  r.id = "msg_3";
  r.model = "m";
  r.stop_reason = "max_tokens";
  const json body = json::parse(anthropic_message_body(r));
  EXPECT_EQ(body["content"], json::array());
  EXPECT_EQ(body["stop_reason"], "max_tokens");
}

// ---- streaming ----

struct Event {
  std::string name;
  json data;
};

// Splits an SSE byte stream into its events; each is "event: NAME\ndata: JSON\n\n" and the
// data's "type" equals NAME.
std::vector<Event> parse_sse(const std::string& s) {
  std::vector<Event> out;
  size_t pos = 0;
  while (pos < s.size()) {
    const size_t end = s.find("\n\n", pos);
    if (end == std::string::npos) {
      ADD_FAILURE() << "unterminated event: " << s.substr(pos);
      break;
    }
    const std::string ev = s.substr(pos, end - pos);
    pos = end + 2;
    const size_t nl = ev.find('\n');
    EXPECT_EQ(ev.rfind("event: ", 0), 0u) << ev;
    EXPECT_NE(nl, std::string::npos) << ev;
    if (nl == std::string::npos) break;
    Event e;
    e.name = ev.substr(7, nl - 7);
    const std::string data = ev.substr(nl + 1);
    EXPECT_EQ(data.rfind("data: ", 0), 0u) << ev;
    EXPECT_EQ(data.find('\n'), std::string::npos) << ev;
    e.data = json::parse(data.substr(6));
    EXPECT_EQ(e.data["type"], e.name);
    out.push_back(std::move(e));
  }
  return out;
}

// "name" or "name#index" per event, for comparing sequences.
std::vector<std::string> names(const std::vector<Event>& events) {
  std::vector<std::string> out;
  for (const auto& e : events) {
    out.push_back(e.data.contains("index")
                      ? e.name + "#" + std::to_string(e.data["index"].get<int>())
                      : e.name);
  }
  return out;
}

// Rebuilds the content array from the events as a client does; checks the block discipline (a
// start opens the next index, deltas and the stop go to the open block).
json accumulate(const std::vector<Event>& events) {
  json content = json::array();
  int open = -1;
  std::vector<std::string> partial;
  for (const auto& e : events) {
    if (e.name == "content_block_start") {
      EXPECT_EQ(open, -1) << "a block is still open";
      open = e.data["index"].get<int>();
      EXPECT_EQ(open, static_cast<int>(content.size()));
      content.push_back(e.data["content_block"]);
      partial.emplace_back();
    } else if (e.name == "content_block_delta") {
      EXPECT_EQ(e.data["index"].get<int>(), open);
      if (open < 0) continue;
      const json& d = e.data["delta"];
      json& block = content[static_cast<size_t>(open)];
      if (d["type"] == "text_delta") {
        EXPECT_EQ(block["type"], "text");
        block["text"] = block["text"].get<std::string>() + d["text"].get<std::string>();
      } else if (d["type"] == "thinking_delta") {
        EXPECT_EQ(block["type"], "thinking");
        block["thinking"] = block["thinking"].get<std::string>() + d["thinking"].get<std::string>();
      } else if (d["type"] == "input_json_delta") {
        EXPECT_EQ(block["type"], "tool_use");
        partial[static_cast<size_t>(open)] += d["partial_json"].get<std::string>();
      } else {
        ADD_FAILURE() << "unexpected delta " << d.dump();
      }
    } else if (e.name == "content_block_stop") {
      EXPECT_EQ(e.data["index"].get<int>(), open);
      if (open >= 0 && content[static_cast<size_t>(open)]["type"] == "tool_use") {
        const std::string& p = partial[static_cast<size_t>(open)];
        content[static_cast<size_t>(open)]["input"] = p.empty() ? json::object() : json::parse(p);
      }
      open = -1;
    }
  }
  EXPECT_EQ(open, -1) << "a block was never closed";
  return content;
}

StreamDelta text_delta(const std::string& s) {
  StreamDelta d;
  d.content = s;
  return d;
}

StreamDelta thinking_delta(const std::string& s) {
  StreamDelta d;
  d.reasoning_content = s;
  return d;
}

StreamDelta tool_header(int index, const std::string& id, const std::string& name) {
  StreamDelta d;
  d.tool_calls.push_back({index, id, name, ""});
  return d;
}

StreamDelta tool_args(int index, const std::string& args) {
  StreamDelta d;
  d.tool_calls.push_back({index, "", "", args});
  return d;
}

TEST(AnthropicStream, StartIsMessageStartThenPing) {
  AnthropicStreamWriter w;
  const auto events = parse_sse(w.start("msg_1", "m", 17));
  ASSERT_EQ(names(events), (std::vector<std::string>{"message_start", "ping"}));
  const json expected = json::parse(R"({"id":"msg_1","type":"message","role":"assistant",
      "model":"m","content":[],"stop_reason":null,"stop_sequence":null,
      "usage":{"input_tokens":17,"output_tokens":0}})");
  EXPECT_EQ(events[0].data["message"], expected);
}

TEST(AnthropicStream, TextOnly) {
  AnthropicStreamWriter w;
  std::string s = w.start("msg_1", "m", 5);
  s += w.feed(text_delta("Hel"));
  s += w.feed(StreamDelta{});  // nothing to send
  s += w.feed(text_delta("lo"));
  s += w.finish("end_turn", "", 2);
  EXPECT_EQ(w.feed(text_delta("late")), "");
  EXPECT_EQ(w.finish("end_turn", "", 2), "");
  const auto events = parse_sse(s);
  EXPECT_EQ(names(events),
            (std::vector<std::string>{"message_start", "ping", "content_block_start#0",
                                      "content_block_delta#0", "content_block_delta#0",
                                      "content_block_stop#0", "message_delta", "message_stop"}));
  EXPECT_EQ(events[2].data["content_block"], (json{{"type", "text"}, {"text", ""}}));
  EXPECT_EQ(events[3].data["delta"], (json{{"type", "text_delta"}, {"text", "Hel"}}));
  EXPECT_EQ(accumulate(events), json::parse(R"([{"type":"text","text":"Hello"}])"));
  const json md = events[6].data;
  EXPECT_EQ(md, json::parse(R"({"type":"message_delta",
      "delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":2}})"));
  EXPECT_EQ(events[7].data, (json{{"type", "message_stop"}}));
  EXPECT_EQ(w.blocks_opened(), 1);
}

TEST(AnthropicStream, ThinkingThenText) {
  AnthropicStreamWriter w;
  std::string s = w.start("msg_2", "m", 5);
  s += w.feed(thinking_delta("Let me "));
  s += w.feed(thinking_delta("think."));
  StreamDelta both;  // one parser step may end the reasoning and start the content
  both.reasoning_content = "..";
  both.content = "The answer";
  s += w.feed(both);
  s += w.feed(text_delta(" is 4."));
  s += w.finish("stop_sequence", "END", 9, json{{"provenance", {{"v", 1}}}});
  const auto events = parse_sse(s);
  EXPECT_EQ(names(events),
            (std::vector<std::string>{
                "message_start", "ping", "content_block_start#0", "content_block_delta#0",
                "content_block_delta#0", "content_block_delta#0", "content_block_stop#0",
                "content_block_start#1", "content_block_delta#1", "content_block_delta#1",
                "content_block_stop#1", "message_delta", "message_stop"}));
  EXPECT_EQ(events[2].data["content_block"],
            (json{{"type", "thinking"}, {"thinking", ""}, {"signature", ""}}));
  EXPECT_EQ(events[3].data["delta"], (json{{"type", "thinking_delta"}, {"thinking", "Let me "}}));
  EXPECT_EQ(accumulate(events), json::parse(R"([
      {"type":"thinking","thinking":"Let me think...","signature":""},
      {"type":"text","text":"The answer is 4."}])"));
  const json& md = events[11].data;
  EXPECT_EQ(md["delta"], (json{{"stop_reason", "stop_sequence"}, {"stop_sequence", "END"}}));
  EXPECT_EQ(md["usage"]["output_tokens"], 9);
  EXPECT_EQ(md["provenance"], (json{{"v", 1}}));
}

TEST(AnthropicStream, TextThenTwoToolCalls) {
  AnthropicStreamWriter w;
  std::string s = w.start("msg_3", "m", 5);
  s += w.feed(text_delta("Checking both."));
  s += w.feed(tool_header(0, "call_ABCDEFGHIJKLMNOPQRSTUVWX", "get_weather"));
  s += w.feed(tool_args(0, R"({"city":)"));
  s += w.feed(tool_args(0, R"("Paris"})"));
  StreamDelta second;  // header and arguments in one step
  second.tool_calls.push_back({1, "call_BBCDEFGHIJKLMNOPQRSTUVWX", "get_time", ""});
  second.tool_calls.push_back({1, "", "", R"({"tz":"CET"})"});
  s += w.feed(second);
  s += w.feed(tool_args(0, R"({"stale":1})"));  // a closed call's text is dropped
  s += w.finish("tool_use", "", 30);
  const auto events = parse_sse(s);
  EXPECT_EQ(names(events),
            (std::vector<std::string>{
                "message_start", "ping", "content_block_start#0", "content_block_delta#0",
                "content_block_stop#0", "content_block_start#1", "content_block_delta#1",
                "content_block_delta#1", "content_block_stop#1", "content_block_start#2",
                "content_block_delta#2", "content_block_stop#2", "message_delta", "message_stop"}));
  EXPECT_EQ(events[5].data["content_block"], json::parse(R"({"type":"tool_use",
      "id":"toolu_ABCDEFGHIJKLMNOPQRSTUVWX","name":"get_weather","input":{}})"));
  EXPECT_EQ(events[6].data["delta"],
            (json{{"type", "input_json_delta"}, {"partial_json", R"({"city":)"}}));
  EXPECT_EQ(accumulate(events), json::parse(R"([
      {"type":"text","text":"Checking both."},
      {"type":"tool_use","id":"toolu_ABCDEFGHIJKLMNOPQRSTUVWX","name":"get_weather",
       "input":{"city":"Paris"}},
      {"type":"tool_use","id":"toolu_BBCDEFGHIJKLMNOPQRSTUVWX","name":"get_time",
       "input":{"tz":"CET"}}])"));
  EXPECT_EQ(events[12].data["delta"]["stop_reason"], "tool_use");
  EXPECT_EQ(w.blocks_opened(), 3);
}

TEST(AnthropicStream, EmptyReplyAndErrorEvent) {
  AnthropicStreamWriter w;
  std::string s = w.start("msg_4", "m", 5);
  s += w.finish("max_tokens", "", 0);
  EXPECT_EQ(names(parse_sse(s)),
            (std::vector<std::string>{"message_start", "ping", "message_delta", "message_stop"}));
  ApiError e;
  e.status = 503;
  e.message = "the server is shutting down";
  const auto events = parse_sse(AnthropicStreamWriter::error_event(e));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].name, "error");
  EXPECT_EQ(events[0].data, json::parse(R"({"type":"error","error":{"type":"overloaded_error",
      "message":"the server is shutting down"}})"));
}

}  // namespace
}  // namespace dari::server
