// Request parsing/validation: every bad input gets its status, param and a message.
#include <gtest/gtest.h>

#include "dari/server/api.h"

namespace dari::server {
namespace {

struct BadCase {
  Endpoint ep;
  const char* body;
  int status;
  const char* param;
};

class BadRequest : public ::testing::TestWithParam<BadCase> {};

TEST_P(BadRequest, IsRejectedWithParam) {
  const BadCase& c = GetParam();
  auto r = parse_request(c.ep, c.body);
  ASSERT_TRUE(std::holds_alternative<ApiError>(r)) << c.body;
  const ApiError& e = std::get<ApiError>(r);
  EXPECT_EQ(e.status, c.status) << c.body;
  EXPECT_EQ(e.param, c.param) << c.body << " -> " << e.message;
  EXPECT_FALSE(e.message.empty());
  EXPECT_EQ(e.type, "invalid_request_error");
}

constexpr Endpoint C = Endpoint::kChat;
constexpr Endpoint P = Endpoint::kCompletions;
#define M R"("model":"m","messages":[{"role":"user","content":"hi"}])"
#define Q R"("model":"m","prompt":"hi")"

INSTANTIATE_TEST_SUITE_P(
    Cases, BadRequest,
    ::testing::Values(
        BadCase{C, "", 400, ""}, BadCase{C, "{", 400, ""}, BadCase{C, "[]", 400, ""},
        BadCase{C, "null", 400, ""}, BadCase{C, R"({"model":"m"})", 400, "messages"},
        BadCase{C, R"({"messages":[{"role":"user","content":"x"}]})", 400, "model"},
        BadCase{C, R"({"model":5,"messages":[{"role":"user","content":"x"}]})", 400, "model"},
        BadCase{C, R"({"model":"m","messages":[]})", 400, "messages"},
        BadCase{C, R"({"model":"m","messages":{}})", 400, "messages"},
        BadCase{C, R"({"model":"m","messages":[5]})", 400, "messages[0]"},
        BadCase{C, R"({"model":"m","messages":[{"content":"x"}]})", 400, "messages[0].role"},
        BadCase{C, R"({"model":"m","messages":[{"role":"user"}]})", 400, "messages[0].content"},
        BadCase{C, R"({"model":"m","messages":[{"role":"wizard","content":"x"}]})", 400,
                "messages[0].role"},
        BadCase{C, R"({"model":"m","messages":[{"role":3,"content":"x"}]})", 400,
                "messages[0].role"},
        BadCase{C, R"({"model":"m","messages":[{"role":"user","content":7}]})", 400,
                "messages[0].content"},
        BadCase{C, R"({"model":"m","messages":[{"role":"user","content":null}]})", 400,
                "messages[0].content"},
        BadCase{
            C,
            R"({"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{}}]}]})",
            400, "messages[0].content[0].type"},
        BadCase{C, R"({"model":"m","messages":[{"role":"user","content":[{"type":"text"}]}]})", 400,
                "messages[0].content[0].text"},
        BadCase{C, R"({"model":"m","messages":[{"role":"wizard","content":"x"}]})", 400,
                "messages[0].role"},
        BadCase{C,
                R"({"model":"m","messages":[{"role":"user","content":"x","tool_calls":[{"function":{"name":"f"}}]}]})",
                400, "messages[0].tool_calls"},
        BadCase{C, R"({"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"a"}]}]})",
                400, "messages[0].tool_calls[0].function"},
        BadCase{C, R"({"model":"m","messages":[{"role":"assistant","content":null}]})", 400,
                "messages[0].content"},
        BadCase{C, "{" M R"(,"tools":{}})", 400, "tools"},
        BadCase{C, "{" M R"(,"tools":[{"type":"retrieval"}]})", 400, "tools[0].type"},
        BadCase{C, "{" M R"(,"tools":[{"type":"function","function":{"name":"a b"}}]})", 400,
                "tools[0].function.name"},
        BadCase{C, "{" M R"(,"tools":[{"type":"function","function":{"description":"x"}}]})", 400,
                "tools[0].function.name"},
        BadCase{C, "{" M
                   R"(,"tools":[{"type":"function","function":{"name":"f","parameters":5}}]})",
                400, "tools[0].function.parameters"},
        BadCase{C, "{" M
                   R"(,"tools":[{"type":"function","function":{"name":"f"}},{"type":"function","function":{"name":"f"}}]})",
                400, "tools[1].function.name"},
        BadCase{C, "{" M R"(,"tool_choice":"required"})", 400, "tool_choice"},
        BadCase{C, "{" M R"(,"tool_choice":"sometimes"})", 400, "tool_choice"},
        BadCase{C, "{" M
                   R"(,"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":{"type":"function","function":{"name":"g"}}})",
                400, "tool_choice"},
        BadCase{C, "{" M R"(,"response_format":{"type":"yaml"}})", 400, "response_format.type"},
        BadCase{C, "{" M R"(,"response_format":{"type":"json_schema"}})", 400,
                "response_format.json_schema"},
        BadCase{C, "{" M R"(,"response_format":{"type":"json_schema","json_schema":{"schema":{}}}})",
                400, "response_format.json_schema.name"},
        BadCase{C, "{" M R"(,"response_format":{"type":"json_object"},"grammar":"root ::= \"a\""})",
                400, "grammar"},
        BadCase{C, "{" M
                   R"(,"tools":[{"type":"function","function":{"name":"f"}}],"response_format":{"type":"json_object"}})",
                400, "response_format"},
        BadCase{C, "{" M R"(,"chat_template_kwargs":{"messages":1}})", 400,
                "chat_template_kwargs.messages"},
        BadCase{C, "{" M R"(,"chat_template_kwargs":[]})", 400, "chat_template_kwargs"},
        BadCase{C, "{" M R"(,"top_k":-2})", 400, "top_k"},
        BadCase{C, "{" M R"(,"min_p":1.5})", 400, "min_p"},
        BadCase{C, "{" M R"(,"typical_p":0})", 400, "typical_p"},
        BadCase{C, "{" M R"(,"repetition_penalty":0})", 400, "repetition_penalty"},
        BadCase{C, "{" M R"(,"grammar":7})", 400, "grammar"},
        BadCase{C, "{" M R"(,"modalities":["text","audio"]})", 400, "modalities"},
        BadCase{C, "{" M R"(,"audio":{"voice":"alloy","format":"mp3"}})", 400, "audio"},
        BadCase{C, "{" M R"(,"max_tokens":0})", 400, "max_tokens"},
        BadCase{C, "{" M R"(,"max_tokens":-5})", 400, "max_tokens"},
        BadCase{C, "{" M R"(,"max_tokens":1.5})", 400, "max_tokens"},
        BadCase{C, "{" M R"(,"max_tokens":"10"})", 400, "max_tokens"},
        BadCase{C, "{" M R"(,"max_tokens":99999999999})", 400, "max_tokens"},
        BadCase{C, "{" M R"(,"max_completion_tokens":-1})", 400, "max_completion_tokens"},
        BadCase{C, "{" M R"(,"temperature":-0.1})", 400, "temperature"},
        BadCase{C, "{" M R"(,"temperature":2.5})", 400, "temperature"},
        BadCase{C, "{" M R"(,"temperature":"hot"})", 400, "temperature"},
        BadCase{C, "{" M R"(,"top_p":0})", 400, "top_p"},
        BadCase{C, "{" M R"(,"top_p":1.01})", 400, "top_p"},
        BadCase{C, "{" M R"(,"presence_penalty":-3})", 400, "presence_penalty"},
        BadCase{C, "{" M R"(,"frequency_penalty":2.1})", 400, "frequency_penalty"},
        BadCase{C, "{" M R"(,"n":0})", 400, "n"}, BadCase{C, "{" M R"(,"n":-1})", 400, "n"},
        BadCase{C, "{" M R"(,"n":1000})", 400, "n"},
        BadCase{C, "{" M R"(,"seed":"x"})", 400, "seed"},
        BadCase{C, "{" M R"(,"seed":1e300})", 400, "seed"},
        BadCase{C, "{" M R"(,"stop":5})", 400, "stop"},
        BadCase{C, "{" M R"(,"stop":[""]})", 400, "stop[0]"},
        BadCase{C, "{" M R"(,"stop":["a","b","c","d","e"]})", 400, "stop"},
        BadCase{C, "{" M R"(,"stop":["a",1]})", 400, "stop[1]"},
        BadCase{C, "{" M R"(,"logit_bias":[]})", 400, "logit_bias"},
        BadCase{C, "{" M R"(,"logit_bias":{"-1":5}})", 400, "logit_bias"},
        BadCase{C, "{" M R"(,"logit_bias":{"abc":5}})", 400, "logit_bias"},
        BadCase{C, "{" M R"(,"logit_bias":{"99999999999":5}})", 400, "logit_bias"},
        BadCase{C, "{" M R"(,"logit_bias":{"5":101}})", 400, "logit_bias.5"},
        BadCase{C, "{" M R"(,"logit_bias":{"5":"x"}})", 400, "logit_bias.5"},
        BadCase{C, "{" M R"(,"logprobs":1})", 400, "logprobs"},
        BadCase{C, "{" M R"(,"top_logprobs":3})", 400, "top_logprobs"},
        BadCase{C, "{" M R"(,"logprobs":true,"top_logprobs":21})", 400, "top_logprobs"},
        BadCase{C, "{" M R"(,"logprobs":true,"top_logprobs":-1})", 400, "top_logprobs"},
        BadCase{C, "{" M R"(,"user":5})", 400, "user"},
        BadCase{C, "{" M R"(,"stream":"yes"})", 400, "stream"},
        BadCase{C, "{" M R"(,"stream_options":{"include_usage":true}})", 400, "stream_options"},
        BadCase{C, "{" M R"(,"stream":true,"stream_options":{"include_usage":1}})", 400,
                "stream_options.include_usage"},
        BadCase{C, "{" M R"(,"stream":true,"stream_options":[]})", 400, "stream_options"},
        BadCase{P, R"({"model":"m"})", 400, "prompt"},
        BadCase{P, R"({"model":"m","prompt":5})", 400, "prompt"},
        BadCase{P, R"({"model":"m","prompt":[]})", 400, "prompt"},
        BadCase{P, R"({"model":"m","prompt":[1,-2]})", 400, "prompt[1]"},
        BadCase{P, R"({"model":"m","prompt":[1,"a"]})", 400, "prompt[1]"},
        BadCase{P, R"({"model":"m","prompt":[[1],[]]})", 400, "prompt[1]"},
        BadCase{P, R"({"model":"m","prompt":["a",{}]})", 400, "prompt[1]"},
        BadCase{P, R"({"model":"m","prompt":[[1,2.5]]})", 400, "prompt[0][1]"},
        BadCase{P, "{" Q R"(,"logprobs":true})", 400, "logprobs"},
        BadCase{P, "{" Q R"(,"logprobs":6})", 400, "logprobs"},
        BadCase{P, "{" Q R"(,"logprobs":-1})", 400, "logprobs"},
        BadCase{P, "{" Q R"(,"suffix":"x"})", 400, "suffix"},
        BadCase{P, "{" Q R"(,"best_of":2})", 400, "best_of"},
        BadCase{P, "{" Q R"(,"n":2,"best_of":1})", 400, "best_of"},
        BadCase{P, "{" Q R"(,"echo":true,"logprobs":1})", 400, "echo"},
        BadCase{P, R"({"model":"m","prompt":["a","b","c","d","e"],"n":16})", 400, "n"}));

