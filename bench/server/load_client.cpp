// Blocking HTTP/1.1 client pieces for the load generators (see load_client.h).
#include "load_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

namespace dari::bench {

namespace http = boost::beast::http;

namespace {

void set_timeout(int fd, int opt, int ms) {
  timeval tv{};
  tv.tv_sec = ms / 1000;
  tv.tv_usec = (ms % 1000) * 1000;
  ::setsockopt(fd, SOL_SOCKET, opt, &tv, sizeof tv);
}

std::string sys_error(const char* what) {
  if (errno == EAGAIN || errno == EWOULDBLOCK) return std::string(what) + ": timed out";
  return std::string(what) + ": " + std::strerror(errno);
}

}  // namespace

Conn::~Conn() {
  close();
}

Conn::Conn(Conn&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}

Conn& Conn::operator=(Conn&& o) noexcept {
  if (this != &o) {
    close();
    fd_ = std::exchange(o.fd_, -1);
  }
  return *this;
}

bool Conn::connect(const Target& t, const ConnOptions& o, std::string* err) {
  close();
  const std::string where = "connect " + t.host + ":" + std::to_string(t.port);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(t.port);
  if (::inet_pton(AF_INET, t.host.c_str(), &addr.sin_addr) != 1) {
    *err = where + ": not a numeric IPv4 address";
    return false;
  }
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) {
    *err = sys_error("socket");
    return false;
  }
  if (o.rcvbuf_bytes > 0) {
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &o.rcvbuf_bytes, sizeof o.rcvbuf_bytes);
  }
  set_timeout(fd_, SO_RCVTIMEO, o.timeout_ms);
  set_timeout(fd_, SO_SNDTIMEO, o.timeout_ms);
  if (::connect(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    *err = sys_error(where.c_str());
    close();
    return false;
  }
  return true;
}

bool Conn::send_all(std::string_view data, std::string* err) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      *err = sys_error("send");
      return false;
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

long Conn::recv_some(size_t max, std::string* out, std::string* err) {
  const size_t old = out->size();
  out->resize(old + max);
  ssize_t n;
  do {
    n = ::recv(fd_, out->data() + old, max, 0);
  } while (n < 0 && errno == EINTR);
  out->resize(old + (n > 0 ? static_cast<size_t>(n) : 0));
  if (n < 0) *err = sys_error("recv");
  return static_cast<long>(n);
}

bool Conn::wait_readable(int ms) {
  pollfd pfd{fd_, POLLIN, 0};
  int n;
  do {
    n = ::poll(&pfd, 1, ms);
  } while (n < 0 && errno == EINTR);
  return n > 0;
}

void Conn::close(bool reset) {
  if (fd_ < 0) return;
  if (reset) {
    linger l{1, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  }
  ::close(fd_);
  fd_ = -1;
}

Response read_response(Conn& c, std::string* carry, const ReadOptions& o) {
  Response r;
  http::response_parser<http::string_body> p;
  p.eager(true);
  p.body_limit(256u << 20);
  size_t delivered = 0;
  std::string& in = *carry;
  for (;;) {
    boost::system::error_code ec;
    while (!in.empty() && !p.is_done()) {
      const size_t used = p.put(boost::asio::buffer(in), ec);
      in.erase(0, used);
      if (ec == http::error::need_more) {
        ec = {};
        break;
      }
      if (ec || used == 0) break;
    }
    if (ec) {
      r.error = "parse: " + ec.message();
      return r;
    }
    const std::string& body = p.get().body();
    if (body.size() > delivered && o.on_body) {
      const bool go_on = o.on_body(std::string_view(body).substr(delivered));
      delivered = body.size();
      if (!go_on) {
        r.stopped = true;
        break;
      }
    }
    delivered = body.size();
    if (p.is_done()) {
      r.complete = true;
      break;
    }
    if (o.pause_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(o.pause_ms));
    std::string err;
    const long n = c.recv_some(o.read_size, &in, &err);
    if (n < 0) {
      r.error = err;
      break;
    }
    if (n == 0) {
      p.put_eof(ec);  // a body delimited by the end of the stream ends here
      if (p.is_done() && !ec) {
        r.complete = true;
      } else {
        r.error = "connection closed before the response ended";
      }
      break;
    }
  }
  if (p.is_header_done()) {
    auto& m = p.get();
    r.status = static_cast<int>(m.result_int());
    for (const auto& f : m) {
      std::string k(f.name_string());
      for (char& ch : k) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      r.headers[k] = std::string(f.value());
    }
    r.keep_alive = m.keep_alive();
    r.body = m.body();
  }
  return r;
}

std::string build_request(const std::string& method, const std::string& target,
                          const std::string& host, const std::string& body,
                          const std::vector<std::pair<std::string, std::string>>& extra) {
  std::string s = method + " " + target + " HTTP/1.1\r\nHost: " + host + "\r\n";
  if (!body.empty()) s += "Content-Type: application/json\r\n";
  if (!body.empty() || method == "POST") {
    s += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  }
  for (const auto& [k, v] : extra) s += k + ": " + v + "\r\n";
  s += "\r\n";
  s += body;
  return s;
}

void SseSplitter::feed(std::string_view bytes,
                       const std::function<void(const std::string&)>& on_data) {
  acc_.append(bytes.data(), bytes.size());
  size_t pos;
  while ((pos = acc_.find("\n\n")) != std::string::npos) {
    std::string ev = acc_.substr(0, pos);
    acc_.erase(0, pos + 2);
    if (ev.rfind("data: ", 0) == 0) on_data(ev.substr(6));
  }
}

double metric_value(const std::string& text, const std::string& name_with_labels) {
  size_t pos = 0;
  while ((pos = text.find(name_with_labels + " ", pos)) != std::string::npos) {
    if (pos == 0 || text[pos - 1] == '\n') {
      return std::strtod(text.c_str() + pos + name_with_labels.size() + 1, nullptr);
    }
    pos += 1;
  }
  return -1.0;
}

}  // namespace dari::bench
