// The server tests' HTTP client (http_client.h): all of its Beast code, compiled once.
#include "http_client.h"

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

namespace dari::server::test {

nlohmann::json HttpResult::json() const { return nlohmann::json::parse(body, nullptr, false); }

struct HttpClient::Impl {
  net::io_context ioc;
  boost::beast::tcp_stream stream{ioc};
  boost::beast::flat_buffer buf;

  HttpResult send(http::request<http::string_body>& req) {
    HttpResult r;
    boost::system::error_code ec;
    stream.expires_after(std::chrono::seconds(60));
    http::write(stream, req, ec);
    if (ec) {
      r.error = "write: " + ec.message();
      return r;
    }
    http::response_parser<http::string_body> parser;
    parser.body_limit(64u << 20);
    http::read(stream, buf, parser, ec);
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
};

HttpClient::HttpClient(uint16_t port) : impl_(std::make_unique<Impl>()) {
  impl_->stream.expires_after(std::chrono::seconds(60));
  boost::system::error_code ec;
  impl_->stream.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port), ec);
  connected_ = !ec;
}

HttpClient::~HttpClient() = default;

HttpResult HttpClient::request(http::verb verb, const std::string& target, const std::string& body,
                               const std::map<std::string, std::string>& headers) {
  http::request<http::string_body> req{verb, target, 11};
  req.set(http::field::host, "127.0.0.1");
  if (!body.empty()) req.set(http::field::content_type, "application/json");
  for (const auto& [k, v] : headers) req.set(k, v);
  req.body() = body;
  req.prepare_payload();
  return impl_->send(req);
}

bool HttpClient::start_post(const std::string& target, const std::string& body,
                            const std::map<std::string, std::string>& headers) {
  http::request<http::string_body> req{http::verb::post, target, 11};
  req.set(http::field::host, "127.0.0.1");
  req.set(http::field::content_type, "application/json");
  for (const auto& [k, v] : headers) req.set(k, v);
  req.body() = body;
  req.prepare_payload();
  boost::system::error_code ec;
  impl_->stream.expires_after(std::chrono::seconds(60));
  http::write(impl_->stream, req, ec);
  return !ec;
}

bool HttpClient::read_until(std::string* got, std::string_view marker) {
  char buf[4096];
  while (got->find(marker) == std::string::npos) {
    boost::system::error_code ec;
    impl_->stream.expires_after(std::chrono::seconds(60));
    const size_t n = impl_->stream.read_some(net::buffer(buf), ec);
    got->append(buf, n);
    if (ec) return got->find(marker) != std::string::npos;
  }
  return true;
}

HttpResult HttpClient::post(const std::string& target, const nlohmann::json& body) {
  return request(http::verb::post, target, body.dump());
}

HttpResult HttpClient::get(const std::string& target) { return request(http::verb::get, target); }

boost::beast::tcp_stream& HttpClient::stream() { return impl_->stream; }

std::vector<nlohmann::json> sse_events(const std::string& body, bool* done) {
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

double metric_value(const std::string& text, const std::string& name_with_labels) {
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
