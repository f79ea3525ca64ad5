// Connection: HTTP/1.1 keep-alive session (see connection.h).
#include "connection.h"

#include "responses.h"

namespace dari::server {

namespace {

constexpr uint32_t kHeaderLimit = 16 * 1024;
constexpr size_t kReadBytes = 4096;
constexpr std::chrono::milliseconds kLingerTime{2000};

std::string to_hex(size_t n) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%zx", n);
  return buf;
}

}  // namespace

Connection::Connection(Server::Impl& server, std::unique_ptr<Transport> transport, Executor ex)
    : server_(server),
      ex_(ex),
      transport_(std::move(transport)),
      read_timer_(ex),
      write_timer_(ex) {
  server_.connections.fetch_add(1);
  info_.remote = transport_->remote();
}

Connection::~Connection() {
  server_.connections.fetch_sub(1);
}

void Connection::start() {
  net::dispatch(ex_, [self = shared_from_this()] {
    self->arm_read(self->server_.opts.header_timeout, Deadline::kClose);
    self->transport_->handshake([self](boost::system::error_code ec) {
      if (self->phase_ == Phase::kClosed) return;
      if (ec) {  // e.g. plain HTTP sent to a TLS port: nothing to answer in
        self->close();
        return;
      }
      self->wait_for_request();
    });
  });
}

void Connection::arm_read(std::chrono::milliseconds d, Deadline which) {
  read_timer_.expires_after(d);
  read_timer_.async_wait([self = shared_from_this(), which](boost::system::error_code ec) {
    if (ec == net::error::operation_aborted) return;
    if (self->read_timer_.expiry() <= std::chrono::steady_clock::now()) self->on_deadline(which);
  });
}

void Connection::arm_write() {
  write_timer_.expires_after(server_.opts.write_timeout);
  write_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (ec == net::error::operation_aborted) return;
    if (self->write_timer_.expiry() <= std::chrono::steady_clock::now()) self->close();
  });
}

void Connection::on_deadline(Deadline which) {
  if (which == Deadline::kClose || phase_ != Phase::kReading) {
    if (phase_ != Phase::kBusy) close();  // handshake or idle wait; kBusy: a stale deadline
    return;
  }
  // Header or body too slow (slowloris): answer 408 and close; the pending read stays until then.
  phase_ = Phase::kBusy;
  keep_alive_ = false;
  endpoint_label_ = "other";
  const bool header = which == Deadline::kHeader;
  const auto limit = header ? server_.opts.header_timeout : server_.opts.body_timeout;
  ApiError e;
  e.status = 408;
  e.message = std::string("the request ") + (header ? "header" : "body") +
              " did not arrive within " + std::to_string(limit.count()) + " ms";
  e.code = "request_timeout";
  error_response(e);
}

void Connection::wait_for_request() {
  phase_ = Phase::kIdle;
  if (buf_.size() > 0) return begin_request();
  arm_read(server_.opts.idle_timeout, Deadline::kClose);
  if (!read_pending_) start_read();
}

void Connection::start_read() {
  read_pending_ = true;
  transport_->read_some(buf_.prepare(kReadBytes),
                        [self = shared_from_this()](boost::system::error_code ec, size_t n) {
                          self->on_read(ec, n);
                        });
}

void Connection::on_read(boost::system::error_code ec, size_t n) {
  read_pending_ = false;
  if (phase_ == Phase::kClosed) return;
  if (ec) {  // peer closed or reset (also mid-request): abandon whatever runs for it
    close();
    return;
  }
  buf_.commit(n);
  if (phase_ == Phase::kLinger) {
    buf_.consume(buf_.size());
    start_read();
  } else if (phase_ == Phase::kIdle) {
    begin_request();
  } else if (phase_ == Phase::kReading) {
    feed();
  }
  // kBusy: the client pipelined data; it stays buffered for the next request.
}

void Connection::begin_request() {
  phase_ = Phase::kReading;
  arrival_ = std::chrono::steady_clock::now();
  body_deadline_armed_ = false;
  arm_read(server_.opts.header_timeout, Deadline::kHeader);
  parser_.emplace();
  parser_->eager(true);
  parser_->body_limit(server_.opts.max_body_bytes);
  parser_->header_limit(kHeaderLimit);
  feed();
}

void Connection::feed() {
  boost::system::error_code ec;
  while (buf_.size() > 0 && !parser_->is_done()) {
    const size_t used = parser_->put(buf_.data(), ec);
    buf_.consume(used);
    if (ec == http::error::need_more) break;
    if (ec) return on_request_error(ec);
    if (used == 0) break;
  }
  if (parser_->is_done()) {
    read_timer_.cancel();
    phase_ = Phase::kBusy;
    return route();
  }
  if (parser_->is_header_done() && !body_deadline_armed_) {
    body_deadline_armed_ = true;
    arm_read(server_.opts.body_timeout, Deadline::kBody);
  }
  if (!read_pending_) start_read();
}

void Connection::on_request_error(boost::system::error_code ec) {
  read_timer_.cancel();
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
  return error_response(bad_request("", "malformed HTTP request: " + ec.message()));
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
  arm_write();
  transport_->write(
      net::buffer(writes_.front()),
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
  if (!keep_alive_ || server_.draining.load()) return linger();
  wait_for_request();
}

void Connection::linger() {
  // Closing with unread request bytes (e.g. the rest of a body answered with 413) would reset
  // the connection and could destroy the response before the client reads it: half-close, then
  // read and discard until the client closes or kLingerTime passes.
  transport_->shutdown_send();
  phase_ = Phase::kLinger;
  buf_.consume(buf_.size());
  arm_read(kLingerTime, Deadline::kClose);
  if (!read_pending_) start_read();
}

void Connection::close() {
  if (phase_ == Phase::kClosed) return;
  phase_ = Phase::kClosed;
  if (exchange_) exchange_->abort();
  read_timer_.cancel();
  write_timer_.cancel();
  transport_->close();
}

}  // namespace dari::server
