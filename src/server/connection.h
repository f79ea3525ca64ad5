// Connection: one accepted connection (keep-alive, plain TCP or TLS), on its own strand.
//
// The I/O side of a request only reads, frames and writes:
//   1. bytes from the Transport go into a buffer and through Beast's request parser;
//   2. once the HEADER is in (before any body byte is parsed): framing checks (Host on HTTP/1.1,
//      414/431 for oversized URL/header), browser safety (Origin, Host; origin.h), the route,
//      and the request's trust session (ServerHooks::open: a missing or unknown key is answered
//      401 here, without reading the body); then "100 Continue" when the client asked for it;
//   3. once the BODY is in: cheap routes are answered on the strand; completions requests are
//      parsed and tokenized on the server's worker pool (prepare.h) and come back to the strand
//      as an Exchange.
// While a request is being handled a read stays pending so that a client that goes away is
// noticed (its exchange is aborted: engine work cancelled, the request finished and audited).
// Bytes that arrive meanwhile (pipelined requests, a stray CRLF) are kept, up to a limit, and
// handled in order once the response is out; they never end the running request.
// HTTP/1.0 clients get their streams without chunked encoding, ended by closing the connection.
// Deadlines (read_timer_): TLS handshake and idle keep-alive wait (close), request header (408,
// from the request's first byte; drops slowloris clients), request body (408, from the end of
// the header), lingering close (see linger()). write_timer_: one queued write (close; slow
// readers).
// Thread: every member is used only on the strand. Ownership: shared_ptr, kept alive by its
// pending handlers; owns its Transport and its Exchange.
#pragma once

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <array>
#include <deque>
#include <memory>
#include <optional>
#include <string>

#include "exchange.h"
#include "transport.h"

namespace dari::server {

namespace http = boost::beast::http;

class EmbeddingsExchange;  // embeddings_route.h

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
  bool url_too_long();
  bool on_header();  // false: an answer was sent and the body will not be read
  void on_request_error(boost::system::error_code ec);
  void on_deadline(Deadline which);
  void route();
  void route_api();
  void route_web();
  void route_tokenize(bool detokenize);
  void route_embeddings();
  void on_prepared(std::variant<PreparedRequest, ApiError> prepared);
  void refuse(const ApiError& e);  // answers and closes after the response (body unread)
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
  std::array<char, 4096> read_buf_;  // the pending read's target
  boost::beast::flat_buffer buf_;    // received, not yet parsed
  std::optional<http::request_parser<http::string_body>> parser_;
  Phase phase_ = Phase::kHandshake;
  bool header_checked_ = false;  // on_header() ran for the current request
  bool line_seen_ = false;       // the request line's end has arrived
  bool read_pending_ = false;
  bool keep_alive_ = true;
  bool http10_ = false;           // the current request is HTTP/1.0 (streams end by closing)
  bool response_ending_ = false;  // the response's last bytes are queued
  bool writing_ = false;
  std::deque<std::string> writes_;
  uint64_t pending_bytes_ = 0;
  std::string endpoint_label_;
  std::string web_name_;  // the web page file this request asks for ("" when not one)
  std::chrono::steady_clock::time_point arrival_;
  RequestInfo info_;
  std::shared_ptr<RequestSession> session_;  // from ServerHooks::open; null when not governed
  std::shared_ptr<Exchange> exchange_;
  std::shared_ptr<EmbeddingsExchange> embeddings_;  // a /v1/embeddings request's exchange
};

}  // namespace dari::server
