// POST /v1/embeddings end to end with the real ServingEngine and the default model
// (models/dari-tiny.gguf): float and base64 encodings, the engine's own vectors, input order and
// batch invariance, token inputs, more inputs than the engine queue holds, errors, a client that
// disconnects, and the trust layer (keys, scope, audit).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>

#include "dari/server/server.h"
#include "dari/server/trust_hooks.h"
#include "dari/tokenizer/tokenizer.h"
#include "dari/trust/trust.h"
#include "http_client.h"

namespace dari::server::test {
namespace {

using nlohmann::json;

constexpr uint32_t kEmbd = 192;  // dari-tiny's n_embd

std::unique_ptr<ServingEngine> start_engine(uint32_t max_waiting = 256) {
  ServingOptions eo;
  eo.model_path = std::string(DARI_SOURCE_DIR) + "/models/dari-tiny.gguf";
  eo.n_ctx = 256;
  eo.max_running = 8;
  eo.n_threads = 2;
  eo.max_waiting = max_waiting;
  auto e = ServingEngine::start(eo);
  EXPECT_TRUE(e.ok()) << e.message();
  return e.ok() ? std::move(e).value() : nullptr;
}

std::vector<float> floats_of(const json& arr) {
  std::vector<float> v;
  for (const auto& x : arr) v.push_back(x.get<float>());
  return v;
}

std::vector<uint8_t> base64_decode(const std::string& s) {
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::vector<uint8_t> out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : s) {
    if (c == '=') break;
    const int v = val(c);
    EXPECT_GE(v, 0) << "bad base64 character";
    if (v < 0) return {};
    acc = acc << 6 | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<uint8_t>(acc >> bits));
    }
  }
  return out;
}

std::vector<float> floats_of_base64(const std::string& s) {
  const std::vector<uint8_t> b = base64_decode(s);
  EXPECT_EQ(b.size() % 4, 0u);
  std::vector<float> v(b.size() / 4);
  for (size_t i = 0; i < v.size(); ++i) {
    const uint32_t u = uint32_t{b[4 * i]} | uint32_t{b[4 * i + 1]} << 8 |
                       uint32_t{b[4 * i + 2]} << 16 | uint32_t{b[4 * i + 3]} << 24;
    std::memcpy(&v[i], &u, 4);
  }
  return v;
}

bool bit_equal(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

class Embeddings : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    engine_ = start_engine().release();
    ASSERT_NE(engine_, nullptr);
    ServerOptions so;
    so.port = 0;
    so.model_name = "dari-tiny";
    auto s = Server::create(so);
    ASSERT_TRUE(s.ok()) << s.message();
    server_ = std::move(s).value().release();
    server_->set_engine(engine_);
    server_->start();
  }
  static void TearDownTestSuite() {
    if (server_ != nullptr) {
      server_->request_stop(false);
      server_->wait();
    }
    if (engine_ != nullptr) engine_->shutdown(false);
    delete server_;
    delete engine_;
  }
  void SetUp() override { ASSERT_NE(server_, nullptr); }
  static HttpResult post(const json& body) {
    HttpClient c(server_->port());
    return c.post("/v1/embeddings", body);
  }
  // The vector of one text through the API (float encoding).
  static std::vector<float> embed(const std::string& text) {
    auto r = post({{"model", "dari-tiny"}, {"input", text}});
    EXPECT_EQ(r.status, 200) << r.body;
    return floats_of(r.json()["data"][0]["embedding"]);
  }
  static void expect_error(const json& body, int status, const std::string& param,
                           const std::string& code = "") {
    auto r = post(body);
    EXPECT_EQ(r.status, status) << body.dump().substr(0, 200) << " -> " << r.body;
    const json j = r.json();
    ASSERT_TRUE(j.contains("error")) << r.body;
    if (!param.empty()) {
      EXPECT_EQ(j["error"]["param"], param) << r.body;
    }
    if (!code.empty()) {
      EXPECT_EQ(j["error"]["code"], code) << r.body;
    }
  }

  static ServingEngine* engine_;
  static Server* server_;
};

ServingEngine* Embeddings::engine_ = nullptr;
Server* Embeddings::server_ = nullptr;

