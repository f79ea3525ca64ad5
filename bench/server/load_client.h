// Blocking HTTP/1.1 client pieces shared by the load generators (bench_http, soak_http).
//
// Conn is a POSIX TCP socket with send/receive timeouts (a stuck server never hangs a load
// thread); read_response() parses one response with Beast's parser and hands body bytes to a
// callback as they arrive (SSE timing and validation); SseSplitter cuts the body into
// "data: ..." payloads. Thread safety: one Conn per thread; the free functions are pure.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dari::bench {

struct Target {
  std::string host = "127.0.0.1";  // numeric IPv4 address
  uint16_t port = 8080;
};

struct ConnOptions {
  int timeout_ms = 60000;  // per send/recv call
  int rcvbuf_bytes = 0;    // SO_RCVBUF before connecting; 0: system default
};

// One TCP connection. Owns its file descriptor (closed by the destructor). Not thread safe.
class Conn {
 public:
  Conn() = default;
  ~Conn();
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;
  Conn(Conn&& o) noexcept;
  Conn& operator=(Conn&& o) noexcept;

  // False with *err ("connect 127.0.0.1:8080: Connection refused") on failure.
  bool connect(const Target& t, const ConnOptions& o, std::string* err);
  bool is_open() const { return fd_ >= 0; }
  // Sends all bytes; false with *err on error or timeout.
  bool send_all(std::string_view data, std::string* err);
  // Receives at most `max` bytes into *out (appended): > 0 bytes read, 0 end of stream, -1 error
  // or timeout (*err set).
  long recv_some(size_t max, std::string* out, std::string* err);
  // True when data (or the end of the stream) can be read within `ms` milliseconds.
  bool wait_readable(int ms);
  // reset: abortive close (RST) instead of an orderly one.
  void close(bool reset = false);

 private:
  int fd_ = -1;
};

struct Response {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;                            // decoded (chunked framing removed)
  bool complete = false;                       // the whole message arrived
  bool stopped = false;                        // on_body asked to stop
  std::string error;                           // transport or parse error, "" if none
  bool keep_alive = false;
};

struct ReadOptions {
  size_t read_size = 16384;  // bytes per recv
  int pause_ms = 0;          // sleep between recvs (slow reader)
  // Called with each new piece of the decoded body; return false to stop reading (the caller
  // then closes the connection).
  std::function<bool(std::string_view)> on_body;
};

// Reads one response from c. *carry holds bytes received past the previous response (keep-alive)
// and receives the bytes past this one.
Response read_response(Conn& c, std::string* carry, const ReadOptions& o);

// "POST /v1/completions HTTP/1.1" request bytes with Host, Content-Type (when body is not
// empty) and Content-Length.
std::string build_request(const std::string& method, const std::string& target,
                          const std::string& host, const std::string& body,
                          const std::vector<std::pair<std::string, std::string>>& extra = {});

// Splits an SSE byte stream into the payloads of its "data: " lines.
class SseSplitter {
 public:
  // Appends `bytes`; calls on_data(payload) for each complete event.
  void feed(std::string_view bytes, const std::function<void(const std::string&)>& on_data);

 private:
  std::string acc_;
};

// Value of a Prometheus line "name{labels} value" or "name value" in text; -1 if absent.
double metric_value(const std::string& text, const std::string& name_with_labels);

}  // namespace dari::bench
