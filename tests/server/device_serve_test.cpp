// `dari serve` on a device backend: the real ServingEngine on the Vulkan plugin behind the HTTP
// server. Eight requests sent at once (continuous batching: they share forward steps, so the
// device runs its matrix-matrix kernels instead of the matrix-vector ones) must give the same
// greedy tokens as each request alone, and the same as the CPU backend gives. Needs the Vulkan
// plugin and a Vulkan device (lavapipe suffices); built only with the plugin, and a missing
// device is then a failure unless DARI_ALLOW_NO_VULKAN_DEVICE is set.
#include <gtest/gtest.h>

#include <cstdlib>
#include <thread>

#include "dari/backend/backend.h"
#include "dari/server/server.h"
#include "http_client.h"

namespace dari::server::test {
namespace {

using nlohmann::json;

constexpr int kClients = 8;

// A server on `backend` with the stories260K test model; stops in the destructor.
class ModelServer {
 public:
  explicit ModelServer(const std::string& backend) {
    ServingOptions eo;
    eo.model_path = std::string(DARI_TESTDATA_DIR) + "/models/stories260K.gguf";
    eo.backend = backend;
    eo.n_ctx = 128;
    eo.max_running = kClients;
    eo.n_threads = 2;
    auto e = ServingEngine::start(eo);
    if (!e.ok()) {
      error_ = e.message();
      return;
    }
    engine_ = std::move(e).value();
    ServerOptions so;
    so.port = 0;
    so.model_name = "stories";
    auto s = Server::create(so);
    if (!s.ok()) {
      error_ = s.message();
      return;
    }
    server_ = std::move(s).value();
    server_->set_engine(engine_.get());
    server_->start();
  }
  ~ModelServer() {
    if (server_) {
      server_->request_stop(false);
      server_->wait();
    }
    if (engine_) engine_->shutdown(false);
  }
  const std::string& error() const { return error_; }
  uint16_t port() const { return server_->port(); }

 private:
  std::unique_ptr<ServingEngine> engine_;
  std::unique_ptr<Server> server_;
  std::string error_;
};

std::string prompt(int i) {
  static const char* kStarts[] = {"Once upon a time", "The little dog", "Lily wanted to",
                                  "One day, Tom",     "The sun was",    "A big bird",
                                  "Mom said",         "The cat and the"};
  return kStarts[i % 8];
}

// Greedy completion text of prompt i (status 200 asserted by the caller through the text).
std::string complete(uint16_t port, int i) {
  HttpClient c(port);
  auto r = c.post("/v1/completions", {{"model", "stories"},
                                      {"prompt", prompt(i)},
                                      {"max_tokens", 24},
                                      {"temperature", 0}});
  if (r.status != 200) return "HTTP " + std::to_string(r.status) + ": " + r.body;
  return r.json()["choices"][0]["text"].get<std::string>();
}

std::vector<std::string> alone(uint16_t port) {
  std::vector<std::string> out;
  for (int i = 0; i < kClients; ++i) out.push_back(complete(port, i));
  return out;
}

std::vector<std::string> together(uint16_t port) {
  std::vector<std::string> out(kClients);
  std::vector<std::thread> threads;
  for (int i = 0; i < kClients; ++i) {
    threads.emplace_back([&, i] { out[i] = complete(port, i); });
  }
  for (auto& t : threads) t.join();
  return out;
}

TEST(DeviceServe, VulkanConcurrentRequestsMatchAloneAndCpu) {
  add_plugin_search_dir(DARI_BINARY_DIR);
  if (auto probe = create_backend("vulkan"); !probe.ok()) {
    if (std::getenv("DARI_ALLOW_NO_VULKAN_DEVICE") != nullptr) GTEST_SKIP() << probe.message();
    FAIL() << "the Vulkan plugin was built but cannot run (install mesa-vulkan-drivers for a "
              "software device, or set DARI_ALLOW_NO_VULKAN_DEVICE=1): "
           << probe.message();
  }
  std::vector<std::string> cpu;
  {
    ModelServer s("cpu");
    ASSERT_TRUE(s.error().empty()) << s.error();
    cpu = alone(s.port());
  }
  ModelServer s("vulkan");
  ASSERT_TRUE(s.error().empty()) << s.error();
  const std::vector<std::string> one = alone(s.port());
  const std::vector<std::string> all = together(s.port());
  for (int i = 0; i < kClients; ++i) {
    EXPECT_FALSE(one[i].empty()) << i;
    EXPECT_EQ(one[i], all[i]) << "request " << i << " alone vs with " << kClients - 1 << " others";
    EXPECT_EQ(one[i], cpu[i]) << "request " << i << " on vulkan vs cpu";
  }
}

}  // namespace
}  // namespace dari::server::test