TEST_F(Embeddings, FloatResponseShapeAndEngineVector) {
  const std::string text = "And it came to pass";
  auto r = post({{"model", "dari-tiny"}, {"input", text}, {"user", "someone"}});
  ASSERT_EQ(r.status, 200) << r.body;
  const json j = r.json();
  EXPECT_EQ(j["object"], "list");
  EXPECT_EQ(j["model"], "dari-tiny");
  ASSERT_EQ(j["data"].size(), 1u);
  EXPECT_EQ(j["data"][0]["object"], "embedding");
  EXPECT_EQ(j["data"][0]["index"], 0);
  const std::vector<float> v = floats_of(j["data"][0]["embedding"]);
  ASSERT_EQ(v.size(), kEmbd);
  double n = 0.0;
  for (float x : v) n += double{x} * x;
  EXPECT_NEAR(std::sqrt(n), 1.0, 1e-5);
  EncodeOptions eo;
  eo.add_special = true;
  eo.parse_special = true;
  const std::vector<int32_t> ids = engine_->tokenizer().encode(text, eo);
  EXPECT_EQ(j["usage"]["prompt_tokens"], ids.size());
  EXPECT_EQ(j["usage"]["total_tokens"], ids.size());

  // The same vector straight from the engine (the float text reads back to the same floats).
  ServingRequest sr;
  sr.prompt = ids;
  sr.embed = true;
  SubmitResult sub = engine_->submit(sr);
  ASSERT_EQ(sub.error, SubmitError::kNone) << sub.message;
  std::vector<StreamEvent> evs;
  while (sub.stream->wait(std::chrono::milliseconds(5000), &evs)) {
  }
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_TRUE(bit_equal(evs[0].embedding, v));
}

TEST_F(Embeddings, Base64DecodesToTheFloatVector) {
  const json body = {{"model", "dari-tiny"}, {"input", "The king said"}};
  auto f = post(body);
  json b = body;
  b["encoding_format"] = "base64";
  auto r = post(b);
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_EQ(f.status, 200) << f.body;
  const json j = r.json();
  ASSERT_TRUE(j["data"][0]["embedding"].is_string());
  const std::vector<float> v = floats_of_base64(j["data"][0]["embedding"].get<std::string>());
  EXPECT_EQ(v.size(), kEmbd);
  EXPECT_TRUE(bit_equal(v, floats_of(f.json()["data"][0]["embedding"])));
  EXPECT_EQ(j["usage"], f.json()["usage"]);
  b["encoding_format"] = "float";
  EXPECT_EQ(post(b).json()["data"], f.json()["data"]);
}

// Several inputs come back in order, each the vector it gets alone (batch invariance), with the
// usage summed.
TEST_F(Embeddings, MultipleInputsKeepOrder) {
  const std::vector<std::string> texts = {"In the beginning",
                                          "a much longer text about the sea "
                                          "and the ships upon it, and the men who sailed them",
                                          "x", "In the beginning"};
  auto r = post({{"model", "dari-tiny"}, {"input", texts}});
  ASSERT_EQ(r.status, 200) << r.body;
  const json j = r.json();
  ASSERT_EQ(j["data"].size(), texts.size());
  int64_t tokens = 0;
  for (size_t i = 0; i < texts.size(); ++i) {
    EXPECT_EQ(j["data"][i]["index"], i);
    auto alone = post({{"model", "dari-tiny"}, {"input", texts[i]}});
    ASSERT_EQ(alone.status, 200);
    tokens += alone.json()["usage"]["prompt_tokens"].get<int64_t>();
    EXPECT_TRUE(bit_equal(floats_of(j["data"][i]["embedding"]),
                          floats_of(alone.json()["data"][0]["embedding"])))
        << "input " << i;
  }
  EXPECT_EQ(j["usage"]["prompt_tokens"], tokens);
  EXPECT_TRUE(
      bit_equal(floats_of(j["data"][0]["embedding"]), floats_of(j["data"][3]["embedding"])));
  EXPECT_FALSE(
      bit_equal(floats_of(j["data"][0]["embedding"]), floats_of(j["data"][1]["embedding"])));
}

// Token ids give the same vectors as the text they encode: one array, or an array of arrays.
TEST_F(Embeddings, TokenInputs) {
  EncodeOptions eo;
  eo.add_special = true;
  eo.parse_special = true;
  const auto a = engine_->tokenizer().encode("Once upon a time", eo);
  const auto b = engine_->tokenizer().encode("there was a king", eo);
  auto one = post({{"model", "dari-tiny"}, {"input", a}});
  ASSERT_EQ(one.status, 200) << one.body;
  EXPECT_TRUE(bit_equal(floats_of(one.json()["data"][0]["embedding"]), embed("Once upon a time")));
  auto two = post({{"model", "dari-tiny"}, {"input", {a, b}}});
  ASSERT_EQ(two.status, 200) << two.body;
  ASSERT_EQ(two.json()["data"].size(), 2u);
  EXPECT_TRUE(bit_equal(floats_of(two.json()["data"][1]["embedding"]), embed("there was a king")));
  EXPECT_EQ(two.json()["usage"]["prompt_tokens"], a.size() + b.size());
}

