// Extension points on the request path of `dari serve` (for the trust layer, auth, audit).
//
// The server calls each hook at exactly one place:
//   admit()            once per API request, after parsing/validation and before any engine work;
//                      a returned error is sent as the response (e.g. 401/403) and nothing runs.
//   response_headers() when the response head (non-streaming or SSE) is built; append headers
//                      such as provenance or signatures.
//   on_complete()      when an API request ends (success, error or disconnect), with its usage
//                      and timings.
//   on_complete_durable()  instead of on_complete() when the response's last bytes (the final
//                      SSE "data: [DONE]", or the whole non-streaming body) are still unsent: a
//                      hook that returns false holds them until it calls `durable` (from any
//                      thread, exactly once), e.g. once the audit record is committed, so a
//                      client never sees a complete response whose record a crash could lose.
//                      The default calls on_complete() and returns true (send now).
// and, for hooks that shape the response (the trust layer):
//   admit_request()    instead of admit(); may attach per-request state (RequestInfo::state) that
//                      travels with the request; the default calls admit().
//   RequestState::check() before each batch of engine events: an error stops the request (its
//                      engine work is cancelled; streams get an error event, others the error).
//   label_parts()      visible text put before/after each choice's generated text.
//   sign_output()      once the delivered text of choice 0 is final: returns a JSON object to put
//                      in the body ("provenance") or the final SSE chunk; adds headers for
//                      non-streaming responses (`headers` is null for streams).
//   handle_route()     paths the server does not know (admin routes); nullopt → 404.
//   on_tick()          about every second on an I/O thread (must be quick).
// Thread: called on the connection's I/O strand; must not block (post heavy work elsewhere).
// Ownership: the Server keeps a shared_ptr to the hooks for its lifetime.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "dari/server/api.h"

namespace dari::server {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

// Per-request state a hook attaches in admit_request(). Thread: strand of the request.
class RequestState {
 public:
  virtual ~RequestState() = default;
  // nullopt while the request may go on; else the error that ends it.
  virtual std::optional<ApiError> check() const { return std::nullopt; }
};

struct RequestInfo {
  std::string method;
  std::string target;       // path as received
  std::string remote;       // "ip:port"
  HeaderList headers;       // request headers as received
  uint64_t request_id = 0;  // server-unique
  // Set by the server for API requests before admit_request():
  std::string response_id;  // "chatcmpl-..." / "cmpl-..."
  bool stream = false;
  int64_t created = 0;                  // unix seconds, as in the response
  std::string model;                    // served model name
  std::shared_ptr<RequestState> state;  // set by admit_request(); may be null
};

// A response produced by a hook for a route the server does not know.
struct HookResponse {
  int status = 200;
  std::string body;  // JSON
  HeaderList headers;
};

struct CompletionRecord {
  std::string id;  // "chatcmpl-..." / "cmpl-..."
  Endpoint endpoint = Endpoint::kChat;
  int status = 200;  // HTTP status sent (200 also for streams that ended early)
  bool client_disconnected = false;
  uint32_t prompt_tokens = 0;
  uint32_t completion_tokens = 0;
  double ttft_ms = 0.0;                     // request arrival → first token (0 if none)
  double e2e_ms = 0.0;                      // request arrival → end
  std::vector<std::string> finish_reasons;  // per choice
  std::vector<std::string> texts;           // per choice, generated text
};

class ServerHooks {
 public:
  virtual ~ServerHooks() = default;
  virtual std::optional<ApiError> admit(const RequestInfo& /*info*/, const ApiRequest& /*req*/) {
    return std::nullopt;
  }
  virtual std::optional<ApiError> admit_request(RequestInfo& info, const ApiRequest& req) {
    return admit(info, req);
  }
  virtual void response_headers(const RequestInfo& /*info*/, HeaderList* /*headers*/) {}
  virtual void label_parts(const RequestInfo& /*info*/, std::string* /*prefix*/,
                           std::string* /*suffix*/) {}
  virtual std::string sign_output(const RequestInfo& /*info*/, const std::string& /*text*/,
                                  HeaderList* /*headers*/) {
    return {};
  }
  virtual std::optional<HookResponse> handle_route(const RequestInfo& /*info*/,
                                                   const std::string& /*path*/,
                                                   const std::string& /*body*/) {
    return std::nullopt;
  }
  virtual void on_tick() {}
  virtual void on_complete(const RequestInfo& /*info*/, const CompletionRecord& /*record*/) {}
  // True: the final bytes go out now and `durable` is never called. False: the server sends
  // them when `durable` runs (it posts back to the request's strand; cheap and non-blocking).
  virtual bool on_complete_durable(const RequestInfo& info, const CompletionRecord& record,
                                   std::function<void()> /*durable*/) {
    on_complete(info, record);
    return true;
  }
};

}  // namespace dari::server
