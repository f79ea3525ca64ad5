#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "trust_test_util.h"

namespace dari::trust {
namespace {

using testing::fresh_dir;
using testing::policy_in;

struct Fixture {
  std::string dir = fresh_dir();
  std::shared_ptr<std::atomic<int64_t>> clock =
      std::make_shared<std::atomic<int64_t>>(1764000000000);
  std::vector<std::string> incidents;
  std::unique_ptr<TrustLayer> trust;

  explicit Fixture(Policy p = {}, bool in_dir = true) {
    if (in_dir)
      p = [&] {
        Policy q = policy_in(dir);
        q.require_keys = p.require_keys;
        return q;
      }();
    TrustOptions o;
    auto c = clock;
    o.clock_ms = [c] { return c->load(); };
    o.on_incident = [this](const std::string& j) { incidents.push_back(j); };
    auto t = TrustLayer::open(p, o);
    EXPECT_TRUE(t.ok()) << t.message();
    trust = std::move(*t);
  }
  std::string key(const char* scopes, int64_t rpm = 0, int64_t tpd = 0) {
    KeyInfo k;
    k.name = "test";
    k.scopes = *parse_scopes(scopes);
    k.requests_per_minute = rpm;
    k.tokens_per_day = tpd;
    auto tok = trust->create_key("admin@test", k);
    EXPECT_TRUE(tok.ok()) << tok.message();
    return "Bearer " + *tok;
  }
  AuthDecision ask(const std::string& auth, const char* client = "203.0.113.5",
                   Scope s = kScopeInfer) {
    return trust->authorize({auth, client, s, "/v1/chat/completions"});
  }
};

TEST(TrustLayer, LoopbackNeedsNoKeyByDefaultButRemoteDoes) {
  Fixture f;
  EXPECT_EQ(f.ask("", "127.0.0.1").http_status, 200);
  EXPECT_EQ(f.ask("", "::1").http_status, 200);
  AuthDecision d = f.ask("", "203.0.113.5");
  EXPECT_EQ(d.http_status, 401);
  EXPECT_NE(d.error_json().find("\"code\":\"invalid_api_key\""), std::string::npos);
  // With no key in the database, a placeholder token where none is required is served (SDKs
  // insist on sending one); away from loopback it is still refused.
  EXPECT_EQ(f.ask("Bearer sk-no-key-required", "127.0.0.1").http_status, 200);
  EXPECT_EQ(f.ask("Bearer sk-no-key-required", "203.0.113.5").http_status, 401);
  std::string k = f.key("infer");
  // Once a key exists, every token is checked, even on loopback: a bad key is bad.
  EXPECT_EQ(f.ask("Bearer dari_nonsense", "127.0.0.1").http_status, 401);
  EXPECT_EQ(f.ask("Bearer sk-no-key-required", "127.0.0.1").http_status, 401);
  EXPECT_EQ(f.ask(k).http_status, 200);
  EXPECT_EQ(f.ask(k).grant.key_id(), k.substr(12, 16));
  std::string wrong = k;
  wrong.back() = wrong.back() == 'A' ? 'B' : 'A';
  EXPECT_EQ(f.ask(wrong).http_status, 401);
}

TEST(TrustLayer, ScopesGive403) {
  Fixture f;
  std::string infer = f.key("infer"), admin = f.key("admin,metrics");
  EXPECT_EQ(f.ask(infer, "10.0.0.1", kScopeAdmin).http_status, 403);
  EXPECT_EQ(f.ask(infer, "10.0.0.1", kScopeMetrics).http_status, 403);
  EXPECT_EQ(f.ask(admin, "10.0.0.1", kScopeInfer).http_status, 403);
  EXPECT_EQ(f.ask(admin, "10.0.0.1", kScopeMetrics).http_status, 200);
}

TEST(TrustLayer, RequestQuotaGives429WithRetryAfter) {
  Fixture f;
  std::string k = f.key("infer", /*rpm=*/3);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(f.ask(k).http_status, 200) << i;
  AuthDecision d = f.ask(k);
  EXPECT_EQ(d.http_status, 429);
  EXPECT_EQ(d.retry_after_s, 20);  // one request refills in 60 s / 3
  EXPECT_NE(d.error_json().find("rate_limit_exceeded"), std::string::npos);
  *f.clock += 20000;
  EXPECT_EQ(f.ask(k).http_status, 200);
  EXPECT_EQ(f.ask(k).http_status, 429);
}

TEST(TrustLayer, TokenQuotaGives429AfterCharging) {
  Fixture f;
  std::string k = f.key("infer", 0, /*tokens per day=*/1000);
  AuthDecision d = f.ask(k);
  ASSERT_EQ(d.http_status, 200);
  f.trust->charge_tokens(d.grant, 1500);
  AuthDecision over = f.ask(k);
  EXPECT_EQ(over.http_status, 429);
  EXPECT_GT(over.retry_after_s, 0);
  *f.clock += 86400000;  // a day later the bucket is full again
  EXPECT_EQ(f.ask(k).http_status, 200);
}

TEST(TrustLayer, PauseGives503AndResumeRestores) {
  Fixture f;
  std::string admin = f.key("admin");
  ASSERT_TRUE(f.trust->pause("ops", "incident 42 under review", false).ok());
  AuthDecision d = f.ask("", "127.0.0.1");
  EXPECT_EQ(d.http_status, 503);
  EXPECT_NE(d.message.find("incident 42"), std::string::npos);
  EXPECT_EQ(f.ask(admin, "10.0.0.1", kScopeAdmin).http_status, 200);  // admins still work
  ASSERT_TRUE(f.trust->resume("ops").ok());
  EXPECT_EQ(f.ask("", "127.0.0.1").http_status, 200);
}

TEST(TrustLayer, PauseWithCancelStopsInFlightGrants) {
  Fixture f;
  AuthDecision keep = f.ask("", "127.0.0.1");
  ASSERT_TRUE(keep.grant.valid());
  ASSERT_TRUE(f.trust->pause("ops", "", /*cancel_in_flight=*/false).ok());
  EXPECT_TRUE(keep.grant.valid());  // finishes
  ASSERT_TRUE(f.trust->pause("ops", "", /*cancel_in_flight=*/true).ok());
  EXPECT_FALSE(keep.grant.valid());  // cancelled
  ASSERT_TRUE(f.trust->resume("ops").ok());
  EXPECT_TRUE(f.ask("", "127.0.0.1").grant.valid());
  EXPECT_TRUE(Grant{}.valid());
}

TEST(TrustLayer, RevokedKeyStopsAnActiveStream) {
  Fixture f;
  std::string k = f.key("infer");
  AuthDecision d = f.ask(k);
  ASSERT_EQ(d.http_status, 200);
  std::atomic<bool> started{false};
  std::atomic<int> chunks{0};
  std::thread stream([&] {  // what the server's decode loop does per chunk
    started = true;
    while (d.grant.valid()) {
      ++chunks;
      std::this_thread::yield();
    }
  });
  while (!started) std::this_thread::yield();
  ASSERT_TRUE(f.trust->revoke_key("ops", d.grant.key_id()).ok());
  stream.join();  // returns only because valid() turned false
  EXPECT_FALSE(d.grant.valid());
  EXPECT_EQ(f.ask(k).http_status, 401);
}

TEST(TrustLayer, RevocationFromAnotherProcessReachesStreams) {
  Fixture f;
  std::string k = f.key("infer");
  AuthDecision d = f.ask(k);
  auto other = KeyStore::open(f.trust->policy().keys_db);  // as `dari keys revoke` would
  ASSERT_TRUE(other.ok());
  ASSERT_TRUE((*other)->revoke(d.grant.key_id(), 1).ok());
  EXPECT_TRUE(d.grant.valid());
  ASSERT_TRUE(f.trust->refresh_revocations().ok());
  EXPECT_FALSE(d.grant.valid());
}

TEST(TrustLayer, RepeatedAuthFailuresRaiseOneIncident) {
  Policy p;
  Fixture f(p);
  for (int i = 0; i < 25; ++i) (void)f.ask("Bearer wrong", "198.51.100.7");
  ASSERT_EQ(f.incidents.size(), 1u);
  EXPECT_NE(f.incidents[0].find("repeated_auth_failures"), std::string::npos);
  auto listed = f.trust->audit()->incidents(0);
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_NE((*listed)[0].find("198.51.100.7"), std::string::npos);
  ASSERT_TRUE(f.trust->record_incident("policy_violation", "test").ok());
  EXPECT_EQ(f.trust->audit()->incidents(0)->size(), 2u);
}

TEST(TrustLayer, SignsRecordsAndAuditsAdminActions) {
  Fixture f;
  Provenance p = f.trust->sign({"dari-tiny", std::string(64, 'b'), "r1", 1}, "text");
  EXPECT_TRUE(verify_provenance(p, "text", f.trust->signing_key().public_key_base64()).intact);
  EXPECT_EQ(p.operator_name, f.trust->policy().operator_name);
  AuditRecord r;
  r.request_id = "r1";
  r.status = "error";
  r.http_status = 500;
  r.error = "decode crashed";
  ASSERT_TRUE(f.trust->record(r).ok());  // also an incident
  ASSERT_TRUE(f.trust->record_feedback("r1", 1, "helpful").ok());
  EXPECT_FALSE(f.trust->record_feedback("r1", 9, "").ok());
  ASSERT_TRUE(f.trust->pause("ops", "check", false).ok());
  (void)f.key("infer");
  std::string path = f.dir + "/export.jsonl";
  std::FILE* out = std::fopen(path.c_str(), "wb");
  ASSERT_TRUE(f.trust->audit()->export_to(out, {}, ExportFormat::kJsonl).ok());
  std::fclose(out);
  std::string all = testing::slurp(path);
  EXPECT_NE(all.find("\"kind\":\"incident\""), std::string::npos);
  EXPECT_NE(all.find("\"kind\":\"feedback\""), std::string::npos);
  EXPECT_NE(all.find("\"action\":\"pause\""), std::string::npos);
  EXPECT_NE(all.find("\"action\":\"create_key\""), std::string::npos);
  EXPECT_TRUE(f.trust->audit()->verify().ok);
}

}  // namespace
}  // namespace dari::trust

namespace dari::trust {
namespace {

TEST(TrustLayer, AsyncRecordsAreGroupCommittedInOneChain) {
  Fixture f;
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&f, t] {
      for (int i = 0; i < 50; ++i) {
        AuditRecord r;
        r.request_id = "t" + std::to_string(t) + "-" + std::to_string(i);
        f.trust->record_async(std::move(r));
      }
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_TRUE(f.trust->flush().ok());
  ChainReport r = f.trust->audit()->verify();
  EXPECT_TRUE(r.ok) << r.message;
  EXPECT_EQ(r.rows, 400);
  EXPECT_EQ(f.ask("", "[::1]:5000").http_status, 200);  // loopback with a port
  EXPECT_EQ(f.ask("", "192.0.2.1:5000").http_status, 401);
}

}  // namespace
}  // namespace dari::trust
