// POST /v1/embeddings, OpenAI's embeddings API on the serving engine:
//   {"input": "text" | ["text", ...] | [id, ...] | [[id, ...], ...],  (at most 2048 inputs)
//    "model": "<served name>", "encoding_format": "float" | "base64",
//    "dimensions": n_embd (the only value supported), "user": "..."}
//   → {"object": "list",
//      "data": [{"object": "embedding", "index": i, "embedding": [floats] | "base64"}, ...],
//      "model": "<served name>", "usage": {"prompt_tokens": N, "total_tokens": N}}
// base64 is the vector's float32 values, little-endian, back to back. Texts are tokenized as
// /v1/completions prompts are (BOS/EOS per the vocabulary, special tokens parsed). Each input is
// one engine request (ServingRequest::embed: the final hidden states after the output norm,
// pooled as the model's GGUF pooling_type says, mean when it says nothing, L2-normalised).
//
// The request's life is the completions exchange's (exchange.h): parsed and tokenized on the
// worker pool (prepare_embeddings), then on the connection's strand an EmbeddingsExchange checks
// the model name (404), admits through the trust session (keys, quota, pause), submits every
// input at once (as many as the engine's queue takes, the rest as earlier ones finish), answers
// once all are done, and ends exactly once in complete(): metrics, then RequestSession::finish
// (audit row, prompt tokens charged). A client that disconnects cancels the inputs still running.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "dari/engine/serving.h"
#include "dari/server/api.h"
#include "exchange.h"
#include "server_impl.h"

namespace dari::server {

inline constexpr size_t kMaxEmbeddingInputs = 2048;

struct EmbeddingsRequest {
  std::string model;
  std::vector<PromptInput> inputs;           // as sent (for the audit trail)
  std::vector<std::vector<int32_t>> tokens;  // per input, tokenized and checked
  bool base64 = false;
  std::string user;
};

// Parses and validates the body, tokenizes every input and checks it against the model
// (vocabulary, context, `dimensions`). Pure; any thread (the server runs it on its workers).
std::variant<EmbeddingsRequest, ApiError> prepare_embeddings(const ServingEngine& engine,
                                                             std::string_view body,
                                                             const ApiLimits& limits);

// The response body for `vectors` (one per input, in input order).
std::string embeddings_body(const std::string& model,
                            const std::vector<std::vector<float>>& vectors, bool base64,
                            uint64_t prompt_tokens);
// Float32 values as little-endian bytes, base64 (RFC 4648, padded).
std::string base64_floats(const std::vector<float>& v);

// One /v1/embeddings request from admission to its last byte. Strand only; owned by its
// Connection, which clears the sink through abort() before it goes away. Engine events reach it
// through a Mailbox holding a weak_ptr.
class EmbeddingsExchange : public std::enable_shared_from_this<EmbeddingsExchange> {
 public:
  struct Params {
    ResponseSink* sink = nullptr;
    RequestInfo info;
    std::shared_ptr<RequestSession> session;  // null: not governed
    EmbeddingsRequest req;
    std::chrono::steady_clock::time_point arrival;
  };
  EmbeddingsExchange(Server::Impl& server, Executor ex, Params p);
  ~EmbeddingsExchange();

  // Checks the model, admits and submits; on failure sends the error response.
  void start();
  // The client went away or the connection failed: cancel engine work, record, detach the sink.
  void abort();

 private:
  struct Run {
    std::shared_ptr<Stream> stream;  // null until submitted
    bool finished = false;
  };
  using FinalSend = std::function<void(ResponseSink&)>;

  // Submits inputs until all are in or the engine's queue is full with some of ours running.
  std::optional<ApiError> submit_more();
  ApiError submit_error(const SubmitResult& res, size_t input) const;
  void on_events();
  void finish();
  void fail(const ApiError& e);
  void complete(int status, bool disconnected, FinalSend final = {});
  void send_final();
  void release_in_flight();
  void cancel_runs();

  Server::Impl& server_;
  ResponseSink* sink_;
  Executor ex_;
  RequestInfo info_;
  std::shared_ptr<RequestSession> session_;
  EmbeddingsRequest req_;
  std::chrono::steady_clock::time_point arrival_;
  ServingEngine* engine_ = nullptr;
  std::string id_;
  bool admitted_ = false;  // session_->admit() ran: finish() is owed exactly once
  std::vector<Run> runs_;  // per input
  std::vector<std::vector<float>> vectors_;
  size_t next_ = 0;                // inputs submitted so far
  uint64_t submitted_tokens_ = 0;  // prompt tokens of the submitted inputs
  std::shared_ptr<Mailbox> mailbox_;
  std::string error_;       // engine error text (kError)
  bool cancelled_ = false;  // the engine ended an input without its vector (stopping)
  bool counted_in_flight_ = false;
  bool done_ = false;
  bool completed_ = false;  // complete() ran
  ResponseSink* final_sink_ = nullptr;
  FinalSend final_send_;
  std::shared_ptr<Mailbox> durable_mb_;
};

}  // namespace dari::server
