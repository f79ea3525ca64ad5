// Incident detection (repeated auth failures per address or key, error bursts), the incident
// webhook (received by a loopback listener in the test), the retention timer and the durable
// callback of record_async.
#include <gtest/gtest.h>

#include <chrono>
#include <ctime>
#include <future>
#include <thread>

#include "trust/hook_listener.h"
#include "trust/incidents.h"
#include "trust/webhook.h"
#include "trust_test_util.h"

namespace dari::trust {
namespace {

using testing::fresh_dir;
using testing::HookListener;
using testing::policy_in;
using testing::slurp;

// Waits (bounded, 10 s) until `pred` holds; the tests assert on the result, never on time.
template <class Pred>
bool eventually(Pred pred) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

std::unique_ptr<TrustLayer> open_layer(const Policy& p) {
  auto t = TrustLayer::open(p);
  EXPECT_TRUE(t.ok()) << t.message();
  return t.ok() ? std::move(t).value() : nullptr;
}

std::vector<std::string> incidents_of(TrustLayer& t) {
  auto list = t.audit()->incidents(0);
  EXPECT_TRUE(list.ok());
  return list.ok() ? *list : std::vector<std::string>{};
}

TEST(Incidents, ClientHostDropsThePort) {
  EXPECT_EQ(client_host("203.0.113.5:40000"), "203.0.113.5");
  EXPECT_EQ(client_host("[2001:db8::1]:443"), "2001:db8::1");
  EXPECT_EQ(client_host("2001:db8::1"), "2001:db8::1");
  EXPECT_EQ(client_host("localhost"), "localhost");
}

TEST(Incidents, MonitorCountsPerAddressAndPerKeyWithinTheWindow) {
  IncidentThresholds t;
  t.auth_failures = 3;
  t.auth_window_ms = 1000;
  IncidentMonitor m(t);
  // One address on changing ports: the third failure is the incident.
  EXPECT_FALSE(m.auth_failure("198.51.100.7:1000", "", 0));
  EXPECT_FALSE(m.auth_failure("198.51.100.7:1001", "", 10));
  auto third = m.auth_failure("198.51.100.7:1002", "", 20);
  ASSERT_TRUE(third.has_value());
  EXPECT_NE(third->find("198.51.100.7"), std::string::npos);
  EXPECT_FALSE(m.auth_failure("198.51.100.7:1003", "", 30));  // once per window
  // One key from many addresses.
  EXPECT_FALSE(m.auth_failure("192.0.2.1:1", "00112233aabbccdd", 40));
  EXPECT_FALSE(m.auth_failure("192.0.2.2:1", "00112233aabbccdd", 50));
  auto by_key = m.auth_failure("192.0.2.3:1", "00112233aabbccdd", 60);
  ASSERT_TRUE(by_key.has_value());
  EXPECT_NE(by_key->find("00112233aabbccdd"), std::string::npos);
  // A new window starts counting again.
  EXPECT_FALSE(m.auth_failure("198.51.100.7:1", "", 2000));
}

TEST(Incidents, ErrorBurstIsReportedOncePerWindow) {
  IncidentThresholds t;
  t.error_burst = 4;
  t.error_window_ms = 1000;
  IncidentMonitor m(t);
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(m.request_error(i));
  EXPECT_TRUE(m.request_error(3).has_value());
  EXPECT_FALSE(m.request_error(4).has_value());
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(m.request_error(5000 + i));
  EXPECT_TRUE(m.request_error(5003).has_value());
}

TEST(Incidents, AuthFailureBurstWithOneKeyIsRecorded) {
  std::string dir = fresh_dir();
  Policy p = policy_in(dir);
  p.auth_failures_per_minute = 5;
  auto t = open_layer(p);
  ASSERT_TRUE(t);
  const std::string token = "Bearer dari_0123456789abcdef_" + std::string(43, 'x');
  for (int i = 0; i < 5; ++i) {
    const std::string client = "203.0.113." + std::to_string(i) + ":5" + std::to_string(i);
    RequestMeta m;
    m.authorization = token;
    m.client = client;
    m.endpoint = "/v1/chat/completions";
    EXPECT_EQ(t->authorize(m).http_status, 401);
  }
  auto list = incidents_of(*t);
  ASSERT_EQ(list.size(), 1u);
  EXPECT_NE(list[0].find("repeated_auth_failures"), std::string::npos);
  EXPECT_NE(list[0].find("0123456789abcdef"), std::string::npos);
  EXPECT_TRUE(t->audit()->verify().ok);
}

TEST(Incidents, ErrorBurstFromFailedRequestsIsRecorded) {
  std::string dir = fresh_dir();
  Policy p = policy_in(dir);
  p.error_burst_count = 3;
  auto t = open_layer(p);
  ASSERT_TRUE(t);
  for (int i = 0; i < 3; ++i) {
    AuditRecord r;
    r.request_id = "r" + std::to_string(i);
    r.status = "error";
    r.http_status = 400;
    t->record_async(r);
  }
  ASSERT_TRUE(t->flush().ok());
  auto list = incidents_of(*t);
  ASSERT_EQ(list.size(), 1u);
  EXPECT_NE(list[0].find("error_burst"), std::string::npos);
}

TEST(Incidents, WebhookUrlsAreCheckedInThePolicy) {
  EXPECT_TRUE(parse_http_url("http://127.0.0.1:9000/hooks/dari?x=1").ok());
  auto u = parse_http_url("http://[::1]:81/a");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->port, 81);
  EXPECT_EQ(u->path, "/a");
  auto plain = parse_http_url("http://hooks.example");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->port, 80);
  EXPECT_EQ(plain->path, "/");
  EXPECT_NE(parse_http_url("https://x/").message().find("https:// is not supported"),
            std::string::npos);
  EXPECT_FALSE(parse_http_url("http://x:0/").ok());
  EXPECT_FALSE(parse_http_url("http://x:70000/").ok());
  EXPECT_FALSE(parse_http_url("http:///path").ok());
  EXPECT_FALSE(parse_http_url("ftp://x/").ok());
  auto bad = parse_policy("[incidents]\nwebhook_url = \"https://x/\"\n", "p.toml");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.message().find("p.toml: [incidents].webhook_url"), std::string::npos);
  auto good = parse_policy(
      "[incidents]\nwebhook_url = \"http://127.0.0.1:8/x\"\nerror_burst_count = 7\n"
      "error_burst_window_seconds = 30\nwebhook_retries = 1\n[audit]\n"
      "retention_interval_seconds = 60\n",
      "p.toml");
  ASSERT_TRUE(good.ok()) << good.message();
  EXPECT_EQ(good->incident_webhook, "http://127.0.0.1:8/x");
  EXPECT_EQ(good->error_burst_count, 7);
  EXPECT_EQ(good->error_burst_window_s, 30);
  EXPECT_EQ(good->webhook_retries, 1);
  EXPECT_EQ(good->retention_interval_s, 60);
  auto round = parse_policy(policy_to_toml(*good), "shown");
  ASSERT_TRUE(round.ok()) << round.message();
  EXPECT_EQ(round->incident_webhook, good->incident_webhook);
}

