// Incident webhook (see webhook.h): URL parsing, one blocking HTTP POST with a deadline, and the
// background sender with a bounded queue and retries.
#include "trust/webhook.h"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

namespace dari::trust {

namespace {

using Clock = std::chrono::steady_clock;

int ms_left(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() <= 0 ? 0 : static_cast<int>(left.count());
}

// Owns one socket descriptor.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

// Waits until `fd` is ready for `events` or the deadline passes.
bool wait_ready(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    pollfd p{fd, events, 0};
    int r = ::poll(&p, 1, ms_left(deadline));
    if (r > 0) return true;
    if (r == 0 || errno != EINTR) return false;
  }
}

Status connect_to(const HttpUrl& url, Clock::time_point deadline, Fd* out) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  const std::string port = std::to_string(url.port);
  int rc = ::getaddrinfo(url.host.c_str(), port.c_str(), &hints, &res);
  if (rc != 0) return make_error("webhook: cannot resolve " + url.host + ": " + gai_strerror(rc));
  std::string last = "no address";
  for (addrinfo* a = res; a != nullptr; a = a->ai_next) {
    Fd s;
    s.fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (s.fd < 0) continue;
    if (::connect(s.fd, a->ai_addr, a->ai_addrlen) != 0 && errno != EINPROGRESS) {
      last = std::strerror(errno);
      continue;
    }
    if (!wait_ready(s.fd, POLLOUT, deadline)) {
      last = "connect timed out";
      continue;
    }
    int err = 0;
    socklen_t len = sizeof err;
    if (::getsockopt(s.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
      last = std::strerror(err != 0 ? err : errno);
      continue;
    }
    std::swap(out->fd, s.fd);
    ::freeaddrinfo(res);
    return Status::Ok();
  }
  ::freeaddrinfo(res);
  return make_error("webhook: cannot connect to " + url.host + ":" + port + ": " + last);
}

Status send_all(int fd, std::string_view data, Clock::time_point deadline) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n > 0) {
      data.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && wait_ready(fd, POLLOUT, deadline)) {
      continue;
    }
    return make_error("webhook: send failed or timed out");
  }
  return Status::Ok();
}

// Reads until the status line is complete; returns the status code.
Result<int> read_status(int fd, Clock::time_point deadline) {
  std::string got;
  char buf[512];
  while (got.find("\r\n") == std::string::npos && got.size() < 4096) {
    if (!wait_ready(fd, POLLIN, deadline)) return make_error("webhook: no answer in time");
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) continue;
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
  }
  // "HTTP/1.1 204 No Content"
  if (got.rfind("HTTP/1.", 0) != 0 || got.size() < 12 || got[8] != ' ') {
    return make_error("webhook: the answer is not HTTP/1.x");
  }
  int code = 0;
  for (size_t i = 9; i < 12; ++i) {
    if (got[i] < '0' || got[i] > '9') return make_error("webhook: malformed status line");
    code = code * 10 + (got[i] - '0');
  }
  return code;
}

}  // namespace

Result<HttpUrl> parse_http_url(std::string_view url) {
  const std::string quoted = "\"" + std::string(url.substr(0, 200)) + "\"";
  constexpr std::string_view kScheme = "http://";
  if (url.rfind("https://", 0) == 0) {
    return make_error(quoted + ": https:// is not supported (use http://, e.g. a local relay)");
  }
  if (url.rfind(kScheme, 0) != 0) return make_error(quoted + ": must start with http://");
  url.remove_prefix(kScheme.size());
  HttpUrl u;
  size_t slash = url.find('/');
  std::string_view authority = url.substr(0, slash);
  if (slash != std::string_view::npos) u.path = std::string(url.substr(slash));
  if (authority.find('@') != std::string_view::npos) {
    return make_error(quoted + ": user information in the URL is not supported");
  }
  std::string_view port;
  bool has_port = false;
  if (!authority.empty() && authority.front() == '[') {  // [v6]:port
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return make_error(quoted + ": unclosed '[' in the host");
    u.host = std::string(authority.substr(1, close - 1));
    std::string_view rest = authority.substr(close + 1);
    if (!rest.empty() && rest.front() != ':') return make_error(quoted + ": junk after ']'");
    has_port = !rest.empty();
    if (has_port) port = rest.substr(1);
  } else {
    size_t colon = authority.find(':');
    u.host = std::string(authority.substr(0, colon));
    has_port = colon != std::string_view::npos;
    if (has_port) port = authority.substr(colon + 1);
  }
  if (u.host.empty()) return make_error(quoted + ": no host");
  if (has_port && port.empty()) return make_error(quoted + ": empty port");
  if (has_port) {
    uint32_t p = 0;
    for (char c : port) {
      if (c < '0' || c > '9' || p > 65535) return make_error(quoted + ": bad port");
      p = p * 10 + static_cast<uint32_t>(c - '0');
    }
    if (p == 0 || p > 65535) return make_error(quoted + ": port must be 1..65535");
    u.port = static_cast<uint16_t>(p);
  }
  for (char c : u.path) {
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) {
      return make_error(quoted + ": the path has spaces or control characters");
    }
  }
  return u;
}

