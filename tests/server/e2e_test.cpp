// HTTP end to end with the real ServingEngine and the default model (models/dari-tiny.gguf).
#include <gtest/gtest.h>

#include <thread>

#include "dari/server/server.h"
#include "http_client.h"

namespace dari::server::test {
namespace {

using nlohmann::json;

class E2E : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ServingOptions eo;
    eo.model_path = std::string(DARI_SOURCE_DIR) + "/models/dari-tiny.gguf";
    eo.n_ctx = 256;
    eo.max_running = 8;
    eo.n_threads = 2;
    auto e = ServingEngine::start(eo);
    ASSERT_TRUE(e.ok()) << e.message();
    engine_ = std::move(e).value().release();
    ServerOptions so;
    so.port = 0;
    so.model_name = "dari-tiny";
    auto s = Server::create(so);
    ASSERT_TRUE(s.ok()) << s.message();
    server_ = std::move(s).value().release();
    server_->set_engine(engine_);
    server_->start();
  }
  static void TearDownTestSuite() {
    if (server_ != nullptr) {
      server_->request_stop(false);
      server_->wait();
    }
    if (engine_ != nullptr) engine_->shutdown(false);
    delete server_;
    delete engine_;
  }
  void SetUp() override { ASSERT_NE(server_, nullptr); }
  static uint16_t port() { return server_->port(); }
  static json chat(bool stream) {
    json b = {{"model", "dari-tiny"},
              {"messages", {{{"role", "user"}, {"content", "And it came to pass"}}}},
              {"max_tokens", 12},
              {"temperature", 0}};
    if (stream) b["stream"] = true;
    return b;
  }
  static std::string stream_text(const std::vector<json>& evs, const char* field) {
    std::string t;
    for (const auto& e : evs) {
      if (e["choices"].empty()) continue;
      const json& c = e["choices"][0];
      if (std::string(field) == "delta") {
        if (c["delta"].contains("content")) t += c["delta"]["content"].get<std::string>();
      } else {
        t += c["text"].get<std::string>();
      }
    }
    return t;
  }

  static ServingEngine* engine_;
  static Server* server_;
};

ServingEngine* E2E::engine_ = nullptr;
Server* E2E::server_ = nullptr;

TEST_F(E2E, ChatStreamingMatchesNonStreaming) {
  HttpClient c(port());
  auto r = c.post("/v1/chat/completions", chat(false));
  ASSERT_EQ(r.status, 200) << r.body;
  const json j = r.json();
  const std::string text = j["choices"][0]["message"]["content"];
  EXPECT_FALSE(text.empty());
  EXPECT_GT(j["usage"]["prompt_tokens"].get<int>(), 0);
  EXPECT_LE(j["usage"]["completion_tokens"].get<int>(), 12);

  json b = chat(true);
  b["stream_options"] = {{"include_usage", true}};
  auto s = c.post("/v1/chat/completions", b);
  ASSERT_EQ(s.status, 200);
  bool done = false;
  auto evs = sse_events(s.body, &done);
  EXPECT_TRUE(done);
  EXPECT_EQ(stream_text(evs, "delta"), text);  // greedy: same tokens either way
  EXPECT_EQ(evs.back()["usage"]["completion_tokens"], j["usage"]["completion_tokens"]);
}

