// Connection: HTTP/1.1 keep-alive session (see connection.h).
#include "connection.h"

#include <boost/beast/http/read.hpp>

#include "responses.h"

namespace dari::server {

namespace {

constexpr uint32_t kHeaderLimit = 16 * 1024;
constexpr size_t kWatchBytes = 4096;

std::string to_hex(size_t n) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%zx", n);
  return buf;
}

}  // namespace

Connection::Connection(Server::Impl& server, tcp::socket socket, Executor ex)
    : server_(server), ex_(ex), socket_(std::move(socket)), read_timer_(ex), write_timer_(ex) {
  server_.connections.fetch_add(1);
  boost::system::error_code ec;
  auto ep = socket_.remote_endpoint(ec);
  if (!ec) info_.remote = ep.address().to_string() + ":" + std::to_string(ep.port());
}

Connection::~Connection() {
  server_.connections.fetch_sub(1);
}

void Connection::start() {
  net::dispatch(ex_, [self = shared_from_this()] { self->wait_for_request(); });
}

void Connection::arm(net::steady_timer& t, std::chrono::milliseconds d) {
  t.expires_after(d);
  t.async_wait([self = shared_from_this(), &t](boost::system::error_code ec) {
    if (ec == net::error::operation_aborted) return;
    if (t.expiry() <= std::chrono::steady_clock::now()) self->close();
  });
}

void Connection::wait_for_request() {
  phase_ = Phase::kIdle;
  if (buf_.size() > 0) return read_request();
  arm(read_timer_, server_.opts.idle_timeout);
  if (!watch_pending_) start_watch();
}

void Connection::start_watch() {
  watch_pending_ = true;
  socket_.async_read_some(buf_.prepare(kWatchBytes),
                          [self = shared_from_this()](boost::system::error_code ec, size_t n) {
                            self->on_watch(ec, n);
                          });
}

void Connection::on_watch(boost::system::error_code ec, size_t n) {
  watch_pending_ = false;
  if (phase_ == Phase::kClosed) return;
  if (ec) {  // peer closed or reset: abandon whatever runs for it
    close();
    return;
  }
  buf_.commit(n);
  if (phase_ == Phase::kIdle) {
    read_timer_.cancel();
    read_request();
  }
  // kBusy: the client pipelined data; it stays buffered for the next request.
}

void Connection::read_request() {
  phase_ = Phase::kReading;
  arrival_ = std::chrono::steady_clock::now();
  arm(read_timer_, server_.opts.request_timeout);
  parser_.emplace();
  parser_->body_limit(server_.opts.max_body_bytes);
  parser_->header_limit(kHeaderLimit);
  http::async_read(socket_, buf_, *parser_,
                   [self = shared_from_this()](boost::system::error_code ec, size_t) {
                     self->on_read_request(ec);
                   });
}

void Connection::on_read_request(boost::system::error_code ec) {
  read_timer_.cancel();
  if (phase_ == Phase::kClosed) return;
  if (ec) {
    endpoint_label_ = "other";
    keep_alive_ = false;
    phase_ = Phase::kBusy;
    if (ec == http::error::body_limit) {
      ApiError e;
      e.status = 413;
      e.message =
          "request body is larger than " + std::to_string(server_.opts.max_body_bytes) + " bytes";
      return error_response(e);
    }
    if (ec == http::error::header_limit) {
      return error_response(bad_request("", "request headers are too large"));
    }
    if (ec.category() == http::make_error_code(http::error::bad_method).category() &&
        ec != http::error::end_of_stream && ec != http::error::partial_message) {
      return error_response(bad_request("", "malformed HTTP request: " + ec.message()));
    }
    close();
    return;
  }
  phase_ = Phase::kBusy;
  route();
}

void Connection::error_response(const ApiError& e) {
  HeaderList extra;
  if (e.retry_after_s > 0) extra.emplace_back("Retry-After", std::to_string(e.retry_after_s));
  send_response(e.status, "application/json", error_body(e), extra);
}

void Connection::simple_response(int status, std::string body, const HeaderList& extra) {
  send_response(status, "application/json", std::move(body), extra);
}

std::string Connection::head(int status, const std::string& content_type, const HeaderList& extra,
                             const std::string* body) {
  std::string h = "HTTP/1.1 " + std::to_string(status) + " ";
  h += std::string(http::obsolete_reason(http::int_to_status(static_cast<unsigned>(status))));
  h += "\r\nServer: dari\r\nContent-Type: " + content_type + "\r\n";
  if (body != nullptr) {
    h += "Content-Length: " + std::to_string(body->size()) + "\r\n";
  } else {
    h += "Cache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n";
  }
  h += keep_alive_ ? "Connection: keep-alive\r\n" : "Connection: close\r\n";
  for (const auto& [k, v] : extra) h += k + ": " + v + "\r\n";
  h += "\r\n";
  return h;
}

void Connection::send_response(int status, const std::string& content_type, std::string body,
                               const HeaderList& extra) {
  if (phase_ == Phase::kClosed) return;
  server_.metrics.count_request(endpoint_label_, status);
  if (server_.draining.load()) keep_alive_ = false;
  std::string bytes = head(status, content_type, extra, &body);
  bytes += body;
  response_ending_ = true;
  queue_write(std::move(bytes));
}

void Connection::start_stream(const HeaderList& extra) {
  if (phase_ == Phase::kClosed) return;
  server_.metrics.count_request(endpoint_label_, 200);
  queue_write(head(200, "text/event-stream", extra, nullptr));
}

void Connection::send_chunk(const std::string& data) {
  if (phase_ == Phase::kClosed || data.empty()) return;
  queue_write(to_hex(data.size()) + "\r\n" + data + "\r\n");
}

void Connection::end_stream() {
  if (phase_ == Phase::kClosed) return;
  response_ending_ = true;
  queue_write("0\r\n\r\n");
}

void Connection::queue_write(std::string bytes) {
  pending_bytes_ += bytes.size();
  writes_.push_back(std::move(bytes));
  if (pending_bytes_ > server_.opts.max_pending_write_bytes) {
    close();  // the client does not read what it asked for
    return;
  }
  if (!writing_) do_write();
}

void Connection::do_write() {
  writing_ = true;
  arm(write_timer_, server_.opts.write_timeout);
  net::async_write(
      socket_, net::buffer(writes_.front()),
      [self = shared_from_this()](boost::system::error_code ec, size_t) { self->on_write(ec); });
}

void Connection::on_write(boost::system::error_code ec) {
  writing_ = false;
  write_timer_.cancel();
  if (phase_ == Phase::kClosed) return;
  if (ec) {
    close();
    return;
  }
  pending_bytes_ -= writes_.front().size();
  writes_.pop_front();
  if (!writes_.empty()) return do_write();
  if (response_ending_) {
    response_ending_ = false;
    on_response_done();
  }
}

void Connection::on_response_done() {
  exchange_.reset();
  if (!keep_alive_ || server_.draining.load()) {
    boost::system::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_send, ignored);
    close();
    return;
  }
  wait_for_request();
}

void Connection::close() {
  if (phase_ == Phase::kClosed) return;
  phase_ = Phase::kClosed;
  if (exchange_) exchange_->abort();
  read_timer_.cancel();
  write_timer_.cancel();
  boost::system::error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
}

}  // namespace dari::server