Status http_post_json(const HttpUrl& url, std::string_view body, int timeout_ms) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  Fd s;
  DARI_TRY(connect_to(url, deadline, &s));
  const bool v6 = url.host.find(':') != std::string::npos;
  std::string head = "POST " + url.path + " HTTP/1.1\r\nHost: " + (v6 ? "[" : "") + url.host +
                     (v6 ? "]" : "") + ":" + std::to_string(url.port) +
                     "\r\nContent-Type: application/json\r\nUser-Agent: dari-incidents\r\n"
                     "Connection: close\r\nContent-Length: " +
                     std::to_string(body.size()) + "\r\n\r\n";
  DARI_TRY(send_all(s.fd, head, deadline));
  DARI_TRY(send_all(s.fd, body, deadline));
  DARI_ASSIGN_OR_RETURN(int code, read_status(s.fd, deadline));
  if (code < 200 || code > 299) {
    return make_error("webhook: " + url.host + " answered HTTP " + std::to_string(code));
  }
  return Status::Ok();
}

Result<std::unique_ptr<WebhookSender>> WebhookSender::start(WebhookOptions options) {
  DARI_ASSIGN_OR_RETURN(HttpUrl url, parse_http_url(options.url));
  if (options.timeout_ms <= 0) options.timeout_ms = 1;
  if (options.retries < 0) options.retries = 0;
  if (options.max_queue == 0) options.max_queue = 1;
  std::unique_ptr<WebhookSender> w(new WebhookSender(std::move(options), std::move(url)));
  w->thread_ = std::thread([p = w.get()] { p->run(); });
  return w;
}

WebhookSender::WebhookSender(WebhookOptions options, HttpUrl url)
    : options_(std::move(options)), url_(std::move(url)) {}

WebhookSender::~WebhookSender() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void WebhookSender::post(std::string json_body) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    if (queue_.size() >= options_.max_queue) {
      ++dropped_;
      return;
    }
    queue_.push_back(std::move(json_body));
  }
  cv_.notify_one();
}

uint64_t WebhookSender::delivered() const {
  std::lock_guard<std::mutex> lock(mu_);
  return delivered_;
}
uint64_t WebhookSender::failed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return failed_;
}
uint64_t WebhookSender::dropped() const {
  std::lock_guard<std::mutex> lock(mu_);
  return dropped_;
}

bool WebhookSender::deliver(const std::string& body) {
  auto pause = std::chrono::milliseconds(250);
  for (int attempt = 0;; ++attempt) {
    if (http_post_json(url_, body, options_.timeout_ms).ok()) return true;
    if (attempt >= options_.retries) return false;
    std::unique_lock<std::mutex> lock(mu_);
    if (cv_.wait_for(lock, pause, [&] { return stopping_; })) return false;
    pause *= 2;
  }
}

void WebhookSender::run() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (stopping_) return;
    std::string body = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    const bool ok = deliver(body);
    lock.lock();
    ++(ok ? delivered_ : failed_);
  }
}

}  // namespace dari::trust
