// libFuzzer harness for the HTTP side of `dari serve`: raw byte streams through a Connection (the
// Beast request parser, header checks, browser safety, routing, the worker-pool preparation,
// exchanges against a fake engine, pipelining, lingering close), not only the JSON layer.
//
// Input: byte 0 picks the read chunk size (1..64 bytes, so the parser sees every split), byte 1
// bit 0 whether the client disconnects after its last byte (else it half-waits until the short
// deadlines end the connection); the rest is what the client sends.
// Checks: no crash, leak or undefined behaviour (ASan/UBSan); every session that was admitted is
// finished exactly once (the request path's invariant) and none is finished without admission;
// whatever the server wrote starts as an HTTP/1.x response.
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <string>

#include "connection.h"
#include "dari/server/hooks.h"
#include "server/fake_engine.h"

namespace dari::server {
namespace {

// The client side in memory: reads are served from the input in fixed-size chunks.
class MemoryTransport final : public Transport {
 public:
  MemoryTransport(Executor ex, std::string input, size_t chunk, bool hang_up, std::string* out)
      : ex_(ex), silence_(ex), in_(std::move(input)), chunk_(chunk), hang_up_(hang_up), out_(out) {}
  void handshake(Handler h) override {
    net::post(ex_, [h] { h({}); });
  }
  void read_some(net::mutable_buffer b, IoHandler h) override {
    if (closed_) return net::post(ex_, [h] { h(net::error::operation_aborted, 0); });
    if (pos_ >= in_.size()) {
      if (hang_up_) return net::post(ex_, [h] { h(net::error::eof, 0); });
      // The client is silent: the read waits on a timer that only close() ends. The waiting
      // handler belongs to the io_context (as a socket's would), not to this object, so it goes
      // with the io_context instead of keeping the connection alive.
      silence_.expires_at(std::chrono::steady_clock::time_point::max());
      silence_.async_wait([h](boost::system::error_code) { h(net::error::operation_aborted, 0); });
      return;
    }
    const size_t n = std::min({chunk_, b.size(), in_.size() - pos_});
    std::memcpy(b.data(), in_.data() + pos_, n);
    pos_ += n;
    net::post(ex_, [h, n] { h({}, n); });
  }
  void write(net::const_buffer b, IoHandler h) override {
    if (closed_) return net::post(ex_, [h] { h(net::error::operation_aborted, 0); });
    out_->append(static_cast<const char*>(b.data()), b.size());
    const size_t n = b.size();
    net::post(ex_, [h, n] { h({}, n); });
  }
  void shutdown_send() override {}
  void close() override {
    closed_ = true;
    silence_.cancel();
  }
  std::string remote() const override { return "127.0.0.1:40000"; }

 private:
  Executor ex_;
  net::steady_timer silence_;
  std::string in_;
  size_t pos_ = 0;
  size_t chunk_;
  bool hang_up_;
  bool closed_ = false;
  std::string* out_;
};

std::atomic<int> g_open_sessions{0};

// Counts admissions and finishes; "Bearer bad" is refused at the header.
class CountingSession : public RequestSession {
 public:
  ~CountingSession() override {
    if (finished_ != (admitted_ ? 1 : 0)) std::abort();  // exactly once per admitted request
    g_open_sessions.fetch_sub(1);
  }
  std::optional<ApiError> admit(const RequestInfo&, const ApiRequest&) override {
    if (admitted_) std::abort();
    admitted_ = true;
    return std::nullopt;
  }
  bool finish(const RequestInfo&, const CompletionRecord&, std::function<void()>) override {
    ++finished_;
    return true;
  }

 private:
  bool admitted_ = false;
  int finished_ = 0;
};

class CountingHooks : public ServerHooks {
 public:
  SessionOrError open(const RequestInfo& info) override {
    for (const auto& [k, v] : info.headers) {
      if (k == "Authorization" && v == "Bearer bad") {
        ApiError e;
        e.status = 401;
        e.message = "invalid API key";
        return e;
      }
    }
    g_open_sessions.fetch_add(1);
    return std::shared_ptr<RequestSession>(std::make_shared<CountingSession>());
  }
};

test::FakeEngine& engine() {
  static test::FakeEngine* e = [] {
    auto* fe = new test::FakeEngine(test::tiny_tokenizer(), 64);
    fe->tokens = 3;
    return fe;
  }();
  return *e;
}

}  // namespace
}  // namespace dari::server

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace dari::server;
  if (size < 2) return 0;
  ServerOptions o;
  o.model_name = "tiny";
  o.hooks = std::make_shared<CountingHooks>();
  o.header_timeout = std::chrono::milliseconds(30);
  o.body_timeout = std::chrono::milliseconds(30);
  o.idle_timeout = std::chrono::milliseconds(30);
  o.write_timeout = std::chrono::milliseconds(30);
  o.max_body_bytes = 64 * 1024;
  std::string out;
  {
    Server::Impl impl(o);
    impl.workers = std::make_unique<net::thread_pool>(1);
    impl.engine.store(&engine());
    Executor ex = net::make_strand(impl.ioc);
    const size_t chunk = 1 + data[0] % 64;
    std::string input(reinterpret_cast<const char*>(data + 2), size - 2);
    auto transport = std::make_unique<MemoryTransport>(ex, std::move(input), chunk,
                                                       (data[1] & 1) != 0, &out);
    auto conn = std::make_shared<Connection>(impl, std::move(transport), ex);
    conn->start();
    conn.reset();
    impl.ioc.run_for(std::chrono::milliseconds(500));
    impl.kill_mailboxes();
  }  // the io_context goes, with any connection and exchange still alive
  if (g_open_sessions.load() != 0) std::abort();
  if (!out.empty() && out.rfind("HTTP/1.", 0) != 0) std::abort();
  return 0;
}
