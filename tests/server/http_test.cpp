// HTTP end-to-end tests of the server against FakeEngine (deterministic, no model).
#include <gtest/gtest.h>

#include <sys/socket.h>

#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <mutex>
#include <thread>

#include "dari/server/hooks.h"
#include "dari/server/server.h"
#include "fake_engine.h"
#include "http_client.h"

namespace dari::server::test {
namespace {

using nlohmann::json;

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override { start({}); }
  void start(ServerOptions o) {
    if (server_) stop();
    engine_ = std::make_unique<FakeEngine>(tiny_tokenizer(), 256);
    o.host = "127.0.0.1";
    o.port = 0;
    o.model_name = "tiny";
    if (o.max_body_bytes == (8u << 20)) o.max_body_bytes = 64 * 1024;
    auto s = Server::create(std::move(o));
    ASSERT_TRUE(s.ok()) << s.message();
    server_ = std::move(s).value();
    server_->set_engine(engine_.get());
    server_->start();
    port_ = server_->port();
    ASSERT_NE(port_, 0);
  }
  void stop() {
    server_->request_stop(false);
    server_->wait();
    engine_->shutdown(false);
    server_.reset();
    engine_.reset();
  }
  void TearDown() override {
    if (server_) stop();
  }
  json chat_body(bool stream = false) {
    json b = {{"model", "tiny"}, {"messages", {{{"role", "user"}, {"content", "hello"}}}}};
    if (stream) b["stream"] = true;
    return b;
  }
  std::string metrics() {
    HttpClient c(port_);
    return c.get("/metrics").body;
  }

