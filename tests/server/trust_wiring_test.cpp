// The trust layer wired into the HTTP server (TrustHooks) against FakeEngine: disclosure
// headers, signed provenance (non-streaming and SSE), labels, keys, quotas, pause/resume,
// revocation of an active stream, feedback and the audit trail.
#include <gtest/gtest.h>

#include <unistd.h>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "dari/server/server.h"
#include "dari/server/trust_hooks.h"
#include "dari/trust/trust.h"
#include "fake_engine.h"
#include "trust_server.h"
#include "http_client.h"
#include "trust/hook_listener.h"

namespace dari::server::test {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

std::string b64_json(const std::string& header) {
  auto d = trust::base64_decode(header);
  return d.ok() ? *d : std::string();
}

class TrustWiringTest : public TrustServerTest {
 protected:
  void SetUp() override {
    TrustServerTest::SetUp();
    policy_.operator_name = "Test Operator";
  }
  json chat_body(bool stream = false) {
    json b = {{"model", "tiny"}, {"messages", {{{"role", "user"}, {"content", "hello"}}}}};
    if (stream) b["stream"] = true;
    return b;
  }
  HttpResult chat(bool stream, const std::string& key = "") {
    HttpClient c(port_);
    std::map<std::string, std::string> h;
    if (!key.empty()) h["Authorization"] = "Bearer " + key;
    return c.request(http::verb::post, "/v1/chat/completions", chat_body(stream).dump(), h);
  }
  HttpResult admin(const std::string& path, const json& body, const std::string& key = "") {
    HttpClient c(port_);
    std::map<std::string, std::string> h;
    if (!key.empty()) h["Authorization"] = "Bearer " + key;
    return c.request(http::verb::post, path, body.dump(), h);
  }
  std::string new_key(uint32_t scopes, int64_t per_minute = 0) {
    trust::KeyInfo k;
    k.name = "test";
    k.scopes = scopes;
    k.requests_per_minute = per_minute;
    k.tokens_per_day = 0;
    auto r = trust_->create_key("test", k);
    EXPECT_TRUE(r.ok()) << r.message();
    return r.ok() ? *r : std::string();
  }
  // Text of an SSE transcript: the concatenated deltas of choice 0, and its provenance chunk.
  static std::string stream_text(const std::vector<json>& evs, json* provenance) {
    std::string text;
    for (const auto& e : evs) {
      if (e.contains("provenance")) *provenance = e["provenance"];
      if (!e.contains("choices") || e["choices"].empty()) continue;
      const json& d = e["choices"][0]["delta"];
      if (d.contains("content")) text += d["content"].get<std::string>();
    }
    return text;
  }
  void expect_verifies(const json& prov, const std::string& text) {
    auto p = trust::provenance_from_json(prov.dump());
    ASSERT_TRUE(p.ok()) << p.message();
    const std::string pub = trust_->signing_key().public_key_base64();
    auto v = trust::verify_provenance(*p, text, pub);
    EXPECT_TRUE(v.intact) << v.reason;
    EXPECT_TRUE(v.key_trusted);
    EXPECT_EQ(p->facts.model, "tiny");
    EXPECT_EQ(p->facts.model_sha256, std::string(64, 'a'));
    EXPECT_EQ(p->operator_name, "Test Operator");
    std::string altered = text;
    altered[altered.size() / 2] = static_cast<char>(altered[altered.size() / 2] ^ 1);
    EXPECT_FALSE(trust::verify_provenance(*p, altered, pub).intact);
  }

};

TEST_F(TrustWiringTest, NonStreamingCarriesHeadersAndSignedProvenance) {
  start();
  auto r = chat(false);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.headers["X-AI-Generated"], "true");
  json j = r.json();
  const std::string content = j["choices"][0]["message"]["content"];
  ASSERT_TRUE(j.contains("provenance"));
  EXPECT_EQ(j["provenance"]["request_id"], j["id"]);
  expect_verifies(j["provenance"], content);
  // The header carries the same signed object.
  EXPECT_EQ(json::parse(b64_json(r.headers["X-AI-Provenance"]), nullptr, false), j["provenance"]);
  // `dari verify`'s extraction of a saved response agrees.
  auto saved = trust::extract_saved_response(r.body);
  ASSERT_TRUE(saved.ok()) << saved.message();
  EXPECT_TRUE(trust::verify_provenance(saved->second, saved->first, "").intact);
  // /v1/models states that the model is generative.
  HttpClient c(port_);
  json m = c.get("/v1/models").json();
  EXPECT_EQ(m["data"][0]["generative"], true);
  EXPECT_EQ(m["data"][0]["ai_generated_output"], true);
}

