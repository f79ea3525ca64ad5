// Extension points on the request path of `dari serve` (for the trust layer, auth, audit).
//
// The server calls each hook at exactly one place:
//   admit()            once per API request, after parsing/validation and before any engine work;
//                      a returned error is sent as the response (e.g. 401/403) and nothing runs.
//   response_headers() when the response head (non-streaming or SSE) is built; append headers
//                      such as provenance or signatures.
//   on_complete()      when an API request ends (success, error or disconnect), with its usage
//                      and timings.
// Thread: called on the connection's I/O strand; must not block (post heavy work elsewhere).
// Ownership: the Server keeps a shared_ptr to the hooks for its lifetime.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "dari/server/api.h"

namespace dari::server {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct RequestInfo {
  std::string method;
  std::string target;       // path as received
  std::string remote;       // "ip:port"
  HeaderList headers;       // request headers as received
  uint64_t request_id = 0;  // server-unique
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
  virtual void response_headers(const RequestInfo& /*info*/, HeaderList* /*headers*/) {}
  virtual void on_complete(const RequestInfo& /*info*/, const CompletionRecord& /*record*/) {}
};

}  // namespace dari::server
