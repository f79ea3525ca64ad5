// A model-based test of the request path: random client behaviour against a real HTTP server
// (trust layer + FakeEngine), then the invariants that docs/TRUST.md promises, checked after
// every run:
//   - every request admitted by its trust session was finished exactly once and has exactly one
//     audit row, carrying the key id it was admitted under;
//   - each key was charged exactly the tokens its audit rows record (prompt + generated) for the
//     requests that ran;
//   - no engine work is left running; the audit chain verifies.
// Client behaviour per request (seeded): plain or streamed, pipelined pairs, a stray CRLF after
// the body, a disconnect in the middle of the request bytes, a disconnect after part of a
// stream, slow reads; an operator thread pauses (with and without cancelling in-flight work) and
// resumes at random, and revokes one key half way; one key has a small token budget.
// Bounded: 4 clients x 24 requests per run, 3 runs, socket timeouts of 10 s.
#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/write.hpp>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <thread>

#include "dari/server/server.h"
#include "dari/server/trust_hooks.h"
#include "dari/trust/trust.h"
#include "fake_engine.h"
#include "http_client.h"

namespace dari::server::test {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

// What the server side saw: admissions per key and finishes, through a decorator around the
// trust layer's hooks (the sessions it hands out are the trust sessions, wrapped).
struct Tally {
  std::mutex mu;
  std::map<std::string, int> admitted;  // by key id ("" for keyless)
  int admits = 0;
  int finishes = 0;
  int double_finishes = 0;
};

class CountingSession : public RequestSession {
 public:
  CountingSession(std::shared_ptr<RequestSession> inner, Tally* t, std::string key_id)
      : inner_(std::move(inner)), tally_(t), key_id_(std::move(key_id)) {}
  RequestSession* inner() const { return inner_.get(); }
  std::optional<ApiError> admit(const RequestInfo& info, const ApiRequest& req) override {
    {
      std::lock_guard<std::mutex> l(tally_->mu);
      ++tally_->admits;
      ++tally_->admitted[key_id_];
    }
    return inner_->admit(info, req);
  }
  std::optional<ApiError> check() const override { return inner_->check(); }
  void response_headers(const RequestInfo& info, HeaderList* h) override {
    inner_->response_headers(info, h);
  }
  void label_parts(std::string* p, std::string* s) override { inner_->label_parts(p, s); }
  std::string sign_output(const RequestInfo& info, const std::string& text,
                          HeaderList* h) override {
    return inner_->sign_output(info, text, h);
  }
  bool finish(const RequestInfo& info, const CompletionRecord& rec,
              std::function<void()> durable) override {
    {
      std::lock_guard<std::mutex> l(tally_->mu);
      ++tally_->finishes;
      if (finished_) ++tally_->double_finishes;
    }
    finished_ = true;
    return inner_->finish(info, rec, std::move(durable));
  }

 private:
  std::shared_ptr<RequestSession> inner_;
  Tally* tally_;
  std::string key_id_;
  bool finished_ = false;
};

class CountingHooks : public ServerHooks {
 public:
  CountingHooks(std::shared_ptr<ServerHooks> inner, Tally* t) : inner_(std::move(inner)), t_(t) {}
  SessionOrError open(const RequestInfo& info) override {
    SessionOrError s = inner_->open(info);
    auto* session = std::get_if<std::shared_ptr<RequestSession>>(&s);
    if (session == nullptr || !*session) return s;
    std::string key_id;
    for (const auto& [k, v] : info.headers) {
      if (k == "Authorization" && v.size() >= 7 + 21) key_id = v.substr(7 + 5, 16);
    }
    return std::shared_ptr<RequestSession>(
        std::make_shared<CountingSession>(std::move(*session), t_, key_id));
  }
  std::optional<HookResponse> handle_route(RequestSession* s, const RequestInfo& info,
                                           const std::string& body) override {
    auto* c = static_cast<CountingSession*>(s);
    return inner_->handle_route(c ? c->inner() : nullptr, info, body);
  }
  void on_tick() override { inner_->on_tick(); }