  std::unique_ptr<FakeEngine> engine_;
  std::unique_ptr<Server> server_;
  uint16_t port_ = 0;
};

TEST_F(ServerTest, ChatCompletion) {
  HttpClient c(port_);
  auto r = c.post("/v1/chat/completions", chat_body());
  ASSERT_EQ(r.status, 200) << r.error << r.body;
  EXPECT_EQ(r.headers["Content-Type"], "application/json");
  json j = r.json();
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_EQ(j["id"].get<std::string>().rfind("chatcmpl-", 0), 0u);
  EXPECT_EQ(j["model"], "tiny");
  EXPECT_TRUE(j["created"].is_number_integer());
  ASSERT_EQ(j["choices"].size(), 1u);
  EXPECT_EQ(j["choices"][0]["index"], 0);
  EXPECT_EQ(j["choices"][0]["message"]["role"], "assistant");
  // The plain fallback strips the reply's leading space; FakeEngine text is "w0 w1 ...".
  EXPECT_EQ(j["choices"][0]["message"]["content"], "w0 w1 w2 w3 w4 ");
  EXPECT_EQ(j["choices"][0]["finish_reason"], "stop");
  EXPECT_TRUE(j["choices"][0]["logprobs"].is_null());
  EXPECT_EQ(j["usage"]["completion_tokens"], 5);
  EXPECT_GT(j["usage"]["prompt_tokens"].get<int>(), 0);
  EXPECT_EQ(j["usage"]["total_tokens"].get<int>(), j["usage"]["prompt_tokens"].get<int>() + 5);
  // Fallback template adds its stop string; the request reached the engine with its prompt.
  auto last = engine_->last_request();
  EXPECT_EQ(last.stop, std::vector<std::string>{"\nUser:"});
  EXPECT_EQ(static_cast<int>(last.prompt.size()), j["usage"]["prompt_tokens"].get<int>());
  // Keep-alive: the same connection serves a second request.
  auto r2 = c.get("/v1/models");
  EXPECT_EQ(r2.status, 200) << r2.error;
}

TEST_F(ServerTest, SamplingFieldsReachTheEngine) {
  HttpClient c(port_);
  json b = chat_body();
  b["temperature"] = 0.25;
  b["top_p"] = 0.5;
  b["seed"] = 42;
  b["max_tokens"] = 3;
  b["n"] = 2;
  b["stop"] = {"zz"};
  b["presence_penalty"] = 0.5;
  b["frequency_penalty"] = -0.5;
  b["logit_bias"] = {{"11", -100}};
  auto r = c.post("/v1/chat/completions", b);
  ASSERT_EQ(r.status, 200) << r.body;
  json j = r.json();
  ASSERT_EQ(j["choices"].size(), 2u);
  EXPECT_EQ(j["choices"][1]["index"], 1);
  EXPECT_EQ(j["choices"][1]["finish_reason"], "length");
  EXPECT_EQ(j["usage"]["completion_tokens"], 6);
  auto q = engine_->last_request();
  EXPECT_FLOAT_EQ(q.sampling.temperature, 0.25f);
  EXPECT_FLOAT_EQ(q.sampling.top_p, 0.5f);
  EXPECT_EQ(q.sampling.seed, 42u);
  EXPECT_EQ(q.max_tokens, 3);
  EXPECT_EQ(q.n, 2u);
  EXPECT_EQ(q.stop[0], "zz");
  EXPECT_FLOAT_EQ(q.sampling.presence_penalty, 0.5f);
  EXPECT_FLOAT_EQ(q.sampling.frequency_penalty, -0.5f);
  EXPECT_EQ(q.sampling.logit_bias.at(11), -100.0f);
}

TEST_F(ServerTest, CompletionsWithPromptArrayAndLogprobs) {
  HttpClient c(port_);
  json b = {{"model", "tiny"},
            {"prompt", {"Once", json::array({1, 2, 3})}},
            {"max_tokens", 2},
            {"logprobs", 2}};
  auto r = c.post("/v1/completions", b);
  ASSERT_EQ(r.status, 200) << r.body;
  json j = r.json();
  EXPECT_EQ(j["object"], "text_completion");
  EXPECT_EQ(j["id"].get<std::string>().rfind("cmpl-", 0), 0u);
  ASSERT_EQ(j["choices"].size(), 2u);
  EXPECT_EQ(j["choices"][0]["text"], "w0 w1 ");
  EXPECT_EQ(j["choices"][1]["index"], 1);
  const json& lp = j["choices"][0]["logprobs"];
  ASSERT_EQ(lp["tokens"].size(), 2u);
  EXPECT_EQ(lp["token_logprobs"][0], -0.5);
  EXPECT_EQ(lp["top_logprobs"][0].size(), 2u);
  EXPECT_EQ(lp["text_offset"][0], 0);
  EXPECT_EQ(j["usage"]["completion_tokens"], 4);
}

TEST_F(ServerTest, ChatLogprobs) {
  HttpClient c(port_);
  json b = chat_body();
  b["logprobs"] = true;
  b["top_logprobs"] = 3;
  b["max_tokens"] = 2;
  auto r = c.post("/v1/chat/completions", b);
  ASSERT_EQ(r.status, 200) << r.body;
  const json j = r.json();
  const json& content = j["choices"][0]["logprobs"]["content"];
  ASSERT_EQ(content.size(), 2u);
  EXPECT_TRUE(content[0]["token"].is_string());
  EXPECT_EQ(content[0]["logprob"], -0.5);
  EXPECT_TRUE(content[0]["bytes"].is_array());
  EXPECT_EQ(content[0]["top_logprobs"].size(), 3u);
}

TEST_F(ServerTest, StreamingChatWithUsage) {
  HttpClient c(port_);
  json b = chat_body(true);
  b["stream_options"] = {{"include_usage", true}};
  auto r = c.post("/v1/chat/completions", b);
  ASSERT_EQ(r.status, 200) << r.error;
  EXPECT_EQ(r.headers["Content-Type"], "text/event-stream");
  bool done = false;
  auto evs = sse_events(r.body, &done);
  EXPECT_TRUE(done);
  ASSERT_GE(evs.size(), 4u);
  EXPECT_EQ(evs[0]["object"], "chat.completion.chunk");
  EXPECT_EQ(evs[0]["choices"][0]["delta"]["role"], "assistant");
  std::string text;
  std::string finish;
  for (size_t i = 0; i + 1 < evs.size(); ++i) {
    EXPECT_EQ(evs[i]["id"], evs[0]["id"]);
    EXPECT_TRUE(evs[i]["usage"].is_null());
    const json& ch = evs[i]["choices"][0];
    if (ch["delta"].contains("content")) text += ch["delta"]["content"].get<std::string>();
    if (!ch["finish_reason"].is_null()) finish = ch["finish_reason"];
  }
  EXPECT_EQ(text, "w0 w1 w2 w3 w4 ");
  EXPECT_EQ(finish, "stop");
  const json& last = evs.back();
  EXPECT_TRUE(last["choices"].empty());
  EXPECT_EQ(last["usage"]["completion_tokens"], 5);
}

TEST_F(ServerTest, StreamingCompletionsWithoutUsage) {
  HttpClient c(port_);
  json b = {{"model", "tiny"}, {"prompt", "x"}, {"stream", true}, {"max_tokens", 3}};
  auto r = c.post("/v1/completions", b);
  ASSERT_EQ(r.status, 200);
  bool done = false;
  auto evs = sse_events(r.body, &done);
  EXPECT_TRUE(done);
  std::string text;
  for (const auto& e : evs) {
    EXPECT_EQ(e["object"], "text_completion");
    EXPECT_FALSE(e.contains("usage"));
    text += e["choices"][0]["text"].get<std::string>();
  }
  EXPECT_EQ(text, "w0 w1 w2 ");
  EXPECT_EQ(evs.back()["choices"][0]["finish_reason"], "length");
}

TEST_F(ServerTest, ModelsHealthMetrics) {
  HttpClient c(port_);
  auto m = c.get("/v1/models");
  ASSERT_EQ(m.status, 200);
  EXPECT_EQ(m.json()["object"], "list");
  EXPECT_EQ(m.json()["data"][0]["id"], "tiny");
  EXPECT_EQ(m.json()["data"][0]["object"], "model");
  EXPECT_EQ(c.get("/health").status, 200);
  ASSERT_EQ(c.post("/v1/chat/completions", chat_body()).status, 200);
  auto t = c.get("/metrics");
  ASSERT_EQ(t.status, 200);
  EXPECT_NE(t.headers["Content-Type"].find("text/plain"), std::string::npos);
  EXPECT_EQ(
      metric_value(t.body,
                   R"(dari_http_requests_total{endpoint="/v1/chat/completions",status="200"})"),
      1);
  EXPECT_EQ(metric_value(t.body, "dari_kv_blocks_total"), 64);
  EXPECT_EQ(metric_value(t.body, "gen_ai_server_time_to_first_token_seconds_count"), 1);
  EXPECT_EQ(metric_value(t.body, "gen_ai_server_request_duration_seconds_count"), 1);
  EXPECT_EQ(metric_value(t.body, "gen_ai_client_token_usage_output_total"), 5);
  EXPECT_GE(metric_value(t.body, "dari_prefix_cache_hit_rate"), 0);
}

TEST_F(ServerTest, LoadingAnswers503) {
  server_->set_engine(nullptr);
  HttpClient c(port_);
  auto h = c.get("/health");
  EXPECT_EQ(h.status, 503);
  auto r = c.post("/v1/chat/completions", chat_body());
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.json()["error"]["type"], "service_unavailable");
  EXPECT_EQ(r.headers["Retry-After"], "1");
}

