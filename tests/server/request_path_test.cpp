// One request path, no way around the audit: the request's life against a real server (trust
// layer + FakeEngine), driven with raw bytes where clients misbehave. Each admitted request must
// end with exactly one audit row carrying its key id and with its tokens charged; browsers on
// this machine must not be able to drive the keyless loopback routes; the I/O side must refuse
// early what it can (401 before a body is read) and frame HTTP/1.x correctly.
#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "dari/server/server.h"
#include "dari/server/trust_hooks.h"
#include "dari/trust/trust.h"
#include "fake_engine.h"
#include "http_client.h"
#include "trust_server.h"

namespace dari::server::test {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

// A raw connection: bytes in, bytes (or parsed responses) out.
class Raw {
 public:
  explicit Raw(uint16_t port) : client_(port) {}
  bool send(const std::string& bytes) {
    boost::system::error_code ec;
    net::write(client_.stream().socket(), net::buffer(bytes), ec);
    return !ec;
  }
  // The next complete response (status 0 when the connection ended first).
  HttpResult read() {
    HttpResult r;
    http::response_parser<http::string_body> p;
    p.body_limit(64u << 20);
    boost::system::error_code ec;
    client_.stream().expires_after(std::chrono::seconds(30));
    http::read(client_.stream(), buf_, p, ec);
    if (ec) {
      r.error = ec.message();
      return r;
    }
    r.status = static_cast<int>(p.get().result_int());
    r.body = p.get().body();
    for (const auto& f : p.get()) r.headers[std::string(f.name_string())] = std::string(f.value());
    return r;
  }
  // Everything until the server closes the connection (or 30 s pass).
  std::string read_to_close() {
    std::string got(static_cast<const char*>(buf_.data().data()), buf_.size());
    char b[4096];
    for (;;) {
      boost::system::error_code ec;
      client_.stream().expires_after(std::chrono::seconds(30));
      const size_t n = client_.stream().read_some(net::buffer(b), ec);
      got.append(b, n);
      if (ec) return got;
    }
  }
  void close() {
    boost::system::error_code ec;
    client_.stream().socket().close(ec);
  }

