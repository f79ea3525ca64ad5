// Incident webhook: POSTs JSON bodies to an http:// URL from one background thread (internal to
// dari_trust). Plain HTTP/1.1 over POSIX sockets; https is not supported (put a local relay in
// front of an https endpoint).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "dari/core/result.h"

namespace dari::trust {

struct HttpUrl {
  std::string host;  // name or address (IPv6 without brackets)
  uint16_t port = 80;
  std::string path = "/";  // with the query, if any
};

// "http://host[:port][/path]"; errors name what is wrong ("https:// is not supported", ...).
Result<HttpUrl> parse_http_url(std::string_view url);

// One POST of `body` (Content-Type: application/json). Ok when the server answered 2xx within
// `timeout_ms` (the whole exchange: resolve, connect, send, status line). Blocking.
Status http_post_json(const HttpUrl& url, std::string_view body, int timeout_ms);

struct WebhookOptions {
  std::string url;
  int timeout_ms = 2000;   // per attempt
  int retries = 3;         // attempts after the first; 250 ms, 500 ms, 1 s ... between them
  size_t max_queue = 256;  // bodies waiting; post() drops beyond it
};

// Thread safety: post() and the counters may be called from any thread; post() never blocks on
// the network (it takes a mutex held only for queue operations). The destructor stops the
// thread after its current attempt; bodies still queued then are dropped.
class WebhookSender {
 public:
  static Result<std::unique_ptr<WebhookSender>> start(WebhookOptions options);
  ~WebhookSender();
  WebhookSender(const WebhookSender&) = delete;
  WebhookSender& operator=(const WebhookSender&) = delete;

  void post(std::string json_body);
  uint64_t delivered() const;
  uint64_t failed() const;   // given up after every retry
  uint64_t dropped() const;  // queue full

 private:
  WebhookSender(WebhookOptions options, HttpUrl url);
  void run();
  bool deliver(const std::string& body);  // with retries; false when given up or stopping

  WebhookOptions options_;
  HttpUrl url_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> queue_;
  bool stopping_ = false;
  uint64_t delivered_ = 0, failed_ = 0, dropped_ = 0;
  std::thread thread_;
};

}  // namespace dari::trust