TEST_F(ServerTest, HttpErrors) {
  HttpClient c(port_);
  auto nf = c.get("/v2/nothing");
  EXPECT_EQ(nf.status, 404);
  EXPECT_TRUE(nf.json()["error"]["message"].is_string());
  auto na = c.get("/v1/chat/completions");
  EXPECT_EQ(na.status, 405);
  EXPECT_EQ(na.headers["Allow"], "POST");
  auto bad = c.request(http::verb::post, "/v1/chat/completions", "{not json");
  EXPECT_EQ(bad.status, 400);
  const json e = bad.json()["error"];  // a copy
  EXPECT_TRUE(e.contains("message") && e.contains("type") && e.contains("param") &&
              e.contains("code"));
  auto unk = c.post("/v1/chat/completions", [&] {
    json b = chat_body();
    b["tools"] = json::object();
    return b;
  }());
  EXPECT_EQ(unk.status, 400);
  EXPECT_EQ(unk.json()["error"]["param"], "tools");
  auto model = c.post("/v1/completions", {{"model", "gpt-4"}, {"prompt", "x"}});
  EXPECT_EQ(model.status, 404);
  EXPECT_EQ(model.json()["error"]["code"], "model_not_found");
  auto tok = c.post("/v1/completions", {{"model", "tiny"}, {"prompt", {1, 99999999}}});
  EXPECT_EQ(tok.status, 400);
  EXPECT_EQ(tok.json()["error"]["param"], "prompt");
  auto bias = c.post("/v1/completions",
                     {{"model", "tiny"}, {"prompt", "x"}, {"logit_bias", {{"99999999", 1}}}});
  EXPECT_EQ(bias.status, 400);
  EXPECT_EQ(bias.json()["error"]["param"], "logit_bias");
  // After all those errors the connection still serves.
  EXPECT_EQ(c.get("/health").status, 200);
}