 private:
  HttpClient client_;
  boost::beast::flat_buffer buf_;
};

std::string post_bytes(const std::string& path, const std::string& body,
                       const std::string& extra_headers = "",
                       const std::string& content_type = "application/json",
                       const std::string& host = "127.0.0.1") {
  return "POST " + path + " HTTP/1.1\r\nHost: " + host + "\r\nContent-Type: " + content_type +
         "\r\n" + extra_headers + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" +
         body;
}

class RequestPathTest : public TrustServerTest {
 protected:
  void start() {
    ServerOptions o;
    o.allowed_origins = {"https://app.example.com"};
    TrustServerTest::start(std::move(o));
  }
  std::string new_key(int64_t tokens_per_day, int64_t per_minute = 0) {
    trust::KeyInfo k;
    k.name = "test";
    k.scopes = trust::kScopeInfer;
    k.requests_per_minute = per_minute;
    k.tokens_per_day = tokens_per_day;
    auto r = trust_->create_key("test", k);
    EXPECT_TRUE(r.ok()) << r.message();
    return r.ok() ? *r : std::string();
  }
  static std::string key_id_of(const std::string& key) { return key.substr(5, 16); }
  std::string completion_body(int max_tokens = 5, bool stream = false) {
    return json{{"model", "tiny"}, {"prompt", "hello"}, {"max_tokens", max_tokens},
                {"stream", stream}}
        .dump();
  }
  // The request rows of the audit trail (after the writer has committed what is queued).
  std::vector<json> request_rows() {
    EXPECT_TRUE(trust_->flush().ok());
    auto log = trust::AuditLog::open(policy_.audit_db, policy_);
    EXPECT_TRUE(log.ok()) << log.message();
    if (!log.ok()) return {};
    EXPECT_TRUE((*log)->verify().ok);
    const fs::path out = dir_ / "export.jsonl";
    std::FILE* f = std::fopen(out.string().c_str(), "w");
    EXPECT_TRUE((*log)->export_to(f, {}, trust::ExportFormat::kJsonl).ok());
    std::fclose(f);
    std::ifstream in(out);
    std::vector<json> rows;
    for (std::string line; std::getline(in, line);) {
      json j = json::parse(line, nullptr, false);
      if (j.is_object() && j["kind"] == "request") rows.push_back(j["record"]);
    }
    return rows;
  }
  // Waits until `n` request rows are committed (requests end on the server after the client).
  std::vector<json> wait_rows(size_t n) {
    std::vector<json> rows;
    for (int i = 0; i < 500; ++i) {
      rows = request_rows();
      if (rows.size() >= n) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return rows;
  }

};

// Finding 1: a stray CRLF after the body used to drop the response, skip the audit and the
// quota. Now the request is answered, audited once with its key and charged; the stray bytes
// are ignored before the next request line.
TEST_F(RequestPathTest, StrayBytesAfterTheBodyNeitherDropNorEscapeTheAudit) {
  start();
  const std::string key = new_key(/*tokens_per_day=*/12);
  const std::string auth = "Authorization: Bearer " + key + "\r\n";
  Raw c(port_);
  ASSERT_TRUE(c.send(post_bytes("/v1/completions", completion_body(5), auth) + "\r\n"));
  HttpResult r = c.read();
  ASSERT_EQ(r.status, 200) << r.error << r.body;
  const std::string id = r.json()["id"];
  // The connection is still usable: the next request on it is answered too.
  ASSERT_TRUE(c.send(post_bytes("/v1/completions", completion_body(5), auth)));
  HttpResult r2 = c.read();
  ASSERT_EQ(r2.status, 200) << r2.error << r2.body;
  auto rows = wait_rows(2);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0]["request_id"], id);
  for (const auto& row : rows) {
    EXPECT_EQ(row["key_id"], key_id_of(key));
    EXPECT_EQ(row["status"], "ok");
  }
  // 2 x (1 prompt + 5 generated) tokens spent the 12 of the day: the next request is refused.
  ASSERT_TRUE(c.send(post_bytes("/v1/completions", completion_body(5), auth)));
  EXPECT_EQ(c.read().status, 429);
}

TEST_F(RequestPathTest, PipelinedRequestsAreAnsweredInOrderAndEachAudited) {
  start();
  Raw c(port_);
  std::string bytes;
  for (int i = 0; i < 3; ++i) bytes += post_bytes("/v1/completions", completion_body(2 + i));
  bytes += "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  ASSERT_TRUE(c.send(bytes));
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    HttpResult r = c.read();
    ASSERT_EQ(r.status, 200) << r.error;
    EXPECT_EQ(r.json()["usage"]["completion_tokens"], 2 + i);  // in the order sent
    ids.push_back(r.json()["id"]);
  }
  EXPECT_EQ(c.read().body, R"({"status":"ok"})");
  auto rows = wait_rows(3);
  ASSERT_EQ(rows.size(), 3u);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(rows[i]["request_id"], ids[i]);
}

// A client that leaves mid-stream: its engine work is cancelled, and the request still ends with
// one audit row (status "cancelled", its key id) and the tokens it got charged.
TEST_F(RequestPathTest, ClientGoneMidStreamIsCancelledAuditedAndCharged) {
  start();
  const std::string key = new_key(/*tokens_per_day=*/1000);
  engine_->hold = true;
  {
    Raw c(port_);
    ASSERT_TRUE(c.send(post_bytes("/v1/completions", completion_body(200, true),
                                  "Authorization: Bearer " + key + "\r\n")));
    HttpClient probe(port_);
    for (int i = 0; i < 200 && engine_->stats().running == 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    ASSERT_EQ(engine_->stats().running, 1u);
    c.close();
  }
  for (int i = 0; i < 400 && engine_->stats().running != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(engine_->stats().running, 0u) << "the engine request was not cancelled";
  auto rows = wait_rows(1);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0]["status"], "cancelled");
  EXPECT_EQ(rows[0]["key_id"], key_id_of(key));
}