TEST_F(TrustWiringTest, StreamingCarriesStreamHeaderAndSignedFinalChunk) {
  start();
  auto r = chat(true);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.headers["X-AI-Generated"], "true");
  json h = json::parse(b64_json(r.headers["X-AI-Provenance"]), nullptr, false);
  EXPECT_EQ(h["signed_in"], "final_chunk");
  bool done = false;
  auto evs = sse_events(r.body, &done);
  EXPECT_TRUE(done);
  json prov;
  const std::string text = stream_text(evs, &prov);
  ASSERT_TRUE(prov.is_object()) << r.body;
  EXPECT_EQ(prov["request_id"], h["request_id"]);
  EXPECT_EQ(text, "w0 w1 w2 w3 w4 ");
  expect_verifies(prov, text);
  auto saved = trust::extract_saved_response(r.body);
  ASSERT_TRUE(saved.ok()) << saved.message();
  EXPECT_EQ(saved->first, text);
}

TEST_F(TrustWiringTest, VisibleLabelIsDeliveredAndSigned) {
  policy_.label_placement = trust::LabelPlacement::kAppend;
  policy_.label_language = "en";
  start();
  auto r = chat(false);
  ASSERT_EQ(r.status, 200) << r.body;
  const std::string content = r.json()["choices"][0]["message"]["content"];
  EXPECT_EQ(content, trust::apply_label(policy_, "w0 w1 w2 w3 w4 "));
  expect_verifies(r.json()["provenance"], content);
  auto s = chat(true);
  bool done = false;
  json prov;
  const std::string text = stream_text(sse_events(s.body, &done), &prov);
  EXPECT_EQ(text, trust::apply_label(policy_, "w0 w1 w2 w3 w4 "));
  expect_verifies(prov, text);
}

TEST_F(TrustWiringTest, KeyRequiredGives401AndAKeyIsAccepted) {
  policy_.require_keys = trust::KeyRequirement::kAlways;
  start();
  auto r = chat(false);
  EXPECT_EQ(r.status, 401) << r.body;
  EXPECT_EQ(r.json()["error"]["type"], "invalid_request_error");
  EXPECT_EQ(chat(false, "dari_0000000000000000_nope").status, 401);
  EXPECT_EQ(engine_->submitted(), 0u);
  const std::string key = new_key(trust::kScopeInfer);
  EXPECT_EQ(chat(false, key).status, 200);
}

TEST_F(TrustWiringTest, RequestQuotaGives429WithRetryAfter) {
  start();
  const std::string key = new_key(trust::kScopeInfer, 2);
  EXPECT_EQ(chat(false, key).status, 200);
  EXPECT_EQ(chat(false, key).status, 200);
  auto r = chat(false, key);
  EXPECT_EQ(r.status, 429) << r.body;
  EXPECT_EQ(r.json()["error"]["type"], "rate_limit_exceeded");
  ASSERT_FALSE(r.headers["Retry-After"].empty());
  EXPECT_GT(std::stoi(r.headers["Retry-After"]), 0);
}

TEST_F(TrustWiringTest, PauseGives503AndResumeRestores) {
  start();
  auto p = admin("/admin/pause", {{"reason", "maintenance"}});
  ASSERT_EQ(p.status, 200) << p.body;
  auto r = chat(false);
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_NE(r.body.find("maintenance"), std::string::npos);
  EXPECT_EQ(admin("/admin/resume", json::object()).status, 200);
  EXPECT_EQ(chat(false).status, 200);
  // An infer-only key may not use the admin routes.
  const std::string key = new_key(trust::kScopeInfer);
  EXPECT_EQ(admin("/admin/pause", json::object(), key).status, 403);
  EXPECT_FALSE(trust_->paused());
}