TEST_F(ServerTest, ContextLengthExceeded) {
  HttpClient c(port_);
  std::vector<int> long_prompt(300, 5);
  auto r = c.post("/v1/completions", {{"model", "tiny"}, {"prompt", long_prompt}});
  ASSERT_EQ(r.status, 400);
  EXPECT_EQ(r.json()["error"]["code"], "context_length_exceeded");
  auto m = c.post("/v1/completions", {{"model", "tiny"}, {"prompt", "x"}, {"max_tokens", 1000}});
  ASSERT_EQ(m.status, 400);
  EXPECT_EQ(m.json()["error"]["code"], "context_length_exceeded");
  EXPECT_EQ(m.json()["error"]["param"], "max_tokens");
}

TEST_F(ServerTest, BodyTooLargeIs413) {
  HttpClient c(port_);
  json b = chat_body();
  b["messages"][0]["content"] = std::string(100 * 1024, 'a');
  auto r = c.post("/v1/chat/completions", b);
  EXPECT_EQ(r.status, 413) << r.error;
  EXPECT_EQ(r.headers["Connection"], "close");
}

TEST_F(ServerTest, QueueFullIs429WithRetryAfter) {
  engine_->max_live = 0;
  HttpClient c(port_);
  auto r = c.post("/v1/chat/completions", chat_body());
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(r.headers["Retry-After"], "1");
  EXPECT_EQ(r.json()["error"]["type"], "rate_limit_exceeded");
}