// Smaller finding: a request refused for its quota or rate is audited with the key's id.
TEST_F(RequestPathTest, RefusedRequestsAreAuditedWithTheirKeyId) {
  start();
  const std::string key = new_key(0, /*per_minute=*/1);
  HttpClient c(port_);
  std::map<std::string, std::string> h{{"Authorization", "Bearer " + key}};
  EXPECT_EQ(c.request(http::verb::post, "/v1/completions", completion_body(), h).status, 200);
  EXPECT_EQ(c.request(http::verb::post, "/v1/completions", completion_body(), h).status, 429);
  auto rows = wait_rows(2);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[1]["status"], "rejected");
  EXPECT_EQ(rows[1]["http_status"], 429);
  EXPECT_EQ(rows[1]["key_id"], key_id_of(key));
}

// Finding 2: a page from another site cannot pause the server or generate through loopback.
TEST_F(RequestPathTest, CrossSiteRequestsAreRefused) {
  start();
  for (const char* path : {"/admin/pause", "/v1/completions", "/admin/resume"}) {
    Raw c(port_);
    ASSERT_TRUE(c.send(post_bytes(path, path[1] == 'a' ? "{}" : completion_body(),
                                  "Origin: http://evil.example\r\n", "text/plain")));
    HttpResult r = c.read();
    EXPECT_EQ(r.status, 403) << path << " " << r.body;
    EXPECT_EQ(r.json()["error"]["code"], "origin_not_allowed");
  }
  EXPECT_FALSE(trust_->paused());
  EXPECT_TRUE(request_rows().empty());
  // The server's own origin (its web page: scheme://Host) and an allowed origin are served.
  const std::string host = "127.0.0.1:" + std::to_string(port_);
  for (const std::string& origin : {"http://" + host, std::string("https://app.example.com")}) {
    Raw c(port_);
    ASSERT_TRUE(c.send(post_bytes("/v1/completions", completion_body(),
                                  "Origin: " + origin + "\r\n", "application/json", host)));
    EXPECT_EQ(c.read().status, 200) << origin;
  }
}

// Finding 2: DNS rebinding (a hostile name resolving to 127.0.0.1) is refused by its Host.
TEST_F(RequestPathTest, ForeignHostFromLoopbackIsRefused) {
  start();
  auto send = [&](const std::string& host) {
    Raw c(port_);
    EXPECT_TRUE(c.send("POST /admin/pause HTTP/1.1\r\nHost: " + host +
                       "\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"));
    return c.read();
  };
  HttpResult r = send("rebind.evil.example:" + std::to_string(port_));
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(r.json()["error"]["code"], "host_not_allowed");
  EXPECT_FALSE(trust_->paused());
  EXPECT_EQ(send("localhost:" + std::to_string(port_)).status, 200);
  EXPECT_TRUE(trust_->paused());
  EXPECT_EQ(send("[::1]").status, 200);
}

TEST_F(RequestPathTest, JsonRoutesNeedAJsonBody) {
  start();
  Raw c(port_);
  ASSERT_TRUE(c.send(post_bytes("/v1/completions", completion_body(), "", "text/plain")));
  HttpResult r = c.read();
  EXPECT_EQ(r.status, 415);
  EXPECT_EQ(r.json()["error"]["code"], "unsupported_media_type");
  Raw d(port_);
  ASSERT_TRUE(d.send(post_bytes("/v1/completions", completion_body(), "",
                                "application/json; charset=utf-8")));
  EXPECT_EQ(d.read().status, 200);
}

