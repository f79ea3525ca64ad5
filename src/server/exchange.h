// Exchange: one OpenAI completion request from admission to its last byte.
//
// Takes a prepared request (parsed and tokenized off the I/O threads, prepare.h), admits it
// through its trust session, submits it to the ServingEngine (one engine request per prompt, n
// choices each), turns engine events into SSE chunks or one JSON body, and ends it exactly once
// in complete(): metrics, then RequestSession::finish (audit row, quota), whatever the ending
// (done, error, rejected, client gone, revoked, paused, server stopping). Lives on its
// connection's strand; all methods run there.
// Ownership: owned (shared_ptr) by its Connection; holds a raw ResponseSink* that the Connection
// clears through abort() before it goes away. Callbacks from other threads (engine events, the
// audit writer's "durable" notice) reach it only through Mailboxes holding a weak_ptr.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "anthropic.h"
#include "prepare.h"
#include "server_impl.h"

namespace dari::server {

// The connection side of an exchange (implemented by Connection; strand only).
class ResponseSink {
 public:
  virtual ~ResponseSink() = default;
  virtual void send_response(int status, const std::string& content_type, std::string body,
                             const HeaderList& extra) = 0;
  virtual void start_stream(const HeaderList& extra) = 0;
  virtual void send_chunk(const std::string& data) = 0;
  virtual void end_stream() = 0;  // also releases the exchange
};

// Serializes an ApiError as OpenAI's {"error": {...}} body.
std::string error_body(const ApiError& e);

class Exchange : public std::enable_shared_from_this<Exchange> {
 public:
  struct Params {
    ResponseSink* sink = nullptr;
    RequestInfo info;
    std::shared_ptr<RequestSession> session;  // null: not governed
    PreparedRequest prepared;
    std::chrono::steady_clock::time_point arrival;
  };
  Exchange(Server::Impl& server, Executor ex, Params p);
  ~Exchange();

  // Admits and submits; on failure sends the error response.
  void start();
  // The client went away or the connection failed: cancel engine work, record, detach the sink.
  void abort();

 private:
  struct Choice {
    std::string text;  // delivered content (label included): what provenance signs
    uint32_t tokens = 0;
    std::string finish;       // "" until done
    nlohmann::json logprobs;  // chat: array of content entries; completions: object of arrays
    size_t text_bytes = 0;    // completions text_offset
    bool any_text = false;    // some text was emitted (fallback leading-space strip)
    // With output parsing (tool calls, reasoning): the raw generated text, the stream parser,
    // and what was read out of the text besides content.
    std::string raw;
    std::unique_ptr<StreamingOutputParser> parser;
    std::string reasoning;
    std::vector<ToolCall> tool_calls;
    std::string stop_string;  // the stop string that ended it, if any
  };
  struct Run {
    std::shared_ptr<Stream> stream;
    uint32_t prompt_tokens = 0;
    uint32_t first_choice = 0;
    bool finished = false;
  };

  void fail(const ApiError& e);
  std::optional<ApiError> submit_all();
  ApiError submit_error(const SubmitResult& res, const ServingRequest& sr) const;
  void on_events();
  void handle_event(const StreamEvent& ev, const Run& run);
  void add_logprobs(Choice& c, const TokenEvent& t, nlohmann::json* delta_lp);
  // The response's last bytes, sent once the completion hook says its record is durable.
  using FinalSend = std::function<void(ResponseSink&)>;

  void finish();
  void finish_messages(const nlohmann::json& provenance);  // /v1/messages
  nlohmann::json chunk_base() const;
  void send_chunk_json(const nlohmann::json& j);
  // The single completion point; `final` (if any) goes out now or once the hook's record is
  // durable (RequestSession::finish).
  void complete(int status, bool disconnected, FinalSend final = {});
  void send_final();
  void release_in_flight();
  void abort_runs();  // cancels the engine work still running
  void stop_revoked(const ApiError& e);
  void send_text_delta(uint32_t ci, const std::string& text);
  // Output parsing: one parser step's content, reasoning and tool-call deltas (streams send them).
  void emit_parsed(uint32_t ci, const StreamDelta& d);
  // The non-streaming message of choice `c` (content, reasoning_content, tool_calls).
  nlohmann::json message_json(const Choice& c) const;
  std::string echo_text(uint32_t choice) const;

  Server::Impl& server_;
  ResponseSink* sink_;
  Executor ex_;
  RequestInfo info_;
  std::shared_ptr<RequestSession> session_;
  bool admitted_ = false;  // session_->admit() ran: finish() is owed exactly once
  std::vector<ServingRequest> pending_runs_;  // until submitted
  ApiRequest req_;
  std::chrono::steady_clock::time_point arrival_;
  std::chrono::steady_clock::time_point first_token_{};
  bool have_first_token_ = false;
  ServingEngine* engine_ = nullptr;
  std::string id_;
  int64_t created_ = 0;
  std::vector<Run> runs_;
  std::vector<Choice> choices_;
  std::shared_ptr<Mailbox> mailbox_;
  std::string error_;  // engine error text (kError)
  bool counted_in_flight_ = false;
  bool done_ = false;
  bool completed_ = false;  // complete() ran
  bool strip_leading_space_ = false;
  bool parse_output_ = false;
  AnthropicStreamWriter anthropic_;  // /v1/messages streams
  ParseOptions output_options_;
  double tpot_s_ = 0.0;
  std::string label_prefix_, label_suffix_;  // visible label (hooks), around each choice
  // While the completion record becomes durable: the sink and the bytes held back, and the
  // mailbox through which the hook's callback (writer thread) reaches this strand.
  ResponseSink* final_sink_ = nullptr;
  FinalSend final_send_;
  std::shared_ptr<Mailbox> durable_mb_;
};

}  // namespace dari::server