 private:
  std::shared_ptr<ServerHooks> inner_;
  Tally* t_;
};

std::string request_bytes(const std::string& key, bool stream, int max_tokens, bool close) {
  const std::string body =
      json{{"model", "tiny"}, {"prompt", "hello there"}, {"max_tokens", max_tokens},
           {"stream", stream}}
          .dump();
  return "POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
         "Authorization: Bearer " +
         key + (close ? "\r\nConnection: close" : "") +
         "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

// One client action on a fresh connection; the replies themselves are not the point here.
void act(uint16_t port, const std::string& key, std::mt19937& rng) {
  HttpClient c(port);
  if (!c.connected()) return;
  auto& sock = c.stream().socket();
  c.stream().expires_after(std::chrono::seconds(10));
  const int kind = static_cast<int>(rng() % 7);
  const bool stream = rng() % 2 == 0;
  const int max_tokens = 1 + static_cast<int>(rng() % 30);
  // The last request asks the server to close after its answer: reading to the end of the
  // connection reads every answer.
  std::string bytes = request_bytes(key, stream, max_tokens, kind != 2);
  if (kind == 2) bytes += request_bytes(key, !stream, max_tokens, true);  // pipelined pair
  if (kind == 3) bytes += "\r\n";                                          // stray bytes
  boost::system::error_code ec;
  if (kind == 4) {  // gone in the middle of the request
    net::write(sock, net::buffer(bytes.substr(0, rng() % bytes.size())), ec);
    return;
  }
  net::write(sock, net::buffer(bytes), ec);
  if (ec) return;
  // Read to the end (kind 5: only part of it, then leave; kind 6: slowly).
  const size_t stop_after = kind == 5 ? 1 + rng() % 400 : SIZE_MAX;
  const size_t chunk = kind == 6 ? 7 : 4096;
  size_t got = 0;
  char buf[4096];
  while (got < stop_after) {
    const size_t n = c.stream().read_some(net::buffer(buf, chunk), ec);
    if (ec) break;
    got += n;
    if (kind == 6) std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
}

class RequestModelTest : public ::testing::TestWithParam<uint32_t> {};

TEST_P(RequestModelTest, EveryAdmittedRequestIsAuditedOnceAndChargedExactly) {
  const fs::path dir = fs::current_path() / ("request_model_" + std::to_string(::getpid()) + "_" +
                                             std::to_string(GetParam()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  trust::Policy policy = trust::default_policy();
  policy.signing_key_file = (dir / "operator.key").string();
  policy.audit_db = (dir / "audit.db").string();
  policy.keys_db = (dir / "keys.db").string();
  auto tl = trust::TrustLayer::open(policy);
  ASSERT_TRUE(tl.ok()) << tl.message();
  std::shared_ptr<trust::TrustLayer> trust(std::move(tl).value().release());
  std::vector<std::string> keys;
  for (int i = 0; i < 4; ++i) {
    trust::KeyInfo k;
    k.name = "client" + std::to_string(i);
    k.scopes = trust::kScopeInfer;
    k.tokens_per_day = i == 0 ? 80 : 0;  // client 0 runs out of tokens
    auto key = trust->create_key("test", k);
    ASSERT_TRUE(key.ok()) << key.message();
    keys.push_back(*key);
  }
  Tally tally;
  auto engine = std::make_unique<FakeEngine>(tiny_tokenizer(), 256);
  engine->tokens = 12;
  ServerOptions o;
  o.port = 0;
  o.model_name = "tiny";
  o.hooks = std::make_shared<CountingHooks>(make_trust_hooks(trust, std::string(64, 'a')), &tally);
  auto s = Server::create(std::move(o));
  ASSERT_TRUE(s.ok()) << s.message();
  auto server = std::move(s).value();
  server->set_engine(engine.get());
  server->start();
  const uint16_t port = server->port();

  std::atomic<bool> clients_done{false};
  std::thread op([&] {  // the operator: pauses, resumes, revokes one key half way
    std::mt19937 rng(GetParam() * 7919u);
    for (int i = 0; !clients_done.load(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5 + rng() % 20));
      HttpClient c(port);
      if (rng() % 3 == 0) {
        c.post("/admin/pause", json{{"cancel_in_flight", rng() % 2 == 0}});
        std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 10));
      }
      c.post("/admin/resume", json::object());
      if (i == 10) c.post("/admin/keys/revoke", json{{"key_id", keys[3].substr(5, 16)}});
    }
    HttpClient c(port);
    c.post("/admin/resume", json::object());
  });
  std::vector<std::thread> clients;
  for (int t = 0; t < 4; ++t) {
    clients.emplace_back([&, t] {
      std::mt19937 rng(GetParam() * 104729u + static_cast<uint32_t>(t));
      for (int i = 0; i < 24; ++i) act(port, keys[static_cast<size_t>(t)], rng);
    });
  }
  for (auto& c : clients) c.join();
  clients_done = true;
  op.join();
  server->request_stop(true);  // drain: running requests finish, then the server stops
  server->wait();
  server.reset();
  for (int i = 0; i < 400 && engine->stats().running != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(engine->stats().running, 0u) << "engine work left running";
  engine->shutdown(false);
  ASSERT_TRUE(trust->flush().ok());

  // The trail, read as another process would, and its chain.
  auto log = trust::AuditLog::open(policy.audit_db, policy);
  ASSERT_TRUE(log.ok()) << log.message();
  trust::ChainReport rep = (*log)->verify();
  EXPECT_TRUE(rep.ok) << rep.message;
  const fs::path out = dir / "export.jsonl";
  std::FILE* f = std::fopen(out.string().c_str(), "w");
  ASSERT_TRUE((*log)->export_to(f, {}, trust::ExportFormat::kJsonl).ok());
  std::fclose(f);
  std::map<std::string, int> rows_by_key;
  std::map<std::string, int64_t> tokens_by_key;
  std::set<std::string> ids;
  int rows = 0;
  std::ifstream in(out);
  for (std::string line; std::getline(in, line);) {
    json j = json::parse(line, nullptr, false);
    if (!j.is_object() || j["kind"] != "request") continue;
    const json& r = j["record"];
    ++rows;
    EXPECT_TRUE(ids.insert(r["request_id"].get<std::string>()).second) << "two rows for " << r;
    const std::string key = r["key_id"];
    ++rows_by_key[key];
    if (r["status"] != "rejected") {
      tokens_by_key[key] += r["prompt_tokens"].get<int64_t>() + r["completion_tokens"].get<int64_t>();
    }
  }
  std::lock_guard<std::mutex> l(tally.mu);
  EXPECT_GT(tally.admits, 40);  // the run did exercise the path
  EXPECT_EQ(tally.double_finishes, 0);
  EXPECT_EQ(tally.finishes, tally.admits);
  EXPECT_EQ(rows, tally.admits);
  EXPECT_EQ(rows_by_key, tally.admitted);
  for (const auto& key : keys) {
    const std::string id = key.substr(5, 16);
    EXPECT_EQ(trust->tokens_charged(id), tokens_by_key[id]) << "key " << id;
  }
  EXPECT_GT(rows_by_key[keys[0].substr(5, 16)], 0);
  trust.reset();
  fs::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(Seeds, RequestModelTest, ::testing::Values(1u, 2u, 3u));

}  // namespace
}  // namespace dari::server::test
