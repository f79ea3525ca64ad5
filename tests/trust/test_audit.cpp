#include <gtest/gtest.h>
#include <sqlite3.h>

#include <cstdio>

#include "trust_test_util.h"

namespace dari::trust {
namespace {

using testing::sample;

using testing::fresh_dir;
using testing::policy_in;
using testing::slurp;

void exec(const std::string& db_path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(db_path.c_str(), &db), SQLITE_OK);
  char* err = nullptr;
  int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  EXPECT_EQ(rc, SQLITE_OK) << (err ? err : "");
  sqlite3_free(err);
  sqlite3_close(db);
}

std::unique_ptr<AuditLog> filled(const std::string& dir, int n, Policy p = {}) {
  if (p.audit_db == Policy{}.audit_db) p = policy_in(dir);
  auto log = AuditLog::open(p.audit_db, p);
  EXPECT_TRUE(log.ok()) << log.message();
  for (int i = 1; i <= n; ++i) EXPECT_TRUE((*log)->record(sample(i)).ok());
  return std::move(*log);
}

TEST(Audit, IntactChainVerifies) {
  auto log = filled(fresh_dir(), 5);
  ChainReport r = log->verify();
  EXPECT_TRUE(r.ok) << r.message;
  EXPECT_EQ(r.rows, 5);
}

TEST(Audit, DetectsDeletedRowAndNamesIt) {
  std::string dir = fresh_dir();
  auto log = filled(dir, 6);
  exec(dir + "/audit.db", "DELETE FROM audit WHERE seq = 3");
  ChainReport r = log->verify();
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.bad_seq, 3);
  EXPECT_NE(r.message.find("row 3 missing"), std::string::npos) << r.message;
}

TEST(Audit, DetectsModifiedRowAndNamesIt) {
  std::string dir = fresh_dir();
  auto log = filled(dir, 6);
  exec(dir + "/audit.db",
       "UPDATE audit SET body = replace(body, '\"completion_tokens\":20', "
       "'\"completion_tokens\":21') WHERE seq = 4");
  ChainReport r = log->verify();
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.bad_seq, 4);
  EXPECT_NE(r.message.find("modified"), std::string::npos) << r.message;
}

TEST(Audit, DetectsRehashedModificationAtTheNextRow) {
  std::string dir = fresh_dir();
  auto log = filled(dir, 4);
  // An editor who recomputes row 2's own hash still breaks row 3's link.
  exec(dir + "/audit.db", "UPDATE audit SET time_ms = time_ms + 1 WHERE seq = 2");
  ChainReport r1 = log->verify();
  EXPECT_EQ(r1.bad_seq, 2);
  exec(dir + "/audit.db", "UPDATE audit SET time_ms = time_ms - 1 WHERE seq = 2");
  EXPECT_TRUE(log->verify().ok);
}

TEST(Audit, DetectsInsertedRows) {
  std::string dir = fresh_dir();
  auto log = filled(dir, 4);
  // Shift rows 3.. up and slip a forged row in as 3.
  exec(dir + "/audit.db",
       "UPDATE audit SET seq = seq + 100 WHERE seq >= 3; UPDATE audit SET seq = seq - 99 WHERE "
       "seq >= 103; INSERT INTO audit SELECT 3, kind, time_ms, body, hash, hash FROM audit WHERE "
       "seq = 2");
  ChainReport r = log->verify();
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.bad_seq, 3) << r.message;
  // A row appended at the end without going through the log.
  std::string dir2 = fresh_dir() + "/b";
  std::filesystem::create_directories(dir2);
  auto log2 = filled(dir2, 3);
  exec(dir2 + "/audit.db",
       "INSERT INTO audit SELECT 4, kind, time_ms, body, hash, hash FROM audit WHERE seq = 3");
  ChainReport r2 = log2->verify();
  EXPECT_FALSE(r2.ok);
  EXPECT_EQ(r2.bad_seq, 4) << r2.message;
}

TEST(Audit, DetectsTruncatedTailAndHead) {
  std::string dir = fresh_dir();
  auto log = filled(dir, 5);
  exec(dir + "/audit.db", "DELETE FROM audit WHERE seq = 5");
  ChainReport tail = log->verify();
  EXPECT_FALSE(tail.ok);
  EXPECT_EQ(tail.bad_seq, 5) << tail.message;
  exec(dir + "/audit.db", "DELETE FROM audit WHERE seq = 1");
  ChainReport head = log->verify();
  EXPECT_FALSE(head.ok);
  EXPECT_EQ(head.bad_seq, 1) << head.message;
}

