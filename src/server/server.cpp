// Server: acceptor, I/O threads, signals and draining (see dari/server/server.h).
#include "dari/server/server.h"

#include <csignal>

#include "connection.h"
#include "tls.h"

namespace dari::server {

void Mailbox::notify() {
  std::lock_guard<std::mutex> lock(mu);
  if (!alive || !ex || scheduled.exchange(true)) return;
  net::post(*ex, [self = shared_from_this()] {
    self->scheduled.store(false);
    std::function<void()> fn;
    {
      std::lock_guard<std::mutex> l(self->mu);
      if (!self->alive) return;
      fn = self->deliver;
    }
    if (fn) fn();
  });
}

void Mailbox::kill() {
  std::lock_guard<std::mutex> lock(mu);
  alive = false;
  deliver = nullptr;
  ex.reset();
}

std::shared_ptr<Mailbox> Server::Impl::make_mailbox(Executor ex) {
  auto mb = std::make_shared<Mailbox>(std::move(ex));
  std::lock_guard<std::mutex> lock(mailbox_mu);
  if (mailboxes_closed) {
    mb->kill();
    return mb;
  }
  if (mailboxes.size() > 64 && mailboxes.size() % 64 == 0) {
    std::erase_if(mailboxes, [](const std::weak_ptr<Mailbox>& w) { return w.expired(); });
  }
  mailboxes.push_back(mb);
  return mb;
}

void Server::Impl::kill_mailboxes() {
  std::lock_guard<std::mutex> lock(mailbox_mu);
  for (auto& w : mailboxes) {
    if (auto mb = w.lock()) mb->kill();
  }
  mailboxes.clear();
  mailboxes_closed = true;
}

void Server::Impl::do_accept() {
  acceptor->async_accept(
      net::make_strand(ioc), [this](boost::system::error_code ec, tcp::socket socket) {
        if (ec == net::error::operation_aborted || !acceptor->is_open()) return;
        if (!ec) {
          if (connections.load() >= opts.max_connections || draining.load()) {
            boost::system::error_code ignored;
            socket.close(ignored);
          } else {
            // Streams are many small writes: without TCP_NODELAY, Nagle's algorithm holds each
            // one back until the client's delayed ACK (tens of milliseconds per first token).
            boost::system::error_code ignored;
            socket.set_option(tcp::no_delay(true), ignored);
            Executor ex = net::make_strand(ioc);
            auto transport = tls ? make_tls_transport(*tls, std::move(socket), ex)
                                 : make_plain_transport(std::move(socket), ex);
            auto conn = std::make_shared<Connection>(*this, std::move(transport), ex);
            conn->start();
          }
        }
        do_accept();
      });
}

void Server::Impl::begin_drain(bool drain) {
  if (draining.exchange(true)) {
    if (!drain) ioc.stop();
    return;
  }
  boost::system::error_code ignored;
  acceptor->close(ignored);
  if (signals) signals->cancel(ignored);
  if (!drain) {
    ioc.stop();
    return;
  }
  drain_deadline = std::chrono::steady_clock::now() + opts.drain_timeout;
  drain_timer = std::make_unique<net::steady_timer>(ioc);
  check_drain();
}

void Server::Impl::schedule_tick() {
  tick_timer->expires_after(std::chrono::seconds(1));
  tick_timer->async_wait([this](boost::system::error_code ec) {
    if (ec || draining.load()) return;
    opts.hooks->on_tick();
    schedule_tick();
  });
}

void Server::Impl::check_drain() {
  if (in_flight.load() == 0 || std::chrono::steady_clock::now() >= drain_deadline) {
    ioc.stop();
    return;
  }
  drain_timer->expires_after(std::chrono::milliseconds(20));
  drain_timer->async_wait([this](boost::system::error_code ec) {
    if (!ec) check_drain();
  });
}

namespace {

class PlainTransport final : public Transport {
 public:
  PlainTransport(tcp::socket socket, Executor ex)
      : ex_(std::move(ex)), socket_(std::move(socket)) {}
  void handshake(Handler h) override {
    net::post(ex_, [h = std::move(h)] { h(boost::system::error_code()); });
  }
  void read_some(net::mutable_buffer b, IoHandler h) override {
    socket_.async_read_some(b, net::bind_executor(ex_, std::move(h)));
  }
  void write(net::const_buffer b, IoHandler h) override {
    net::async_write(socket_, b, net::bind_executor(ex_, std::move(h)));
  }
  void shutdown_send() override {
    boost::system::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_send, ignored);
  }
  void close() override {
    boost::system::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
  }
  std::string remote() const override {
    boost::system::error_code ec;
    auto ep = socket_.remote_endpoint(ec);
    return ec ? std::string() : ep.address().to_string() + ":" + std::to_string(ep.port());
  }

