// The seam between `dari serve` and whatever governs its requests (the trust layer: keys,
// quotas, pause, provenance, audit).
//
// A request's life has one owner. When a request's header has arrived, and before its body is
// read, the server asks ServerHooks::open() for a RequestSession:
//   - an ApiError ends the request at once (401 for a missing or unknown key): the body is never
//     read or parsed;
//   - a null session means the request is not governed (no trust layer);
//   - otherwise the session travels with the request to its end.
// For API requests (completions) the server then calls, on the request's strand:
//   admit()            once the body is parsed: scope, quota, pause. An error is sent as the
//                      response and nothing runs on the engine.
//   response_headers() when the response head is built (disclosure headers).
//   label_parts()      visible text put before/after each choice's generated text.
//   check()            before each batch of engine events: an error (key revoked, operator pause
//                      with cancellation) stops the request and its engine work.
//   sign_output()      once the delivered text of choice 0 is final: a JSON object for the body
//                      ("provenance") or the final SSE chunk; adds headers for non-streaming
//                      responses (`headers` is null for streams).
//   finish()           EXACTLY ONCE for every session that was opened for an API request,
//                      however the request ends: done, error, rejected by admit(), client gone,
//                      stray bytes or reset, cancelled, paused, server stopping. It writes the
//                      audit row and charges the quota. It returns true when the response's last
//                      bytes may go out now; false when the server must wait for `durable`
//                      (called once, from any thread) so that a client never sees a complete
//                      response whose record a crash could lose.
// Routes the server does not know (admin routes, feedback) go to handle_route() with the session.
// on_tick() runs about every second on an I/O thread (must be quick).
//
// Thread: open, handle_route and on_tick run on an I/O thread; session methods on the request's
// strand (one thread at a time). None may block. Ownership: the Server keeps a shared_ptr to the
// hooks for its lifetime; a session is shared by the request's connection and exchange.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "dari/server/api.h"

namespace dari::server {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

// What the server knows of a request when it opens its session. Thread: the request's strand.
struct RequestInfo {
  std::string method;
  std::string target;       // path as received
  std::string path;         // target without the query
  std::string remote;       // "ip:port"
  HeaderList headers;       // request headers as received
  uint64_t request_id = 0;  // server-unique
  bool api = false;         // a completions route (audited, charged)
  // Set by the server for API requests before admit():
  std::string response_id;  // "chatcmpl-..." / "cmpl-..."
  bool stream = false;
  int64_t created = 0;  // unix seconds, as in the response
  std::string model;    // served model name
};

// A response produced by a hook for a route the server does not know.
struct HookResponse {
  int status = 200;
  std::string body;  // JSON
  HeaderList headers;
};

struct CompletionRecord {
  std::string id;  // "chatcmpl-..." / "cmpl-..." ("" when the request ended before it had one)
  Endpoint endpoint = Endpoint::kChat;
  int status = 200;  // HTTP status sent (200 also for streams that ended early; 499: client gone)
  bool client_disconnected = false;
  uint32_t prompt_tokens = 0;
  uint32_t completion_tokens = 0;
  double ttft_ms = 0.0;                     // request arrival → first token (0 if none)
  double e2e_ms = 0.0;                      // request arrival → end
  std::vector<std::string> finish_reasons;  // per choice
  std::vector<std::string> texts;           // per choice, generated text
};

class RequestSession {
 public:
  virtual ~RequestSession() = default;
  virtual std::optional<ApiError> admit(const RequestInfo& /*info*/, const ApiRequest& /*req*/) {
    return std::nullopt;
  }
  virtual std::optional<ApiError> check() const { return std::nullopt; }
  virtual void response_headers(const RequestInfo& /*info*/, HeaderList* /*headers*/) {}
  virtual void label_parts(std::string* /*prefix*/, std::string* /*suffix*/) {}
  virtual std::string sign_output(const RequestInfo& /*info*/, const std::string& /*text*/,
                                  HeaderList* /*headers*/) {
    return {};
  }
  virtual bool finish(const RequestInfo& /*info*/, const CompletionRecord& /*record*/,
                      std::function<void()> /*durable*/) {
    return true;
  }
};

using SessionOrError = std::variant<std::shared_ptr<RequestSession>, ApiError>;

class ServerHooks {
 public:
  virtual ~ServerHooks() = default;
  // Header time (the body is not read yet): who is calling. See the top of this file.
  virtual SessionOrError open(const RequestInfo& /*info*/) {
    return std::shared_ptr<RequestSession>();
  }
  // A route the server does not know; nullopt → 404. `session` is what open() returned.
  virtual std::optional<HookResponse> handle_route(RequestSession* /*session*/,
                                                   const RequestInfo& /*info*/,
                                                   const std::string& /*body*/) {
    return std::nullopt;
  }
  virtual void on_tick() {}
};

}  // namespace dari::server
