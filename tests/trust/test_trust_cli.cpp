// End-to-end checks of `dari keys|verify|audit|policy` through the built binary.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cstdio>

#include "trust/internal.h"
#include "trust_test_util.h"

namespace dari::trust {
namespace {

using testing::CliRun;
using testing::dari;

using testing::fresh_dir;
using testing::slurp;
using testing::spit;

TEST(TrustCli, KeysInitWritesA0600KeyOnce) {
  std::string dir = fresh_dir();
  CliRun r = dari("keys init --key " + dir + "/op.key");
  ASSERT_EQ(r.code, 0) << r.out;
  struct stat st {};
  ASSERT_EQ(::stat((dir + "/op.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  std::string first = slurp(dir + "/op.key");
  CliRun again = dari("keys init --key " + dir + "/op.key");
  EXPECT_EQ(again.code, 0);
  EXPECT_NE(again.out.find("not replaced"), std::string::npos);
  EXPECT_EQ(slurp(dir + "/op.key"), first);
}

TEST(TrustCli, PolicyCheckReportsErrors) {
  std::string dir = fresh_dir();
  spit(dir + "/good.toml", "[operator]\nname = \"ACME\"\n");
  spit(dir + "/bad.toml", "[keys]\nrequire = \"maybe\"\n");
  CliRun good = dari("policy check " + dir + "/good.toml");
  EXPECT_EQ(good.code, 0) << good.out;
  EXPECT_NE(good.out.find("OK"), std::string::npos);
  CliRun bad = dari("policy check " + dir + "/bad.toml");
  EXPECT_EQ(bad.code, 1);
  EXPECT_NE(bad.out.find("bad.toml: [keys].require: \"maybe\" is not one of"), std::string::npos)
      << bad.out;
  CliRun show = dari("policy show");
  EXPECT_EQ(show.code, 0);
  EXPECT_TRUE(parse_policy(show.out, "shown").ok()) << show.out;
}

TEST(TrustCli, VerifyTellsAlteredFromIntact) {
  std::string dir = fresh_dir();
  ASSERT_EQ(dari("keys init --key " + dir + "/op.key").code, 0);
  auto key = SigningKey::load(dir + "/op.key");
  ASSERT_TRUE(key.ok());
  std::string text = "The answer is 42.";
  Provenance p =
      sign_provenance(*key, {"dari-tiny", std::string(64, 'c'), "req-9", 7}, "op", "dep", text);
  std::string resp = "{\"choices\":[{\"message\":{\"content\":\"" + text +
                     "\"}}],\"provenance\":" + provenance_to_json(p) + "}";
  spit(dir + "/resp.json", resp);
  CliRun ok = dari("verify " + dir + "/resp.json --public-key " + dir + "/op.key.pub");
  EXPECT_EQ(ok.code, 0) << ok.out;
  EXPECT_NE(ok.out.find("INTACT"), std::string::npos);
  std::string altered = resp;
  altered.replace(altered.find("42"), 2, "43");
  spit(dir + "/altered.json", altered);
  CliRun bad = dari("verify " + dir + "/altered.json");
  EXPECT_EQ(bad.code, 1);
  EXPECT_NE(bad.out.find("ALTERED"), std::string::npos) << bad.out;
  spit(dir + "/text.txt", text);
  spit(dir + "/prov.json", provenance_to_json(p));
  EXPECT_EQ(dari("verify --text " + dir + "/text.txt --provenance " + dir + "/prov.json").code, 0);
  spit(dir + "/text.txt", text + " ");
  EXPECT_EQ(dari("verify --text " + dir + "/text.txt --provenance " + dir + "/prov.json").code, 1);
}

TEST(TrustCli, AuditVerifyNamesTheTamperedRowAndExports) {
  std::string dir = fresh_dir();
  Policy pol = testing::policy_in(dir);
  {
    auto log = AuditLog::open(pol.audit_db, pol);
    ASSERT_TRUE(log.ok());
    for (int i = 1; i <= 4; ++i) {
      AuditRecord r;
      r.time_ms = 1764000000000 + i;
      r.request_id = "req-" + std::to_string(i);
      ASSERT_TRUE((*log)->record(r).ok());
    }
  }
  std::string db = " --db " + pol.audit_db;
  CliRun ok = dari("audit verify" + db);
  EXPECT_EQ(ok.code, 0) << ok.out;
  CliRun csv = dari("audit export --format csv --since 2025-11-24T16:00:00Z" + db);
  EXPECT_EQ(csv.code, 0) << csv.out;
  EXPECT_NE(csv.out.find(",req-4,"), std::string::npos) << csv.out;
  sqlite3* h = nullptr;
  ASSERT_EQ(sqlite3_open(pol.audit_db.c_str(), &h), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(h, "DELETE FROM audit WHERE seq = 2", nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(h);
  CliRun bad = dari("audit verify" + db);
  EXPECT_EQ(bad.code, 1);
  EXPECT_NE(bad.out.find("row 2 missing"), std::string::npos) << bad.out;
}

TEST(TrustCli, KeysAddListRevoke) {
  std::string dir = fresh_dir();
  std::string db = " --db " + dir + "/keys.db";
  CliRun add = dari("keys add alice --scopes infer,metrics --rpm 5" + db);
  ASSERT_EQ(add.code, 0) << add.out;
  size_t at = add.out.find("dari_");
  ASSERT_NE(at, std::string::npos);
  std::string id = add.out.substr(at + 5, 16);
  CliRun list = dari("keys list" + db);
  EXPECT_NE(list.out.find(id), std::string::npos);
  EXPECT_NE(list.out.find("infer,metrics"), std::string::npos);
  EXPECT_EQ(list.out.find(add.out.substr(at + 22, 43)), std::string::npos);  // never the secret
  EXPECT_EQ(dari("keys revoke " + id + db).code, 0);
  EXPECT_NE(dari("keys list" + db).out.find("revoked"), std::string::npos);
  EXPECT_EQ(dari("keys revoke " + id + db).code, 1);
}

}  // namespace
}  // namespace dari::trust
