// Test fixture: a real Server with the trust layer's hooks over a FakeEngine, its policy's files
// (signing key, audit and key databases) in a folder of its own per test. Tests adjust policy_
// and then call start(). Thread: the test's; the server runs its own I/O threads.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>

#include "dari/server/server.h"
#include "dari/server/trust_hooks.h"
#include "dari/trust/trust.h"
#include "fake_engine.h"

namespace dari::server::test {

class TrustServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = std::filesystem::current_path() / (std::string(info->test_suite_name()) + "_" +
                                              std::to_string(::getpid()) + "_" + info->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    policy_ = trust::default_policy();
    policy_.signing_key_file = (dir_ / "operator.key").string();
    policy_.audit_db = (dir_ / "audit.db").string();
    policy_.keys_db = (dir_ / "keys.db").string();
  }
  // Opens the trust layer with policy_ and serves model "tiny" on a free loopback port; `o`
  // may carry further options (its host, port, model name and hooks are set here).
  void start(ServerOptions o = {}) {
    auto t = trust::TrustLayer::open(policy_);
    ASSERT_TRUE(t.ok()) << t.message();
    trust_ = std::shared_ptr<trust::TrustLayer>(std::move(t).value().release());
    engine_ = std::make_unique<FakeEngine>(tiny_tokenizer(), 256);
    o.host = "127.0.0.1";
    o.port = 0;
    o.model_name = "tiny";
    o.hooks = make_trust_hooks(trust_, std::string(64, 'a'));
    auto s = Server::create(std::move(o));
    ASSERT_TRUE(s.ok()) << s.message();
    server_ = std::move(s).value();
    server_->set_engine(engine_.get());
    server_->start();
    port_ = server_->port();
  }
  void TearDown() override {
    if (server_) {
      server_->request_stop(false);
      server_->wait();
      engine_->shutdown(false);
      server_.reset();
      engine_.reset();
    }
    trust_.reset();
    std::filesystem::remove_all(dir_);
  }

  std::filesystem::path dir_;
  trust::Policy policy_;
  std::shared_ptr<trust::TrustLayer> trust_;
  std::unique_ptr<FakeEngine> engine_;
  std::unique_ptr<Server> server_;
  uint16_t port_ = 0;
};

}  // namespace dari::server::test
