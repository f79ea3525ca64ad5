// Internal state of dari::server::Server shared by the acceptor, connections and exchanges.
// Thread safety: the atomics and the mailbox registry (mutex) may be used from any thread; the
// rest is immutable after Server::create().
#pragma once

#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/thread_pool.hpp>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "constraints.h"
#include "dari/server/server.h"

namespace dari::server {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using Executor = net::strand<net::io_context::executor_type>;

// Routes engine notifications (engine thread) to a connection strand while the target lives.
// Other threads may hold a Mailbox after the server is gone (an engine stream's notify, an audit
// record's durable callback): kill() drops the strand, which must not outlive the io_context, so
// the server kills every mailbox before destroying it and the last owner may be anyone.
struct Mailbox : std::enable_shared_from_this<Mailbox> {
  std::mutex mu;
  bool alive = true;
  std::atomic<bool> scheduled{false};
  std::function<void()> deliver;  // runs on the strand
  std::optional<Executor> ex;     // guarded by mu; empty once killed
  explicit Mailbox(Executor e) : ex(std::move(e)) {}
  // Any thread: post one delivery unless one is already pending or the mailbox is dead.
  void notify();
  // Any thread: no delivery after this returns; releases the strand.
  void kill();
};

struct TlsContext;  // tls.h

struct Server::Impl {
  explicit Impl(ServerOptions o)
      : opts(std::move(o)),
        ioc_ptr(std::make_unique<net::io_context>()),
        ioc(*ioc_ptr),
        acceptor(std::make_unique<tcp::acceptor>(ioc)) {}
  // I/O objects first, then the workers (their last tasks post to strands of the io_context),
  // then the io_context (destroying pending handlers, hence connections and their exchanges,
  // while the counters below still live).
  ~Impl() {
    signals.reset();
    drain_timer.reset();
    tick_timer.reset();
    acceptor.reset();
    if (workers) workers->join();
    ioc_ptr.reset();
  }

  ServerOptions opts;
  std::unique_ptr<net::io_context> ioc_ptr;
  net::io_context& ioc;
  std::unique_ptr<tcp::acceptor> acceptor;
  std::unique_ptr<net::signal_set> signals;
  std::unique_ptr<net::steady_timer> drain_timer;
  std::unique_ptr<net::steady_timer> tick_timer;  // ServerHooks::on_tick, about every second
  std::vector<std::thread> threads;
  // Request preparation (JSON parsing, chat rendering, tokenization) off the I/O threads.
  std::unique_ptr<net::thread_pool> workers;
  std::shared_ptr<TlsContext> tls;  // null: plain HTTP
  Metrics metrics;
  ConstraintBuilder constraints;  // grammars of response_format / tools, shared by requests
  std::atomic<ServingEngine*> engine{nullptr};
  std::atomic<bool> draining{false};
  std::atomic<bool> stopped{false};
  std::atomic<uint64_t> in_flight{0};  // API exchanges not yet complete
  std::atomic<uint64_t> connections{0};
  std::atomic<uint64_t> next_request_id{1};
  std::chrono::steady_clock::time_point drain_deadline;

  std::mutex mailbox_mu;
  std::vector<std::weak_ptr<Mailbox>> mailboxes;
  bool mailboxes_closed = false;  // after kill_mailboxes: new mailboxes are born dead

  std::shared_ptr<Mailbox> make_mailbox(Executor ex);
  void kill_mailboxes();
  void do_accept();
  void begin_drain(bool drain);
  void check_drain();
  void schedule_tick();
};

}  // namespace dari::server