// More inputs than the engine's queue holds (256 waiting): submitted as earlier ones finish.
TEST_F(Embeddings, MoreInputsThanTheQueueHolds) {
  std::vector<std::string> texts;
  for (int i = 0; i < 600; ++i) texts.push_back("line " + std::to_string(i % 7));
  auto r = post({{"model", "dari-tiny"}, {"input", texts}, {"encoding_format", "base64"}});
  ASSERT_EQ(r.status, 200) << r.body.substr(0, 300);
  const json j = r.json();
  ASSERT_EQ(j["data"].size(), texts.size());
  const auto first = floats_of_base64(j["data"][0]["embedding"]);
  EXPECT_TRUE(bit_equal(floats_of_base64(j["data"][7]["embedding"]), first));
  EXPECT_TRUE(bit_equal(floats_of_base64(j["data"][595]["embedding"]), first));
  EXPECT_FALSE(bit_equal(floats_of_base64(j["data"][1]["embedding"]), first));
  for (size_t i = 0; i < texts.size(); ++i) EXPECT_EQ(j["data"][i]["index"], i);
}

TEST_F(Embeddings, Errors) {
  const json ok = {{"model", "dari-tiny"}, {"input", "hello"}};
  auto with = [&](const char* k, json v) {
    json b = ok;
    b[k] = std::move(v);
    return b;
  };
  expect_error({{"model", "dari-tiny"}}, 400, "input");
  expect_error({{"input", "hello"}}, 400, "model");
  expect_error(with("input", 42), 400, "input", "invalid_type");
  expect_error(with("input", json::object()), 400, "input", "invalid_type");
  expect_error(with("input", json::array()), 400, "input");
  expect_error(with("input", ""), 400, "input");
  expect_error(with("input", {"fine", ""}), 400, "input[1]");
  expect_error(with("input", {"fine", {1, 2}}), 400, "input[1]", "invalid_type");
  expect_error(with("input", {{1, 2}, "text"}), 400, "input[1]", "invalid_type");
  expect_error(with("input", {{1, 2}, json::array()}), 400, "input[1]");
  expect_error(with("input", {1, -2}), 400, "input[1]");
  expect_error(with("input", {1, 2.5}), 400, "input[1]", "invalid_type");
  expect_error(with("input", {{5, 4096}}), 400, "input[0][1]", "invalid_value");  // n_vocab 4096
  expect_error(with("input", std::vector<std::string>(2049, "a")), 400, "input");
  std::string big;
  for (int i = 0; i < 200; ++i) big += "And it came to pass ";
  expect_error(with("input", big), 400, "input", "context_length_exceeded");
  expect_error(with("input", {"short", big}), 400, "input[1]", "context_length_exceeded");
  expect_error(with("input", std::vector<int32_t>(256, 5)), 400, "input",
               "context_length_exceeded");
  expect_error(with("model", "gpt-4"), 404, "model", "model_not_found");
  expect_error(with("model", 7), 400, "model", "invalid_type");
  expect_error(with("dimensions", 64), 400, "dimensions", "unsupported_value");
  expect_error(with("dimensions", 0), 400, "dimensions");
  expect_error(with("dimensions", "192"), 400, "dimensions", "invalid_type");
  expect_error(with("encoding_format", "hex"), 400, "encoding_format");
  expect_error(with("user", 3), 400, "user", "invalid_type");
  EXPECT_EQ(post(with("dimensions", kEmbd)).status, 200);
  EXPECT_EQ(post(with("encoding_format", nullptr)).status, 200);             // null: as absent
  EXPECT_EQ(post(with("some_extension", true)).status, 200);                 // unknown: ignored
  EXPECT_EQ(post(with("input", std::vector<int32_t>(255, 5))).status, 200);  // n_ctx - 1

  HttpClient c(server_->port());
  auto bad_json = c.request(http::verb::post, "/v1/embeddings",
                            "{\"input\": ", {{"Content-Type", "application/json"}});
  EXPECT_EQ(bad_json.status, 400);
  EXPECT_EQ(bad_json.json()["error"]["code"], "invalid_json");
  EXPECT_EQ(
      c.request(http::verb::post, "/v1/embeddings", ok.dump(), {{"Content-Type", "text/plain"}})
          .status,
      415);  // and the connection closes
  HttpClient c2(server_->port());
  auto get = c2.get("/v1/embeddings");
  EXPECT_EQ(get.status, 405);
  EXPECT_EQ(get.headers["Allow"], "POST");
}

