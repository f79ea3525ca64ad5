// The PostgreSQL audit backend against a real server. Run through with_postgres.sh, which
// starts a throwaway server and sets DARI_TEST_PG_HOST/PORT/USER; without them every test
// skips. Each test gets its own database.
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <sys/wait.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <set>
#include <thread>

#include "trust_test_util.h"

namespace dari::trust {
namespace {

using testing::CliRun;
using testing::dari;

using testing::sample;

using testing::fresh_dir;
using testing::slurp;
using testing::spit;

struct PgServer {
  std::string host, port, user;
};

std::optional<PgServer> pg_server() {
  const char* host = std::getenv("DARI_TEST_PG_HOST");
  const char* port = std::getenv("DARI_TEST_PG_PORT");
  const char* user = std::getenv("DARI_TEST_PG_USER");
  if (host == nullptr || port == nullptr || user == nullptr) return std::nullopt;
  return PgServer{host, port, user};
}

std::string conninfo(const PgServer& s, const std::string& db) {
  return "host=" + s.host + " port=" + s.port + " user=" + s.user + " dbname=" + db;
}

std::string url(const PgServer& s, const std::string& db) {
  return "postgresql://" + s.user + "@127.0.0.1:" + s.port + "/" + db;
}

// Runs SQL text on `db` (tests only: tampering and set-up).
void sql(const PgServer& s, const std::string& db, const std::string& text) {
  PGconn* c = PQconnectdb(conninfo(s, db).c_str());
  ASSERT_EQ(PQstatus(c), CONNECTION_OK) << PQerrorMessage(c);
  PQsetNoticeProcessor(
      c, [](void*, const char*) {}, nullptr);  // "does not exist, skipping"
  PGresult* r = PQexec(c, text.c_str());
  EXPECT_EQ(PQresultStatus(r), PGRES_COMMAND_OK) << PQerrorMessage(c) << text;
  PQclear(r);
  PQfinish(c);
}

// A fresh database named after the running test.
std::string fresh_db(const PgServer& s) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = "t_" + std::string(info->name());
  for (char& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  sql(s, "postgres", "DROP DATABASE IF EXISTS " + name);
  sql(s, "postgres", "CREATE DATABASE " + name);
  return name;
}

#define REQUIRE_PG(var)                                                          \
  auto var##_opt = pg_server();                                                  \
  if (!var##_opt) GTEST_SKIP() << "no PostgreSQL: run through with_postgres.sh"; \
  const PgServer& var = *var##_opt

Policy pg_policy(const std::string& connection) {
  Policy p = default_policy();
  p.audit_backend = AuditBackend::kPostgresql;
  p.audit_db = connection;
  return p;
}

std::unique_ptr<AuditLog> filled(const std::string& connection, int n, Policy p) {
  auto log = AuditLog::open(connection, p);
  EXPECT_TRUE(log.ok()) << log.message();
  if (!log.ok()) return nullptr;
  for (int i = 1; i <= n; ++i) EXPECT_TRUE((*log)->record(sample(i)).ok());
  return std::move(*log);
}

std::string export_text(AuditLog& log, ExportRange range, ExportFormat format,
                        const std::string& dir) {
  std::string path = dir + "/export.txt";
  std::FILE* f = std::fopen(path.c_str(), "wb");
  EXPECT_NE(f, nullptr);
  EXPECT_TRUE(log.export_to(f, range, format).ok());
  std::fclose(f);
  return slurp(path);
}

TEST(AuditPostgres, AppendsVerifiesAndListsIncidents) {
  REQUIRE_PG(s);
  std::string db = fresh_db(s);
  std::string ci = conninfo(s, db);
  auto log = filled(ci, 5, pg_policy(ci));
  ASSERT_NE(log, nullptr);
  ASSERT_TRUE(log->append("incident", "{\"kind\":\"request_failure\"}", 1764000009000).ok());
  ASSERT_TRUE(log->append("feedback", "{\"rating\":5}").ok());
  ChainReport r = log->verify();
  EXPECT_TRUE(r.ok) << r.message;
  EXPECT_EQ(r.rows, 7);
  auto inc = log->incidents(0);
  ASSERT_TRUE(inc.ok()) << inc.message();
  ASSERT_EQ(inc->size(), 1u);
  EXPECT_NE((*inc)[0].find("\"seq\":6"), std::string::npos) << (*inc)[0];
  EXPECT_NE(log->location().find("dbname=" + db), std::string::npos) << log->location();
  // Reopening continues the same chain.
  log.reset();
  auto again = AuditLog::open(ci, pg_policy(ci));
  ASSERT_TRUE(again.ok()) << again.message();
  ASSERT_TRUE((*again)->record(sample(8)).ok());
  EXPECT_EQ((*again)->verify().rows, 8);
}

TEST(AuditPostgres, DetectsDeletedRow) {
  REQUIRE_PG(s);
  std::string db = fresh_db(s);
  auto log = filled(conninfo(s, db), 6, pg_policy(conninfo(s, db)));
  ASSERT_NE(log, nullptr);
  sql(s, db, "DELETE FROM dari_audit WHERE seq = 3");
  ChainReport r = log->verify();
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.bad_seq, 3);
  EXPECT_NE(r.message.find("row 3 missing"), std::string::npos) << r.message;
}

TEST(AuditPostgres, DetectsEditedRow) {
  REQUIRE_PG(s);
  std::string db = fresh_db(s);
  auto log = filled(conninfo(s, db), 6, pg_policy(conninfo(s, db)));
  ASSERT_NE(log, nullptr);
  sql(s, db,
      "UPDATE dari_audit SET body = replace(body, '\"completion_tokens\":20', "
      "'\"completion_tokens\":21') WHERE seq = 4");
  ChainReport r = log->verify();
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.bad_seq, 4);
  EXPECT_NE(r.message.find("modified"), std::string::npos) << r.message;
}

TEST(AuditPostgres, DetectsTruncatedTail) {
  REQUIRE_PG(s);
  std::string db = fresh_db(s);
  auto log = filled(conninfo(s, db), 5, pg_policy(conninfo(s, db)));
  ASSERT_NE(log, nullptr);
  sql(s, db, "DELETE FROM dari_audit WHERE seq = 5");
  ChainReport r = log->verify();
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.bad_seq, 5) << r.message;
  sql(s, db, "DELETE FROM dari_audit_chain");  // the head row itself
  ChainReport gone = log->verify();
  EXPECT_FALSE(gone.ok);
  EXPECT_NE(gone.message.find("no head row"), std::string::npos) << gone.message;
  EXPECT_FALSE(log->record(sample(9)).ok());  // appends refuse a chain without its head
}

