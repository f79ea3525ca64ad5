// Minimal blocking HTTP/1.1 client for the server tests (Boost.Beast), loopback only.
#pragma once

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace dari::server::test {

namespace net = boost::asio;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;

struct HttpResult {
  int status = 0;
  std::string body;
  std::map<std::string, std::string> headers;
  std::string error;  // transport error, "" if none
  nlohmann::json json() const { return nlohmann::json::parse(body, nullptr, false); }
};

// One keep-alive connection; each call sends one request and reads one full response.
class HttpClient {
 public:
  explicit HttpClient(uint16_t port) : stream_(ioc_) {
    stream_.expires_after(std::chrono::seconds(60));
    boost::system::error_code ec;
    stream_.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port), ec);
    connected_ = !ec;
  }
  bool connected() const { return connected_; }

  HttpResult request(http::verb verb, const std::string& target, const std::string& body = "",
                     const std::map<std::string, std::string>& headers = {}) {
    http::request<http::string_body> req{verb, target, 11};
    req.set(http::field::host, "127.0.0.1");
    if (!body.empty()) req.set(http::field::content_type, "application/json");
    for (const auto& [k, v] : headers) req.set(k, v);
    req.body() = body;
    req.prepare_payload();
    return send(req);
  }

  HttpResult send(http::request<http::string_body>& req) {
    HttpResult r;
    boost::system::error_code ec;
    stream_.expires_after(std::chrono::seconds(60));
    http::write(stream_, req, ec);
    if (ec) {
      r.error = "write: " + ec.message();
      return r;
    }
    http::response_parser<http::string_body> parser;
    parser.body_limit(64u << 20);
    http::read(stream_, buf_, parser, ec);
    if (ec) {
      r.error = "read: " + ec.message();
      return r;
    }
    auto& res = parser.get();
    r.status = static_cast<int>(res.result_int());
    r.body = res.body();
    for (const auto& f : res) r.headers[std::string(f.name_string())] = std::string(f.value());
    return r;
  }

  // Sends a POST and returns without reading the response, which the caller then reads piece by
  // piece with read_until (streams). False on a transport error.
  bool start_post(const std::string& target, const std::string& body,
                  const std::map<std::string, std::string>& headers = {}) {
    http::request<http::string_body> req{http::verb::post, target, 11};
    req.set(http::field::host, "127.0.0.1");
    req.set(http::field::content_type, "application/json");
    for (const auto& [k, v] : headers) req.set(k, v);
    req.body() = body;
    req.prepare_payload();
    boost::system::error_code ec;
    stream_.expires_after(std::chrono::seconds(60));
    http::write(stream_, req, ec);
    return !ec;
  }

  // Appends raw response bytes to *got until it contains `marker`. False if the connection ended
  // first (error, close, or no bytes for 60 s); *got keeps what arrived.
  bool read_until(std::string* got, std::string_view marker) {
    char buf[4096];
    while (got->find(marker) == std::string::npos) {
      boost::system::error_code ec;
      stream_.expires_after(std::chrono::seconds(60));
      const size_t n = stream_.read_some(net::buffer(buf), ec);
      got->append(buf, n);
      if (ec) return got->find(marker) != std::string::npos;
    }
    return true;
  }

  HttpResult post(const std::string& target, const nlohmann::json& body) {
    return request(http::verb::post, target, body.dump());
  }
  HttpResult get(const std::string& target) { return request(http::verb::get, target); }

  boost::beast::tcp_stream& stream() { return stream_; }

 private:
  net::io_context ioc_;
  boost::beast::tcp_stream stream_;
  boost::beast::flat_buffer buf_;
  bool connected_ = false;
};

// The JSON payloads of "data: ..." SSE events (without [DONE]); *done set if [DONE] was seen.
inline std::vector<nlohmann::json> sse_events(const std::string& body, bool* done) {
  std::vector<nlohmann::json> out;
  *done = false;
  size_t pos = 0;
  while (pos < body.size()) {
    size_t end = body.find("\n\n", pos);
    if (end == std::string::npos) end = body.size();
    std::string ev = body.substr(pos, end - pos);
    pos = end + 2;
    if (ev.rfind("data: ", 0) != 0) continue;
    std::string data = ev.substr(6);
    if (data == "[DONE]") {
      *done = true;
      continue;
    }
    out.push_back(nlohmann::json::parse(data, nullptr, false));
  }
  return out;
}

// Value of a metric line "name{labels} value" or "name value"; -1 if absent.
inline double metric_value(const std::string& text, const std::string& name_with_labels) {
  size_t pos = 0;
  while ((pos = text.find(name_with_labels + " ", pos)) != std::string::npos) {
    if (pos == 0 || text[pos - 1] == '\n') {
      return std::stod(text.substr(pos + name_with_labels.size() + 1));
    }
    pos += 1;
  }
  return -1.0;
}

}  // namespace dari::server::test
