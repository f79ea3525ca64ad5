// Connection: one accepted TCP connection (keep-alive), on its own strand.
//
// Reads requests with Beast's parser (body limit → 413, header limit → 431), routes them, writes
// responses from a queue (one write in flight), and while an API request runs keeps a read
// pending to notice a client that disconnects (its exchange is then aborted, cancelling the
// engine work). Timers: idle (waiting for a request's first byte), request (whole request read),
// write (one queued write). All members are used only on the strand.
#pragma once

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <deque>
#include <memory>
#include <optional>
#include <string>

#include "exchange.h"

namespace dari::server {

namespace http = boost::beast::http;

class Connection : public std::enable_shared_from_this<Connection>, public ResponseSink {
 public:
  Connection(Server::Impl& server, tcp::socket socket, Executor ex);
  ~Connection() override;
  void start();

  void send_response(int status, const std::string& content_type, std::string body,
                     const HeaderList& extra) override;
  void start_stream(const HeaderList& extra) override;
  void send_chunk(const std::string& data) override;
  void end_stream() override;

 private:
  enum class Phase { kIdle, kReading, kBusy, kClosed };

  void wait_for_request();
  void read_request();
  void on_read_request(boost::system::error_code ec);
  void start_watch();
  void on_watch(boost::system::error_code ec, size_t n);
  void route();
  void simple_response(int status, std::string body, const HeaderList& extra = {});
  void error_response(const ApiError& e);
  void queue_write(std::string bytes);
  void do_write();
  void on_write(boost::system::error_code ec);
  void on_response_done();
  void arm(net::steady_timer& t, std::chrono::milliseconds d);
  void close();
  std::string head(int status, const std::string& content_type, const HeaderList& extra,
                   const std::string* body);

  Server::Impl& server_;
  Executor ex_;
  tcp::socket socket_;
  net::steady_timer read_timer_;
  net::steady_timer write_timer_;
  boost::beast::flat_buffer buf_;
  std::optional<http::request_parser<http::string_body>> parser_;
  Phase phase_ = Phase::kIdle;
  bool watch_pending_ = false;
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