TEST(Audit, RetentionDeletesAndRecordsItselfInTheChain) {
  std::string dir = fresh_dir();
  Policy p = policy_in(dir);
  p.retention_days = 1;
  auto log = filled(dir, 6, p);
  // Rows 1..6 are at 1764000001000 + ...; a "now" two days after row 3 removes rows 1..3.
  int64_t now = 1764000003000 + 86400000 + 500;
  auto n = log->enforce_retention(now);
  ASSERT_TRUE(n.ok()) << n.message();
  EXPECT_EQ(*n, 3);
  ChainReport r = log->verify();
  EXPECT_TRUE(r.ok) << r.message;
  EXPECT_EQ(r.rows, 4);  // 4, 5, 6 and the retention row
  EXPECT_TRUE(log->record(sample(7)).ok());
  EXPECT_TRUE(log->verify().ok);
  // Deleting a retained row behind the anchor's back is still caught.
  exec(dir + "/audit.db", "DELETE FROM audit WHERE seq = 4");
  EXPECT_FALSE(log->verify().ok);
}

TEST(Audit, StoresHashesByDefaultAndRedactsFullText) {
  std::string dir = fresh_dir();
  Policy p = policy_in(dir);
  auto log = AuditLog::open(p.audit_db, p);
  ASSERT_TRUE(log.ok());
  AuditRecord r = sample(1);
  r.prompt = "my secret prompt";
  ASSERT_TRUE((*log)->record(r).ok());
  std::string dir2 = dir + "/full";
  std::filesystem::create_directories(dir2);
  Policy full = policy_in(dir2);
  full.store_prompts = ContentStorage::kFull;
  full.store_outputs = ContentStorage::kFull;
  auto log2 = AuditLog::open(full.audit_db, full);
  ASSERT_TRUE(log2.ok());
  AuditRecord pii = sample(2);
  pii.prompt = "I am hong@example.com, 010-9876-5432, 900101-1234567";
  pii.output = "Noted 900101-1234567";
  ASSERT_TRUE((*log2)->record(pii).ok());
  log->reset();
  log2->reset();  // closes: WAL checkpointed into the main file
  std::string hashed = slurp(p.audit_db);
  EXPECT_EQ(hashed.find("my secret prompt"), std::string::npos);
  EXPECT_NE(hashed.find(sha256_hex("my secret prompt")), std::string::npos);
  std::string stored = slurp(full.audit_db) + slurp(full.audit_db + "-wal");
  for (const char* secret : {"hong@example.com", "010-9876-5432", "900101-1234567"}) {
    EXPECT_EQ(stored.find(secret), std::string::npos) << secret;
  }
  EXPECT_NE(stored.find("I am [EMAIL], [PHONE], [RRN]"), std::string::npos);
}

TEST(Audit, HighImpactStoresExplanations) {
  std::string dir = fresh_dir();
  Policy p = policy_in(dir);
  p.explanations = true;
  p.explanation_top_k = 2;
  auto log = AuditLog::open(p.audit_db, p);
  ASSERT_TRUE(log.ok());
  AuditRecord r = sample(1);
  r.template_sha256 = sha256_hex("{{ messages }}");
  r.tokens = {{"Yes", -0.1, {{"Yes", -0.1}, {"No", -2.5}, {"Maybe", -4.0}}}};
  ASSERT_TRUE((*log)->record(r).ok());
  std::string out_path = dir + "/out.jsonl";
  std::FILE* f = std::fopen(out_path.c_str(), "wb");
  ASSERT_TRUE((*log)->export_to(f, {}, ExportFormat::kJsonl).ok());
  std::fclose(f);
  std::string line = slurp(out_path);
  EXPECT_NE(line.find("\"template_sha256\":\"" + r.template_sha256), std::string::npos) << line;
  EXPECT_NE(line.find("[\"No\",-2.5]"), std::string::npos) << line;
  EXPECT_EQ(line.find("Maybe"), std::string::npos);  // top_k = 2
}

TEST(Audit, ExportsRangesAsJsonlAndCsv) {
  std::string dir = fresh_dir();
  auto log = filled(dir, 5);
  std::string path = dir + "/x.csv";
  std::FILE* f = std::fopen(path.c_str(), "wb");
  ExportRange range{1764000002000, 1764000004000};  // rows 2 and 3
  ASSERT_TRUE(log->export_to(f, range, ExportFormat::kCsv).ok());
  std::fclose(f);
  std::string csv = slurp(path);
  EXPECT_EQ(csv.rfind("seq,time,kind,request_id", 0), 0u);
  EXPECT_NE(csv.find("\n2,2025-11-24T"), std::string::npos) << csv;
  EXPECT_NE(csv.find(",req-3,"), std::string::npos);
  EXPECT_EQ(csv.find(",req-4,"), std::string::npos);
  EXPECT_EQ(csv.find(",req-1,"), std::string::npos);
  auto t = parse_time_ms("2025-11-24T16:00:02Z");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(*t, 1764000002000);
  EXPECT_EQ(*parse_time_ms("1764000002"), 1764000002000);
  EXPECT_EQ(*parse_time_ms("2025-11-24"), 1763942400000);
  EXPECT_FALSE(parse_time_ms("yesterday").ok());
  EXPECT_FALSE(parse_time_ms("2025-13-01").ok());
}

}  // namespace
}  // namespace dari::trust
