// Server: the OpenAI-compatible HTTP server of `dari serve` (Boost.Beast over Asio).
//
// I/O: `io_threads` threads run one io_context; each connection lives on its own strand; no
// thread per connection. Keep-alive; bodies over max_body_bytes get 413. Timeouts: a request's
// header must arrive within header_timeout of its first byte (slowloris) and its body within
// body_timeout of the header's end, else 408 and the connection closes; idle keep-alive
// connections close after idle_timeout; a write blocked longer than write_timeout (slow reader)
// closes the connection. With ssl_cert_file and ssl_key_file set the listener speaks TLS only
// (the handshake must finish within header_timeout); otherwise plain HTTP. Engine events reach a
// connection through Stream::set_notify, which posts to the connection's strand (the engine thread
// never blocks on I/O, the I/O threads never wait on the engine). A client that disconnects has its
// engine request cancelled.
//
// Routes: POST /v1/chat/completions, POST /v1/completions, GET /v1/models, GET /health,
// GET /metrics. Until set_engine() is called the server is "loading": /health and the API answer
// 503. request_stop(drain=true) (also SIGTERM/SIGINT when handle_signals) stops accepting, answers
// new API requests with 503, lets in-flight requests finish (at most drain_timeout), then run()
// returns.
//
// Ownership: Server owns its io_context, threads and connections; the engine is borrowed and must
// outlive the Server (destroy the Server first; call engine->shutdown() after run() returns).
// Thread safety: port(), set_engine(), request_stop() and metrics() may be called from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dari/core/result.h"
#include "dari/engine/serving.h"
#include "dari/server/api.h"
#include "dari/server/hooks.h"
#include "dari/server/metrics.h"

namespace dari::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;             // 0: the OS picks (see Server::port())
  std::string model_name = "dari";  // id in /v1/models and responses; requests must name it
  uint32_t io_threads = 1;
  // Threads that parse and tokenize completions requests (never the I/O threads, so a large
  // prompt cannot stall /health or other connections).
  uint32_t prepare_threads = 2;
  uint64_t max_body_bytes = 8u << 20;  // larger bodies → 413
  std::chrono::milliseconds header_timeout{
      10000};  // first byte → end of header (and TLS handshake)
  std::chrono::milliseconds body_timeout{30000};  // end of header → end of body
  std::chrono::milliseconds idle_timeout{120000};
  std::chrono::milliseconds write_timeout{30000};
  std::chrono::milliseconds drain_timeout{30000};
  uint64_t max_pending_write_bytes = 4u << 20;  // unsent SSE bytes per connection before closing
  uint32_t max_connections = 10000;             // more are closed at accept
  bool handle_signals = false;                  // SIGTERM/SIGINT → request_stop(true)
  std::string ssl_cert_file;                    // PEM certificate chain; with ssl_key_file: TLS
  std::string ssl_key_file;                     // PEM private key
  ApiLimits limits;
  // Browser safety (src/server/origin.h): extra allowed Origin values ("scheme://host[:port]";
  // the server's own origin is always allowed) and Host names for loopback clients.
  std::vector<std::string> allowed_origins;
  std::vector<std::string> allowed_hosts;
  std::shared_ptr<ServerHooks> hooks;  // optional
  // The chat page ("/") and dashboard ("/dashboard") with their files ("/web/..."), embedded in
  // the binary (web/); web_dir serves them from that folder instead (page development).
  bool web_ui = true;
  std::string web_dir;
};

class Server {
 public:
  // Binds and listens (errors: bad address, port in use, unreadable TLS certificate or key, only
  // one of the two given). Does not start serving.
  static Result<std::unique_ptr<Server>> create(ServerOptions opts);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  uint16_t port() const;
  // The engine is ready: API requests are served from now on. Call at most once.
  void set_engine(ServingEngine* engine);
  // Runs the I/O threads until stopped; the calling thread is one of them.
  void run();
  // Runs the I/O threads in the background (tests); stop with request_stop() and wait().
  void start();
  void wait();
  void request_stop(bool drain);
  Metrics& metrics();

  struct Impl;

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace dari::server