// Unknown fields are ignored and listed by default; strict mode rejects them by name.
TEST(ApiParse, UnknownFieldsAreIgnoredUnlessStrict) {
  const std::string body =
      "{" M R"(,"frobnicate":1,"x-trace":"a","stream":true,"stream_options":{"zz":true}})";
  auto r = parse_request(Endpoint::kChat, body);
  ASSERT_TRUE(std::holds_alternative<ApiRequest>(r)) << std::get<ApiError>(r).message;
  EXPECT_EQ(std::get<ApiRequest>(r).ignored_fields,
            (std::vector<std::string>{"frobnicate", "x-trace"}));
  ApiLimits strict;
  strict.strict = true;
  auto s = parse_request(Endpoint::kChat, body, strict);
  ASSERT_TRUE(std::holds_alternative<ApiError>(s));
  EXPECT_EQ(std::get<ApiError>(s).param, "frobnicate");
  EXPECT_EQ(std::get<ApiError>(s).code, "unknown_field");
  auto m = parse_request(
      Endpoint::kChat,
      R"({"model":"m","messages":[{"role":"user","content":"x","zzz":1}]})", strict);
  ASSERT_TRUE(std::holds_alternative<ApiError>(m));
  EXPECT_EQ(std::get<ApiError>(m).param, "messages[0].zzz");
  // Known OpenAI fields that change nothing are accepted even in strict mode.
  auto k = parse_request(Endpoint::kChat,
                         "{" M R"(,"store":true,"metadata":{"a":"b"},"service_tier":"auto",
                         "reasoning_effort":"low","user":"u","parallel_tool_calls":false})",
                         strict);
  EXPECT_TRUE(std::holds_alternative<ApiRequest>(k)) << std::get<ApiError>(k).message;
}

