// Connection: one accepted connection (keep-alive, plain TCP or TLS), on its own strand.
//
// Reads bytes from its Transport into a buffer and feeds Beast's request parser (body limit →
// 413, header limit → 400), routes complete requests, writes responses from a queue (one write
// in flight), and while an API request runs keeps a read pending to notice a client that
// disconnects (its exchange is then aborted, cancelling the engine work). Deadlines (read_timer_):
// TLS handshake and idle keep-alive wait (close), request header (408 then close, measured from
// the request's first byte; drops slowloris clients), request body (408 then close, measured from
// the end of the header), lingering close (see linger()). write_timer_: one queued write (close;
// slow readers).
// All members are used only on the strand.
#pragma once

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <deque>
#include <memory>
#include <optional>
#include <string>

#include "exchange.h"
#include "transport.h"

namespace dari::server {

namespace http = boost::beast::http;

class Connection : public std::enable_shared_from_this<Connection>, public ResponseSink {
 public:
  Connection(Server::Impl& server, std::unique_ptr<Transport> transport, Executor ex);
  ~Connection() override;
  void start();

  void send_response(int status, const std::string& content_type, std::string body,
                     const HeaderList& extra) override;
  void start_stream(const HeaderList& extra) override;
  void send_chunk(const std::string& data) override;
  void end_stream() override;

 private:
  // kLinger: the last response is sent and the sending side shut; unread input is discarded.
  enum class Phase { kHandshake, kIdle, kReading, kBusy, kLinger, kClosed };
  enum class Deadline { kClose, kHeader, kBody };

  void wait_for_request();
  void start_read();
  void on_read(boost::system::error_code ec, size_t n);
  void begin_request();
  void feed();
  void on_request_error(boost::system::error_code ec);
  void on_deadline(Deadline which);
  void route();
  void simple_response(int status, std::string body, const HeaderList& extra = {});
  void error_response(const ApiError& e);
  void queue_write(std::string bytes);
  void do_write();
  void on_write(boost::system::error_code ec);
  void on_response_done();
  void linger();
  void arm_read(std::chrono::milliseconds d, Deadline which);
  void arm_write();
  void close();
  std::string head(int status, const std::string& content_type, const HeaderList& extra,
                   const std::string* body);

  Server::Impl& server_;
  Executor ex_;
  std::unique_ptr<Transport> transport_;
  net::steady_timer read_timer_;
  net::steady_timer write_timer_;
  boost::beast::flat_buffer buf_;
  std::optional<http::request_parser<http::string_body>> parser_;
  Phase phase_ = Phase::kHandshake;
  bool body_deadline_armed_ = false;  // the body deadline replaced the header deadline
  bool read_pending_ = false;
  bool keep_alive_ = true;
  bool response_ending_ = false;  // the response's last bytes are queued
  bool writing_ = false;
  std::deque<std::string> writes_;
  uint64_t pending_bytes_ = 0;
  std::string endpoint_label_;
  std::chrono::steady_clock::time_point arrival_;
  RequestInfo info_;
  std::shared_ptr<Exchange> exchange_;
};

}  // namespace dari::server