 private:
  Executor ex_;
  tcp::socket socket_;
};

}  // namespace

std::unique_ptr<Transport> make_plain_transport(tcp::socket socket, Executor ex) {
  return std::make_unique<PlainTransport>(std::move(socket), std::move(ex));
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Result<std::unique_ptr<Server>> Server::create(ServerOptions opts) {
  auto impl = std::make_unique<Impl>(std::move(opts));
  boost::system::error_code ec;
  const auto addr = net::ip::make_address(impl->opts.host, ec);
  if (ec) return make_error("serve: --host '" + impl->opts.host + "': " + ec.message());
  if (impl->opts.ssl_cert_file.empty() != impl->opts.ssl_key_file.empty()) {
    return make_error("serve: TLS needs both --ssl-cert-file and --ssl-key-file");
  }
  if (!impl->opts.ssl_cert_file.empty()) {
    auto t = make_tls_context(impl->opts.ssl_cert_file, impl->opts.ssl_key_file);
    if (!t.ok()) return make_error(t.message());
    impl->tls = std::move(t).value();
  }
  const tcp::endpoint ep(addr, impl->opts.port);
  auto& a = *impl->acceptor;
  if (a.open(ep.protocol(), ec); ec) return make_error("serve: socket: " + ec.message());
  if (a.set_option(net::socket_base::reuse_address(true), ec); ec) {
    return make_error("serve: SO_REUSEADDR: " + ec.message());
  }
  if (a.bind(ep, ec); ec) {
    return make_error("serve: bind " + impl->opts.host + ":" + std::to_string(impl->opts.port) +
                      ": " + ec.message());
  }
  if (a.listen(net::socket_base::max_listen_connections, ec); ec) {
    return make_error("serve: listen: " + ec.message());
  }
  if (impl->opts.io_threads == 0) impl->opts.io_threads = 1;
  impl->workers = std::make_unique<net::thread_pool>(std::max<uint32_t>(1, impl->opts.prepare_threads));
  if (impl->opts.handle_signals) {
    impl->signals = std::make_unique<net::signal_set>(impl->ioc, SIGINT, SIGTERM);
    Impl* p = impl.get();
    impl->signals->async_wait([p](boost::system::error_code sec, int) {
      if (!sec) p->begin_drain(true);
    });
  }
  impl->do_accept();
  if (impl->opts.hooks) {
    impl->tick_timer = std::make_unique<net::steady_timer>(impl->ioc);
    impl->schedule_tick();
  }
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

Server::~Server() {
  if (!impl_->stopped.load()) {
    impl_->ioc.stop();
    wait();
  }
  impl_->kill_mailboxes();
}

uint16_t Server::port() const {
  boost::system::error_code ec;
  auto ep = impl_->acceptor->local_endpoint(ec);
  return ec ? impl_->opts.port : ep.port();
}

void Server::set_engine(ServingEngine* engine) {
  impl_->engine.store(engine);
}

void Server::start() {
  for (uint32_t i = 0; i < impl_->opts.io_threads; ++i) {
    impl_->threads.emplace_back([this] { impl_->ioc.run(); });
  }
}

void Server::run() {
  for (uint32_t i = 1; i < impl_->opts.io_threads; ++i) {
    impl_->threads.emplace_back([this] { impl_->ioc.run(); });
  }
  impl_->ioc.run();
  wait();
}

void Server::wait() {
  for (auto& t : impl_->threads) {
    if (t.joinable()) t.join();
  }
  impl_->threads.clear();
  impl_->stopped.store(true);
  impl_->kill_mailboxes();
}

void Server::request_stop(bool drain) {
  net::post(impl_->ioc, [p = impl_.get(), drain] { p->begin_drain(drain); });
}

Metrics& Server::metrics() {
  return impl_->metrics;
}

}  // namespace dari::server
