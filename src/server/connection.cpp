// Connection: HTTP/1.x keep-alive session (see connection.h).
#include "connection.h"

#include "anthropic.h"
#include "embeddings_route.h"
#include "responses.h"

namespace dari::server {

namespace {

constexpr uint32_t kHeaderLimit = 16 * 1024;  // request line + fields, bytes
constexpr size_t kUrlLimit = 8 * 1024;        // request line, bytes (longer: 414)
// Bytes kept from a client while its request runs (pipelined requests, stray bytes); past this
// the connection stops reading until the response is out.
constexpr size_t kBusyBufferLimit = 64 * 1024;
constexpr std::chrono::milliseconds kLingerTime{2000};

std::string to_hex(size_t n) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%zx", n);
  return buf;
}

ApiError status_error(int status, std::string code, std::string message) {
  ApiError e;
  e.status = status;
  e.code = std::move(code);
  e.message = std::move(message);
  return e;
}

// Empty lines before a request line are ignored (RFC 9112, section 2.2).
void skip_empty_lines(boost::beast::flat_buffer& buf) {
  const auto* p = static_cast<const char*>(buf.data().data());
  size_t n = 0;
  while (n < buf.size() && (p[n] == '\r' || p[n] == '\n')) ++n;
  buf.consume(n);
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
  // Header or body too slow (slowloris): answer 408 and close.
  const bool header = which == Deadline::kHeader;
  const auto limit = header ? server_.opts.header_timeout : server_.opts.body_timeout;
  endpoint_label_ = "other";
  refuse(status_error(408, "request_timeout",
                      std::string("the request ") + (header ? "header" : "body") +
                          " did not arrive within " + std::to_string(limit.count()) + " ms"));
}

void Connection::wait_for_request() {
  phase_ = Phase::kIdle;
  skip_empty_lines(buf_);
  if (buf_.size() > 0) return begin_request();
  arm_read(server_.opts.idle_timeout, Deadline::kClose);
  if (!read_pending_) start_read();
}

void Connection::start_read() {
  read_pending_ = true;
  // Into a buffer of its own: buf_ may be consumed (and so moved) while this read is pending.
  transport_->read_some(net::buffer(read_buf_),
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
  const size_t take = std::min(n, read_buf_.size());
  net::buffer_copy(buf_.prepare(take), net::buffer(read_buf_.data(), take));
  buf_.commit(take);
  switch (phase_) {
    case Phase::kLinger:
      buf_.consume(buf_.size());
      return start_read();
    case Phase::kIdle:
      skip_empty_lines(buf_);
      if (buf_.size() == 0) return start_read();
      return begin_request();
    case Phase::kReading:
      return feed();
    case Phase::kBusy:
      // The client sent more while its request runs (pipelining, stray bytes): keep it for
      // after the response, and keep listening for a disconnect while the buffer is small.
      if (buf_.size() < kBusyBufferLimit) start_read();
      return;
    default:
      return;
  }
}

void Connection::begin_request() {
  phase_ = Phase::kReading;
  arrival_ = std::chrono::steady_clock::now();
  header_checked_ = false;
  line_seen_ = false;
  session_.reset();
  arm_read(server_.opts.header_timeout, Deadline::kHeader);
  parser_.emplace();
  parser_->eager(false);  // stop after the header, which on_header() checks first
  parser_->body_limit(server_.opts.max_body_bytes);
  parser_->header_limit(kHeaderLimit);
  feed();
}

// A request line still without its end past kUrlLimit bytes is a URL that is too long (414).
// Checked before the parser sees the bytes (it may consume the line before the header is done).
bool Connection::url_too_long() {
  if (line_seen_) return false;
  const std::string_view seen(static_cast<const char*>(buf_.data().data()), buf_.size());
  line_seen_ = seen.substr(0, kUrlLimit).find('\n') != std::string_view::npos;
  return !line_seen_ && seen.size() > kUrlLimit;
}

void Connection::feed() {
  boost::system::error_code ec;
  if (url_too_long()) {
    return refuse(status_error(414, "uri_too_long",
                               "the request URL is longer than " + std::to_string(kUrlLimit) +
                                   " bytes"));
  }
  while (buf_.size() > 0 && !parser_->is_done()) {
    const size_t used = parser_->put(buf_.data(), ec);
    buf_.consume(used);
    if (ec == http::error::need_more) break;
    if (ec) return on_request_error(ec);
    // The header is checked before any of the body is parsed (401 without reading it).
    if (parser_->is_header_done() && !header_checked_) {
      header_checked_ = true;
      if (!on_header()) return;
      parser_->eager(true);
      arm_read(server_.opts.body_timeout, Deadline::kBody);
    }
    if (used == 0) break;
  }
  if (parser_->is_done()) {
    read_timer_.cancel();
    phase_ = Phase::kBusy;
    if (!read_pending_ && buf_.size() < kBusyBufferLimit) start_read();
    return route();
  }
  if (!read_pending_) start_read();
}

void Connection::on_request_error(boost::system::error_code ec) {
  endpoint_label_ = "other";
  if (ec == http::error::body_limit) {
    return refuse(status_error(413, "",
                               "request body is larger than " +
                                   std::to_string(server_.opts.max_body_bytes) + " bytes"));
  }
  if (ec == http::error::header_limit) {
    return refuse(status_error(431, "header_too_large",
                               "the request header is larger than " +
                                   std::to_string(kHeaderLimit) + " bytes"));
  }
  return refuse(bad_request("", "malformed HTTP request: " + ec.message()));
}

// Answers and closes: the rest of the request is never read (lingering close discards it).
void Connection::refuse(const ApiError& e) {
  read_timer_.cancel();
  phase_ = Phase::kBusy;
  keep_alive_ = false;
  error_response(e);
}

void Connection::error_response(const ApiError& e) {
  HeaderList extra;
  if (e.retry_after_s > 0) extra.emplace_back("Retry-After", std::to_string(e.retry_after_s));
  if (e.status == 401) extra.emplace_back("WWW-Authenticate", "Bearer");
  // Anthropic's clients read their own error shape.
  send_response(e.status, "application/json",
                info_.path == "/v1/messages" ? anthropic_error_body(e) : error_body(e), extra);
}

void Connection::simple_response(int status, std::string body, const HeaderList& extra) {
  send_response(status, "application/json", std::move(body), extra);
}

std::string Connection::head(int status, const std::string& content_type, const HeaderList& extra,
                             const std::string* body) {
  std::string h = http10_ ? "HTTP/1.0 " : "HTTP/1.1 ";
  h += std::to_string(status) + " ";
  h += std::string(http::obsolete_reason(http::int_to_status(static_cast<unsigned>(status))));
  h += "\r\nServer: dari\r\nContent-Type: " + content_type + "\r\n";
  if (body != nullptr) {
    h += "Content-Length: " + std::to_string(body->size()) + "\r\n";
  } else if (http10_) {
    h += "Cache-Control: no-cache\r\n";  // HTTP/1.0 has no chunked encoding: the close ends it
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
  if (http10_) keep_alive_ = false;
  queue_write(head(200, "text/event-stream", extra, nullptr));
}

void Connection::send_chunk(const std::string& data) {
  if (phase_ == Phase::kClosed || data.empty()) return;
  if (http10_) return queue_write(data);
  queue_write(to_hex(data.size()) + "\r\n" + data + "\r\n");
}

void Connection::end_stream() {
  if (phase_ == Phase::kClosed) return;
  response_ending_ = true;
  queue_write(http10_ ? std::string() : std::string("0\r\n\r\n"));
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
  embeddings_.reset();
  session_.reset();
  if (!keep_alive_ || server_.draining.load()) return linger();
  wait_for_request();
}

void Connection::linger() {
  // Closing with unread request bytes (e.g. the rest of a body answered with 413) would reset
  // the connection and could destroy the response before the client reads it: half-close, then
  // read and discard until the client closes or kLingerTime (at most the idle timeout) passes.
  transport_->shutdown_send();
  phase_ = Phase::kLinger;
  buf_.consume(buf_.size());
  arm_read(std::min(kLingerTime, server_.opts.idle_timeout), Deadline::kClose);
  if (!read_pending_) start_read();
}

void Connection::close() {
  if (phase_ == Phase::kClosed) return;
  phase_ = Phase::kClosed;
  if (exchange_) exchange_->abort();
  if (embeddings_) embeddings_->abort();
  read_timer_.cancel();
  write_timer_.cancel();
  transport_->close();
}

}  // namespace dari::server