// A client that disconnects cancels the inputs still queued or running.
TEST_F(Embeddings, DisconnectCancelsTheInputs) {
  std::string text;
  for (int i = 0; i < 20; ++i) text += "And it came to pass that ";
  const ServingStats before = engine_->stats();
  auto wait_for = [](const std::function<bool()>& cond) {
    for (int i = 0; i < 6000 && !cond(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return cond();
  };
  {
    HttpClient c(server_->port());
    json b = {{"model", "dari-tiny"}, {"input", std::vector<std::string>(2000, text)}};
    ASSERT_TRUE(c.start_post("/v1/embeddings", b.dump()));
    // Wait until the engine is busy with them (tokenizing comes first), then go away.
    ASSERT_TRUE(wait_for([] { return engine_->stats().running > 0; }));
  }
  // Cancelled: the engine drops what was queued or running, and finishes far fewer than 2000.
  EXPECT_TRUE(wait_for([&] {
    const ServingStats st = engine_->stats();
    return st.running == 0 && st.waiting == 0 && st.requests_cancelled > before.requests_cancelled;
  }));
  const ServingStats after = engine_->stats();
  EXPECT_GT(after.requests_cancelled, before.requests_cancelled);
  EXPECT_LT(after.requests_finished - before.requests_finished, 2000u);
  EXPECT_EQ(post({{"model", "dari-tiny"}, {"input", "still serving"}}).status, 200);
}

// Under the trust layer /v1/embeddings is an API route: a key with the inference scope is needed,
// and each request leaves one audit row.
TEST(EmbeddingsTrust, KeysScopeAndAudit) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::current_path() / ("embeddings_trust_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  trust::Policy policy = trust::default_policy();
  policy.signing_key_file = (dir / "operator.key").string();
  policy.audit_db = (dir / "audit.db").string();
  policy.keys_db = (dir / "keys.db").string();
  policy.require_keys = trust::KeyRequirement::kAlways;
  auto t = trust::TrustLayer::open(policy);
  ASSERT_TRUE(t.ok()) << t.message();
  std::shared_ptr<trust::TrustLayer> tl(std::move(t).value().release());
  auto engine = start_engine();
  ASSERT_NE(engine, nullptr);
  ServerOptions so;
  so.port = 0;
  so.model_name = "dari-tiny";
  so.hooks = make_trust_hooks(tl, std::string(64, 'a'));
  auto s = Server::create(so);
  ASSERT_TRUE(s.ok()) << s.message();
  std::unique_ptr<Server> server = std::move(s).value();
  server->set_engine(engine.get());
  server->start();
  auto key = [&](uint32_t scopes) {
    trust::KeyInfo k;
    k.name = "test";
    k.scopes = scopes;
    auto r = tl->create_key("test", k);
    EXPECT_TRUE(r.ok()) << r.message();
    return r.ok() ? *r : std::string();
  };
  const std::string infer = key(trust::kScopeInfer);
  const std::string metrics = key(trust::kScopeMetrics);
  const std::string body = json{{"model", "dari-tiny"}, {"input", {"one", "two"}}}.dump();
  auto call = [&](const std::string& k) {
    HttpClient c(server->port());
    std::map<std::string, std::string> h = {{"Content-Type", "application/json"}};
    if (!k.empty()) h["Authorization"] = "Bearer " + k;
    return c.request(http::verb::post, "/v1/embeddings", body, h);
  };
  EXPECT_EQ(call("").status, 401);
  EXPECT_EQ(call(metrics).status, 403);
  auto r = call(infer);
  ASSERT_EQ(r.status, 200) << r.body;
  const int64_t prompt_tokens = r.json()["usage"]["prompt_tokens"];
  ASSERT_TRUE(tl->flush().ok());
  const fs::path out = dir / "export.jsonl";
  {
    auto log = trust::AuditLog::open(policy.audit_db, policy);
    ASSERT_TRUE(log.ok()) << log.message();
    EXPECT_TRUE((*log)->verify().ok);
    std::FILE* f = std::fopen(out.string().c_str(), "w");
    ASSERT_NE(f, nullptr);
    ASSERT_TRUE((*log)->export_to(f, {}, trust::ExportFormat::kJsonl).ok());
    std::fclose(f);
  }
  std::ifstream in(out);
  std::string line;
  int rows = 0;
  while (std::getline(in, line)) {
    const json row = json::parse(line, nullptr, false);  // {"seq", ..., "record": {...}}
    if (row.is_discarded() || !row.contains("record")) continue;
    const json& rec = row["record"];
    if (!rec.is_object() || rec.value("endpoint", "") != "/v1/embeddings") continue;
    ++rows;
    EXPECT_EQ(rec["http_status"], 200) << line;
    EXPECT_EQ(rec["prompt_tokens"], prompt_tokens) << line;
    EXPECT_EQ(rec["status"], "ok") << line;
  }
  EXPECT_EQ(rows, 1);
  server->request_stop(false);
  server->wait();
  engine->shutdown(false);
  server.reset();
  fs::remove_all(dir);
}

}  // namespace
}  // namespace dari::server::test