// Finding 3: without a key under require = "always", the answer is 401 at the header: the body
// (announced as 6.5 MB, never sent) is not waited for.
TEST_F(RequestPathTest, KeylessRequestIsRefusedBeforeItsBodyIsRead) {
  policy_.require_keys = trust::KeyRequirement::kAlways;
  start();
  Raw c(port_);
  ASSERT_TRUE(c.send("POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                     "application/json\r\nContent-Length: 6500000\r\n\r\n{\"model\":"));
  HttpResult r = c.read();
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.headers["Connection"], "close");
  // Smaller finding: /metrics and /v1/models need the key too; /health does not.
  for (const char* path : {"/metrics", "/v1/models"}) {
    HttpClient h(port_);
    EXPECT_EQ(h.get(path).status, 401) << path;
  }
  HttpClient k(port_);
  EXPECT_EQ(k.get("/health").status, 200);
}

TEST_F(RequestPathTest, AdminBodiesWithWrongTypesAreRefused) {
  start();
  HttpClient c(port_);
  auto r = c.post("/admin/pause", json{{"cancel_in_flight", "yes"}});
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_EQ(r.json()["error"]["param"], "cancel_in_flight");
  EXPECT_FALSE(trust_->paused());
  EXPECT_EQ(c.post("/admin/pause", json{{"reason", 5}}).status, 400);
  EXPECT_EQ(c.post("/admin/pause", json{{"reason", "maintenance"}, {"cancel_in_flight", true}})
                .status,
            200);
  EXPECT_TRUE(trust_->paused());
}

// HTTP/1.0 has no chunked encoding: a stream's bytes follow the head and the close ends them.
TEST_F(RequestPathTest, Http10StreamsWithoutChunkedEncoding) {
  start();
  Raw c(port_);
  const std::string body = completion_body(3, true);
  ASSERT_TRUE(c.send("POST /v1/completions HTTP/1.0\r\nContent-Type: application/json\r\n"
                     "Content-Length: " +
                     std::to_string(body.size()) + "\r\n\r\n" + body));
  const std::string got = c.read_to_close();
  ASSERT_EQ(got.rfind("HTTP/1.0 200", 0), 0u) << got;
  const size_t end = got.find("\r\n\r\n");
  ASSERT_NE(end, std::string::npos);
  const std::string head = got.substr(0, end);
  EXPECT_EQ(head.find("Transfer-Encoding"), std::string::npos) << head;
  EXPECT_NE(head.find("Connection: close"), std::string::npos) << head;
  EXPECT_EQ(got.substr(end + 4, 6), "data: ");
  EXPECT_NE(got.find("data: [DONE]\n\n"), std::string::npos);
}

TEST_F(RequestPathTest, ExpectContinueIsAnsweredBeforeTheBody) {
  start();
  Raw c(port_);
  const std::string body = completion_body();
  ASSERT_TRUE(c.send("POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                     "application/json\r\nExpect: 100-continue\r\nContent-Length: " +
                     std::to_string(body.size()) + "\r\n\r\n"));
  HttpResult interim = c.read();  // Beast reads the 1xx as a response of its own
  EXPECT_EQ(interim.status, 100) << interim.error;
  ASSERT_TRUE(c.send(body));
  EXPECT_EQ(c.read().status, 200);
}

TEST_F(RequestPathTest, FramingErrorsGetTheirStatus) {
  start();
  {
    Raw c(port_);
    ASSERT_TRUE(c.send("GET /health HTTP/1.1\r\n\r\n"));
    HttpResult r = c.read();
    EXPECT_EQ(r.status, 400);
    EXPECT_EQ(r.json()["error"]["code"], "missing_host");
  }
  {
    Raw c(port_);
    ASSERT_TRUE(c.send("GET /health?" + std::string(9000, 'a') + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
    EXPECT_EQ(c.read().status, 414);
  }
  {
    Raw c(port_);
    ASSERT_TRUE(c.send("GET /" + std::string(20000, 'a') + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
    EXPECT_EQ(c.read().status, 414);
  }
  {
    Raw c(port_);
    ASSERT_TRUE(c.send("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " +
                       std::string(20000, 'b') + "\r\n\r\n"));
    EXPECT_EQ(c.read().status, 431);
  }
}

}  // namespace
}  // namespace dari::server::test