TEST_F(ServerTest, ClientDisconnectCancelsTheSequence) {
  engine_->hold = true;
  {
    HttpClient c(port_);
    ASSERT_TRUE(c.start_post("/v1/chat/completions", chat_body(true).dump()));
    // Read until some tokens arrived, then drop the connection.
    std::string got;
    ASSERT_TRUE(c.read_until(&got, "w2")) << got;
    EXPECT_EQ(engine_->stats().running, 1u);
  }
  for (int i = 0; i < 2000 && engine_->stats().running != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(engine_->stats().running, 0u);
  EXPECT_EQ(engine_->stats().requests_cancelled, 1u);
  EXPECT_EQ(metric_value(metrics(), "dari_kv_blocks_used"), 0);
}

TEST_F(ServerTest, EightParallelStreamsComplete) {
  engine_->tokens = 20;
  std::vector<std::thread> ts;
  std::atomic<int> ok{0};
  for (int i = 0; i < 8; ++i) {
    ts.emplace_back([&] {
      HttpClient c(port_);
      auto r = c.post("/v1/chat/completions", chat_body(true));
      bool done = false;
      auto evs = sse_events(r.body, &done);
      std::string text;
      for (const auto& e : evs) {
        const json& d = e["choices"][0]["delta"];
        if (d.contains("content")) text += d["content"].get<std::string>();
      }
      if (r.status == 200 && done && text.find("w19 ") != std::string::npos) ++ok;
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(ok.load(), 8);
}

TEST_F(ServerTest, PipelinedRequestsOnOneConnection) {
  HttpClient c(port_);
  std::string raw =
      "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nGET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  net::write(c.stream().socket(), net::buffer(raw));
  boost::beast::flat_buffer b;
  http::response<http::string_body> r1, r2;
  http::read(c.stream(), b, r1);
  http::read(c.stream(), b, r2);
  EXPECT_EQ(r1.result_int(), 200u);
  EXPECT_NE(r2.body().find("\"list\""), std::string::npos);
}

TEST_F(ServerTest, MalformedHttpIs400) {
  HttpClient c(port_);
  std::string raw = "BLAH\x01 / HTTP/9\r\n\r\n";
  net::write(c.stream().socket(), net::buffer(raw));
  boost::beast::flat_buffer b;
  http::response<http::string_body> r;
  boost::system::error_code ec;
  http::read(c.stream(), b, r, ec);
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_EQ(r.result_int(), 400u);
}

TEST_F(ServerTest, DrainLetsInFlightFinish) {
  engine_->tokens = 50;
  std::thread client([&] {
    HttpClient c(port_);
    auto r = c.post("/v1/chat/completions", chat_body());
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.json()["usage"]["completion_tokens"], 50);
  });
  for (int i = 0; i < 2000 && engine_->submitted() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  server_->request_stop(true);
  server_->wait();  // returns once the in-flight request is answered
  client.join();
}

TEST_F(ServerTest, IdleTimeoutClosesKeepAlive) {
  ServerOptions o;
  o.idle_timeout = std::chrono::milliseconds(50);
  start(o);
  HttpClient c(port_);
  EXPECT_EQ(c.get("/health").status, 200);
  char buf[16];
  boost::system::error_code ec;
  c.stream().socket().read_some(net::buffer(buf), ec);  // server closes after the idle timeout
  EXPECT_EQ(ec, net::error::eof);
}

// Reads one response from a raw connection; status 0 when the server closed without one.
http::response<http::string_body> read_raw(HttpClient& c) {
  boost::beast::flat_buffer b;
  http::response<http::string_body> r;
  boost::system::error_code ec;
  http::read(c.stream(), b, r, ec);
  if (ec) r.result(http::status::unknown);
  return r;
}

void expect_closed(HttpClient& c) {
  char buf[16];
  boost::system::error_code ec;
  c.stream().socket().read_some(net::buffer(buf), ec);
  EXPECT_EQ(ec, net::error::eof);
}

TEST_F(ServerTest, SlowHeaderGets408AndClose) {
  ServerOptions o;
  o.header_timeout = std::chrono::milliseconds(200);
  start(o);
  HttpClient c(port_);
  net::write(c.stream().socket(), net::buffer(std::string("GET /health HTTP/1.1\r\n")));
  // Slowloris: one header line every 50 ms, never the blank line, until the answer is read.
  std::atomic<bool> answered{false};
  // (::send on the descriptor: this thread must not use the asio socket the reader uses.)
  const int fd = c.stream().socket().native_handle();
  std::thread trickle([&answered, fd] {
    for (int i = 0; i < 100 && !answered.load(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      const std::string line = "X-Slow-" + std::to_string(i) + ": y\r\n";
      if (::send(fd, line.data(), line.size(), MSG_NOSIGNAL) < 0) break;
    }
  });
  auto r = read_raw(c);
  answered.store(true);
  trickle.join();
  EXPECT_EQ(r.result_int(), 408u);
  const json j = json::parse(r.body(), nullptr, false);
  EXPECT_EQ(j["error"]["code"], "request_timeout") << r.body();
  EXPECT_NE(j["error"]["message"].get<std::string>().find("header"), std::string::npos);
  EXPECT_EQ(r[http::field::connection], "close");
  EXPECT_EQ(server_->metrics().requests("other", 408), 1u);
}

TEST_F(ServerTest, SlowBodyGets408) {
  ServerOptions o;
  o.body_timeout = std::chrono::milliseconds(200);
  start(o);
  HttpClient c(port_);
  const std::string raw =
      "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
      "Content-Length: 100\r\n\r\n{\"model\":";
  net::write(c.stream().socket(), net::buffer(raw));
  auto r = read_raw(c);
  EXPECT_EQ(r.result_int(), 408u);
  const json j = json::parse(r.body(), nullptr, false);
  EXPECT_EQ(j["error"]["code"], "request_timeout") << r.body();
  EXPECT_NE(j["error"]["message"].get<std::string>().find("body"), std::string::npos);
  expect_closed(c);
}

TEST_F(ServerTest, HeaderDeadlineDoesNotLimitTheBody) {
  ServerOptions o;
  o.header_timeout = std::chrono::milliseconds(150);
  o.body_timeout = std::chrono::seconds(20);
  start(o);
  HttpClient c(port_);
  const std::string body = chat_body().dump();
  const std::string head =
      "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
      "application/json\r\nContent-Length: " +
      std::to_string(body.size()) + "\r\n\r\n";
  net::write(c.stream().socket(), net::buffer(head));
  // The body takes longer than the header deadline but well within the body deadline.
  for (size_t i = 0; i < body.size(); i += body.size() / 4 + 1) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    net::write(c.stream().socket(), net::buffer(body.substr(i, body.size() / 4 + 1)));
  }
  auto r = read_raw(c);
  EXPECT_EQ(r.result_int(), 200u) << r.body();
}

TEST_F(ServerTest, OversizedBodyAnswerSurvivesUnreadBytes) {
  // The client keeps sending a body the server refused at the header: lingering close must let
  // the 413 reach it instead of resetting the connection.
  HttpClient c(port_);
  const std::string head =
      "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 4000000\r\n\r\n";
  net::write(c.stream().socket(), net::buffer(head));
  boost::system::error_code ec;
  net::write(c.stream().socket(), net::buffer(std::string(1u << 20, 'a')), ec);
  auto r = read_raw(c);
  EXPECT_EQ(r.result_int(), 413u);
}

// A session that holds the final bytes and keeps the `durable` callback (as an audit writer
// thread does while it commits).
struct HoldingHooks : ServerHooks {
  struct Session : RequestSession {
    HoldingHooks* hooks = nullptr;
    bool finish(const RequestInfo&, const CompletionRecord&,
                std::function<void()> durable) override {
      std::lock_guard<std::mutex> lock(hooks->mu);
      hooks->held.push_back(std::move(durable));
      return false;
    }
  };
  SessionOrError open(const RequestInfo&) override {
    auto s = std::make_shared<Session>();
    s->hooks = this;
    return std::shared_ptr<RequestSession>(s);
  }
  std::mutex mu;
  std::vector<std::function<void()>> held;
};

// The server may be gone before a hook lets go of its callbacks: calling and destroying them
// afterwards must be harmless (they hold the server's mailbox, whose strand must not outlive the
// io_context; ASan/UBSan reported it when an audit batch outlived the server).
TEST_F(ServerTest, DurableCallbacksOutliveTheServer) {
  auto hooks = std::make_shared<HoldingHooks>();
  ServerOptions o;
  o.hooks = hooks;
  start(o);
  HttpClient c(port_);
  ASSERT_TRUE(c.start_post("/v1/chat/completions", chat_body(true).dump()));
  for (int i = 0; i < 2000; ++i) {
    {
      std::lock_guard<std::mutex> lock(hooks->mu);
      if (!hooks->held.empty()) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  std::vector<std::function<void()>> held;
  {
    std::lock_guard<std::mutex> lock(hooks->mu);
    held.swap(hooks->held);
  }
  ASSERT_EQ(held.size(), 1u);
  stop();
  for (auto& fn : held) fn();  // after the server: nothing happens
  held.clear();                // the last owners of the mailbox go here
}

}  // namespace
}  // namespace dari::server::test