TEST_F(E2E, CompletionsGreedyIsDeterministic) {
  HttpClient c(port());
  json b = {{"model", "dari-tiny"},
            {"prompt", "And the king said"},
            {"max_tokens", 10},
            {"temperature", 0},
            {"logprobs", 2}};
  auto r1 = c.post("/v1/completions", b);
  auto r2 = c.post("/v1/completions", b);
  ASSERT_EQ(r1.status, 200) << r1.body;
  const json j1 = r1.json();
  const json j2 = r2.json();
  EXPECT_EQ(j1["choices"][0]["text"], j2["choices"][0]["text"]);
  EXPECT_EQ(j1["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(j1["usage"]["completion_tokens"], 10);
  EXPECT_EQ(j1["choices"][0]["logprobs"]["tokens"].size(), 10u);
  EXPECT_EQ(j1["choices"][0]["logprobs"]["top_logprobs"][0].size(), 2u);
}

TEST_F(E2E, PromptLongerThanContextIs400) {
  HttpClient c(port());
  std::string big;
  for (int i = 0; i < 400; ++i) big += "And it came to pass ";
  auto r = c.post("/v1/completions", {{"model", "dari-tiny"}, {"prompt", big}});
  ASSERT_EQ(r.status, 400);
  EXPECT_EQ(r.json()["error"]["code"], "context_length_exceeded");
}

TEST_F(E2E, EightParallelStreamsComplete) {
  std::atomic<int> ok{0};
  std::vector<std::thread> ts;
  for (int i = 0; i < 8; ++i) {
    ts.emplace_back([&, i] {
      HttpClient c(port());
      json b = {{"model", "dari-tiny"},
                {"prompt", "And it came to pass"},
                {"max_tokens", 16},
                {"stream", true},
                {"seed", i},
                {"stream_options", {{"include_usage", true}}}};
      auto r = c.post("/v1/completions", b);
      bool done = false;
      auto evs = sse_events(r.body, &done);
      if (r.status == 200 && done && !evs.empty() &&
          evs.back()["usage"]["completion_tokens"].get<int>() > 0) {
        ++ok;
      }
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(ok.load(), 8);
}

// One streaming request whose client goes away after the first text chunk.
void stream_then_disconnect(uint16_t port) {
  HttpClient c(port);
  json b = {{"model", "dari-tiny"}, {"prompt", "And"}, {"max_tokens", 240}, {"stream", true}};
  ASSERT_TRUE(c.start_post("/v1/completions", b.dump()));
  std::string got;
  ASSERT_TRUE(c.read_until(&got, "\"text\"")) << got;
}

TEST_F(E2E, DisconnectMidStreamFreesTheSequence) {
  // The engine may finish the whole request before the server sees the disconnect (the tiny
  // model is fast and a loaded machine can delay the I/O thread), so try a few times: at least
  // one attempt must be cancelled, and every attempt must leave nothing running or held.
  ServingStats s = engine_->stats();
  for (int attempt = 0; attempt < 5 && s.requests_cancelled == 0; ++attempt) {
    stream_then_disconnect(port());
    s = engine_->stats();
    for (int i = 0; i < 2000 && (s.running != 0 || s.kv_blocks_used != 0); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      s = engine_->stats();
    }
    EXPECT_EQ(s.running, 0u);
    EXPECT_EQ(s.kv_blocks_used, 0u);
  }
  EXPECT_GE(s.requests_cancelled, 1u);
  HttpClient c(port());
  const std::string m = c.get("/metrics").body;
  EXPECT_EQ(metric_value(m, "dari_kv_blocks_used"), 0);
  EXPECT_GT(metric_value(m, "dari_kv_blocks_total"), 0);
  EXPECT_GE(metric_value(m, "dari_requests_cancelled_total"), 1);
}

}  // namespace
}  // namespace dari::server::test

namespace dari::server::test {
namespace {

// Structured output through HTTP with the real engine: every answer parses as JSON of the
// requested shape (the grammar engine constrains each token), streamed or not, with n > 1.
TEST_F(E2E, JsonSchemaAnswersParseAndHaveTheShape) {
  HttpClient c(port());
  const json schema = {{"type", "object"},
                       {"properties",
                        {{"name", {{"type", "string"}, {"maxLength", 10}}},
                         {"age", {{"type", "integer"}}},
                         {"tags",
                          {{"type", "array"},
                           {"items", {{"type", "string"}, {"enum", {"a", "b"}}}},
                           {"maxItems", 3}}}}},
                       {"required", {"name", "age", "tags"}},
                       {"additionalProperties", false}};
  json b = chat(false);
  b["max_tokens"] = 200;
  b["temperature"] = 1.0;
  b["seed"] = 11;
  b["n"] = 3;
  b["response_format"] = {{"type", "json_schema"},
                          {"json_schema", {{"name", "person"}, {"strict", true}, {"schema", schema}}}};
  auto r = c.post("/v1/chat/completions", b);
  ASSERT_EQ(r.status, 200) << r.body;
  const json j = r.json();
  ASSERT_EQ(j["choices"].size(), 3u);
  for (const auto& ch : j["choices"]) {
    ASSERT_EQ(ch["finish_reason"], "stop") << ch.dump();
    const json v = json::parse(ch["message"]["content"].get<std::string>(), nullptr, false);
    ASSERT_TRUE(v.is_object()) << ch["message"]["content"];
    EXPECT_EQ(v.size(), 3u);
    EXPECT_TRUE(v["name"].is_string() && v["name"].get<std::string>().size() <= 10);
    EXPECT_TRUE(v["age"].is_number_integer());
    ASSERT_TRUE(v["tags"].is_array());
    EXPECT_LE(v["tags"].size(), 3u);
    for (const auto& t : v["tags"]) EXPECT_TRUE(t == "a" || t == "b");
  }
  // Streamed with the same seed: the same first answer.
  b["stream"] = true;
  b["n"] = 1;
  auto s = c.post("/v1/chat/completions", b);
  ASSERT_EQ(s.status, 200);
  bool done = false;
  EXPECT_EQ(stream_text(sse_events(s.body, &done), "delta"),
            j["choices"][0]["message"]["content"].get<std::string>());
  // A GBNF grammar on completions.
  auto g = c.post("/v1/completions", {{"model", "dari-tiny"},
                                      {"prompt", "The answer is"},
                                      {"max_tokens", 20},
                                      {"grammar", "root ::= (\" yes\" | \" no\") \".\""}});
  ASSERT_EQ(g.status, 200) << g.body;
  const std::string text = g.json()["choices"][0]["text"];
  EXPECT_TRUE(text == " yes." || text == " no.") << text;
  // A left-recursive grammar is a 400 naming the field.
  auto bad = c.post("/v1/completions", {{"model", "dari-tiny"},
                                        {"prompt", "x"},
                                        {"grammar", "root ::= root \"a\" | \"a\""}});
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(bad.json()["error"]["param"], "grammar");
}

TEST_F(E2E, ForcedToolCallValidatesAndStreamsInOpenAIShape) {
  HttpClient c(port());
  json b = chat(false);
  b["max_tokens"] = 200;
  b["tools"] = json::array(
      {{{"type", "function"},
        {"function",
         {{"name", "add"},
          {"parameters",
           {{"type", "object"},
            {"properties", {{"a", {{"type", "integer"}}}, {"b", {{"type", "integer"}}}}},
            {"required", {"a", "b"}}}}}}}});
  b["tool_choice"] = {{"type", "function"}, {"function", {{"name", "add"}}}};
  auto r = c.post("/v1/chat/completions", b);
  ASSERT_EQ(r.status, 200) << r.body;
  const json ch = r.json()["choices"][0];
  EXPECT_EQ(ch["finish_reason"], "tool_calls");
  ASSERT_EQ(ch["message"]["tool_calls"].size(), 1u);
  const json call = ch["message"]["tool_calls"][0];
  EXPECT_EQ(call["type"], "function");
  EXPECT_EQ(call["function"]["name"], "add");
  const json args = json::parse(call["function"]["arguments"].get<std::string>(), nullptr, false);
  ASSERT_TRUE(args.is_object()) << call.dump();
  EXPECT_TRUE(args["a"].is_number_integer() && args["b"].is_number_integer());
  EXPECT_TRUE(ch["message"]["content"].is_null());
  b["stream"] = true;
  auto s = c.post("/v1/chat/completions", b);
  ASSERT_EQ(s.status, 200);
  bool done = false;
  std::string streamed_args;
  std::string name;
  std::string finish;
  for (const auto& ev : sse_events(s.body, &done)) {
    if (ev["choices"].empty()) continue;
    const json& d = ev["choices"][0]["delta"];
    if (ev["choices"][0]["finish_reason"].is_string()) finish = ev["choices"][0]["finish_reason"];
    if (!d.contains("tool_calls")) continue;
    const json& tc = d["tool_calls"][0];
    EXPECT_EQ(tc["index"], 0);
    if (tc.contains("id")) {
      EXPECT_EQ(tc["type"], "function");
      name = tc["function"]["name"];
    }
    streamed_args += tc["function"]["arguments"].get<std::string>();
  }
  EXPECT_TRUE(done);
  EXPECT_EQ(finish, "tool_calls");
  EXPECT_EQ(name, "add");
  EXPECT_EQ(streamed_args, call["function"]["arguments"].get<std::string>());
}

TEST_F(E2E, TokenizeAndDetokenizeRoundTrip) {
  HttpClient c(port());
  auto t = c.post("/tokenize", {{"content", "Hello world"}, {"with_pieces", true}});
  ASSERT_EQ(t.status, 200) << t.body;
  const json toks = t.json()["tokens"];
  ASSERT_FALSE(toks.empty());
  json ids = json::array();
  std::string joined;
  for (const auto& p : toks) {
    ids.push_back(p["id"]);
    if (p["piece"].is_string()) joined += p["piece"].get<std::string>();
  }
  EXPECT_NE(joined.find("world"), std::string::npos);
  auto d = c.post("/detokenize", {{"tokens", ids}});
  ASSERT_EQ(d.status, 200) << d.body;
  EXPECT_NE(d.json()["content"].get<std::string>().find("Hello world"), std::string::npos);
  auto bad = c.post("/detokenize", {{"tokens", {1, 99999999}}});
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(bad.json()["error"]["param"], "tokens[1]");
}

}  // namespace
}  // namespace dari::server::test
