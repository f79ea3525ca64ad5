// The web pages' side of `dari serve` against FakeEngine: the embedded page files (security
// headers, ETag revalidation, names that could leave the folder), --no-webui, files from a
// folder (--path), GET /v1/provenance (public) and GET /admin/status (admin only: pause,
// audit check, key usage, feedback, incidents).
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>
#include <fstream>

#include "dari/web/assets.h"
#include "http_client.h"
#include "trust_server.h"

namespace dari::server::test {
namespace {

using nlohmann::json;

class WebPagesTest : public TrustServerTest {
 protected:
  HttpResult get(const std::string& target, const std::map<std::string, std::string>& h = {}) {
    HttpClient c(port_);
    return c.request(http::verb::get, target, "", h);
  }
  HttpResult post(const std::string& target, const json& body, const std::string& key = "") {
    HttpClient c(port_);
    std::map<std::string, std::string> h;
    if (!key.empty()) h["Authorization"] = "Bearer " + key;
    return c.request(http::verb::post, target, body.dump(), h);
  }
  std::string new_key(uint32_t scopes, int64_t tokens_per_day = 0) {
    trust::KeyInfo k;
    k.name = "web";
    k.scopes = scopes;
    k.requests_per_minute = 0;
    k.tokens_per_day = tokens_per_day;
    auto r = trust_->create_key("test", k);
    EXPECT_TRUE(r.ok()) << r.message();
    return r.ok() ? *r : std::string();
  }
  json chat_body() {
    return {{"model", "tiny"}, {"messages", {{{"role", "user"}, {"content", "hello"}}}}};
  }
};

TEST_F(WebPagesTest, PagesAreServedWithTheirSecurityHeadersAndNoKey) {
  policy_.require_keys = trust::KeyRequirement::kAlways;  // the API needs a key; the files do not
  start();
  auto chat = get("/");
  ASSERT_EQ(chat.status, 200) << chat.body;
  EXPECT_EQ(chat.headers["Content-Type"], "text/html; charset=utf-8");
  EXPECT_NE(chat.body.find("chat.js"), std::string::npos);
  EXPECT_NE(chat.headers["Content-Security-Policy"].find("default-src 'self'"), std::string::npos);
  EXPECT_EQ(chat.headers["X-Content-Type-Options"], "nosniff");
  EXPECT_EQ(chat.headers["X-Frame-Options"], "DENY");
  auto dash = get("/dashboard");
  ASSERT_EQ(dash.status, 200);
  EXPECT_NE(dash.body.find("dashboard.js"), std::string::npos);
  // Every embedded file is reachable under /web/ with its type.
  ASSERT_FALSE(web::embedded_assets().empty());
  for (const web::Asset& a : web::embedded_assets()) {
    auto r = get("/web/" + std::string(a.name));
    EXPECT_EQ(r.status, 200) << a.name;
    EXPECT_EQ(r.body, a.body) << a.name;
    EXPECT_EQ(r.headers["Content-Type"], web::content_type_for(a.name)) << a.name;
  }
  EXPECT_EQ(get("/web/common.js").headers["Content-Type"], "text/javascript; charset=utf-8");
  // The API itself still asks for the key.
  EXPECT_EQ(get("/v1/models").status, 401);
}

TEST_F(WebPagesTest, UnchangedFilesAreRevalidatedWith304) {
  start();
  auto first = get("/web/chat.js");
  ASSERT_EQ(first.status, 200);
  const std::string tag = first.headers["ETag"];
  ASSERT_FALSE(tag.empty());
  auto again = get("/web/chat.js", {{"If-None-Match", tag}});
  EXPECT_EQ(again.status, 304);
  EXPECT_TRUE(again.body.empty());
  EXPECT_EQ(get("/web/chat.js", {{"If-None-Match", "\"other\""}}).status, 200);
}

TEST_F(WebPagesTest, NamesOutsideTheFolderAndUnknownFilesAre404) {
  start();
  for (const char* bad :
       {"/web/../CMakeLists.txt", "/web/.hidden.js", "/web/", "/web/a/b.js", "/web/nothere.js",
        "/web/assets.cpp", "/web/README.md", "/web/%2e%2e/x.js", "/index.html"}) {
    EXPECT_EQ(get(bad).status, 404) << bad;
  }
  HttpClient c(port_);
  EXPECT_EQ(c.request(http::verb::post, "/", "{}").status, 404);
}

TEST_F(WebPagesTest, NoWebUiServesTheApiOnly) {
  ServerOptions o;
  o.web_ui = false;
  start(o);
  EXPECT_EQ(get("/").status, 404);
  EXPECT_EQ(get("/dashboard").status, 404);
  EXPECT_EQ(get("/web/chat.js").status, 404);
  EXPECT_EQ(get("/v1/models").status, 200);
}

TEST_F(WebPagesTest, PathServesTheFilesOfAFolder) {
  std::filesystem::create_directories(dir_ / "pages");
  std::ofstream(dir_ / "pages" / "index.html") << "<!doctype html><title>local</title>";
  std::ofstream(dir_ / "pages" / "extra.css") << "body{}";
  ServerOptions o;
  o.web_dir = (dir_ / "pages").string();
  start(o);
  auto r = get("/");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "<!doctype html><title>local</title>");
  EXPECT_EQ(get("/web/extra.css").headers["Content-Type"], "text/css; charset=utf-8");
  EXPECT_EQ(get("/dashboard").status, 404);  // not in that folder
}

TEST_F(WebPagesTest, ProvenanceKeyIsPublicAndMatchesTheSigner) {
  policy_.require_keys = trust::KeyRequirement::kAlways;
  policy_.operator_name = "Web Operator";
  start();
  auto r = get("/v1/provenance");
  ASSERT_EQ(r.status, 200) << r.body;
  json j = r.json();
  EXPECT_EQ(j["algorithm"], "Ed25519");
  EXPECT_EQ(j["public_key"], trust_->signing_key().public_key_base64());
  EXPECT_EQ(j["key_id"], trust_->signing_key().key_id());
  EXPECT_EQ(j["operator"], "Web Operator");
  EXPECT_EQ(j["label"]["en"], policy_.label_en);
  EXPECT_EQ(j["label"]["ko"], policy_.label_ko);
  EXPECT_EQ(post("/v1/provenance", json::object()).status, 405);
}

TEST_F(WebPagesTest, AdminStatusShowsPauseKeysFeedbackIncidentsAndAudit) {
  start();
  const std::string user = new_key(trust::kScopeInfer, 1000);
  const std::string admin = new_key(trust::kScopeAdmin);
  auto r = post("/v1/chat/completions", chat_body(), user);
  ASSERT_EQ(r.status, 200) << r.body;
  const std::string id = r.json()["id"];
  ASSERT_EQ(post("/v1/feedback", {{"request_id", id}, {"rating", -1}, {"text", "too short"}}, user)
                .status,
            200);
  ASSERT_TRUE(trust_->record_incident("test_incident", "something happened").ok());
  ASSERT_EQ(post("/admin/pause", {{"reason", "model review"}}, admin).status, 200);
  ASSERT_TRUE(trust_->flush().ok());

  HttpClient c(port_);
  auto s = c.request(http::verb::get, "/admin/status", "", {{"Authorization", "Bearer " + admin}});
  ASSERT_EQ(s.status, 200) << s.body;
  json j = s.json();
  EXPECT_TRUE(j["paused"]);
  EXPECT_EQ(j["pause_reason"], "model review");
  EXPECT_EQ(j["require_keys"], "non-loopback");
  EXPECT_TRUE(j["audit"]["enabled"]);
  EXPECT_TRUE(j["audit"]["ok"]) << j["audit"].dump();
  EXPECT_GE(j["audit"]["rows"].get<int64_t>(), 4);  // request, feedback, incident, pause
  EXPECT_EQ(j["audit"]["verified_to_seq"], j["audit"]["rows"]);
  ASSERT_EQ(j["feedback"].size(), 1u);
  EXPECT_EQ(j["feedback"][0]["request_id"], id);
  EXPECT_EQ(j["feedback"][0]["rating"], -1);
  EXPECT_EQ(j["feedback"][0]["text"], "too short");
  ASSERT_EQ(j["incidents"].size(), 1u);
  EXPECT_EQ(j["incidents"][0]["incident"]["kind"], "test_incident");
  ASSERT_EQ(j["keys"].size(), 2u);
  const std::string user_id = user.substr(5, 16);
  bool seen = false;
  for (const json& k : j["keys"]) {
    if (k["key_id"] != user_id) continue;
    seen = true;
    EXPECT_EQ(k["scopes"], "infer");
    EXPECT_EQ(k["requests"], 1);
    EXPECT_GT(k["tokens_charged"].get<int64_t>(), 0);
    EXPECT_EQ(k["tokens_left_today"].get<int64_t>(), 1000 - k["tokens_charged"].get<int64_t>());
    EXPECT_EQ(k["tokens_per_day"], 1000);
  }
  EXPECT_TRUE(seen);
  // An infer key may not read it; loopback without a key may (as for the other admin routes).
  auto denied =
      c.request(http::verb::get, "/admin/status", "", {{"Authorization", "Bearer " + user}});
  EXPECT_EQ(denied.status, 403);
  EXPECT_EQ(get("/admin/status").status, 200);
}

TEST_F(WebPagesTest, AdminStatusReportsABrokenChain) {
  start();
  ASSERT_EQ(post("/v1/chat/completions", chat_body()).status, 200);
  ASSERT_EQ(post("/v1/chat/completions", chat_body()).status, 200);
  ASSERT_TRUE(trust_->flush().ok());
  // Row 1 altered behind the server's back, before the dashboard's first look.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(policy_.audit_db.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(
      sqlite3_exec(db, "UPDATE audit SET body = '{}' WHERE seq = 1", nullptr, nullptr, nullptr),
      SQLITE_OK);
  sqlite3_close(db);
  auto s = get("/admin/status");
  ASSERT_EQ(s.status, 200) << s.body;
  json a = s.json()["audit"];
  EXPECT_FALSE(a["ok"]);
  EXPECT_EQ(a["bad_seq"], 1);
  EXPECT_EQ(a["verified_to_seq"], 0);
  EXPECT_NE(a["message"].get<std::string>().find("row 1"), std::string::npos) << a.dump();
}

TEST_F(WebPagesTest, AdminStatusWithAuditOff) {
  policy_.audit = false;
  start();
  auto s = get("/admin/status");
  ASSERT_EQ(s.status, 200) << s.body;
  EXPECT_FALSE(s.json()["audit"]["enabled"]);
  EXPECT_TRUE(s.json()["feedback"].empty());
}

}  // namespace
}  // namespace dari::server::test