TEST(AuditPostgres, ExportsRangesAsJsonlAndCsv) {
  REQUIRE_PG(s);
  std::string db = fresh_db(s);
  std::string dir = fresh_dir();
  auto log = filled(conninfo(s, db), 5, pg_policy(conninfo(s, db)));
  ASSERT_NE(log, nullptr);
  ExportRange range{1764000002000, 1764000004000};  // rows 2 and 3
  std::string csv = export_text(*log, range, ExportFormat::kCsv, dir);
  EXPECT_EQ(csv.rfind("seq,time,kind,request_id", 0), 0u);
  EXPECT_NE(csv.find("\n2,2025-11-24T"), std::string::npos) << csv;
  EXPECT_NE(csv.find(",req-3,"), std::string::npos);
  EXPECT_EQ(csv.find(",req-4,"), std::string::npos);
  EXPECT_EQ(csv.find(",req-1,"), std::string::npos);
  std::string jsonl = export_text(*log, {}, ExportFormat::kJsonl, dir);
  EXPECT_EQ(std::count(jsonl.begin(), jsonl.end(), '\n'), 5);
  EXPECT_NE(jsonl.find("\"request_id\":\"req-5\""), std::string::npos) << jsonl;
  EXPECT_NE(jsonl.find("\"prompt_sha256\":\"" + sha256_hex("prompt 5") + "\""), std::string::npos);
}

TEST(AuditPostgres, RetentionDeletesAndRecordsItselfInTheChain) {
  REQUIRE_PG(s);
  std::string db = fresh_db(s);
  Policy p = pg_policy(conninfo(s, db));
  p.retention_days = 1;
  auto log = filled(conninfo(s, db), 6, p);
  ASSERT_NE(log, nullptr);
  int64_t now = 1764000003000 + 86400000 + 500;  // rows 1..3 are older than a day
  auto n = log->enforce_retention(now);
  ASSERT_TRUE(n.ok()) << n.message();
  EXPECT_EQ(*n, 3);
  ChainReport r = log->verify();
  EXPECT_TRUE(r.ok) << r.message;
  EXPECT_EQ(r.rows, 4);  // 4, 5, 6 and the retention row
  std::string jsonl = export_text(*log, {}, ExportFormat::kJsonl, fresh_dir());
  EXPECT_NE(jsonl.find("\"kind\":\"retention\""), std::string::npos);
  EXPECT_NE(jsonl.find("\"deleted_to\":3"), std::string::npos) << jsonl;
  EXPECT_TRUE(log->record(sample(7)).ok());
  EXPECT_TRUE(log->verify().ok);
  EXPECT_EQ(*log->enforce_retention(now), 0);          // nothing older left
  sql(s, db, "DELETE FROM dari_audit WHERE seq = 4");  // behind the anchor's back
  EXPECT_FALSE(log->verify().ok);
}

