// Minimal blocking HTTP/1.1 client for the server tests (Boost.Beast), loopback only.
//
// The Beast code lives in http_client.cpp (library dari_server_test_client), compiled once: a
// test that only calls the methods below does not instantiate Beast's HTTP parser and
// serializer. This header brings in just the stream type (for stream()) and http::verb; a test
// that reads or writes raw bytes or responses itself includes what it uses (e.g.
// <boost/beast/http.hpp>, <boost/asio/write.hpp>).
#pragma once

#include <boost/beast/core/tcp_stream.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <ostream>  // before verb.hpp, whose operator<< needs the full std::ostream
#include <string>
#include <string_view>
#include <vector>

#include <boost/beast/http/verb.hpp>

namespace dari::server::test {

namespace net = boost::asio;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;

struct HttpResult {
  int status = 0;
  std::string body;
  std::map<std::string, std::string> headers;
  std::string error;  // transport error, "" if none
  nlohmann::json json() const;  // the body parsed; a discarded value if it is not JSON
};

// One keep-alive connection; each call sends one request and reads one full response.
class HttpClient {
 public:
  explicit HttpClient(uint16_t port);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  bool connected() const { return connected_; }

  HttpResult request(http::verb verb, const std::string& target, const std::string& body = "",
                     const std::map<std::string, std::string>& headers = {});

  // Sends a POST and returns without reading the response, which the caller then reads piece by
  // piece with read_until (streams). False on a transport error.
  bool start_post(const std::string& target, const std::string& body,
                  const std::map<std::string, std::string>& headers = {});

  // Appends raw response bytes to *got until it contains `marker`. False if the connection ended
  // first (error, close, or no bytes for 60 s); *got keeps what arrived.
  bool read_until(std::string* got, std::string_view marker);

  HttpResult post(const std::string& target, const nlohmann::json& body);
  HttpResult get(const std::string& target);

  boost::beast::tcp_stream& stream();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  bool connected_ = false;
};

// The JSON payloads of "data: ..." SSE events (without [DONE]); *done set if [DONE] was seen.
std::vector<nlohmann::json> sse_events(const std::string& body, bool* done);

// Value of a metric line "name{labels} value" or "name value"; -1 if absent.
double metric_value(const std::string& text, const std::string& name_with_labels);

}  // namespace dari::server::test