// What LangChain, LlamaIndex and Open WebUI send: extensions become sampling settings.
TEST(ApiParse, SamplingExtensionsAreRead) {
  auto r = parse_request(Endpoint::kChat, "{" M R"(,"top_k":40,"min_p":0.05,"typical_p":0.9,
      "repetition_penalty":1.1,"repeat_last_n":32,"ignore_eos":true,"max_completion_tokens":7})");
  ASSERT_TRUE(std::holds_alternative<ApiRequest>(r)) << std::get<ApiError>(r).message;
  const ApiRequest& q = std::get<ApiRequest>(r);
  EXPECT_EQ(q.top_k, 40);
  EXPECT_FLOAT_EQ(q.min_p, 0.05f);
  EXPECT_FLOAT_EQ(q.typical_p, 0.9f);
  EXPECT_FLOAT_EQ(q.repetition_penalty, 1.1f);
  EXPECT_EQ(q.repeat_last_n, 32);
  EXPECT_TRUE(q.ignore_eos);
  EXPECT_EQ(q.max_tokens, 7);
  auto v = parse_request(Endpoint::kChat, "{" M R"(,"top_k":-1,"repeat_penalty":1.3})");
  ASSERT_TRUE(std::holds_alternative<ApiRequest>(v));
  EXPECT_EQ(std::get<ApiRequest>(v).top_k, 0);
  EXPECT_FLOAT_EQ(std::get<ApiRequest>(v).repetition_penalty, 1.3f);
}

