// Audit backend selection in the policy ([audit] backend / database) and the PostgreSQL
// connection-string checks; none of these needs a running server.
#include <gtest/gtest.h>

#include "trust_test_util.h"

namespace dari::trust {
namespace {

using testing::fresh_dir;
using testing::spit;

TEST(AuditBackendPolicy, DefaultsToSqlite) {
  EXPECT_EQ(default_policy().audit_backend, AuditBackend::kSqlite);
  auto p = parse_policy("[audit]\ndatabase = \"a.db\"\n", "p.toml");
  ASSERT_TRUE(p.ok()) << p.message();
  EXPECT_EQ(p->audit_backend, AuditBackend::kSqlite);
}

TEST(AuditBackendPolicy, AcceptsPostgresUrlAndKeyValueStrings) {
  auto by_url =
      parse_policy("[audit]\ndatabase = \"postgresql://dari@db.example:5432/audit\"\n", "p.toml");
  ASSERT_TRUE(by_url.ok()) << by_url.message();
  EXPECT_EQ(by_url->audit_backend, AuditBackend::kPostgresql);  // inferred from the URL
  auto by_kv = parse_policy(
      "[audit]\nbackend = \"postgresql\"\ndatabase = \"host=db.example port=5432 dbname=audit\"\n",
      "p.toml");
  ASSERT_TRUE(by_kv.ok()) << by_kv.message();
  EXPECT_EQ(by_kv->audit_backend, AuditBackend::kPostgresql);
  // Round trip through the rendered TOML.
  auto again = parse_policy(policy_to_toml(*by_kv), "shown.toml");
  ASSERT_TRUE(again.ok()) << again.message();
  EXPECT_EQ(again->audit_backend, AuditBackend::kPostgresql);
  EXPECT_EQ(again->audit_db, by_kv->audit_db);
}

TEST(AuditBackendPolicy, RejectsMismatchesWithClearErrors) {
  auto unknown = parse_policy("[audit]\nbackend = \"mysql\"\n", "p.toml");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.message().find("p.toml: [audit].backend: \"mysql\" is not one of"),
            std::string::npos)
      << unknown.message();
  auto file = parse_policy("[audit]\nbackend = \"postgresql\"\n", "p.toml");  // default file
  ASSERT_FALSE(file.ok());
  EXPECT_NE(file.message().find("[audit].database: backend = \"postgresql\": not a PostgreSQL "
                                "connection string"),
            std::string::npos)
      << file.message();
  auto broken =
      parse_policy("[audit]\nbackend = \"postgresql\"\ndatabase = \"host=db dbname\"\n", "p.toml");
  ASSERT_FALSE(broken.ok());
  EXPECT_NE(broken.message().find("invalid PostgreSQL connection string"), std::string::npos)
      << broken.message();
  auto sqlite_url =
      parse_policy("[audit]\nbackend = \"sqlite\"\ndatabase = \"postgresql://h/db\"\n", "p.toml");
  ASSERT_FALSE(sqlite_url.ok());
  EXPECT_NE(sqlite_url.message().find("is a PostgreSQL URL but backend = \"sqlite\""),
            std::string::npos)
      << sqlite_url.message();
}

TEST(AuditBackendPolicy, ConnectionStringIsNotAPathAndPasswordsWarn) {
  std::string dir = fresh_dir();
  spit(dir + "/policy.toml",
       "[audit]\nbackend = \"postgresql\"\ndatabase = \"host=db password=s3cret dbname=a\"\n");
  auto p = load_policy(dir + "/policy.toml");
  ASSERT_TRUE(p.ok()) << p.message();
  EXPECT_EQ(p->audit_db, "host=db password=s3cret dbname=a");  // not joined to the folder
  bool warned = false;
  for (const std::string& w : policy_warnings(*p)) {
    warned = warned || w.find("holds a password") != std::string::npos;
  }
  EXPECT_TRUE(warned);
}

TEST(AuditBackendPolicy, UnreachableServerIsAClearErrorWithoutThePassword) {
  Policy p = default_policy();
  // Port 1 on loopback: nothing listens, the connection is refused at once.
  auto log = AuditLog::open("postgresql://dari:s3cret@127.0.0.1:1/audit", p);
  ASSERT_FALSE(log.ok());
  EXPECT_NE(log.message().find("postgresql host=127.0.0.1 port=1 dbname=audit user=dari: "
                               "cannot connect"),
            std::string::npos)
      << log.message();
  EXPECT_EQ(log.message().find("s3cret"), std::string::npos);
}

}  // namespace
}  // namespace dari::trust
