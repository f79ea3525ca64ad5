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
        BadCase{C, R"({"model":"m","messages":[{"role":"tool","content":"x"}]})", 400,
                "messages[0].role"},
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
        BadCase{C, R"({"model":"m","messages":[{"role":"user","content":"x","name":"bob"}]})", 400,
                "messages[0].name"},
        BadCase{C, R"({"model":"m","messages":[{"role":"user","content":"x","zzz":1}]})", 400,
                "messages[0].zzz"},
        BadCase{C, "{" M R"(,"tools":[]})", 400, "tools"},
        BadCase{C, "{" M R"(,"tool_choice":"auto"})", 400, "tool_choice"},
        BadCase{C, "{" M R"(,"response_format":{"type":"json_object"}})", 400, "response_format"},
        BadCase{C, "{" M R"(,"functions":[]})", 400, "functions"},
        BadCase{C, "{" M R"(,"frobnicate":1})", 400, "frobnicate"},
        BadCase{C, "{" M R"(,"prompt":"x"})", 400, "prompt"},
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
        BadCase{C, "{" M R"(,"stream":true,"stream_options":{"x":true}})", 400, "stream_options.x"},
        BadCase{C, "{" M R"(,"stream":true,"stream_options":[]})", 400, "stream_options"},
        BadCase{P, R"({"model":"m"})", 400, "prompt"},
        BadCase{P, R"({"model":"m","prompt":5})", 400, "prompt"},
        BadCase{P, R"({"model":"m","prompt":[]})", 400, "prompt"},
        BadCase{P, R"({"model":"m","prompt":[1,-2]})", 400, "prompt[1]"},
        BadCase{P, R"({"model":"m","prompt":[1,"a"]})", 400, "prompt[1]"},
        BadCase{P, R"({"model":"m","prompt":[[1],[]]})", 400, "prompt[1]"},
        BadCase{P, R"({"model":"m","prompt":["a",{}]})", 400, "prompt[1]"},
        BadCase{P, R"({"model":"m","prompt":[[1,2.5]]})", 400, "prompt[0][1]"},
        BadCase{P, "{" Q R"(,"messages":[]})", 400, "messages"},
        BadCase{P, "{" Q R"(,"logprobs":true})", 400, "logprobs"},
        BadCase{P, "{" Q R"(,"logprobs":6})", 400, "logprobs"},
        BadCase{P, "{" Q R"(,"logprobs":-1})", 400, "logprobs"},
        BadCase{P, "{" Q R"(,"top_logprobs":2})", 400, "top_logprobs"},
        BadCase{P, "{" Q R"(,"echo":true})", 400, "echo"},
        BadCase{P, "{" Q R"(,"suffix":"x"})", 400, "suffix"},
        BadCase{P, "{" Q R"(,"best_of":2})", 400, "best_of"},
        BadCase{P, "{" Q R"(,"max_completion_tokens":5})", 400, "max_completion_tokens"},
        BadCase{P, R"({"model":"m","prompt":["a","b","c","d","e"],"n":16})", 400, "n"}));

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