TEST(ApiParse, ToolsAndToolMessagesAreParsed) {
  auto r = parse_request(Endpoint::kChat, R"({"model":"m","messages":[
      {"role":"user","content":"weather?"},
      {"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function",
        "function":{"name":"get_weather","arguments":"{\"city\":\"Seoul\"}"}}]},
      {"role":"tool","tool_call_id":"call_1","content":"12 C"}],
    "tools":[{"type":"function","function":{"name":"get_weather","description":"d",
      "parameters":{"type":"object","properties":{"city":{"type":"string"}}},"strict":true}}],
    "tool_choice":{"type":"function","function":{"name":"get_weather"}},
    "parallel_tool_calls":false})");
  ASSERT_TRUE(std::holds_alternative<ApiRequest>(r)) << std::get<ApiError>(r).message;
  const ApiRequest& q = std::get<ApiRequest>(r);
  ASSERT_EQ(q.messages.size(), 3u);
  EXPECT_TRUE(q.messages[1].content_null);
  ASSERT_EQ(q.messages[1].tool_calls.size(), 1u);
  EXPECT_EQ(q.messages[1].tool_calls[0].name, "get_weather");
  EXPECT_EQ(q.messages[1].tool_calls[0].arguments, R"({"city":"Seoul"})");
  EXPECT_EQ(q.messages[2].role, "tool");
  EXPECT_EQ(q.messages[2].tool_call_id, "call_1");
  ASSERT_EQ(q.tools.size(), 1u);
  EXPECT_TRUE(q.tools[0].strict);
  EXPECT_EQ(q.tools[0].parameters["type"], "object");
  EXPECT_EQ(q.tool_choice, ToolChoice::kNamed);
  EXPECT_EQ(q.tool_choice_name, "get_weather");
  EXPECT_FALSE(q.parallel_tool_calls);
  ASSERT_TRUE(q.tools_json.is_array());
  EXPECT_EQ(q.tools_json[0]["function"]["name"], "get_weather");
  // An empty list is refused, as OpenAI does, naming the field.
  auto e = parse_request(Endpoint::kChat, "{" M R"(,"tools":[],"tool_choice":"auto"})");
  ASSERT_TRUE(std::holds_alternative<ApiError>(e));
  EXPECT_EQ(std::get<ApiError>(e).param, "tools");
  EXPECT_EQ(std::get<ApiError>(e).status, 400);
  // No tools at all: the choice falls back to none.
  auto n = parse_request(Endpoint::kChat, "{" M R"(,"tool_choice":"auto"})");
  ASSERT_TRUE(std::holds_alternative<ApiRequest>(n)) << std::get<ApiError>(n).message;
  EXPECT_EQ(std::get<ApiRequest>(n).tool_choice, ToolChoice::kNone);
}