// Two AuditLog instances (two connections, as two dari processes would have), each written by
// two threads, in single appends and batches: one chain with every row.
TEST(AuditPostgres, ConcurrentWritersShareOneValidChain) {
  REQUIRE_PG(s);
  std::string db = fresh_db(s);
  Policy p = pg_policy(url(s, db));
  auto a = AuditLog::open(url(s, db), p);
  auto b = AuditLog::open(conninfo(s, db), p);
  ASSERT_TRUE(a.ok()) << a.message();
  ASSERT_TRUE(b.ok()) << b.message();
  constexpr int kThreads = 4, kPerThread = 40;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    AuditLog* log = (t % 2 == 0 ? a : b)->get();
    threads.emplace_back([log, t, &failures] {
      for (int i = 0; i < kPerThread; i += 4) {
        std::vector<AuditRecord> batch;
        for (int k = 0; k < 3; ++k) batch.push_back(sample(t * 1000 + i + k));
        if (!log->record_batch(batch).ok()) ++failures;
        if (!log->record(sample(t * 1000 + i + 3)).ok()) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  ChainReport r = (*a)->verify();
  EXPECT_TRUE(r.ok) << r.message;
  EXPECT_EQ(r.rows, kThreads * kPerThread);
  // Every request made it exactly once.
  std::string jsonl = export_text(**b, {}, ExportFormat::kJsonl, fresh_dir());
  std::set<std::string> ids;
  for (size_t pos = 0; (pos = jsonl.find("\"request_id\":\"", pos)) != std::string::npos;) {
    pos += 14;
    ids.insert(jsonl.substr(pos, jsonl.find('"', pos) - pos));
  }
  EXPECT_EQ(ids.size(), static_cast<size_t>(kThreads * kPerThread));
}

// TrustLayer opens the backend the policy names without knowing about it.
TEST(AuditPostgres, TrustLayerRecordsThroughThePolicyBackend) {
  REQUIRE_PG(s);
  std::string db = fresh_db(s);
  std::string dir = fresh_dir();
  Policy p = testing::policy_in(dir);
  p.audit_backend = AuditBackend::kPostgresql;
  p.audit_db = conninfo(s, db);
  auto trust = TrustLayer::open(p);
  ASSERT_TRUE(trust.ok()) << trust.message();
  ASSERT_TRUE((*trust)->record(sample(1)).ok());
  ASSERT_TRUE((*trust)->record_feedback("req-1", 4, "fine").ok());
  ASSERT_NE((*trust)->audit(), nullptr);
  ChainReport r = (*trust)->audit()->verify();
  EXPECT_TRUE(r.ok) << r.message;
  EXPECT_EQ(r.rows, 2);
}

TEST(AuditPostgres, CliVerifiesExportsAndUsesThePolicyBackend) {
  REQUIRE_PG(s);
  std::string db = fresh_db(s);
  std::string dir = fresh_dir();
  ASSERT_NE(filled(url(s, db), 3, pg_policy(url(s, db))), nullptr);
  std::string flag = " --db '" + url(s, db) + "'";
  CliRun ok = dari("audit verify" + flag);
  EXPECT_EQ(ok.code, 0) << ok.out;
  EXPECT_NE(ok.out.find("OK: postgresql host=127.0.0.1"), std::string::npos) << ok.out;
  EXPECT_NE(ok.out.find("3 rows, chain intact"), std::string::npos) << ok.out;
  CliRun csv = dari("audit export --format csv" + flag);
  EXPECT_EQ(csv.code, 0) << csv.out;
  EXPECT_NE(csv.out.find(",req-2,"), std::string::npos) << csv.out;
  // The policy file selects the backend; key=value connection string.
  spit(dir + "/policy.toml",
       "[audit]\nbackend = \"postgresql\"\ndatabase = \"" + conninfo(s, db) + "\"\n");
  CliRun check = dari("policy check " + dir + "/policy.toml");
  EXPECT_EQ(check.code, 0) << check.out;
  CliRun by_policy = dari("audit --policy " + dir + "/policy.toml verify");
  EXPECT_EQ(by_policy.code, 0) << by_policy.out;
  EXPECT_NE(by_policy.out.find("OK: postgresql host=" + s.host), std::string::npos)
      << by_policy.out;
  sql(s, db, "DELETE FROM dari_audit WHERE seq = 2");
  CliRun bad = dari("audit verify" + flag);
  EXPECT_EQ(bad.code, 1) << bad.out;
  EXPECT_NE(bad.out.find("FAILED"), std::string::npos) << bad.out;
  EXPECT_NE(bad.out.find("row 2 missing"), std::string::npos) << bad.out;
}

}  // namespace
}  // namespace dari::trust
