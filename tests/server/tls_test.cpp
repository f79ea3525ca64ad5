// TLS listener (ServerOptions::ssl_cert_file/ssl_key_file) against FakeEngine: a self-signed
// certificate made with the OpenSSL API, a Beast ssl_stream client that verifies against it,
// and a plain-HTTP client on the TLS port that must fail without hurting the server.
#include <gtest/gtest.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <boost/asio/ssl.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cstdio>
#include <filesystem>
#include <random>

#include "dari/server/server.h"
#include "fake_engine.h"
#include "http_client.h"

namespace dari::server::test {
namespace {

namespace fs = std::filesystem;
namespace ssl = net::ssl;
using nlohmann::json;

// Writes a self-signed P-256 certificate for 127.0.0.1 and its key as PEM files.
bool make_self_signed(const fs::path& cert_file, const fs::path& key_file) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* x = X509_new();
  bool ok = key != nullptr && x != nullptr;
  if (ok) {
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, key);
    X509_NAME* name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>("127.0.0.1"), -1, -1, 0);
    X509_set_issuer_name(x, name);
    ok = X509_sign(x, key, EVP_sha256()) > 0;
  }
  FILE* cf = ok ? std::fopen(cert_file.c_str(), "wb") : nullptr;
  ok = cf != nullptr && PEM_write_X509(cf, x) == 1;
  if (cf != nullptr) std::fclose(cf);
  FILE* kf = ok ? std::fopen(key_file.c_str(), "wb") : nullptr;
  ok = kf != nullptr && PEM_write_PrivateKey(kf, key, nullptr, nullptr, 0, nullptr, nullptr) == 1;
  if (kf != nullptr) std::fclose(kf);
  X509_free(x);
  EVP_PKEY_free(key);
  return ok;
}

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("dari-tls-test-" + std::to_string(std::random_device{}()));
    fs::create_directories(dir_);
    ASSERT_TRUE(make_self_signed(dir_ / "cert.pem", dir_ / "key.pem"));
    auto t = Tokenizer::open(std::string(DARI_SOURCE_DIR) + "/models/dari-tiny.gguf");
    ASSERT_TRUE(t.ok()) << t.message();
    engine_ = std::make_unique<FakeEngine>(std::move(t).value(), 256);
    ServerOptions o;
    o.port = 0;
    o.model_name = "tiny";
    o.ssl_cert_file = (dir_ / "cert.pem").string();
    o.ssl_key_file = (dir_ / "key.pem").string();
    o.header_timeout = std::chrono::seconds(5);
    auto s = Server::create(std::move(o));
    ASSERT_TRUE(s.ok()) << s.message();
    server_ = std::move(s).value();
    server_->set_engine(engine_.get());
    server_->start();
  }
  void TearDown() override {
    if (server_) {
      server_->request_stop(false);
      server_->wait();
      server_.reset();
    }
    if (engine_) engine_->shutdown(false);
    engine_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  // One HTTPS request on a fresh connection, verifying the server against the generated cert.
  HttpResult https(http::verb verb, const std::string& target, const std::string& body = "") {
    HttpResult out;
    net::io_context ioc;
    ssl::context ctx(ssl::context::tls_client);
    ctx.load_verify_file((dir_ / "cert.pem").string());
    ctx.set_verify_mode(ssl::verify_peer);
    boost::beast::ssl_stream<boost::beast::tcp_stream> st(ioc, ctx);
    boost::beast::get_lowest_layer(st).expires_after(std::chrono::seconds(30));
    boost::system::error_code ec;
    boost::beast::get_lowest_layer(st).connect(
        tcp::endpoint(net::ip::make_address("127.0.0.1"), server_->port()), ec);
    if (!ec) st.handshake(ssl::stream_base::client, ec);
    if (ec) {
      out.error = "connect/handshake: " + ec.message();
      return out;
    }
    http::request<http::string_body> req{verb, target, 11};
    req.set(http::field::host, "127.0.0.1");
    if (!body.empty()) req.set(http::field::content_type, "application/json");
    req.body() = body;
    req.prepare_payload();
    http::write(st, req, ec);
    boost::beast::flat_buffer buf;
    http::response<http::string_body> res;
    if (!ec) http::read(st, buf, res, ec);
    if (ec) {
      out.error = "request: " + ec.message();
      return out;
    }
    out.status = static_cast<int>(res.result_int());
    out.body = res.body();
    return out;
  }

  fs::path dir_;
  std::unique_ptr<FakeEngine> engine_;
  std::unique_ptr<Server> server_;
};

TEST_F(TlsTest, HealthAndCompletionOverHttps) {
  auto h = https(http::verb::get, "/health");
  ASSERT_EQ(h.status, 200) << h.error;
  EXPECT_EQ(h.json()["status"], "ok");
  json b = {{"model", "tiny"}, {"prompt", "hello"}, {"max_tokens", 3}};
  auto r = https(http::verb::post, "/v1/completions", b.dump());
  ASSERT_EQ(r.status, 200) << r.error << r.body;
  EXPECT_EQ(r.json()["choices"][0]["text"], "w0 w1 w2 ");
}

TEST_F(TlsTest, PlainHttpOnTheTlsPortFailsCleanly) {
  {
    HttpClient plain(server_->port());
    ASSERT_TRUE(plain.connected());
    auto r = plain.get("/health");
    EXPECT_EQ(r.status, 0);  // no HTTP answer: the handshake failed and the server closed
    EXPECT_FALSE(r.error.empty());
  }
  auto h = https(http::verb::get, "/health");  // the server still serves TLS clients
  EXPECT_EQ(h.status, 200) << h.error;
}

TEST(TlsOptions, MissingOrMismatchedFilesAreClearErrors) {
  ServerOptions o;
  o.port = 0;
  o.ssl_cert_file = "/nonexistent/cert.pem";
  auto s = Server::create(o);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("--ssl-key-file"), std::string::npos) << s.message();
  o.ssl_key_file = "/nonexistent/key.pem";
  s = Server::create(o);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("/nonexistent/cert.pem"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace dari::server::test