TEST_F(TrustWiringTest, RevokingAKeyStopsItsActiveStream) {
  start();
  const std::string key = new_key(trust::kScopeInfer);
  const std::string key_id = key.substr(5, 16);
  engine_->hold = true;  // streams until cancelled
  HttpClient c(port_);
  ASSERT_TRUE(c.start_post("/v1/chat/completions", chat_body(true).dump(),
                           {{"Authorization", "Bearer " + key}}));
  std::string got;
  ASSERT_TRUE(c.read_until(&got, "w2")) << got;
  auto rv = admin("/admin/keys/revoke", {{"key_id", key_id}});
  ASSERT_EQ(rv.status, 200) << rv.body;
  c.read_until(&got, "[DONE]");
  EXPECT_NE(got.find("key_revoked"), std::string::npos) << got.substr(got.size() - 300);
  for (int i = 0; i < 2000 && engine_->stats().running != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(engine_->stats().running, 0u);
  EXPECT_EQ(engine_->stats().requests_cancelled, 1u);
  EXPECT_EQ(chat(false, key).status, 401);
}

TEST_F(TrustWiringTest, PauseWithCancellationEndsActiveStreamsWith503) {
  start();
  engine_->hold = true;  // streams until cancelled
  HttpClient c(port_);
  ASSERT_TRUE(c.start_post("/v1/chat/completions", chat_body(true).dump()));
  std::string got;
  ASSERT_TRUE(c.read_until(&got, "w2")) << got;
  auto p = admin("/admin/pause", {{"reason", "incident"}, {"cancel_in_flight", true}});
  ASSERT_EQ(p.status, 200) << p.body;
  c.read_until(&got, "[DONE]");
  EXPECT_NE(got.find("\"code\":\"paused\""), std::string::npos) << got.substr(got.size() - 300);
  for (int i = 0; i < 2000 && engine_->stats().running != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(engine_->stats().running, 0u);
  EXPECT_EQ(admin("/admin/resume", json::object()).status, 200);
  engine_->hold = false;
  EXPECT_EQ(chat(false).status, 200);
}

TEST_F(TrustWiringTest, CompletedRequestsAreAuditedInAnIntactChain) {
  start();
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    auto r = chat(i == 1);
    ASSERT_EQ(r.status, 200);
    if (i != 1) ids.push_back(r.json()["id"]);
  }
  // No key exists yet: a loopback client's placeholder token (the OpenAI SDKs need one) is
  // served as keyless; once a key exists the same token is refused (and not audited).
  EXPECT_EQ(chat(false, "sk-no-key-required").status, 200);
  ids.push_back(chat(false, "dari_0000000000000000_unknown").json()["id"]);
  new_key(trust::kScopeInfer);
  EXPECT_EQ(chat(false, "dari_0000000000000000_unknown").status, 401);
  EXPECT_EQ(chat(false, "sk-no-key-required").status, 401);
  auto fb = admin("/v1/feedback", {{"request_id", ids[0]}, {"rating", 1}, {"text", "good"}});
  EXPECT_EQ(fb.status, 200) << fb.body;
  ASSERT_TRUE(trust_->flush().ok());
  // A second reader of the file (as `dari audit verify` would be).
  auto log = trust::AuditLog::open(policy_.audit_db, policy_);
  ASSERT_TRUE(log.ok()) << log.message();
  trust::ChainReport rep = (*log)->verify();
  EXPECT_TRUE(rep.ok) << rep.message;
  EXPECT_EQ(rep.rows, 7);  // five served requests, the key creation and the feedback
  const fs::path out = dir_ / "export.jsonl";
  std::FILE* f = std::fopen(out.string().c_str(), "w");
  ASSERT_NE(f, nullptr);
  ASSERT_TRUE((*log)->export_to(f, {}, trust::ExportFormat::kJsonl).ok());
  std::fclose(f);
  std::ifstream in(out);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  for (const auto& id : ids) EXPECT_NE(text.find(id), std::string::npos) << id;
  EXPECT_NE(text.find("feedback"), std::string::npos);
}

// The id of a response: the JSON body's "id" or, for a stream, the first event's.
std::string response_id(const std::string& body) {
  const std::string key = "\"id\":\"";
  size_t at = body.find(key);
  if (at == std::string::npos) return {};
  size_t end = body.find('"', at + key.size());
  return end == std::string::npos ? std::string()
                                  : body.substr(at + key.size(), end - at - key.size());
}

// The trail as JSON Lines, read through a second connection to the file (as another process).
std::string exported(const trust::Policy& p, const fs::path& out) {
  auto log = trust::AuditLog::open(p.audit_db, p);
  EXPECT_TRUE(log.ok()) << log.message();
  if (!log.ok()) return {};
  std::FILE* f = std::fopen(out.string().c_str(), "w");
  if (f == nullptr) return {};
  EXPECT_TRUE((*log)->export_to(f, {}, trust::ExportFormat::kJsonl).ok());
  std::fclose(f);
  std::ifstream in(out);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Crash safety: a response's last bytes ("data: [DONE]", the JSON body) leave only once its
// audit record is committed, so the record is on disk as soon as the client has the response
// (no flush()); a kill -9 at that moment cannot lose it.
TEST_F(TrustWiringTest, ResponseEndsOnlyAfterItsRecordIsDurable) {
  start();
  for (int i = 0; i < 6; ++i) {
    const bool stream = i % 2 == 1;
    auto r = chat(stream);
    ASSERT_EQ(r.status, 200) << r.body;
    if (stream) {
      EXPECT_NE(r.body.find("data: [DONE]"), std::string::npos);
    }
    const std::string id = response_id(r.body);
    ASSERT_FALSE(id.empty()) << r.body;
    EXPECT_NE(exported(policy_, dir_ / "export.jsonl").find("\"" + id + "\""), std::string::npos)
        << "request " << id << " (stream " << stream << ") answered before its record was durable";
  }
}

// With audit off nothing is held back: streams and bodies complete as before.
TEST_F(TrustWiringTest, AuditOffStillAnswersCompletely) {
  policy_.audit = false;
  start();
  auto r = chat(true);
  ASSERT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("data: [DONE]"), std::string::npos);
  auto j = chat(false);
  ASSERT_EQ(j.status, 200);
  EXPECT_TRUE(j.json().contains("provenance"));
  EXPECT_EQ(trust_->audit(), nullptr);
}

// Repeated 401s from one address (each on a new connection, so a new port) are one incident,
// recorded in the trail and POSTed to the policy's webhook.
TEST_F(TrustWiringTest, AuthFailureBurstIsAnIncidentPostedToTheWebhook) {
  trust::testing::HookListener hook({204});
  policy_.require_keys = trust::KeyRequirement::kAlways;
  policy_.auth_failures_per_minute = 4;
  policy_.incident_webhook = "http://127.0.0.1:" + std::to_string(hook.port()) + "/incidents";
  start();
  for (int i = 0; i < 6; ++i) EXPECT_EQ(chat(false, "dari_00000000000000ff_nope").status, 401);
  auto list = trust_->audit()->incidents(0);
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_NE((*list)[0].find("repeated_auth_failures"), std::string::npos);
  EXPECT_NE((*list)[0].find("127.0.0.1"), std::string::npos) << (*list)[0];
  for (int i = 0; i < 1000 && hook.bodies().empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(hook.bodies().size(), 1u);
  EXPECT_NE(hook.bodies()[0].find("repeated_auth_failures"), std::string::npos);
}

// One end-to-end run with the real engine: the provenance names the model file's SHA-256 and
// verifies over the generated text.
TEST(TrustWiringE2E, RealEngineResponseIsSignedOverTheModelFile) {
  const fs::path dir = fs::current_path() / ("trust_wiring_e2e_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  trust::Policy policy = trust::default_policy();
  policy.signing_key_file = (dir / "operator.key").string();
  policy.audit_db = (dir / "audit.db").string();
  policy.keys_db = (dir / "keys.db").string();
  auto t = trust::TrustLayer::open(policy);
  ASSERT_TRUE(t.ok()) << t.message();
  std::shared_ptr<trust::TrustLayer> tl(std::move(t).value().release());
  const std::string model = std::string(DARI_SOURCE_DIR) + "/models/dari-tiny.gguf";
  auto sha = trust::sha256_file_hex(model);
  ASSERT_TRUE(sha.ok()) << sha.message();
  ServingOptions eo;
  eo.model_path = model;
  eo.n_ctx = 256;
  eo.max_running = 2;
  eo.n_threads = 2;
  auto e = ServingEngine::start(eo);
  ASSERT_TRUE(e.ok()) << e.message();
  ServerOptions so;
  so.port = 0;
  so.model_name = "dari-tiny";
  so.hooks = make_trust_hooks(tl, *sha);
  auto s = Server::create(so);
  ASSERT_TRUE(s.ok()) << s.message();
  (*s)->set_engine(e->get());
  (*s)->start();
  {
    HttpClient c((*s)->port());
    json b = {{"model", "dari-tiny"},
              {"messages", {{{"role", "user"}, {"content", "And it came to pass"}}}},
              {"max_tokens", 8},
              {"temperature", 0}};
    auto r = c.post("/v1/chat/completions", b);
    ASSERT_EQ(r.status, 200) << r.body;
    json j = r.json();
    auto p = trust::provenance_from_json(j["provenance"].dump());
    ASSERT_TRUE(p.ok()) << p.message();
    EXPECT_EQ(p->facts.model_sha256, *sha);
    const std::string text = j["choices"][0]["message"]["content"];
    auto v = trust::verify_provenance(*p, text, tl->signing_key().public_key_base64());
    EXPECT_TRUE(v.intact && v.key_trusted) << v.reason;
    EXPECT_FALSE(trust::verify_provenance(*p, text + " ", "").intact);
  }
  (*s)->request_stop(false);
  (*s)->wait();
  (*e)->shutdown(false);
  s->reset();
  ASSERT_TRUE(tl->flush().ok());
  trust::ChainReport rep = tl->audit()->verify();
  EXPECT_TRUE(rep.ok) << rep.message;
  EXPECT_EQ(rep.rows, 1);
  tl.reset();
  fs::remove_all(dir);
}

}  // namespace
}  // namespace dari::server::test