TEST(Incidents, WebhookReceivesEachIncidentAfterARetry) {
  HookListener hook({503, 204});  // the first attempt fails, the retry succeeds
  std::string dir = fresh_dir();
  Policy p = policy_in(dir);
  p.incident_webhook = "http://127.0.0.1:" + std::to_string(hook.port()) + "/dari/incidents";
  p.webhook_retries = 2;
  auto t = open_layer(p);
  ASSERT_TRUE(t);
  ASSERT_TRUE(t->record_incident("policy_violation", "prompt asked for a resident number").ok());
  ASSERT_TRUE(eventually([&] { return !hook.bodies().empty(); }));
  EXPECT_EQ(hook.requests(), 2);
  const std::string body = hook.bodies()[0];
  EXPECT_NE(body.find("\"kind\":\"policy_violation\""), std::string::npos) << body;
  EXPECT_NE(body.find(p.deployment_id), std::string::npos) << body;
}

TEST(Incidents, UnreachableWebhookLosesNoIncidentRow) {
  std::string dir = fresh_dir();
  Policy p = policy_in(dir);
  p.webhook_retries = 1;
  {
    HookListener closed({204});
    p.incident_webhook = "http://127.0.0.1:" + std::to_string(closed.port()) + "/x";
  }  // nothing listens there any more: every post fails
  auto t = open_layer(p);
  ASSERT_TRUE(t);
  // More incidents than the webhook queue holds: the posts are dropped or fail in the
  // background, the incident rows are all there.
  for (int i = 0; i < 270; ++i) ASSERT_TRUE(t->record_incident("test", "x").ok());
  EXPECT_EQ(incidents_of(*t).size(), 270u);
  EXPECT_TRUE(t->audit()->verify().ok);
}

TEST(Incidents, RetentionTimerEnforcesRetentionAndRecordsIt) {
  std::string dir = fresh_dir();
  Policy p = policy_in(dir);
  p.retention_days = 30;
  p.retention_interval_s = 1;
  auto t = open_layer(p);
  ASSERT_TRUE(t);
  const int64_t now = static_cast<int64_t>(std::time(nullptr)) * 1000;
  for (int i = 0; i < 3; ++i) {
    AuditRecord r;
    r.request_id = "old" + std::to_string(i);
    r.time_ms = now - int64_t{40} * 86400000;  // older than retention_days
    ASSERT_TRUE(t->record(r).ok());
  }
  AuditRecord fresh;
  fresh.request_id = "fresh";
  ASSERT_TRUE(t->record(fresh).ok());
  t->start_retention_timer();
  t->start_retention_timer();                                         // a second call is a no-op
  ASSERT_TRUE(eventually([&] { return t->retention_runs() >= 2; }));  // runs again and again
  const std::string out = dir + "/export.jsonl";
  std::FILE* f = std::fopen(out.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_TRUE(t->audit()->export_to(f, {}, ExportFormat::kJsonl).ok());
  std::fclose(f);
  const std::string text = slurp(out);
  EXPECT_EQ(text.find("\"old0\""), std::string::npos);
  EXPECT_NE(text.find("\"fresh\""), std::string::npos);
  EXPECT_NE(text.find("\"kind\":\"retention\""), std::string::npos);
  EXPECT_NE(text.find("\"count\":3"), std::string::npos);
  EXPECT_TRUE(t->audit()->verify().ok);
}

TEST(Incidents, DurableCallbackRunsAfterTheRecordIsCommitted) {
  std::string dir = fresh_dir();
  Policy p = policy_in(dir);
  auto t = open_layer(p);
  ASSERT_TRUE(t);
  std::promise<void> done;
  std::future<void> committed = done.get_future();
  AuditRecord r;
  r.request_id = "durable-1";
  t->record_async(r, [&done] { done.set_value(); });
  ASSERT_EQ(committed.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  // A second connection to the file (another process would see the same) finds the row.
  auto other = AuditLog::open(p.audit_db, p);
  ASSERT_TRUE(other.ok()) << other.message();
  const std::string out = dir + "/export.jsonl";
  std::FILE* f = std::fopen(out.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_TRUE((*other)->export_to(f, {}, ExportFormat::kJsonl).ok());
  std::fclose(f);
  EXPECT_NE(slurp(out).find("\"durable-1\""), std::string::npos);
}

}  // namespace
}  // namespace dari::trust