TEST(ApiParse, ResponseFormatsAndGrammarAreRead) {
  auto js = parse_request(Endpoint::kChat, "{" M R"(,"response_format":{"type":"json_schema",
      "json_schema":{"name":"p","strict":true,"schema":{"type":"object"}}}})");
  ASSERT_TRUE(std::holds_alternative<ApiRequest>(js)) << std::get<ApiError>(js).message;
  const OutputConstraint& o = std::get<ApiRequest>(js).output;
  EXPECT_EQ(o.kind, OutputConstraint::Kind::kJsonSchema);
  EXPECT_EQ(o.name, "p");
  EXPECT_TRUE(o.strict);
  EXPECT_EQ(o.schema["type"], "object");
  auto jo = parse_request(Endpoint::kChat, "{" M R"(,"response_format":{"type":"json_object"}})");
  EXPECT_EQ(std::get<ApiRequest>(jo).output.kind, OutputConstraint::Kind::kJsonObject);
  auto tx = parse_request(Endpoint::kChat, "{" M R"(,"response_format":{"type":"text"}})");
  EXPECT_EQ(std::get<ApiRequest>(tx).output.kind, OutputConstraint::Kind::kText);
  auto g = parse_request(Endpoint::kCompletions, "{" Q R"(,"grammar":"root ::= \"yes\""})");
  ASSERT_TRUE(std::holds_alternative<ApiRequest>(g));
  EXPECT_EQ(std::get<ApiRequest>(g).output.kind, OutputConstraint::Kind::kGrammar);
  EXPECT_EQ(std::get<ApiRequest>(g).output.grammar, "root ::= \"yes\"");
  // A schema over the size limit is refused before anything compiles it.
  ApiLimits small;
  small.max_schema_bytes = 64;
  auto big = parse_request(Endpoint::kChat,
                           "{" M R"(,"json_schema":{"type":"object","description":")" +
                               std::string(100, 'x') + R"("}})",
                           small);
  ASSERT_TRUE(std::holds_alternative<ApiError>(big));
  EXPECT_EQ(std::get<ApiError>(big).param, "json_schema");
}

TEST(ApiParse, ValidChatRequestIsParsed) {
  auto r = parse_request(Endpoint::kChat,
                         R"({"model":"m","messages":[{"role":"developer","content":"sys"},
          {"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}],
          "max_completion_tokens":7,"temperature":0,"top_p":0.5,"stop":"x","seed":-3,"n":2,
          "presence_penalty":-2,"frequency_penalty":2,"logit_bias":{"12":-100},
          "logprobs":true,"top_logprobs":3,"user":"u","stream":true,
          "stream_options":{"include_usage":true},"tools":null})");
  ASSERT_TRUE(std::holds_alternative<ApiRequest>(r)) << std::get<ApiError>(r).message;
  const ApiRequest& q = std::get<ApiRequest>(r);
  ASSERT_EQ(q.messages.size(), 2u);
  EXPECT_EQ(q.messages[0].role, "system");
  EXPECT_EQ(q.messages[1].content, "a\nb");
  EXPECT_EQ(q.max_tokens, 7);
  EXPECT_EQ(q.temperature, 0.0f);
  EXPECT_EQ(q.stop, std::vector<std::string>{"x"});
  EXPECT_EQ(q.seed, -3);
  EXPECT_EQ(q.n, 2u);
  EXPECT_EQ(q.logit_bias.at(12), -100.0f);
  EXPECT_EQ(q.logprobs, 3);
  EXPECT_TRUE(q.stream);
  EXPECT_TRUE(q.include_usage);
}

TEST(ApiParse, CompletionPromptForms) {
  for (const char* p : {R"("text")", R"(["a","b"])", R"([1,2,3])", R"([[1,2],[3]])"}) {
    std::string body = std::string(R"({"model":"m","logprobs":2,"prompt":)") + p + "}";
    auto r = parse_request(Endpoint::kCompletions, body);
    ASSERT_TRUE(std::holds_alternative<ApiRequest>(r)) << body;
    EXPECT_EQ(std::get<ApiRequest>(r).logprobs, 2);
  }
  auto r = parse_request(Endpoint::kCompletions, R"({"model":"m","prompt":[[1,2],[3]]})");
  ASSERT_EQ(std::get<ApiRequest>(r).prompts.size(), 2u);
  EXPECT_EQ(std::get<std::vector<int32_t>>(std::get<ApiRequest>(r).prompts[1]),
            std::vector<int32_t>{3});
}

TEST(ApiParse, DeepNestingIsRejectedWithoutRecursion) {
  std::string body =
      R"({"model":"m","messages":)" + std::string(100000, '[') + std::string(100000, ']') + "}";
  auto r = parse_request(Endpoint::kChat, body);
  ASSERT_TRUE(std::holds_alternative<ApiError>(r));
  EXPECT_EQ(std::get<ApiError>(r).status, 400);
}

TEST(ApiParse, LimitsAreConfigurable) {
  ApiLimits lim;
  lim.max_n = 2;
  auto r = parse_request(Endpoint::kChat, "{" M R"(,"n":3})", lim);
  ASSERT_TRUE(std::holds_alternative<ApiError>(r));
  EXPECT_EQ(std::get<ApiError>(r).param, "n");
}

}  // namespace
}  // namespace dari::server
